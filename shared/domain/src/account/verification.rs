//! Whether a destination is the saved name's: the gateway's check of it, and what the
//! processor reads to pass a held or unverified user's payouts over.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Where the check of a destination stands (RazorpayX fund account validation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Asked for, or about to be: the user's payouts wait.
    Pending,
    /// The account exists and is held under the saved name: payouts go.
    Verified,
    /// Not verified: `failure` says why.
    Failed,
}

/// Why a verification failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationFailure {
    /// The bank refused the account: the user must save another.
    AccountInvalid,
    /// The account exists under a name that is not the saved one.
    NameMismatch,
    /// The bank confirmed the account but returned no name to hold to the saved one:
    /// not taken as the user's.
    NameUnconfirmed,
    /// The gateway could not complete the check: nothing is known about the account,
    /// and the next processor run asks again (it does not count against the user).
    NotCompleted,
    /// No answer came after [`MAX_VERIFICATION_STARTS`] starts, or within
    /// [`MAX_VERIFICATION_AGE_SECS`] of one: given up, so the payouts fail (and the user
    /// is told) rather than wait unseen.
    GaveUp,
}

/// How many times a check is started (a lost answer, a refusal, one the gateway could
/// not complete) before it is given up.
pub const MAX_VERIFICATION_STARTS: u32 = 3;

/// How long a started check may wait for its answer: RazorpayX takes up to two working
/// days when the bank or NPCI is slow.
pub const MAX_VERIFICATION_AGE_SECS: u64 = 5 * 86_400;

impl VerificationFailure {
    /// Whether the account itself is at fault (its payouts fail); otherwise the check
    /// is made again.
    pub fn blames_account(self) -> bool {
        !matches!(self, VerificationFailure::NotCompleted)
    }
}

/// The check of one fund account: started once per destination (a save that keeps the
/// name and destination keeps it), never per payout.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub status: VerificationStatus,
    /// The gateway's fund account it checks: a verification of another one (an older
    /// revision's) says nothing about this.
    pub fund_account_id: String,
    /// The gateway's validation (`fav_…`), once it has answered the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_id: Option<String>,
    /// When the current check was started (a start whose answer was lost is started
    /// again, and finds this one, once the processor's lease, `LEASE_SECS`, has passed).
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<Timestamp>,
    /// The holder's name as the bank returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_name: Option<String>,
    /// Whether `registered_name` is the saved name (absent: no name came back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_matches: Option<bool>,
    /// 0–100: RazorpayX's `name_match_score`, or our comparison's (docs/RAZORPAYX.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_score: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<VerificationFailure>,
    /// Goes up by one with every write: each write is conditioned on the step it read,
    /// so a poll, a webhook, a save and a second processor never overwrite each other
    /// blindly.
    pub step: u64,
    /// How many times a check of this fund account has been started.
    #[serde(default)]
    pub starts: u32,
}

impl fmt::Debug for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The registered name is a person's name: never in a log line.
        f.debug_struct("Verification")
            .field("status", &self.status)
            .field("fund_account_id", &self.fund_account_id)
            .field("validation_id", &self.validation_id)
            .field("started_at", &self.started_at)
            .field("name_matches", &self.name_matches)
            .field("failure", &self.failure)
            .field("step", &self.step)
            .field("starts", &self.starts)
            .finish_non_exhaustive()
    }
}

/// What the processor needs to know to pass a user's payouts over: read for many users
/// at once, without the account's details.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AccountGate {
    pub user_id: u64,
    #[serde(default)]
    pub hold_until: Option<Timestamp>,
    #[serde(default)]
    pub verification: Option<VerificationState>,
    /// Kept where accounts were before they had a key space of their own (not
    /// migrated yet): the processor cannot claim against it, so it passes the user's
    /// payouts over until it moves.
    #[serde(skip)]
    pub not_migrated: bool,
}

/// A verification's status and failure alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct VerificationState {
    pub status: VerificationStatus,
    #[serde(default)]
    pub failure: Option<VerificationFailure>,
}

/// Why a user's pending payouts wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayoutHold {
    /// The account changed recently: until the hold ends (`payout_account_changed`).
    Changed { until: Timestamp },
    /// Its destination is not verified yet (`payout_account_unverified`).
    Unverified,
}

impl PayoutHold {
    pub fn reason(self) -> &'static str {
        match self {
            PayoutHold::Changed { .. } => "payout_account_changed",
            PayoutHold::Unverified => "payout_account_unverified",
        }
    }

    pub fn until(self) -> Option<Timestamp> {
        match self {
            PayoutHold::Changed { until } => Some(until),
            PayoutHold::Unverified => None,
        }
    }
}

/// Whether a verification lets payouts go, fails them, or keeps them waiting.
fn awaits_verification(state: Option<VerificationState>) -> bool {
    match state {
        None => true,
        Some(VerificationState {
            status: VerificationStatus::Verified,
            ..
        }) => false,
        Some(VerificationState {
            status: VerificationStatus::Failed,
            failure,
        }) => !failure.is_some_and(VerificationFailure::blames_account),
        Some(VerificationState {
            status: VerificationStatus::Pending,
            ..
        }) => true,
    }
}

impl AccountGate {
    /// What keeps the user's payouts waiting at `now`, if anything: a hold first (it
    /// has an end), then a destination not verified yet, when `validating`. A failed
    /// verification keeps nothing waiting: its payouts fail, and come back on a save.
    pub fn hold(&self, now: Timestamp, validating: bool) -> Option<PayoutHold> {
        if let Some(until) = self.hold_until.filter(|until| *until > now) {
            return Some(PayoutHold::Changed { until });
        }
        (validating && awaits_verification(self.verification)).then_some(PayoutHold::Unverified)
    }
}
