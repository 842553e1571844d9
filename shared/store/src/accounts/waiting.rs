//! The markers of payouts that wait for an account to be sent to: put by the
//! transaction that fails a payout for want of one, deleted by the one that moves it
//! on, read (strongly consistent) by a save to send them round again.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{from_item, keys, s, sdk_error, to_item, with_key, Store};
use domain::error::{Error, Result};
use domain::payout::Payout;
use domain::time::Timestamp;

impl Store {
    /// Every payout of the user that failed for want of an account, by its marker:
    /// strongly consistent, so one failed just before this read is among them.
    pub async fn payouts_waiting_for_account(&self, user_id: u64) -> Result<Vec<Uuid>> {
        #[derive(Deserialize)]
        struct Marker {
            payout_id: Uuid,
        }
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(keys::user_pk(user_id)))
                .expression_attribute_values(":prefix", s(keys::WAITING_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| sdk_error(&err))?;
            for item in output.items.unwrap_or_default() {
                found.push(from_item::<Marker>(item)?.payout_id);
            }
            match output.last_evaluated_key {
                Some(last) => start = Some(last),
                None => return Ok(found),
            }
        }
    }

    /// Puts the marker of a payout that waits for an account (for payouts failed before
    /// markers were written; see `account::mark_waiting_payouts`). Putting it twice is
    /// putting it once.
    pub async fn put_waiting_marker(&self, payout: &Payout) -> Result<()> {
        let marker = Marker {
            payout_id: payout.payout_id,
            failed_at: payout.updated_at,
        };
        let item = with_key(
            to_item(&marker)?,
            &keys::user_pk(payout.user_id),
            &keys::waiting_sk(payout.payout_id),
        );
        self.replace(item).await
    }

    /// Deletes a marker whose payout no longer waits for an account.
    pub async fn delete_waiting_marker(&self, user_id: u64, payout_id: Uuid) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user_pk(user_id)))
            .key(keys::SK, s(keys::waiting_sk(payout_id)))
            .send()
            .await
            .map_err(|err| sdk_error(&err))?;
        Ok(())
    }
}

/// What marks a payout that waits for an account.
#[derive(Serialize)]
struct Marker {
    payout_id: Uuid,
    failed_at: Timestamp,
}

/// The marker a status change puts or deletes, when it makes the payout start or stop
/// waiting for an account.
pub(crate) fn waiting_item(
    table: &str,
    current: &Payout,
    next: &Payout,
) -> Result<Option<TransactWriteItem>> {
    let pk = keys::user_pk(current.user_id);
    let sk = keys::waiting_sk(current.payout_id);
    match (current.waits_for_account(), next.waits_for_account()) {
        (false, true) => {
            let marker = Marker {
                payout_id: current.payout_id,
                failed_at: next.updated_at,
            };
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(with_key(to_item(&marker)?, &pk, &sk)))
                .build()
                .map_err(Error::store)?;
            Ok(Some(TransactWriteItem::builder().put(put).build()))
        }
        (true, false) => {
            let delete = Delete::builder()
                .table_name(table)
                .key(keys::PK, AttributeValue::S(pk))
                .key(keys::SK, AttributeValue::S(sk))
                .build()
                .map_err(Error::store)?;
            Ok(Some(TransactWriteItem::builder().delete(delete).build()))
        }
        _ => Ok(None),
    }
}
