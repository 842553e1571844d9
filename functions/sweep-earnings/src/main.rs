//! The daily sweep (EventBridge schedule): requests the payouts of every scout whose
//! payout schedule is due, once per period. Returns `{due, requested, requested_paise,
//! below_minimum, already_requested, not_due, errors, pages, stopped_early}`.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use service::config::Config;
use service::schedule::sweep::{on_sweep_schedule, SweepSummary};
use store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = Config::from_env()?;
    platform::telemetry::init(&config.stage, "sweep-earnings");
    let store = Store::from_env(&config.table_name).await;
    let (store, config) = (&store, &config);
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<EventBridgeEvent>| async move {
            let deadline = platform::invocation::deadline(event.context.deadline());
            let summary: SweepSummary = on_sweep_schedule(
                store,
                config.limits,
                config.schedule_tz,
                &event.payload,
                deadline,
            )
            .await?;
            Ok::<_, Error>(summary)
        },
    ))
    .await
}
