//! What the scenarios build on: a fresh table each, the backlog scouts and their
//! payouts, and the books checked after every scenario.

use super::Row;
use anyhow::{Context, Result};
use aws_sdk_dynamodb::Client;
use devkit::invariants::{assert_balances, assert_books_balance};
use devkit::table::TableDefinition;
use domain::actor::Actor;
use domain::money::Paise;
use domain::payout::{Payout, Transition};
use domain::time::Timestamp;
use service::config::PayoutLimits;
use service::scout::{request_payout, PayoutRequest, Scout};
use store::{Lease, PayoutIndex, StatusChange, Store};
use tokio::task::JoinHandle;

/// Setup requests: bounds for the payouts the scenarios prepare, not under test.
pub(super) const SETUP_LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(1),
    max: Paise(10_000_000),
};

/// The backlogs of scenarios 3 and 4 belong to this many scouts, each with its own
/// owner, as a real queue would: one scout's hot item is scenario 1's subject.
pub(super) const BACKLOG_SCOUTS: usize = 20;
pub(super) const BACKLOG_AMOUNT: Paise = Paise(1_000);
/// Users of the backlog scouts: 1000 + scout index, clear of the other scenarios'.
pub(super) const BACKLOG_FIRST_USER: u64 = 1_000;

/// A new, empty table from template.yaml on the shared client.
pub(super) async fn fresh_store(client: &Client, scenario: &str) -> Result<Store> {
    let name = format!("load-{scenario}-{}", uuid::Uuid::new_v4().simple());
    TableDefinition::from_template(&devkit::paths::template())?
        .create(client, &name)
        .await
        .with_context(|| format!("creating table {name}"))?;
    Ok(Store::new(client.clone(), name))
}

pub(super) fn backlog_scout(index: usize) -> (String, u64) {
    (
        format!("s-backlog-{index:02}"),
        BACKLOG_FIRST_USER + index as u64,
    )
}

/// The backlog's scouts, each with earnings for exactly its share of `payouts`.
pub(super) async fn backlog_scouts(
    store: &Store,
    payouts: usize,
) -> Result<(Vec<String>, Vec<u64>)> {
    let share = u64::try_from(payouts.div_ceil(BACKLOG_SCOUTS))?;
    let (mut scouts, mut users) = (Vec::new(), Vec::new());
    for index in 0..BACKLOG_SCOUTS {
        let (scout, user) = backlog_scout(index);
        store
            .insert_scout(&Scout::with_earnings(
                &scout,
                user,
                Paise(share * BACKLOG_AMOUNT.get()),
            ))
            .await?;
        scouts.push(scout);
        users.push(user);
    }
    Ok((scouts, users))
}

/// `count` payouts requested by the backlog scouts' owners, one writer per scout (so
/// the setup never contends with itself); `claimed`: each is then claimed and marked
/// sent, as a processor leaves it while the gateway has it.
pub(super) async fn backlog(store: &Store, count: usize, claimed: bool) -> Result<Vec<Payout>> {
    let writers: Vec<JoinHandle<Result<Vec<Payout>>>> = (0..BACKLOG_SCOUTS)
        .map(|index| {
            let store = store.clone();
            let (scout_id, user) = backlog_scout(index);
            let mine = (index..count).step_by(BACKLOG_SCOUTS).count();
            tokio::spawn(async move {
                let mut made = Vec::with_capacity(mine);
                for _ in 0..mine {
                    let payout = request_payout(
                        &store,
                        SETUP_LIMITS,
                        &Actor::user(user),
                        PayoutRequest {
                            scout_id: scout_id.clone(),
                            amount: Some(BACKLOG_AMOUNT),
                            idempotency_key: None,
                        },
                    )
                    .await?
                    .payout()
                    .clone();
                    made.push(if claimed {
                        claim_and_send(&store, &payout).await?
                    } else {
                        payout
                    });
                }
                Ok(made)
            })
        })
        .collect();
    let mut made = Vec::with_capacity(count);
    for writer in writers {
        made.extend(writer.await.context("a setup writer died")??);
    }
    Ok(made)
}

/// The claim a processor makes before calling the gateway, with the attempt marked
/// sent: only the webhook can settle it now.
pub(super) async fn claim_and_send(store: &Store, pending: &Payout) -> Result<Payout> {
    let now = Timestamp::now();
    let mut next = pending.clone();
    next.attempt_sent_at = Some(now);
    next.first_sent_at = Some(now);
    next.processed_at = Some(now);
    next.lease_expires_at = Some(now.plus_secs(300));
    Ok(store
        .change_status(
            pending,
            StatusChange {
                transition: Transition::Claim,
                next,
                lease: Lease::Acquire("load-test"),
                gateway_status_not_in: None,
            },
        )
        .await?)
}

/// Every payout of a user, through the user index.
pub(super) async fn payouts_of(store: &Store, user: u64) -> Result<Vec<Payout>> {
    let mut all = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .query_payouts(&PayoutIndex::User(user), false, 100, start)
            .await?;
        all.extend(page.payouts);
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(all),
        }
    }
}

/// Runs devkit's invariants, which panic on a violation, and records the verdict
/// (with the panic's message) as a check instead of ending the run.
pub(super) async fn books(
    row: &mut Row,
    store: &Store,
    scouts: &[&str],
    users: &[u64],
    ledger: bool,
) {
    let store = store.clone();
    let scouts: Vec<String> = scouts.iter().map(|s| (*s).to_owned()).collect();
    let users = users.to_vec();
    let checked = tokio::spawn(async move {
        let scouts: Vec<&str> = scouts.iter().map(String::as_str).collect();
        if ledger {
            assert_books_balance(&store, &scouts, &users).await;
        } else {
            assert_balances(&store, &scouts, &users).await;
        }
    })
    .await;
    let what = if ledger {
        "books balance (assert_books_balance: balances, summaries, one paid transfer per completed payout)"
    } else {
        "books balance (assert_balances: balances and summaries)"
    };
    match checked {
        Ok(()) => row.check(true, what),
        Err(err) => {
            let why = if err.is_panic() {
                let panic = err.into_panic();
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a panic without a message".to_owned())
            } else {
                err.to_string()
            };
            row.check(false, format!("{what}: {why}"));
        }
    }
}
