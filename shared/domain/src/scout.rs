//! A scout's earnings, split by where the money is (README, Payout lifecycle):
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
        }
    }

    pub fn balances_add_up(&self) -> bool {
        self.earnings_paise
            .checked_add(self.reserved_paise)
            .and_then(|sum| sum.checked_add(self.paid_paise))
            == Some(self.credited_paise)
    }
}
