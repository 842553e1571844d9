//! The one-off migration of payout accounts kept where they were before they had a
//! key space of their own, and of destinations stored before they were sealed
//! (`cargo xtask migrate-payout-accounts`): the Scan of the old place, the move, and
//! the sealing in place.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use crate::{from_item, keys, n, s, sdk_error, to_attribute, to_item, with_key, written, Store};
use domain::account::{PayoutAccount, StoredDestination};
use domain::error::{Error, Result};

/// What a migration moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MigratedAccounts {
    pub accounts: usize,
    pub revisions: usize,
    /// Accounts already in their own key space whose destination was sealed.
    pub sealed_in_place: usize,
}

/// Where the migration's Scan of the old place has got to.
#[derive(Debug, Default)]
pub struct LegacyScan {
    start: Option<HashMap<String, AttributeValue>>,
    done: bool,
}

impl LegacyScan {
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// One page of that Scan.
#[derive(Debug, Default)]
pub struct LegacyPage {
    /// Accounts still at the old place, their destinations not sealed yet.
    pub accounts: Vec<PayoutAccount>,
    /// Accounts in their own key space whose destination is not sealed yet (saved
    /// between the move of accounts and the sealing of destinations).
    pub plain_in_place: Vec<PayoutAccount>,
    /// Revision records moved.
    pub revisions: usize,
}

impl Store {
    /// Seals, where it is, the destination of revision `revision` of an account saved
    /// before destinations were sealed: sets its masked form, fingerprint and (while the
    /// gateway holds no fund account) seal, and removes the number or VPA, touching
    /// nothing else (the gateway's ids, the check, a hold or its end). `false` when the
    /// account changed meanwhile: another revision, sealed already, or the gateway's
    /// ids set or not as `destination` expects.
    pub async fn seal_account_in_place(
        &self,
        user_id: u64,
        revision: u64,
        destination: &StoredDestination,
    ) -> Result<bool> {
        if destination.legacy().is_some() {
            return Err(Error::Invariant(format!(
                "user {user_id}'s payout destination must be sealed to be written"
            )));
        }
        let plain = "revision = :revision AND (attribute_exists(account_number) OR \
                     attribute_exists(address))";
        let update = self
            .update_account(user_id)
            .expression_attribute_values(":revision", n(revision))
            .expression_attribute_values(":masked", s(&destination.masked))
            .expression_attribute_values(":fingerprint", s(&destination.fingerprint));
        let update = match &destination.sealed {
            Some(sealed) => update
                .update_expression(
                    "SET destination_masked = :masked, destination_fingerprint = :fingerprint, \
                     destination_sealed = :sealed REMOVE account_number, address",
                )
                .condition_expression(format!(
                    "{plain} AND attribute_not_exists(gateway_fund_account_id)"
                ))
                .expression_attribute_values(":sealed", to_attribute(sealed)?),
            // The gateway holds it: nothing sealed is kept.
            None => update
                .update_expression(
                    "SET destination_masked = :masked, destination_fingerprint = :fingerprint \
                     REMOVE account_number, address",
                )
                .condition_expression(format!(
                    "{plain} AND attribute_exists(gateway_fund_account_id)"
                )),
        };
        written(update.send().await)
    }

    /// The account in its own key space only (not the fallback to the old place).
    pub async fn own_payout_account(&self, user_id: u64) -> Result<Option<PayoutAccount>> {
        self.get(&keys::account_pk(user_id), keys::ACCOUNT_SK).await
    }

    /// An account kept where accounts were before they had a key space of their own.
    pub async fn legacy_payout_account(&self, user_id: u64) -> Result<Option<PayoutAccount>> {
        self.get(&keys::user_pk(user_id), keys::LEGACY_ACCOUNT_SK)
            .await
    }

    /// One page of the migration's Scan of the old place (the account migration, a
    /// one-off: nothing on a request's path scans): its revision records are moved
    /// here, as they hold nothing sealed; its accounts are returned, for the caller
    /// to seal and move ([`Store::move_legacy_account`]).
    pub async fn legacy_accounts_page(&self, scan: &mut LegacyScan) -> Result<LegacyPage> {
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(
                "sk = :account OR begins_with(sk, :revision) OR (sk = :own AND \
                 (attribute_exists(account_number) OR attribute_exists(address)))",
            )
            .expression_attribute_values(":account", s(keys::LEGACY_ACCOUNT_SK))
            .expression_attribute_values(":revision", s(keys::LEGACY_ACCOUNT_REVISION_PREFIX))
            .expression_attribute_values(":own", s(keys::ACCOUNT_SK))
            .consistent_read(true)
            .set_exclusive_start_key(scan.start.take())
            .send()
            .await
            .map_err(|err| sdk_error(&err))?;
        let mut page = LegacyPage::default();
        for item in output.items.unwrap_or_default() {
            let sk = match item.get(keys::SK) {
                Some(AttributeValue::S(sk)) => sk.clone(),
                _ => continue,
            };
            if sk == keys::ACCOUNT_SK {
                page.plain_in_place.push(from_item(item)?);
            } else if sk == keys::LEGACY_ACCOUNT_SK {
                page.accounts.push(from_item(item)?);
            } else if let Some(new_sk) = keys::migrated_revision_sk(&sk) {
                self.move_revision(item, &new_sk).await?;
                page.revisions += 1;
            }
        }
        scan.done = output.last_evaluated_key.is_none();
        scan.start = output.last_evaluated_key;
        Ok(page)
    }

    /// Moves a legacy account, sealed by the caller, to its own key space: the new
    /// item must not exist and the old one must be the revision read. `false` when it
    /// was moved meanwhile (a save moves the account it reads).
    pub async fn move_legacy_account(&self, account: &PayoutAccount) -> Result<bool> {
        if account.destination.legacy().is_some() {
            return Err(Error::Invariant(format!(
                "user {}'s payout account must be sealed before it moves",
                account.user_id
            )));
        }
        let user_id = account.user_id;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(with_key(
                to_item(account)?,
                &keys::account_pk(user_id),
                keys::ACCOUNT_SK,
            )))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(Error::store)?;
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user_pk(user_id)))
            .key(keys::SK, s(keys::LEGACY_ACCOUNT_SK))
            .condition_expression("revision = :observed")
            .expression_attribute_values(":observed", n(account.revision))
            .build()
            .map_err(Error::store)?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().delete(delete).build(),
        ];
        self.transact_if(items).await
    }

    /// A revision record never changes once its account has moved (an admin's end of a
    /// hold writes the moved one), so a copy put twice is the same copy.
    async fn move_revision(
        &self,
        item: HashMap<String, AttributeValue>,
        new_sk: &str,
    ) -> Result<()> {
        let Some(AttributeValue::S(legacy_pk)) = item.get(keys::PK).cloned() else {
            return Ok(());
        };
        let Some(user_id) = legacy_pk
            .strip_prefix("USER#")
            .and_then(|id| id.parse::<u64>().ok())
        else {
            return Ok(());
        };
        let legacy_sk = match item.get(keys::SK) {
            Some(AttributeValue::S(sk)) => sk.clone(),
            _ => return Ok(()),
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(with_key(item, &keys::account_pk(user_id), new_sk)))
            .build()
            .map_err(Error::store)?;
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, s(legacy_pk))
            .key(keys::SK, s(legacy_sk))
            .build()
            .map_err(Error::store)?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().delete(delete).build(),
        ];
        self.transact_if(items).await.map(|_| ())
    }
}
