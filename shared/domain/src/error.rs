//! The one error type of the domain. Each variant knows its HTTP status and its
//! stable `code`, so the mapping to a response happens in exactly one place.

use crate::money::Paise;
use crate::order::OrderStatus;
use crate::payout::{PayoutStatus, Transition};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),

    #[error("authentication required: {0}")]
    Unauthenticated(String),

    #[error("{0}")]
    Forbidden(String),

    /// A webhook whose signature is missing or made with none of our secrets.
    #[error("the webhook signature is missing or does not match")]
    InvalidSignature,

    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },

    #[error("{entity} {id} does not exist")]
    NotFound { entity: &'static str, id: String },

    /// A payout account field the gateway would refuse; `field` names it.
    #[error("{message}")]
    InvalidPayoutAccount {
        field: &'static str,
        message: String,
    },

    /// A payout schedule field out of range; `field` names it.
    #[error("{message}")]
    InvalidPayoutSchedule {
        field: &'static str,
        message: String,
    },

    /// A field of a scout, an order or an earnings entry from the marketplace that
    /// cannot be stored as given; `field` names it.
    #[error("{message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },

    /// A value of the right shape outside what the service can pay (a price beyond
    /// the payout limits, a bounty above its order's price); `field` names it.
    #[error("{message}")]
    OutOfRange {
        field: &'static str,
        message: String,
    },

    /// An order names a scout the marketplace has not created.
    #[error("scout {scout_id} does not exist; create it with PUT /scouts/{scout_id} first")]
    UnknownScout { scout_id: String },

    /// An order's status may only move forward (`OrderStatus::may_become`).
    #[error("order {order_id} is {from} and cannot move back to {to}")]
    OrderStatusBackwards {
        order_id: String,
        from: OrderStatus,
        to: OrderStatus,
    },

    /// A completed or cancelled order is settled on what it was: `field` may not
    /// change any more.
    #[error("order {order_id} is {status}: its {field} can no longer change")]
    OrderClosed {
        order_id: String,
        status: OrderStatus,
        field: &'static str,
    },

    /// A scout's earnings are paid to the user who owns it; giving it to another user
    /// would redirect them, so the owner is fixed when the scout is created.
    #[error("scout {scout_id} belongs to user {owner}; its owner cannot change")]
    ScoutOwnerFixed { scout_id: String, owner: u64 },

    /// The marketplace deactivated the scout: it requests no payouts.
    #[error("scout {scout_id} is deactivated and cannot request payouts")]
    ScoutInactive { scout_id: String },

    #[error("user {user_id} has no payout account; save one with PUT /me/payout-account")]
    PayoutAccountMissing { user_id: u64 },

    /// The user changed their payout account recently: their payouts wait until the
    /// hold ends (or an admin ends it).
    #[error(
        "user {user_id}'s payout account was changed recently; their payouts wait until {until}"
    )]
    PayoutAccountOnHold {
        user_id: u64,
        until: crate::time::Timestamp,
    },

    /// The user's payout account is not verified yet (its check is under way): their
    /// payouts wait for the gateway's answer.
    #[error(
        "user {user_id}'s payout account is being verified with the gateway; their payouts \
         wait for the result"
    )]
    PayoutAccountUnverified { user_id: u64 },

    /// A conditional write found the item in another state than the one it acts on.
    #[error("cannot {} payout {payout_id}: it is {status}", transition.verb())]
    InvalidTransition {
        payout_id: String,
        transition: Transition,
        status: PayoutStatus,
    },

    /// The request lost to the state it found; [`Conflict`] says what may help.
    #[error(transparent)]
    Conflict(#[from] Conflict),

    /// The payout's current attempt may have reached the gateway and the gateway cannot
    /// say yet whether it paid: nothing may end the attempt until it can.
    #[error("{0}")]
    GatewayOutcomeUnknown(String),

    /// The gateway paid the attempt an admin asked to end; the payout is now completed.
    #[error("payout {payout_id} was paid by the gateway (reference {reference}) and is now completed; it cannot be cancelled")]
    AlreadyPaid {
        payout_id: String,
        reference: String,
    },

    #[error("insufficient earnings: {available} available, {requested} requested")]
    InsufficientEarnings { available: Paise, requested: Paise },

    #[error("amount {requested} is outside the allowed range {min}..={max}")]
    AmountOutOfRange {
        requested: Paise,
        min: Paise,
        max: Paise,
    },

    #[error("there are no earnings to pay out")]
    NothingToPayOut,

    #[error("Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,

    #[error("configuration: {0}")]
    Config(String),

    #[error("storage: {0}")]
    Store(#[from] StoreFailure),

    /// Payout events could not be put on the event bus.
    #[error("event bus: {0}")]
    Publish(String),

    /// An email could not be handed to the mail service.
    #[error("mail: {0}")]
    Mail(String),

    /// Part of a batch failed (each failure is logged as it happens); what failed is
    /// left to run again.
    #[error("incomplete: {0}")]
    Incomplete(String),

    /// Something this request depends on could not be reached (the identity provider's
    /// keys, a secret): nothing was decided, so the caller may try again.
    #[error("dependency unavailable: {0}")]
    DependencyUnavailable(String),

    /// A scout's or user's balances refused a change that the payout's status allows:
    /// the books were already wrong. Nothing was written; a person must look.
    #[error("the books need a look: {0}")]
    BooksRefused(String),

    /// The code broke a rule it relies on (a status change written under a lease its
    /// transition does not take): a bug, caught before anything was written.
    #[error("invariant broken: {0}")]
    Invariant(String),
}

impl Error {
    pub fn http_status(&self) -> u16 {
        match self {
            Error::BadRequest(_)
            | Error::NothingToPayOut
            | Error::InvalidPayoutAccount { .. }
            | Error::InvalidPayoutSchedule { .. }
            | Error::InvalidField { .. } => 400,
            Error::Unauthenticated(_) | Error::InvalidSignature => 401,
            Error::Forbidden(_) => 403,
            Error::PayloadTooLarge { .. } => 413,
            Error::NotFound { .. } | Error::PayoutAccountMissing { .. } => 404,
            Error::InvalidTransition { .. }
            | Error::Conflict(_)
            | Error::GatewayOutcomeUnknown(_)
            | Error::AlreadyPaid { .. }
            | Error::PayoutAccountOnHold { .. }
            | Error::PayoutAccountUnverified { .. }
            | Error::OrderStatusBackwards { .. }
            | Error::OrderClosed { .. }
            | Error::ScoutOwnerFixed { .. }
            | Error::ScoutInactive { .. } => 409,
            Error::InsufficientEarnings { .. }
            | Error::AmountOutOfRange { .. }
            | Error::OutOfRange { .. }
            | Error::UnknownScout { .. }
            | Error::IdempotencyKeyReused => 422,
            Error::Config(_)
            | Error::Store(_)
            | Error::Publish(_)
            | Error::Mail(_)
            | Error::Incomplete(_)
            | Error::BooksRefused(_)
            | Error::Invariant(_) => 500,
            Error::DependencyUnavailable(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "bad_request",
            Error::NothingToPayOut => "no_earnings",
            Error::Unauthenticated(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::InvalidSignature => "invalid_signature",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::NotFound { .. } => "not_found",
            Error::InvalidPayoutAccount { .. } => "invalid_payout_account",
            Error::InvalidPayoutSchedule { .. } => "invalid_payout_schedule",
            Error::InvalidField { .. } => "invalid_field",
            Error::OutOfRange { .. } => "out_of_range",
            Error::UnknownScout { .. } => "unknown_scout",
            Error::OrderStatusBackwards { .. } => "status_backwards",
            Error::OrderClosed { .. } => "order_closed",
            Error::ScoutOwnerFixed { .. } => "owner_fixed",
            Error::ScoutInactive { .. } => "scout_inactive",
            Error::PayoutAccountMissing { .. } => "payout_account_missing",
            Error::InvalidTransition { .. } => "invalid_status",
            Error::Conflict(_) => "conflict",
            Error::PayoutAccountOnHold { .. } => "payout_account_on_hold",
            Error::PayoutAccountUnverified { .. } => "payout_account_unverified",
            Error::GatewayOutcomeUnknown(_) => "gateway_outcome_unknown",
            Error::AlreadyPaid { .. } => "already_paid",
            Error::InsufficientEarnings { .. } => "insufficient_earnings",
            Error::AmountOutOfRange { .. } => "amount_out_of_range",
            Error::IdempotencyKeyReused => "idempotency_key_reused",
            Error::Config(_)
            | Error::Store(_)
            | Error::Publish(_)
            | Error::Mail(_)
            | Error::Incomplete(_)
            | Error::BooksRefused(_)
            | Error::Invariant(_) => "internal_error",
            Error::DependencyUnavailable(_) => "service_unavailable",
        }
    }

    /// What a client may be shown: internal details stay in the logs.
    pub fn public_message(&self) -> String {
        match self.http_status() {
            500 => "internal error".to_owned(),
            503 => "a service this request depends on is unavailable; try again shortly".to_owned(),
            _ => self.to_string(),
        }
    }

    /// The request field an error is about, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::InvalidPayoutAccount { field, .. }
            | Error::InvalidPayoutSchedule { field, .. }
            | Error::InvalidField { field, .. }
            | Error::OutOfRange { field, .. }
            | Error::OrderClosed { field, .. } => Some(field),
            Error::UnknownScout { .. } => Some("scout_id"),
            Error::OrderStatusBackwards { .. } => Some("status"),
            Error::ScoutOwnerFixed { .. } => Some("user_id"),
            _ => None,
        }
    }

    /// When the condition the error reports ends, if it says.
    pub fn until(&self) -> Option<crate::time::Timestamp> {
        match self {
            Error::PayoutAccountOnHold { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// A DynamoDB call that failed, or that the SDK refused to build.
    pub fn store(error: impl std::fmt::Display) -> Self {
        Error::Store(StoreFailure::Call(error.to_string()))
    }

    /// An item, record or stored answer that could not be read as its type (or a value
    /// that could not be written as one).
    pub fn unreadable(error: impl std::fmt::Display) -> Self {
        Error::Store(StoreFailure::Unreadable(error.to_string()))
    }

    /// What is stored breaks a rule the code relies on.
    pub fn inconsistent(what: impl Into<String>) -> Self {
        Error::Store(StoreFailure::Inconsistent(what.into()))
    }
}

/// Why a request lost to the state it found. Every kind answers 409 `conflict`; the
/// kind says what may help, so a caller (a processor, a webhook, a bulk action)
/// decides on it rather than on the words.
#[derive(Debug, thiserror::Error)]
pub enum Conflict {
    /// Other requests were changing the same records each time this one tried: nothing
    /// was written, and the same request may be sent again as it is.
    #[error("{0}")]
    Contended(String),
    /// What the request was decided on changed meanwhile (another claim, send, save or
    /// status): nothing was written; read again before deciding.
    #[error("{0}")]
    Stale(String),
    /// The state it found rules the action out: sending it again does not help until
    /// that state changes.
    #[error("{0}")]
    Refused(String),
}

/// What went wrong with the table. Every kind answers 500 `internal_error`; the kind
/// is for whoever reads the logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreFailure {
    /// A call to DynamoDB failed (throttled past the SDK's retries, unreachable,
    /// refused), or the SDK refused to build it.
    #[error("DynamoDB: {0}")]
    Call(String),
    /// An item, stream record, cursor or stored answer could not be read as its type,
    /// or a value could not be written as one.
    #[error("unreadable: {0}")]
    Unreadable(String),
    /// What is stored breaks a rule the code relies on (an item another one names is
    /// missing, a record that must be new already exists).
    #[error("inconsistent: {0}")]
    Inconsistent(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
