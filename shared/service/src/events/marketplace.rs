//! The events of money the marketplace moves (docs/EVENTS.md): an order completed
//! (`order.completed`: its seller payout and its scout's bounty) and a scout's earnings
//! credited or debited outside an order (`scout.credited`, `scout.debited`). Like a
//! payout's, each is read off the table's stream: the write that moved the money is
//! the event, once.

use aws_lambda_events::dynamodb::EventRecord;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use domain::error::{Error, Result};
use domain::money::Paise;
use domain::order::{Order, OrderStatus};
use domain::scout::{EarningsDirection, EarningsEntry};
use domain::time::Timestamp;
use store::keys;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MarketplaceEventType {
    #[serde(rename = "order.completed")]
    OrderCompleted,
    #[serde(rename = "scout.credited")]
    ScoutCredited,
    #[serde(rename = "scout.debited")]
    ScoutDebited,
}

impl MarketplaceEventType {
    pub const ALL: [MarketplaceEventType; 3] = [
        MarketplaceEventType::OrderCompleted,
        MarketplaceEventType::ScoutCredited,
        MarketplaceEventType::ScoutDebited,
    ];

    pub fn detail_type(self) -> &'static str {
        match self {
            MarketplaceEventType::OrderCompleted => "order.completed",
            MarketplaceEventType::ScoutCredited => "scout.credited",
            MarketplaceEventType::ScoutDebited => "scout.debited",
        }
    }
}

/// An order completed: who is paid what for it. The seller's payout has its own
/// `payout.*` events from here on; the bounty is in the scout's available earnings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCompleted {
    /// The order and the revision its completion wrote: once per order.
    pub event_id: String,
    pub event_type: MarketplaceEventType,
    pub order_id: String,
    pub buyer_id: u64,
    pub seller_id: u64,
    pub item_price_paise: Paise,
    pub currency: String,
    /// `None` when the seller was owed nothing.
    pub payout_id: Option<Uuid>,
    pub scout_id: Option<String>,
    /// Credited to the scout by this completion; `None` without a bounty.
    pub scout_bounty_paise: Option<Paise>,
    pub completed_at: Timestamp,
}

/// A scout's earnings credited or debited outside an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoutEarningsMoved {
    /// The scout and the entry's `Idempotency-Key`: once per entry.
    pub event_id: String,
    pub event_type: MarketplaceEventType,
    pub scout_id: String,
    pub amount_paise: Paise,
    pub currency: String,
    /// The marketplace's reason code.
    pub reason: String,
    pub idempotency_key: String,
    pub occurred_at: Timestamp,
}

/// `<scout_id>:<key>:<event_type>`, with `%` and `:` in the two ids percent-encoded:
/// both may hold a `:`, and scout `a:b` with key `c` must not share an id with scout `a`
/// with key `b:c`.
pub fn earnings_event_id(
    scout_id: &str,
    idempotency_key: &str,
    event_type: MarketplaceEventType,
) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
    const SEPARATORS: &AsciiSet = &CONTROLS.add(b'%').add(b':');
    format!(
        "{}:{}:{}",
        utf8_percent_encode(scout_id, SEPARATORS),
        utf8_percent_encode(idempotency_key, SEPARATORS),
        event_type.detail_type()
    )
}

#[derive(Deserialize)]
struct StatusOnly {
    status: OrderStatus,
}

/// Whether a stream record is an order's or an earnings entry's.
pub fn is_marketplace_record(record: &EventRecord) -> bool {
    super::item_key(record).is_ok_and(|key| {
        (key.sk == keys::ORDER_SK && key.pk.starts_with("ORDER#"))
            || (key.sk.starts_with(keys::EARNING_PREFIX) && key.pk.starts_with("SCOUT#"))
    })
}

/// The event an order's or an earnings entry's stream record stands for: an order
/// changed into `completed`, an entry inserted.
/// `Ok(None)` for every other write. An error means a record that cannot be read.
pub fn event_for_record(record: &EventRecord) -> Result<Option<super::Event>> {
    let unreadable =
        |what: &str, error: &dyn std::fmt::Display| super::unreadable(record, what, error);
    let key = super::item_key(record)?;
    if key.sk.starts_with(keys::EARNING_PREFIX) {
        if record.event_name != "INSERT" {
            return Ok(None);
        }
        let entry: EarningsEntry = serde_dynamo::from_item(record.change.new_image.clone())
            .map_err(|error| unreadable("earnings entry", &error))?;
        let event_type = match entry.direction {
            EarningsDirection::Credit => MarketplaceEventType::ScoutCredited,
            EarningsDirection::Debit => MarketplaceEventType::ScoutDebited,
        };
        return Ok(Some(super::Event::ScoutEarnings(ScoutEarningsMoved {
            event_id: earnings_event_id(&entry.scout_id, &entry.idempotency_key, event_type),
            event_type,
            scout_id: entry.scout_id,
            amount_paise: entry.amount_paise,
            currency: "INR".to_owned(),
            reason: entry.reason,
            idempotency_key: entry.idempotency_key,
            occurred_at: entry.created_at,
        })));
    }
    // Completion is always a change of an order that was open: an order written as
    // completed from the start (a fixture's) moved no money.
    if record.event_name != "MODIFY" {
        return Ok(None);
    }
    let before = serde_dynamo::from_item::<_, StatusOnly>(record.change.old_image.clone())
        .map_err(|error| unreadable("order old image", &error))?
        .status;
    let after: Order = serde_dynamo::from_item(record.change.new_image.clone())
        .map_err(|error| unreadable("order new image", &error))?;
    if after.status != OrderStatus::Completed || before == OrderStatus::Completed {
        return Ok(None);
    }
    let event_type = MarketplaceEventType::OrderCompleted;
    let completed_at = after.completed_at.or(after.updated_at).ok_or_else(|| {
        Error::inconsistent(format!("order {} completed at no time", after.order_id))
    })?;
    let bounty = after.bounty().map(|(_, bounty)| bounty);
    Ok(Some(super::Event::OrderCompleted(OrderCompleted {
        event_id: format!(
            "{}:{}:{}",
            after.order_id,
            after.revision,
            event_type.detail_type()
        ),
        event_type,
        order_id: after.order_id,
        buyer_id: after.buyer_id,
        seller_id: after.seller_id,
        item_price_paise: after.item_price_paise,
        currency: after.currency.as_str().to_owned(),
        payout_id: after.payout_id,
        scout_id: after.scout_id,
        scout_bounty_paise: bounty,
        completed_at,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earnings_event_ids_never_collide_across_scouts() {
        let credited = MarketplaceEventType::ScoutCredited;
        assert_eq!(
            earnings_event_id("s-1", "bonus-1", credited),
            "s-1:bonus-1:scout.credited"
        );
        assert_ne!(
            earnings_event_id("a:b", "c", credited),
            earnings_event_id("a", "b:c", credited)
        );
        assert_ne!(
            earnings_event_id("a%3Ab", "c", credited),
            earnings_event_id("a:b", "c", credited)
        );
    }
}
