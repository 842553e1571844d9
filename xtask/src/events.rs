//! The event path on one machine: the table's stream → `publish-events` →
//! the bus on moto → the `notify` rule's queue → `notify` → SES on moto. What the
//! Lambda service does between them (polling the stream, retrying a batch from its
//! first failure, delivering a rule's matches) is done here, through the same
//! `cargo lambda watch` the API runs under.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use aws_lambda_events::dynamodb::Event;
use devkit::moto::{self, Capture, Clients, LocalBus};
use devkit::paths;
use devkit::streams::StreamReader;
use serde_json::{json, Value};

pub const PUBLISH_FUNCTION: &str = "publish-events";
pub const NOTIFY_FUNCTION: &str = "notify";
pub const INGEST_FUNCTION: &str = "ingest-marketplace";
/// The local marketplace's bus (`MarketplaceEventBusName` in template.yaml), where a
/// marketplace's backend run against the dev stack puts its `order.*` and `scout.*`
/// events.
pub const MARKETPLACE_BUS: &str = "marketplace";
/// The rule `notify` sits behind, in template.yaml as locally.
pub const NOTIFY_RULE: &str = "notify";
/// The event types that send an email.
pub const NOTIFIED: [&str; 4] = [
    "payout.completed",
    "payout.failed",
    "payout.reversed",
    "payout_account.changed",
];
/// Lambda's default batch size for a DynamoDB stream.
pub const STREAM_BATCH: usize = 100;

/// What the functions need to publish and to email, locally.
#[derive(Clone, Debug)]
pub struct EventSettings {
    pub moto_endpoint: String,
    pub bus: String,
    pub from_address: String,
    pub configuration_set: String,
}

impl EventSettings {
    /// The environment `cargo lambda watch` passes on to `publish-events` and `notify`.
    pub fn function_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("EVENT_BUS_NAME", self.bus.clone()),
            ("NOTIFY_FROM_ADDRESS", self.from_address.clone()),
            ("SES_CONFIGURATION_SET", self.configuration_set.clone()),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", self.moto_endpoint.clone()),
            ("AWS_ENDPOINT_URL_SESV2", self.moto_endpoint.clone()),
            ("AWS_ENDPOINT_URL_SQS", self.moto_endpoint.clone()),
        ]
    }

    /// The bus and the verified sender: what the deployed stack has from template.yaml.
    pub async fn prepare(&self) -> Result<LocalBus> {
        let clients = Clients::new(&self.moto_endpoint).await;
        let bus = LocalBus::ensure(&clients, &self.bus).await?;
        moto::verify_sender(&clients.sesv2, &self.from_address, &self.configuration_set).await?;
        Ok(bus)
    }

    /// What [`Self::prepare`] makes, and a rule named `rule` on the bus with `pattern`
    /// delivering to a queue.
    pub async fn set_up(&self, rule: &str, pattern: &Value) -> Result<Capture> {
        self.prepare().await?.capture(rule, pattern).await
    }
}

/// The pattern of the `notify` rule.
pub fn notify_pattern() -> Value {
    json!({"source": [service::events::SOURCE], "detail-type": NOTIFIED})
}

/// The pattern of the rule that delivers the marketplace's events to
/// `ingest-marketplace`, as template.yaml's `MarketplaceEvents` has it.
pub fn marketplace_pattern() -> Value {
    json!({
        "source": [service::config::DEFAULT_MARKETPLACE_EVENT_SOURCE],
        "detail-type": [{"prefix": "order."}, {"prefix": "scout."}]
    })
}

/// The marketplace's bus on moto with the `ingest-marketplace` rule on it, delivering
/// to a queue the dev loop drains into the function.
pub async fn marketplace_queue(moto_endpoint: &str) -> Result<Capture> {
    let clients = Clients::new(moto_endpoint).await;
    let bus = LocalBus::ensure(&clients, MARKETPLACE_BUS).await?;
    bus.capture(INGEST_FUNCTION, &marketplace_pattern()).await
}

/// Every event of the service, for a rule that watches them all.
pub fn all_events_pattern() -> Value {
    json!({"source": [service::events::SOURCE]})
}

/// Invokes `function` under the `cargo lambda watch` on `port` with `event`; its
/// answer as JSON (`null` for none). The event goes through a file: a batch of stream
/// records can be longer than one command-line argument may be.
pub async fn invoke(
    lambda_bin: &Path,
    port: u16,
    function: &str,
    event: &impl serde::Serialize,
) -> Result<Value> {
    let dir = paths::local_dir().join("invocations");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(format!("{function}-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, serde_json::to_vec(event)?)
        .with_context(|| format!("writing {}", file.display()))?;
    let output = crate::invoke::lambda_invoke(lambda_bin, port, function, &file)
        .args(["--output-format", "json"])
        .output()
        .await;
    let _ = std::fs::remove_file(&file);
    let output = output.context("running cargo lambda invoke")?;
    if !output.status.success() {
        bail!(
            "{function} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text.trim())
        .with_context(|| format!("{function} answered something not JSON: {text}"))
}

/// The sequence numbers a stream function reported as failed
/// (`{"batchItemFailures": [{"itemIdentifier": …}]}`), in its order.
pub fn failed_sequence_numbers(answer: &Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|failure| failure["itemIdentifier"].as_str())
        .map(str::to_owned)
        .collect()
}

/// Where a stream batch has to be read again from, as Lambda decides it: the first
/// reported failure, or the whole batch when the invocation itself failed.
fn retry_point(batch: &Event, outcome: &Result<Value>) -> Option<String> {
    match outcome {
        Ok(answer) => failed_sequence_numbers(answer).into_iter().next(),
        Err(_) => batch
            .records
            .first()
            .and_then(|record| record.change.sequence_number.clone()),
    }
}

/// How often one record may fail before it is passed over, as an event source mapping
/// with a retry limit sends it to its on-failure destination.
const MAX_ATTEMPTS: u32 = 3;

/// The dev stack's stand-in for the stream's event source mapping and the `notify`
/// rule: each [`EventPump::pump`] publishes what the stream has new and hands what the
/// rule matched to `notify`.
pub struct EventPump {
    reader: StreamReader,
    notify_queue: Capture,
    /// The marketplace's events, for `ingest-marketplace`.
    ingest_queue: Capture,
    lambda_bin: PathBuf,
    port: u16,
    /// The record being retried and how often it has failed.
    retrying: Option<(String, u32)>,
}

impl EventPump {
    pub fn new(
        reader: StreamReader,
        notify_queue: Capture,
        ingest_queue: Capture,
        lambda_bin: PathBuf,
        port: u16,
    ) -> Self {
        EventPump {
            reader,
            notify_queue,
            ingest_queue,
            lambda_bin,
            port,
            retrying: None,
        }
    }

    /// One round; failures are printed, not returned: the next round tries again.
    pub async fn pump(&mut self) {
        // The marketplace's records first: what they complete is then published.
        if let Err(err) = self.ingest_matched().await {
            eprintln!("marketplace: {err:#}");
        }
        if let Err(err) = self.publish_new_records().await {
            eprintln!("events: {err:#}");
        }
        if let Err(err) = self.notify_matched().await {
            eprintln!("emails: {err:#}");
        }
    }

    async fn publish_new_records(&mut self) -> Result<()> {
        loop {
            let batch = self.reader.next_batch(STREAM_BATCH).await?;
            if batch.records.is_empty() {
                return Ok(());
            }
            let started = Instant::now();
            let outcome = invoke(&self.lambda_bin, self.port, PUBLISH_FUNCTION, &batch).await;
            match retry_point(&batch, &outcome) {
                None => {
                    self.retrying = None;
                    println!(
                        "events: {PUBLISH_FUNCTION} ← {} stream records ({} ms)",
                        batch.records.len(),
                        started.elapsed().as_millis()
                    );
                }
                Some(sequence_number) => {
                    let reason = match &outcome {
                        Ok(answer) => format!("answered {answer}"),
                        Err(err) => format!("{err:#}"),
                    };
                    return self.retry_from(sequence_number, &reason).await;
                }
            }
        }
    }

    async fn retry_from(&mut self, sequence_number: String, reason: &str) -> Result<()> {
        let attempts = match &self.retrying {
            Some((retried, attempts)) if *retried == sequence_number => attempts + 1,
            _ => 1,
        };
        if attempts >= MAX_ATTEMPTS {
            eprintln!(
                "events: record {sequence_number} failed {attempts} times, passed over \
                 (deployed, it would go to the on-failure destination): {reason}"
            );
            self.retrying = None;
            return Ok(());
        }
        eprintln!("events: {PUBLISH_FUNCTION} {reason}; reading again from {sequence_number}");
        self.reader.rewind_to(&sequence_number).await?;
        self.retrying = Some((sequence_number, attempts));
        Ok(())
    }

    /// Each marketplace event the rule matched, through `ingest-marketplace`. One that
    /// fails is printed and dropped (deployed: retried twice, then the DLQ).
    async fn ingest_matched(&mut self) -> Result<()> {
        for event in self.ingest_queue.drain().await? {
            let what = event["detail-type"].as_str().unwrap_or("?").to_owned();
            match invoke(&self.lambda_bin, self.port, INGEST_FUNCTION, &event).await {
                Ok(answer) => println!("marketplace: {INGEST_FUNCTION} ← {what} → {answer}"),
                Err(err) => eprintln!("marketplace: {INGEST_FUNCTION} ← {what}: {err:#}"),
            }
        }
        Ok(())
    }

    async fn notify_matched(&mut self) -> Result<()> {
        for event in self.notify_queue.drain().await? {
            let what = format!(
                "{} {}",
                event["detail-type"].as_str().unwrap_or("?"),
                event["detail"]["payout_id"].as_str().unwrap_or("?")
            );
            match invoke(&self.lambda_bin, self.port, NOTIFY_FUNCTION, &event).await {
                Ok(answer) => println!("emails: {NOTIFY_FUNCTION} ← {what} → {answer}"),
                Err(err) => eprintln!("emails: {NOTIFY_FUNCTION} ← {what}: {err:#}"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failed_sequence_numbers_are_read_from_the_answer_in_order() {
        let answer =
            json!({"batchItemFailures": [{"itemIdentifier": "7"}, {"itemIdentifier": "9"}]});
        assert_eq!(failed_sequence_numbers(&answer), ["7", "9"]);
        assert!(failed_sequence_numbers(&json!({"batchItemFailures": []})).is_empty());
        assert!(failed_sequence_numbers(&Value::Null).is_empty());
    }

    #[test]
    fn a_batch_is_read_again_from_its_first_failure_or_whole_when_the_call_failed() {
        let batch: Event = serde_json::from_value(json!({"Records": [
            {"eventID": "a", "eventName": "INSERT", "awsRegion": "local",
             "dynamodb": {"SequenceNumber": "5", "SizeBytes": 1}},
            {"eventID": "b", "eventName": "MODIFY", "awsRegion": "local",
             "dynamodb": {"SequenceNumber": "6", "SizeBytes": 1}}
        ]}))
        .unwrap();
        let partial = Ok(json!({"batchItemFailures": [{"itemIdentifier": "6"}]}));
        assert_eq!(retry_point(&batch, &partial).as_deref(), Some("6"));
        let whole = Err(anyhow::anyhow!("the function crashed"));
        assert_eq!(retry_point(&batch, &whole).as_deref(), Some("5"));
        assert_eq!(
            retry_point(&batch, &Ok(json!({"batchItemFailures": []}))),
            None
        );
    }
}
