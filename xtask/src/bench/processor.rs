//! §1 and §2's lifecycle: the processor against the original one-after-another order,
//! draining a backlog, and what one payout costs in DynamoDB requests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use devkit::razorpayx::{FakeConfig, FakeRazorpayX, Faults};
use domain::actor::Actor;
use domain::money::Paise;
use gateway::RazorpayX;
use platform::vault::Vault;
use service::account::{save_payout_account, Destination, NewPayoutAccount};
use service::config::{Drain, ProcessorConfig, RazorpayXConfig, DEV_RAZORPAYX_KEY_SECRET};
use service::process::{Processor, Stopped};
use service::scout::{request_payout, PayoutRequest};

use super::stats::{median, ms};
use super::world::{World, LIMITS};

pub const LATENCY_MS: u64 = 200;
pub const DEFAULT_LATENCY_MS: u64 = 1000;

/// (gateway latency ms, `PROCESS_CONCURRENCY`) for the drain-mode runs.
pub const DRAIN_CASES: [(u64, usize); 4] = [(0, 50), (200, 10), (200, 50), (1000, 50)];
/// `BATCH_SIZE` of the drain-mode runs.
pub const DRAIN_BATCH: usize = 100;

/// One invocation in drain mode, emptying a backlog.
pub struct DrainFigure {
    pub latency_ms: u64,
    pub concurrency: usize,
    pub payouts: usize,
    pub batches: usize,
    pub secs: f64,
}

pub struct ProcessorFigures {
    pub latency_ms: u64,
    /// Ours at the simulated gateway's default latency (1 s), if measured.
    pub concurrent_at_default_ms: Option<f64>,
    pub concurrent_ms: f64,
    /// Ours with the gateway answering at once (L = 0): the run's own cost.
    pub concurrent_at_zero_ms: f64,
    pub sequential_ms: f64,
    /// One batch at L, captured phase by phase, and DynamoDB Local's own time for its
    /// requests; the captured run's wall time.
    pub floor: super::floor::Floor,
    pub floor_run_ms: f64,
    /// Drain mode at each of [`DRAIN_CASES`].
    pub drains: Vec<DrainFigure>,
    /// The drain at gateway latency 0, request by request.
    pub drain_requests: BTreeMap<String, u64>,
    pub request_requests: BTreeMap<String, u64>,
    pub settle_requests: BTreeMap<String, u64>,
    pub run_overhead_requests: BTreeMap<String, u64>,
    pub batch_size: usize,
    /// With RazorpayX (the local one): the run that sends a user's first payout
    /// (registering the account), the run that sends a later one, and the run that
    /// finds it processed and settles it, each without the run's own queries.
    pub razorpayx_first_send: BTreeMap<String, u64>,
    pub razorpayx_send: BTreeMap<String, u64>,
    pub razorpayx_settle: BTreeMap<String, u64>,
    /// With `PAYOUT_ACCOUNT_VALIDATION` on: a new bank account's first payout.
    pub verification: VerificationCost,
}

/// What verifying a new destination costs, once per destination: the run that starts
/// the check (its payout waits), and the run that reads the answer and sends the
/// payout, each without the run's own queries; the validations RazorpayX made and what
/// they debited.
pub struct VerificationCost {
    pub start: BTreeMap<String, u64>,
    pub answer_and_send: BTreeMap<String, u64>,
    pub validations: usize,
    pub debited_paise: u64,
    /// Validations made for a second payout to the same account: none.
    pub validations_for_second_payout: usize,
}

fn config(batch_size: usize, concurrency: usize) -> ProcessorConfig {
    ProcessorConfig {
        batch_size,
        concurrency,
        lease_secs: 300,
        poll_secs: 60,
        drain: None,
        validate_accounts: false,
    }
}

pub async fn run(endpoint: &str, vault: &Vault, quick: bool) -> Result<ProcessorFigures> {
    let world = World::new(endpoint).await?;
    world.rich_scout("s-bench", 7).await?;
    let gateway = world.gateway(LATENCY_MS, 1.0);
    let rounds = if quick { 1 } else { 3 };

    // A batch of 10 at gateway latency L: one after another (concurrency 1) and ours;
    // and ours with a gateway that answers at once, which leaves the run's own cost.
    let instant = world.gateway(0, 1.0);
    let mut timings: [Vec<Duration>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (slot, concurrency) in [(0, 1), (1, 10), (2, 10)] {
            world.pending("s-bench", 7, 10, 10).await?;
            let gateway = if slot == 2 { &instant } else { &gateway };
            let processor = Processor::new(&world.store, gateway, config(10, concurrency));
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

    let (floor, floor_run_ms) = batch_floor(endpoint).await?;

    // One payout's lifecycle, request by request.
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

    // Drain mode: one invocation takes batch after batch until the queue is empty.
    // At gateway latency 0 it shows what the service itself sustains (and what a
    // payout costs in requests); at 200 ms and 1 s, what a real gateway allows.
    let drained = if quick { 100 } else { 1000 };
    let mut drains = Vec::new();
    let mut drain_requests = BTreeMap::new();
    for (latency_ms, concurrency) in DRAIN_CASES {
        let gateway = world.gateway(latency_ms, 1.0);
        world.pending("s-bench", 7, drained, 32).await?;
        world.counter.reset();
        let processor = Processor::new(
            &world.store,
            &gateway,
            ProcessorConfig {
                drain: Some(Drain { margin_secs: 30 }),
                validate_accounts: false,
                ..config(DRAIN_BATCH, concurrency)
            },
        );
        let started = Instant::now();
        let summary = processor
            .run_until(Some(Instant::now() + Duration::from_secs(900)))
            .await?;
        let secs = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            summary.completed == drained && summary.stopped == Stopped::QueueEmpty,
            "drained {} of {drained}: {summary:?}",
            summary.completed
        );
        if latency_ms == 0 {
            drain_requests = world.counter.counts();
        }
        drains.push(DrainFigure {
            latency_ms,
            concurrency,
            payouts: drained,
            batches: summary.batches,
            secs,
        });
    }

    let (razorpayx_first_send, razorpayx_send, razorpayx_settle) =
        razorpayx_lifecycle(&world, vault, &run_overhead_requests).await?;
    let verification = verification_cost(&world, vault, &run_overhead_requests).await?;

    Ok(ProcessorFigures {
        verification,
        razorpayx_first_send,
        razorpayx_send,
        razorpayx_settle,
        latency_ms: LATENCY_MS,
        concurrent_at_default_ms,
        sequential_ms: ms(median(&timings[0])),
        concurrent_ms: ms(median(&timings[1])),
        concurrent_at_zero_ms: ms(median(&timings[2])),
        floor,
        floor_run_ms,
        drains,
        drain_requests,
        request_requests,
        settle_requests,
        run_overhead_requests,
        batch_size: 10,
    })
}

/// One batch of 10 at L on a world of its own, every request captured (the service's
/// and the simulated gateway's ledger's), then sent again to copies of the table as it
/// was before the run: where the run's time goes, and the least DynamoDB Local takes
/// for the same requests. The captured run's wall time beside it.
async fn batch_floor(endpoint: &str) -> Result<(super::floor::Floor, f64)> {
    let capture = devkit::replay::Capture::new("service");
    let world = World::captured(endpoint, &capture).await?;
    world.rich_scout("s-floor", 8).await?;
    let gateway = world.gateway(LATENCY_MS, 1.0);
    // A first run, unmeasured, as the rounds above had before theirs (the store's
    // layout read, the client's connections).
    world.pending("s-floor", 8, 10, 10).await?;
    Processor::new(&world.store, &gateway, config(10, 10))
        .run()
        .await?;
    world.pending("s-floor", 8, 10, 10).await?;
    let client = devkit::dynamodb_local::client(endpoint).await;
    let copies = super::floor::copies(&client, world.store.table(), 2).await?;
    let (at_once, alone) = match copies.as_slice() {
        [at_once, alone] => (at_once.clone(), alone.clone()),
        _ => anyhow::bail!("two copies of the table"),
    };
    capture.start();
    let started = Instant::now();
    let summary = Processor::new(&world.store, &gateway, config(10, 10))
        .run()
        .await?;
    let run_ms = ms(started.elapsed());
    let calls = capture.stop();
    anyhow::ensure!(
        summary.completed == 10,
        "the captured batch did not complete: {summary:?}"
    );
    let floor = super::floor::measure(
        &client,
        &calls,
        started,
        world.store.table(),
        &at_once,
        &alone,
    )
    .await?;
    Ok((floor, run_ms))
}

type Counts = BTreeMap<String, u64>;

/// One payout through RazorpayX (the local one, settling at once), request by
/// request: the runs that send it and the run that settles it.
async fn razorpayx_lifecycle(
    world: &World,
    vault: &Vault,
    overhead: &Counts,
) -> Result<(Counts, Counts, Counts)> {
    let (_fake, gateway) = local_razorpayx(vault).await?;
    world.rich_scout("s-rzp", 21).await?;
    let account = NewPayoutAccount {
        name: "Bench Payee".to_owned(),
        destination: Destination::Vpa {
            address: "bench@okhdfc".to_owned(),
        },
        email: None,
    };
    // The payee's first account: nothing is held.
    save_payout_account(&world.store, vault, &Actor::user(21), account, 0).await?;
    let processor = Processor::new(
        &world.store,
        &gateway,
        ProcessorConfig {
            poll_secs: 1,
            drain: None,
            validate_accounts: false,
            ..config(1, 1)
        },
    );
    let counted = |counts: Counts| without(overhead, counts);
    let mut sends = Vec::new();
    let mut settle = Counts::new();
    for _ in 0..2 {
        world.pending("s-rzp", 21, 1, 1).await?;
        world.counter.reset();
        let sent = processor.run().await?;
        anyhow::ensure!(sent.accepted == 1, "RazorpayX did not accept: {sent:?}");
        sends.push(counted(world.counter.counts()));
        // Processed at the local RazorpayX within its 50 ms tick; due for a look after 1 s.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        world.counter.reset();
        let settled = processor.run().await?;
        anyhow::ensure!(settled.completed == 1, "not settled: {settled:?}");
        settle = counted(world.counter.counts());
    }
    let later = sends.pop().unwrap_or_default();
    let first = sends.pop().unwrap_or_default();
    Ok((first, later, settle))
}

/// A new bank account's first payout with validation on, then a second payout to it.
async fn verification_cost(
    world: &World,
    vault: &Vault,
    overhead: &Counts,
) -> Result<VerificationCost> {
    let (fake, gateway) = local_razorpayx(vault).await?;
    world.rich_scout("s-verify", 23).await?;
    let account = NewPayoutAccount {
        name: "Bench Payee".to_owned(),
        destination: Destination::BankAccount {
            ifsc: "HDFC0000053".to_owned(),
            account_number: "765432123456789".to_owned(),
        },
        email: None,
    };
    save_payout_account(&world.store, vault, &Actor::user(23), account, 0).await?;
    let processor = Processor::new(
        &world.store,
        &gateway,
        ProcessorConfig {
            poll_secs: 1,
            drain: None,
            validate_accounts: true,
            ..config(1, 1)
        },
    );
    let without_overhead = |counts: Counts| without(overhead, counts);
    let opening = fake.balance();
    world.pending("s-verify", 23, 1, 1).await?;
    world.counter.reset();
    let started = processor.run().await?;
    anyhow::ensure!(started.accepted == 0, "sent before the check: {started:?}");
    let start = without_overhead(world.counter.counts());
    // Settled at the local RazorpayX within its 50 ms tick.
    tokio::time::sleep(Duration::from_millis(200)).await;
    world.counter.reset();
    let sent = processor.run().await?;
    anyhow::ensure!(sent.accepted == 1, "not sent once verified: {sent:?}");
    let answer_and_send = without_overhead(world.counter.counts());
    let validations = fake.validations().len();
    let payout_paise: u64 = fake
        .payouts()
        .iter()
        .filter_map(|payout| payout["amount"].as_u64())
        .sum();
    let debited_paise = opening
        .saturating_sub(fake.balance())
        .saturating_sub(payout_paise);
    world.pending("s-verify", 23, 1, 1).await?;
    let second = processor.run().await?;
    anyhow::ensure!(second.accepted == 1, "second payout not sent: {second:?}");
    Ok(VerificationCost {
        start,
        answer_and_send,
        validations,
        debited_paise,
        validations_for_second_payout: fake.validations().len() - validations,
    })
}

/// A local RazorpayX that settles at once, and our client for it.
pub(super) async fn local_razorpayx(vault: &Vault) -> Result<(FakeRazorpayX, RazorpayX)> {
    rate_limited_razorpayx(vault, None).await
}

/// The same, with `rate` (calls a second): RazorpayX refuses calls above it with its
/// 429, and our client paces its calls at it.
pub(super) async fn rate_limited_razorpayx(
    vault: &Vault,
    rate: Option<f64>,
) -> Result<(FakeRazorpayX, RazorpayX)> {
    let fake = FakeRazorpayX::start(
        0,
        FakeConfig {
            settle_after: Duration::ZERO,
            faults: Faults {
                rate_limit_tps: rate,
                ..Faults::default()
            },
            ..FakeConfig::default()
        },
    )
    .await?;
    let client = RazorpayXConfig::local(fake.base_url(), DEV_RAZORPAYX_KEY_SECRET, 5_000)
        .with_vault(vault.clone());
    let client = match rate {
        Some(rate) => client.paced(rate),
        None => client,
    };
    let gateway = RazorpayX::new(&client).map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok((fake, gateway))
}

/// `counts` less a run's own queries (`overhead`).
fn without(overhead: &Counts, mut counts: Counts) -> Counts {
    for (operation, count) in overhead {
        if let Some(total) = counts.get_mut(operation) {
            *total -= (*count).min(*total);
        }
    }
    counts.retain(|_, count| *count > 0);
    counts
}
