//! The money invariants, checked against stored state after every money test:
//! - per scout: `earnings + reserved + paid == credited`; `reserved` equals its payouts
//!   still holding a reservation (pending, processing, failed, reversed), `paid` its
//!   completed ones (a reversed payout's money is back in `reserved`);
//! - per user: the summary equals the sums over the user's payouts;
//! - per table: the payout counters (`GET /payouts/stats`) equal the counts and sums
//!   over every payout, by status and by type;
//! - per payout: exactly one successful transfer in the gateway's ledger if completed
//!   (with the reference the payout shows); none if failed or cancelled; at most one,
//!   under the current attempt and only once that attempt was sent, while the payout
//!   is still on its way (its outcome not yet learned).

use std::collections::{BTreeMap, BTreeSet};

use domain::money::Paise;
use domain::payout::{IdempotencyKey, Payout, PayoutStatus, PayoutType};
use gateway::{PaymentGateway, SimulatedGateway, TransferOutcome};
use store::{PayoutIndex, Store};

/// Every payout on an index, page by page (no scan).
pub async fn payouts_in(store: &Store, index: &PayoutIndex) -> Vec<Payout> {
    let mut all = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .query_payouts(index, false, 100, start)
            .await
            .unwrap_or_else(|err| panic!("querying the payouts of {index:?}: {err}"));
        all.extend(page.payouts);
        match page.next {
            Some(next) => start = Some(next),
            None => return all,
        }
    }
}

/// Every payout of a user, through the user index.
pub async fn user_payouts(store: &Store, user_id: u64) -> Vec<Payout> {
    payouts_in(store, &PayoutIndex::User(user_id)).await
}

/// Every payout in the table, through the `by_created` feed.
pub async fn all_payouts(store: &Store) -> Vec<Payout> {
    payouts_in(store, &PayoutIndex::All).await
}

/// The counters, summed over their shards, equal the count and the sum of the payouts
/// in each status and of each type, and none is left over.
pub async fn assert_counters_match(store: &Store) {
    let mut counted: BTreeMap<String, i128> = BTreeMap::new();
    for item in store
        .stats_items(&[], &[])
        .await
        .expect("reading the payout counters")
    {
        for (name, value) in item.values {
            *counted.entry(name).or_default() += value;
        }
    }
    counted.retain(|_, value| *value != 0);
    let mut expected: BTreeMap<String, i128> = BTreeMap::new();
    for payout in all_payouts(store).await {
        let amount = i128::from(payout.amount_paise.get());
        for group in [payout.status.as_str(), payout.payout_type.as_str()] {
            *expected.entry(format!("{group}_count")).or_default() += 1;
            *expected.entry(format!("{group}_paise")).or_default() += amount;
        }
    }
    expected.retain(|_, value| *value != 0);
    assert_eq!(counted, expected, "payout counters vs the payouts");
}

fn sum<'a>(payouts: impl Iterator<Item = &'a Payout>) -> Paise {
    Paise(payouts.map(|payout| payout.amount_paise.get()).sum())
}

/// Panics, naming the broken rule, unless the books balance for these scouts and users
/// (the scouts' owners are checked too) and the simulated gateway's ledger agrees.
pub async fn assert_books_balance(store: &Store, scout_ids: &[&str], user_ids: &[u64]) {
    let payouts = assert_balances(store, scout_ids, user_ids).await;
    assert_simulated_ledger_agrees(store, &payouts).await;
}

/// The balances and summaries of [`assert_books_balance`], whatever the gateway;
/// returns every payout of the users checked.
pub async fn assert_balances(store: &Store, scout_ids: &[&str], user_ids: &[u64]) -> Vec<Payout> {
    assert_counters_match(store).await;
    let mut all = Vec::new();
    let mut users: BTreeSet<u64> = user_ids.iter().copied().collect();

    for scout_id in scout_ids {
        let scout = store
            .scout(scout_id)
            .await
            .expect("reading a scout")
            .unwrap_or_else(|| panic!("scout {scout_id} is missing"));
        users.insert(scout.user_id);
        assert!(
            scout.balances_add_up(),
            "scout {scout_id}: balances do not add up: {scout:?}"
        );
        let payouts = user_payouts(store, scout.user_id).await;
        let own = || {
            payouts.iter().filter(|p| {
                p.payout_type == PayoutType::ScoutBounty && p.scout_id.as_deref() == Some(*scout_id)
            })
        };
        let reserved = sum(own().filter(|p| p.status.holds_reservation()));
        let paid = sum(own().filter(|p| p.status.is_paid()));
        assert_eq!(
            scout.reserved_paise, reserved,
            "scout {scout_id}: reserved vs its open payouts"
        );
        assert_eq!(
            scout.paid_paise, paid,
            "scout {scout_id}: paid vs its completed payouts"
        );
    }

    for user_id in users {
        let payouts = user_payouts(store, user_id).await;
        let summary = store.summary(user_id).await.expect("reading a summary");
        assert_eq!(
            summary.total,
            payouts.len() as u64,
            "user {user_id}: summary total"
        );
        assert_eq!(
            summary.total_paid_paise,
            sum(payouts.iter().filter(|p| p.status.is_paid())),
            "user {user_id}: summary total_paid_paise"
        );
        assert_eq!(
            summary.pending_paise,
            sum(payouts.iter().filter(|p| p.status.is_in_flight())),
            "user {user_id}: summary pending_paise"
        );
        all.extend(payouts);
    }
    all
}

/// Each completed payout has exactly one paid transfer, with the reference it shows;
/// a failed or cancelled one none; one on its way at most one, under its current
/// attempt, once that attempt was sent.
async fn assert_simulated_ledger_agrees(store: &Store, payouts: &[Payout]) {
    let ledger = SimulatedGateway::new(store.clone(), Default::default());
    {
        for payout in payouts {
            let mut references = Vec::new();
            for attempt in 1..=payout.attempt {
                let key = IdempotencyKey::for_attempt(payout.payout_id, attempt);
                if let Some(TransferOutcome::Paid { reference, .. }) = ledger
                    .lookup(&key, payout)
                    .await
                    .expect("reading the gateway ledger")
                {
                    references.push(reference);
                }
            }
            if payout.status == PayoutStatus::Completed {
                assert_eq!(
                    references.len(),
                    1,
                    "payout {}: transfers",
                    payout.payout_id
                );
                assert_eq!(
                    payout.payment_reference.as_ref(),
                    references.first(),
                    "payout {}: reference",
                    payout.payout_id
                );
            } else if payout.status == PayoutStatus::Reversed {
                assert!(
                    references.len() <= 1,
                    "payout {} is reversed and was paid {} times",
                    payout.payout_id,
                    references.len()
                );
            } else if payout.status.is_in_flight() && payout.sent_at().is_some() {
                let current = IdempotencyKey::for_attempt(payout.payout_id, payout.attempt);
                let paid_before = references.len()
                    - usize::from(matches!(
                        ledger
                            .lookup(&current, payout)
                            .await
                            .expect("reading the gateway ledger"),
                        Some(TransferOutcome::Paid { .. })
                    ));
                assert_eq!(
                    paid_before, 0,
                    "payout {} is {} and an earlier attempt was paid",
                    payout.payout_id, payout.status
                );
            } else {
                assert!(
                    references.is_empty(),
                    "payout {} is {} but was paid",
                    payout.payout_id,
                    payout.status
                );
            }
        }
    }
}
