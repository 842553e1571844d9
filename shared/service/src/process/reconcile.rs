//! Taking over a payout whose lease ran out (its holder died between claim and
//! settle, or the gateway accepted it and it is due another look), and settling it by
//! what the gateway knows of its key.

use tracing::{error, info, warn};
use uuid::Uuid;

use super::changes::{requeue, requeue_unsent, settled, settlement};
use super::claim::Claimed;
use super::report::Outcome;
use super::Processor;
use domain::error::Error;
use domain::payout::{Payout, Transition};
use domain::time::Timestamp;
use gateway::PaymentGateway;
use store::{Lease, StatusChange};

impl<G: PaymentGateway> Processor<'_, G> {
    /// A payout whose lease ran out: its holder died somewhere between claim and
    /// settle. Take it over, then settle it by what the gateway knows of its key.
    pub(super) async fn reconcile(&self, stuck: Payout) -> Outcome {
        let Some(expired_at) = stuck.lease_expires_at else {
            return Outcome::Skipped;
        };
        let now = Timestamp::now();
        let token = Uuid::new_v4().to_string();
        let mut next = stuck.clone();
        next.lease_expires_at = Some(now.plus_secs(self.config.lease_secs));
        next.updated_at = now;
        let taken = self
            .store
            .change_status(
                &stuck,
                StatusChange {
                    transition: Transition::Reclaim,
                    next,
                    lease: Lease::TakeOver {
                        token: &token,
                        expired_at,
                    },
                    gateway_status_not_in: None,
                },
            )
            .await;
        let payout = match taken {
            Ok(payout) => payout,
            Err(Error::InvalidTransition { .. } | Error::Conflict(_) | Error::NotFound { .. }) => {
                return Outcome::Skipped
            }
            Err(err) => {
                error!(event = "reclaim_failed", payout_id = %stuck.payout_id, error = %err, "reclaim failed");
                return Outcome::Errored;
            }
        };
        let key = payout.idempotency_key();
        let accepted = payout.gateway_payout_id.is_some();
        if accepted {
            info!(
                event = "gateway_poll",
                payout_id = %payout.payout_id,
                gateway_payout_id = payout.gateway_payout_id.as_deref().unwrap_or_default(),
                gateway_status = payout.gateway_status.as_deref().unwrap_or_default(),
                "asking the gateway about an accepted payout"
            );
        } else {
            warn!(
            event = "lease_expired",
            payout_id = %payout.payout_id,
            user_id = payout.user_id,
            amount_paise = payout.amount_paise.get(),
            idempotency_key = %key,
            "payout was stuck in processing; reconciling with the gateway"
            );
        }
        let poll_secs = self.config.poll_secs;
        // Read before asking, as in a cancel: "no record" speaks for this moment.
        let asked_at = Timestamp::now();
        let (transition, next) = match self.gateway.lookup(&key, &payout).await {
            Ok(Some(outcome)) => settlement(&payout, outcome, poll_secs),
            // The gateway has this attempt (it accepted it); no answer, or none about
            // it, is no reason to send it again: it stays with the gateway, looked at later.
            Ok(None) if accepted => {
                let mut next = settled(&payout);
                next.lease_expires_at = Some(next.updated_at.plus_secs(poll_secs));
                next.last_error = Some(format!(
                    "the gateway has no record of {}",
                    payout.gateway_payout_id.as_deref().unwrap_or_default()
                ));
                (Transition::Accept, next)
            }
            // Past every instant the claim's request could have been created at, "no
            // record" is final: the attempt never reached the gateway.
            Ok(None) if !self.may_still_land(&payout, asked_at) => requeue_unsent(
                &payout,
                "lease expired and the gateway never created a transfer".to_owned(),
            ),
            Ok(None) => requeue(
                &payout,
                "lease expired before the gateway saw a transfer".to_owned(),
            ),
            Err(unavailable) if accepted => {
                let mut next = settled(&payout);
                next.lease_expires_at = Some(next.updated_at.plus_secs(poll_secs));
                next.last_error = Some(unavailable.to_string());
                (Transition::Accept, next)
            }
            Err(unavailable) => requeue(&payout, unavailable.to_string()),
        };
        self.settle(
            Claimed {
                payout,
                token,
                missing_account: None,
                resend: false,
                account_revision: None,
            },
            transition,
            next,
        )
        .await
        .1
    }
}
