//! Reading a sharded index (`by_status_shard`, `by_created_shard`): every shard is
//! asked for its first keys past where the listing stands, the answers are merged by
//! the creation key, and the payouts are then read by key. Each shard's first `n` hold
//! the merged first `n`, so the order is the unsharded one exactly: the processor's
//! queue is oldest first across all shards, no shard waits behind another.
//!
//! Where a listing stands is a creation key (`<created_at>#<payout_id>`, unique), so a
//! page ends on the same key as a page of the legacy index did (the payout's table key,
//! its creation key and the legacy partition), and a cursor from either layout
//! continues the other.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};

use crate::expr::Expr;
use crate::keys;
use crate::{from_item, key, s, Item, PageKey, Store};
use domain::error::Result;
use domain::payout::{Payout, PayoutStatus};
use domain::time::Timestamp;

use super::{PayoutIndex, PayoutPage};

/// Shards queried at once.
const SHARDS_IN_PARALLEL: usize = 16;
/// DynamoDB's most per query.
const MOST_PER_QUERY: usize = 1000;

/// The shards of one listing: which index, and its partitions.
pub(super) struct Shards {
    index: &'static str,
    attribute: &'static str,
    partitions: Vec<String>,
}

impl PayoutIndex {
    /// The sharded index that serves this listing; `None` for one that needs none (a
    /// user's payouts are one user's).
    pub(super) fn shards(&self) -> Option<Shards> {
        match self {
            PayoutIndex::Status(status) => Some(Shards {
                index: keys::INDEX_BY_STATUS_SHARD,
                attribute: keys::STATUS_SHARD_PK,
                partitions: (0..keys::STATUS_SHARDS)
                    .map(|shard| keys::status_shard_pk(*status, shard))
                    .collect(),
            }),
            PayoutIndex::All => Some(Shards {
                index: keys::INDEX_BY_CREATED_SHARD,
                attribute: keys::FEED_SHARD_PK,
                partitions: (0..keys::FEED_SHARDS).map(keys::feed_shard_pk).collect(),
            }),
            PayoutIndex::User(_) => None,
        }
    }

    /// The status a listing holds, if it is one status's.
    fn status(&self) -> Option<PayoutStatus> {
        match self {
            PayoutIndex::Status(status) => Some(*status),
            _ => None,
        }
    }
}

/// Where a merged read stands and which way it goes.
#[derive(Clone, Copy)]
pub(super) struct Walk<'a> {
    pub newest_first: bool,
    /// The creation key the listing stands after (not included).
    pub after: Option<&'a str>,
    /// Only payouts created in `[from, to)`.
    pub created: Option<(Timestamp, Timestamp)>,
}

/// One index entry: the payout's table key and creation key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pk: String,
    created_sk: String,
}

/// One shard's part in a merged read: what it has handed over so far, in the walk's
/// order, and whether it has more.
struct ShardRead {
    partition: String,
    entries: Vec<Entry>,
    done: bool,
    /// How many to ask it for next: doubled each time, so a shard that holds most of a
    /// page is read in a few rounds.
    ask: usize,
}

impl Walk<'_> {
    /// Whether `a` comes before `b` in the walk's order.
    fn before(&self, a: &str, b: &str) -> bool {
        if self.newest_first {
            a > b
        } else {
            a < b
        }
    }
}

impl Store {
    /// The next `limit` entries of the merged shards, and whether more follow.
    ///
    /// Each shard is asked for a little more than its share of the page, and the
    /// entries up to the first shard's last one (the `cut`) are final: every shard
    /// with more has handed over everything before its own last entry. Only when the
    /// final entries do not fill the page are the shards that hold up the cut asked
    /// for more (twice as many each time). Exact, and in the usual case one query a
    /// shard of a few keys each, not the page's worth from every shard.
    pub(super) async fn merged_entries(
        &self,
        shards: &Shards,
        walk: Walk<'_>,
        limit: usize,
    ) -> Result<(Vec<Entry>, bool)> {
        let share = (limit + 1).div_ceil(shards.partitions.len().max(1));
        let mut reads: Vec<ShardRead> = shards
            .partitions
            .iter()
            .map(|partition| ShardRead {
                partition: partition.clone(),
                entries: Vec::new(),
                done: false,
                ask: (2 * share).max(4),
            })
            .collect();
        let mut asking: Vec<usize> = (0..reads.len()).collect();
        loop {
            let fetched: Vec<(usize, Vec<Entry>)> = futures::stream::iter(asking)
                .map(|at| {
                    let read = &reads[at];
                    let after = read
                        .entries
                        .last()
                        .map(|entry| entry.created_sk.clone())
                        .or_else(|| walk.after.map(str::to_owned));
                    let (partition, ask) = (read.partition.clone(), read.ask);
                    async move {
                        let walk = Walk {
                            after: after.as_deref(),
                            ..walk
                        };
                        let entries = self.shard_entries(shards, partition, walk, ask).await?;
                        Ok::<_, domain::error::Error>((at, entries))
                    }
                })
                .buffer_unordered(SHARDS_IN_PARALLEL)
                .try_collect()
                .await?;
            for (at, entries) in fetched {
                let read = &mut reads[at];
                read.done = entries.len() < read.ask;
                read.ask = (read.ask * 2).min(MOST_PER_QUERY);
                read.entries.extend(entries);
            }
            // The earliest last entry of a shard that has more: nothing after it is
            // known to be final.
            let cut: Option<&str> = reads
                .iter()
                .filter(|read| !read.done)
                .filter_map(|read| read.entries.last().map(|entry| entry.created_sk.as_str()))
                .fold(None, |cut, last| match cut {
                    Some(cut) if walk.before(cut, last) => Some(cut),
                    _ => Some(last),
                });
            let mut all: Vec<&Entry> = reads.iter().flat_map(|read| &read.entries).collect();
            all.sort_by(|a, b| {
                let order = a.created_sk.cmp(&b.created_sk);
                if walk.newest_first {
                    order.reverse()
                } else {
                    order
                }
            });
            all.dedup();
            let settled = match cut {
                Some(cut) => all
                    .iter()
                    .take_while(|entry| !walk.before(cut, &entry.created_sk))
                    .count(),
                None => all.len(),
            };
            if settled > limit || cut.is_none() {
                let more = settled > limit || all.len() > settled;
                let page = all.into_iter().take(limit.min(settled)).cloned().collect();
                return Ok((page, more));
            }
            // The page is not settled: ask again the shards whose last entry comes
            // before the page's would-be end (all that have more, if too few are known).
            let end = all.get(limit).map(|entry| entry.created_sk.clone());
            asking = reads
                .iter()
                .enumerate()
                .filter(|(_, read)| !read.done)
                .filter(|(_, read)| match (&end, read.entries.last()) {
                    (Some(end), Some(last)) => !walk.before(end, &last.created_sk),
                    _ => true,
                })
                .map(|(at, _)| at)
                .collect();
        }
    }

    /// The first `wanted` entries of one shard past the walk's position.
    async fn shard_entries(
        &self,
        shards: &Shards,
        partition: String,
        walk: Walk<'_>,
        wanted: usize,
    ) -> Result<Vec<Entry>> {
        let mut expr = Expr::default();
        let partition_name = expr.name(shards.attribute);
        let partition_value = expr.value(s(partition));
        let created_name = expr.name(keys::CREATED_SK);
        let (mut lower, mut upper) = match walk.created {
            // `<from>` sorts before every creation key of that moment, `<to>` before
            // every one of its own: the range is exactly [from, to).
            Some((from, to)) => (Some(from.to_string()), Some(to.to_string())),
            None => (None, None),
        };
        if let Some(after) = walk.after {
            let bound = if walk.newest_first {
                &mut upper
            } else {
                &mut lower
            };
            if bound
                .as_deref()
                .is_none_or(|known| walk.before(known, after))
            {
                *bound = Some(after.to_owned());
            }
        }
        if let (Some(lower), Some(upper)) = (&lower, &upper) {
            // DynamoDB refuses a BETWEEN whose bounds are out of order: the walk stands
            // past the range's end, and nothing is left in it.
            if lower > upper {
                return Ok(Vec::new());
            }
        }
        let mut condition = format!("{partition_name} = {partition_value}");
        match (lower, upper) {
            (Some(lower), Some(upper)) => {
                let lower = expr.value(s(lower));
                let upper = expr.value(s(upper));
                condition.push_str(&format!(" AND {created_name} BETWEEN {lower} AND {upper}"));
            }
            (Some(lower), None) => {
                let lower = expr.value(s(lower));
                condition.push_str(&format!(" AND {created_name} >= {lower}"));
            }
            (None, Some(upper)) => {
                let upper = expr.value(s(upper));
                condition.push_str(&format!(" AND {created_name} <= {upper}"));
            }
            (None, None) => {}
        }
        let pk_name = expr.name(keys::PK);
        let projection = format!("{pk_name}, {created_name}");
        // The bounds include the entry the walk stands on, which is left out: ask for
        // one more.
        let asked = wanted + usize::from(walk.after.is_some());
        let mut entries = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let limit = (asked - entries.len()).min(MOST_PER_QUERY);
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(shards.index)
                .key_condition_expression(&condition)
                .projection_expression(&projection)
                .set_expression_attribute_names(Some(expr.names.clone()))
                .set_expression_attribute_values(Some(expr.values.clone()))
                .scan_index_forward(!walk.newest_first)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| crate::sdk_error(&err))?;
            for item in output.items.unwrap_or_default() {
                if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(created_sk))) =
                    (item.get(keys::PK), item.get(keys::CREATED_SK))
                {
                    entries.push(Entry {
                        pk: pk.clone(),
                        created_sk: created_sk.clone(),
                    });
                }
            }
            match output.last_evaluated_key {
                Some(next) if entries.len() < asked => start = Some(next),
                _ => break,
            }
        }
        entries.retain(|entry| Some(entry.created_sk.as_str()) != walk.after);
        Ok(entries)
    }

    /// One page of a sharded listing, the payouts read by key (strongly consistent).
    /// A payout whose status moved on since the index was written is left out of a
    /// status's listing.
    pub(super) async fn merged_page(
        &self,
        index: &PayoutIndex,
        shards: &Shards,
        walk: Walk<'_>,
        limit: usize,
    ) -> Result<PayoutPage> {
        let (entries, more) = self.merged_entries(shards, walk, limit).await?;
        let next = if more {
            entries.last().map(|last| page_end(index, last))
        } else {
            None
        };
        let payouts = self.payouts_of(&entries).await?;
        let payouts = match index.status() {
            Some(status) => payouts
                .into_iter()
                .filter(|payout| payout.status == status)
                .collect(),
            None => payouts,
        };
        Ok(PayoutPage { payouts, next })
    }

    /// Where page `skip / limit + 1` of a sharded listing starts, walking keys only.
    /// `None` means past the end.
    pub(super) async fn merged_skip(
        &self,
        index: &PayoutIndex,
        shards: &Shards,
        newest_first: bool,
        mut skip: usize,
    ) -> Result<Option<Option<PageKey>>> {
        let mut after: Option<Entry> = None;
        while skip > 0 {
            let walk = Walk {
                newest_first,
                after: after.as_ref().map(|entry| entry.created_sk.as_str()),
                created: None,
            };
            let (entries, more) = self
                .merged_entries(shards, walk, skip.min(MOST_PER_QUERY))
                .await?;
            skip -= entries.len().min(skip);
            if !more {
                return Ok(None);
            }
            after = entries.last().cloned();
        }
        Ok(Some(after.map(|entry| page_end(index, &entry))))
    }

    /// Every payout a sharded listing holds, in no set order: every shard read to its
    /// end, no merge needed.
    pub(super) async fn merged_all(
        &self,
        index: &PayoutIndex,
        shards: &Shards,
    ) -> Result<Vec<Payout>> {
        let walk = Walk {
            newest_first: false,
            after: None,
            created: None,
        };
        let found: Vec<Vec<Entry>> = futures::stream::iter(shards.partitions.iter().cloned())
            .map(|partition| self.shard_entries(shards, partition, walk, usize::MAX - 1))
            .buffer_unordered(SHARDS_IN_PARALLEL)
            .try_collect()
            .await?;
        let entries: Vec<Entry> = found.into_iter().flatten().collect();
        Ok(self
            .payouts_of(&entries)
            .await?
            .into_iter()
            .filter(|payout| index.status().is_none_or(|status| payout.status == status))
            .collect())
    }

    /// The payouts of `entries`, in their order; one gone missing is left out.
    async fn payouts_of(&self, entries: &[Entry]) -> Result<Vec<Payout>> {
        let wanted = entries
            .iter()
            .map(|entry| key(entry.pk.clone(), keys::PAYOUT_SK))
            .collect();
        let mut found: HashMap<String, Item> = self
            .get_many(wanted)
            .await?
            .into_iter()
            .filter_map(|item| match item.get(keys::PK) {
                Some(AttributeValue::S(pk)) => Some((pk.clone(), item)),
                _ => None,
            })
            .collect();
        entries
            .iter()
            .filter_map(|entry| found.remove(&entry.pk))
            .map(from_item)
            .collect()
    }
}

/// The key a page ends on, as a page of the legacy index ends.
fn page_end(index: &PayoutIndex, entry: &Entry) -> PageKey {
    PageKey::from([
        (keys::PK.to_owned(), entry.pk.clone()),
        (keys::SK.to_owned(), keys::PAYOUT_SK.to_owned()),
        (keys::CREATED_SK.to_owned(), entry.created_sk.clone()),
        (index.key_attribute().to_owned(), index.scope()),
    ])
}
