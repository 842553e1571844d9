//! Saving, reading and migrating payout accounts: the use cases over the account
//! types in [`domain::account`], which this module re-exports so that callers name
//! one place.

use tracing::info;

pub use domain::account::*;

use crate::process::send_round_again;
use domain::actor::Actor;
use domain::error::{Conflict, Error, Result};
use domain::payout::PayoutStatus;
use domain::time::Timestamp;
use platform::vault::Vault;
use store::{LegacyScan, MigratedAccounts, PayoutIndex, SavedAccount, Store};

/// Saves the caller's own payout account as its next revision.
///
/// A save that changes where the money goes, or the email that hears about it, of an
/// account the user had already saved starts a hold of `hold_secs` (none when 0): the
/// processor sends none of the user's payouts until it ends, so a stolen session that
/// redirects them is noticed (both addresses are emailed, from the table's stream)
/// before any money follows. The first account a user saves is no change. A save that
/// changes neither keeps the hold as it was, so it cannot be used to end one.
///
/// The destination is sealed by `vault` before it is stored. The gateway's contact and
/// fund account are kept only when the name and destination are the same (RazorpayX's
/// fund accounts are immutable), and then nothing sealed is kept either: the gateway
/// already holds the destination. Otherwise the next payout registers the new ones.
pub async fn save_payout_account(
    store: &Store,
    vault: &Vault,
    actor: &Actor,
    account: NewPayoutAccount,
    hold_secs: u64,
) -> Result<PayoutAccount> {
    let user_id = actor.user_id;
    // An account not migrated yet moves first, as the migration moves it, and is then
    // saved over like any other: the save is a change of a stored account in the
    // table's stream (old and new image), so its notice goes out.
    if let Some(legacy) = store.legacy_payout_account(user_id).await? {
        move_legacy_account(store, vault, legacy).await?;
    } else {
        // Saved in its own key space before destinations were sealed: sealed where it
        // is first, so that the save compares fingerprints (the same destination is no
        // change) and the stream shows no change of destination.
        seal_if_plain(store, vault, user_id).await?;
    }
    let sealed = vault.seal(user_id, &account.destination).await?;
    let SavedAccount { previous, saved } = store
        .save_payout_account(user_id, |previous, now| {
            let changed = previous.is_some_and(|previous| {
                !previous.destination.same_as(&sealed) || previous.email != account.email
            });
            let hold_until = if changed && hold_secs > 0 {
                Some(now.plus_secs(hold_secs))
            } else {
                previous.and_then(|previous| previous.hold_at(now))
            };
            let same_beneficiary = previous.filter(|previous| {
                previous.destination.same_as(&sealed) && previous.name == account.name
            });
            let saved = PayoutAccount {
                user_id,
                name: account.name.clone(),
                destination: sealed.clone(),
                email: account.email.clone(),
                revision: previous.map_or(1, |previous| previous.revision.saturating_add(1)),
                gateway_contact_id: same_beneficiary
                    .and_then(|previous| previous.gateway_contact_id.clone()),
                gateway_fund_account_id: same_beneficiary
                    .and_then(|previous| previous.gateway_fund_account_id.clone()),
                updated_at: now,
                hold_until,
                saved_by: Some(actor.user_id),
                hold_ended_by: None,
                hold_ended_at: None,
                // The check was of the fund account, which is kept exactly when the
                // name and destination are.
                verification: same_beneficiary.and_then(|previous| previous.verification.clone()),
            }
            .without_raw_once_registered();
            let record = AccountRevision::of(&saved, changed);
            (saved, record)
        })
        .await?;
    let requeued = requeue_waiting_payouts(store, user_id).await?;
    info!(
        event = "payout_account_saved",
        user_id,
        account_type = saved.destination.kind.as_str(),
        revision = saved.revision,
        first = previous.is_none(),
        hold_until = saved
            .hold_until
            .map(|until| until.to_string())
            .unwrap_or_default(),
        requeued,
        "payout account saved"
    );
    Ok(saved)
}
/// Seals an account kept where accounts were before they were sealed, and moves it to
/// its own key space. `false` when it was moved meanwhile.
async fn move_legacy_account(store: &Store, vault: &Vault, legacy: PayoutAccount) -> Result<bool> {
    let Some(destination) = legacy.destination.legacy() else {
        return Ok(false);
    };
    let sealed = vault.seal(legacy.user_id, destination).await?;
    let moved = PayoutAccount {
        destination: sealed,
        ..legacy
    }
    .without_raw_once_registered();
    store.move_legacy_account(&moved).await
}

/// How often a seal in place that lost a race to another write reads the account again.
const SEAL_RETRIES: usize = 5;

/// Seals the destination of an account saved in its own key space before destinations
/// were sealed, where it is, as the same revision; read again if it changed meanwhile.
/// `false` when there was nothing to seal.
async fn seal_if_plain(store: &Store, vault: &Vault, user_id: u64) -> Result<bool> {
    for _ in 0..SEAL_RETRIES {
        let Some(plain) = store.own_payout_account(user_id).await? else {
            return Ok(false);
        };
        let Some(destination) = plain.destination.legacy() else {
            return Ok(false);
        };
        let mut sealed = vault.seal(user_id, destination).await?;
        if plain.gateway_fund_account_id.is_some() {
            sealed.sealed = None;
        }
        if store
            .seal_account_in_place(user_id, plain.revision, &sealed)
            .await?
        {
            return Ok(true);
        }
    }
    Err(Error::Conflict(Conflict::Contended(format!(
        "user {user_id}'s payout account kept changing while it was being sealed; try again"
    ))))
}

/// Moves every account and revision record kept where accounts were before they had
/// a key space of their own, sealing each destination on the way, and seals the
/// accounts saved in their own key space before destinations were sealed (`cargo
/// xtask migrate-payout-accounts`, once after deploying). Run again, it finds nothing
/// left.
pub async fn migrate_legacy_accounts(store: &Store, vault: &Vault) -> Result<MigratedAccounts> {
    let mut migrated = MigratedAccounts::default();
    let mut scan = LegacyScan::default();
    loop {
        let page = store.legacy_accounts_page(&mut scan).await?;
        migrated.revisions += page.revisions;
        for account in page.accounts {
            if move_legacy_account(store, vault, account).await? {
                migrated.accounts += 1;
            }
        }
        for account in page.plain_in_place {
            if seal_if_plain(store, vault, account.user_id).await? {
                migrated.sealed_in_place += 1;
            }
        }
        if scan.is_done() {
            return Ok(migrated);
        }
    }
}

/// The user's payouts that failed for want of an account go back to the queue, each as
/// a new attempt (the failed one never reached the gateway), each a conditional write:
/// one changed meanwhile is left as it is. Found by their markers, so the cost is the
/// number of them; a payout failed after this read is sent round by the processor,
/// which reads the account again after failing one (see `process`).
async fn requeue_waiting_payouts(store: &Store, user_id: u64) -> Result<usize> {
    let mut requeued = 0;
    for payout_id in store.payouts_waiting_for_account(user_id).await? {
        let Some(payout) = store.payout(payout_id).await? else {
            continue;
        };
        // A marker left by the one-off backfill racing a retry: nothing waits.
        if !payout.waits_for_account() {
            store.delete_waiting_marker(user_id, payout_id).await?;
            continue;
        }
        match send_round_again(store, &payout).await {
            Ok(_) => requeued += 1,
            Err(Error::InvalidTransition { .. } | Error::Conflict(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(requeued)
}

/// Puts the marker of every payout that failed for want of an account before markers
/// were written with the failure (versions before 2026-12-05), so that its user's next
/// save finds it. Reads the failed payouts a page at a time; run once after deploying
/// (`cargo xtask mark-waiting-payouts`). Returns how many it marked.
pub async fn mark_waiting_payouts(store: &Store) -> Result<usize> {
    let mut marked = 0;
    let mut start = None;
    loop {
        let page = store
            .query_payouts(
                &PayoutIndex::Status(PayoutStatus::Failed),
                false,
                100,
                start,
            )
            .await?;
        for payout in page
            .payouts
            .iter()
            .filter(|payout| payout.waits_for_account())
        {
            store.put_waiting_marker(payout).await?;
            marked += 1;
        }
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(marked),
        }
    }
}

/// Ends a user's hold at once, on an admin's word (support has confirmed with the user
/// that the change was theirs); recorded in the audit log by the caller's route.
pub async fn end_hold(store: &Store, actor: &Actor, user_id: u64) -> Result<PayoutAccount> {
    actor.require_admin()?;
    let account = store
        .payout_account(user_id)
        .await?
        .ok_or(Error::PayoutAccountMissing { user_id })?;
    let now = Timestamp::now();
    if account.hold_at(now).is_none() {
        return Err(Error::Conflict(Conflict::Refused(format!(
            "user {user_id}'s payout account is not on hold"
        ))));
    }
    if !store
        .end_account_hold(user_id, account.revision, actor.user_id, now)
        .await?
    {
        return Err(Error::Conflict(Conflict::Stale(format!(
            "user {user_id}'s payout account changed meanwhile; read it again"
        ))));
    }
    info!(
        event = "payout_account_hold_ended",
        user_id,
        admin_user_id = actor.user_id,
        revision = account.revision,
        "an admin ended a payout account hold"
    );
    Ok(PayoutAccount {
        hold_until: None,
        hold_ended_by: Some(actor.user_id),
        hold_ended_at: Some(now),
        ..account
    })
}

/// How many revisions an account view lists.
pub const REVISIONS_SHOWN: usize = 20;

/// An account as its owner and admins see it: masked, with its saved revisions.
#[derive(Clone, Debug)]
pub struct AccountView {
    pub account: PayoutAccount,
    /// Newest first, at most [`REVISIONS_SHOWN`].
    pub revisions: Vec<AccountRevision>,
}

/// The caller's own account, or (for an admin) any user's, with its history.
pub async fn payout_account_of(store: &Store, actor: &Actor, user_id: u64) -> Result<AccountView> {
    actor.require_owner(user_id, "this payout account")?;
    let (account, revisions) = tokio::try_join!(
        store.payout_account(user_id),
        store.payout_account_revisions(user_id, REVISIONS_SHOWN)
    )?;
    let account = account.ok_or(Error::PayoutAccountMissing { user_id })?;
    Ok(AccountView { account, revisions })
}
