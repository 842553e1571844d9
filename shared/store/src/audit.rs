//! The record of admins' looks at users' payout accounts: one item per
//! look, under the user's own audit key and no index.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Store;
use domain::error::{Error, Result};
use domain::time::Timestamp;

/// How long the record of an admin's look at a user's payout account is kept: over a
/// year, so a yearly review finds every look of the year it covers.
pub const ACCOUNT_READ_KEPT_DAYS: u64 = 400;

const ACCOUNT_READ_SK_PREFIX: &str = "ACCOUNT_READ#";

/// Every look at one user's account under one key, and under no index: they are read
/// by that key (see docs/DATA_MODEL.md), never found by scanning for them.
fn account_reads_pk(user_id: u64) -> String {
    format!("AUDIT#USER#{user_id}")
}

/// An admin's look at a user's payout account (which holds where the user is paid).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRead {
    pub user_id: u64,
    pub actor_user_id: u64,
    pub at: Timestamp,
    /// Epoch seconds: the table's TTL deletes the record after
    /// [`ACCOUNT_READ_KEPT_DAYS`].
    pub expires_at: i64,
}

impl Store {
    /// Records `read`; each record is an item of its own (one per look), so nothing
    /// grows without bound and no look overwrites another.
    pub async fn record_account_read(&self, read: &AccountRead) -> Result<()> {
        let sk = format!("{ACCOUNT_READ_SK_PREFIX}{}#{}", read.at, Uuid::new_v4());
        if self
            .insert(&account_reads_pk(read.user_id), &sk, read)
            .await?
        {
            Ok(())
        } else {
            Err(Error::inconsistent(format!(
                "the record of a look at user {}'s payout account collided",
                read.user_id
            )))
        }
    }

    /// The looks at a user's payout account that are still kept, newest first, at most
    /// `limit` (for the operators and the tests).
    pub async fn account_reads(&self, user_id: u64, limit: i32) -> Result<Vec<AccountRead>> {
        let output = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(account_reads_pk(user_id)))
            .expression_attribute_values(
                ":prefix",
                AttributeValue::S(ACCOUNT_READ_SK_PREFIX.to_owned()),
            )
            .scan_index_forward(false)
            .limit(limit.max(1))
            .send()
            .await
            .map_err(|err| super::sdk_error(&err))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(Error::unreadable))
            .collect()
    }
}
