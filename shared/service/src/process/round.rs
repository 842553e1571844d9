//! A failed or reversed payout sent round again as its next attempt: a new key,
//! nothing sent, nothing fixed of where it goes.

use domain::error::{Conflict, Error, Result};
use domain::payout::{Acting, EarlierAttempt, IdempotencyKey, Payout, Transition};
use domain::time::Timestamp;
use store::{Lease, StatusChange, Store};

/// Sends a failed payout round again as its next attempt (a declined key stays declined
/// at the gateway), under the usual conditional write; refused (409) once every attempt
/// a key can name is used.
pub(crate) async fn send_round_again(store: &Store, payout: &Payout) -> Result<Payout> {
    send_round_again_as(store, payout, None).await
}

/// [`send_round_again`] on an admin's request, recorded in the payout's history.
pub(super) async fn send_round_again_as(
    store: &Store,
    payout: &Payout,
    acting: Option<&Acting>,
) -> Result<Payout> {
    if payout.attempt >= IdempotencyKey::MAX_ATTEMPT {
        return Err(Error::Conflict(Conflict::Refused(format!(
            "payout {} has used all {} attempts",
            payout.payout_id,
            IdempotencyKey::MAX_ATTEMPT
        ))));
    }
    store
        .change_status_as(
            payout,
            StatusChange {
                transition: Transition::Retry,
                next: next_attempt(payout),
                lease: Lease::NotHeld,
                gateway_status_not_in: None,
            },
            acting,
        )
        .await
}

/// The next attempt of a payout whose last one will never pay: a new key, nothing sent,
/// nothing fixed of where it goes (the account may have changed since).
fn next_attempt(payout: &Payout) -> Payout {
    let mut next = payout.clone();
    next.earlier_attempts.push(EarlierAttempt {
        attempt: payout.attempt,
        gateway_payout_id: payout.gateway_payout_id.clone(),
        ended: payout.status,
    });
    next.attempt += 1;
    // The new attempt has not been near the gateway (see `Payout::sent_at`).
    next.attempt_sent_at = None;
    next.first_sent_at = None;
    next.previous_sent_at = None;
    next.processed_at = None;
    next.failure_reason = None;
    next.last_error = None;
    // A reversed payout was completed once: the new attempt has paid nothing yet.
    next.payment_reference = None;
    next.completed_at = None;
    next.gateway_fund_account_id = None;
    next.gateway_mode = None;
    next.destination = None;
    next.account_revision = None;
    next.gateway_account_number = None;
    next.gateway_payout_id = None;
    next.gateway_status = None;
    next.gateway_status_details = None;
    next.updated_at = Timestamp::now();
    next
}
