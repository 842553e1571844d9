//! Payout accounts as stored: the current account, the record of every saved revision,
//! and the markers of payouts that wait for an account to be sent to.
//!
//! A save is one transaction (the account, conditioned on the revision it replaces,
//! and its revision record), so history and account never disagree. A payout that
//! fails for want of an account puts its marker in the transaction that fails it, and
//! one that leaves `failed` deletes it in the transaction that moves it: a save reads
//! the markers with a strongly consistent query and finds every such payout, at a cost
//! of the number of them, not of the user's history.

mod legacy;
mod waiting;

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, KeysAndAttributes, Put, TransactWriteItem, Update,
};
use serde::Deserialize;

use super::transact::TransactFailure;
use super::{from_item, keys, n, s, sdk_error, to_item, with_key, written, Store};
use domain::account::BeneficiaryIds;
use domain::account::{AccountGate, AccountRevision, PayoutAccount, Verification};
use domain::error::{Conflict, Error, Result};
use domain::time::Timestamp;

pub use legacy::{LegacyPage, LegacyScan, MigratedAccounts};
pub(crate) use waiting::waiting_item;

/// How often a save that lost a race to another save builds again from the newer one.
const SAVE_RACE_RETRIES: usize = 5;

/// How many times a batch read asks again for the keys DynamoDB left unprocessed.
const UNPROCESSED_ROUNDS: usize = 5;

/// The account a claim was decided on: the claim is written only if it is still the
/// stored one (`revision: None`: the user had none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountGuard {
    pub user_id: u64,
    pub revision: Option<u64>,
}

/// Where an account is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kept {
    /// Its own key space (`ACCOUNT#`).
    Own,
    /// Under the user's partition, as before accounts had their own (not migrated yet).
    Legacy,
}

impl Store {
    /// An UpdateItem of the user's account in its own key space.
    fn update_account(
        &self,
        user_id: u64,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::account_pk(user_id)))
            .key(keys::SK, s(keys::ACCOUNT_SK))
    }
}

/// What a write over an account observed of it: the revision, and the check's step
/// (written without a new revision, by the processor or a webhook), so that it never
/// writes over a newer check.
fn observed(account: &PayoutAccount) -> (&'static str, HashMap<String, AttributeValue>) {
    match &account.verification {
        Some(verification) => (
            "revision = :observed AND verification.step = :step",
            HashMap::from([
                (":observed".to_owned(), n(account.revision)),
                (":step".to_owned(), n(verification.step)),
            ]),
        ),
        None => (
            "revision = :observed AND attribute_not_exists(verification)",
            HashMap::from([(":observed".to_owned(), n(account.revision))]),
        ),
    }
}

/// A save, with the account it replaced.
#[derive(Clone, Debug)]
pub struct SavedAccount {
    pub previous: Option<PayoutAccount>,
    pub saved: PayoutAccount,
}

impl Store {
    pub async fn payout_account(&self, user_id: u64) -> Result<Option<PayoutAccount>> {
        Ok(self
            .stored_account(user_id)
            .await?
            .map(|(account, _)| account))
    }

    /// The account and where it is kept: in its own key space, or (not migrated yet)
    /// under the user's partition. Writes other than a save go to the account's own
    /// key space only, so a legacy account is changed by nothing but a save (which
    /// moves it) or the migration, and a claim conditioned on it waits for either.
    async fn stored_account(&self, user_id: u64) -> Result<Option<(PayoutAccount, Kept)>> {
        if let Some(account) = self
            .get(&keys::account_pk(user_id), keys::ACCOUNT_SK)
            .await?
        {
            return Ok(Some((account, Kept::Own)));
        }
        Ok(self
            .get(&keys::user_pk(user_id), keys::LEGACY_ACCOUNT_SK)
            .await?
            .map(|account| (account, Kept::Legacy)))
    }

    /// The email on a user's payout account, read alone: `notify` may read no other
    /// attribute of the account (its IAM policy allows `email` only).
    pub async fn payout_account_email(&self, user_id: u64) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct EmailOnly {
            email: Option<String>,
        }
        let found: Option<EmailOnly> = match self
            .get_attributes(&keys::account_pk(user_id), keys::ACCOUNT_SK, &["email"])
            .await?
        {
            Some(found) => Some(found),
            None => {
                self.get_attributes(&keys::user_pk(user_id), keys::LEGACY_ACCOUNT_SK, &["email"])
                    .await?
            }
        };
        Ok(found.and_then(|account| account.email))
    }

    /// Remembers the gateway's ids for the account's `revision`, and drops the sealed
    /// destination: the gateway holds it now, and nothing reads it again. `false` if
    /// the user saved another account since (the ids belong to the old one).
    pub async fn remember_gateway_ids(
        &self,
        user_id: u64,
        revision: u64,
        ids: &BeneficiaryIds,
    ) -> Result<bool> {
        let result = self
            .update_account(user_id)
            .update_expression(
                "SET gateway_contact_id = :contact, gateway_fund_account_id = :fund_account \
                 REMOVE destination_sealed",
            )
            .condition_expression("revision = :revision")
            .expression_attribute_values(":contact", s(&ids.contact_id))
            .expression_attribute_values(":fund_account", s(&ids.fund_account_id))
            .expression_attribute_values(":revision", n(revision))
            .send()
            .await;
        written(result)
    }

    /// Saves the next revision of a user's account: `build` makes it from the stored
    /// one, and it is written, with its revision record, only if nobody saved in
    /// between (a lost race builds again from the newer account).
    ///
    /// The write only: what makes a save safe (the destination sealed, the hold after
    /// a change, the legacy account moved first, waiting payouts sent round) is
    /// `service::account::save_payout_account`, the one caller this may have. It is
    /// public because the store is a crate of its own; a save from anywhere else would
    /// skip the hold that stops a stolen session redirecting a user's money.
    pub async fn save_payout_account(
        &self,
        user_id: u64,
        build: impl Fn(Option<&PayoutAccount>, Timestamp) -> (PayoutAccount, AccountRevision),
    ) -> Result<SavedAccount> {
        let pk = keys::account_pk(user_id);
        for _ in 0..SAVE_RACE_RETRIES {
            let stored = self.stored_account(user_id).await?;
            // The caller moved an account not migrated yet (sealing it) before saving:
            // one here was written at the old place meanwhile, by a version still
            // rolling out.
            if let Some((_, Kept::Legacy)) = &stored {
                return Err(Error::Conflict(Conflict::Contended(format!(
                    "user {user_id}'s payout account was saved at its old place meanwhile; \
                     save it again"
                ))));
            }
            let previous = stored.as_ref().map(|(account, _)| account.clone());
            let (saved, record) = build(previous.as_ref(), Timestamp::now());
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(with_key(to_item(&saved)?, &pk, keys::ACCOUNT_SK)));
            let mut items = Vec::with_capacity(3);
            match &stored {
                Some((previous, _)) => {
                    let (condition, values) = observed(previous);
                    let put = put
                        .condition_expression(condition)
                        .set_expression_attribute_values(Some(values))
                        .build()
                        .map_err(Error::store)?;
                    items.push(TransactWriteItem::builder().put(put).build());
                }
                None => {
                    let put = put
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(Error::store)?;
                    items.push(TransactWriteItem::builder().put(put).build());
                }
            }
            let revision = Put::builder()
                .table_name(&self.table)
                .set_item(Some(with_key(
                    to_item(&record)?,
                    &pk,
                    &keys::account_revision_sk(saved.revision),
                )))
                .build()
                .map_err(Error::store)?;
            items.push(TransactWriteItem::builder().put(revision).build());
            match self.transact(items).await {
                Ok(()) => return Ok(SavedAccount { previous, saved }),
                Err(TransactFailure::ConditionFailed(_) | TransactFailure::Contended) => {}
                Err(TransactFailure::Other(err)) => return Err(err),
            }
        }
        Err(Error::Conflict(Conflict::Contended(
            "this payout account is being changed by another request; try again".to_owned(),
        )))
    }

    /// The user's saved revisions, newest first, at most `limit`.
    pub async fn payout_account_revisions(
        &self,
        user_id: u64,
        limit: usize,
    ) -> Result<Vec<AccountRevision>> {
        let mut revisions = self
            .newest_revisions(
                &keys::account_pk(user_id),
                keys::ACCOUNT_REVISION_PREFIX,
                limit,
            )
            .await?;
        // Not migrated yet: the older ones are still under the user's partition.
        if revisions.len() < limit {
            let older = self
                .newest_revisions(
                    &keys::user_pk(user_id),
                    keys::LEGACY_ACCOUNT_REVISION_PREFIX,
                    limit - revisions.len(),
                )
                .await?;
            revisions.extend(older);
        }
        Ok(revisions)
    }

    async fn newest_revisions(
        &self,
        pk: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<AccountRevision>> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, 100)).unwrap_or(100))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| sdk_error(&err))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// What may keep these users' payouts waiting: each one's hold and where the check
    /// of their destination stands (users without an account are left out). One
    /// strongly consistent BatchGetItem per hundred users, reading only those.
    pub async fn account_gates(
        &self,
        user_ids: &HashSet<u64>,
    ) -> Result<HashMap<u64, AccountGate>> {
        let mut gates = self
            .gates_at(user_ids, |user_id| {
                (keys::account_pk(user_id), keys::ACCOUNT_SK)
            })
            .await?;
        // Accounts not migrated yet (and users with none: one more read, for them only).
        let unfound: HashSet<u64> = user_ids
            .iter()
            .copied()
            .filter(|user_id| !gates.contains_key(user_id))
            .collect();
        if !unfound.is_empty() {
            let legacy = self
                .gates_at(&unfound, |user_id| {
                    (keys::user_pk(user_id), keys::LEGACY_ACCOUNT_SK)
                })
                .await?;
            gates.extend(legacy.into_iter().map(|(user_id, gate)| {
                (
                    user_id,
                    AccountGate {
                        not_migrated: true,
                        ..gate
                    },
                )
            }));
        }
        Ok(gates)
    }

    async fn gates_at(
        &self,
        user_ids: &HashSet<u64>,
        key_of: impl Fn(u64) -> (String, &'static str),
    ) -> Result<HashMap<u64, AccountGate>> {
        let mut gates = HashMap::new();
        let ids: Vec<u64> = user_ids.iter().copied().collect();
        for chunk in ids.chunks(100) {
            let mut keys_left: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|user_id| {
                    let (pk, sk) = key_of(*user_id);
                    HashMap::from([(keys::PK.to_owned(), s(pk)), (keys::SK.to_owned(), s(sk))])
                })
                .collect();
            // Keys DynamoDB leaves unprocessed under load are asked for again.
            for _ in 0..UNPROCESSED_ROUNDS {
                if keys_left.is_empty() {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys_left)))
                    .projection_expression(
                        "user_id, hold_until, verification.#status, verification.failure",
                    )
                    .expression_attribute_names("#status", "status")
                    .consistent_read(true)
                    .build()
                    .map_err(Error::store)?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|err| sdk_error(&err))?;
                for item in output
                    .responses
                    .and_then(|mut tables| tables.remove(&self.table))
                    .unwrap_or_default()
                {
                    let gate: AccountGate = from_item(item)?;
                    gates.insert(gate.user_id, gate);
                }
                keys_left = output
                    .unprocessed_keys
                    .and_then(|mut tables| tables.remove(&self.table))
                    .map(|left| left.keys)
                    .unwrap_or_default();
            }
            if !keys_left.is_empty() {
                return Err(Error::store(
                    "DynamoDB left payout accounts unread after every retry".to_owned(),
                ));
            }
        }
        Ok(gates)
    }

    /// Writes the check of the account's destination, only while the account is still
    /// `revision` and its check is still the one read (`step`, `None`: there was none):
    /// `false` when another writer got there first, which the caller reads again.
    pub async fn put_verification(
        &self,
        user_id: u64,
        revision: u64,
        read_step: Option<u64>,
        verification: &Verification,
    ) -> Result<bool> {
        let value = serde_dynamo::to_attribute_value(verification).map_err(Error::unreadable)?;
        let update = self
            .update_account(user_id)
            .update_expression("SET verification = :verification")
            .expression_attribute_values(":verification", value)
            .expression_attribute_values(":revision", n(revision));
        let update = match read_step {
            Some(step) => update
                .condition_expression("revision = :revision AND verification.step = :step")
                .expression_attribute_values(":step", n(step)),
            None => update.condition_expression(
                "revision = :revision AND attribute_not_exists(verification)",
            ),
        };
        written(update.send().await)
    }

    /// Ends the hold on the account as of `revision` (an admin's decision), recorded
    /// with the admin's id and the time on the account and on the revision's record in
    /// the same transaction; `false` when the account is no longer that revision or
    /// holds nothing.
    pub async fn end_account_hold(
        &self,
        user_id: u64,
        revision: u64,
        admin_user_id: u64,
        at: Timestamp,
    ) -> Result<bool> {
        let pk = keys::account_pk(user_id);
        let ended = |sk: String| {
            Update::builder()
                .table_name(&self.table)
                .key(keys::PK, s(&pk))
                .key(keys::SK, s(sk))
                .update_expression("SET hold_ended_by = :admin, hold_ended_at = :at")
                .expression_attribute_values(":admin", n(admin_user_id))
                .expression_attribute_values(":at", s(at.to_string()))
        };
        let account = ended(keys::ACCOUNT_SK.to_owned())
            .update_expression("SET hold_ended_by = :admin, hold_ended_at = :at REMOVE hold_until")
            .condition_expression("revision = :revision AND attribute_exists(hold_until)")
            .expression_attribute_values(":revision", n(revision))
            .build()
            .map_err(Error::store)?;
        let record = ended(keys::account_revision_sk(revision))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(Error::store)?;
        let items = vec![
            TransactWriteItem::builder().update(account).build(),
            TransactWriteItem::builder().update(record).build(),
        ];
        self.transact_if(items).await
    }
}

/// The transaction item that makes a claim wait for no save: the account is still the
/// revision the claim was decided on.
pub(crate) fn guard_item(table: &str, guard: AccountGuard) -> Result<TransactWriteItem> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .key(keys::PK, s(keys::account_pk(guard.user_id)))
        .key(keys::SK, s(keys::ACCOUNT_SK));
    let check = match guard.revision {
        Some(revision) => check
            .condition_expression("revision = :revision")
            .expression_attribute_values(":revision", n(revision)),
        None => check.condition_expression("attribute_not_exists(pk)"),
    };
    Ok(TransactWriteItem::builder()
        .condition_check(check.build().map_err(Error::store)?)
        .build())
}
