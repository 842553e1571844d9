//! The table's stream (payout and payout account items only, by the event source's
//! filter) → events on the `payouts` bus. Answers `batchItemFailures` with the first
//! record not published, so Lambda retries from there (`ReportBatchItemFailures`).

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use service::config::EventsConfig;
use service::events::bus::EventBridgeBus;
use service::events::publish::{Publisher, RetryPolicy};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = EventsConfig::from_env()?;
    platform::telemetry::init(&config.stage, "publish-events");
    let bus = EventBridgeBus::from_env(&config.bus_name).await;
    let publisher = Publisher::new(bus, RetryPolicy::default());
    lambda_runtime::run(service_fn(|event: LambdaEvent<Event>| {
        let publisher = &publisher;
        async move {
            Ok::<DynamoDbEventResponse, Error>(publisher.publish(&event.payload).await.response())
        }
    }))
    .await
}
