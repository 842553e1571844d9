//! The simulated bank's ledger: one transfer per idempotency key, kept in the table so
//! that the bank is idempotent across processes as a real gateway is, and listed by the
//! day it was made (`by_day`), as a real gateway lists its payouts. The transfer's shape
//! is the simulated gateway's; here it is only stored and read back.

use serde::de::DeserializeOwned;
use serde::Serialize;

use domain::error::Result;
use domain::payout::IdempotencyKey;
use domain::time::Timestamp;

use crate::keys::{self, DayFeed};
use crate::{key, s, to_item, with_key, Item, Store};

fn transfer_item<T: Serialize>(
    key: &IdempotencyKey,
    transfer: &T,
    made_at: Timestamp,
) -> Result<Item> {
    let mut item = with_key(
        to_item(transfer)?,
        &keys::gateway_pk(key.as_str()),
        keys::GATEWAY_SK,
    );
    let (day_pk, day_sk) = DayFeed::Simulated.keys(made_at, key.as_str());
    item.insert(keys::DAY_PK.to_owned(), s(day_pk));
    item.insert(keys::DAY_SK.to_owned(), s(day_sk));
    Ok(item)
}

impl Store {
    /// The transfer the simulated bank recorded under `key`, if any.
    pub async fn simulated_transfer<T: DeserializeOwned>(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<T>> {
        self.get(&keys::gateway_pk(key.as_str()), keys::GATEWAY_SK)
            .await
    }

    /// The transfers recorded under any of `keys`.
    pub async fn simulated_transfers<T: DeserializeOwned>(
        &self,
        transfer_keys: &[IdempotencyKey],
    ) -> Result<Vec<T>> {
        let wanted = transfer_keys
            .iter()
            .map(|transfer| key(keys::gateway_pk(transfer.as_str()), keys::GATEWAY_SK))
            .collect();
        self.get_many_as(wanted).await
    }

    /// The transfers the simulated bank made in `[from, to)`.
    pub async fn simulated_transfers_made<T: DeserializeOwned>(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<T>> {
        let found = self.day_feed_keys(DayFeed::Simulated, from, to).await?;
        self.get_many_as(found).await
    }

    /// Records the transfer under `key` unless one is recorded already; `false` when one
    /// was (the first stands).
    pub async fn record_simulated_transfer<T: Serialize>(
        &self,
        key: &IdempotencyKey,
        transfer: &T,
        made_at: Timestamp,
    ) -> Result<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(transfer_item(key, transfer, made_at)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        crate::written(result)
    }

    /// The bank's own hand (tests and the local stack): writes the transfer under `key`
    /// whatever is recorded there, as a bank's back office may.
    pub async fn overwrite_simulated_transfer<T: Serialize>(
        &self,
        key: &IdempotencyKey,
        transfer: &T,
        made_at: Timestamp,
    ) -> Result<()> {
        self.replace(transfer_item(key, transfer, made_at)?).await
    }

    /// The bank's own hand: forgets the transfer under `key`.
    pub async fn forget_simulated_transfer(&self, key: &IdempotencyKey) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::gateway_pk(key.as_str())))
            .key(keys::SK, s(keys::GATEWAY_SK))
            .send()
            .await
            .map_err(|err| crate::sdk_error(&err))?;
        Ok(())
    }
}
