//! Paying a claimed payout: asking the gateway about an attempt sent before, sending it,
//! and settling what the gateway said under the lease.

use tracing::{error, warn};

use super::changes::{requeue, requeue_never_sent, requeue_unsent, settled, settlement};
use super::claim::Claimed;
use super::report::{log_settled, Outcome};
use super::round::send_round_again_as;
use super::Processor;
use domain::error::Error;
use domain::money::Paise;
use domain::payout::{Payout, Transition};
use domain::time::Timestamp;
use gateway::{GatewayError, PaymentGateway};
use store::{Lease, StatusChange};

impl<G: PaymentGateway> Processor<'_, G> {
    pub(super) async fn pay(&self, mut claimed: Claimed) -> (Payout, Outcome) {
        if let Some(failed) = claimed.missing_account.take() {
            let decided_on = claimed.account_revision;
            let (payout, outcome) = self.settle(claimed, Transition::Fail, failed).await;
            return self
                .requeue_if_account_saved_meanwhile(payout, outcome, decided_on)
                .await;
        }
        if claimed.payout.amount_paise == Paise::ZERO {
            // Only items from before zero-price orders were refused can be here.
            let mut next = settled(&claimed.payout);
            next.failure_reason = Some("amount is 0 paise: nothing to pay".to_owned());
            return self.settle(claimed, Transition::Fail, next).await;
        }
        let key = claimed.payout.idempotency_key();
        let poll_secs = self.config.poll_secs;
        if claimed.resend {
            let asked_at = Timestamp::now();
            match self.gateway.lookup(&key, &claimed.payout).await {
                Ok(Some(outcome)) => {
                    let (transition, next) = settlement(&claimed.payout, outcome, poll_secs);
                    return self.settle(claimed, transition, next).await;
                }
                // No earlier send can land any more, and none did: the gateway never saw
                // the attempt, so it is not sent to where it was fixed before (the user
                // may have replaced that account since); its next claim takes the
                // account as it is then.
                Ok(None)
                    if claimed
                        .payout
                        .previous_sent_at
                        .is_none_or(|earlier| asked_at > self.last_landing(earlier)) =>
                {
                    let (transition, next) = requeue_never_sent(
                        &claimed.payout,
                        "the gateway has no record of the attempt, and no send of it can land \
                         any more: it is sent afresh"
                            .to_owned(),
                    );
                    return self.settle(claimed, transition, next).await;
                }
                Ok(None) => {}
                // This claim sent nothing: only an earlier send may be at the gateway.
                Err(unknown) => {
                    let misconfigured = matches!(unknown, GatewayError::Misconfigured(_));
                    let (transition, next) = requeue_unsent(&claimed.payout, unknown.to_string());
                    let (payout, outcome) = self.settle(claimed, transition, next).await;
                    // Our own fault stops a drain like any other misconfiguration.
                    return (
                        payout,
                        if misconfigured {
                            Outcome::Misconfigured
                        } else {
                            outcome
                        },
                    );
                }
            }
        }
        // Read before the call: a "no record" in its answer speaks for a later moment.
        let asked_at = Timestamp::now();
        let (transition, next) = match self.gateway.transfer(&key, &claimed.payout).await {
            Ok(outcome) => settlement(&claimed.payout, outcome, poll_secs),
            // The outcome is unknown: ask about this key before anything else, so a
            // transfer that did happen is recorded now rather than a run later.
            Err(GatewayError::Unavailable(why)) => {
                match self.gateway.lookup(&key, &claimed.payout).await {
                    Ok(Some(outcome)) => settlement(&claimed.payout, outcome, poll_secs),
                    Ok(None) | Err(_) => requeue(&claimed.payout, why),
                }
            }
            Err(GatewayError::Refused(reason)) => {
                let mut next = settled(&claimed.payout);
                next.failure_reason = Some(reason);
                (Transition::Fail, next)
            }
            // This request created nothing; an earlier one under the key may have, or
            // may still: the attempt stays as it was before this claim.
            Err(GatewayError::RateLimited(why)) => {
                requeue_unsent(&claimed.payout, format!("rate limited: {why}"))
            }
            // Refused, and no record under the key. An earlier send may still be created
            // until its last landing: until then the attempt waits as it was; after
            // it, the refusal is the attempt's answer.
            Err(GatewayError::EarlierSendMayLand(why))
                if claimed
                    .payout
                    .previous_sent_at
                    .is_some_and(|earlier| asked_at <= self.last_landing(earlier)) =>
            {
                requeue_unsent(
                    &claimed.payout,
                    format!("refused a resend while an earlier send may still land: {why}"),
                )
            }
            Err(GatewayError::EarlierSendMayLand(reason)) => {
                let mut next = settled(&claimed.payout);
                next.failure_reason = Some(reason);
                (Transition::Fail, next)
            }
            Err(GatewayError::Misconfigured(why)) => {
                let (transition, next) = requeue_unsent(&claimed.payout, why);
                let (payout, _) = self.settle(claimed, transition, next).await;
                return (payout, Outcome::Misconfigured);
            }
        };
        self.settle(claimed, transition, next).await
    }

    /// An account saved while this payout was failing for want of one (none, or one
    /// the gateway refused) may have looked for waiting payouts before this one's marker
    /// was written: the account is read again after the failure, and if it is not the
    /// revision the failure was decided on, the payout goes round again now. The save
    /// writes its account before it reads the markers, and this writes its marker before
    /// it reads the account: one of the two sees the other.
    async fn requeue_if_account_saved_meanwhile(
        &self,
        payout: Payout,
        outcome: Outcome,
        decided_on: Option<u64>,
    ) -> (Payout, Outcome) {
        if !payout.waits_for_account() {
            return (payout, outcome);
        }
        let saved_since = match self.store.payout_account(payout.user_id).await {
            Ok(account) => account.map(|account| account.revision) != decided_on,
            // Unread, it stays failed; the user's next save finds its marker.
            Err(_) => false,
        };
        if !saved_since {
            return (payout, outcome);
        }
        match send_round_again_as(self.store, &payout, self.acting.as_ref()).await {
            Ok(requeued) => (requeued, Outcome::Requeued),
            Err(_) => (payout, outcome),
        }
    }

    pub(super) async fn settle(
        &self,
        claimed: Claimed,
        transition: Transition,
        next: Payout,
    ) -> (Payout, Outcome) {
        let Claimed { payout, token, .. } = claimed;
        // The webhooks' guard: what the gateway said here must not overwrite a later
        // status a webhook recorded while the call was out.
        let later = next
            .gateway_status
            .as_deref()
            .filter(|status| payout.gateway_status.as_deref() != Some(*status))
            .map(|status| self.gateway.statuses_after(status));
        let written = self
            .store
            .change_status_as(
                &payout,
                StatusChange {
                    transition,
                    next,
                    lease: Lease::Release(&token),
                    gateway_status_not_in: later,
                },
                self.acting.as_ref(),
            )
            .await;
        match written {
            Ok(settled) => {
                let outcome = log_settled(&settled);
                (settled, outcome)
            }
            Err(err @ (Error::InvalidTransition { .. } | Error::Conflict(_))) => {
                warn!(event = "lease_lost", payout_id = %payout.payout_id, error = %err, "lease lost before settling; the new holder settles it");
                (payout, Outcome::Skipped)
            }
            Err(err) => {
                error!(event = "settle_failed", payout_id = %payout.payout_id, error = %err, "settle failed; the lease will bring it back");
                (payout, Outcome::Errored)
            }
        }
    }
}
