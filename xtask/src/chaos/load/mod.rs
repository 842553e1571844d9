//! `cargo xtask chaos --load`: the concurrency figures on DynamoDB Local. Every
//! scenario runs the service's own code (the in-process API Gateway and `App::handle`,
//! the processor, the webhook route) on a fresh table, fires its load at once, and then
//! checks the outcome from stored state and the money invariants, not from what the
//! callers were told. A failed check fails the command: these are the figures the
//! issue promises (no overdraw, one payout per order, no double payment, a webhook
//! applied once).
//!
//! One room per scenario (`earnings`, `order`, `runs`, `webhooks`), the untimed
//! `warm_up`, the `fixtures` they build on, and the `text` of their answers.

mod earnings;
mod fixtures;
mod order;
mod runs;
mod text;
mod warm_up;
mod webhooks;

use earnings::one_scouts_earnings;
use order::one_order;
use runs::overlapping_runs;
use warm_up::warm_up;
use webhooks::webhooks;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::bench::stats::{ms, percentile};
use anyhow::{bail, Result};
use aws_sdk_dynamodb::Client;
use devkit::counting::RequestCounter;

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
