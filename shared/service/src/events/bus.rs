//! Where events go: EventBridge's `PutEvents`, behind a small trait so the publisher's
//! retry of partial failures can be proven with a bus that fails on purpose.

use std::future::Future;

use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::{Event, SOURCE};
use domain::error::{Error, Result};

/// EventBridge takes at most this many entries per `PutEvents` call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;

/// How one entry of a call ended. EventBridge answers per entry, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryOutcome {
    Published,
    Failed { code: String, message: String },
}

pub trait EventBus {
    /// Puts `events` (at most [`MAX_ENTRIES_PER_CALL`]) on the bus; one outcome per event,
    /// in order. An `Err` means the call as a whole failed: none may be assumed put.
    fn put_events(
        &self,
        events: &[&Event],
    ) -> impl Future<Output = Result<Vec<EntryOutcome>>> + Send;
}

/// The real bus.
#[derive(Clone, Debug)]
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        EventBridgeBus {
            client,
            bus_name: bus_name.into(),
        }
    }

    /// A client from the standard chain (`AWS_ENDPOINT_URL_EVENTBRIDGE` locally).
    pub async fn from_env(bus_name: impl Into<String>) -> Self {
        let config = platform::aws::sdk_config().await;
        EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&config), bus_name)
    }

    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }

    fn entry(&self, event: &Event) -> Result<PutEventsRequestEntry> {
        let detail = serde_json::to_string(event).map_err(Error::unreadable)?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(SOURCE)
            .detail_type(event.detail_type())
            .detail(detail)
            // The event's time is when the change was written, not when it was published.
            .time(DateTime::from_millis(event.occurred_at().unix_millis()))
            .build())
    }
}

impl EventBus for EventBridgeBus {
    async fn put_events(&self, events: &[&Event]) -> Result<Vec<EntryOutcome>> {
        let entries = events
            .iter()
            .map(|event| self.entry(event))
            .collect::<Result<Vec<_>>>()?;
        let output = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|error| {
                Error::Publish(format!("PutEvents: {}", platform::aws::error_text(&error)))
            })?;
        let outcomes: Vec<EntryOutcome> = output
            .entries()
            .iter()
            .map(|entry| match entry.error_code() {
                Some(code) => EntryOutcome::Failed {
                    code: code.to_owned(),
                    message: entry.error_message().unwrap_or_default().to_owned(),
                },
                None => EntryOutcome::Published,
            })
            .collect();
        if outcomes.len() != events.len() {
            // Unmatched answers cannot be told apart: count every entry as not put, and
            // let the resend (same event ids) sort it out.
            return Err(Error::Publish(format!(
                "PutEvents answered {} entries for {} sent",
                outcomes.len(),
                events.len()
            )));
        }
        Ok(outcomes)
    }
}
