//! §1 and §3's lifecycle: the processor against the seed's one-after-another order,
//! draining a backlog, and what one payout costs in DynamoDB requests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use shared::auth::Actor;
use shared::config::ProcessorConfig;
use shared::money::Paise;
use shared::process::Processor;
use shared::scout::{request_payout, PayoutRequest};

use super::stats::{median, ms};
use super::world::{World, LIMITS};

pub const LATENCY_MS: u64 = 200;
pub const DEFAULT_LATENCY_MS: u64 = 1000;

pub struct ProcessorFigures {
    pub latency_ms: u64,
    /// Ours at the simulated gateway's default latency (1 s, the seed's), if measured.
    pub concurrent_at_default_ms: Option<f64>,
    pub concurrent_ms: f64,
    pub sequential_ms: f64,
    pub drained: usize,
    pub drain_secs: f64,
    pub drain_requests: BTreeMap<String, u64>,
    pub request_requests: BTreeMap<String, u64>,
    pub settle_requests: BTreeMap<String, u64>,
    pub run_overhead_requests: BTreeMap<String, u64>,
    pub batch_size: usize,
}

fn config(batch_size: usize, concurrency: usize) -> ProcessorConfig {
    ProcessorConfig {
        batch_size,
        concurrency,
        lease_secs: 300,
    }
}

pub async fn run(endpoint: &str, quick: bool) -> Result<ProcessorFigures> {
    let world = World::new(endpoint).await?;
    world.rich_scout("s-bench", 7).await?;
    let gateway = world.gateway(LATENCY_MS, 1.0);
    let rounds = if quick { 1 } else { 3 };

    // A batch of 10 at gateway latency L: the seed's order (concurrency 1) and ours.
    let mut timings: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (slot, concurrency) in [(0, 1), (1, 10)] {
            world.pending("s-bench", 7, 10, 10).await?;
            let processor = Processor::new(&world.store, &gateway, config(10, concurrency));
            let started = Instant::now();
            let summary = processor.run().await?;
            timings[slot].push(started.elapsed());
            anyhow::ensure!(
                summary.completed == 10,
                "a benchmark batch did not complete: {summary:?}"
            );
        }
    }

    // The same batch at the gateway's default latency: the fixed overhead, diluted.
    let concurrent_at_default_ms = if quick {
        None
    } else {
        let default_gateway = world.gateway(DEFAULT_LATENCY_MS, 1.0);
        world.pending("s-bench", 7, 10, 10).await?;
        let started = Instant::now();
        Processor::new(&world.store, &default_gateway, config(10, 10))
            .run()
            .await?;
        Some(ms(started.elapsed()))
    };

    // One payout's lifecycle, request by request.
    let instant = world.gateway(0, 1.0);
    world.counter.reset();
    request_payout(
        &world.store,
        LIMITS,
        &Actor::user(7),
        PayoutRequest {
            scout_id: "s-bench".to_owned(),
            amount: Some(Paise(100)),
            idempotency_key: None,
        },
    )
    .await?;
    let request_requests = world.counter.counts();
    world.counter.reset();
    Processor::new(&world.store, &instant, config(1, 1))
        .run()
        .await?;
    let mut settle_requests = world.counter.counts();
    // What a run costs whatever its size: the two queries (stuck leases, pending).
    world.counter.reset();
    Processor::new(&world.store, &instant, config(10, 10))
        .run()
        .await?;
    let run_overhead_requests = world.counter.counts();
    for (operation, count) in &run_overhead_requests {
        if let Some(total) = settle_requests.get_mut(operation) {
            *total -= (*count).min(*total);
        }
    }
    settle_requests.retain(|_, count| *count > 0);

    // Drain a backlog with no gateway latency: what the service itself sustains.
    let drained = if quick { 100 } else { 1000 };
    world.pending("s-bench", 7, drained, 32).await?;
    world.counter.reset();
    let processor = Processor::new(&world.store, &instant, config(100, 50));
    let started = Instant::now();
    let mut paid = 0;
    loop {
        let summary = processor.run().await?;
        paid += summary.completed;
        if summary.found == 0 {
            break;
        }
    }
    let drain_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(paid == drained, "drained {paid} of {drained}");

    Ok(ProcessorFigures {
        latency_ms: LATENCY_MS,
        concurrent_at_default_ms,
        sequential_ms: ms(median(&timings[0])),
        concurrent_ms: ms(median(&timings[1])),
        drained,
        drain_secs,
        drain_requests: world.counter.counts(),
        request_requests,
        settle_requests,
        run_overhead_requests,
        batch_size: 10,
    })
}
