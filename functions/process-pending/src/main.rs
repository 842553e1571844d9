//! The hourly processor (EventBridge schedule): pays up to a batch of pending payouts
//! and reconciles stuck ones. Returns `{found, completed, failed, reversed, requeued, recovered, accepted,
//! batches, stopped}`; with `DRAIN=true` it keeps taking batches until the queue is
//! empty or the invocation's deadline nears.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use service::config::Config;
use service::process::{on_schedule, Processor, RunSummary};
use store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = Config::from_env()?;
    platform::telemetry::init(&config.stage, "process-pending");
    let store = Store::from_env(&config.table_name).await;
    let gateway = gateway::Gateway::from_config(&config.gateway_from_env()?, &store)?;
    let processor = Processor::new(&store, &gateway, config.processor);
    lambda_runtime::run(service_fn(|event: LambdaEvent<EventBridgeEvent>| {
        let processor = &processor;
        async move {
            let deadline = platform::invocation::deadline(event.context.deadline());
            let summary: RunSummary = on_schedule(processor, &event.payload, deadline).await?;
            Ok::<_, Error>(summary)
        }
    }))
    .await
}
