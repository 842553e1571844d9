//! What a gateway's webhook means for our payout (docs/RAZORPAYX.md, Webhooks; docs/LIFECYCLE.md).
//!
//! A webhook arrives at least once, in no set order, and possibly days late. Each one
//! is acted on by the state it finds, never by its arrival: a report applies only to
//! the attempt it is about (the gateway's payout id, or our attempt's key), only if
//! our status still allows what it says, and only over a gateway status that comes
//! before its own. So a duplicate, a late `initiated` after `processed`, or a
//! `processed` after `reversed` finds nothing to do, and the write's condition holds
//! the same rules against a report racing it. Event ids are remembered for the
//! replay window, so a redelivery is answered without being looked at again.

use tracing::{error, info, warn};

use crate::process::{declined, paid, reversed};
use domain::error::{Conflict, Error, Result};
use domain::payout::{Payout, PayoutStatus, Transition};
use domain::time::Timestamp;
use gateway::{GatewayReport, TransferOutcome};
use store::{Lease, StatusChange, Store, WebhookReceipt};

/// How long an event id is remembered: RazorpayX retries for 24 hours and lets a
/// person replay events up to 7 days old.
pub const RECEIPT_DAYS: u64 = 8;

/// How often a report that lost a race to another write is looked at again.
const RACE_RETRIES: usize = 3;

/// What became of one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
    /// The event id was seen before: nothing was looked at.
    Duplicate,
    /// Our payout changed, by `transition`.
    Applied {
        payout: Box<Payout>,
        transition: Transition,
    },
    /// Our payout is already past what the report says, or it is about another attempt.
    Ignored { payout_id: String, why: String },
    /// The gateway says money moved where our books say it did not (a payment under
    /// another attempt, or of a failed or cancelled payout), or a payout under our key
    /// is not the one we asked for. Nothing is changed; a person must look.
    Contradicts { payout_id: String, why: String },
    /// The report applies, but the balances refused it: the books were already wrong.
    /// Acknowledged (a retry would be refused the same way until someone fixes them).
    NeedsAttention { payout_id: String, why: String },
    /// No payout of ours has the report's reference.
    UnknownPayout { reference: Option<String> },
    /// Not a payout event: acknowledged only.
    NotAboutPayouts,
}

impl Handled {
    /// A short word for logs, metrics and the receipt.
    pub fn as_str(&self) -> &'static str {
        match self {
            Handled::Duplicate => "duplicate",
            Handled::Applied { .. } => "applied",
            Handled::Ignored { .. } => "ignored",
            Handled::Contradicts { .. } => "contradicts",
            Handled::NeedsAttention { .. } => "needs_attention",
            Handled::UnknownPayout { .. } => "unknown_payout",
            Handled::NotAboutPayouts => "not_about_payouts",
        }
    }
}

/// One verified delivery from `gateway`: `report` is `None` when the event is not
/// about a payout.
pub struct Delivery<'a> {
    pub gateway: &'a str,
    pub event_id: &'a str,
    /// SHA-256 of the body, hex.
    pub body_sha256: &'a str,
    pub event: &'a str,
    pub report: Option<&'a GatewayReport>,
}

/// Acts on a verified delivery and remembers its id. The id is written after the
/// payout, not before: a Lambda that dies in between leaves a redelivery to find the
/// payout already changed (and do nothing), where the other order would lose the event.
pub async fn receive(store: &Store, delivery: Delivery<'_>) -> Result<Handled> {
    if let Some(seen) = store
        .webhook_receipt(delivery.gateway, delivery.event_id)
        .await?
    {
        if seen.body_sha256 == delivery.body_sha256 {
            return Ok(Handled::Duplicate);
        }
        // Signed, so ours to act on; but someone may be replaying an old body under a
        // new id to make a real event look like a duplicate. Acting by state is safe.
        warn!(
            event = "webhook_event_id_reused",
            event_id = delivery.event_id,
            webhook_event = delivery.event,
            "an event id came again with another body; acting on it"
        );
    }
    let handled = match delivery.report {
        Some(report) => apply(store, report).await?,
        None => Handled::NotAboutPayouts,
    };
    if matches!(handled, Handled::NeedsAttention { .. }) {
        // Not remembered: once the books are fixed, a replay from the gateway's
        // dashboard applies it.
        return Ok(handled);
    }
    let now = Timestamp::now();
    let receipt = WebhookReceipt {
        gateway: delivery.gateway.to_owned(),
        event_id: delivery.event_id.to_owned(),
        event: delivery.event.to_owned(),
        body_sha256: delivery.body_sha256.to_owned(),
        payout_id: delivery
            .report
            .and_then(|report| report.payout_id)
            .map(|id| id.to_string()),
        handled: handled.as_str().to_owned(),
        received_at: now,
        expires_at: now.plus_secs(RECEIPT_DAYS * 86_400).unix_millis() / 1000,
    };
    // `false`: a redelivery raced this one and wrote it first; both did the same.
    store.save_webhook_receipt(&receipt).await?;
    Ok(handled)
}

/// Applies a report to the payout it names, reading the payout again when another
/// write got there between our read and our write.
pub async fn apply(store: &Store, report: &GatewayReport) -> Result<Handled> {
    let Some(payout_id) = report.payout_id else {
        return Ok(Handled::UnknownPayout { reference: None });
    };
    for _ in 0..RACE_RETRIES {
        let Some(payout) = store.payout(payout_id).await? else {
            return Ok(Handled::UnknownPayout {
                reference: Some(payout_id.to_string()),
            });
        };
        let (transition, next, lease) = match decide(&payout, report) {
            Ok(change) => change,
            Err(Refusal::Stale(why)) => {
                info!(
                    event = "gateway_report_ignored",
                    payout_id = %payout_id,
                    status = %payout.status,
                    gateway_payout_id = report.gateway_payout_id,
                    gateway_status = report.gateway_status,
                    why,
                    "a gateway report changed nothing"
                );
                return Ok(Handled::Ignored {
                    payout_id: payout_id.to_string(),
                    why: why.to_owned(),
                });
            }
            Err(Refusal::Contradicts(why)) => {
                error!(
                    event = "gateway_report_contradicts",
                    payout_id = %payout_id,
                    user_id = payout.user_id,
                    status = %payout.status,
                    attempt = payout.attempt,
                    gateway_payout_id = report.gateway_payout_id,
                    gateway_status = report.gateway_status,
                    report_key = report.idempotency_key.as_deref().unwrap_or_default(),
                    why,
                    "the gateway reports money moving where our books say it did not: check \
                     this payout at the gateway"
                );
                return Ok(Handled::Contradicts {
                    payout_id: payout_id.to_string(),
                    why: why.to_owned(),
                });
            }
        };
        let written = store
            .change_status(
                &payout,
                StatusChange {
                    transition,
                    next,
                    lease,
                    gateway_status_not_in: Some(report.not_after),
                },
            )
            .await;
        match written {
            Ok(changed) => {
                info!(
                    event = "gateway_report_applied",
                    payout_id = %payout_id,
                    transition = transition.verb(),
                    from = %payout.status,
                    to = %changed.status,
                    gateway_payout_id = report.gateway_payout_id,
                    gateway_status = report.gateway_status,
                    "a gateway report moved a payout"
                );
                // The same log line and metric as when the processor settles it; progress
                // is not a settlement.
                if transition != Transition::Track {
                    crate::process::log_reported(&changed);
                }
                return Ok(Handled::Applied {
                    payout: Box::new(changed),
                    transition,
                });
            }
            Err(Error::InvalidTransition { .. } | Error::Conflict(_)) => continue,
            // Not a passing fault: answering with an error would only have the gateway
            // retry it for a day and then switch the webhook off for every payout.
            Err(Error::BooksRefused(why)) => {
                error!(
                    event = "gateway_report_refused_by_books",
                    payout_id = %payout_id,
                    transition = transition.verb(),
                    gateway_status = report.gateway_status,
                    why,
                    "a gateway report could not be applied: the balances refused it"
                );
                return Ok(Handled::NeedsAttention {
                    payout_id: payout_id.to_string(),
                    why,
                });
            }
            Err(err) => return Err(err),
        }
    }
    Err(Error::Conflict(Conflict::Contended(format!(
        "payout {payout_id} kept changing while a gateway report was applied"
    ))))
}

/// Why a report changes nothing.
enum Refusal {
    /// Late, repeated, or about an attempt that is over: expected noise.
    Stale(&'static str),
    /// At odds with our books: see [`Handled::Contradicts`].
    Contradicts(&'static str),
}

/// What the report does to the payout as stored, or why it does nothing.
fn decide(
    payout: &Payout,
    report: &GatewayReport,
) -> std::result::Result<(Transition, Payout, Lease<'static>), Refusal> {
    let says_paid = matches!(report.outcome, TransferOutcome::Paid { .. });
    if !report.is_about_current_attempt(payout) {
        return Err(about_an_earlier_attempt(payout, report, says_paid));
    }
    let other_amount = report
        .amount_paise
        .is_some_and(|amount| amount != payout.amount_paise.get());
    let other_destination = matches!(
        (&report.fund_account_id, &payout.gateway_fund_account_id),
        (Some(reported), Some(ours)) if reported != ours
    );
    if other_amount || other_destination {
        return Err(Refusal::Contradicts(
            "the gateway's payout under our reference is for another amount or account",
        ));
    }
    // A failed attempt was never paid, by the gateway's word or by ours: no order of
    // events makes a payment of it news we can drop.
    if says_paid && payout.status == PayoutStatus::Failed {
        return Err(Refusal::Contradicts(
            "the gateway paid a payout our books hold as failed",
        ));
    }
    // Older news than what we hold is noise, whatever it says: a `processed` that
    // arrives after the reversal (and the cancel that followed it).
    if let Some(stored) = payout.gateway_status.as_deref() {
        if report.not_after.contains(&stored) {
            return Err(Refusal::Stale(
                "the payout already has this or a later gateway status",
            ));
        }
    }
    use PayoutStatus::{Cancelled, Completed, Pending, Processing, Reversed};
    match (&report.outcome, payout.status) {
        // Only a reversal comes after a payment, and nothing after a reversal.
        (TransferOutcome::Reversed { .. }, Completed) => {}
        (_, Completed | Reversed) => {
            return Err(Refusal::Stale("the payout was already paid or reversed"))
        }
        (TransferOutcome::Paid { .. }, Cancelled) => {
            return Err(Refusal::Contradicts(
                "the gateway paid a payout our books hold as cancelled",
            ))
        }
        _ => {}
    }
    let mut next = payout.clone();
    next.gateway_payout_id = Some(report.gateway_payout_id.clone());
    next.gateway_status = Some(report.gateway_status.clone());
    next.gateway_status_details = Some(report.details.clone());
    next.updated_at = Timestamp::now();
    // What the gateway's final word writes is what the processor writes when it hears
    // the same (`process::changes`).
    match (&report.outcome, payout.status) {
        (TransferOutcome::Accepted { .. }, Processing) => {
            Ok((Transition::Track, next, Lease::NotHeld))
        }
        (TransferOutcome::Paid { reference, .. }, Processing | Pending) => {
            let next = paid(&next, reference.clone(), None);
            let transition = if payout.status == Processing {
                Transition::Complete
            } else {
                // Requeued with its outcome unknown, and paid after all: never sent again.
                Transition::Confirm
            };
            Ok((transition, next, Lease::Break))
        }
        // The gateway's final word on the attempt, also when it went back to the queue
        // with its outcome unknown: a later `processed` of it (out of order, or a retry
        // of a delivery we failed) then finds it already settled.
        (TransferOutcome::Declined { reason }, Processing | Pending) => Ok((
            Transition::Fail,
            declined(&next, reason.clone()),
            Lease::Break,
        )),
        (TransferOutcome::Reversed { reason }, Processing | Pending | Completed) => Ok((
            Transition::Reverse,
            reversed(&next, reason.clone()),
            Lease::Break,
        )),
        _ => Err(Refusal::Stale(
            "the payout's status does not take this report",
        )),
    }
}

/// A report about an attempt that is not the payout's current one. Late news of an
/// attempt that ended is noise, unless it says the attempt paid and we did not hold it
/// as reversed: only failed or reversed attempts are ever followed by another.
fn about_an_earlier_attempt(payout: &Payout, report: &GatewayReport, says_paid: bool) -> Refusal {
    match report.earlier_attempt_of(payout) {
        Some(earlier) if earlier.ended == PayoutStatus::Reversed => {
            Refusal::Stale("the report is about an earlier attempt, which was reversed")
        }
        _ if says_paid => {
            Refusal::Contradicts("the gateway paid an attempt other than the payout's current one")
        }
        _ => Refusal::Stale("the report is about another attempt"),
    }
}
