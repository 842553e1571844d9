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

use tracing::{error, info, warn};

use domain::account::{
    PayoutAccount, Verification, VerificationFailure, VerificationStatus,
    MAX_VERIFICATION_AGE_SECS, MAX_VERIFICATION_STARTS,
};
use domain::error::{Error, Result};
use domain::time::Timestamp;
use gateway::validation::{NameMatch, ValidationFailure, ValidationStatus};
use gateway::{GatewayError, PaymentGateway, Validation};
use store::Store;

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
    // A check of the same fund account made since then is this one: the unanswered
    // start's own for a restart; none before now otherwise (after one the gateway could
    // not complete, that one would be found again).
    let mut since = now;
    match current {
        Some(verification) if verification.status != VerificationStatus::Pending => {
            let verdict = Verdict::of(verification);
            if verdict != Verdict::Waiting {
                return Ok(verdict);
            }
            // The gateway could not complete it: a new one is started.
        }
        Some(verification)
            if now > verification.started_at.plus_secs(MAX_VERIFICATION_AGE_SECS) =>
        {
            return give_up(store, account, verification).await;
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
    let starts = current.map_or(0, |verification| verification.starts);
    if let Some(verification) = current.filter(|_| starts >= MAX_VERIFICATION_STARTS) {
        return give_up(store, account, verification).await;
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
        starts: starts.saturating_add(1),
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
/// current check (the same validation id), while it waits for an answer. A duplicate
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
    // Before the start's answer is recorded nothing says which validation is the
    // current one (a late report of an earlier one names the same fund account): the
    // report is left, and the next run's poll or restart finds the answer.
    let same_check = current.validation_id.as_deref() == Some(validation.id.as_str());
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
/// where it gave one, ours otherwise ([`domain::names::name_score`]); an account under
/// another name, or whose bank returned no name to hold to it, is not verified.
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
                NameMatch::Unknown => (VerificationStatus::Failed, None, None),
            };
            next.status = status;
            next.name_matches = matches;
            next.name_score = score;
            next.failure = match (status, matches) {
                (VerificationStatus::Failed, Some(false)) => {
                    Some(VerificationFailure::NameMismatch)
                }
                (VerificationStatus::Failed, _) => Some(VerificationFailure::NameUnconfirmed),
                _ => None,
            };
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

/// A check that never got its answer ends as failed (`gave_up`): the user's payouts
/// fail and they are told, instead of waiting unseen; a new save checks again.
async fn give_up(store: &Store, account: &PayoutAccount, read: &Verification) -> Result<Verdict> {
    let gave_up = Verification {
        status: VerificationStatus::Failed,
        failure: Some(VerificationFailure::GaveUp),
        checked_at: Some(Timestamp::now()),
        step: read.step.saturating_add(1),
        ..read.clone()
    };
    if !store
        .put_verification(account.user_id, account.revision, Some(read.step), &gave_up)
        .await?
    {
        return Ok(Verdict::Waiting);
    }
    error!(
        event = "verification_gave_up",
        user_id = account.user_id,
        revision = account.revision,
        starts = read.starts,
        "the payout account's check got no answer; its payouts fail"
    );
    Ok(Verdict::Invalid)
}

fn next_step(account: &PayoutAccount) -> u64 {
    account
        .verification
        .as_ref()
        .map_or(1, |verification| verification.step.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::account::{Destination, Sealed, StoredDestination};
    use gateway::validation::ScoredBy;

    fn account() -> PayoutAccount {
        PayoutAccount {
            user_id: 7,
            name: "Asha Rao".to_owned(),
            destination: StoredDestination::sealed(
                &Destination::Vpa {
                    address: "asha@okhdfc".to_owned(),
                },
                "fingerprint".to_owned(),
                Sealed {
                    key: String::new(),
                    nonce: String::new(),
                    data: String::new(),
                },
            ),
            email: None,
            revision: 1,
            gateway_contact_id: Some("cont_1".to_owned()),
            gateway_fund_account_id: Some("fa_1".to_owned()),
            updated_at: Timestamp::now(),
            hold_until: None,
            saved_by: Some(7),
            hold_ended_by: None,
            hold_ended_at: None,
            verification: None,
        }
    }

    fn started() -> Verification {
        Verification {
            status: VerificationStatus::Pending,
            fund_account_id: "fa_1".to_owned(),
            validation_id: Some("fav_1".to_owned()),
            started_at: Timestamp::now(),
            checked_at: None,
            registered_name: None,
            name_matches: None,
            name_score: None,
            failure: None,
            step: 1,
            starts: 1,
        }
    }

    fn verified(registered_name: Option<&str>, name_match: NameMatch) -> Validation {
        Validation {
            id: "fav_1".to_owned(),
            fund_account_id: Some("fa_1".to_owned()),
            status: ValidationStatus::Verified,
            failure: None,
            registered_name: registered_name.map(str::to_owned),
            name_match,
            gateway_status: "completed".to_owned(),
            user_id: Some(7),
            utr: None,
        }
    }

    #[test]
    fn only_a_name_that_matches_verifies() {
        let now = Timestamp::now();
        let matching = answered(
            &account(),
            &started(),
            &verified(Some("ASHA RAO"), NameMatch::Unknown),
            now,
        );
        assert_eq!(matching.status, VerificationStatus::Verified);
        assert_eq!(Verdict::of(&matching), Verdict::Verified);

        let scored_low = verified(
            Some("ASHA RAO"),
            NameMatch::Differs {
                score: 40,
                scored_by: ScoredBy::Razorpayx,
            },
        );
        let other = answered(&account(), &started(), &scored_low, now);
        assert_eq!(other.failure, Some(VerificationFailure::NameMismatch));
        assert_eq!(Verdict::of(&other), Verdict::Invalid);

        // No name came back: nothing holds it to the user, so it does not verify.
        let nameless = answered(
            &account(),
            &started(),
            &verified(None, NameMatch::Unknown),
            now,
        );
        assert_eq!(nameless.status, VerificationStatus::Failed);
        assert_eq!(nameless.failure, Some(VerificationFailure::NameUnconfirmed));
        assert_eq!(Verdict::of(&nameless), Verdict::Invalid);
    }

    #[test]
    fn a_check_the_gateway_could_not_complete_waits_for_another() {
        let failed = Validation {
            status: ValidationStatus::Failed,
            failure: Some(ValidationFailure::NotCompleted {
                reason: "bank down".to_owned(),
            }),
            ..verified(None, NameMatch::Unknown)
        };
        let next = answered(&account(), &started(), &failed, Timestamp::now());
        assert_eq!(next.failure, Some(VerificationFailure::NotCompleted));
        assert_eq!(Verdict::of(&next), Verdict::Waiting);
    }
}
