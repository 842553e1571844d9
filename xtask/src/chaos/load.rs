//! `cargo xtask chaos --load`: the concurrency figures on DynamoDB Local. Every
//! scenario runs the service's own code (the in-process API Gateway and `App::handle`,
//! the processor, the webhook route) on a fresh table, fires its load at once, and then
//! checks the outcome from stored state and the money invariants, not from what the
//! callers were told. A failed check fails the command: these are the figures the
//! issue promises (no overdraw, one payout per order, no double payment, a webhook
//! applied once).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bench::stats::{ms, percentile};
use anyhow::{bail, Context, Result};
use api::auth::DEV_JWT_SECRET;
use aws_sdk_dynamodb::Client;
use devkit::api::{Api, Call};
use devkit::counting::RequestCounter;
use devkit::invariants::{assert_balances, assert_books_balance};
use devkit::table::TableDefinition;
use serde_json::{json, Value};
use shared::auth::{Actor, Role};
use shared::config::{PayoutLimits, ProcessorConfig, WebhookSecrets};
use shared::gateway::razorpayx_webhook::signature;
use shared::money::Paise;
use shared::order::{Order, OrderStatus};
use shared::payout::{Payout, PayoutStatus, Transition};
use shared::process::{Processor, RunSummary};
use shared::scout::{request_payout, PayoutRequest, Scout};
use shared::store::{Lease, PayoutIndex, StatusChange, Store};
use shared::time::Timestamp;
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

/// Setup requests: bounds for the payouts the scenarios prepare, not under test.
const SETUP_LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(1),
    max: Paise(10_000_000),
};

/// The backlogs of scenarios 3 and 4 belong to this many scouts, each with its own
/// owner, as a real queue would: one scout's hot item is scenario 1's subject.
const BACKLOG_SCOUTS: usize = 20;
const BACKLOG_AMOUNT: Paise = Paise(1_000);
/// Users of the backlog scouts: 1000 + scout index, clear of the other scenarios'.
const BACKLOG_FIRST_USER: u64 = 1_000;

const WEBHOOK_SECRET: &str = "load-test-webhook-secret-0001";

/// The one client every scenario shares, and what it sent: the DynamoDB requests of
/// a burst (retries included) explain its latency.
struct Db {
    client: Client,
    counter: RequestCounter,
}

impl Db {
    /// Requests by operation since the last call, as a note for `row`.
    fn note_requests(&self, row: &mut Row, during: &str) {
        let counts = self.counter.counts();
        self.counter.reset();
        let total: u64 = counts.values().sum();
        let by_operation = counts
            .iter()
            .map(|(operation, count)| format!("{operation} {count}"))
            .collect::<Vec<_>>()
            .join(", ");
        row.notes.push(format!(
            "DynamoDB requests {during}: {total} ({by_operation})"
        ));
    }
}

/// One scenario's line in the table.
struct Row {
    scenario: &'static str,
    requests: usize,
    latencies: Vec<Duration>,
    wall: Duration,
    checks: Vec<(bool, String)>,
    /// Figures worth printing under the table that are not checks.
    notes: Vec<String>,
}

impl Row {
    fn new(scenario: &'static str) -> Self {
        Row {
            scenario,
            requests: 0,
            latencies: Vec::new(),
            wall: Duration::ZERO,
            checks: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn check(&mut self, pass: bool, figure: impl Into<String>) {
        self.checks.push((pass, figure.into()));
    }

    fn passed(&self) -> bool {
        self.checks.iter().all(|(pass, _)| *pass)
    }

    /// Failed checks first, so a FAIL names what failed before anything else.
    fn outcome(&self) -> String {
        let (failed, passed): (Vec<_>, Vec<_>) = self.checks.iter().partition(|(pass, _)| !pass);
        let mut figures: Vec<String> = failed
            .iter()
            .map(|(_, figure)| format!("✗ {figure}"))
            .collect();
        figures.extend(passed.iter().map(|(_, figure)| figure.clone()));
        let verdict = if failed.is_empty() {
            "pass"
        } else {
            "**FAIL**"
        };
        format!("{verdict}: {}", figures.join("; "))
    }
}

pub async fn run(endpoint: &str) -> Result<()> {
    let command = std::iter::once("cargo xtask".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let counter = RequestCounter::default();
    let db = Db {
        client: counter.client(endpoint).await,
        counter,
    };
    let started = Instant::now();

    println!("load 0/4: warming DynamoDB Local up (untimed)");
    let warm_up = warm_up(&db).await?;
    let mut rows = Vec::new();
    println!("load 1/4: 200 concurrent payout requests on one scout");
    rows.push(one_scouts_earnings(&db).await?);
    println!("load 2/4: 50 concurrent completions of one order");
    rows.push(one_order(&db).await?);
    println!("load 3/4: 10 overlapping processor loops over 1,000 pending payouts");
    rows.push(overlapping_runs(&db).await?);
    println!("load 4/4: 1,000 webhooks, 30 % duplicates");
    rows.push(webhooks(&db).await?);

    println!(
        "{}",
        report(&command, endpoint, &warm_up, &rows, started.elapsed())
    );
    let failed: Vec<&str> = rows
        .iter()
        .filter(|row| !row.passed())
        .map(|row| row.scenario)
        .collect();
    if !failed.is_empty() {
        bail!("outcome checks failed: {}", failed.join(", "));
    }
    Ok(())
}

fn report(command: &str, endpoint: &str, warm_up: &str, rows: &[Row], total: Duration) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "`{command}` — DynamoDB Local at {endpoint}, {cores} cores, {build} build; \
         {:.1} s in all. {warm_up}",
        total.as_secs_f64()
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| scenario | requests | p50 ms | p99 ms | wall s | outcome check |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.2} | {} |",
            row.scenario,
            row.requests,
            ms(percentile(&row.latencies, 50.0)),
            ms(percentile(&row.latencies, 99.0)),
            row.wall.as_secs_f64(),
            row.outcome()
        );
    }
    for row in rows.iter().filter(|row| !row.notes.is_empty()) {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}:", row.scenario);
        for note in &row.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// 0. Warm-up.

/// Bursts like scenario 1's on a throwaway table, before anything is timed. A freshly
/// started DynamoDB Local (what `chaos --load` usually gets) is a cold JVM: its first
/// few hundred transactions run several times slower, which measured the emulator's
/// JIT rather than our code (scenario 1's p50 was ~8 s cold, under 1 s warm).
async fn warm_up(db: &Db) -> Result<String> {
    const ROUNDS: u64 = 3;
    const REQUESTS: usize = 200;
    let started = Instant::now();
    let store = fresh_store(&db.client, "warm-up").await?;
    let api = Arc::new(Api::new(store.clone()));
    let body = Arc::new(json!({ "amount_paise": 1_000 }).to_string());
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0..ROUNDS {
        let (scout, owner) = (format!("s-warm-{round}"), 500 + round);
        store
            .insert_scout(&Scout::with_earnings(&scout, owner, Paise(100_000)))
            .await?;
        let token = Arc::new(devkit::token::mint(DEV_JWT_SECRET, owner, Role::User, 600)?);
        let path = Arc::new(format!("/scouts/{scout}/request-payout"));
        let calls: Vec<JoinHandle<String>> = (0..REQUESTS)
            .map(|_| {
                let (api, token, path, body) =
                    (api.clone(), token.clone(), path.clone(), body.clone());
                tokio::spawn(async move {
                    let reply = api.post(&path, &token, Some(&body)).await;
                    answer(reply.status, reply.code())
                })
            })
            .collect();
        for call in calls {
            *answers
                .entry(call.await.context("a warm-up request died")?)
                .or_default() += 1;
        }
    }
    db.counter.reset();
    Ok(format!(
        "Warm-up first (untimed): {} payout requests in bursts of {REQUESTS} on a throwaway \
         table, {:.1} s ({}).",
        ROUNDS as usize * REQUESTS,
        started.elapsed().as_secs_f64(),
        describe_counts(&answers)
    ))
}

// ---------------------------------------------------------------------------------
// 1. 200 concurrent payout requests on one scout's earnings.

async fn one_scouts_earnings(db: &Db) -> Result<Row> {
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

// ---------------------------------------------------------------------------------
// 2. 50 concurrent completions of one order.

async fn one_order(db: &Db) -> Result<Row> {
    const ORDER: &str = "o-load";
    const BUYER: u64 = 9;
    const SELLER: u64 = 8;
    const SCOUT: &str = "s-bounty";
    const SCOUT_OWNER: u64 = 7;
    const PRICE: u64 = 50_000;
    const BOUNTY: u64 = 500;
    const REQUESTS: usize = 50;

    let store = fresh_store(&db.client, "order").await?;
    store
        .insert_scout(&Scout::with_earnings(SCOUT, SCOUT_OWNER, Paise::ZERO))
        .await?;
    store
        .insert_order(&Order {
            order_id: ORDER.to_owned(),
            buyer_id: BUYER,
            seller_id: SELLER,
            item_price_paise: Paise(PRICE),
            status: OrderStatus::Delivered,
            scout_id: Some(SCOUT.to_owned()),
            scout_bounty_paise: Some(Paise(BOUNTY)),
            payout_id: None,
            completed_at: None,
        })
        .await?;
    let expected_id = Order::seller_payout_id(ORDER).to_string();
    let api = Arc::new(Api::new(store.clone()));
    let token = Arc::new(devkit::token::mint(DEV_JWT_SECRET, BUYER, Role::User, 600)?);
    let path = Arc::new(format!("/orders/{ORDER}/complete"));
    let barrier = Arc::new(Barrier::new(REQUESTS));
    db.counter.reset();
    let started = Instant::now();
    let calls: Vec<JoinHandle<(Duration, u16, String, Value)>> = (0..REQUESTS)
        .map(|_| {
            let (api, token, path, barrier) =
                (api.clone(), token.clone(), path.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let sent = Instant::now();
                let reply = api.patch(&path, &token).await;
                let payout_id = reply.body["payout"]["payout_id"].clone();
                (
                    sent.elapsed(),
                    reply.status,
                    reply.code().to_owned(),
                    payout_id,
                )
            })
        })
        .collect();
    let mut row = Row::new("2. 50 concurrent completions of one order");
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    let mut other_payout_ids = Vec::new();
    for call in calls {
        let (latency, status, code, payout_id) = call.await.context("a completion task died")?;
        row.latencies.push(latency);
        if status == 200 && payout_id.as_str() != Some(expected_id.as_str()) {
            other_payout_ids.push(payout_id.to_string());
        }
        *answers.entry(answer(status, &code)).or_default() += 1;
    }
    row.wall = started.elapsed();
    db.note_requests(&mut row, "while timed");
    row.requests = REQUESTS;

    let payouts = payouts_of(&store, SELLER).await?;
    let order = store
        .order(ORDER)
        .await?
        .context("the order is missing after the burst")?;
    let scout = store
        .scout(SCOUT)
        .await?
        .context("the bounty scout is missing")?;
    let one_payout = payouts.len() == 1
        && payouts[0].payout_id.to_string() == expected_id
        && order.status == OrderStatus::Completed
        && order.payout_id.map(|id| id.to_string()) == Some(expected_id.clone());
    row.check(
        one_payout,
        format!(
            "{} seller payout(s), order {} with payout {}",
            payouts.len(),
            order.status,
            order
                .payout_id
                .map_or("none".to_owned(), |id| id.to_string())
        ),
    );
    // A completion that loses the race reads the completed order and returns its
    // payout (200); one that keeps losing the transaction to its twins gets
    // `409 conflict` (try again). Nothing else is a correct answer.
    let only_documented = answers
        .keys()
        .all(|answer| answer == "200" || answer == "409 conflict");
    row.check(
        only_documented && other_payout_ids.is_empty(),
        format!(
            "answers {}{}",
            describe_counts(&answers),
            if other_payout_ids.is_empty() {
                ", every 200 names the one payout".to_owned()
            } else {
                format!(", 200s naming another payout: {other_payout_ids:?}")
            }
        ),
    );
    row.check(
        scout.earnings_paise == Paise(BOUNTY) && scout.credited_paise == Paise(BOUNTY),
        format!("bounty credited {} paise", scout.credited_paise.get()),
    );
    books(&mut row, &store, &[SCOUT], &[SELLER, SCOUT_OWNER], true).await;
    Ok(row)
}

// ---------------------------------------------------------------------------------
// 3. 10 overlapping processor loops over 1,000 pending payouts.

struct LoopResult {
    runs: Vec<(Duration, RunSummary)>,
    errors: Vec<String>,
    transfer_calls: HashMap<String, u32>,
}

async fn overlapping_runs(db: &Db) -> Result<Row> {
    const PAYOUTS: usize = 1_000;
    const LOOPS: usize = 10;
    const BATCH: usize = 50;
    const CONCURRENCY: usize = 10;
    // A loop that never finds its queue empty is a bug; this bounds how long it shows.
    const MAX_RUNS_PER_LOOP: usize = 500;

    let store = fresh_store(&db.client, "processor").await?;
    let (scouts, users) = backlog_scouts(&store, PAYOUTS).await?;
    let prepared = Instant::now();
    let made = backlog(&store, PAYOUTS, false).await?;
    let prepare_secs = prepared.elapsed().as_secs_f64();

    let config = ProcessorConfig {
        batch_size: BATCH,
        concurrency: CONCURRENCY,
        lease_secs: 300,
        poll_secs: 60,
        drain: None,
        validate_accounts: false,
    };
    let barrier = Arc::new(Barrier::new(LOOPS));
    db.counter.reset();
    let started = Instant::now();
    let loops: Vec<JoinHandle<LoopResult>> = (0..LOOPS)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                // Each loop is its own Lambda: its own gateway client, one shared bank
                // (the simulated gateway's ledger lives in the table).
                let gateway = devkit::testing::gateway(&store, 1.0);
                let processor = Processor::new(&store, &gateway, config);
                let mut result = LoopResult {
                    runs: Vec::new(),
                    errors: Vec::new(),
                    transfer_calls: HashMap::new(),
                };
                barrier.wait().await;
                for _ in 0..MAX_RUNS_PER_LOOP {
                    let run_started = Instant::now();
                    match processor.run().await {
                        Ok(summary) => {
                            result.runs.push((run_started.elapsed(), summary));
                            if summary.found == 0 {
                                break;
                            }
                        }
                        Err(err) => result.errors.push(err.to_string()),
                    }
                }
                result.transfer_calls = gateway
                    .transfer_calls()
                    .into_iter()
                    .map(|(key, calls)| (key.as_str().to_owned(), calls))
                    .collect();
                result
            })
        })
        .collect();
    let mut row = Row::new("3. 10 overlapping processor loops, 1,000 pending");
    let mut totals = RunSummary::default();
    let mut errors = Vec::new();
    let mut transfer_calls: HashMap<String, u32> = HashMap::new();
    for handle in loops {
        let result = handle.await.context("a processor loop died")?;
        for (latency, summary) in result.runs {
            row.latencies.push(latency);
            totals.found += summary.found;
            totals.completed += summary.completed;
            totals.failed += summary.failed;
            totals.requeued += summary.requeued;
            totals.recovered += summary.recovered;
        }
        errors.extend(result.errors);
        for (key, calls) in result.transfer_calls {
            *transfer_calls.entry(key).or_default() += calls;
        }
    }
    row.wall = started.elapsed();
    db.note_requests(&mut row, "while timed");
    row.requests = row.latencies.len();

    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut stored = 0;
    for user in &users {
        for payout in payouts_of(&store, *user).await? {
            stored += 1;
            *by_status.entry(payout.status.to_string()).or_default() += 1;
        }
    }
    let completed = by_status.get("completed").copied().unwrap_or(0);
    let sent_twice = transfer_calls.values().filter(|calls| **calls > 1).count();
    row.check(
        completed == PAYOUTS && stored == PAYOUTS,
        format!(
            "{completed}/{PAYOUTS} completed ({})",
            describe_counts(&by_status)
        ),
    );
    row.check(
        totals.completed == PAYOUTS,
        format!("runs report {} completions", totals.completed),
    );
    row.check(
        transfer_calls.len() == PAYOUTS && sent_twice == 0,
        format!(
            "{} keys sent to the gateway, {sent_twice} of them more than once",
            transfer_calls.len()
        ),
    );
    row.check(
        errors.is_empty(),
        format!("{} failed runs{}", errors.len(), first_few(&errors)),
    );
    let scout_ids: Vec<&str> = scouts.iter().map(String::as_str).collect();
    books(&mut row, &store, &scout_ids, &users, true).await;
    row.notes.push(format!(
        "{} pending payouts of {BACKLOG_SCOUTS} scouts made in {prepare_secs:.1} s (not timed); \
         BATCH_SIZE {BATCH}, PROCESS_CONCURRENCY {CONCURRENCY}, {LOOPS} loops each running \
         until a run finds the queue empty",
        made.len()
    ));
    row.notes.push(format!(
        "{} runs picked up {} payouts in all ({:.1}× the backlog: overlapping runs read the \
         same oldest payouts and lose the claims), completed {}, failed {}, requeued {}, \
         recovered {}",
        row.requests,
        totals.found,
        totals.found as f64 / PAYOUTS as f64,
        totals.completed,
        totals.failed,
        totals.requeued,
        totals.recovered
    ));
    row.notes.push(
        "p50/p99 are per `Processor::run()`; wall is the whole drain; the simulated \
         gateway's ledger (in the same table) is among the DynamoDB requests"
            .to_owned(),
    );
    Ok(row)
}

// ---------------------------------------------------------------------------------
// 4. 1,000 webhooks, 30 % of them redeliveries.

struct Delivery {
    payout: usize,
    body: String,
    event_id: String,
    signature: String,
}

struct Delivered {
    payout: usize,
    latency: Duration,
    status: u16,
    handled: String,
}

async fn webhooks(db: &Db) -> Result<Row> {
    const DISTINCT: usize = 700;
    const DUPLICATES: usize = 300;
    const WORKERS: usize = 20;
    const SEED: u64 = 0x5EED_0004;

    let store = fresh_store(&db.client, "webhooks").await?;
    let (scouts, users) = backlog_scouts(&store, DISTINCT).await?;
    let sent = backlog(&store, DISTINCT, true).await?;

    let mut deliveries: Vec<Delivery> = sent
        .iter()
        .enumerate()
        .map(|(index, payout)| {
            let body = processed_event(payout, &format!("pout_load{index:06}"));
            Delivery {
                payout: index,
                signature: signature(body.as_bytes(), WEBHOOK_SECRET),
                event_id: format!("evt_load{index:012}"),
                body,
            }
        })
        .collect();
    // RazorpayX redelivers an event unchanged, under its id: any of them, any number
    // of times, in any order relative to the first delivery.
    let mut rng = SplitMix64(SEED);
    for _ in 0..DUPLICATES {
        let original = &deliveries[rng.below(DISTINCT)];
        let again = Delivery {
            payout: original.payout,
            body: original.body.clone(),
            event_id: original.event_id.clone(),
            signature: original.signature.clone(),
        };
        deliveries.push(again);
    }
    for index in (1..deliveries.len()).rev() {
        deliveries.swap(index, rng.below(index + 1));
    }
    let total = deliveries.len();
    let redelivered = {
        let mut seen = vec![0usize; DISTINCT];
        for delivery in &deliveries {
            seen[delivery.payout] += 1;
        }
        seen.iter().filter(|count| **count > 1).count()
    };

    let mut api = Api::new(store.clone());
    api.app.webhook_secrets = Some(
        WebhookSecrets::from_lookup(|name| match name {
            "STAGE" => Some(shared::config::LOCAL_STAGE.to_owned()),
            "RAZORPAYX_WEBHOOK_SECRET" => Some(WEBHOOK_SECRET.to_owned()),
            _ => None,
        })
        .context("the load test's webhook secret")?,
    );
    let api = Arc::new(api);
    let deliveries = Arc::new(deliveries);
    let next = Arc::new(AtomicUsize::new(0));
    db.counter.reset();
    let started = Instant::now();
    let workers: Vec<JoinHandle<Vec<Delivered>>> = (0..WORKERS)
        .map(|_| {
            let (api, deliveries, next) = (api.clone(), deliveries.clone(), next.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(delivery) = deliveries.get(index) else {
                        return done;
                    };
                    let sent = Instant::now();
                    let reply = api
                        .call(Call {
                            method: "POST",
                            path: "/webhooks/razorpayx",
                            body: Some(&delivery.body),
                            headers: vec![
                                ("x-razorpay-event-id", &delivery.event_id),
                                ("x-razorpay-signature", &delivery.signature),
                            ],
                            ..Call::default()
                        })
                        .await;
                    let handled = match reply.body["handled"].as_str() {
                        Some(handled) => handled.to_owned(),
                        None => format!("{} {}", reply.status, reply.code()),
                    };
                    done.push(Delivered {
                        payout: delivery.payout,
                        latency: sent.elapsed(),
                        status: reply.status,
                        handled,
                    });
                }
            })
        })
        .collect();
    let mut row = Row::new("4. 1,000 webhooks, 30 % duplicates");
    let mut handled: BTreeMap<String, usize> = BTreeMap::new();
    let mut applied = vec![0usize; DISTINCT];
    let mut not_200 = 0;
    for worker in workers {
        for delivered in worker.await.context("a webhook worker died")? {
            row.latencies.push(delivered.latency);
            not_200 += usize::from(delivered.status != 200);
            if delivered.handled == "applied" {
                applied[delivered.payout] += 1;
            }
            *handled.entry(delivered.handled).or_default() += 1;
        }
    }
    row.wall = started.elapsed();
    db.note_requests(&mut row, "while timed");
    row.requests = row.latencies.len();

    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut paid_with_utr = 0;
    for user in &users {
        for payout in payouts_of(&store, *user).await? {
            *by_status.entry(payout.status.to_string()).or_default() += 1;
            paid_with_utr += usize::from(
                payout.status == PayoutStatus::Completed
                    && payout.payment_reference.as_deref() == Some(UTR),
            );
        }
    }
    let completed = by_status.get("completed").copied().unwrap_or(0);
    let applied_once = applied.iter().filter(|count| **count == 1).count();
    let applied_twice = applied.iter().filter(|count| **count > 1).count();
    let answered_as_seen = handled
        .iter()
        .filter(|(what, _)| what.as_str() != "applied")
        .all(|(what, _)| what == "duplicate" || what == "ignored");
    let repeats = total - DISTINCT;
    let repeats_answered = handled.get("duplicate").copied().unwrap_or(0)
        + handled.get("ignored").copied().unwrap_or(0);

    row.check(
        completed == DISTINCT && paid_with_utr == DISTINCT,
        format!(
            "{completed}/{DISTINCT} completed with the UTR ({})",
            describe_counts(&by_status)
        ),
    );
    row.check(
        applied_once == DISTINCT && applied_twice == 0,
        format!("applied once {applied_once}, more than once {applied_twice}"),
    );
    row.check(
        answered_as_seen && repeats_answered == repeats,
        format!("answers {}", describe_counts(&handled)),
    );
    row.check(not_200 == 0, format!("{not_200} non-200 answers"));
    let scout_ids: Vec<&str> = scouts.iter().map(String::as_str).collect();
    // The balances and summaries only: these payouts were paid by a bank that exists
    // only in the events, so the simulated gateway's ledger has nothing to agree with.
    books(&mut row, &store, &scout_ids, &users, false).await;
    row.notes.push(format!(
        "{DISTINCT} distinct `payout.processed` events + {repeats} redeliveries (same id and \
         body) of {redelivered} of them, shuffled with seed {SEED:#x}, {WORKERS} at a time; \
         payouts of {BACKLOG_SCOUTS} scouts, claimed and sent before the run"
    ));
    row.notes.push(
        "a redelivery that races its first delivery is answered `ignored` (the payout is \
         already completed) instead of `duplicate` (the receipt is written after the payout)"
            .to_owned(),
    );
    Ok(row)
}

const UTR: &str = "UTR0000000001";

/// The `payout.processed` event RazorpayX would send for the payout's current attempt
/// (shared/tests/webhooks.rs builds the same); the caller signs it.
fn processed_event(payout: &Payout, gateway_id: &str) -> String {
    json!({
        "entity": "event",
        "account_id": "acc_00000000000001",
        "event": "payout.processed",
        "contains": ["payout"],
        "payload": {"payout": {"entity": {
            "id": gateway_id,
            "entity": "payout",
            "fund_account_id": "fa_00000000000001",
            "amount": payout.amount_paise.get(),
            "currency": "INR",
            "notes": {
                "idempotency_key": payout.idempotency_key().as_str(),
                "attempt": payout.attempt.to_string(),
            },
            "fees": 590,
            "tax": 90,
            "status": "processed",
            "utr": UTR,
            "mode": "IMPS",
            "purpose": "payout",
            "reference_id": payout.payout_id.to_string(),
            "narration": "Payout",
            "batch_id": null,
            "status_details": {"reason": null, "description": null, "source": null},
            "created_at": 1_795_485_600
        }}},
        "created_at": 1_795_485_600
    })
    .to_string()
}

// ---------------------------------------------------------------------------------
// Setup shared by the scenarios.

/// A new, empty table from template.yaml on the shared client.
async fn fresh_store(client: &Client, scenario: &str) -> Result<Store> {
    let name = format!("load-{scenario}-{}", uuid::Uuid::new_v4().simple());
    TableDefinition::from_template(&devkit::paths::template())?
        .create(client, &name)
        .await
        .with_context(|| format!("creating table {name}"))?;
    Ok(Store::new(client.clone(), name))
}

fn backlog_scout(index: usize) -> (String, u64) {
    (
        format!("s-backlog-{index:02}"),
        BACKLOG_FIRST_USER + index as u64,
    )
}

/// The backlog's scouts, each with earnings for exactly its share of `payouts`.
async fn backlog_scouts(store: &Store, payouts: usize) -> Result<(Vec<String>, Vec<u64>)> {
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
async fn backlog(store: &Store, count: usize, claimed: bool) -> Result<Vec<Payout>> {
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
async fn claim_and_send(store: &Store, pending: &Payout) -> Result<Payout> {
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
async fn payouts_of(store: &Store, user: u64) -> Result<Vec<Payout>> {
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
async fn books(row: &mut Row, store: &Store, scouts: &[&str], users: &[u64], ledger: bool) {
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

// ---------------------------------------------------------------------------------
// Small helpers.

/// `201`, or `422 insufficient_earnings`: how a client tells the answers apart.
fn answer(status: u16, code: &str) -> String {
    if code.is_empty() {
        status.to_string()
    } else {
        format!("{status} {code}")
    }
}

fn describe_counts(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(what, count)| format!("{count} × {what}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn first_few(messages: &[String]) -> String {
    if messages.is_empty() {
        String::new()
    } else {
        format!(
            " (first: {})",
            messages
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(" | ")
        )
    }
}

/// A seeded generator for the webhook shuffle: the same seed replays the same order,
/// and xtask needs no `rand` for it.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..bound` for a shuffle of a thousand items.
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}
