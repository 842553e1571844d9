//! How an attempt ended, and the log line and metric each ending gets.

use tracing::{info, warn};

use domain::payout::{Payout, PayoutStatus};
use platform::metrics::{self, Unit};

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Completed,
    Failed,
    Reversed,
    Requeued,
    Accepted,
    /// Another caller claimed it first, or took it over: theirs to settle. Also a
    /// payout whose beneficiary could not be registered this time: still pending.
    Skipped,
    /// Its user's account changed recently: left pending, untouched, not a failure.
    Held,
    /// The gateway refused our own credentials: requeued, and the run fails.
    Misconfigured,
    /// A storage error left it in `processing`; its lease will bring it back.
    Errored,
}

pub(super) fn log_settled(payout: &Payout) -> Outcome {
    let outcome = log_settlement(payout);
    let (metric, paid) = match outcome {
        Outcome::Completed => ("PayoutsCompleted", payout.amount_paise.get()),
        Outcome::Failed => ("PayoutsFailed", 0),
        Outcome::Reversed => ("PayoutsReversed", 0),
        Outcome::Accepted => ("PayoutsAccepted", 0),
        _ => ("PayoutsRequeued", 0),
    };
    metrics::emit(
        &[
            (metric, Unit::Count, 1),
            ("AmountPaidPaise", Unit::None, paid),
        ],
        &[("payout_id", payout.payout_id.to_string().into())],
    );
    outcome
}

/// The log line and metric of a payout a gateway's webhook moved, as if the
/// processor had settled it.
pub(crate) fn log_reported(payout: &Payout) {
    log_settled(payout);
}

fn log_settlement(payout: &Payout) -> Outcome {
    let (id, user, amount) = (payout.payout_id, payout.user_id, payout.amount_paise);
    match payout.status {
        PayoutStatus::Completed => {
            info!(
                event = "payout_completed",
                payout_id = %id,
                user_id = user,
                amount_paise = amount.get(),
                payment_reference = payout.payment_reference.as_deref().unwrap_or_default(),
                "✅ Payout {id} completed: {amount} to user {user}"
            );
            Outcome::Completed
        }
        PayoutStatus::Failed => {
            let reason = payout.failure().map_or("", |reason| reason.code);
            warn!(
                event = "payout_failed",
                payout_id = %id,
                user_id = user,
                amount_paise = amount.get(),
                failure_reason = reason,
                gateway_reason = gateway_reason(payout),
                detail = %logged(payout.failure_reason.as_deref()),
                "❌ Payout {id} failed: {reason}"
            );
            Outcome::Failed
        }
        PayoutStatus::Reversed => {
            let reason = payout.failure().map_or("", |reason| reason.code);
            warn!(
                event = "payout_reversed",
                payout_id = %id,
                user_id = user,
                amount_paise = amount.get(),
                failure_reason = reason,
                gateway_reason = gateway_reason(payout),
                detail = %logged(payout.failure_reason.as_deref()),
                "↩️ Payout {id} was reversed by the bank: {reason}; an admin retries or cancels it"
            );
            Outcome::Reversed
        }
        PayoutStatus::Processing => {
            info!(
                event = "payout_accepted",
                payout_id = %id,
                user_id = user,
                amount_paise = amount.get(),
                gateway_payout_id = payout.gateway_payout_id.as_deref().unwrap_or_default(),
                gateway_status = payout.gateway_status.as_deref().unwrap_or_default(),
                "📤 Payout {id} accepted by the gateway: {amount} to user {user}, not final yet"
            );
            Outcome::Accepted
        }
        _ => {
            let why = payout.last_error_reason().map_or("", |reason| reason.code);
            warn!(
                event = "payout_requeued",
                payout_id = %id,
                user_id = user,
                amount_paise = amount.get(),
                attempt = payout.attempt,
                reason = why,
                detail = %logged(payout.last_error.as_deref()),
                "↩️ Payout {id} back to pending: {why}"
            );
            Outcome::Requeued
        }
    }
}

/// The gateway's reason code for its status, when it gave one that is a code.
fn gateway_reason(payout: &Payout) -> &str {
    payout
        .gateway_status_details
        .as_ref()
        .and_then(domain::payout::GatewayStatusDetails::reason_code)
        .unwrap_or_default()
}

/// The stored words behind a reason (the gateway's, as often as not), for an operator:
/// they can quote the user's VPA, IFSC or account number back, so those are taken out.
fn logged(stored: Option<&str>) -> String {
    platform::telemetry::redact(stored.unwrap_or_default())
}
