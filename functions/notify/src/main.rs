//! An event from the `payouts` bus (a payout completed, failed or reversed, a payout
//! account changed: the rule's pattern) → an email to the user, once per event and
//! address.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use service::config::NotifyConfig;
use service::events::Event;
use service::notify::{Notifier, SesMailer};
use store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = NotifyConfig::from_env()?;
    platform::telemetry::init(&config.stage, "notify");
    let aws = platform::aws::sdk_config().await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name);
    let mailer = SesMailer::new(
        aws_sdk_sesv2::Client::new(&aws),
        &config.from_address,
        config.configuration_set,
    );
    let notifier = Notifier::new(&store, &mailer);
    lambda_runtime::run(service_fn(|event: LambdaEvent<EventBridgeEvent<Event>>| {
        let notifier = &notifier;
        async move {
            let deadline = platform::invocation::deadline(event.context.deadline());
            let notified = notifier.on_event(&event.payload, deadline).await?;
            Ok::<_, Error>(serde_json::json!({ "outcome": notified.as_str() }))
        }
    }))
    .await
}
