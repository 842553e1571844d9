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
    /// The states an order may be completed from.
    pub const OPEN: [OrderStatus; 3] = [
        OrderStatus::Placed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
    ];

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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub buyer_id: u64,
    pub seller_id: u64,
    /// What the seller is paid: the item price, platform fee already deducted.
    pub item_price_paise: Paise,
    pub status: OrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scout_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scout_bounty_paise: Option<Paise>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
}

/// The fixed namespace seller payout ids are derived in; changing it would let an
/// already-completed order create a second payout.
const SELLER_PAYOUT_NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_5b1e_8a4d_4c47_9b7e_2d3f_5a61_c0de);

impl Order {
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
