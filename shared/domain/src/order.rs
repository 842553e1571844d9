//! A marketplace order, as far as payouts care: who is paid what when it completes.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Paise;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Placed,
    Shipped,
    Delivered,
    Completed,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::Placed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
    ];

    /// Whether an order in this status may be put in `next` (docs/MARKETPLACE.md): forward along placed → shipped → delivered → completed, skipping
    /// steps a marketplace never reported, or to cancelled before it completes. Staying
    /// put is allowed (a repeated update). A completed or cancelled order is final: its
    /// seller payout and bounty are settled on what it was.
    pub fn may_become(self, next: OrderStatus) -> bool {
        match (self, next) {
            (from, to) if from == to => true,
            (OrderStatus::Completed | OrderStatus::Cancelled, _) => false,
            (_, OrderStatus::Completed | OrderStatus::Cancelled) => true,
            (from, to) => from.step() < to.step(),
        }
    }

    /// How far along the way to completion an open status is.
    fn step(self) -> u8 {
        match self {
            OrderStatus::Placed => 0,
            OrderStatus::Shipped => 1,
            OrderStatus::Delivered => 2,
            OrderStatus::Completed | OrderStatus::Cancelled => 3,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Completed | OrderStatus::Cancelled)
    }

    pub fn parse(text: &str) -> Option<OrderStatus> {
        OrderStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The currencies an order may be priced in: the gateway pays out rupees only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    #[default]
    #[serde(rename = "INR")]
    Inr,
}

impl Currency {
    pub fn as_str(self) -> &'static str {
        match self {
            Currency::Inr => "INR",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub buyer_id: u64,
    pub seller_id: u64,
    /// What the seller is paid: the item price, platform fee already deducted.
    pub item_price_paise: Paise,
    /// Orders stored before the marketplace door existed are rupee orders.
    #[serde(default)]
    pub currency: Currency,
    pub status: OrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scout_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scout_bounty_paise: Option<Paise>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// One more with every change the marketplace makes; a change and a completion are
    /// conditioned on the revision they read, so neither lands on an order that moved.
    #[serde(default)]
    pub revision: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    /// The time of the latest marketplace event applied to it (EventBridge's `time`):
    /// an event older than that is superseded and changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_at: Option<Timestamp>,
}

/// The fixed namespace seller payout ids are derived in; changing it would let an
/// already-completed order create a second payout.
const SELLER_PAYOUT_NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_5b1e_8a4d_4c47_9b7e_2d3f_5a61_c0de);

impl Order {
    /// An order as the marketplace first reports it, before any change.
    pub fn new(
        order_id: impl Into<String>,
        buyer_id: u64,
        seller_id: u64,
        item_price_paise: Paise,
        status: OrderStatus,
    ) -> Self {
        Order {
            order_id: order_id.into(),
            buyer_id,
            seller_id,
            item_price_paise,
            currency: Currency::Inr,
            status,
            scout_id: None,
            scout_bounty_paise: None,
            payout_id: None,
            completed_at: None,
            revision: 0,
            updated_at: None,
            reported_at: None,
        }
    }

    /// One seller payout per order, ever: its id is a function of the order id.
    pub fn seller_payout_id(order_id: &str) -> Uuid {
        Uuid::new_v5(&SELLER_PAYOUT_NAMESPACE, order_id.as_bytes())
    }

    pub fn bounty(&self) -> Option<(&str, Paise)> {
        match (self.scout_id.as_deref(), self.scout_bounty_paise) {
            (Some(scout_id), Some(bounty)) if bounty > Paise::ZERO => Some((scout_id, bounty)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::{self, *};

    #[test]
    fn statuses_only_move_forward_and_final_ones_not_at_all() {
        let allowed = |from: OrderStatus| {
            OrderStatus::ALL
                .into_iter()
                .filter(|to| from.may_become(*to))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            allowed(Placed),
            [Placed, Shipped, Delivered, Completed, Cancelled]
        );
        assert_eq!(allowed(Shipped), [Shipped, Delivered, Completed, Cancelled]);
        assert_eq!(allowed(Delivered), [Delivered, Completed, Cancelled]);
        assert_eq!(allowed(Completed), [Completed]);
        assert_eq!(allowed(Cancelled), [Cancelled]);
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::parse("Placed"), None);
    }
}
