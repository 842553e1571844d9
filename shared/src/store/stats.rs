//! Payout counters, kept in the same transaction as every payout's creation and status
//! change, so that the numbers of `GET /payouts/stats` cost the same for ten payouts as
//! for ten million and are never out of step with the payouts themselves.
//!
//! | item                              | pk            | sk                    |
//! |-----------------------------------|---------------|-----------------------|
//! | totals per status and type        | `STATS#<n>`   | `COUNTERS`            |
//! | completed / failed in an hour     | `STATS#<n>`   | `HOUR#<yyyy-mm-ddThh>` |
//! | completed / failed in a day       | `STATS#<n>`   | `DAY#<yyyy-mm-dd>`    |
//!
//! Each payout writes to one shard `n` (of [`STATS_SHARDS`]), chosen by its id: the
//! processor settles `PROCESS_CONCURRENCY` payouts at once, and transactions that
//! touch the same item at the same moment cancel each other (and are retried), so one
//! counter item would serialise the whole batch. Readers add the shards up.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::keys;
use super::payouts::{built, key, update_item};
use super::{n, Item, Store};
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// Shards of every counter. Eight keep two of ten concurrent settles on the same item
/// only now and then (and a clash is retried); a read of the stats costs
/// `8 × (1 + 25 + 8)` small items, in three batched reads.
pub const STATS_SHARDS: u128 = 8;

/// Hour and day buckets are kept a little over the longest window read (7 days).
const BUCKET_KEPT_SECS: i64 = 9 * 86_400;

/// BatchGetItem takes at most 100 keys.
const BATCH_GET_MAX: usize = 100;
const BATCH_GET_ROUNDS: usize = 8;

/// Which hour and day bucket an instant falls in (UTC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buckets {
    pub hour: String,
    pub day: String,
}

impl Buckets {
    pub fn of(at: DateTime<Utc>) -> Self {
        Buckets {
            hour: at.format("%Y-%m-%dT%H").to_string(),
            day: at.format("%Y-%m-%d").to_string(),
        }
    }
}

/// Which counter item a [`CounterItem`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CounterBucket {
    Totals,
    Hour(String),
    Day(String),
}

/// One counter item of one shard: its counters by name (`pending_count`,
/// `completed_paise`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterItem {
    pub bucket: CounterBucket,
    pub values: HashMap<String, i128>,
}

impl CounterItem {
    fn from_item(item: &Item) -> Option<Self> {
        let sk = match item.get(keys::SK) {
            Some(AttributeValue::S(sk)) => sk,
            _ => return None,
        };
        let bucket = if sk == keys::STATS_TOTALS_SK {
            CounterBucket::Totals
        } else if let Some(hour) = sk.strip_prefix(keys::STATS_HOUR_PREFIX) {
            CounterBucket::Hour(hour.to_owned())
        } else {
            CounterBucket::Day(sk.strip_prefix(keys::STATS_DAY_PREFIX)?.to_owned())
        };
        let values = item
            .iter()
            .filter(|(name, _)| name.as_str() != keys::EXPIRES_AT)
            .filter_map(|(name, value)| match value {
                AttributeValue::N(number) => Some((name.clone(), number.parse().ok()?)),
                _ => None,
            })
            .collect();
        Some(CounterItem { bucket, values })
    }
}

/// What one payout write does to the counters: `deltas` on its shard's totals, and,
/// when it lands in a status that is counted by time (`completed`, `failed`), `event`
/// added to that status's hour and day buckets.
pub(super) struct CounterChange<'a> {
    pub deltas: Vec<(String, i128)>,
    pub event: Option<(&'a str, i128)>,
    pub at: Timestamp,
}

impl Store {
    /// The counter writes of one payout write: none when nothing is counted.
    pub(super) fn counter_updates(
        &self,
        change: CounterChange<'_>,
    ) -> Result<Vec<TransactWriteItem>> {
        // Any shard will do: readers add them all up. A random one spreads concurrent
        // writers, and a retry after contention lands elsewhere.
        let shard = rand::random_range(0..STATS_SHARDS);
        let pk = keys::stats_pk(shard);
        let mut updates = Vec::new();
        let deltas: Vec<&(String, i128)> = change
            .deltas
            .iter()
            .filter(|(_, delta)| *delta != 0)
            .collect();
        if !deltas.is_empty() {
            let mut names = HashMap::new();
            let mut values = HashMap::new();
            let mut parts = Vec::new();
            for (index, (attribute, delta)) in deltas.iter().enumerate() {
                names.insert(format!("#c{index}"), attribute.clone());
                values.insert(format!(":c{index}"), n(delta));
                parts.push(format!("#c{index} :c{index}"));
            }
            updates.push(update_item(built(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(pk.clone(), keys::STATS_TOTALS_SK)))
                    .update_expression(format!("ADD {}", parts.join(", ")))
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .build(),
            )?));
        }
        if let Some((status, amount)) = change.event {
            let at = change.at.as_utc();
            let buckets = Buckets::of(at);
            let expires = at.timestamp() + BUCKET_KEPT_SECS;
            for sk in [
                format!("{}{}", keys::STATS_HOUR_PREFIX, buckets.hour),
                format!("{}{}", keys::STATS_DAY_PREFIX, buckets.day),
            ] {
                updates.push(update_item(built(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(pk.clone(), &sk)))
                        .update_expression(
                            "ADD #count :one, #paise :amount SET #expires = :expires",
                        )
                        .expression_attribute_names("#count", format!("{status}_count"))
                        .expression_attribute_names("#paise", format!("{status}_paise"))
                        .expression_attribute_names("#expires", keys::EXPIRES_AT)
                        .expression_attribute_values(":one", n(1))
                        .expression_attribute_values(":amount", n(amount))
                        .expression_attribute_values(":expires", n(expires))
                        .build(),
                )?));
            }
        }
        Ok(updates)
    }

    /// Replaces the totals: `totals` in shard 0, nothing in the others. Only for a
    /// recount with every writer stopped: a write between the count and this would be
    /// lost from the counters.
    pub async fn replace_counter_totals(&self, totals: &HashMap<String, i128>) -> Result<()> {
        for shard in 0..STATS_SHARDS {
            let mut item: Item = HashMap::new();
            item.insert(
                keys::PK.to_owned(),
                AttributeValue::S(keys::stats_pk(shard)),
            );
            item.insert(
                keys::SK.to_owned(),
                AttributeValue::S(keys::STATS_TOTALS_SK.to_owned()),
            );
            if shard == 0 {
                for (name, value) in totals {
                    item.insert(name.clone(), n(value));
                }
            }
            self.replace(item).await?;
        }
        Ok(())
    }

    /// Every shard's totals item and, for each of `hours` and `days`, every shard's
    /// bucket: the items that exist (a bucket nothing happened in does not).
    pub async fn stats_items(&self, hours: &[String], days: &[String]) -> Result<Vec<CounterItem>> {
        let mut wanted = Vec::new();
        for shard in 0..STATS_SHARDS {
            let pk = keys::stats_pk(shard);
            wanted.push(key(pk.clone(), keys::STATS_TOTALS_SK));
            for hour in hours {
                wanted.push(key(
                    pk.clone(),
                    &format!("{}{hour}", keys::STATS_HOUR_PREFIX),
                ));
            }
            for day in days {
                wanted.push(key(pk.clone(), &format!("{}{day}", keys::STATS_DAY_PREFIX)));
            }
        }
        let reads = wanted
            .chunks(BATCH_GET_MAX)
            .map(|chunk| self.batch_get(chunk.to_vec()));
        let pages = futures::future::try_join_all(reads).await?;
        Ok(pages
            .iter()
            .flatten()
            .filter_map(CounterItem::from_item)
            .collect())
    }

    /// One BatchGetItem of up to 100 keys, asking again for any it left unprocessed.
    async fn batch_get(&self, keys: Vec<HashMap<String, AttributeValue>>) -> Result<Vec<Item>> {
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
            // Consistent: the dashboard reads the stats right after an action.
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
                .map_err(|err| super::sdk_error(&err))?;
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
            Err(Error::Store(format!(
                "{} counter items stayed unread after {BATCH_GET_ROUNDS} rounds",
                pending.len()
            )))
        }
    }
}
