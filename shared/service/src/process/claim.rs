//! Taking a pending payout: the user's hold and verification checked, the beneficiary
//! registered at the gateway once per account revision, and the claim written under a
//! lease, with where the payout goes fixed on it, while the account is as read.

use tracing::{error, info, warn};
use uuid::Uuid;

use super::changes::settled;
use super::Processor;
use crate::verification::{self, Verdict};
use domain::account::{PayoutAccount, PAYOUT_ACCOUNT_INVALID, PAYOUT_ACCOUNT_MISSING};
use domain::error::{Error, Result};
use domain::payout::{Payout, Transition};
use domain::time::Timestamp;
use gateway::{GatewayError, PaymentGateway};
use store::{AccountGuard, Lease, StatusChange};

impl<G: PaymentGateway> Processor<'_, G> {
    /// Claims a pending payout, with where it is paid fixed on it when the gateway
    /// pays people's own accounts. `None`: not this time (the beneficiary could not be
    /// registered); the payout stays pending. A user whose account changed recently
    /// has their payouts held: `PayoutAccountOnHold`, nothing written.
    ///
    /// The claim is written only while the account is the revision read here: a save
    /// that lands in between (a new destination, a hold) makes it a clean conflict.
    ///
    /// Callers box this future and [`Processor::pay`]'s: each holds gateway calls whose
    /// futures are large, and nested unboxed they overflow a debug build's thread stack.
    pub(super) async fn take(&self, payout: &Payout) -> Result<Option<Claimed>> {
        // Before the claim marks the attempt as sent: keys that cannot be read (a
        // secret not set yet, access refused) must leave it as it was, not "sent,
        // outcome unknown", which would make a cancel wait on the gateway.
        if let Err(GatewayError::Misconfigured(why)) = self.gateway.ready().await {
            error!(event = "gateway_not_ready", payout_id = %payout.payout_id, reason = %why, "the gateway cannot be called (our credentials); the payout stays pending, untouched");
            return Err(Error::Config(why));
        }
        let account = self.store.payout_account(payout.user_id).await?;
        if let Some(until) = account
            .as_ref()
            .and_then(|account| account.hold_at(Timestamp::now()))
        {
            info!(event = "payout_held", payout_id = %payout.payout_id, user_id = payout.user_id, hold_until = %until, "the user's payout account changed recently; the payout waits");
            return Err(Error::PayoutAccountOnHold {
                user_id: payout.user_id,
                until,
            });
        }
        let guard = AccountGuard {
            user_id: payout.user_id,
            revision: account.as_ref().map(|account| account.revision),
        };
        let mut destination = None;
        let mut missing_account = None;
        // Once the gateway may hold the attempt its destination is part of the request
        // under its key, and stays; an attempt never sent, or sent with none (so never
        // built into a request this gateway took), goes where the account says now.
        let fixed = payout.sent_at().is_some() && payout.gateway_fund_account_id.is_some();
        if self.gateway.requires_payout_account() && !fixed {
            match self.beneficiary(payout, account.as_ref()).await? {
                ready @ Beneficiary::Ready { .. } => destination = Some(ready),
                Beneficiary::Missing(reason) => missing_account = Some(reason),
                Beneficiary::Unverified => {
                    info!(event = "payout_unverified", payout_id = %payout.payout_id, user_id = payout.user_id, "the user's payout account is being verified; the payout waits");
                    return Err(Error::PayoutAccountUnverified {
                        user_id: payout.user_id,
                    });
                }
                Beneficiary::NotNow => return Ok(None),
            }
        }
        let mut claimed = self.claim(payout, destination, guard).await?;
        claimed.resend = payout.sent_at().is_some();
        claimed.account_revision = guard.revision;
        if let Some(reason) = missing_account {
            // Nothing to send: it fails at once, never blocking the queue, and goes back
            // to pending when the user saves an account.
            let mut next = settled(&claimed.payout);
            next.failure_reason = Some(reason.to_owned());
            claimed.missing_account = Some(next);
        }
        Ok(Some(claimed))
    }

    /// Where the payout's user is paid, registered at the gateway once per account
    /// revision and remembered on the account.
    async fn beneficiary(
        &self,
        payout: &Payout,
        account: Option<&PayoutAccount>,
    ) -> Result<Beneficiary> {
        let Some(account) = account else {
            return Ok(Beneficiary::Missing(PAYOUT_ACCOUNT_MISSING));
        };
        let mode = self
            .gateway
            .mode_for(account.destination.kind, payout.amount_paise);
        let ready = |fund_account_id| Beneficiary::Ready {
            fund_account_id,
            mode,
            destination: account.destination.masked.clone(),
            account_revision: account.revision,
        };
        match self.fund_account(account).await? {
            Registration::Ready(fund_account_id) => {
                self.verified(account, fund_account_id, ready).await
            }
            // RazorpayX will not take this account: the payout fails (it must not hold
            // up the queue) and comes back when the user saves another.
            Registration::Refused(why) => {
                warn!(event = "beneficiary_refused", payout_id = %payout.payout_id, user_id = payout.user_id, reason = %why, "the gateway refused the payout account");
                Ok(Beneficiary::Missing(PAYOUT_ACCOUNT_INVALID))
            }
            Registration::NotNow => Ok(Beneficiary::NotNow),
        }
    }

    /// The gateway's fund account for the account's revision: the one remembered, or
    /// one registered now and remembered on the account.
    async fn fund_account(&self, account: &PayoutAccount) -> Result<Registration> {
        if let Some(fund_account_id) = account.gateway_fund_account_id.clone() {
            return Ok(Registration::Ready(fund_account_id));
        }
        let ids = match self.gateway.register_beneficiary(account).await {
            Ok(ids) => ids,
            Err(GatewayError::Misconfigured(why)) => return Err(Error::Config(why)),
            Err(GatewayError::Refused(why)) => return Ok(Registration::Refused(why)),
            Err(err) => {
                warn!(event = "beneficiary_not_registered", user_id = account.user_id, error = %err, "could not register the payout account at the gateway; its payouts stay pending");
                return Ok(Registration::NotNow);
            }
        };
        // Only for the revision read: if the user saved another account meanwhile,
        // these ids are the old account's and must not be paid to.
        if !self
            .store
            .remember_gateway_ids(account.user_id, account.revision, &ids)
            .await?
        {
            return Ok(Registration::NotNow);
        }
        Ok(Registration::Ready(ids.fund_account_id))
    }

    /// Moves the check of a user's destination on (started, or asked about): whether
    /// their payouts may be taken now. A user without an account, or whose account the
    /// gateway refuses, may: taking the payout fails it for that.
    pub(super) async fn check_account(&self, user_id: u64) -> Result<bool> {
        let Some(account) = self.store.payout_account(user_id).await? else {
            return Ok(true);
        };
        let fund_account_id = match self.fund_account(&account).await? {
            Registration::Ready(fund_account_id) => fund_account_id,
            Registration::Refused(_) => return Ok(true),
            Registration::NotNow => return Ok(false),
        };
        let verdict = verification::check(
            self.store,
            self.gateway,
            &account,
            &fund_account_id,
            self.config.lease_secs,
        )
        .await?;
        Ok(verdict != Verdict::Waiting)
    }

    /// The beneficiary, once its destination is verified when accounts are
    /// (`PAYOUT_ACCOUNT_VALIDATION`): until then its payouts wait, and an account the
    /// check found invalid or under another name fails them.
    async fn verified(
        &self,
        account: &PayoutAccount,
        fund_account_id: String,
        ready: impl FnOnce(String) -> Beneficiary,
    ) -> Result<Beneficiary> {
        if !self.config.validate_accounts {
            return Ok(ready(fund_account_id));
        }
        Ok(
            match verification::check(
                self.store,
                self.gateway,
                account,
                &fund_account_id,
                self.config.lease_secs,
            )
            .await?
            {
                Verdict::Verified => ready(fund_account_id),
                Verdict::Waiting => Beneficiary::Unverified,
                Verdict::Invalid => Beneficiary::Missing(PAYOUT_ACCOUNT_INVALID),
            },
        )
    }

    /// Takes a pending payout under a lease; `destination` (where a gateway that pays
    /// people's accounts sends it) is fixed on it in the same write, which holds only
    /// while the account is as `guard` says.
    async fn claim(
        &self,
        payout: &Payout,
        destination: Option<Beneficiary>,
        guard: AccountGuard,
    ) -> Result<Claimed> {
        let now = Timestamp::now();
        let token = Uuid::new_v4().to_string();
        let mut next = payout.clone();
        if let Some(Beneficiary::Ready {
            fund_account_id,
            mode,
            destination,
            account_revision,
        }) = destination
        {
            next.gateway_fund_account_id = Some(fund_account_id);
            next.gateway_mode = Some(mode.to_owned());
            next.destination = Some(destination);
            next.account_revision = Some(account_revision);
        }
        // The attempt keeps the account it was first claimed under: a resend under its key
        // must be the same request. Only an attempt never sent is given one: one sent by
        // a version that did not record it went from the configured account, which it
        // keeps using (changing the account while such attempts are open is not safe;
        // docs/CONFIGURATION.md, RAZORPAYX_ACCOUNT_NUMBER).
        if next.gateway_account_number.is_none() && payout.sent_at().is_none() {
            next.gateway_account_number = self.gateway.paying_account().map(str::to_owned);
        }
        next.lease_expires_at = Some(now.plus_secs(self.config.lease_secs));
        next.processed_at = Some(now);
        // Marked before the call, in the claim itself: a holder that dies after reaching
        // the gateway leaves no other trace. The send before it is kept, for when this
        // one turns out to have created nothing.
        next.previous_sent_at = payout.sent_at();
        next.attempt_sent_at = Some(send_time(payout.sent_at(), now));
        next.first_sent_at = payout.first_sent_at.or(Some(now));
        next.updated_at = now;
        let payout = self
            .store
            .change_status_guarded(
                payout,
                StatusChange {
                    transition: Transition::Claim,
                    next,
                    lease: Lease::Acquire(&token),
                    gateway_status_not_in: None,
                },
                self.acting.as_ref(),
                Some(guard),
            )
            .await?;
        Ok(Claimed {
            payout,
            token,
            missing_account: None,
            resend: false,
            account_revision: None,
        })
    }
}

pub(super) struct Claimed {
    pub(super) payout: Payout,
    pub(super) token: String,
    /// Set when the user has no payout account: the failure to settle instead of paying.
    pub(super) missing_account: Option<Payout>,
    /// The attempt was sent before this claim: the gateway is asked about it before it
    /// is sent again (a gateway forgets keys after a while; RazorpayX after 7 days).
    pub(super) resend: bool,
    /// The account revision the claim was decided on (`None`: the user had none).
    pub(super) account_revision: Option<u64>,
}

enum Registration {
    Ready(String),
    /// The gateway will not take the account (its reason).
    Refused(String),
    NotNow,
}

enum Beneficiary {
    Ready {
        fund_account_id: String,
        mode: &'static str,
        /// Masked, for the payout's record and its emails.
        destination: String,
        account_revision: u64,
    },
    /// No account to pay to (`payout_account_missing`), or one the gateway refused or
    /// its check found wrong (`payout_account_invalid`).
    Missing(&'static str),
    /// Its destination is being verified: the payout waits, unclaimed.
    Unverified,
    NotNow,
}

/// When a claim records its send: now, but always after the send it follows, whatever
/// this machine's clock says. The lifecycle refuses a change that moves a send
/// earlier; a later send time only makes "no record" wait longer before it is
/// believed; and every claim changes the send that a cancel's write is conditioned on,
/// so a cancel that read the payout before this claim can never land after it (not
/// even when the claim's clock is behind, or in the same millisecond).
fn send_time(previous: Option<Timestamp>, now: Timestamp) -> Timestamp {
    match previous {
        Some(previous) if previous >= now => Timestamp::from_millis(previous.unix_millis() + 1),
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claims_send_is_always_after_the_one_it_follows() {
        let now = Timestamp::from_millis(1_000_000);
        assert_eq!(send_time(None, now), now);
        assert_eq!(send_time(Some(Timestamp::from_millis(999_000)), now), now);
        // The same millisecond, or a clock behind the one that wrote the last send.
        for previous in [1_000_000, 1_000_500] {
            let sent = send_time(Some(Timestamp::from_millis(previous)), now);
            assert_eq!(sent, Timestamp::from_millis(previous + 1));
        }
    }
}
