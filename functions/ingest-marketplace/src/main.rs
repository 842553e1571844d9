//! An `order.*` or `scout.*` event from the marketplace's bus (the rule's pattern) →
//! the same upsert as `PUT /orders/{id}` or `PUT /scouts/{id}`, once per event id.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use service::config::IngestConfig;
use service::marketplace::ingest::Ingester;
use store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = IngestConfig::from_env()?;
    let stage = config.stage.stage.clone().unwrap_or_default();
    platform::telemetry::init(&stage, "ingest-marketplace");
    let aws = platform::aws::sdk_config().await;
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&aws),
        &config.stage.table_name,
    );
    let ingester = Ingester {
        store: &store,
        limits: config.stage.limits,
        source: config.source,
    };
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| {
            let ingester = &ingester;
            async move {
                let ingested = ingester.ingest(&event.payload).await?;
                Ok::<_, Error>(serde_json::json!({ "outcome": ingested.as_str() }))
            }
        },
    ))
    .await
}
