//! Reading many items by key: `BatchGetItem`, a hundred keys a request and a few
//! requests at a time, asking again for the keys DynamoDB leaves unprocessed.

use aws_sdk_dynamodb::types::KeysAndAttributes;
use futures::{StreamExt, TryStreamExt};

use crate::{built, Item, Store};
use domain::error::{Error, Result};

/// BatchGetItem takes at most 100 keys.
const BATCH_GET_MAX: usize = 100;
const BATCH_GET_ROUNDS: usize = 8;
/// Requests in flight at once: enough to hide the round trip, few enough that a large
/// read does not throttle the table for everyone else.
const BATCH_GET_PARALLEL: usize = 4;

impl Store {
    /// Every item of `keys` that exists (strongly consistent), in no set order.
    pub(crate) async fn get_many(&self, keys: Vec<Item>) -> Result<Vec<Item>> {
        let chunks: Vec<Vec<Item>> = keys.chunks(BATCH_GET_MAX).map(<[Item]>::to_vec).collect();
        let pages: Vec<Vec<Item>> = futures::stream::iter(chunks)
            .map(|chunk| self.batch_get(chunk))
            .buffer_unordered(BATCH_GET_PARALLEL)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// [`Store::get_many`], each item read as a `T`.
    pub(crate) async fn get_many_as<T: serde::de::DeserializeOwned>(
        &self,
        keys: Vec<Item>,
    ) -> Result<Vec<T>> {
        self.get_many(keys)
            .await?
            .into_iter()
            .map(crate::from_item)
            .collect()
    }

    /// One BatchGetItem of up to 100 keys, asking again for any it left unprocessed.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>> {
        let mut found = Vec::new();
        let mut pending = keys;
        for round in 0..BATCH_GET_ROUNDS {
            if pending.is_empty() {
                return Ok(found);
            }
            if round > 0 {
                // Unprocessed keys mean throttling: back off before asking again.
                tokio::time::sleep(std::time::Duration::from_millis(20 << round)).await;
            }
            let request = built(
                KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build(),
            )?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|err| crate::sdk_error(&err))?;
            if let Some(mut responses) = output.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = output
                .unprocessed_keys
                .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                .map(|left| left.keys)
                .unwrap_or_default();
        }
        if pending.is_empty() {
            Ok(found)
        } else {
            Err(Error::store(format!(
                "{} items stayed unread after {BATCH_GET_ROUNDS} rounds of BatchGetItem",
                pending.len()
            )))
        }
    }
}
