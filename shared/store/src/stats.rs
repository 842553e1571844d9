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
//! Each counter item a write adds to lands on a shard `n` (of [`STATS_SHARDS`]), and
//! readers add the shards up. Two limits make the shards: the processor settles
//! `PROCESS_CONCURRENCY` payouts at once, and transactions that touch the same item at
//! the same moment cancel each other (and are retried), so one counter item would
//! serialise the whole batch; and a partition key takes at most 1,000 write units a
//! second, while every payout writes about ten units of counters over its life, so one
//! key would hold the whole service to a hundred payouts a second. Sixty-four keys,
//! written evenly ([`ShardCursor`]), hold it to over 6,000.
//!
//! A read of the stats ([`Store::stats_items`]) is two strongly consistent `Query`s a
//! shard, 16 at a time: one over the hours asked for, one over the totals and the days.
//! A query is billed by the bytes it reads, a read unit per 4 KB (strongly
//! consistent), not by the item: 24 hour buckets are 3 to 6 KB, the totals and the
//! nine or so days of buckets TTL keeps about 3 KB, so 1 or 2 units a query. With 64
//! shards a read is 128 queries and 128 to 192 read units, where the 64 × (1 + 24 + 7)
//! keys read one by one (`BatchGetItem`) would cost 2,048, a unit a key whether the
//! item exists or not (256 with the 8 shards of before). The totals alone (no day
//! asked for, as the invariants every money test checks read them) are one key a
//! shard, which one `BatchGetItem` reads for the same 64 units as 64 queries would.
//!
//! The hour and day buckets count payouts by how they ended, not status changes: a
//! payout is in the bucket of the moment it reached the status it is in now, if that
//! status is one of [`Buckets::STATUSES`]. Reaching one adds the payout
//! (`<status>_count`, `<status>_paise`); leaving one (a completion the bank returned,
//! a failure retried or cancelled) retracts it from the very bucket it was added to,
//! as `<status>_retracted_count` and `<status>_retracted_paise`, which readers subtract
//! ([`CounterItem::endings`]). Retractions are added rather than subtracted because
//! the write that leaves a status lands on a shard of its own choosing, seldom the one
//! the ending was added to: every stored number only ever grows, and a bucket's
//! endings, summed over the shards, never drop below zero, since each retraction
//! matches an addition in the same bucket. A payout completed, returned, retried and
//! completed again is one completion, in the hour of the last one.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use super::expr::Expr;
use super::keys;
use super::{built, key, n, s, update_item, Item, Store};
use domain::error::Result;
use domain::payout::{Payout, PayoutStatus};
use domain::time::Timestamp;

/// Shards of every counter. A payout writes about 10 write units of counters over its
/// life (a transaction bills 2 units per item): over 64 keys, about 0.16 units a
/// payout on each, where a partition key takes 1,000 units a second and the service
/// is to make 5,000 payouts a second (0.2 units a payout at most on any key). The
/// first eight are the shards of earlier versions, so a table written by one is read
/// whole.
pub const STATS_SHARDS: u128 = 64;

/// Where this process's next counter item goes ([`ShardCursor`]).
static NEXT_SHARD: LazyLock<ShardCursor> = LazyLock::new(ShardCursor::random);

/// Hands out the shards round-robin, from a random start. A shard drawn at random for
/// each write clumps: 600 writes over 64 shards leave the busiest with 1.8 times its
/// share on average (simulated), and the hottest key, not the mean, sets the ceiling.
/// Round-robin gives each shard its exact share of one process's counter items; the
/// random start keeps the many Lambda instances, each with a cursor of its own, from
/// all beginning on shard 0 and moving in step. Writers of one process in flight
/// together take consecutive shards, so their items, up to 64 of them, never meet on
/// one counter item, and a status change built again after losing to contention
/// (`payouts::change`) takes new shards.
struct ShardCursor(AtomicU64);

impl ShardCursor {
    fn random() -> Self {
        ShardCursor::starting_at(rand::random())
    }

    fn starting_at(first: u64) -> Self {
        ShardCursor(AtomicU64::new(first))
    }

    /// The next shard. The counter wraps at 2^64, a multiple of [`STATS_SHARDS`], so
    /// the round goes on unbroken through the wrap.
    fn next(&self) -> u128 {
        u128::from(self.0.fetch_add(1, Ordering::Relaxed)) % STATS_SHARDS
    }
}

/// Queries of a stats read in flight at once: enough to hide most of the round trips
/// of two a shard, few enough that one read does not take the connection pool, or the
/// table's attention, from the writes going on meanwhile.
const STATS_QUERIES_IN_PARALLEL: usize = 16;

/// Hour and day buckets are kept a little over the longest window read (7 days),
/// counted from the bucket's start, so that every write to one item sets the same
/// expiry, and an item is never gone while a retraction may still be written to it.
const BUCKET_KEPT_SECS: i64 = 9 * 86_400;

const HOUR_SECS: i64 = 3_600;
const DAY_SECS: i64 = 86_400;

/// Suffix of a bucket's retracted endings (`completed_retracted_count`, …).
const RETRACTED: &str = "_retracted";

/// Which hour and day bucket an instant falls in (UTC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buckets {
    pub hour: String,
    pub day: String,
}

impl Buckets {
    /// The statuses the hour and day buckets count: the endings an admin watches.
    /// `reversed` is not one (the window answers what was paid and what failed); a
    /// completion the bank returns leaves `completed`, and so its bucket.
    pub const STATUSES: [PayoutStatus; 2] = [PayoutStatus::Completed, PayoutStatus::Failed];

    pub fn of(at: DateTime<Utc>) -> Self {
        Buckets {
            hour: at.format("%Y-%m-%dT%H").to_string(),
            day: at.format("%Y-%m-%d").to_string(),
        }
    }

    pub fn counts(status: PayoutStatus) -> bool {
        Self::STATUSES.contains(&status)
    }

    /// The bucket items of an instant, each with the unix second it expires at.
    fn items(at: DateTime<Utc>) -> [(String, i64); 2] {
        let buckets = Self::of(at);
        let secs = at.timestamp();
        // Unix time has no leap seconds: a UTC hour or day starts at a multiple of it.
        let start = |length: i64| secs - secs.rem_euclid(length);
        [
            (
                format!("{}{}", keys::STATS_HOUR_PREFIX, buckets.hour),
                start(HOUR_SECS) + BUCKET_KEPT_SECS,
            ),
            (
                format!("{}{}", keys::STATS_DAY_PREFIX, buckets.day),
                start(DAY_SECS) + BUCKET_KEPT_SECS,
            ),
        ]
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

    /// An hour or day bucket's payouts that ended in `status` there, as (count, paise):
    /// the endings added less those retracted. Negative in one shard's item when a
    /// retraction landed on another shard than its ending; only the sum over the
    /// shards means anything.
    pub fn endings(&self, status: PayoutStatus) -> (i128, i128) {
        let value = |name: String| self.values.get(&name).copied().unwrap_or_default();
        let net = |measure: &str| {
            value(format!("{status}_{measure}")) - value(format!("{status}{RETRACTED}_{measure}"))
        };
        (net("count"), net("paise"))
    }
}

/// A payout's ending in a status the buckets count ([`Buckets::STATUSES`]): which, how
/// much, and when it was reached, which names the hour and day it counts in.
pub(super) struct Ending {
    status: PayoutStatus,
    amount: i128,
    at: Timestamp,
}

impl Ending {
    fn of(payout: &Payout, status: PayoutStatus, at: Timestamp) -> Option<Self> {
        Buckets::counts(status).then(|| Ending {
            status,
            amount: i128::from(payout.amount_paise.get()),
            at,
        })
    }
}

/// What one payout write does to the counters: `deltas` on its shard's totals, the
/// ending it reaches added to that hour and day, and the ending it leaves retracted
/// from the hour and day it was added to. `now` is the write's own time.
pub(super) struct CounterChange {
    deltas: Vec<(String, i128)>,
    reached: Option<Ending>,
    left: Option<Ending>,
    now: Timestamp,
}

impl CounterChange {
    /// A new payout: one more in its status and of its type.
    pub(super) fn creation(payout: &Payout) -> Self {
        let amount = i128::from(payout.amount_paise.get());
        let status = payout.status;
        let kind = payout.payout_type.as_str();
        CounterChange {
            deltas: vec![
                (format!("{status}_count"), 1),
                (format!("{status}_paise"), amount),
                (format!("{kind}_count"), 1),
                (format!("{kind}_paise"), amount),
            ],
            // Payouts are created pending; one created ended is counted like any other.
            reached: Ending::of(payout, status, payout.created_at),
            left: None,
            now: payout.created_at,
        }
    }

    /// `payout` (as read) moving from `from` to `to` in a write made at `at`, which is
    /// also the `updated_at` that write stores.
    pub(super) fn transition(
        payout: &Payout,
        from: PayoutStatus,
        to: PayoutStatus,
        at: Timestamp,
    ) -> Self {
        let amount = i128::from(payout.amount_paise.get());
        CounterChange {
            deltas: vec![
                (format!("{from}_count"), -1),
                (format!("{from}_paise"), -amount),
                (format!("{to}_count"), 1),
                (format!("{to}_paise"), amount),
            ],
            reached: Ending::of(payout, to, at),
            // When `from` was reached, i.e. the buckets its ending was added to. That
            // write stored its own time as `updated_at`, and no write touches a payout
            // again until its status changes: the changes that keep a status all start
            // from `processing` (`status_keeping_changes_leave_no_counted_status`). The
            // write is conditioned on the status and attempt read, and a counted
            // status is reached at most once per attempt (completed leads only to
            // reversed, failed only to a retry, a new attempt, or to cancelled), so
            // any copy that passes carries that very write's `updated_at`.
            // `completed_at` is the same instant for a completion, but a failure has
            // no time of its own, so one field serves both.
            left: Ending::of(payout, from, payout.updated_at),
            now: at,
        }
    }
}

/// What one write adds to one hour or day item of its shard.
struct BucketWrite {
    sk: String,
    expires: i64,
    adds: Vec<(String, i128)>,
}

impl Store {
    /// The counter writes of one payout write: none when nothing is counted.
    pub(super) fn counter_updates(&self, change: CounterChange) -> Result<Vec<TransactWriteItem>> {
        self.counter_updates_from(&NEXT_SHARD, change)
    }

    /// [`Store::counter_updates`], each item on the shard `cursor` hands out next: any
    /// shard will do, since readers add them all up. An item at a time, not a write:
    /// a settle writes three items (totals, hour, day), a claim one, so shards handed
    /// out by the write would leave those that drew more settles hotter (the
    /// benchmark's hottest took 0.18 units a payout against a mean of 0.16); handed
    /// out by the item, each shard's units are its even share.
    fn counter_updates_from(
        &self,
        cursor: &ShardCursor,
        change: CounterChange,
    ) -> Result<Vec<TransactWriteItem>> {
        let mut updates = Vec::new();
        let deltas: Vec<(String, i128)> = change
            .deltas
            .into_iter()
            .filter(|(_, delta)| *delta != 0)
            .collect();
        if !deltas.is_empty() {
            let pk = keys::stats_pk(cursor.next());
            updates.push(self.counter_add(&pk, keys::STATS_TOTALS_SK, deltas, None)?);
        }
        let now = change.now.as_utc().timestamp();
        // By bucket item: one transaction may not write an item twice, and an ending
        // reached and one left could share a bucket.
        let mut buckets: Vec<BucketWrite> = Vec::new();
        for (ending, suffix) in [(change.reached, ""), (change.left, RETRACTED)] {
            let Some(Ending { status, amount, at }) = ending else {
                continue;
            };
            for (sk, expires) in Buckets::items(at.as_utc()) {
                // No reader looks at a bucket this old, and it may be gone already: a
                // retraction would only make it again, holding nothing but itself.
                if expires <= now {
                    continue;
                }
                let adds = [
                    (format!("{status}{suffix}_count"), 1),
                    (format!("{status}{suffix}_paise"), amount),
                ];
                match buckets.iter_mut().find(|known| known.sk == sk) {
                    Some(known) => known.adds.extend(adds),
                    None => buckets.push(BucketWrite {
                        sk,
                        expires,
                        adds: adds.into(),
                    }),
                }
            }
        }
        for bucket in buckets {
            let pk = keys::stats_pk(cursor.next());
            updates.push(self.counter_add(&pk, &bucket.sk, bucket.adds, Some(bucket.expires))?);
        }
        Ok(updates)
    }

    /// One counter item's `ADD`s, and the unix second it expires at, if it does.
    fn counter_add(
        &self,
        pk: &str,
        sk: &str,
        adds: Vec<(String, i128)>,
        expires: Option<i64>,
    ) -> Result<TransactWriteItem> {
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut parts = Vec::new();
        for (index, (attribute, delta)) in adds.into_iter().enumerate() {
            names.insert(format!("#c{index}"), attribute);
            values.insert(format!(":c{index}"), n(delta));
            parts.push(format!("#c{index} :c{index}"));
        }
        let mut expression = format!("ADD {}", parts.join(", "));
        if let Some(expires) = expires {
            names.insert("#expires".to_owned(), keys::EXPIRES_AT.to_owned());
            values.insert(":expires".to_owned(), n(expires));
            expression.push_str(" SET #expires = :expires");
        }
        Ok(update_item(built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk.to_owned(), sk)))
                .update_expression(expression)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .build(),
        )?))
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
    /// bucket: the items that exist (a bucket nothing happened in does not), and no
    /// others.
    ///
    /// Two `Query`s a shard, not a `BatchGetItem` of every key, which bills a unit a
    /// key (the module's doc says what each costs). The sort keys order `COUNTERS` <
    /// `DAY#…` < `HOUR#…`, and the dates in them sort in time order: one query takes
    /// the hours from the oldest asked for to the newest, the other the totals and the
    /// days up to the newest asked for, with the older days TTL has not yet deleted,
    /// which are dropped here. With no hour asked for, there is no hours query; with
    /// no day, the totals are read by key.
    pub async fn stats_items(&self, hours: &[String], days: &[String]) -> Result<Vec<CounterItem>> {
        let hours: HashSet<String> = hours
            .iter()
            .map(|hour| format!("{}{hour}", keys::STATS_HOUR_PREFIX))
            .collect();
        let days: HashSet<String> = days
            .iter()
            .map(|day| format!("{}{day}", keys::STATS_DAY_PREFIX))
            .collect();
        let mut ranges = Vec::new();
        if let Some(newest) = days.iter().max() {
            ranges.push((keys::STATS_TOTALS_SK.to_owned(), newest.clone()));
        }
        if let (Some(oldest), Some(newest)) = (hours.iter().min(), hours.iter().max()) {
            ranges.push((oldest.clone(), newest.clone()));
        }
        // Owned, not borrowed from `ranges`: the future of a borrowing closure in a
        // stream is not `Send` for every lifetime, which a Lambda's handler needs.
        let queries: Vec<(String, String, String)> = (0..STATS_SHARDS)
            .flat_map(|shard| {
                ranges
                    .iter()
                    .map(move |(from, to)| (keys::stats_pk(shard), from.clone(), to.clone()))
            })
            .collect();
        let ranged = futures::stream::iter(queries)
            .map(|(pk, from, to)| self.stats_range(pk, from, to))
            .buffer_unordered(STATS_QUERIES_IN_PARALLEL)
            .try_collect::<Vec<Vec<Item>>>();
        // With no day asked for, the totals are one known key a shard: a BatchGetItem
        // reads them for the same units as a query a shard (one each), in one request
        // instead of 64. The invariants every money test checks read them so.
        let totals_alone = async {
            if days.is_empty() {
                let wanted = (0..STATS_SHARDS)
                    .map(|shard| key(keys::stats_pk(shard), keys::STATS_TOTALS_SK))
                    .collect();
                self.get_many(wanted).await
            } else {
                Ok(Vec::new())
            }
        };
        let (found, totals) = futures::future::try_join(ranged, totals_alone).await?;
        let asked = |item: &Item| match item.get(keys::SK) {
            Some(AttributeValue::S(sk)) => {
                sk == keys::STATS_TOTALS_SK || hours.contains(sk) || days.contains(sk)
            }
            _ => false,
        };
        Ok(found
            .iter()
            .flatten()
            .chain(&totals)
            .filter(|item| asked(item))
            .filter_map(CounterItem::from_item)
            .collect())
    }

    /// The counter items of one shard with a sort key in `[from, to]`, every page.
    async fn stats_range(&self, pk: String, from: String, to: String) -> Result<Vec<Item>> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut expr = Expr::default();
            let pk_name = expr.name(keys::PK);
            let sk_name = expr.name(keys::SK);
            let pk_value = expr.value(s(pk.as_str()));
            let from_value = expr.value(s(from.as_str()));
            let to_value = expr.value(s(to.as_str()));
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(format!(
                    "{pk_name} = {pk_value} AND {sk_name} BETWEEN {from_value} AND {to_value}"
                ))
                .set_expression_attribute_names(Some(expr.names))
                .set_expression_attribute_values(Some(expr.values))
                // The dashboard reads the stats right after an action.
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| super::sdk_error(&err))?;
            found.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return Ok(found),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Region};

    use super::*;
    use domain::money::Paise;
    use domain::payout::{PayoutType, Transition, TRANSITIONS};

    /// [`CounterChange::transition`] takes the `updated_at` of a payout in a counted
    /// status as the time it reached it: no write may touch the payout in between.
    #[test]
    fn status_keeping_changes_leave_no_counted_status() {
        for (transition, from, to) in TRANSITIONS {
            if from.contains(to) {
                assert!(!Buckets::counts(*to), "{transition:?} keeps {to}");
            }
        }
    }

    /// ... and a stale copy in that status must be of the same write: short of a retry
    /// (a new attempt, which the write's condition tells apart), a payout never comes
    /// back to a counted status it left.
    #[test]
    fn a_counted_status_is_reached_once_per_attempt() {
        for counted in Buckets::STATUSES {
            let mut reached = vec![counted];
            let mut seen = Vec::new();
            while let Some(status) = reached.pop() {
                for (transition, from, to) in TRANSITIONS {
                    if *transition == Transition::Retry || !from.contains(&status) {
                        continue;
                    }
                    assert_ne!(*to, counted, "{transition:?} leads back to {counted}");
                    if *to != status && !seen.contains(to) {
                        seen.push(*to);
                        reached.push(*to);
                    }
                }
            }
        }
    }

    #[test]
    fn a_bucket_expires_counted_from_its_start() {
        let at = Timestamp::parse("2026-03-04T05:06:07.890Z")
            .unwrap()
            .as_utc();
        let start_of = |text: &str| Timestamp::parse(text).unwrap().as_utc().timestamp();
        assert_eq!(
            Buckets::items(at),
            [
                (
                    "HOUR#2026-03-04T05".to_owned(),
                    start_of("2026-03-04T05:00:00Z") + BUCKET_KEPT_SECS
                ),
                (
                    "DAY#2026-03-04".to_owned(),
                    start_of("2026-03-04T00:00:00Z") + BUCKET_KEPT_SECS
                ),
            ]
        );
    }

    /// A stats read takes ranges of sort keys ([`Store::stats_items`]): the totals
    /// sort before every day, every day before every hour, and days and hours in time
    /// order, across a month's and a year's end too.
    #[test]
    fn counter_sort_keys_order_totals_then_days_then_hours_by_time() {
        let times = [
            "2025-12-31T23:59:59Z",
            "2026-01-01T00:00:00Z",
            "2026-01-09T23:00:00Z",
            "2026-01-10T09:00:00Z",
            "2026-02-28T10:00:00Z",
            "2026-03-01T00:00:00Z",
        ];
        let mut expected = vec![keys::STATS_TOTALS_SK.to_owned()];
        let mut hours = Vec::new();
        for time in times {
            let [(hour, _), (day, _)] = Buckets::items(Timestamp::parse(time).unwrap().as_utc());
            expected.push(day);
            hours.push(hour);
        }
        expected.extend(hours);
        let mut sorted = expected.clone();
        sorted.sort();
        assert_eq!(sorted, expected);
    }

    fn store() -> Store {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .build();
        Store::new(aws_sdk_dynamodb::Client::from_conf(config), "table")
    }

    fn payout(status: PayoutStatus, updated_at: &str) -> Payout {
        let at = Timestamp::parse(updated_at).unwrap();
        let mut payout = Payout::new(
            uuid::Uuid::new_v4(),
            7,
            PayoutType::ScoutBounty,
            Paise(2_500),
            at,
        );
        payout.status = status;
        payout
    }

    /// Each bucket item the write touches, with its `ADD` clause, as (sk, expression,
    /// attribute names).
    fn buckets(updates: &[TransactWriteItem]) -> Vec<(String, String, Vec<String>)> {
        updates
            .iter()
            .filter_map(|item| item.update.as_ref())
            .filter_map(|update| {
                let sk = match update.key.get(keys::SK) {
                    Some(AttributeValue::S(sk)) if sk != keys::STATS_TOTALS_SK => sk.clone(),
                    _ => return None,
                };
                let mut names: Vec<String> = update
                    .expression_attribute_names
                    .iter()
                    .flatten()
                    .map(|(_, name)| name.clone())
                    .collect();
                names.sort();
                Some((sk, update.update_expression.clone(), names))
            })
            .collect()
    }

    /// The partition key each counter item of `updates` is written to.
    fn shards(updates: &[TransactWriteItem]) -> Vec<String> {
        updates
            .iter()
            .filter_map(|item| item.update.as_ref())
            .filter_map(|update| match update.key.get(keys::PK) {
                Some(AttributeValue::S(pk)) => Some(pk.clone()),
                _ => None,
            })
            .collect()
    }

    /// The writes of one process take the shards in turn, whatever the start (the
    /// counter's wrap at 2^64 included): twice round, each shard exactly twice.
    #[test]
    fn consecutive_counter_writes_take_every_shard_in_turn() {
        let store = store();
        let created = payout(PayoutStatus::Pending, "2026-03-04T05:06:07Z");
        for first in [0, 12_345, u64::MAX - 100] {
            let cursor = ShardCursor::starting_at(first);
            let mut per_shard: HashMap<String, usize> = HashMap::new();
            for _ in 0..2 * STATS_SHARDS {
                let updates = store
                    .counter_updates_from(&cursor, CounterChange::creation(&created))
                    .unwrap();
                for pk in shards(&updates) {
                    *per_shard.entry(pk).or_default() += 1;
                }
            }
            let expected: HashMap<String, usize> = (0..STATS_SHARDS)
                .map(|shard| (keys::stats_pk(shard), 2))
                .collect();
            assert_eq!(per_shard, expected, "from {first}");
        }
    }

    /// Writes of one item and of three take the shards in turn item by item, so each
    /// shard takes its even share of the units however the writes mix: 32 creations
    /// (the totals) and 32 completions (the totals, the hour, the day) are 128 items,
    /// each shard's exactly twice.
    #[test]
    fn counter_items_of_every_size_of_write_take_every_shard_in_turn() {
        let store = store();
        let created = payout(PayoutStatus::Pending, "2026-03-04T05:06:07Z");
        let processing = payout(PayoutStatus::Processing, "2026-03-04T05:07:00Z");
        let now = Timestamp::parse("2026-03-04T05:08:00Z").unwrap();
        let cursor = ShardCursor::starting_at(u64::MAX - 50);
        let mut per_shard: HashMap<String, usize> = HashMap::new();
        for _ in 0..STATS_SHARDS / 2 {
            let creation = store
                .counter_updates_from(&cursor, CounterChange::creation(&created))
                .unwrap();
            assert_eq!(creation.len(), 1);
            let completion = store
                .counter_updates_from(
                    &cursor,
                    CounterChange::transition(
                        &processing,
                        PayoutStatus::Processing,
                        PayoutStatus::Completed,
                        now,
                    ),
                )
                .unwrap();
            assert_eq!(completion.len(), 3);
            for pk in shards(&creation).into_iter().chain(shards(&completion)) {
                *per_shard.entry(pk).or_default() += 1;
            }
        }
        let expected: HashMap<String, usize> = (0..STATS_SHARDS)
            .map(|shard| (keys::stats_pk(shard), 2))
            .collect();
        assert_eq!(per_shard, expected);
    }

    #[test]
    fn leaving_a_completion_retracts_it_where_it_was_counted() {
        let completed = payout(PayoutStatus::Completed, "2026-03-04T05:59:59.999Z");
        let now = Timestamp::parse("2026-03-06T10:00:00Z").unwrap();
        let updates = store()
            .counter_updates(CounterChange::transition(
                &completed,
                PayoutStatus::Completed,
                PayoutStatus::Reversed,
                now,
            ))
            .unwrap();
        let written = buckets(&updates);
        let sks: Vec<&str> = written.iter().map(|(sk, _, _)| sk.as_str()).collect();
        assert_eq!(sks, ["HOUR#2026-03-04T05", "DAY#2026-03-04"]);
        for (_, _, names) in &written {
            assert_eq!(
                names,
                &[
                    "completed_retracted_count",
                    "completed_retracted_paise",
                    "expires_at"
                ]
            );
        }
    }

    #[test]
    fn no_retraction_is_written_into_a_bucket_past_its_expiry() {
        let failed = payout(PayoutStatus::Failed, "2026-03-04T05:00:00Z");
        // The day bucket expired at the start of the 13th, the hour's five hours on.
        let now = Timestamp::parse("2026-03-13T06:00:00Z").unwrap();
        let updates = store()
            .counter_updates(CounterChange::transition(
                &failed,
                PayoutStatus::Failed,
                PayoutStatus::Pending,
                now,
            ))
            .unwrap();
        assert!(buckets(&updates).is_empty());
        // The totals still move.
        assert_eq!(updates.len(), 1);
    }

    #[test]
    fn an_ending_reached_and_one_left_in_one_bucket_write_it_once() {
        // No transition does this today; a transaction that wrote one item twice
        // would be refused whole.
        let failed = payout(PayoutStatus::Failed, "2026-03-04T05:10:00Z");
        let now = Timestamp::parse("2026-03-04T05:20:00Z").unwrap();
        let updates = store()
            .counter_updates(CounterChange::transition(
                &failed,
                PayoutStatus::Failed,
                PayoutStatus::Completed,
                now,
            ))
            .unwrap();
        let written = buckets(&updates);
        assert_eq!(written.len(), 2, "{written:?}");
        for (_, expression, names) in &written {
            assert!(expression.starts_with("ADD "), "{expression}");
            assert_eq!(
                names,
                &[
                    "completed_count",
                    "completed_paise",
                    "expires_at",
                    "failed_retracted_count",
                    "failed_retracted_paise"
                ]
            );
        }
    }
}
