//! The daily reconciliation with the gateway (EventBridge schedule): matches the
//! business day before the rule's time with the gateway's payouts, repairs what a
//! missed webhook left, and records the day's report and findings
//! (docs/OPERATIONS.md, "Reconciliation"). Invoked with `{"date": "YYYY-MM-DD"}`, it
//! reconciles that day instead. Returns the day's report.

use domain::time::Timestamp;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use service::config::Config;
use service::reconciliation::{day_asked, reconcile_day};
use store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = Config::from_env()?;
    platform::telemetry::init(&config.stage, "reconcile");
    let store = Store::from_env(&config.table_name).await;
    let gateway = gateway::Gateway::from_config(&config.gateway_from_env()?, &store)?;
    let (store, gateway, config) = (&store, &gateway, &config);
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move {
            let now = Timestamp::now();
            let deadline = platform::invocation::deadline(event.context.deadline())
                .map(domain::time::deadline_instant);
            let day = day_asked(&event.payload, now, config.schedule_tz)?;
            let run = Box::pin(reconcile_day(store, gateway, day, now, deadline)).await?;
            Ok::<_, Error>(run.report)
        },
    ))
    .await
}
