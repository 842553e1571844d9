//! The daily reconciliation with the gateway, as data: what a run found (a
//! [`Finding`] of a [`FindingKind`], with both sides' facts and what was done about it)
//! and the day's [`Report`]. How the two sides are matched is the use case's
//! (`service::reconcile`); docs/OPERATIONS.md says what each finding asks of a person.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Paise;
use crate::payout::{Payout, PayoutStatus};
use crate::time::Timestamp;

/// What disagrees between our books and the gateway's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A gateway payout with no payout of ours: made on the gateway's dashboard, or by
    /// another system with our keys, or under our reference by none of our attempts.
    UnknownToUs,
    /// We hold a payout paid (or sent, past the gateway's window) and the gateway holds
    /// nothing for its attempt.
    MissingAtGateway,
    /// The gateway's word on an attempt differs from ours (paid against failed, reversed
    /// against completed, still on its way against settled…).
    StatusMismatch,
    /// The gateway's payout for our attempt is for another amount.
    AmountMismatch,
    /// The gateway's payout for our attempt goes to another fund account.
    DestinationMismatch,
    /// More than one processed gateway payout for one payout of ours.
    PaidTwice,
    /// The gateway's account statement disagrees with its payouts: money left for a
    /// payout it says was never paid, twice for one, or not at all for one it says is
    /// processed; or money moved for a payout it has no record of.
    StatementMismatch,
}

impl FindingKind {
    pub const ALL: [FindingKind; 7] = [
        FindingKind::UnknownToUs,
        FindingKind::MissingAtGateway,
        FindingKind::StatusMismatch,
        FindingKind::AmountMismatch,
        FindingKind::DestinationMismatch,
        FindingKind::PaidTwice,
        FindingKind::StatementMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::UnknownToUs => "unknown_to_us",
            FindingKind::MissingAtGateway => "missing_at_gateway",
            FindingKind::StatusMismatch => "status_mismatch",
            FindingKind::AmountMismatch => "amount_mismatch",
            FindingKind::DestinationMismatch => "destination_mismatch",
            FindingKind::PaidTwice => "paid_twice",
            FindingKind::StatementMismatch => "statement_mismatch",
        }
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the run did about a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// The gateway's final word on an attempt we know was missed (a webhook and every
    /// poll lost): applied through the transition a webhook would have made.
    Repaired { transition: String },
    /// Nothing safe to do by machine: a person must look (and an alarm says so).
    LeftForPerson,
}

/// A gateway payout as the gateway showed it to the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewaySide {
    pub gateway_payout_id: String,
    /// Our payout id as the gateway carries it (RazorpayX `reference_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_paise: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fund_account_id: Option<String>,
    /// The bank's reference of a processed payout (UTR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utr: Option<String>,
    pub created_at: Timestamp,
}

/// Our payout as the run read it, before any repair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OurSide {
    pub payout_id: Uuid,
    pub user_id: u64,
    pub status: PayoutStatus,
    pub attempt: u32,
    pub amount_paise: Paise,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_payout_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_fund_account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_sent_at: Option<Timestamp>,
}

impl From<&Payout> for OurSide {
    fn from(payout: &Payout) -> Self {
        OurSide {
            payout_id: payout.payout_id,
            user_id: payout.user_id,
            status: payout.status,
            attempt: payout.attempt,
            amount_paise: payout.amount_paise,
            gateway_payout_id: payout.gateway_payout_id.clone(),
            gateway_fund_account_id: payout.gateway_fund_account_id.clone(),
            payment_reference: payout.payment_reference.clone(),
            first_sent_at: payout.first_sent_at,
        }
    }
}

/// One disagreement, with both sides' facts as the run found them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// What the finding is about, unique within its kind and day: the gateway payout's
    /// id, or our payout's when the gateway has none.
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ours: Option<OurSide>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub theirs: Vec<GatewaySide>,
    /// In words, for the person who reads it.
    pub detail: String,
    #[serde(flatten)]
    pub action: Action,
    pub found_at: Timestamp,
}

impl Finding {
    /// What makes it one finding within its day: its kind and subject, what each side
    /// said, and what was done. The same disagreement found again is the same finding;
    /// the same payout found in another state (a later run finds it failed, or reversed
    /// after a repair), or repaired after it was left for a person, is another, and is
    /// recorded too. Bounded whatever the number of gateway payouts: each status once.
    pub fn key(&self) -> String {
        let ours = self
            .ours
            .as_ref()
            .map_or("none", |ours| ours.status.as_str());
        let theirs: std::collections::BTreeSet<&str> = self
            .theirs
            .iter()
            .map(|side| side.status.as_str())
            .collect();
        let action = match self.action {
            Action::Repaired { .. } => "repaired",
            Action::LeftForPerson => "left",
        };
        format!(
            "{}#{}#{ours}#{}#{action}",
            self.kind,
            self.subject,
            if theirs.is_empty() {
                "none".to_owned()
            } else {
                theirs.into_iter().collect::<Vec<_>>().join("+")
            }
        )
    }

    /// The payout the finding is about, when it is one of ours.
    pub fn payout_id(&self) -> Option<Uuid> {
        self.ours.as_ref().map(|ours| ours.payout_id)
    }
}

/// One side's totals over the day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideTotals {
    /// Payouts of the day on this side (ours: attempts first sent in the window; the
    /// gateway's: payouts it created in the window).
    pub payouts: u64,
    /// Of those, paid (ours `completed`; the gateway's `processed`) and their sum.
    pub paid: u64,
    pub paid_paise: u64,
    /// Of those, settled without money moving, or moved and sent back.
    pub not_paid: u64,
    /// Of those, still on their way.
    pub in_flight: u64,
}

/// A day's reconciliation, as its latest run left it. Findings are kept beside it, each
/// once (a later run over the same day reports what earlier ones found, repaired or not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The business day, `YYYY-MM-DD` in `time_zone`.
    pub date: String,
    pub time_zone: String,
    pub window_from: Timestamp,
    pub window_to: Timestamp,
    /// `simulated` or `razorpayx`.
    pub gateway: String,
    pub runs: u32,
    pub first_run_at: Timestamp,
    pub last_run_at: Timestamp,
    pub ours: SideTotals,
    pub theirs: SideTotals,
    /// Gateway payouts of the day that agree with our attempt, by our payout's status.
    pub matched: BTreeMap<String, u64>,
    /// Every finding of the day so far, by kind.
    pub findings: BTreeMap<String, u64>,
    pub repaired: u64,
    pub left_for_person: u64,
    /// The gateway's account statement over the day; `null` for a gateway that keeps
    /// none apart from its payouts (and for reports written before it was read).
    #[serde(default)]
    pub statement: Option<StatementTotals>,
}

/// The account statement's lines over the day: every movement of the business
/// account's money, payouts' and others' (funds added, validations).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementTotals {
    pub lines: u64,
    pub debited_paise: u64,
    pub credited_paise: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_reads_back_as_written_with_its_action_flat() {
        let finding = Finding {
            kind: FindingKind::StatusMismatch,
            subject: "pout_1".to_owned(),
            ours: None,
            theirs: Vec::new(),
            detail: "a missed reversal".to_owned(),
            action: Action::Repaired {
                transition: "reverse".to_owned(),
            },
            found_at: Timestamp::from_millis(1_800_000_000_000),
        };
        let json = serde_json::to_value(&finding).unwrap();
        assert_eq!(json["kind"], "status_mismatch");
        assert_eq!(json["action"], "repaired");
        assert_eq!(json["transition"], "reverse");
        assert_eq!(serde_json::from_value::<Finding>(json).unwrap(), finding);
        for kind in FindingKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
    }
}
