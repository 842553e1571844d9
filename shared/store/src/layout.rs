//! Which layout of the payout and schedule indexes is read. A table made before the
//! sharded indexes holds items that lack their keys, and the sharded indexes are
//! incomplete until `cargo xtask migrate` has given every one its keys; until then the
//! legacy single-partition indexes are read, which are complete, because every write
//! carries both layouts' keys. The migration ends by writing one marker item
//! ([`keys::LAYOUT_PK`]); a store reads the sharded indexes while it finds it there.
//! A new table is marked when it is made (there is nothing to move).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::{keys, s, Item, PageKey, Store};
use domain::error::{Error, Result};
use domain::payout::PayoutStatus;
use domain::time::Timestamp;

/// How long a store trusts what it last learnt of the marker before it looks again:
/// the marker's coming (the migration's end) and its going (`cargo xtask migrate
/// --unmark`, before the indexes are stepped down for a rollback past this version)
/// reach every warm Lambda within this, at one read a minute each.
const LOOK_AGAIN: Duration = Duration::from_secs(60);

/// What a store last learnt of the marker, and when. Either answer is safe to act on
/// for a minute while this version is the only writer: every write carries both
/// layouts' keys, so both are complete once the marker has been written.
#[derive(Debug)]
pub(crate) struct LayoutSeen {
    look_again: Duration,
    last: Mutex<Option<(bool, Instant)>>,
}

impl LayoutSeen {
    fn every(look_again: Duration) -> Self {
        LayoutSeen {
            look_again,
            last: Mutex::new(None),
        }
    }
}

impl Default for LayoutSeen {
    fn default() -> Self {
        LayoutSeen::every(LOOK_AGAIN)
    }
}

/// The marker: when the table's every payout and schedule had the sharded keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardedSince {
    pub sharded_at: Timestamp,
}

impl Store {
    /// Looks at the marker every `every` instead of every minute (a test that takes it
    /// away and watches one store follow).
    pub fn with_layout_looked_at_every(mut self, every: Duration) -> Self {
        self.layout = std::sync::Arc::new(LayoutSeen::every(every));
        self
    }

    /// Whether the sharded indexes are read ([`LOOK_AGAIN`] at most out of date). A
    /// look that fails keeps the last answer, if there is one, and the next call looks
    /// again: a throttled read of the marker fails no request that knew the layout.
    pub(crate) async fn reads_sharded(&self) -> Result<bool> {
        let last = *self
            .layout
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((sharded, at)) = last {
            if at.elapsed() < self.layout.look_again {
                return Ok(sharded);
            }
        }
        let sharded = match self.sharded_since().await {
            Ok(marker) => marker.is_some(),
            Err(err) => return last.map(|(sharded, _)| sharded).ok_or(err),
        };
        *self
            .layout
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((sharded, Instant::now()));
        Ok(sharded)
    }

    /// The marker, if the table has moved to the sharded indexes.
    pub async fn sharded_since(&self) -> Result<Option<ShardedSince>> {
        self.get(keys::LAYOUT_PK, keys::LAYOUT_SK).await
    }

    /// Marks the table as moved: only once every payout and schedule has the sharded
    /// keys and the sharded indexes are active. `false` when it was marked already.
    pub async fn mark_sharded(&self, at: Timestamp) -> Result<bool> {
        self.insert(
            keys::LAYOUT_PK,
            keys::LAYOUT_SK,
            &ShardedSince { sharded_at: at },
        )
        .await
    }

    /// Takes the marker away: every store reads the legacy indexes again at its next
    /// look, within a minute (the first step of a rollback past this version, before
    /// the sharded indexes are stepped down). `false` when the table was not marked.
    pub async fn unmark_sharded(&self) -> Result<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::LAYOUT_PK))
            .key(keys::SK, s(keys::LAYOUT_SK))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        crate::written(result)
    }
}

/// What one page of the migration's scan found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackfillPage {
    /// Items the scan read (of every kind).
    pub scanned: usize,
    /// Payouts given their sharded keys (or that would be, in a dry run).
    pub payouts_keyed: usize,
    /// Due schedules given their sharded key (or that would be).
    pub schedules_keyed: usize,
    /// Payouts and due schedules that had the right keys already.
    pub already: usize,
    /// Where the segment's scan goes on; `None` when it is done.
    pub next: Option<PageKey>,
}

/// How often a payout whose status moves under the migration is read again.
const BACKFILL_TRIES: usize = 5;

impl Store {
    /// One page of segment `segment` of `segments` of a parallel scan of the table:
    /// every payout and due schedule on it gets the keys of the sharded indexes it
    /// lacks, or has wrong (a payout whose status an older version changed after a
    /// newer one had keyed it). Idempotent: an item already right is not written, and
    /// every write is conditioned on what was read, so a payout changing status
    /// meanwhile is read again and keyed by its new status. A Scan, as the accounts' move:
    /// the migration reads the whole table once. `page_limit` caps the items a page
    /// reads (DynamoDB's 1 MB otherwise): smaller pages are checkpointed more often.
    pub async fn backfill_sharded_keys(
        &self,
        segment: u32,
        segments: u32,
        start: Option<PageKey>,
        dry_run: bool,
        page_limit: Option<u32>,
    ) -> Result<BackfillPage> {
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .segment(i32::try_from(segment).unwrap_or(0))
            .total_segments(i32::try_from(segments).unwrap_or(1))
            .filter_expression("#sk IN (:payout, :schedule)")
            .projection_expression(
                "#pk, #sk, #status, #status_shard, #feed_shard, #due, #due_shard",
            )
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#status_shard", keys::STATUS_SHARD_PK)
            .expression_attribute_names("#feed_shard", keys::FEED_SHARD_PK)
            .expression_attribute_names("#due", keys::DUE_PK)
            .expression_attribute_names("#due_shard", keys::DUE_SHARD_PK)
            .expression_attribute_values(":payout", s(keys::PAYOUT_SK))
            .expression_attribute_values(":schedule", s(keys::SCHEDULE_SK))
            .set_exclusive_start_key(crate::start_key_of(start))
            .set_limit(page_limit.map(|limit| i32::try_from(limit).unwrap_or(i32::MAX)))
            .send()
            .await
            .map_err(|err| crate::sdk_error(&err))?;
        let mut page = BackfillPage {
            scanned: usize::try_from(output.scanned_count).unwrap_or(0),
            next: crate::page_key_of(output.last_evaluated_key),
            ..BackfillPage::default()
        };
        for item in output.items.unwrap_or_default() {
            let text = |name: &str| match item.get(name) {
                Some(AttributeValue::S(text)) => Some(text.as_str()),
                _ => None,
            };
            let (Some(pk), Some(sk)) = (text(keys::PK), text(keys::SK)) else {
                continue;
            };
            if sk == keys::PAYOUT_SK {
                if self.key_payout(pk, &item, dry_run).await? {
                    page.payouts_keyed += 1;
                } else {
                    page.already += 1;
                }
            } else if text(keys::DUE_PK).is_some() {
                let Some(scout_id) = keys::scout_id_of(pk) else {
                    continue;
                };
                let wanted = keys::due_shard_pk(keys::shard_of(scout_id, keys::DUE_SHARDS));
                if text(keys::DUE_SHARD_PK) == Some(wanted.as_str()) {
                    page.already += 1;
                } else {
                    if !dry_run {
                        self.key_schedule(pk, &wanted).await?;
                    }
                    page.schedules_keyed += 1;
                }
            }
        }
        Ok(page)
    }

    /// Gives one payout its sharded keys; `false` when it had them. `item` is what the
    /// scan read of it.
    async fn key_payout(&self, pk: &str, item: &Item, dry_run: bool) -> Result<bool> {
        let Some(payout_id) = pk.strip_prefix("PAYOUT#") else {
            return Ok(false);
        };
        let feed = keys::feed_shard_pk(keys::shard_of(payout_id, keys::FEED_SHARDS));
        let mut read = item.clone();
        for _ in 0..BACKFILL_TRIES {
            let text = |name: &str| match read.get(name) {
                Some(AttributeValue::S(text)) => Some(text.clone()),
                _ => None,
            };
            let Some(status_text) = text("status") else {
                return Err(Error::store(format!("{pk} has no status")));
            };
            let status: PayoutStatus = status_text
                .parse()
                .map_err(|_| Error::store(format!("{pk} has an unknown status {status_text}")))?;
            let wanted =
                keys::status_shard_pk(status, keys::shard_of(payout_id, keys::STATUS_SHARDS));
            if text(keys::STATUS_SHARD_PK).as_deref() == Some(wanted.as_str())
                && text(keys::FEED_SHARD_PK).as_deref() == Some(feed.as_str())
            {
                return Ok(false);
            }
            if dry_run {
                return Ok(true);
            }
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(keys::PK, s(pk))
                .key(keys::SK, s(keys::PAYOUT_SK))
                .update_expression("SET #status_shard = :status_shard, #feed_shard = :feed_shard")
                .condition_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#status_shard", keys::STATUS_SHARD_PK)
                .expression_attribute_names("#feed_shard", keys::FEED_SHARD_PK)
                .expression_attribute_values(":status", s(status_text))
                .expression_attribute_values(":status_shard", s(wanted))
                .expression_attribute_values(":feed_shard", s(feed.as_str()))
                .send()
                .await;
            if crate::written(result)? {
                return Ok(true);
            }
            // Its status moved since it was read: key it by the new one.
            let again = self
                .get_many(vec![crate::key(pk.to_owned(), keys::PAYOUT_SK)])
                .await?;
            read = match again.into_iter().next() {
                Some(now) => now,
                None => return Ok(false),
            };
        }
        Err(Error::store(format!(
            "{pk} kept changing status under the migration; run it again"
        )))
    }

    /// Gives a due schedule its sharded key, if it is still due (a schedule made manual
    /// meanwhile has no place in the index).
    async fn key_schedule(&self, pk: &str, wanted: &str) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(keys::SCHEDULE_SK))
            .update_expression("SET #due_shard = :due_shard")
            .condition_expression("attribute_exists(#due)")
            .expression_attribute_names("#due", keys::DUE_PK)
            .expression_attribute_names("#due_shard", keys::DUE_SHARD_PK)
            .expression_attribute_values(":due_shard", s(wanted))
            .send()
            .await;
        crate::written(result).map(|_| ())
    }
}
