//! The single-table layout (docs/DATA_MODEL.md). Every key and index name is spelled here
//! once.
//!
//! | entity                 | pk                          | sk                   |
//! |------------------------|-----------------------------|----------------------|
//! | payout                 | `PAYOUT#<uuid>`             | `PAYOUT`             |
//! | scout                  | `SCOUT#<scout_id>`          | `SCOUT`              |
//! | order                  | `ORDER#<order_id>`          | `ORDER`              |
//! | user payout summary    | `USER#<user_id>`            | `SUMMARY`            |
//! | user payout account    | `ACCOUNT#<user_id>`         | `ACCOUNT`            |
//! | a saved account revision | `ACCOUNT#<user_id>`       | `REV#<revision, 20 digits>` |
//! | payout waiting for an account | `USER#<user_id>`     | `WAITS_FOR_ACCOUNT#<payout uuid>` |
//! | request idempotency    | `IDEMPOTENCY#<user>#<key>`  | `IDEMPOTENCY`        |
//! | simulated gateway ledger | `GATEWAY#<transfer key>`  | `SIMULATED_TRANSFER` |
//! | webhook event seen     | `WEBHOOK#<gateway>#<event id>` | `WEBHOOK_EVENT`  |
//! | scout payout schedule  | `SCOUT#<scout_id>`          | `PAYOUT_SCHEDULE`    |
//! | scout earnings entry (`Idempotency-Key`) | `SCOUT#<scout_id>` | `EARNING#<key>` |
//! | marketplace event seen | `INGEST#<source>#<event id>` | `EVENT`           |
//! | payout counters (shard n) | `STATS#<n>`              | `COUNTERS`, `HOUR#<yyyy-mm-ddThh>`, `DAY#<yyyy-mm-dd>` |
//! | bulk request (`Idempotency-Key`) | `BULK#<admin user id>#<key>` | `BULK_REQUEST` |
//! | email for a payout event | `NOTIFY#<event id>`      | `EMAIL`              |
//! | a day's reconciliation | `RECON#<yyyy-mm-dd>`        | `REPORT`             |
//! | the table's index layout (moved to the sharded indexes) | `LAYOUT` | `PAYOUT_INDEXES` |
//! | a reconciliation finding | `RECON#<yyyy-mm-dd>`      | `FINDING#<kind>#<subject>#<ours>#<theirs>#<action>` |
//!
//! Payout accounts have a key space of their own (`ACCOUNT#`), which only the account
//! and gateway functions may write (IAM `dynamodb:LeadingKeys`, template.yaml); before
//! 2026-12-05 they lived under `USER#` (`PAYOUT_ACCOUNT`, `PAYOUT_ACCOUNT#REV#…`), read
//! as a fallback until `cargo xtask migrate-payout-accounts` has moved them.
//!
//! Items with a number `expires_at` (epoch seconds) are deleted by DynamoDB's TTL after
//! that time (webhook events, after the gateway's replay window; bulk requests, a day
//! after their answer; email records, 30 days after they were claimed; marketplace
//! events seen, after 7 days).
//!
//! Payouts carry three indexes' keys; the sort key of all three is
//! `created_sk = <created_at RFC 3339 ms>#<uuid>`, which sorts by creation time and is unique.
//!
//! | index              | partition key                                | serves                                   |
//! |--------------------|----------------------------------------------|------------------------------------------|
//! | `by_status_shard`  | `status_shard_pk = STATUS#<status>#<n>`      | pending queue (oldest first), stuck leases, admin list by status |
//! | `by_user`          | `user_pk = USER#<user_id>`                   | my payouts (newest first)                |
//! | `by_created_shard` | `feed_shard_pk = PAYOUTS#<n>`                | admin list, unfiltered (newest first)    |
//!
//! Payout schedules that are not manual carry the keys of a fourth, sparse index:
//!
//! | index          | partition key            | sort key                              | serves                         |
//! |----------------|--------------------------|---------------------------------------|--------------------------------|
//! | `by_due_shard` | `due_shard_pk = DUE#<n>` | `due_sk = <next_due_at>#<scout_id>`   | the daily sweep: who is due now |
//!
//! The sharded ones hold keys only and are read by merging every shard
//! (`payouts::merged`). A table made before them keeps the legacy layout's indexes
//! (`by_status` on `status_pk = STATUS#<status>`, `by_created` on `feed_pk = PAYOUTS`,
//! `by_due` on `due_pk = DUE`), which every write still keys and which are read until
//! the table is marked moved ([`LAYOUT_PK`], `crate::layout`).
//!
//! Payouts whose current attempt was sent, and the simulated bank's transfers, carry the
//! keys of a fifth, sparse index, keys only, which the daily reconciliation reads by time
//! (UTC days; a day's sends split into [`DAY_SHARDS`] partitions so that no day's sends
//! share one):
//!
//! | index    | partition key                                   | sort key                      |
//! |----------|-------------------------------------------------|-------------------------------|
//! | `by_day` | `day_pk = SENT#<yyyy-mm-dd>#<n>` (first send of the current attempt) | `day_sk = <time>#<id>` |
//! | `by_day` | `day_pk = SIMULATED#<yyyy-mm-dd>#0` (a simulated transfer made) | `day_sk = <time>#<key>` |

use uuid::Uuid;

use domain::payout::PayoutStatus;
use domain::time::Timestamp;

pub const PK: &str = "pk";
pub const SK: &str = "sk";

pub const INDEX_BY_STATUS: &str = "by_status";
pub const INDEX_BY_USER: &str = "by_user";
pub const INDEX_BY_CREATED: &str = "by_created";
pub const INDEX_BY_DUE: &str = "by_due";
pub const INDEX_BY_DAY: &str = "by_day";

pub const STATUS_PK: &str = "status_pk";
pub const USER_PK: &str = "user_pk";
pub const FEED_PK: &str = "feed_pk";
pub const CREATED_SK: &str = "created_sk";
pub const DUE_PK: &str = "due_pk";
pub const DUE_SK: &str = "due_sk";
pub const DAY_PK: &str = "day_pk";
pub const DAY_SK: &str = "day_sk";
/// How many partitions of `by_day` one day's sends are spread over.
pub const DAY_SHARDS: u32 = 8;
/// Every due schedule shares this partition of the legacy `by_due`: its entry moves
/// (a delete and a put) at every schedule change and once per period.
pub const DUE: &str = "DUE";

/// Every payout shares this partition of the legacy `by_created`, and every write of a
/// payout rewrites its entry there (the index projects all): about 5 write units a
/// payout, so one partition's 1,000 a second hold the service to 200 payouts a second
/// (docs/BENCHMARKS.md §7). Read until `cargo xtask migrate` has filled the sharded
/// indexes ([`INDEX_BY_CREATED_SHARD`]).
pub const FEED: &str = "PAYOUTS";

/// The sharded indexes: the same reads as `by_status`, `by_created` and `by_due`, but
/// each partition of those split into shards by the item's id, and keys only, so that a
/// write that changes neither key costs them nothing. Readers query every shard and
/// merge by the sort key (docs/DATA_MODEL.md, "Sharded indexes").
pub const INDEX_BY_STATUS_SHARD: &str = "by_status_shard";
pub const INDEX_BY_CREATED_SHARD: &str = "by_created_shard";
pub const INDEX_BY_DUE_SHARD: &str = "by_due_shard";
pub const STATUS_SHARD_PK: &str = "status_shard_pk";
pub const FEED_SHARD_PK: &str = "feed_shard_pk";
pub const DUE_SHARD_PK: &str = "due_shard_pk";
/// A payout enters and leaves each status once an attempt (2 units in its shard of the
/// status); 32 shards keep the hottest under 0.2 units a payout.
pub const STATUS_SHARDS: u32 = 32;
/// A payout's feed entry is written once, when it is made.
pub const FEED_SHARDS: u32 = 16;
/// A due schedule's entry moves once a period (a delete and a put).
pub const DUE_SHARDS: u32 = 16;

/// The item that says the sharded indexes are complete and are read from now on:
/// written by `cargo xtask migrate` once every payout and schedule carries their keys
/// and the indexes are active (or at once, on a new table).
pub const LAYOUT_PK: &str = "LAYOUT";
pub const LAYOUT_SK: &str = "PAYOUT_INDEXES";

pub const PAYOUT_SK: &str = "PAYOUT";
pub const SCOUT_SK: &str = "SCOUT";
pub const SCHEDULE_SK: &str = "PAYOUT_SCHEDULE";
pub const STATS_TOTALS_SK: &str = "COUNTERS";
pub const STATS_HOUR_PREFIX: &str = "HOUR#";
pub const STATS_DAY_PREFIX: &str = "DAY#";
pub const ORDER_SK: &str = "ORDER";
pub const SUMMARY_SK: &str = "SUMMARY";
pub const ACCOUNT_SK: &str = "ACCOUNT";
pub const ACCOUNT_REVISION_PREFIX: &str = "REV#";
/// Where accounts were kept before they had a key space of their own (under the
/// user's `USER#` partition): read until migrated.
pub const LEGACY_ACCOUNT_SK: &str = "PAYOUT_ACCOUNT";
pub const LEGACY_ACCOUNT_REVISION_PREFIX: &str = "PAYOUT_ACCOUNT#REV#";
pub const WAITING_PREFIX: &str = "WAITS_FOR_ACCOUNT#";
pub const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";
pub const EARNING_PREFIX: &str = "EARNING#";
pub const INGEST_SK: &str = "EVENT";
pub const GATEWAY_SK: &str = "SIMULATED_TRANSFER";
pub const WEBHOOK_EVENT_SK: &str = "WEBHOOK_EVENT";
pub const BULK_REQUEST_SK: &str = "BULK_REQUEST";
pub const EMAIL_SK: &str = "EMAIL";
pub const RECONCILIATION_REPORT_SK: &str = "REPORT";
pub const FINDING_PREFIX: &str = "FINDING#";
/// The table's TTL attribute.
pub const EXPIRES_AT: &str = "expires_at";

pub fn payout_pk(payout_id: Uuid) -> String {
    format!("PAYOUT#{payout_id}")
}

pub fn scout_pk(scout_id: &str) -> String {
    format!("SCOUT#{scout_id}")
}

/// The scout id in a key made by [`scout_pk`].
pub fn scout_id_of(pk: &str) -> Option<&str> {
    pk.strip_prefix("SCOUT#")
}

pub fn ingest_pk(source: &str, event_id: &str) -> String {
    format!("INGEST#{source}#{event_id}")
}

/// An earnings entry's sort key, beside its scout: the key the marketplace sent.
pub fn earning_sk(idempotency_key: &str) -> String {
    format!("{EARNING_PREFIX}{idempotency_key}")
}

pub fn order_pk(order_id: &str) -> String {
    format!("ORDER#{order_id}")
}

pub fn user_pk(user_id: u64) -> String {
    format!("USER#{user_id}")
}

pub fn idempotency_pk(user_id: u64, key: &str) -> String {
    format!("IDEMPOTENCY#{user_id}#{key}")
}

pub fn gateway_pk(transfer_key: &str) -> String {
    format!("GATEWAY#{transfer_key}")
}

pub fn webhook_event_pk(gateway: &str, event_id: &str) -> String {
    format!("WEBHOOK#{gateway}#{event_id}")
}

pub fn bulk_request_pk(admin_id: u64, key: &str) -> String {
    format!("BULK#{admin_id}#{key}")
}

pub fn notify_pk(event_id: &str) -> String {
    format!("NOTIFY#{event_id}")
}

/// Zero-padded, so that revisions sort as numbers.
pub fn account_pk(user_id: u64) -> String {
    format!("ACCOUNT#{user_id}")
}

pub fn account_revision_sk(revision: u64) -> String {
    format!("{ACCOUNT_REVISION_PREFIX}{revision:020}")
}

/// A legacy revision record's key in the account's own partition.
pub fn migrated_revision_sk(legacy_sk: &str) -> Option<String> {
    legacy_sk
        .strip_prefix(LEGACY_ACCOUNT_REVISION_PREFIX)
        .map(|revision| format!("{ACCOUNT_REVISION_PREFIX}{revision}"))
}

pub fn waiting_sk(payout_id: Uuid) -> String {
    format!("{WAITING_PREFIX}{payout_id}")
}

pub fn status_pk(status: PayoutStatus) -> String {
    format!("STATUS#{status}")
}

/// Which of `shards` an id falls in: a function of the id alone, so every write of one
/// item lands in the same shard.
pub fn shard_of(id: &str, shards: u32) -> u32 {
    id.bytes().fold(0u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u32::from(byte))
    }) % shards
}

pub fn status_shard_pk(status: PayoutStatus, shard: u32) -> String {
    format!("STATUS#{status}#{shard}")
}

pub fn feed_shard_pk(shard: u32) -> String {
    format!("{FEED}#{shard}")
}

pub fn due_shard_pk(shard: u32) -> String {
    format!("{DUE}#{shard}")
}

pub fn created_sk(created_at: Timestamp, payout_id: Uuid) -> String {
    format!("{created_at}#{payout_id}")
}

pub fn due_sk(due_at: Timestamp, scout_id: &str) -> String {
    format!("{due_at}#{scout_id}")
}

pub fn reconciliation_pk(date: &str) -> String {
    format!("RECON#{date}")
}

/// `key`: the finding's own (`Finding::key`: kind, subject, both sides' statuses).
pub fn finding_sk(key: &str) -> String {
    format!("{FINDING_PREFIX}{key}")
}

/// Which feed of `by_day` an item is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayFeed {
    /// Payouts, by the first send of their current attempt.
    Sent,
    /// The simulated bank's transfers, by when it made them.
    Simulated,
}

impl DayFeed {
    /// How many partitions a day of the feed is spread over: sends are every payout's,
    /// the simulated bank is a development tool, read a month at a time for reversals.
    pub fn shards(self) -> u32 {
        match self {
            DayFeed::Sent => DAY_SHARDS,
            DayFeed::Simulated => 1,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            DayFeed::Sent => "SENT",
            DayFeed::Simulated => "SIMULATED",
        }
    }

    /// The partition of `by_day` for `day` (`YYYY-MM-DD`, UTC) and `shard`.
    pub fn pk(self, day: &str, shard: u32) -> String {
        format!("{}#{day}#{shard}", self.prefix())
    }

    /// `(day_pk, day_sk)` of the item `id` at `at`: its shard is a function of the id
    /// alone, so every write of one item lands in the same partition.
    pub fn keys(self, at: Timestamp, id: &str) -> (String, String) {
        let shard = shard_of(id, self.shards());
        let day = at.as_utc().format("%Y-%m-%d").to_string();
        (self.pk(&day, shard), format!("{at}#{id}"))
    }
}

pub fn stats_pk(shard: u128) -> String {
    format!("STATS#{shard}")
}
