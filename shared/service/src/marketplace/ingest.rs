//! The marketplace's events, the second way in (docs/MARKETPLACE.md): a rule on the marketplace's EventBridge bus delivers its `order.*`
//! and `scout.*` events to `ingest-marketplace`, which applies each as the matching
//! `PUT` would (the detail is the record, with its id), once per event id.
//!
//! Events may arrive late, twice, or out of order. Twice: the event's receipt answers
//! the second delivery. Out of order: each event's `time` is written with what it
//! applied, and an event older than the record's latest changes nothing
//! (`superseded`), but for a completion or cancellation of an order still open, which
//! always moves it forward; so does one saying an open status the order has moved on
//! past. Anything else refused (a completion of a cancelled order, a settled order's
//! changed price) is an error: the event is retried, then kept in the function's
//! dead-letter queue for a person, and its alarm fires.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;
use tracing::{info, warn};

use super::orders::{put_order, OrderReport};
use super::scouts::{put_scout, ScoutProfile};
use super::{record_id_of, Upserted};
use crate::config::PayoutLimits;
use domain::actor::ServiceCaller;
use domain::error::{Error, Result};
use domain::time::Timestamp;
use store::{IngestReceipt, Store, INGEST_RECEIPT_DAYS};

/// What became of one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingested {
    Applied(Upserted),
    /// Its id was seen before: nothing done again.
    Duplicate,
}

impl Ingested {
    pub fn as_str(self) -> &'static str {
        match self {
            Ingested::Applied(Upserted::Created) => "created",
            Ingested::Applied(Upserted::Updated) => "updated",
            Ingested::Applied(Upserted::Unchanged) => "unchanged",
            Ingested::Applied(Upserted::Superseded) => "superseded",
            Ingested::Duplicate => "duplicate",
        }
    }
}

/// Which record an event is about, by its `detail-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Subject {
    Scout,
    Order,
}

fn subject_of(detail_type: &str) -> Option<Subject> {
    let (kind, rest) = detail_type.split_once('.')?;
    match (kind, rest.is_empty()) {
        ("scout", false) => Some(Subject::Scout),
        ("order", false) => Some(Subject::Order),
        _ => None,
    }
}

/// Whether an order event's detail says an open status (placed, shipped, delivered).
fn event_status_is_open(detail: &serde_json::Map<String, Value>) -> bool {
    detail
        .get("status")
        .and_then(Value::as_str)
        .and_then(domain::order::OrderStatus::parse)
        .is_some_and(|status| !status.is_final())
}

/// How far ahead of our clock an event's `time` may be (a publisher's clock ahead):
/// beyond it, the event would outrank every later one and is refused.
const MAX_CLOCK_AHEAD_SECS: u64 = 300;

pub struct Ingester<'a> {
    pub store: &'a Store,
    pub limits: PayoutLimits,
    /// `MARKETPLACE_EVENT_SOURCE`: the only `source` taken (the rule's pattern says
    /// the same; this holds if the rule is ever widened).
    pub source: String,
}

impl Ingester<'_> {
    pub async fn ingest(&self, event: &EventBridgeEvent<Value>) -> Result<Ingested> {
        if event.source != self.source {
            return Err(Error::BadRequest(format!(
                "an event of source `{}`, not of the marketplace (`{}`)",
                event.source.chars().take(64).collect::<String>(),
                self.source
            )));
        }
        let event_id = event
            .id
            .as_deref()
            .filter(|id| !id.is_empty() && id.len() <= 128)
            .ok_or_else(|| Error::BadRequest("the event has no id".to_owned()))?;
        if self
            .store
            .ingest_receipt(&self.source, event_id)
            .await?
            .is_some()
        {
            info!(
                event = "marketplace_event_duplicate",
                event_id, "seen before"
            );
            return Ok(Ingested::Duplicate);
        }
        let subject = subject_of(&event.detail_type).ok_or_else(|| {
            Error::BadRequest(format!(
                "detail-type `{}` is neither order.* nor scout.*",
                event.detail_type.chars().take(64).collect::<String>()
            ))
        })?;
        let Value::Object(detail) = &event.detail else {
            return Err(Error::BadRequest(
                "the detail is not a JSON object".to_owned(),
            ));
        };
        let as_of = event
            .time
            .map(Timestamp::from_utc)
            .ok_or_else(|| Error::BadRequest("the event has no time".to_owned()))?;
        if as_of > Timestamp::now().plus_secs(MAX_CLOCK_AHEAD_SECS) {
            return Err(Error::BadRequest(format!(
                "the event's time {as_of} is in the future: it would outrank every later event"
            )));
        }
        let as_of = Some(as_of);
        let caller = ServiceCaller {
            client_id: format!("eventbridge:{}", self.source),
        };
        let applied = match subject {
            Subject::Scout => {
                let (scout_id, body) = record_id_of(detail.clone(), "scout_id")?;
                let profile = ScoutProfile {
                    as_of,
                    ..ScoutProfile::parse(&body)?
                };
                put_scout(self.store, &caller, &scout_id, profile)
                    .await
                    .map(|(_, upserted)| upserted)
            }
            Subject::Order => {
                let (order_id, body) = record_id_of(detail.clone(), "order_id")?;
                let report = OrderReport {
                    as_of,
                    ..OrderReport::parse(&body, self.limits)?
                };
                put_order(self.store, self.limits, &caller, &order_id, report)
                    .await
                    .map(|reported| reported.upserted)
            }
        };
        let upserted = match applied {
            Ok(upserted) => upserted,
            // The order has moved on past the open status this event says: a later
            // event got here first, and nothing of money is in this one. An event that
            // would complete or cancel an order settled otherwise, or change a settled
            // order's fields as of its own status, is a conflict a person must see:
            // it fails, and so reaches the DLQ and its alarm.
            Err(
                error @ (Error::OrderStatusBackwards { .. }
                | Error::OrderClosed {
                    field: "status", ..
                }),
            ) if event_status_is_open(detail) => {
                warn!(
                    event = "marketplace_event_superseded",
                    event_id,
                    detail_type = %event.detail_type,
                    reason = %error,
                    "the order has moved on past this event; nothing changed"
                );
                Upserted::Superseded
            }
            Err(error) => return Err(error),
        };
        let ingested = Ingested::Applied(upserted);
        let now = Timestamp::now();
        self.store
            .save_ingest_receipt(&IngestReceipt {
                source: self.source.clone(),
                event_id: event_id.to_owned(),
                detail_type: event.detail_type.clone(),
                handled: ingested.as_str().to_owned(),
                received_at: now,
                expires_at: now.plus_secs(INGEST_RECEIPT_DAYS * 86_400).unix_millis() / 1000,
            })
            .await?;
        info!(
            event = "marketplace_event_ingested",
            event_id,
            detail_type = %event.detail_type,
            handled = ingested.as_str(),
            "marketplace event applied"
        );
        Ok(ingested)
    }
}
