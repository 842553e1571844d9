//! An admin's actions on one payout: process it now, send a failed one round again,
//! or cancel it (asking the gateway first about an attempt that was sent).

use tracing::info;
use uuid::Uuid;

use super::changes::paid;
use super::report::log_settled;
use super::round::send_round_again_as;
use super::Processor;
use domain::error::{Conflict, Error, Result};
use domain::payout::{Payout, PayoutStatus, Transition};
use domain::time::Timestamp;
use gateway::{PaymentGateway, TransferOutcome};
use store::{Lease, StatusChange};

impl<G: PaymentGateway> Processor<'_, G> {
    /// An admin's "process now": claim the pending payout, pay it, and return it as
    /// it stands afterwards. Refused (409) unless it is pending.
    pub async fn process_one(&self, payout_id: Uuid) -> Result<Payout> {
        let payout = self.store.existing_payout(payout_id).await?;
        self.history_has_room(&payout)?;
        match Box::pin(self.take(&payout)).await? {
            Some(claimed) => Ok(Box::pin(self.pay(claimed)).await.0),
            None => Err(Error::Conflict(Conflict::Contended(format!(
                "payout {payout_id} could not be sent now (its payout account is changing \
                 or the gateway is busy); it stays pending"
            )))),
        }
    }

    /// Sends a failed payout round again as a new attempt (a declined key stays
    /// declined at the gateway), then processes it at once.
    pub async fn retry(&self, payout_id: Uuid) -> Result<Payout> {
        let payout = self.store.existing_payout(payout_id).await?;
        self.history_has_room(&payout)?;
        let requeued = send_round_again_as(self.store, &payout, self.acting.as_ref()).await?;
        info!(event = "payout_retried", payout_id = %payout_id, attempt = requeued.attempt, "payout sent round again");
        match Box::pin(self.take(&requeued)).await {
            Ok(Some(claimed)) => Ok(Box::pin(self.pay(claimed)).await.0),
            // The hourly run got to it first, or it waits for its account (or the end of
            // its hold): show it as it is.
            Ok(None)
            | Err(
                Error::InvalidTransition { .. }
                | Error::Conflict(_)
                | Error::PayoutAccountOnHold { .. }
                | Error::PayoutAccountUnverified { .. },
            ) => self.store.existing_payout(payout_id).await,
            Err(err) => Err(err),
        }
    }

    /// Withdraws a pending, failed or reversed payout; a scout's reservation returns to its
    /// available earnings in the same transaction.
    ///
    /// A pending payout whose attempt was sent before (it went back to the queue with
    /// its outcome unknown) may have been paid: the gateway is asked about that
    /// attempt's key first. Paid → the payout is recorded as completed and the cancel
    /// refused (`already_paid`); declined → cancelled; no answer, or no record while a
    /// request sent under the key could still land → `gateway_outcome_unknown`,
    /// nothing changed. The write is conditioned on the attempt and its send as read,
    /// so a processor that takes the payout meanwhile makes the cancel a clean 409.
    pub async fn cancel(&self, payout_id: Uuid) -> Result<Payout> {
        let payout = self.store.existing_payout(payout_id).await?;
        if !Transition::Cancel.allows(payout.status) {
            return Err(Error::InvalidTransition {
                payout_id: payout_id.to_string(),
                transition: Transition::Cancel,
                status: payout.status,
            });
        }
        let mut came_back = false;
        if let (PayoutStatus::Pending, Some(sent_at)) = (payout.status, payout.sent_at()) {
            came_back = self.ensure_attempt_unpaid(&payout, sent_at).await?;
        }
        let now = Timestamp::now();
        let mut next = payout.clone();
        if came_back {
            // As a webhook would record it: a late report of the payment then finds
            // the payout past it, not a payment of a cancelled payout.
            next.gateway_status = Some("reversed".to_owned());
        }
        next.cancelled_at = Some(now);
        next.updated_at = now;
        self.store
            .change_status_as(
                &payout,
                StatusChange {
                    transition: Transition::Cancel,
                    next,
                    lease: Lease::NotHeld,
                    gateway_status_not_in: None,
                },
                self.acting.as_ref(),
            )
            .await
    }

    /// `Ok` only when the gateway has said that the payout's current attempt did not
    /// pay and will not; `Ok(true)` when it paid and the bank sent the money back.
    async fn ensure_attempt_unpaid(&self, payout: &Payout, sent_at: Timestamp) -> Result<bool> {
        let key = payout.idempotency_key();
        let unknown = |why: String| {
            Error::GatewayOutcomeUnknown(format!(
                "payout {} attempt {} was sent to the gateway at {sent_at} and {why}; \
                 nothing was changed, try again later",
                payout.payout_id, payout.attempt
            ))
        };
        // Read before asking: the gateway's "no record" speaks for the moment it was
        // asked, no later, so that is the moment compared with the last instant a
        // request could still land (a slow answer must not stretch it).
        let asked_at = Timestamp::now();
        match self.gateway.lookup(&key, payout).await {
            Err(unavailable) => Err(unknown(format!(
                "the gateway cannot be asked now ({unavailable})"
            ))),
            Ok(Some(TransferOutcome::Accepted { gateway_status, .. })) => Err(unknown(format!(
                "the gateway holds it ({gateway_status}) and has not finished it"
            ))),
            // Declined, or paid and sent back by the bank: either way the money is ours.
            Ok(Some(TransferOutcome::Declined { .. })) => Ok(false),
            Ok(Some(TransferOutcome::Reversed { .. })) => Ok(true),
            Ok(Some(TransferOutcome::Paid {
                reference,
                gateway_payout_id,
            })) => {
                let confirmed = self
                    .store
                    .change_status_as(
                        payout,
                        StatusChange {
                            transition: Transition::Confirm,
                            next: paid(payout, reference, gateway_payout_id),
                            lease: Lease::NotHeld,
                            gateway_status_not_in: None,
                        },
                        self.acting.as_ref(),
                    )
                    .await?;
                log_settled(&confirmed);
                Err(Error::AlreadyPaid {
                    payout_id: payout.payout_id.to_string(),
                    reference: confirmed.payment_reference.unwrap_or_default(),
                })
            }
            // No record: final only once any request sent under the key is over and the
            // gateway's own lag has passed after it (`sent_at` is the attempt's latest
            // send that could have created anything).
            Ok(None) => {
                if !self.may_still_land(payout, asked_at) {
                    Ok(false)
                } else {
                    Err(unknown(format!(
                        "the gateway has no record of it yet, but that request could still \
                         land until {}",
                        self.last_landing(sent_at)
                    )))
                }
            }
        }
    }
}
