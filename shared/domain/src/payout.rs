//! The payout and its lifecycle. [`TRANSITIONS`] is the one place that says which
//! status changes exist; the store turns it into the condition of every write.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Paise;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayoutStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
    /// The gateway paid, then the bank sent the money back (closed account, wrong
    /// beneficiary): an admin sends it again or cancels it.
    Reversed,
}

impl PayoutStatus {
    pub const ALL: [PayoutStatus; 6] = [
        PayoutStatus::Pending,
        PayoutStatus::Processing,
        PayoutStatus::Completed,
        PayoutStatus::Failed,
        PayoutStatus::Cancelled,
        PayoutStatus::Reversed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "pending",
            PayoutStatus::Processing => "processing",
            PayoutStatus::Completed => "completed",
            PayoutStatus::Failed => "failed",
            PayoutStatus::Cancelled => "cancelled",
            PayoutStatus::Reversed => "reversed",
        }
    }

    /// Money in these states is still on its way to the user (`pending_paise`).
    pub fn is_in_flight(self) -> bool {
        matches!(self, PayoutStatus::Pending | PayoutStatus::Processing)
    }

    /// The user has this money: it counts in `paid_paise` and `total_paid_paise`.
    pub fn is_paid(self) -> bool {
        self == PayoutStatus::Completed
    }

    /// A scout payout in these states still holds its reservation (`reserved_paise`).
    pub fn holds_reservation(self) -> bool {
        matches!(
            self,
            PayoutStatus::Pending
                | PayoutStatus::Processing
                | PayoutStatus::Failed
                | PayoutStatus::Reversed
        )
    }
}

impl fmt::Display for PayoutStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PayoutStatus {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PayoutStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutType {
    ScoutBounty,
    SellerPayout,
}

impl PayoutType {
    pub const ALL: [PayoutType; 2] = [PayoutType::ScoutBounty, PayoutType::SellerPayout];

    /// The name the API and the counters use.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutType::ScoutBounty => "scout_bounty",
            PayoutType::SellerPayout => "seller_payout",
        }
    }
}

/// Every way a payout's status may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transition {
    /// A processor takes a pending payout and holds a lease on it while it pays.
    Claim,
    /// A processor takes over a payout whose holder's lease ran out.
    Reclaim,
    /// The gateway paid the attempt a processor holds.
    Complete,
    /// The gateway says an attempt that went back to the queue with its outcome unknown
    /// was paid after all (found when an admin cancels it, or reported by the gateway):
    /// recorded as paid, never sent again.
    Confirm,
    /// The gateway declined for good (also said of an attempt that went back to the
    /// queue with its outcome unknown).
    Fail,
    /// The gateway could not be reached, or a reclaimed attempt was never made:
    /// back to the queue with the same attempt (and so the same idempotency key).
    Requeue,
    /// The gateway accepted the attempt but has not finished it: the payout stays
    /// `processing`, held by nobody, due for another look at `lease_expires_at`.
    Accept,
    /// The gateway reports progress on an attempt it holds (queued, initiated): its
    /// status is recorded; nothing else changes.
    Track,
    /// The gateway says a paid attempt came back from the bank (or one we never heard
    /// was paid came back): the money is the user's no more, the reservation holds it.
    Reverse,
    /// An admin sends a failed or reversed payout round again, as a new attempt.
    Retry,
    /// An admin withdraws a payout that has not been paid, or whose payment came back.
    Cancel,
}

/// The payout lifecycle (README, Payout lifecycle), as data: (transition, allowed from,
/// to).
pub const TRANSITIONS: &[(Transition, &[PayoutStatus], PayoutStatus)] = &[
    (
        Transition::Claim,
        &[PayoutStatus::Pending],
        PayoutStatus::Processing,
    ),
    (
        Transition::Reclaim,
        &[PayoutStatus::Processing],
        PayoutStatus::Processing,
    ),
    (
        Transition::Complete,
        &[PayoutStatus::Processing],
        PayoutStatus::Completed,
    ),
    (
        Transition::Confirm,
        &[PayoutStatus::Pending],
        PayoutStatus::Completed,
    ),
    (
        Transition::Fail,
        &[PayoutStatus::Processing, PayoutStatus::Pending],
        PayoutStatus::Failed,
    ),
    (
        Transition::Requeue,
        &[PayoutStatus::Processing],
        PayoutStatus::Pending,
    ),
    (
        Transition::Accept,
        &[PayoutStatus::Processing],
        PayoutStatus::Processing,
    ),
    (
        Transition::Track,
        &[PayoutStatus::Processing],
        PayoutStatus::Processing,
    ),
    (
        Transition::Reverse,
        &[
            PayoutStatus::Processing,
            PayoutStatus::Pending,
            PayoutStatus::Completed,
        ],
        PayoutStatus::Reversed,
    ),
    (
        Transition::Retry,
        &[PayoutStatus::Failed, PayoutStatus::Reversed],
        PayoutStatus::Pending,
    ),
    (
        Transition::Cancel,
        &[
            PayoutStatus::Pending,
            PayoutStatus::Failed,
            PayoutStatus::Reversed,
        ],
        PayoutStatus::Cancelled,
    ),
];

/// How a status change treats the processing lease, named by what it does (the store's
/// `Lease` carries the token), so that which one each transition takes is a rule of the
/// lifecycle rather than a habit of its callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseUse {
    /// Neither needs nor touches a lease: an admin's change, or a report of progress.
    NotHeld,
    /// Takes the lease on a payout nobody holds.
    Acquire,
    /// Takes over a lease that ran out.
    TakeOver,
    /// Settles under the lease its writer holds, and gives it up.
    Release,
    /// The gateway's final word on the attempt: whatever lease there is is dropped, and
    /// its holder's own settle then finds the payout moved on.
    Break,
}

/// Which leases each transition may be written with, beside [`TRANSITIONS`]. The store
/// refuses a status change that breaks it before writing anything
/// ([`crate::error::Error::Invariant`]).
pub const LEASE_RULES: &[(Transition, &[LeaseUse])] = &[
    (Transition::Claim, &[LeaseUse::Acquire]),
    (Transition::Reclaim, &[LeaseUse::TakeOver]),
    // The processor settles under its lease; a webhook's report breaks any.
    (Transition::Complete, &[LeaseUse::Release, LeaseUse::Break]),
    // A cancel finds it paid (nobody holds a pending payout); or a webhook says so.
    (Transition::Confirm, &[LeaseUse::NotHeld, LeaseUse::Break]),
    (Transition::Fail, &[LeaseUse::Release, LeaseUse::Break]),
    (Transition::Requeue, &[LeaseUse::Release]),
    (Transition::Accept, &[LeaseUse::Release]),
    (Transition::Track, &[LeaseUse::NotHeld]),
    (Transition::Reverse, &[LeaseUse::Release, LeaseUse::Break]),
    (Transition::Retry, &[LeaseUse::NotHeld]),
    (Transition::Cancel, &[LeaseUse::NotHeld]),
];

// Both tables hold one row per transition, in the enum's order: a row added, dropped or
// moved fails the build here rather than a lookup at run time.
const _: () = {
    assert!(TRANSITIONS.len() == Transition::ALL.len());
    assert!(LEASE_RULES.len() == Transition::ALL.len());
    let mut index = 0;
    while index < Transition::ALL.len() {
        assert!(Transition::ALL[index] as usize == index);
        assert!(TRANSITIONS[index].0 as usize == index);
        assert!(LEASE_RULES[index].0 as usize == index);
        assert!(!TRANSITIONS[index].1.is_empty());
        assert!(!LEASE_RULES[index].1.is_empty());
        index += 1;
    }
};

impl Transition {
    pub const ALL: [Transition; 11] = [
        Transition::Claim,
        Transition::Reclaim,
        Transition::Complete,
        Transition::Confirm,
        Transition::Fail,
        Transition::Requeue,
        Transition::Accept,
        Transition::Track,
        Transition::Reverse,
        Transition::Retry,
        Transition::Cancel,
    ];

    /// Its row: the tables are in the enum's order, which the compiler checks above, so
    /// the row is found by position.
    ///
    /// A variant added to the enum but to neither table nor [`Transition::ALL`] passes
    /// the compile-time check above: it then has no row, which fails loudly in a debug
    /// build (every test) and in a release build allows nothing, so writing it is
    /// refused as an invalid transition rather than a panic inside a Lambda.
    fn row(self) -> (&'static [PayoutStatus], PayoutStatus) {
        match TRANSITIONS.get(self as usize) {
            Some(&(transition, from, to)) if transition == self => (from, to),
            _ => {
                debug_assert!(false, "{self:?} has no row in TRANSITIONS");
                (&[], PayoutStatus::Pending)
            }
        }
    }

    pub fn allowed_from(self) -> &'static [PayoutStatus] {
        self.row().0
    }

    pub fn target(self) -> PayoutStatus {
        self.row().1
    }

    pub fn allows(self, from: PayoutStatus) -> bool {
        self.allowed_from().contains(&from)
    }

    /// The leases this transition may be written with ([`LEASE_RULES`]).
    pub fn lease_uses(self) -> &'static [LeaseUse] {
        match LEASE_RULES.get(self as usize) {
            Some(&(transition, uses)) if transition == self => uses,
            // As for `row`: loud in tests, a refused write in a release build.
            _ => {
                debug_assert!(false, "{self:?} has no rule in LEASE_RULES");
                &[]
            }
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Transition::Claim => "claim",
            Transition::Reclaim => "reclaim",
            Transition::Complete => "complete",
            Transition::Confirm => "confirm",
            Transition::Fail => "fail",
            Transition::Requeue => "requeue",
            Transition::Accept => "accept",
            Transition::Track => "track",
            Transition::Reverse => "reverse",
            Transition::Retry => "retry",
            Transition::Cancel => "cancel",
        }
    }
}

/// A payout, as stored and as shown (the API's published field names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub payout_id: Uuid,
    pub user_id: u64,
    pub payout_type: PayoutType,
    pub status: PayoutStatus,
    pub amount_paise: Paise,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scout_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The gateway attempt this payout is on; the idempotency key derives from it.
    pub attempt: u32,
    /// Goes up with every write to the payout (DynamoDB adds one atomically, so two
    /// writes never share a number; a resent write may skip one). Events carry it, so
    /// consumers can order what EventBridge delivers out of order, and it names each
    /// change in its `event_id`. Items from before it existed read as 0.
    #[serde(default)]
    pub version: u64,
    /// When the current attempt was last handed to the gateway (set by the claim, since a
    /// holder may reach the gateway and die before writing anything else). `None`: the
    /// gateway has never seen this attempt. While it is set and the payout is not
    /// settled, the gateway may hold a transfer for it: nothing abandons the attempt
    /// (cancel, a new key) until the gateway has said it did not pay (README, Payout
    /// lifecycle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_sent_at: Option<Timestamp>,
    /// When the current attempt was first handed to the gateway; unlike
    /// `attempt_sent_at`, later sends of it leave this alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_sent_at: Option<Timestamp>,
    /// The latest send of the current attempt before the one in `attempt_sent_at` that
    /// the gateway may hold, kept by each claim: when the claim's own request is known
    /// to have created nothing (a 429, a 401, a refusal), `attempt_sent_at` goes back to
    /// it, so every window that runs from "the last request that could land" runs from
    /// a request that could.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_sent_at: Option<Timestamp>,
    /// Where a gateway that pays people's own accounts sends this attempt: fixed
    /// when the attempt is claimed, so every send under its key is the same request
    /// (a later change of account applies to the next attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_fund_account_id: Option<String>,
    /// `IMPS`, `NEFT` or `RTGS` for a bank account (by amount), `UPI` for a VPA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_mode: Option<String>,
    /// Where the attempt goes, masked (`XXXXXXXX4433`, `as***@okhdfc`), fixed with the
    /// fund account: the destination the "paid" email names is the one paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The revision of the user's payout account the destination was taken from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_revision: Option<u64>,
    /// The gateway account the attempt is paid from (RazorpayX's business account
    /// number), fixed by the claim: every send and every lookup of the attempt uses it,
    /// whatever the configuration says later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_account_number: Option<String>,
    /// The gateway's id and status for the current attempt, once it accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_payout_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_status: Option<String>,
    /// Why the gateway's status is what it is (RazorpayX's `status_details`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_status_details: Option<GatewayStatusDetails>,
    /// How earlier attempts ended (failed or reversed), so a late report about one of
    /// them is told from a payment nobody knows of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_attempts: Vec<EarlierAttempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Why the last attempt went back to the queue (gateway unreachable, lease lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Who changed the payout's status on an admin's request, oldest first. Only the
    /// store appends to it, in the very write that changes the status, and nothing
    /// ever rewrites it (see [`HISTORY_LIMIT`] and docs/DATA_MODEL.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
}

impl Payout {
    pub fn new(
        payout_id: Uuid,
        user_id: u64,
        payout_type: PayoutType,
        amount: Paise,
        now: Timestamp,
    ) -> Self {
        Payout {
            payout_id,
            user_id,
            payout_type,
            status: PayoutStatus::Pending,
            amount_paise: amount,
            scout_id: None,
            order_id: None,
            attempt: 1,
            version: 1,
            attempt_sent_at: None,
            first_sent_at: None,
            previous_sent_at: None,
            gateway_fund_account_id: None,
            gateway_mode: None,
            destination: None,
            account_revision: None,
            gateway_account_number: None,
            gateway_payout_id: None,
            gateway_status: None,
            gateway_status_details: None,
            earlier_attempts: Vec::new(),
            payment_reference: None,
            failure_reason: None,
            last_error: None,
            lease_expires_at: None,
            processed_at: None,
            completed_at: None,
            cancelled_at: None,
            created_at: now,
            updated_at: now,
            history: Vec::new(),
        }
    }

    /// When the current attempt may have been handed to the gateway, or `None` if it
    /// never was. Items written before `attempt_sent_at` existed only have
    /// `processed_at` (set by every claim): it is taken as the send, erring on the
    /// side of asking the gateway.
    pub fn sent_at(&self) -> Option<Timestamp> {
        self.attempt_sent_at.or(self.processed_at)
    }

    /// Failed for want of a payout account it could be sent to: it goes back to the
    /// queue when its user saves one.
    pub fn waits_for_account(&self) -> bool {
        self.status == PayoutStatus::Failed
            && matches!(
                self.failure_reason.as_deref(),
                Some(PAYOUT_ACCOUNT_MISSING | PAYOUT_ACCOUNT_INVALID)
            )
    }

    pub fn idempotency_key(&self) -> IdempotencyKey {
        IdempotencyKey::for_attempt(self.payout_id, self.attempt)
    }
}

/// The gateway's account of its status: a stable reason code, words for a person, and
/// who caused it (`beneficiary_bank`, `gateway`, `business`…).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStatusDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The `failure_reason` of a payout that had nowhere to go.
pub const PAYOUT_ACCOUNT_MISSING: &str = "payout_account_missing";
/// The `failure_reason` of a payout whose account the gateway would not register, or
/// whose verification found it invalid or under another name.
pub const PAYOUT_ACCOUNT_INVALID: &str = "payout_account_invalid";

/// Why a payout is where it is, as responses show it: a stable code and a sentence
/// written by us. What is stored (`failure_reason`, `last_error`) may hold the
/// gateway's or the infrastructure's own words, which can quote a VPA, an IFSC or an
/// account number back ("VPA asha@okhdfc is invalid"), or tell things about us that
/// are nobody's business ("Transactions from this IP are not allowed"): those are
/// never shown, only the code they come down to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reason {
    pub code: &'static str,
    pub message: &'static str,
}

impl Reason {
    const NOTHING_TO_PAY: Reason = Reason {
        code: "nothing_to_pay",
        message: "The amount is zero: there is nothing to pay.",
    };
    const PAYOUT_ACCOUNT_MISSING: Reason = Reason {
        code: PAYOUT_ACCOUNT_MISSING,
        message: "There is no payout account to send it to; it is sent again once one is saved.",
    };
    const PAYOUT_ACCOUNT_INVALID: Reason = Reason {
        code: PAYOUT_ACCOUNT_INVALID,
        message: "The saved payout account could not be paid: the payment network would not \
                  accept it, or its bank holds it under another name. It is sent again once a \
                  payout account is saved anew.",
    };
    const BANK_RETURNED: Reason = Reason {
        code: "bank_returned",
        message: "The bank sent the money back (a closed account or a name that does not \
                  match, usually); an admin sends it again or cancels it.",
    };
    const GATEWAY_DECLINED: Reason = Reason {
        code: "gateway_declined",
        message: "The bank or payment network declined it; an admin sends it again or \
                  cancels it.",
    };
    const LEASE_EXPIRED: Reason = Reason {
        code: "lease_expired",
        message: "The run sending it stopped before it finished; it is checked with the \
                  gateway and sent again, never paid twice.",
    };
    const GATEWAY_RATE_LIMITED: Reason = Reason {
        code: "gateway_rate_limited",
        message: "The payment gateway asked us to slow down; it is sent again on a later run.",
    };
    const GATEWAY_CONFIGURATION: Reason = Reason {
        code: "gateway_configuration",
        message: "The payment gateway refused our own request (our credentials or settings); \
                  it waits, untouched, until we fix that.",
    };
    const GATEWAY_NOT_CONFIRMED: Reason = Reason {
        code: "gateway_not_confirmed",
        message: "The payment gateway has not confirmed it yet; we ask again shortly.",
    };
    const GATEWAY_UNAVAILABLE: Reason = Reason {
        code: "gateway_unavailable",
        message: "The payment gateway could not be reached or did not answer; it is asked \
                  again on a later run, never paid twice.",
    };

    /// `code: message`, the one string a response's field holds.
    pub fn shown(self) -> String {
        format!("{}: {}", self.code, self.message)
    }
}

impl Payout {
    /// Why it failed or came back, in our words; `None` while nothing went wrong.
    pub fn failure(&self) -> Option<Reason> {
        let stored = self.failure_reason.as_deref()?;
        let reason = match stored {
            PAYOUT_ACCOUNT_MISSING => Reason::PAYOUT_ACCOUNT_MISSING,
            PAYOUT_ACCOUNT_INVALID => Reason::PAYOUT_ACCOUNT_INVALID,
            _ if stored.starts_with("amount is 0 paise") => Reason::NOTHING_TO_PAY,
            // A reversal's reason stays on the payout when an admin cancels it.
            _ if self.status == PayoutStatus::Reversed
                || self.gateway_status.as_deref() == Some("reversed")
                || stored.starts_with("reversed") =>
            {
                Reason::BANK_RETURNED
            }
            _ => Reason::GATEWAY_DECLINED,
        };
        Some(reason)
    }

    /// Why the last attempt went back to the queue or waits, in our words.
    pub fn last_error_reason(&self) -> Option<Reason> {
        let stored = self.last_error.as_deref()?.to_ascii_lowercase();
        let reason = if stored.contains("lease expired") {
            Reason::LEASE_EXPIRED
        } else if stored.contains("rate limit") {
            Reason::GATEWAY_RATE_LIMITED
        } else if [
            "misconfigured",
            "refused our",
            "refused the call",
            "could not be resent",
        ]
        .iter()
        .any(|ours| stored.contains(ours))
        {
            Reason::GATEWAY_CONFIGURATION
        } else if stored.contains("no record") || stored.contains("may still land") {
            Reason::GATEWAY_NOT_CONFIRMED
        } else {
            Reason::GATEWAY_UNAVAILABLE
        };
        Some(reason)
    }
}

impl GatewayStatusDetails {
    /// The gateway's reason, when it is a code (digits alone could be an account number).
    pub fn reason_code(&self) -> Option<&str> {
        self.reason.as_deref().filter(|reason| is_code(reason))
    }

    /// Only the gateway's codes (`reason`, `source`); its `description` is its own
    /// words, and a code that is not one is left out.
    pub fn codes_only(&self) -> GatewayStatusDetails {
        let code = |text: &Option<String>| text.clone().filter(|text| is_code(text));
        GatewayStatusDetails {
            reason: code(&self.reason),
            description: None,
            source: code(&self.source),
        }
    }
}

/// A short snake_case word that starts with a letter: a code, not words (a number
/// alone could be an account number). Events and views carry reasons only as codes:
/// free text may echo what a user typed (a gateway's error can quote the VPA or IFSC
/// it refused).
pub fn is_code(text: &str) -> bool {
    text.len() <= 64
        && text
            .bytes()
            .next()
            .is_some_and(|first| first.is_ascii_lowercase())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

/// An attempt a payout made before its current one, as it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlierAttempt {
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_payout_id: Option<String>,
    /// `failed` or `reversed`.
    pub ended: PayoutStatus,
}

/// The admin actions that change a payout's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminAction {
    Process,
    Retry,
    Cancel,
}

/// A bulk request an admin action came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkOrigin {
    /// Made for each run of a bulk request, so the entries of one run can be told apart
    /// from those of a repeat under the same key (a repeat that only replays writes none).
    pub request_id: Uuid,
    pub idempotency_key: Option<String>,
}

/// Who is acting on a payout, and why: what each history entry of the request is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acting {
    pub action: AdminAction,
    pub actor_user_id: u64,
    pub bulk: Option<BulkOrigin>,
}

impl Acting {
    pub fn entry(&self, from: PayoutStatus, to: PayoutStatus, at: Timestamp) -> HistoryEntry {
        HistoryEntry {
            action: self.action,
            actor_user_id: self.actor_user_id,
            at,
            from_status: from,
            to_status: to,
            bulk_request_id: self.bulk.as_ref().map(|bulk| bulk.request_id),
            bulk_idempotency_key: self
                .bulk
                .as_ref()
                .and_then(|bulk| bulk.idempotency_key.clone()),
        }
    }
}

/// One status change made on an admin's request. Every status change written while
/// serving the request gets one (a process is a claim and a settle: two entries), so
/// the history shows what the admin's request did, the gateway's answer included.
/// The processor's own runs and the gateway's webhooks write none: they act for nobody.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub action: AdminAction,
    pub actor_user_id: u64,
    pub at: Timestamp,
    pub from_status: PayoutStatus,
    pub to_status: PayoutStatus,
    #[serde(default)]
    pub bulk_request_id: Option<Uuid>,
    #[serde(default)]
    pub bulk_idempotency_key: Option<String>,
}

/// An admin process or retry starts only while a payout's history holds fewer entries
/// than this. One action writes at most four, so a history stays under about
/// `HISTORY_LIMIT + 4` entries (some 20 KB), far from DynamoDB's 400 KB item limit: a
/// settle after the gateway paid must never fail for an item grown too large. A cancel
/// is still allowed past it (it ends the payout's changes), so no money is ever stuck.
pub const HISTORY_LIMIT: usize = 100;

/// The key a gateway deduplicates transfers by: the payout id in simple form, a dash
/// and the attempt number. Derived, never random, so a crashed run that retries the
/// same attempt cannot pay twice. At most 36 characters (RazorpayX's limit).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 36;
    /// 32 hex + `-` leaves three digits.
    pub const MAX_ATTEMPT: u32 = 999;

    pub fn for_attempt(payout_id: Uuid, attempt: u32) -> Self {
        IdempotencyKey(format!("{}-{}", payout_id.simple(), attempt))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transition_has_one_row_and_one_lease_rule() {
        for transition in Transition::ALL {
            let rows = TRANSITIONS
                .iter()
                .filter(|(t, _, _)| *t == transition)
                .count();
            assert_eq!(rows, 1, "{transition:?}");
            assert!(!transition.allowed_from().is_empty(), "{transition:?}");
            let rules = LEASE_RULES.iter().filter(|(t, _)| *t == transition).count();
            assert_eq!(rules, 1, "{transition:?}");
        }
        // Only a claim takes a free payout's lease and only a reclaim an expired one.
        for (transition, uses) in LEASE_RULES {
            assert_eq!(
                uses.contains(&LeaseUse::Acquire),
                *transition == Transition::Claim
            );
            assert_eq!(
                uses.contains(&LeaseUse::TakeOver),
                *transition == Transition::Reclaim
            );
        }
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for (transition, from, _) in TRANSITIONS {
            assert!(!from.contains(&PayoutStatus::Cancelled));
            // Only the bank can undo a payment.
            if *transition != Transition::Reverse {
                assert!(!from.contains(&PayoutStatus::Completed), "{transition:?}");
            }
        }
    }

    #[test]
    fn idempotency_key_fits_razorpayx_limit_and_is_derived() {
        let id = Uuid::new_v4();
        let key = IdempotencyKey::for_attempt(id, IdempotencyKey::MAX_ATTEMPT);
        assert!(key.as_str().len() <= IdempotencyKey::MAX_LEN);
        assert_eq!(
            key,
            IdempotencyKey::for_attempt(id, IdempotencyKey::MAX_ATTEMPT)
        );
        assert_ne!(key, IdempotencyKey::for_attempt(id, 1));
    }

    #[test]
    fn reasons_shown_are_ours_whatever_was_stored() {
        let mut payout = Payout::new(
            Uuid::new_v4(),
            7,
            PayoutType::SellerPayout,
            Paise(100),
            Timestamp::now(),
        );
        assert_eq!(payout.failure(), None);
        assert_eq!(payout.last_error_reason(), None);
        payout.status = PayoutStatus::Failed;
        for (stored, code) in [
            ("payout_account_missing", "payout_account_missing"),
            ("payout_account_invalid", "payout_account_invalid"),
            ("amount is 0 paise: nothing to pay", "nothing_to_pay"),
            ("failed: VPA asha@okhdfc is invalid", "gateway_declined"),
            (
                "reversed: account 765432123456789 is closed",
                "bank_returned",
            ),
        ] {
            payout.failure_reason = Some(stored.to_owned());
            let reason = payout.failure().map(Reason::shown).unwrap_or_default();
            assert!(
                reason.starts_with(&format!("{code}: ")),
                "{stored}: {reason}"
            );
            assert!(!reason.contains("asha@okhdfc") && !reason.contains("7654321"));
        }
        payout.status = PayoutStatus::Pending;
        for (stored, code) in [
            (
                "lease expired before the gateway saw a transfer",
                "lease_expired",
            ),
            ("rate limited: Too many requests", "gateway_rate_limited"),
            (
                "RazorpayX refused the call (403): Transactions from this IP are not allowed",
                "gateway_configuration",
            ),
            (
                "the gateway has no record of pout_1",
                "gateway_not_confirmed",
            ),
            (
                "RazorpayX timed out: operation timed out",
                "gateway_unavailable",
            ),
        ] {
            payout.last_error = Some(stored.to_owned());
            let reason = payout
                .last_error_reason()
                .map(Reason::shown)
                .unwrap_or_default();
            assert!(
                reason.starts_with(&format!("{code}: ")),
                "{stored}: {reason}"
            );
            assert!(!reason.contains("Transactions from this IP"), "{reason}");
        }
        let details = GatewayStatusDetails {
            reason: Some("000123456789012".to_owned()),
            description: Some("Asha Rao's account 765432123456789 was rejected".to_owned()),
            source: Some("beneficiary_bank".to_owned()),
        };
        assert_eq!(
            details.codes_only(),
            GatewayStatusDetails {
                reason: None,
                description: None,
                source: Some("beneficiary_bank".to_owned()),
            },
            "digits alone are no code, and words are never kept"
        );
    }

    #[test]
    fn statuses_parse_lowercase_only() {
        for status in PayoutStatus::ALL {
            assert_eq!(status.as_str().parse::<PayoutStatus>(), Ok(status));
        }
        assert!("PENDING".parse::<PayoutStatus>().is_err());
    }
}
