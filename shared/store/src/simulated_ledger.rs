//! The simulated bank's ledger: one transfer per idempotency key, kept in the table so
//! that the bank is idempotent across processes as a real gateway is. The transfer's
//! shape is the simulated gateway's; here it is only stored and read back.

use serde::de::DeserializeOwned;
use serde::Serialize;

use domain::error::Result;
use domain::payout::IdempotencyKey;

use crate::{keys, Store};

impl Store {
    /// The transfer the simulated bank recorded under `key`, if any.
    pub async fn simulated_transfer<T: DeserializeOwned>(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<T>> {
        self.get(&keys::gateway_pk(key.as_str()), keys::GATEWAY_SK)
            .await
    }

    /// Records the transfer under `key` unless one is recorded already; `false` when one
    /// was (the first stands).
    pub async fn record_simulated_transfer<T: Serialize>(
        &self,
        key: &IdempotencyKey,
        transfer: &T,
    ) -> Result<bool> {
        self.insert(&keys::gateway_pk(key.as_str()), keys::GATEWAY_SK, transfer)
            .await
    }
}
