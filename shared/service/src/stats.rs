//! `GET /payouts/stats`: how many payouts, and how much money, are in each status and of
//! each type, the oldest one waiting, and what completed and failed lately. Read from
//! counters the store keeps in step with every payout write, never from the payouts
//! themselves: the cost is the same for ten payouts as for ten million.
//!
//! The windows count payouts by how they ended, not status changes: a payout counts in
//! `completed` (or `failed`) of the window it reached that status in, as long as it is
//! still there. One the bank returned, or that was retried or cancelled, no longer
//! counts where it ended before; a retried payout counts again where it ends next. So
//! each payout counts once, by its last ending, and a completion returned by the bank
//! is not money paid (store::stats says how the buckets keep to this).

use std::collections::BTreeMap;

use chrono::Duration;
use serde::Serialize;
use tracing::error;
use uuid::Uuid;

use domain::actor::Actor;
use domain::error::Result;
use domain::money::Paise;
use domain::payout::{Payout, PayoutStatus, PayoutType};
use domain::time::Timestamp;
use store::{Buckets, CounterBucket, CounterItem, PayoutIndex, Store};

/// How many payouts, and how much money.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub count: u64,
    pub amount_paise: Paise,
}

/// The payouts that completed, and those that failed, within a window and are still
/// completed or failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Window {
    pub completed: Tally,
    pub failed: Tally,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OldestPending {
    pub payout_id: Uuid,
    pub created_at: Timestamp,
    pub age_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PayoutStats {
    pub as_of: Timestamp,
    /// Every status, those with no payouts too.
    pub by_status: BTreeMap<&'static str, Tally>,
    pub by_type: BTreeMap<&'static str, Tally>,
    pub total: Tally,
    pub oldest_pending: Option<OldestPending>,
    /// The current UTC hour and the 23 before it.
    pub last_24h: Window,
    /// The current UTC day and the 6 before it.
    pub last_7d: Window,
}

/// Running sums over the counter shards, in i128 so that a negative one (which would
/// mean the books are wrong) shows up instead of wrapping.
#[derive(Default)]
struct Sums(BTreeMap<String, i128>);

impl Sums {
    fn add(&mut self, item: &CounterItem) {
        for (name, value) in &item.values {
            *self.0.entry(name.clone()).or_default() += value;
        }
    }

    /// An hour or day bucket: its payouts by how they ended, retractions taken off.
    fn add_endings(&mut self, item: &CounterItem) {
        for status in Buckets::STATUSES {
            let (count, paise) = item.endings(status);
            *self.0.entry(format!("{status}_count")).or_default() += count;
            *self.0.entry(format!("{status}_paise")).or_default() += paise;
        }
    }

    fn tally(&self, prefix: &str) -> Tally {
        Tally {
            count: self.non_negative(&format!("{prefix}_count")),
            amount_paise: Paise(self.non_negative(&format!("{prefix}_paise"))),
        }
    }

    fn non_negative(&self, name: &str) -> u64 {
        let value = self.0.get(name).copied().unwrap_or_default();
        u64::try_from(value).unwrap_or_else(|_| {
            error!(event = "stats_counter_negative", counter = name, value = %value, "a payout counter is negative: the books need a look");
            0
        })
    }
}

/// The oldest pending payout. A page of a status's listing leaves out the payouts
/// whose status moved on since their index entry was written, so the head of the index
/// may hold none: the walk goes on past such entries.
async fn oldest_pending(store: &Store) -> Result<Option<Payout>> {
    let mut start = None;
    loop {
        let page = store
            .query_payouts(
                &PayoutIndex::Status(PayoutStatus::Pending),
                false,
                10,
                start,
            )
            .await?;
        if let Some(oldest) = page.payouts.into_iter().next() {
            return Ok(Some(oldest));
        }
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(None),
        }
    }
}

pub async fn payout_stats(store: &Store, actor: &Actor) -> Result<PayoutStats> {
    actor.require_admin()?;
    let now = Timestamp::now();
    let at = now.as_utc();
    let hours: Vec<String> = (0..24)
        .map(|back| Buckets::of(at - Duration::hours(back)).hour)
        .collect();
    let days: Vec<String> = (0..7)
        .map(|back| Buckets::of(at - Duration::days(back)).day)
        .collect();
    let (items, oldest) =
        tokio::try_join!(store.stats_items(&hours, &days), oldest_pending(store),)?;
    let (mut totals, mut day, mut week) = (Sums::default(), Sums::default(), Sums::default());
    for item in &items {
        match &item.bucket {
            CounterBucket::Totals => totals.add(item),
            CounterBucket::Hour(_) => day.add_endings(item),
            CounterBucket::Day(_) => week.add_endings(item),
        }
    }
    let by_status: BTreeMap<&'static str, Tally> = PayoutStatus::ALL
        .into_iter()
        .map(|status| (status.as_str(), totals.tally(status.as_str())))
        .collect();
    let total = by_status
        .values()
        .fold(Tally::default(), |sum, tally| Tally {
            count: sum.count.saturating_add(tally.count),
            amount_paise: sum
                .amount_paise
                .checked_add(tally.amount_paise)
                .unwrap_or(sum.amount_paise),
        });
    let window = |sums: &Sums| Window {
        completed: sums.tally(PayoutStatus::Completed.as_str()),
        failed: sums.tally(PayoutStatus::Failed.as_str()),
    };
    Ok(PayoutStats {
        as_of: now,
        by_type: PayoutType::ALL
            .into_iter()
            .map(|kind| (kind.as_str(), totals.tally(kind.as_str())))
            .collect(),
        by_status,
        total,
        oldest_pending: oldest.as_ref().map(|payout| OldestPending {
            payout_id: payout.payout_id,
            created_at: payout.created_at,
            age_seconds: u64::try_from(
                (now.unix_millis() - payout.created_at.unix_millis()).max(0) / 1000,
            )
            .unwrap_or_default(),
        }),
        last_24h: window(&day),
        last_7d: window(&week),
    })
}

/// Counts every payout again and makes the totals say so: for a table that had payouts
/// before the counters existed (deployed onto an older version), or to repair them.
/// Run it with every writer stopped (the processor's schedule disabled, the API's
/// stage throttled to zero): a payout written meanwhile would be counted wrong. The
/// hour and day windows are not rebuilt; they fill again within a week.
pub async fn recount(store: &Store) -> Result<Tally> {
    let mut totals: std::collections::HashMap<String, i128> = std::collections::HashMap::new();
    let mut counted = Tally::default();
    let mut start = None;
    loop {
        let page = store
            .query_payouts(&PayoutIndex::All, false, 100, start)
            .await?;
        for payout in &page.payouts {
            let amount = i128::from(payout.amount_paise.get());
            for group in [payout.status.as_str(), payout.payout_type.as_str()] {
                *totals.entry(format!("{group}_count")).or_default() += 1;
                *totals.entry(format!("{group}_paise")).or_default() += amount;
            }
            counted.count += 1;
            counted.amount_paise = counted
                .amount_paise
                .checked_add(payout.amount_paise)
                .unwrap_or(counted.amount_paise);
        }
        match page.next {
            Some(next) => start = Some(next),
            None => break,
        }
    }
    store.replace_counter_totals(&totals).await?;
    tracing::info!(
        event = "stats_recounted",
        payouts = counted.count,
        amount_paise = counted.amount_paise.get(),
        "payout counters recounted"
    );
    Ok(counted)
}
