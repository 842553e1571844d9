//! Payout items: creation (with the reservation, the order, the summary and the
//! idempotency record in one transaction), status changes derived from
//! [`domain::payout::TRANSITIONS`], and index queries.
//!
//! Its rooms: `create` (the creation transactions), `change` (a status change and the
//! conditions it is written under), `queries` (the indexes), `counters` (what a payout
//! adds to the counters and the summary) and `expr` (expressions built with
//! placeholders).

mod change;
mod counters;
mod create;
mod merged;
mod queries;

use uuid::Uuid;

use crate::keys;
use crate::{s, to_item, with_key, Item, PageKey, Store};
use domain::error::{Error, Result};
use domain::money::Paise;
use domain::order::OrderStatus;
use domain::payout::{LeaseUse, Payout, PayoutStatus, Transition};
use domain::time::Timestamp;

/// Which index a payout listing reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayoutIndex {
    Status(PayoutStatus),
    User(u64),
    All,
}

impl PayoutIndex {
    fn name_and_key(&self) -> (&'static str, &'static str, String) {
        match self {
            PayoutIndex::Status(status) => (
                keys::INDEX_BY_STATUS,
                keys::STATUS_PK,
                keys::status_pk(*status),
            ),
            PayoutIndex::User(user_id) => {
                (keys::INDEX_BY_USER, keys::USER_PK, keys::user_pk(*user_id))
            }
            PayoutIndex::All => (keys::INDEX_BY_CREATED, keys::FEED_PK, keys::FEED.to_owned()),
        }
    }

    /// Names the listing a cursor belongs to, so a cursor from one cannot page another.
    pub fn scope(&self) -> String {
        self.name_and_key().2
    }

    /// The attribute the index is partitioned on: a page of it ends on a key that has it.
    pub fn key_attribute(&self) -> &'static str {
        self.name_and_key().1
    }
}

#[derive(Clone, Debug, Default)]
pub struct PayoutPage {
    pub payouts: Vec<Payout>,
    pub next: Option<PageKey>,
}

/// How a status change treats the processing lease.
#[derive(Clone, Copy, Debug)]
pub enum Lease<'a> {
    /// The change neither needs nor touches a lease (admin retry and cancel).
    NotHeld,
    /// Take the lease: only from a state nobody holds.
    Acquire(&'a str),
    /// Take over a lease that ran out at `expired_at`, as observed.
    TakeOver {
        token: &'a str,
        expired_at: Timestamp,
    },
    /// Settle under the lease we hold and give it up.
    Release(&'a str),
    /// The gateway's final word settles the attempt whoever holds it: any lease is
    /// dropped, and its holder's own settle then finds the payout moved on.
    Break,
}

impl Lease<'_> {
    /// What it does to the lease, which the lifecycle's rules name
    /// ([`domain::payout::LEASE_RULES`]).
    pub fn kind(&self) -> LeaseUse {
        match self {
            Lease::NotHeld => LeaseUse::NotHeld,
            Lease::Acquire(_) => LeaseUse::Acquire,
            Lease::TakeOver { .. } => LeaseUse::TakeOver,
            Lease::Release(_) => LeaseUse::Release,
            Lease::Break => LeaseUse::Break,
        }
    }
}

/// One status change: the payout as it should be afterwards, written only if the stored
/// one is still in the state it was read in (and, where a lease is involved, ours).
#[derive(Clone, Debug)]
pub struct StatusChange<'a> {
    pub transition: Transition,
    pub next: Payout,
    pub lease: Lease<'a>,
    /// When set, the write also needs the stored gateway status to be absent or none
    /// of these: a gateway's report never overwrites a later one that won a race.
    pub gateway_status_not_in: Option<&'a [&'a str]>,
}

/// An order's completion as items: the order moves from one of `open_statuses` to
/// `completed_status`, its seller payout (if any) is created, its bounty (if any) is
/// credited to the scout.
#[derive(Clone, Copy, Debug)]
pub struct OrderCompletion<'a> {
    pub order_id: &'a str,
    /// The order as read: completion lands only on that revision in that status, so a
    /// change the marketplace made meanwhile (a new price or bounty) is never settled
    /// on the old one.
    pub read_revision: u64,
    pub read_status: OrderStatus,
    pub payout: Option<&'a Payout>,
    pub bounty: Option<(&'a str, Paise)>,
    pub now: Timestamp,
}

/// Why creating a payout was refused; nothing was written.
#[derive(Debug)]
pub enum CreateRefused {
    /// The scout is missing, is not the payout's owner's, is deactivated, or has less
    /// available.
    ScoutBalance,
    /// The request's idempotency key is already taken.
    IdempotencyKeyTaken,
    /// A payout with this id exists: one whose id derives from what it pays for (a
    /// schedule's period) was made already.
    PayoutExists,
    /// The schedule the payout was made for is no longer due at the time it was read
    /// (its owner changed it, or another sweep moved it on).
    ScheduleMoved,
    /// The order is missing or not open.
    OrderNotOpen,
    /// The order names a scout that does not exist.
    BountyScoutMissing,
    Failed(Error),
}

impl From<Error> for CreateRefused {
    fn from(error: Error) -> Self {
        CreateRefused::Failed(error)
    }
}

pub(crate) fn payout_item(payout: &Payout) -> Result<Item> {
    let mut item = with_key(
        to_item(payout)?,
        &keys::payout_pk(payout.payout_id),
        keys::PAYOUT_SK,
    );
    let created = keys::created_sk(payout.created_at, payout.payout_id);
    item.insert(
        keys::STATUS_PK.to_owned(),
        s(keys::status_pk(payout.status)),
    );
    item.insert(keys::USER_PK.to_owned(), s(keys::user_pk(payout.user_id)));
    item.insert(keys::FEED_PK.to_owned(), s(keys::FEED));
    item.insert(keys::CREATED_SK.to_owned(), s(created));
    item.insert(
        keys::STATUS_SHARD_PK.to_owned(),
        s(status_shard_pk(payout.payout_id, payout.status)),
    );
    item.insert(
        keys::FEED_SHARD_PK.to_owned(),
        s(feed_shard_pk(payout.payout_id)),
    );
    if let Some((day_pk, day_sk)) = sent_day_keys(payout) {
        item.insert(keys::DAY_PK.to_owned(), s(day_pk));
        item.insert(keys::DAY_SK.to_owned(), s(day_sk));
    }
    Ok(item)
}

/// The payout's partition of `by_status_shard` in `status`.
pub(crate) fn status_shard_pk(payout_id: Uuid, status: PayoutStatus) -> String {
    keys::status_shard_pk(
        status,
        keys::shard_of(&payout_id.to_string(), keys::STATUS_SHARDS),
    )
}

/// The payout's partition of `by_created_shard`.
pub(crate) fn feed_shard_pk(payout_id: Uuid) -> String {
    keys::feed_shard_pk(keys::shard_of(&payout_id.to_string(), keys::FEED_SHARDS))
}

/// Where the payout sits in `by_day`: by the first send of its current attempt, which
/// is when the gateway's payout for it was made (or soon after). A payout whose
/// current attempt was never sent is not there.
pub(crate) fn sent_day_keys(payout: &Payout) -> Option<(String, String)> {
    payout
        .first_sent_at
        .map(|sent| keys::DayFeed::Sent.keys(sent, &payout.payout_id.to_string()))
}

impl Store {
    pub async fn payout(&self, payout_id: Uuid) -> Result<Option<Payout>> {
        self.get(&keys::payout_pk(payout_id), keys::PAYOUT_SK).await
    }

    /// The payout, or `NotFound` (404) when there is none.
    pub async fn existing_payout(&self, payout_id: Uuid) -> Result<Payout> {
        self.payout(payout_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: "payout",
                id: payout_id.to_string(),
            })
    }
}
