//! 1. 200 concurrent payout requests on one scout's earnings: none overdraws.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fixtures::{books, fresh_store, payouts_of};
use super::text::{answer, describe_counts, first_few};
use super::{Db, Row};
use anyhow::{Context, Result};
use api::auth::DEV_JWT_SECRET;
use devkit::api::{Api, Call};
use domain::actor::Role;
use domain::money::Paise;
use domain::payout::PayoutStatus;
use serde_json::json;
use service::scout::Scout;
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

pub(super) async fn one_scouts_earnings(db: &Db) -> Result<Row> {
    const SCOUT: &str = "s-load";
    const OWNER: u64 = 7;
    const EARNINGS: u64 = 100_000;
    const AMOUNT: u64 = 1_000;
    const REQUESTS: usize = 200;
    let room = usize::try_from(EARNINGS / AMOUNT)?;

    let store = fresh_store(&db.client, "earnings").await?;
    store
        .insert_scout(&Scout::with_earnings(SCOUT, OWNER, Paise(EARNINGS)))
        .await?;
    let api = Arc::new(Api::new(store.clone()));
    let token = Arc::new(devkit::token::mint(DEV_JWT_SECRET, OWNER, Role::User, 600)?);

    // A reader alongside the burst: a balance that ever went below zero, or stopped
    // adding up, would show here even if later writes hid it. A negative number would
    // not even parse as `Paise`, so an unreadable scout counts as a violation.
    let bursting = Arc::new(AtomicBool::new(true));
    let watcher = tokio::spawn({
        let store = store.clone();
        let bursting = bursting.clone();
        async move {
            let (mut reads, mut lowest, mut broken) = (0usize, u64::MAX, Vec::new());
            while bursting.load(Ordering::Relaxed) {
                match store.scout(SCOUT).await {
                    Ok(Some(scout)) => {
                        lowest = lowest.min(scout.earnings_paise.get());
                        if !scout.balances_add_up() {
                            broken.push(format!("{scout:?}"));
                        }
                    }
                    Ok(None) => broken.push("the scout vanished".to_owned()),
                    Err(err) => broken.push(err.to_string()),
                }
                reads += 1;
            }
            (reads, lowest, broken)
        }
    });

    let path = Arc::new(format!("/scouts/{SCOUT}/request-payout"));
    let body = Arc::new(json!({ "amount_paise": AMOUNT }).to_string());
    let barrier = Arc::new(Barrier::new(REQUESTS));
    db.counter.reset();
    let started = Instant::now();
    let calls: Vec<JoinHandle<(Duration, u16, String)>> = (0..REQUESTS)
        .map(|_| {
            let (api, token, path, body, barrier) = (
                api.clone(),
                token.clone(),
                path.clone(),
                body.clone(),
                barrier.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                let sent = Instant::now();
                let reply = api
                    .call(Call {
                        method: "POST",
                        path: &path,
                        token: Some(&token),
                        body: Some(&body),
                        ..Call::default()
                    })
                    .await;
                (sent.elapsed(), reply.status, reply.code().to_owned())
            })
        })
        .collect();
    let mut row = Row::new("1. 200 concurrent payout requests, one scout (room for 100)");
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    let mut created = 0;
    for call in calls {
        let (latency, status, code) = call.await.context("a payout request task died")?;
        row.latencies.push(latency);
        created += usize::from(status == 201);
        *answers.entry(answer(status, &code)).or_default() += 1;
    }
    row.wall = started.elapsed();
    db.note_requests(&mut row, "while timed");
    row.requests = REQUESTS;
    bursting.store(false, Ordering::Relaxed);
    let (reads, lowest, broken) = watcher.await.context("the balance watcher died")?;
    row.notes.push(format!(
        "the balance watcher's reads are among those GetItems: {reads}, one after another"
    ));

    let scout = store
        .scout(SCOUT)
        .await?
        .context("the scout is missing after the burst")?;
    let payouts = payouts_of(&store, OWNER).await?;
    let created_paise = u64::try_from(created)? * AMOUNT;
    let refusals_expected = answers
        .iter()
        .filter(|(answer, _)| answer.as_str() != "201")
        .all(|(answer, _)| answer == "422 insufficient_earnings" || answer == "409 conflict");

    row.check(created == room, format!("{created} created (201)"));
    row.check(
        refusals_expected,
        format!("answers {}", describe_counts(&answers)),
    );
    row.check(
        scout.earnings_paise == Paise(EARNINGS.saturating_sub(created_paise))
            && scout.earnings_paise == Paise::ZERO,
        format!(
            "earnings {} (reserved {})",
            scout.earnings_paise.get(),
            scout.reserved_paise.get()
        ),
    );
    row.check(
        broken.is_empty(),
        format!(
            "0 overdraws: lowest earnings seen {} in {reads} reads during the burst{}",
            if lowest == u64::MAX {
                "n/a".to_owned()
            } else {
                lowest.to_string()
            },
            first_few(&broken)
        ),
    );
    row.check(
        payouts.len() == created
            && payouts
                .iter()
                .all(|p| p.status == PayoutStatus::Pending && p.amount_paise == Paise(AMOUNT)),
        format!("{} payouts stored", payouts.len()),
    );
    books(&mut row, &store, &[SCOUT], &[OWNER], true).await;
    Ok(row)
}
