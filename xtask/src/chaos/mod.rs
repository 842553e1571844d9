//! `cargo xtask chaos`: seeded randomized histories of the whole money path under
//! faults (the simulation itself is `devkit::chaos`), and `--load`, the concurrency
//! figures. See docs/RELIABILITY.md.

pub mod load;

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use devkit::chaos::{self, GatewayKind, Report};
use futures::StreamExt;

/// Operations per run: enough for overlapping runs, retries and reversals to meet.
pub const DEFAULT_OPERATIONS: usize = 40;
/// How many lines of a failing run's trace are printed.
const TRACE_TAIL: usize = 60;

pub struct Options {
    pub runs: usize,
    pub seed: u64,
    pub gateway: GatewayKind,
    pub operations: usize,
    /// Print every run's trace, not only a failing one's.
    pub verbose: bool,
    /// Runs at once. A run mostly waits (leases expiring, the gateway settling), and
    /// each has its own table, gateway and RazorpayX fake, so runs at once do not meet.
    pub jobs: usize,
}

/// `--jobs`' default. On this 2-core machine simulated runs took 4.2 s each one at a
/// time (40 in 170 s), 2.7 s two at once, 2.1 s four at once (25 in 53 s); RazorpayX
/// runs 10 s one at a time, 2.6 s four at once.
pub const DEFAULT_JOBS: usize = 4;

pub async fn run(args: &[String]) -> Result<()> {
    if args.iter().any(|arg| arg == "--load") {
        let (endpoint, _dynamodb) = crate::servers::dynamodb_for_run("dynamodb-local-load.log")?;
        return load::run(&endpoint).await;
    }
    let options = parse(args)?;
    let mut dynamo = crate::servers::Dynamo::for_run("dynamodb-local-chaos.log")?;
    let (moto_endpoint, _moto) = crate::servers::moto_for_run("moto-chaos.log")?;
    simulate(&mut dynamo, &moto_endpoint, &options).await
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        runs: 100,
        seed: random_seed(),
        gateway: GatewayKind::Simulated,
        operations: DEFAULT_OPERATIONS,
        verbose: false,
        jobs: DEFAULT_JOBS,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--runs" => options.runs = value()?.parse().context("--runs takes a number")?,
            "--seed" => options.seed = value()?.parse().context("--seed takes a number")?,
            "--verbose" => {
                options.verbose = true;
                continue;
            }
            "--ops" => options.operations = value()?.parse().context("--ops takes a number")?,
            "--jobs" => {
                options.jobs = value()?.parse().context("--jobs takes a number")?;
                ensure!(options.jobs > 0, "--jobs is at least 1");
            }
            "--gateway" => {
                options.gateway = match value()?.as_str() {
                    "simulated" => GatewayKind::Simulated,
                    "razorpayx" => GatewayKind::RazorpayX,
                    other => bail!("--gateway is simulated or razorpayx, not `{other}`"),
                }
            }
            other => bail!(
                "unknown flag `{other}`: cargo xtask chaos [--runs N] [--seed S] \
                 [--gateway simulated|razorpayx] [--ops N] [--jobs N] [--verbose] [--load]"
            ),
        }
    }
    Ok(options)
}

pub fn random_seed() -> u64 {
    // Small enough to type back in.
    (uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as u64
}

/// Runs on one DynamoDB Local, when the run started its own, before it is swapped for an
/// empty one: each run's table (deleted after it) still slows every later request
/// ([`crate::servers::Dynamo::renew`]); a thousand runs on one instance took hours.
const RUNS_PER_INSTANCE: usize = 20;

/// Runs `options.runs` histories, seeds `seed`, `seed + 1`, …; each run's seed alone
/// replays it (`--runs 1 --seed <that seed>`).
pub async fn simulate(
    dynamo: &mut crate::servers::Dynamo,
    moto_endpoint: &str,
    options: &Options,
) -> Result<()> {
    let mut client = devkit::dynamodb_local::client(&dynamo.endpoint()).await;
    // Payout accounts are sealed with KMS keys on moto, as deployed ones are in KMS.
    let (vault, _) = devkit::moto::local_vault(moto_endpoint).await?;
    let gateway = options.gateway.as_str();
    // A panic in the code under test becomes a violation with its message; the default
    // hook would also print a backtrace over the progress bar.
    std::panic::set_hook(Box::new(|info| eprintln!("\npanic: {info}")));
    println!(
        "chaos: {} runs from seed {} with the {gateway} gateway, {} operations each, {} at once ({})",
        options.runs,
        options.seed,
        options.operations,
        options.jobs,
        git_revision()
    );
    let started = Instant::now();
    let (mut operations, mut crashes, mut faults, mut done) = (0, 0, 0, 0);
    let mut failed: Vec<Report> = Vec::new();
    let indexes: Vec<usize> = (0..options.runs).collect();
    for (block, block_indexes) in indexes.chunks(RUNS_PER_INSTANCE).enumerate() {
        if block > 0 && dynamo.renew()? {
            client = devkit::dynamodb_local::client(&dynamo.endpoint()).await;
        }
        let mut reports = futures::stream::iter(block_indexes.iter().map(|index| {
            let seed = options.seed.wrapping_add(*index as u64);
            chaos::run(&client, &vault, seed, options.gateway, options.operations)
        }))
        .buffer_unordered(options.jobs);
        while let Some(report) = reports.next().await {
            operations += report.operations;
            crashes += report.crashes;
            faults += report.faults;
            done += 1;
            if options.verbose {
                eprintln!("\nseed {}:", report.seed);
                for line in &report.trace {
                    eprintln!("  {line}");
                }
            }
            if !report.violations.is_empty() {
                failed.push(report);
            }
            progress(done, options.runs, failed.len(), started);
        }
    }
    failed.sort_by_key(|report| report.seed);
    eprintln!();
    for report in &failed {
        println!("\nrun with seed {} broke the invariants:", report.seed);
        for violation in &report.violations {
            println!("  ✗ {violation}");
        }
        println!("  its history, the last {TRACE_TAIL} operations:");
        let skip = report.trace.len().saturating_sub(TRACE_TAIL);
        for line in &report.trace[skip..] {
            println!("    {line}");
        }
        println!(
            "  replay: cargo xtask chaos --runs 1 --seed {} --gateway {gateway} --ops {}",
            report.seed, options.operations
        );
    }
    let violations: usize = failed.iter().map(|r| r.violations.len()).sum();
    println!(
        "runs: {}, operations: {operations}, faults injected: {} ({crashes} of them crashes), violations: {violations} ({:.0} s)",
        options.runs,
        faults + crashes as u64,
        started.elapsed().as_secs_f64()
    );
    if violations > 0 {
        bail!(
            "{} of {} runs broke the invariants",
            failed.len(),
            options.runs
        );
    }
    Ok(())
}

fn progress(done: usize, total: usize, failed: usize, started: Instant) {
    const WIDTH: usize = 30;
    let filled = WIDTH * done / total.max(1);
    eprint!(
        "\r[{}{}] {done}/{total} runs, {failed} failed, {:.0} s",
        "=".repeat(filled),
        " ".repeat(WIDTH - filled),
        started.elapsed().as_secs_f64()
    );
    let _ = std::io::stderr().flush();
}

fn git_revision() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .map(|sha| format!("commit {sha}"))
        .unwrap_or_else(|| "no git revision".to_owned())
}
