//! The service's events, as other teams see them (docs/EVENTS.md): every change of a
//! payout's status (`payout.*`), a payout account that now pays elsewhere or emails
//! another address (`payout_account.changed`), and the money the marketplace moves
//! (`order.completed`, `scout.credited`, `scout.debited`). They are read off the table's stream,
//! which is the transactional outbox: a change that committed is in the stream exactly
//! once, a write that did not commit is not in it, and the handlers write nothing twice
//! to make events happen.

pub mod account;
pub mod bus;
pub mod marketplace;
pub mod publish;

use aws_lambda_events::dynamodb::EventRecord;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

pub use account::{AccountEventType, MaskedDestination, PayoutAccountChanged};
pub use marketplace::{MarketplaceEventType, OrderCompleted, ScoutEarningsMoved};

use domain::error::{Error, Result};
use domain::money::Paise;
use domain::payout::{Payout, PayoutStatus, PayoutType};
use domain::time::Timestamp;
use store::keys;

/// The `Source` of every event of the service.
pub const SOURCE: &str = "payouts";

/// Every `DetailType` the service publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Payout(PayoutEventType),
    Account(AccountEventType),
    Marketplace(MarketplaceEventType),
}

impl EventKind {
    pub fn all() -> impl Iterator<Item = EventKind> {
        PayoutEventType::ALL
            .into_iter()
            .map(EventKind::Payout)
            .chain(AccountEventType::ALL.into_iter().map(EventKind::Account))
            .chain(
                MarketplaceEventType::ALL
                    .into_iter()
                    .map(EventKind::Marketplace),
            )
    }

    pub fn detail_type(self) -> &'static str {
        match self {
            EventKind::Payout(kind) => kind.detail_type(),
            EventKind::Account(kind) => kind.detail_type(),
            EventKind::Marketplace(kind) => kind.detail_type(),
        }
    }

    pub fn from_detail_type(text: &str) -> Option<Self> {
        EventKind::all().find(|kind| kind.detail_type() == text)
    }
}

/// One event on the bus. Its detail is the inner struct's JSON as it is (`untagged`):
/// a payout event reads exactly as it did before account events existed. Reading one
/// back goes by the detail's `event_type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Event {
    Payout(PayoutEvent),
    PayoutAccountChanged(PayoutAccountChanged),
    OrderCompleted(OrderCompleted),
    ScoutEarnings(ScoutEarningsMoved),
}

/// What a stream's order is kept for: the publisher puts at most one event of each on
/// the bus per call, so a later one never overtakes an earlier one being resent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    Payout(Uuid),
    PayoutAccount(u64),
    Order(String),
    Scout(String),
}

impl Event {
    /// The event a stream record stands for, if any (see the two kinds'
    /// `event_for_record`). An error means a record that cannot be read.
    pub fn for_record(record: &EventRecord) -> Result<Option<Event>> {
        if account::is_account_record(record) {
            return Ok(account::event_for_record(record)?.map(Event::PayoutAccountChanged));
        }
        if marketplace::is_marketplace_record(record) {
            return marketplace::event_for_record(record);
        }
        Ok(event_for_record(record)?.map(Event::Payout))
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Event::Payout(event) => EventKind::Payout(event.event_type),
            Event::PayoutAccountChanged(event) => EventKind::Account(event.event_type),
            Event::OrderCompleted(event) => EventKind::Marketplace(event.event_type),
            Event::ScoutEarnings(event) => EventKind::Marketplace(event.event_type),
        }
    }

    pub fn detail_type(&self) -> &'static str {
        self.kind().detail_type()
    }

    pub fn event_id(&self) -> &str {
        match self {
            Event::Payout(event) => &event.event_id,
            Event::PayoutAccountChanged(event) => &event.event_id,
            Event::OrderCompleted(event) => &event.event_id,
            Event::ScoutEarnings(event) => &event.event_id,
        }
    }

    /// When the change was written: the event's `Time`.
    pub fn occurred_at(&self) -> Timestamp {
        match self {
            Event::Payout(event) => event.occurred_at,
            Event::PayoutAccountChanged(event) => event.changed_at,
            Event::OrderCompleted(event) => event.completed_at,
            Event::ScoutEarnings(event) => event.occurred_at,
        }
    }

    pub fn subject(&self) -> Subject {
        match self {
            Event::Payout(event) => Subject::Payout(event.payout_id),
            Event::PayoutAccountChanged(event) => Subject::PayoutAccount(event.user_id),
            Event::OrderCompleted(event) => Subject::Order(event.order_id.clone()),
            Event::ScoutEarnings(event) => Subject::Scout(event.scout_id.clone()),
        }
    }

    pub fn as_payout(&self) -> Option<&PayoutEvent> {
        match self {
            Event::Payout(event) => Some(event),
            _ => None,
        }
    }
}

impl From<PayoutEvent> for Event {
    fn from(event: PayoutEvent) -> Self {
        Event::Payout(event)
    }
}

impl From<PayoutAccountChanged> for Event {
    fn from(event: PayoutAccountChanged) -> Self {
        Event::PayoutAccountChanged(event)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let detail = serde_json::Value::deserialize(deserializer)?;
        let event_type = detail
            .get("event_type")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| D::Error::custom("the detail has no `event_type`"))?;
        match EventKind::from_detail_type(event_type) {
            Some(EventKind::Payout(_)) => serde_json::from_value(detail)
                .map(Event::Payout)
                .map_err(D::Error::custom),
            Some(EventKind::Account(_)) => serde_json::from_value(detail)
                .map(Event::PayoutAccountChanged)
                .map_err(D::Error::custom),
            Some(EventKind::Marketplace(MarketplaceEventType::OrderCompleted)) => {
                serde_json::from_value(detail)
                    .map(Event::OrderCompleted)
                    .map_err(D::Error::custom)
            }
            Some(EventKind::Marketplace(_)) => serde_json::from_value(detail)
                .map(Event::ScoutEarnings)
                .map_err(D::Error::custom),
            None => Err(D::Error::custom(format!(
                "unknown event_type `{}`",
                event_type.chars().take(64).collect::<String>()
            ))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PayoutEventType {
    #[serde(rename = "payout.requested")]
    Requested,
    #[serde(rename = "payout.processing")]
    Processing,
    #[serde(rename = "payout.completed")]
    Completed,
    #[serde(rename = "payout.failed")]
    Failed,
    #[serde(rename = "payout.cancelled")]
    Cancelled,
    #[serde(rename = "payout.requeued")]
    Requeued,
    #[serde(rename = "payout.reversed")]
    Reversed,
}

impl PayoutEventType {
    pub const ALL: [PayoutEventType; 7] = [
        PayoutEventType::Requested,
        PayoutEventType::Processing,
        PayoutEventType::Completed,
        PayoutEventType::Failed,
        PayoutEventType::Cancelled,
        PayoutEventType::Requeued,
        PayoutEventType::Reversed,
    ];

    /// The event's `DetailType`.
    pub fn detail_type(self) -> &'static str {
        match self {
            PayoutEventType::Requested => "payout.requested",
            PayoutEventType::Processing => "payout.processing",
            PayoutEventType::Completed => "payout.completed",
            PayoutEventType::Failed => "payout.failed",
            PayoutEventType::Cancelled => "payout.cancelled",
            PayoutEventType::Requeued => "payout.requeued",
            PayoutEventType::Reversed => "payout.reversed",
        }
    }

    pub fn from_detail_type(text: &str) -> Option<Self> {
        PayoutEventType::ALL
            .into_iter()
            .find(|kind| kind.detail_type() == text)
    }

    /// What a payout going from `from` (`None`: it was just created) to `to` is
    /// published as. `None` when the status stayed as it was: a gateway's progress
    /// report or a lease taken over is no news to anyone outside.
    pub fn for_change(from: Option<PayoutStatus>, to: PayoutStatus) -> Option<Self> {
        if from == Some(to) {
            return None;
        }
        Some(match (from, to) {
            (None, PayoutStatus::Pending) => PayoutEventType::Requested,
            (Some(_), PayoutStatus::Pending) => PayoutEventType::Requeued,
            (_, PayoutStatus::Processing) => PayoutEventType::Processing,
            (_, PayoutStatus::Completed) => PayoutEventType::Completed,
            (_, PayoutStatus::Failed) => PayoutEventType::Failed,
            (_, PayoutStatus::Cancelled) => PayoutEventType::Cancelled,
            (_, PayoutStatus::Reversed) => PayoutEventType::Reversed,
        })
    }
}

/// The `Detail` of a payout event. Built field by field from the payout, never by
/// copying it whole, so nothing added to the payout later (bank details, gateway
/// account ids, lease tokens) can reach another team by accident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutEvent {
    /// What consumers deduplicate on: the payout, the number of the write that made the
    /// change, and the event type. The same change read again (a retried batch, a
    /// replayed stream) has the same id.
    pub event_id: String,
    pub event_type: PayoutEventType,
    pub payout_id: Uuid,
    pub payout_type: PayoutType,
    pub user_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scout_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub amount_paise: Paise,
    pub currency: String,
    /// `None` for `payout.requested`.
    pub status_from: Option<PayoutStatus>,
    pub status_to: PayoutStatus,
    pub attempt: u32,
    /// The payout's write counter: a consumer that keeps the highest it has seen puts
    /// events EventBridge delivered out of order back in order.
    pub version: u64,
    /// The bank's reference (UTR) of a completed payout.
    pub reference: Option<String>,
    pub gateway_payout_id: Option<String>,
    /// Where the attempt was sent, masked (a gateway that pays people's own accounts):
    /// the "paid" email names it. Never the number itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Why it failed, came back or was requeued, as a code (see `reason_code`); never
    /// the gateway's free text.
    pub reason: Option<String>,
    /// When the change was written.
    pub occurred_at: Timestamp,
    pub created_at: Timestamp,
}

impl PayoutEvent {
    /// The event for a payout that was `before` (`None`: just created) and is now
    /// `after`, or `None` if its status did not change.
    pub fn for_change(before: Option<PayoutStatus>, after: &Payout) -> Option<Self> {
        let event_type = PayoutEventType::for_change(before, after.status)?;
        let reason = reason_code(event_type, before, after);
        Some(PayoutEvent {
            event_id: event_id(after.payout_id, after.version, event_type),
            event_type,
            payout_id: after.payout_id,
            payout_type: after.payout_type,
            user_id: after.user_id,
            scout_id: after.scout_id.clone(),
            order_id: after.order_id.clone(),
            amount_paise: after.amount_paise,
            currency: "INR".to_owned(),
            status_from: before,
            status_to: after.status,
            attempt: after.attempt,
            version: after.version,
            reference: after.payment_reference.clone(),
            gateway_payout_id: after.gateway_payout_id.clone(),
            destination: after.destination.clone(),
            reason,
            occurred_at: after.updated_at,
            created_at: after.created_at,
        })
    }

    pub fn detail_type(&self) -> &'static str {
        self.event_type.detail_type()
    }
}

/// Why a payout failed, came back or was requeued, as a code: the gateway's own
/// (RazorpayX's `status_details.reason`), ours (`payout_account_missing`…), or else a
/// general one.
fn reason_code(
    event_type: PayoutEventType,
    before: Option<PayoutStatus>,
    after: &Payout,
) -> Option<String> {
    let gateway = after
        .gateway_status_details
        .as_ref()
        .and_then(|details| details.reason.as_deref());
    let ours = after.failure_reason.as_deref();
    let known = || {
        gateway
            .into_iter()
            .chain(ours)
            .find(|text| domain::payout::is_code(text))
    };
    let code = match event_type {
        PayoutEventType::Failed => known().unwrap_or("gateway_declined"),
        PayoutEventType::Reversed => known().unwrap_or("bank_returned"),
        PayoutEventType::Requeued => match before {
            Some(PayoutStatus::Failed | PayoutStatus::Reversed) => "admin_retry",
            _ if after
                .last_error
                .as_deref()
                .is_some_and(|error| error.contains("lease expired")) =>
            {
                "lease_expired"
            }
            _ => "gateway_unavailable",
        },
        _ => return None,
    };
    Some(code.to_owned())
}

pub fn event_id(payout_id: Uuid, version: u64, event_type: PayoutEventType) -> String {
    format!("{payout_id}:{version}:{}", event_type.detail_type())
}

/// The key of a stream record's item: which kind of item it is, before its images
/// are read as one.
#[derive(Deserialize)]
pub(crate) struct ItemKey {
    pub(crate) pk: String,
    pub(crate) sk: String,
}

/// A stream record that cannot be read as `what`: the publisher stops there.
pub(crate) fn unreadable(record: &EventRecord, what: &str, error: &dyn std::fmt::Display) -> Error {
    Error::unreadable(format!(
        "stream record {}: {what}: {error}",
        record.change.sequence_number.as_deref().unwrap_or("?")
    ))
}

/// The key of a stream record's item.
pub(crate) fn item_key(record: &EventRecord) -> Result<ItemKey> {
    serde_dynamo::from_item(record.change.keys.clone())
        .map_err(|error| unreadable(record, "keys", &error))
}

#[derive(Deserialize)]
struct StatusOnly {
    status: PayoutStatus,
    #[serde(default)]
    version: u64,
}

/// The event a stream record stands for: `Ok(None)` for records that are not a payout
/// changing status (other items, removals, writes that kept the status). An error
/// means a payout record that cannot be read; the publisher stops there, so the
/// record is retried and, failing that, reaches the dead-letter queue.
pub fn event_for_record(record: &EventRecord) -> Result<Option<PayoutEvent>> {
    let unreadable = |what: &str, error: &dyn std::fmt::Display| unreadable(record, what, error);
    let key = item_key(record)?;
    if key.sk != keys::PAYOUT_SK || !key.pk.starts_with("PAYOUT#") {
        return Ok(None);
    }
    let before: Option<StatusOnly> = match record.event_name.as_str() {
        "INSERT" => None,
        "MODIFY" => Some(
            serde_dynamo::from_item(record.change.old_image.clone()).map_err(|error| {
                unreadable("old image (is the stream NEW_AND_OLD_IMAGES?)", &error)
            })?,
        ),
        _ => return Ok(None),
    };
    let after: Payout = serde_dynamo::from_item(record.change.new_image.clone())
        .map_err(|error| unreadable("new image (is the stream NEW_AND_OLD_IMAGES?)", &error))?;
    let Some(mut event) = PayoutEvent::for_change(before.as_ref().map(|old| old.status), &after)
    else {
        return Ok(None);
    };
    // A write that did not move the version (code from before it existed, still
    // running while a deploy rolls out) must not lend its change an id another change
    // has: the stream record's own id, the same on every read of it, stands in.
    let moved = match &before {
        Some(old) => after.version > old.version,
        None => after.version > 0,
    };
    if !moved {
        event.event_id = format!(
            "{}:record-{}:{}",
            after.payout_id,
            record.event_id,
            event.detail_type()
        );
    }
    Ok(Some(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::payout::{Transition, TRANSITIONS};

    #[test]
    fn every_status_change_in_the_lifecycle_has_its_event_and_the_rest_none() {
        for (transition, from, to) in TRANSITIONS {
            for from in *from {
                let event = PayoutEventType::for_change(Some(*from), *to);
                if from == to {
                    assert_eq!(event, None, "{transition:?} from {from}");
                    continue;
                }
                let expected = match to {
                    PayoutStatus::Pending => PayoutEventType::Requeued,
                    PayoutStatus::Processing => PayoutEventType::Processing,
                    PayoutStatus::Completed => PayoutEventType::Completed,
                    PayoutStatus::Failed => PayoutEventType::Failed,
                    PayoutStatus::Cancelled => PayoutEventType::Cancelled,
                    PayoutStatus::Reversed => PayoutEventType::Reversed,
                };
                assert_eq!(event, Some(expected), "{transition:?} from {from}");
            }
        }
        assert_eq!(
            PayoutEventType::for_change(None, PayoutStatus::Pending),
            Some(PayoutEventType::Requested)
        );
        // Requeues come from two places: the processor (gateway unreachable) and an
        // admin's retry.
        assert!(Transition::Requeue.allows(PayoutStatus::Processing));
        assert!(Transition::Retry.allows(PayoutStatus::Failed));
    }

    #[test]
    fn reasons_are_codes_and_never_free_text() {
        use domain::payout::GatewayStatusDetails;
        let mut payout = Payout::new(
            Uuid::new_v4(),
            7,
            PayoutType::SellerPayout,
            Paise(100),
            domain::time::Timestamp::now(),
        );
        payout.status = PayoutStatus::Failed;
        payout.failure_reason = Some("failed: VPA asha@okhdfc is invalid".to_owned());
        let reason = |payout: &Payout, from| {
            PayoutEvent::for_change(Some(from), payout).and_then(|event| event.reason)
        };
        assert_eq!(
            reason(&payout, PayoutStatus::Processing).as_deref(),
            Some("gateway_declined")
        );
        payout.gateway_status_details = Some(GatewayStatusDetails {
            reason: Some("beneficiary_bank_rejected".to_owned()),
            description: Some("Asha Rao's account 1234 was rejected".to_owned()),
            source: None,
        });
        assert_eq!(
            reason(&payout, PayoutStatus::Processing).as_deref(),
            Some("beneficiary_bank_rejected")
        );
        payout.gateway_status_details = Some(GatewayStatusDetails {
            reason: Some("000123456789012".to_owned()),
            description: None,
            source: None,
        });
        assert_eq!(
            reason(&payout, PayoutStatus::Processing).as_deref(),
            Some("gateway_declined"),
            "digits alone are no code"
        );
        payout.gateway_status_details = None;
        payout.failure_reason = Some(domain::account::PAYOUT_ACCOUNT_MISSING.to_owned());
        assert_eq!(
            reason(&payout, PayoutStatus::Pending).as_deref(),
            Some("payout_account_missing")
        );
        payout.status = PayoutStatus::Pending;
        payout.last_error = Some("RazorpayX 503 for asha@okhdfc".to_owned());
        assert_eq!(
            reason(&payout, PayoutStatus::Processing).as_deref(),
            Some("gateway_unavailable")
        );
        assert_eq!(
            reason(&payout, PayoutStatus::Failed).as_deref(),
            Some("admin_retry")
        );
        payout.status = PayoutStatus::Completed;
        assert_eq!(reason(&payout, PayoutStatus::Processing), None);
    }

    #[test]
    fn every_kind_has_its_own_detail_type_and_reads_back() {
        let kinds: Vec<EventKind> = EventKind::all().collect();
        assert_eq!(
            kinds.len(),
            PayoutEventType::ALL.len() + 1 + MarketplaceEventType::ALL.len()
        );
        let mut seen = std::collections::HashSet::new();
        for kind in kinds {
            assert!(seen.insert(kind.detail_type()), "{kind:?}");
            assert_eq!(EventKind::from_detail_type(kind.detail_type()), Some(kind));
        }
        assert_eq!(
            EventKind::from_detail_type("payout_account.changed"),
            Some(EventKind::Account(AccountEventType::Changed))
        );
        let forged = serde_json::json!({"event_type": "payout.paid", "payout_id": "x"});
        assert!(serde_json::from_value::<Event>(forged).is_err());
    }

    #[test]
    fn a_payout_event_reads_the_same_as_an_event() {
        let mut payout = Payout::new(
            Uuid::new_v4(),
            7,
            PayoutType::SellerPayout,
            Paise(100),
            domain::time::Timestamp::now(),
        );
        payout.version = 1;
        let event = PayoutEvent::for_change(None, &payout).unwrap();
        let wrapped = Event::from(event.clone());
        assert_eq!(
            serde_json::to_string(&wrapped).unwrap(),
            serde_json::to_string(&event).unwrap()
        );
        let read: Event = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(read, wrapped);
    }

    #[test]
    fn detail_types_round_trip_and_match_serde() {
        for kind in PayoutEventType::ALL {
            assert_eq!(
                PayoutEventType::from_detail_type(kind.detail_type()),
                Some(kind)
            );
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.detail_type())
            );
        }
        assert_eq!(PayoutEventType::from_detail_type("payout.paid"), None);
    }
}
