//! A payout: what is paid, to whom, on which attempt, and what the gateway said of it.
//! Its lifecycle ([`TRANSITIONS`], the one place that says which status changes
//! exist) is in `lifecycle.rs`; why one failed, in `reason.rs`.

mod lifecycle;
mod reason;

pub use lifecycle::{
    AttemptUse, LeaseUse, PayoutStatus, Transition, ATTEMPT_RULES, LEASE_RULES, TRANSITIONS,
};
pub use reason::{
    is_code, GatewayStatusDetails, Reason, PAYOUT_ACCOUNT_INVALID, PAYOUT_ACCOUNT_MISSING,
};

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Paise;
use crate::time::Timestamp;

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
    /// (cancel, a new key) until the gateway has said it did not pay (docs/LIFECYCLE.md).
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
}
