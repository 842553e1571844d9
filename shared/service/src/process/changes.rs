//! What each status change of an attempt writes besides its status: the payout as it
//! is to be stored when it is paid, settled, accepted or sent back to the queue.

use domain::payout::{Payout, Transition};
use domain::time::Timestamp;
use gateway::TransferOutcome;

pub(super) fn settlement(
    payout: &Payout,
    outcome: TransferOutcome,
    poll_secs: u64,
) -> (Transition, Payout) {
    match outcome {
        TransferOutcome::Paid {
            reference,
            gateway_payout_id,
        } => (
            Transition::Complete,
            paid(payout, reference, gateway_payout_id),
        ),
        TransferOutcome::Declined { reason } => (Transition::Fail, declined(payout, reason)),
        TransferOutcome::Reversed { reason } => (Transition::Reverse, reversed(payout, reason)),
        TransferOutcome::Accepted {
            gateway_payout_id,
            gateway_status,
        } => {
            let mut next = settled(payout);
            next.gateway_payout_id = Some(gateway_payout_id);
            next.gateway_status = Some(gateway_status);
            // Nobody holds it; the processor looks at it again once this passes.
            next.lease_expires_at = Some(next.updated_at.plus_secs(poll_secs));
            (Transition::Accept, next)
        }
    }
}

/// The gateway declined the attempt for good (said by the processor's send or lookup,
/// or by a webhook).
pub(crate) fn declined(payout: &Payout, reason: String) -> Payout {
    let mut next = settled(payout);
    next.failure_reason = Some(reason);
    next
}

/// The gateway paid the attempt and the bank sent the money back.
pub(crate) fn reversed(payout: &Payout, reason: String) -> Payout {
    let mut next = settled(payout);
    next.failure_reason = Some(reason);
    // Recorded as a webhook would, so that a late report of the payment finds the
    // payout past it.
    next.gateway_status = Some("reversed".to_owned());
    next
}

/// The gateway paid the attempt.
pub(crate) fn paid(
    payout: &Payout,
    reference: String,
    gateway_payout_id: Option<String>,
) -> Payout {
    let mut next = settled(payout);
    next.payment_reference = Some(reference);
    if gateway_payout_id.is_some() {
        next.gateway_payout_id = gateway_payout_id;
    }
    next.completed_at = Some(next.updated_at);
    next
}

pub(super) fn settled(payout: &Payout) -> Payout {
    let mut next = payout.clone();
    next.lease_expires_at = None;
    next.last_error = None;
    next.updated_at = Timestamp::now();
    next
}

pub(super) fn requeue(payout: &Payout, why: String) -> (Transition, Payout) {
    let mut next = payout.clone();
    next.lease_expires_at = None;
    next.last_error = Some(why);
    next.updated_at = Timestamp::now();
    (Transition::Requeue, next)
}

/// Back to the queue after a claim whose own request is known to have created nothing
/// at the gateway (refused, rate limited, never sent): the attempt is as it was before
/// the claim. Its last send that could have landed is the one before, and if there was
/// none the gateway has never seen the attempt, which then goes wherever its user's
/// account says at its next claim.
pub(super) fn requeue_unsent(payout: &Payout, why: String) -> (Transition, Payout) {
    if payout.previous_sent_at.is_none() {
        return requeue_never_sent(payout, why);
    }
    let (transition, mut next) = requeue(payout, why);
    next.attempt_sent_at = payout.previous_sent_at;
    next.previous_sent_at = None;
    (transition, next)
}

/// Back to the queue as an attempt the gateway never saw and never will: no send of
/// it could still be created, so nothing of it is fixed any more and its next claim
/// sends it wherever its user's account says then.
pub(super) fn requeue_never_sent(payout: &Payout, why: String) -> (Transition, Payout) {
    let (transition, mut next) = requeue(payout, why);
    next.attempt_sent_at = None;
    next.previous_sent_at = None;
    next.first_sent_at = None;
    // `sent_at` falls back on it for items older than `attempt_sent_at`.
    next.processed_at = None;
    next.gateway_fund_account_id = None;
    next.gateway_mode = None;
    next.destination = None;
    next.account_revision = None;
    next.gateway_account_number = None;
    (transition, next)
}
