//! A run's DynamoDB requests phase by phase, and DynamoDB Local's own time for them:
//! the run's captured requests (`devkit::replay`) sent again, unchanged but for the
//! table's name, to a copy of the table as it was before the run. A phase is a run of
//! requests of one kind from one client, in the order they began (the processor's ten
//! claims, its ten settles); its requests are sent again all at once, as the run sent
//! them, one phase after another, so nothing a later phase's condition reads is
//! missing. Sent again one at a time instead, each shows what one takes alone.

use std::time::Instant;

use anyhow::Result;
use devkit::replay::{self, Captured, Request};
use futures::stream::{self, StreamExt, TryStreamExt};

/// One phase of a run, and DynamoDB Local's own time for it.
#[derive(Clone, Debug)]
pub struct Phase {
    /// `service` or `gateway` (the simulated gateway's ledger).
    pub source: &'static str,
    pub operation: String,
    pub count: usize,
    /// When its first request began and its last was answered, from the run's start.
    pub from_ms: f64,
    pub to_ms: f64,
    /// Its requests sent again at once: the wall time.
    pub at_once_ms: f64,
    /// Its requests sent again one at a time: the mean of one.
    pub alone_ms: f64,
}

pub struct Floor {
    pub phases: Vec<Phase>,
    /// Every phase sent again, one after another: the least the run's requests take.
    pub floor_ms: f64,
    /// Requests refused when sent again where the run's were applied, or the reverse
    /// (should be none: the copy took the very same writes).
    pub refused: usize,
}

/// Copies of `table` as it is now (before the run), to send the run's requests to.
pub async fn copies(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    n: usize,
) -> Result<Vec<String>> {
    // As the worlds whose tables they copy: without the stream.
    let definition = super::world::unstreamed_table()?;
    let mut names = Vec::new();
    for _ in 0..n {
        let name = format!("bench-copy-{}", uuid::Uuid::new_v4().simple());
        definition.create(client, &name).await?;
        replay::copy_items(client, table, &name).await?;
        names.push(name);
    }
    Ok(names)
}

fn phases_of(calls: &[Captured]) -> Vec<Vec<&Captured>> {
    let mut phases: Vec<Vec<&Captured>> = Vec::new();
    for call in calls {
        let same = phases
            .last()
            .and_then(|phase| phase.last())
            .is_some_and(|last| {
                last.source == call.source && last.request.operation() == call.request.operation()
            });
        match phases.last_mut() {
            Some(phase) if same => phase.push(call),
            _ => phases.push(vec![call]),
        }
    }
    phases
}

/// The run's `calls` (begun at or after `started`) by phase, each sent again to
/// `at_once` (a phase at once) and `alone` (one request at a time), both copies of the
/// table `from` as it was before the run.
pub async fn measure(
    client: &aws_sdk_dynamodb::Client,
    calls: &[Captured],
    started: Instant,
    from: &str,
    at_once: &str,
    alone: &str,
) -> Result<Floor> {
    let since = |at: Instant| (at.saturating_duration_since(started)).as_secs_f64() * 1e3;
    let mut phases = Vec::new();
    let mut floor_ms = 0.0;
    let mut refused = 0;
    for phase in phases_of(calls) {
        let requests: Vec<Request> = phase
            .iter()
            .map(|call| call.request.clone().on_table(from, at_once))
            .collect();
        let sent = Instant::now();
        let answers: Vec<bool> = stream::iter(&requests)
            .map(|request| request.send(client))
            .buffer_unordered(requests.len().max(1))
            .try_collect()
            .await?;
        let at_once_ms = sent.elapsed().as_secs_f64() * 1e3;
        refused += answers.iter().filter(|applied| !**applied).count();
        floor_ms += at_once_ms;
        let mut alone_total = 0.0;
        for call in &phase {
            let request = call.request.clone().on_table(from, alone);
            let sent = Instant::now();
            request.send(client).await?;
            alone_total += sent.elapsed().as_secs_f64() * 1e3;
        }
        let first = phase.first().map_or(started, |call| call.began);
        let last = phase
            .iter()
            .filter_map(|call| call.answered)
            .max()
            .unwrap_or(first);
        phases.push(Phase {
            source: phase.first().map_or("service", |call| call.source),
            operation: phase
                .first()
                .map_or_else(String::new, |call| call.request.operation().to_owned()),
            count: phase.len(),
            from_ms: since(first),
            to_ms: since(last),
            at_once_ms,
            alone_ms: alone_total / phase.len().max(1) as f64,
        });
    }
    Ok(Floor {
        phases,
        floor_ms,
        refused,
    })
}

/// The phases as a table: what the run spent on each, and DynamoDB Local's own time.
pub fn table(floor: &Floor) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "| phase | client | requests | in the run, from → to | sent again at once | one alone (mean) | at once ÷ one alone |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for phase in &floor.phases {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} → {:.0} ms | {:.1} ms | {:.1} ms | {:.1} |",
            phase.operation,
            phase.source,
            phase.count,
            phase.from_ms,
            phase.to_ms,
            phase.at_once_ms,
            phase.alone_ms,
            phase.at_once_ms / phase.alone_ms.max(f64::EPSILON)
        );
    }
    out
}
