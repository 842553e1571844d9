//! A destination is verified before money goes to it (`PAYOUT_ACCOUNT_VALIDATION`;
//! docs/RAZORPAYX.md, "Fund account validation"): the gateway checks that the fund
//! account exists and whose it is, once per destination, and the user's payouts wait
//! for the answer.
//!
//! The check lives on the account (`verification`), tied to the fund account it is of:
//! a save that changes the name or destination makes a new fund account, and so a new
//! check. Every write of it is conditioned on the account's revision and on the step of
//! the check it read, so the processor that starts it, a later processor's poll and the
//! gateway's webhook can race without one overwriting another's answer, and two
//! processors cannot both start (and pay for) a check: the one whose "started" write
//! lands asks the gateway; the other waits.
//!
//! A start whose answer was lost leaves the check started with no validation id. The
//! start is held like a claim, for the processor's lease (`LEASE_SECS`, longer than a
//! function can run): after it the next run starts it again, and the gateway's list of
//! validations made since the first start finds the lost one, so nothing is paid
//! twice.

use tracing::{info, warn};

use crate::account::{PayoutAccount, Verification, VerificationFailure, VerificationStatus};
use crate::error::{Error, Result};
use crate::gateway::validation::{NameMatch, ValidationFailure, ValidationStatus};
use crate::gateway::{GatewayError, PaymentGateway, Validation};
use crate::store::Store;
use crate::time::Timestamp;

/// What a check means for the user's payouts now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Verified: they go.
    Verified,
    /// Not known yet (started, under way, or to be asked again): they wait.
    Waiting,
    /// The account is invalid or someone else's: they fail (`payout_account_invalid`)
    /// and come back when the user saves another.
    Invalid,
}

impl Verdict {
    fn of(verification: &Verification) -> Self {
        match (verification.status, verification.failure) {
            (VerificationStatus::Verified, _) => Verdict::Verified,
            (VerificationStatus::Failed, Some(failure)) if failure.blames_account() => {
                Verdict::Invalid
            }
            _ => Verdict::Waiting,
        }
    }
}

/// Where the check of `account`'s fund account stands, moving it on as far as it can
/// now: started when there is none (or the last one could not be completed, or its
/// start went unanswered for `lease_secs`), asked about when it is under way.
pub(crate) async fn check<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    account: &PayoutAccount,
    fund_account_id: &str,
    lease_secs: u64,
) -> Result<Verdict> {
    let now = Timestamp::now();
    let current = account.verification_of(fund_account_id);
    // A check of the same fund account made since then is this one: any since the save
    // for a first start, the unanswered start's own for a restart, none before now
    // after one the gateway could not complete (it would be found again).
    let mut since = account.updated_at;
    match current {
        Some(verification) if verification.status != VerificationStatus::Pending => {
            let verdict = Verdict::of(verification);
            if verdict != Verdict::Waiting {
                return Ok(verdict);
            }
            // The gateway could not complete it: a new one is started.
            since = now;
        }
        Some(verification) => match &verification.validation_id {
            Some(id) => {
                return match gateway.validation(id).await {
                    Ok(validation) => record(store, account, verification, &validation).await,
                    Err(GatewayError::Misconfigured(why)) => Err(Error::Config(why)),
                    Err(err) => {
                        warn!(event = "verification_unread", user_id = account.user_id, error = %err, "could not ask the gateway about the account's check; the payouts wait");
                        Ok(Verdict::Waiting)
                    }
                };
            }
            // Another run started it moments ago and has not heard back yet.
            None if now < verification.started_at.plus_secs(lease_secs) => {
                return Ok(Verdict::Waiting);
            }
            // Its start went unanswered: started again, finding the first if it was made.
            None => since = verification.started_at,
        },
        None => {}
    }
    let started = Verification {
        status: VerificationStatus::Pending,
        fund_account_id: fund_account_id.to_owned(),
        validation_id: None,
        started_at: now,
        checked_at: None,
        registered_name: None,
        name_matches: None,
        name_score: None,
        failure: None,
        step: next_step(account),
    };
    if !store
        .put_verification(
            account.user_id,
            account.revision,
            account
                .verification
                .as_ref()
                .map(|verification| verification.step),
            &started,
        )
        .await?
    {
        // Another processor started it, or the user saved another account: either way
        // not this run's to start.
        return Ok(Verdict::Waiting);
    }
    info!(
        event = "verification_started",
        user_id = account.user_id,
        revision = account.revision,
        "asking the gateway to verify the payout account"
    );
    match gateway
        .start_validation(fund_account_id, account, since)
        .await
    {
        Ok(validation) => record(store, account, &started, &validation).await,
        Err(GatewayError::Misconfigured(why)) => Err(Error::Config(why)),
        Err(err) => {
            // Started and unanswered: after the lease the next run starts it again.
            warn!(event = "verification_not_started", user_id = account.user_id, error = %err, "the gateway did not take the account's check; the payouts wait");
            Ok(Verdict::Waiting)
        }
    }
}

/// What a verification webhook did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reported {
    /// The account's check took the report's answer.
    Applied,
    /// Not the account's current check, or that check has its answer already.
    Ignored,
    /// No account of ours is named by it.
    UnknownAccount,
}

impl Reported {
    pub fn as_str(self) -> &'static str {
        match self {
            Reported::Applied => "verification_applied",
            Reported::Ignored => "verification_ignored",
            Reported::UnknownAccount => "verification_unknown_account",
        }
    }
}

/// The gateway's word on a check (a verified webhook): taken only by the account's
/// current check of the same fund account, while it waits for an answer. A duplicate
/// or late report finds it answered and changes nothing; one for an account saved over
/// since names another fund account and is ignored.
pub async fn on_report(store: &Store, validation: &Validation) -> Result<Reported> {
    let Some(user_id) = validation.user_id else {
        return Ok(Reported::UnknownAccount);
    };
    let Some(account) = store.payout_account(user_id).await? else {
        return Ok(Reported::UnknownAccount);
    };
    let Some(current) = account.verification.as_ref() else {
        return Ok(Reported::Ignored);
    };
    let same_check = match &current.validation_id {
        Some(id) => *id == validation.id,
        // Its start's answer has not been recorded yet: the fund account says.
        None => validation.fund_account_id.as_deref() == Some(current.fund_account_id.as_str()),
    };
    let about_this_account =
        account.gateway_fund_account_id.as_deref() == Some(current.fund_account_id.as_str());
    if !same_check || !about_this_account || current.status != VerificationStatus::Pending {
        return Ok(Reported::Ignored);
    }
    Ok(match record(store, &account, current, validation).await? {
        Verdict::Waiting if validation.status == ValidationStatus::Pending => Reported::Ignored,
        _ => Reported::Applied,
    })
}

/// Writes what `validation` says over `read` (the check as read), if nobody wrote in
/// between; the verdict of what is stored either way as far as this caller knows.
async fn record(
    store: &Store,
    account: &PayoutAccount,
    read: &Verification,
    validation: &Validation,
) -> Result<Verdict> {
    let next = answered(account, read, validation, Timestamp::now());
    if next == *read {
        return Ok(Verdict::of(read));
    }
    if !store
        .put_verification(account.user_id, account.revision, Some(read.step), &next)
        .await?
    {
        // Someone else recorded an answer, or the account was saved over: the next run
        // reads what is there.
        return Ok(Verdict::Waiting);
    }
    let verdict = Verdict::of(&next);
    info!(
        event = "verification_recorded",
        user_id = account.user_id,
        revision = account.revision,
        status = ?next.status,
        failure = ?next.failure,
        name_matches = ?next.name_matches,
        "the gateway answered the payout account's check"
    );
    Ok(verdict)
}

/// `read` with the gateway's answer. A name is held to the saved one: RazorpayX's score
/// where it gave one, ours otherwise ([`crate::gateway::validation::name_score`]); an
/// account under another name is not verified. One verified with no name returned
/// (a bank that does not give names) counts as verified, with no name match shown.
fn answered(
    account: &PayoutAccount,
    read: &Verification,
    validation: &Validation,
    now: Timestamp,
) -> Verification {
    let mut next = Verification {
        validation_id: Some(validation.id.clone()),
        step: read.step.saturating_add(1),
        ..read.clone()
    };
    match validation.status {
        ValidationStatus::Pending => {
            // Nothing new but the id: written once, so a poll or webhook can find it.
            if read.validation_id.is_some() {
                return read.clone();
            }
        }
        ValidationStatus::Verified => {
            next.checked_at = Some(now);
            next.registered_name = validation.registered_name.clone();
            let (status, matches, score) = match validation.name_match_with(&account.name) {
                NameMatch::Matches { score, .. } => {
                    (VerificationStatus::Verified, Some(true), Some(score))
                }
                NameMatch::Differs { score, .. } => {
                    (VerificationStatus::Failed, Some(false), Some(score))
                }
                NameMatch::Unknown => (VerificationStatus::Verified, None, None),
            };
            next.status = status;
            next.name_matches = matches;
            next.name_score = score;
            next.failure =
                (status == VerificationStatus::Failed).then_some(VerificationFailure::NameMismatch);
        }
        ValidationStatus::Failed => {
            next.checked_at = Some(now);
            next.status = VerificationStatus::Failed;
            next.failure = Some(match validation.failure {
                Some(ValidationFailure::AccountInvalid { .. }) => {
                    VerificationFailure::AccountInvalid
                }
                Some(ValidationFailure::NotCompleted { .. }) | None => {
                    VerificationFailure::NotCompleted
                }
            });
        }
    }
    next
}

fn next_step(account: &PayoutAccount) -> u64 {
    account
        .verification
        .as_ref()
        .map_or(1, |verification| verification.step.saturating_add(1))
}
