//! A scout's earnings, split by where the money is (docs/LIFECYCLE.md):
//! `earnings` are available to request, `reserved` are held by unfinished payouts,
//! `paid` left through the gateway, and `credited` is everything ever earned, so that
//! `earnings + reserved + paid == credited` always.

use serde::{Deserialize, Serialize};

use crate::money::Paise;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scout {
    pub scout_id: String,
    pub user_id: u64,
    pub earnings_paise: Paise,
    #[serde(default)]
    pub reserved_paise: Paise,
    #[serde(default)]
    pub paid_paise: Paise,
    pub credited_paise: Paise,
    /// The marketplace's name for the scout, shown to people; never used to decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A deactivated scout requests no payouts, by hand or by schedule; what it holds
    /// stays where it is, and its payouts already requested are still paid. Scouts
    /// stored before the marketplace door existed are active.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// The time of the latest marketplace event applied to its profile: an older one
    /// changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_at: Option<crate::time::Timestamp>,
}

fn active_by_default() -> bool {
    true
}

impl Scout {
    /// A scout whose whole balance is available, as a fixture or an import creates it.
    pub fn with_earnings(scout_id: impl Into<String>, user_id: u64, earnings: Paise) -> Self {
        Scout {
            scout_id: scout_id.into(),
            user_id,
            earnings_paise: earnings,
            reserved_paise: Paise::ZERO,
            paid_paise: Paise::ZERO,
            credited_paise: earnings,
            display_name: None,
            active: true,
            reported_at: None,
        }
    }

    pub fn balances_add_up(&self) -> bool {
        self.earnings_paise
            .checked_add(self.reserved_paise)
            .and_then(|sum| sum.checked_add(self.paid_paise))
            == Some(self.credited_paise)
    }
}

/// Which way an earnings entry moves a scout's balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EarningsDirection {
    /// Earned outside an order (a bonus, an opening balance brought from before).
    Credit,
    /// Taken back (a chargeback, a bounty clawed back): never below what is available.
    Debit,
}

impl EarningsDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            EarningsDirection::Credit => "credit",
            EarningsDirection::Debit => "debit",
        }
    }
}

/// One credit or debit of a scout's earnings outside an order, as the marketplace sent
/// it under its `Idempotency-Key`: stored with the balance change, in the same
/// transaction, so the key is the entry and a replay finds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarningsEntry {
    pub scout_id: String,
    pub idempotency_key: String,
    pub direction: EarningsDirection,
    pub amount_paise: Paise,
    /// The marketplace's reason code (`bonus`, `chargeback`, …).
    pub reason: String,
    /// Who sent it (the service caller's client id).
    pub client_id: String,
    pub created_at: crate::time::Timestamp,
}

impl EarningsEntry {
    /// Whether a request under the same key asks for the same thing: a replay, not a
    /// reused key.
    pub fn same_request(&self, direction: EarningsDirection, amount: Paise, reason: &str) -> bool {
        self.direction == direction && self.amount_paise == amount && self.reason == reason
    }
}
