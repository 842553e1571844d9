//! 3. 10 overlapping processor loops over 1,000 pending payouts: each paid once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fixtures::{backlog, backlog_scouts, books, fresh_store, payouts_of, BACKLOG_SCOUTS};
use super::text::{describe_counts, first_few};
use super::{Db, Row};
use anyhow::{Context, Result};
use service::config::ProcessorConfig;
use service::process::{Processor, RunSummary};
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

pub(super) struct LoopResult {
    runs: Vec<(Duration, RunSummary)>,
    errors: Vec<String>,
    transfer_calls: HashMap<String, u32>,
}

pub(super) async fn overlapping_runs(db: &Db) -> Result<Row> {
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
