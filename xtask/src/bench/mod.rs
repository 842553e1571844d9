//! `cargo xtask bench [--quick]`: measures the service and writes
//! `docs/BENCHMARKS.md`. Every figure is a ratio to a baseline measured in the same
//! run, because these machines are noisy and absolute times drift.

mod api;
mod binaries;
mod bulk;
mod drain;
mod floor;
mod heat;
mod processor;
mod reconcile;
pub mod stats;
mod sweep;
mod world;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use anyhow::Result;
use devkit::paths;

use stats::{ms, ratio};

pub async fn run(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|arg| arg == "--quick");
    let only = args
        .iter()
        .position(|arg| arg == "--only")
        .map(|at| args.get(at + 1).map(String::as_str).unwrap_or_default());
    let started = Instant::now();
    let mut dynamo = crate::servers::Dynamo::for_run("dynamodb-local-bench.log")?;
    let endpoint = dynamo.endpoint();
    match only {
        Some("reconcile") => return only_reconcile(&endpoint, quick, started).await,
        Some("heat") => return only_heat(&endpoint, quick, started).await,
        Some("drain") => return only_drain(quick, started).await,
        Some("sweep") => return only_sweep(&endpoint, quick, started).await,
        Some("processor") => return only_processor(&endpoint, quick, started).await,
        Some("bulk") => return only_bulk(&endpoint, quick, started).await,
        Some(other) => anyhow::bail!(
            "cargo xtask bench [--quick] [--only reconcile|heat|drain|sweep|processor|bulk]: no part `{other}` to run alone"
        ),
        None => {}
    }
    let (moto_endpoint, _moto) = crate::servers::moto_for_run("moto-bench.log")?;
    let (vault, account_keys) = devkit::moto::local_vault(&moto_endpoint).await?;

    // Each part on an empty DynamoDB Local when the bench started its own, as each
    // `--only` run is: one part's tables would slow the next's requests
    // (`Dynamo::renew`), and a figure would depend on what ran before it.
    let mut fresh = move || -> Result<String> {
        dynamo.renew()?;
        Ok(dynamo.endpoint())
    };
    println!("bench: processor");
    let processor = processor::run(&endpoint, &vault, quick).await?;
    println!("bench: API handlers");
    let api = api::run(&fresh()?, &vault, quick).await?;
    println!("bench: bulk actions");
    let bulk = bulk::run(&fresh()?, &vault, quick).await?;
    println!("bench: the daily reconciliation");
    let reconciliation = reconcile::run(&fresh()?, quick).await?;
    println!("bench: partition heat");
    let partition_heat = heat::run(&fresh()?, &vault, quick).await?;
    println!("bench: draining at the gateway's rate");
    let paced = drain::run(&vault, paced_backlog(quick)).await?;
    println!("bench: the sweep");
    let swept = sweep::run(&fresh()?, quick).await?;
    println!("bench: release binaries");
    // Every AWS service a function calls is moto's: publish-events, left to find
    // EventBridge in AWS, would wait on a network this machine does not have. The bus
    // and a verified sender, so publish-events and notify do their work rather than
    // fail each time.
    let events = crate::events::EventSettings {
        moto_endpoint: moto_endpoint.clone(),
        bus: BENCH_BUS.to_owned(),
        from_address: BENCH_SENDER.to_owned(),
        configuration_set: BENCH_CONFIGURATION_SET.to_owned(),
    };
    events.prepare().await?;
    let mut aws_env = account_keys.env(&moto_endpoint);
    aws_env.extend(events.function_env());
    let (binaries, build_time) = binaries::run(&fresh()?, &vault, &aws_env, quick).await?;
    // The deployed zips' sizes: the full run packages them; a quick one reports the
    // package `cargo xtask test` built just before, if it is current.
    let root = paths::workspace_root();
    let arm64 = if quick {
        crate::package::verify(&root).ok()
    } else {
        println!("bench: the arm64 package");
        crate::package::build(
            &root,
            crate::package::Scope::Every,
            crate::package::Rebuild::Changed,
        )?;
        Some(crate::package::verify(&root)?)
    };

    let command = if quick {
        "cargo xtask bench --quick"
    } else {
        "cargo xtask bench"
    };
    let report = report(
        command,
        &processor,
        &api,
        &binaries,
        &reconciliation,
        &partition_heat,
        &paced,
        &swept,
        &bulk,
        arm64.as_ref(),
        build_time,
        started.elapsed(),
    );
    let path = report_path(quick);
    std::fs::create_dir_all(path.parent().unwrap_or(&paths::local_dir()))?;
    std::fs::write(&path, report)?;
    println!(
        "bench: wrote {} in {:.0} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What the release binaries publish to and mail through on moto.
const BENCH_BUS: &str = "payouts-bench";
const BENCH_SENDER: &str = "payouts-bench@example.com";
const BENCH_CONFIGURATION_SET: &str = "payouts-bench";

fn report_path(quick: bool) -> std::path::PathBuf {
    if quick {
        paths::local_dir().join("bench").join("BENCHMARKS.quick.md")
    } else {
        paths::workspace_root().join("docs").join("BENCHMARKS.md")
    }
}

/// `cargo xtask bench [--quick] --only reconcile`: §6 alone, written over §6 of the
/// report (and its line under "Targets missed"); the rest of the file stays as the last
/// whole run left it.
async fn only_reconcile(endpoint: &str, quick: bool, started: Instant) -> Result<()> {
    println!("bench: the daily reconciliation");
    let figures = reconcile::run(endpoint, quick).await?;
    let command = if quick {
        "cargo xtask bench --quick --only reconcile"
    } else {
        "cargo xtask bench --only reconcile"
    };
    write_section_and_missed(
        quick,
        reconcile::HEADING,
        &reconcile::section(&figures, command),
        (
            reconcile::MISSED_PREFIX,
            reconcile_missed(&figures).as_deref(),
        ),
        started,
    )
}

/// `cargo xtask bench [--quick] --only heat`: §7 alone, written over §7 of the report;
/// the rest of the file stays as the last whole run left it. It needs moto (the payout
/// accounts' keys), not the release build.
async fn only_heat(endpoint: &str, quick: bool, started: Instant) -> Result<()> {
    let (_moto, vault) = bench_vault().await?;
    println!("bench: partition heat");
    let figures = heat::run(endpoint, &vault, quick).await?;
    let command = only_command("heat", quick);
    write_section(
        quick,
        heat::HEADING,
        &heat::section(&figures, &command),
        started,
    )
}

/// The paced drain's backlog: the 2,000, or a tenth of a second's worth at
/// the lower rate in the quick run.
fn paced_backlog(quick: bool) -> usize {
    if quick {
        40
    } else {
        2_000
    }
}

/// `cargo xtask bench [--quick] --only drain`: §8 alone, written over §8 of the report.
/// Each of its drains starts a DynamoDB Local of its own.
async fn only_drain(quick: bool, started: Instant) -> Result<()> {
    let (_moto, vault) = bench_vault().await?;
    println!("bench: draining at the gateway's rate");
    let figures = drain::run(&vault, paced_backlog(quick)).await?;
    let command = only_command("drain", quick);
    write_section(
        quick,
        drain::HEADING,
        &drain::section(&figures, &command),
        started,
    )
}

/// `cargo xtask bench [--quick] --only sweep`: §9 alone, written over §9 of the report.
async fn only_sweep(endpoint: &str, quick: bool, started: Instant) -> Result<()> {
    println!("bench: the sweep");
    let figures = sweep::run(endpoint, quick).await?;
    let command = only_command("sweep", quick);
    write_section(
        quick,
        sweep::HEADING,
        &sweep::section(&figures, &command),
        started,
    )
}

/// `cargo xtask bench [--quick] --only processor`: §1 alone, written over §1 of the
/// report (its line under "Targets missed" stays as the last whole run left it).
async fn only_processor(endpoint: &str, quick: bool, started: Instant) -> Result<()> {
    let (_moto, vault) = bench_vault().await?;
    println!("bench: processor");
    let figures = processor::run(endpoint, &vault, quick).await?;
    let command = only_command("processor", quick);
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let section = processor_section(&figures).replacen(
        "\n\n",
        &format!("\n\nFigures of this section: `{command}`, {date}.\n\n"),
        1,
    );
    write_section(quick, PROCESSOR_HEADING, &section, started)
}

/// `cargo xtask bench [--quick] --only bulk`: §10 alone, written over §10 of the report.
async fn only_bulk(endpoint: &str, quick: bool, started: Instant) -> Result<()> {
    let (_moto, vault) = bench_vault().await?;
    println!("bench: bulk actions");
    let figures = bulk::run(endpoint, &vault, quick).await?;
    let command = only_command("bulk", quick);
    write_section_and_missed(
        quick,
        bulk::HEADING,
        &bulk::section(&figures, &command),
        (bulk::MISSED_PREFIX, bulk::missed(&figures).as_deref()),
        started,
    )
}

/// The payout accounts' keys on a moto (this run's own unless one is running): what a
/// part run alone needs of the AWS services. Keep the moto while the vault is used.
async fn bench_vault() -> Result<(Option<devkit::moto::Moto>, platform::vault::Vault)> {
    let (moto_endpoint, moto) = crate::servers::moto_for_run("moto-bench.log")?;
    let (vault, _account_keys) = devkit::moto::local_vault(&moto_endpoint).await?;
    Ok((moto, vault))
}

fn only_command(part: &str, quick: bool) -> String {
    let quick = if quick { " --quick" } else { "" };
    format!("cargo xtask bench{quick} --only {part}")
}

/// One part's `section`, written over the section under `heading` of the report; the
/// rest of the file stays as the last whole run left it.
fn write_section(quick: bool, heading: &str, section: &str, started: Instant) -> Result<()> {
    write_report(quick, heading, started, |text| {
        splice_section(text, heading, section)
    })
}

/// As `write_section`, and the part's line under "Targets missed" (`missed`: the line's
/// prefix, and the line, or none when the part met its target) replaced with it.
fn write_section_and_missed(
    quick: bool,
    heading: &str,
    section: &str,
    (prefix, line): (&str, Option<&str>),
    started: Instant,
) -> Result<()> {
    write_report(quick, heading, started, |text| {
        splice_missed(&splice_section(text, heading, section), prefix, line)
    })
}

fn write_report(
    quick: bool,
    heading: &str,
    started: Instant,
    change: impl FnOnce(&str) -> String,
) -> Result<()> {
    let path = report_path(quick);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n".to_owned());
    std::fs::create_dir_all(path.parent().unwrap_or(&paths::local_dir()))?;
    std::fs::write(&path, change(&text))?;
    println!(
        "bench: wrote \"{}\" of {} in {:.0} s",
        heading.trim_start_matches("## "),
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub const PROCESSOR_HEADING: &str = "## 1. Processor";

/// §1: the batch of 10 against L, what the run itself costs, DynamoDB Local's floor
/// under it, and the drains.
fn processor_section(processor: &processor::ProcessorFigures) -> String {
    let mut out = String::new();
    let l = processor.latency_ms as f64;
    let ours = processor.concurrent_ms / l;
    let seed = processor.sequential_ms / l;
    let drain_total: u64 = processor.drain_requests.values().sum();
    let _ = writeln!(out, "{PROCESSOR_HEADING}\n");
    let _ = writeln!(out, "A batch of 10 pending payouts, simulated gateway latency L = {} ms (median of the rounds).\n", processor.latency_ms);
    let _ = writeln!(out, "| run | wall time | ÷ L | target |");
    let _ = writeln!(out, "|---|---|---|---|");
    let _ = writeln!(out, "| baseline: the original order, one payout after another (`PROCESS_CONCURRENCY=1`) | {:.0} ms | {seed:.2} | (≥ 10 by construction) |", processor.sequential_ms);
    let _ = writeln!(out, "| ours: claimed and paid concurrently (`PROCESS_CONCURRENCY=10`) | {:.0} ms | **{ours:.2}** | ≤ 1.1: {} |", processor.concurrent_ms, check(ours <= 1.1));
    if let Some(at_default) = processor.concurrent_at_default_ms {
        let _ = writeln!(out, "| ours at L = 1000 ms (the simulated gateway's default, 1 s) | {at_default:.0} ms | {:.2} | |", at_default / 1000.0);
    }
    let zero = processor.concurrent_at_zero_ms;
    let added = (processor.concurrent_ms - zero) / l;
    let floor = &processor.floor;
    let _ = writeln!(
        out,
        "| ours at L = 0 (a gateway that answers at once: the run's own cost) | {zero:.0} ms | | |"
    );
    let _ = writeln!(out, "| **what the gateway adds**: (T(L) − T(0)) ÷ L | {:.0} ms | **{added:.2}** | ≤ 1.1 (the ten gateway calls overlap): {} |", processor.concurrent_ms - zero, check(added <= 1.1));
    let _ = writeln!(out, "| DynamoDB Local's floor: the run's own requests sent again directly, phase by phase, each phase at once | {:.0} ms | {:.2} | |", floor.floor_ms, floor.floor_ms / l);
    let _ = writeln!(out, "\nSpeed-up over the original order: {:.1}×. The run's cost beyond one gateway round trip is fixed ({:.0} ms here; T(0) = {zero:.0} ms), so its ratio to L falls as L grows.\n", ratio(processor.sequential_ms, processor.concurrent_ms), processor.concurrent_ms - l);
    let _ = writeln!(out, "**Where the run's time goes.** One batch at L = {} ms, on a table of its own, every DynamoDB request captured (the service's client and the simulated gateway's ledger's: the run took {:.0} ms), then sent again, unchanged but for the table's name, to copies of the table as it was before the run (`xtask/src/bench/floor.rs`): each phase's requests all at once as the run sent them, and one at a time. Phases in the order they began:\n", processor.latency_ms, processor.floor_run_ms);
    out.push_str(&floor::table(floor));
    let tx: Vec<&floor::Phase> = floor
        .phases
        .iter()
        .filter(|p| p.operation == "TransactWriteItems" && p.count > 1)
        .collect();
    let tx_at_once: f64 = tx.iter().map(|p| p.at_once_ms).sum();
    let tx_alone = tx.iter().map(|p| p.alone_ms).sum::<f64>() / tx.len().max(1) as f64;
    let tx_count = tx.first().map_or(0, |p| p.count);
    let _ = writeln!(out, "\nSent again, {} request(s) were refused where the run's were applied (0: the copies took the very same writes). The floor, {:.0} ms, is DynamoDB Local's alone: the same requests with the run's concurrency and none of the service's work between them. Its transactions dominate it: {} phase(s) of {tx_count} `TransactWriteItems` (the claims, the settles) took {tx_at_once:.0} ms sent at once, against {tx_alone:.1} ms for one alone: {tx_count} at once took {:.1}× one ({tx_count}× would be one after another, 1× all in parallel){}.\n", floor.refused, floor.floor_ms, tx.len(), tx_at_once / tx.len().max(1) as f64 / tx_alone.max(f64::EPSILON), if tx_at_once / tx.len().max(1) as f64 >= 0.6 * tx_count as f64 * tx_alone { ": DynamoDB Local runs transactions all but one after another" } else { "" });
    let _ = writeln!(out, "**What the raw ratio would need.** T(L) ÷ L ≤ 1.1 needs everything but the gateway's round trip under 0.1 × L = {:.0} ms. The run's own cost here is T(0) = {zero:.0} ms, and DynamoDB Local's floor for the run's requests alone is {:.0} ms, {:.1}× that budget: on DynamoDB Local the raw target is **{}**, and the run cannot show it whatever the service does. What is the service's to meet — the ten gateway calls overlapping, (T(L) − T(0)) ÷ L = {added:.2} — is **{}**. In AWS, DynamoDB serialises transactions only on the same items, and a transaction's round trip is tens of milliseconds at most, not measured here.\n", 0.1 * l, floor.floor_ms, floor.floor_ms / (0.1 * l), if ours <= 1.1 { "met" } else { "missed" }, if added <= 1.1 { "met" } else { "missed" });
    let _ = writeln!(out, "### Draining a backlog (`DRAIN=true`)\n");
    let _ = writeln!(out, "One invocation in drain mode empties a backlog, as a pipeline (a new payout claimed as soon as one finishes; the queue read {} at a time, `BATCH_SIZE`, before what was read runs out), against the simulated gateway at latency L. Without drain mode the processor pays 10 payouts an hour (0.003 payouts/s), as the service's first version did.\n", processor::DRAIN_BATCH);
    let _ = writeln!(out, "| backlog | L | `PROCESS_CONCURRENCY` | reads of the queue | wall time | payouts/s | payouts/hour | × 10/hour |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for drain in &processor.drains {
        let per_sec = drain.payouts as f64 / drain.secs;
        let _ = writeln!(
            out,
            "| {} | {} ms | {} | {} | {:.1} s | **{per_sec:.0}** | {:.0} | {:.0}× |",
            drain.payouts,
            drain.latency_ms,
            drain.concurrency,
            drain.batches,
            drain.secs,
            per_sec * 3600.0,
            per_sec * 3600.0 / 10.0
        );
    }
    let drained = processor.drains.first().map_or(1, |drain| drain.payouts);
    let _ = writeln!(out, "\nAt L = 0 (what the service itself sustains): {:.2} DynamoDB requests per payout ({}). With a gateway, throughput is about `PROCESS_CONCURRENCY / L` until DynamoDB or the gateway's own rate limit binds; a Lambda's 15 minutes at the 1 s row's rate drain that many times 900 s.\n",
        drain_total as f64 / drained as f64, operations(&processor.drain_requests));

    out
}

/// `text` with the section under `heading` replaced by `section`, or put before
/// "Decisions measured" if absent.
fn splice_section(text: &str, heading: &str, section: &str) -> String {
    let section = format!("{}\n", section.trim_end());
    if let Some(start) = text.find(heading) {
        let rest = &text[start + heading.len()..];
        let end = rest
            .find("\n## ")
            .map_or(text.len(), |at| start + heading.len() + at + 1);
        return format!("{}{section}\n{}", &text[..start], &text[end..]);
    }
    match text.find("## Decisions measured") {
        Some(at) => format!("{}{section}\n{}", &text[..at], &text[at..]),
        None => format!("{}\n{section}", text.trim_end()),
    }
}

/// `text` with a part's line under "Targets missed" (the one starting with `prefix`)
/// replaced by `line` (or removed).
fn splice_missed(text: &str, prefix: &str, line: Option<&str>) -> String {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|kept| !kept.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    if let Some(at) = lines
        .iter()
        .position(|heading| heading == "## Targets missed, and why")
    {
        match line {
            Some(line) => {
                if lines.get(at + 2).is_some_and(|next| next == "None.") {
                    lines.remove(at + 2);
                }
                lines.insert(at + 2, line.to_owned());
            }
            // The list's last line gone: the section says so, as a whole run writes it.
            None => {
                let next = lines.get(at + 2);
                if next.is_none_or(|next| !next.starts_with("- ") && next != "None.") {
                    lines.insert(at + 2, "None.".to_owned());
                }
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// §6's line under "Targets missed" when the day does not fit.
fn reconcile_missed(figures: &reconcile::ReconcileFigures) -> Option<String> {
    let largest = figures.days.iter().max_by_key(|day| day.payouts)?;
    (!largest.finished).then(|| {
        format!(
            "{} a day of {} payouts does not fit** the `reconcile` function's {} s; see §6.",
            reconcile::MISSED_PREFIX,
            reconcile::thousands(largest.payouts),
            figures.timeout_secs
        )
    })
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                line.strip_prefix("model name")
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .map(|line| line.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {memory}; {rustc}")
}

fn operations(counts: &BTreeMap<String, u64>) -> String {
    counts
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

// One figure set per section, as the report lists them.
#[allow(clippy::too_many_arguments)]
fn report(
    command: &str,
    processor: &processor::ProcessorFigures,
    api: &api::ApiFigures,
    binaries: &[binaries::BinaryFigures],
    reconciliation: &reconcile::ReconcileFigures,
    partition_heat: &heat::HeatFigures,
    paced: &[drain::PacedDrain],
    swept: &sweep::SweepFigures,
    bulk: &bulk::BulkFigures,
    arm64: Option<&crate::package::Manifest>,
    build_time: std::time::Duration,
    total: std::time::Duration,
) -> String {
    let mut out = String::new();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "- Command: `{command}` (whole run {:.0} s, of which the release build {:.0} s)",
        total.as_secs_f64(),
        build_time.as_secs_f64()
    );
    let _ = writeln!(out, "- Date: {date}");
    let _ = writeln!(out, "- Machine: {}", machine());
    let _ = writeln!(out, "- DynamoDB: DynamoDB Local (in memory) on 127.0.0.1, a new one for each part; tables made from template.yaml without their stream except where a figure reads it (§7, §9's sample): DynamoDB Local writes each stream record inside the write and pays for every one it already holds (`bench::world::unstreamed_table`), which DynamoDB does not; requests counted by an SDK interceptor on the service's client (the simulated gateway's ledger uses its own, uncounted client: those are the bank's requests, not ours)\n");
    let _ = writeln!(out, "Every figure is a ratio to a baseline measured in the same run: absolute times on a shared 2-core machine drift, ratios much less. `cargo xtask test` runs `cargo xtask bench --quick` (smaller counts, written to `.local/bench/`) only to prove the benchmark still works.\n");

    // §1
    let l = processor.latency_ms as f64;
    let ours = processor.concurrent_ms / l;
    let lifecycle: u64 = processor.request_requests.values().sum::<u64>()
        + processor.settle_requests.values().sum::<u64>();
    let overhead: u64 = processor.run_overhead_requests.values().sum();
    let per_payout = lifecycle as f64 + overhead as f64 / processor.batch_size as f64;
    let drain_total: u64 = processor.drain_requests.values().sum();
    let drained = processor.drains.first().map_or(1, |drain| drain.payouts);
    out.push_str(&processor_section(processor));

    // §2
    let _ = writeln!(out, "## 2. DynamoDB cost\n");
    let _ = writeln!(out, "One payout's lifecycle, request → claim → settle:\n");
    let _ = writeln!(out, "| step | requests |");
    let _ = writeln!(out, "|---|---|");
    let _ = writeln!(
        out,
        "| scout requests a stated amount | {} |",
        operations(&processor.request_requests)
    );
    let _ = writeln!(
        out,
        "| claim + settle | {} |",
        operations(&processor.settle_requests)
    );
    let _ = writeln!(
        out,
        "| the run's queries (stuck leases, pending), shared by its batch of {} | {} |",
        processor.batch_size,
        operations(&processor.run_overhead_requests)
    );
    let _ = writeln!(
        out,
        "| **per payout** | **{per_payout:.1}** (target ≤ 4: {}); Scans: 0 |\n",
        check(per_payout <= 4.0)
    );
    let rzp_first: u64 = processor.razorpayx_first_send.values().sum();
    let rzp_send: u64 = processor.razorpayx_send.values().sum();
    let rzp_settle: u64 = processor.razorpayx_settle.values().sum();
    let rzp_request: u64 = processor.request_requests.values().sum();
    let _ = writeln!(out, "The same with `PAYMENT_GATEWAY=razorpayx` (against the local RazorpayX): the payout is sent in one run (accepted, `processing`) and settled in a later one that asks RazorpayX about it.\n");
    let _ = writeln!(out, "| step | requests |");
    let _ = writeln!(out, "|---|---|");
    let _ = writeln!(out, "| send a user's first payout (reads the account, remembers the fund account RazorpayX made, claims, records the acceptance) | {} |", operations(&processor.razorpayx_first_send));
    let _ = writeln!(
        out,
        "| send a later payout (the fund account is known) | {} |",
        operations(&processor.razorpayx_send)
    );
    let _ = writeln!(
        out,
        "| take it over when due, settle as processed | {} |",
        operations(&processor.razorpayx_settle)
    );
    let _ = writeln!(
        out,
        "| **per payout**, request → send → settle, plus two runs' queries shared by a batch of {} | **{:.1}** (first payout of a user: {:.1}) |\n",
        processor.batch_size,
        (rzp_request + rzp_send + rzp_settle) as f64 + 2.0 * overhead as f64 / processor.batch_size as f64,
        (rzp_request + rzp_first + rzp_settle) as f64 + 2.0 * overhead as f64 / processor.batch_size as f64,
    );
    let verification = &processor.verification;
    let _ = writeln!(out, "With `PAYOUT_ACCOUNT_VALIDATION=true`, a new destination is verified once, before its first payout (docs/RAZORPAYX.md):\n");
    let _ = writeln!(out, "| step | requests |");
    let _ = writeln!(out, "|---|---|");
    let _ = writeln!(out, "| the run that meets the new account (registers it, starts the check; the payout waits) | {} |", operations(&verification.start));
    let _ = writeln!(
        out,
        "| the next run (reads the answer, records it, sends the payout) | {} |",
        operations(&verification.answer_and_send)
    );
    let _ = writeln!(
        out,
        "| RazorpayX validations: {} for the first payout, {} for the second; debited beyond the payouts: ₹{}.{:02} (the penny drop; RazorpayX's fee comes on top in live mode) | |\n",
        verification.validations,
        verification.validations_for_second_payout,
        verification.debited_paise / 100,
        verification.debited_paise % 100,
    );
    let _ = writeln!(out, "Per API call (mean over {} warm calls):\n", api.calls);
    let _ = writeln!(out, "| endpoint | requests per call |");
    let _ = writeln!(out, "|---|---|");
    for endpoint in &api.endpoints {
        let ops: Vec<String> = endpoint
            .requests_per_call
            .iter()
            .map(|(op, n)| format!("{op} {n:.2}"))
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | {} |",
            endpoint.endpoint.function(),
            ops.join(", ")
        );
    }
    scaling_table(
        &mut out,
        "my-payouts (`limit=20`) as one user's history grows; baseline: the user with",
        &api.my_payouts_scaling,
        "history: {} (a `Query` with `Limit` on the user index and one summary `GetItem`, whatever the history)",
    );
    scaling_table(
        &mut out,
        "payout-stats as the table grows; baseline: the table with",
        &api.stats_scaling,
        &format!("table: {{}} (two `Query`s of each of the {} counter shards; for the oldest pending payout, one of each of the {} shards of the pending status and a `BatchGetItem` of what they found; the layout marker's `GetItem` once a minute; whatever the number of payouts)", store::STATS_SHARDS, store::keys::STATUS_SHARDS),
    );

    // §3
    let get50 = ms(api.get_item_p50);
    let get99 = ms(api.get_item_p99);
    let _ = writeln!(out, "## 3. Warm API latency\n");
    let _ = writeln!(out, "Each function's handler in process (`App::handle`, the code the Lambda runs, with its token check and JSON), {} warm calls, against DynamoDB Local. Baseline: a raw strongly consistent `GetItem` on the same table, p50 {get50:.2} ms, p99 {get99:.2} ms.\n", api.calls);
    let handler = ms(api.handler_only_p50);
    let _ = writeln!(out, "The handler alone — token verified, input parsed, a 400 written, no DynamoDB request — p50 {handler:.3} ms, {:.2}× GetItem: everything else in the rows below is DynamoDB round trips.\n", ratio(handler, get50));
    let _ = writeln!(out, "| endpoint | p50 | p99 | p50 ÷ GetItem | p99 ÷ GetItem | DynamoDB requests per call | target ≤ 1.3 |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let mut missed_latency = Vec::new();
    for endpoint in &api.endpoints {
        let (p50, p99) = (ms(endpoint.p50), ms(endpoint.p99));
        let requests: f64 = endpoint.requests_per_call.values().sum();
        let (r50, r99) = (ratio(p50, get50), ratio(p99, get99));
        let ok = r50 <= 1.3;
        if !ok {
            missed_latency.push((endpoint.endpoint.function(), r50, requests));
        }
        let _ = writeln!(
            out,
            "| `{}` | {p50:.2} ms | {p99:.2} ms | {r50:.2} | {r99:.2} | {requests:.2} | {} |",
            endpoint.endpoint.function(),
            check(ok)
        );
    }
    let _ = writeln!(out, "\nNot timed here, each for the reason in `xtask/src/bench/api.rs` (the others' requests a call are counted in docs/DATA_MODEL.md): the webhook (a signature, not a token), the dashboard (a page, no DynamoDB request), `end-payout-account-hold` (each call needs a hold of its own), the reconciliation's report and CSV (a day's report only a reconciliation run writes).\n");

    // §4 and §5
    let baseline = binaries.iter().find(|b| b.name == binaries::BASELINE);
    let _ = writeln!(out, "## 4. Cold start\n");
    let _ = writeln!(out, "Each release binary (x86_64, the release profile, built for this machine: the deployed arm64 binaries start only under emulation here, whose times say nothing of Lambda's, so they are left out) started against a local Runtime API stub, from exec to its first `/next`. Baseline: `bench/lambda-hello`, a bare `lambda_runtime` echo built with the same profile. Wall time: median of the runs; instructions: valgrind callgrind (repeatable whatever else the machine does).\n");
    let _ = writeln!(
        out,
        "| binary | init wall | ÷ bare | init instructions | ÷ bare | target ≤ 1.5 |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let mut missed_init = Vec::new();
    for b in binaries {
        let wall_ratio = baseline
            .map(|base| ratio(b.init_ms, base.init_ms))
            .unwrap_or(f64::NAN);
        let (instr, instr_ratio) = match (
            b.init_instructions,
            baseline.and_then(|base| base.init_instructions),
        ) {
            (Some(i), Some(base)) => (
                format!("{:.1} M", i as f64 / 1e6),
                ratio(i as f64, base as f64),
            ),
            (Some(i), None) => (format!("{:.1} M", i as f64 / 1e6), f64::NAN),
            _ => ("not measured".to_owned(), f64::NAN),
        };
        let verdict = if instr_ratio.is_nan() {
            "—"
        } else {
            check(instr_ratio <= 1.5)
        };
        if !instr_ratio.is_nan() && instr_ratio > 1.5 {
            missed_init.push((b.name.clone(), instr_ratio));
        }
        let _ = writeln!(
            out,
            "| `{}` | {:.1} ms | {wall_ratio:.2} | {instr} | {instr_ratio:.2} | {verdict} |",
            b.name, b.init_ms
        );
    }
    let _ = writeln!(out, "\n## 5. Size and memory\n");
    let _ = writeln!(out, "Stripped release binary, its deployment zip (`bootstrap`, deflate), and peak RSS (VmHWM) of the process after serving its sample event from `events/` {} times against DynamoDB Local and moto (`ingest-marketplace` the event of the scout its order names first; the scout `put-order`'s names made beforehand; none failed: no error, 5xx or stream batch handed back). Ratios to the bare function.\n", if command.contains("quick") { 50 } else { 1000 });
    let _ = writeln!(
        out,
        "| binary | binary | zip | zip ÷ bare | zip ≤ 4 MB | peak RSS | RSS ÷ bare | RSS ≤ 25 MB |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let mb = |bytes: u64| bytes as f64 / 1024.0 / 1024.0;
    let mut missed_size = Vec::new();
    for b in binaries {
        let zip_ratio = baseline
            .map(|base| ratio(b.zip_bytes as f64, base.zip_bytes as f64))
            .unwrap_or(f64::NAN);
        let rss = b.peak_rss_kib.map(|kib| kib as f64 / 1024.0);
        let rss_ratio = match (b.peak_rss_kib, baseline.and_then(|base| base.peak_rss_kib)) {
            (Some(kib), Some(base)) => ratio(kib as f64, base as f64),
            _ => f64::NAN,
        };
        let zip_ok = mb(b.zip_bytes) <= 4.0;
        let rss_ok = rss.is_some_and(|rss| rss <= 25.0);
        if !zip_ok || !rss_ok {
            missed_size.push(b.name.clone());
        }
        let _ = writeln!(
            out,
            "| `{}` | {:.2} MB | {:.2} MB | {zip_ratio:.2} | {} | {} | {rss_ratio:.2} | {} |",
            b.name,
            mb(b.binary_bytes),
            mb(b.zip_bytes),
            check(zip_ok),
            rss.map(|r| format!("{r:.1} MB"))
                .unwrap_or_else(|| "—".to_owned()),
            check(rss_ok)
        );
    }

    match arm64 {
        Some(package) => {
            let _ = writeln!(out, "\nThe deployed zips (`cargo xtask package`: {}, the same release profile), as `sam deploy` uploads them:\n", package.target);
            let _ = writeln!(out, "| function | arm64 zip | zip ≤ 4 MB |");
            let _ = writeln!(out, "|---|---|---|");
            for (name, artifact) in &package.functions {
                let zip_ok = mb(artifact.zip_bytes) <= 4.0;
                if !zip_ok {
                    missed_size.push(format!("{name} (arm64)"));
                }
                let _ = writeln!(
                    out,
                    "| `{name}` | {:.2} MB | {} |",
                    mb(artifact.zip_bytes),
                    check(zip_ok)
                );
            }
        }
        None => {
            let _ = writeln!(out, "\nNo current arm64 package (`cargo xtask package`): its zips' sizes are not in this run.");
        }
    }

    let _ = writeln!(out);
    let _ = write!(out, "{}", reconcile::section(reconciliation, command));
    let _ = writeln!(out);
    let _ = write!(out, "{}", heat::section(partition_heat, command));
    let _ = writeln!(out);
    let _ = write!(out, "{}", drain::section(paced, command));
    let _ = writeln!(out);
    let _ = write!(out, "{}", sweep::section(swept, command));
    let _ = writeln!(out);
    let _ = write!(out, "{}", bulk::section(bulk, command));

    let _ = writeln!(out, "\n## Decisions measured\n");
    let _ = writeln!(out, "Measured once on this machine (2026-11-24), `request-scout-payout` and the bare baseline, init instructions by callgrind from exec to the first `/next`, zip as above:\n");
    let _ = writeln!(out, "| build | init instructions | ÷ bare | zip |");
    let _ = writeln!(out, "|---|---|---|---|");
    let _ = writeln!(out, "| opt-level 3, SDK default trust store (reads every file under `/etc/ssl/certs` while the client is built) | 21.7 M | 42 | 4.49 MB |");
    let _ = writeln!(out, "| opt-level 3, AWS root CAs only (`shared/platform/src/aws-roots.pem`) | 2.64 M | 4.8 | 4.50 MB |");
    let _ = writeln!(
        out,
        "| **opt-level \"s\"**, AWS root CAs only (kept) | 2.94 M | 5.4 | 3.22 MB |"
    );
    let _ = writeln!(
        out,
        "| opt-level \"z\", AWS root CAs only | 4.11 M | 7.5 | 3.13 MB |"
    );
    let _ = writeln!(out, "\nCommands: `CARGO_PROFILE_RELEASE_OPT_LEVEL=<level> cargo build --release -p request-scout-payout -p lambda-hello`, then `valgrind --tool=callgrind` with `AWS_LAMBDA_RUNTIME_API` pointing at a closed port (the runtime's first `/next` fails, and init is all that ran). \"s\" is the only setting that meets the 4 MB zip target, at 11 % more init instructions than 3; \"z\" costs 56 % for 0.1 MB more. One `SdkConfig` and one client per process, built in `main`; nothing touches the network at init (strace: no `connect`, no certificate files). The AWS-LC jitter-entropy switch (`AWS_LC_SYS_NO_JITTER_ENTROPY`) changes nothing here: no random bytes are drawn before the first request, so it stays at its default.");

    let _ = writeln!(out, "\n## Targets missed, and why\n");
    let mut any = false;
    if ours > 1.1 {
        any = true;
        let _ = writeln!(out, "- **Processor batch ÷ L = {ours:.2}** (target 1.1): beyond one gateway round trip a run queries each shard of the pending and the processing status ({} a status), and each payout has a claim and a settle; on DynamoDB Local each costs a few ms, {:.0} ms in all here. Against DynamoDB in-region (single-digit ms) the excess shrinks; closing it further means claiming in fewer requests (a claim is a `TransactWriteItems` of the payout and its account's guard: one of up to 100 items could claim 50).", store::keys::STATUS_SHARDS, processor.concurrent_ms - l);
    }
    if per_payout > 4.0 {
        any = true;
        let _ = writeln!(
            out,
            "- **DynamoDB requests per payout = {per_payout:.1}** (target 4): each run reads the queue, oldest first across the {} shards of the pending status, and looks for stuck leases in the {} of the processing status, a `Query` each, shared by the run's batch; a payout's user's account is read before its claim, for its hold and where it goes (docs/RAZORPAYX.md): one `GetItem` in the accounts' own key space and, while the user has no account there, a second of the old location under the user's partition (the fallback until `cargo xtask migrate-payout-accounts` has run); and each page of the queue reads its users' holds in `BatchGetItem`s the page shares. The lifecycle above shares them among a batch of 10; in the drain rows of §1 (batches of {}) a payout costs {:.2}. Once every account has moved, the fallback read can go.",
            store::keys::STATUS_SHARDS,
            store::keys::STATUS_SHARDS,
            processor::DRAIN_BATCH,
            drain_total as f64 / drained as f64
        );
    }
    for (name, r50, requests) in &missed_latency {
        any = true;
        let ops = api
            .endpoints
            .iter()
            .find(|e| e.endpoint.function() == *name)
            .map(|e| {
                e.requests_per_call
                    .iter()
                    .map(|(op, n)| format!("{n:.0} {op}"))
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .unwrap_or_default();
        let _ = writeln!(out, "- **`{name}` p50 = {r50:.2}× GetItem** (target 1.3): it needs {ops} ({requests:.0} request(s)) where the baseline needs one `GetItem`; writes and transactions cost DynamoDB more than a read, and a query returns a page rather than one item. The handler's own work is {handler:.3} ms of it (above). The floor is those round trips, and each is the least its rule needs (one conditional write per status change, one transaction where money moves).");
    }
    for (name, r) in &missed_init {
        any = true;
        let _ = writeln!(out, "- **`{name}` init = {r:.2}× the bare runtime's instructions** (target 1.5): the bare function does almost nothing (about 0.5 M instructions), so the ratio is the absolute cost of building the AWS SDK's configuration and client (credential and region chains, endpoint resolver, the HTTPS connector with its 5 trusted roots), the JSON log subscriber and the token and cursor keys — a few million instructions, about a millisecond. No TLS handshake, certificate store or network call happens at init any more (that was 19 M of the original 21.7 M; see Decisions). Closing the rest means not using the SDK at init: building the client lazily on the first request moves the cost rather than removing it, and a hand-rolled SigV4 DynamoDB client would drop the well-kept SDK, which this service will not trade for a millisecond.");
    }
    for name in &missed_size {
        any = true;
        let _ = writeln!(
            out,
            "- **`{name}` size or memory** over its target; see §5."
        );
    }
    if let Some(line) = reconcile_missed(reconciliation) {
        any = true;
        let _ = writeln!(out, "{line}");
    }
    if let Some(line) = bulk::missed(bulk) {
        any = true;
        let _ = writeln!(out, "{line}");
    }
    if !any {
        let _ = writeln!(out, "None.");
    }
    out
}

/// A "flat as the data grows" table: requests per call and the median, each as a ratio
/// to the smallest size; `flat_note` says what keeps it flat (`{}` is the verdict).
fn scaling_table(
    out: &mut String,
    title: &str,
    rows: &[(usize, f64, std::time::Duration)],
    flat_note: &str,
) {
    let base = rows
        .first()
        .map(|(_, requests, p50)| (*requests, ms(*p50)))
        .unwrap_or((1.0, 1.0));
    // Within a tenth of a request a call: a store looks at the layout marker once a
    // minute, a `GetItem` the minute's calls share (0.01 a call here).
    let flat = rows
        .iter()
        .all(|(_, requests, _)| (*requests - base.0).abs() < 0.1);
    let _ = writeln!(
        out,
        "\n{title} {} payouts:\n",
        rows.first().map(|s| s.0).unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "| payouts | requests per call | ÷ baseline | p50 | ÷ baseline |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (size, requests, p50) in rows {
        let _ = writeln!(
            out,
            "| {size} | {requests:.2} | {:.2} | {:.2} ms | {:.2} |",
            ratio(*requests, base.0),
            ms(*p50),
            ratio(ms(*p50), base.1)
        );
    }
    let _ = writeln!(
        out,
        "\nFlat from the smallest to the largest {}.\n",
        flat_note.replace("{}", check(flat))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str =
        "# Benchmarks\n\n## 6. Daily reconciliation\n\nsix\n\n## Decisions measured\n\nkept\n";

    #[test]
    fn a_parts_missed_line_is_replaced_and_the_list_says_none_when_it_empties() {
        let text = "## Targets missed, and why\n\nNone.\n";
        let added = splice_missed(text, bulk::MISSED_PREFIX, Some("- **Bulk actions: x**"));
        assert_eq!(
            added,
            "## Targets missed, and why\n\n- **Bulk actions: x**\n"
        );
        let replaced = splice_missed(&added, bulk::MISSED_PREFIX, Some("- **Bulk actions: y**"));
        assert_eq!(
            replaced,
            "## Targets missed, and why\n\n- **Bulk actions: y**\n"
        );
        let emptied = splice_missed(&replaced, bulk::MISSED_PREFIX, None);
        assert_eq!(emptied, text);
        let other = "## Targets missed, and why\n\n- **Other**\n- **Bulk actions: y**\n";
        assert_eq!(
            splice_missed(other, bulk::MISSED_PREFIX, None),
            "## Targets missed, and why\n\n- **Other**\n"
        );
    }

    #[test]
    fn a_section_not_there_yet_goes_before_the_decisions() {
        let text = splice_section(REPORT, heat::HEADING, "## 7. Partition heat\n\nseven\n");
        assert_eq!(
            text,
            "# Benchmarks\n\n## 6. Daily reconciliation\n\nsix\n\n## 7. Partition heat\n\nseven\n\n## Decisions measured\n\nkept\n"
        );
    }

    #[test]
    fn a_section_is_replaced_and_its_neighbours_kept() {
        let once = splice_section(REPORT, heat::HEADING, "## 7. Partition heat\n\nseven\n");
        let twice = splice_section(&once, heat::HEADING, "## 7. Partition heat\n\neight\n");
        assert_eq!(twice, once.replace("seven", "eight"));
        let reconciled = splice_section(
            &twice,
            reconcile::HEADING,
            "## 6. Daily reconciliation\n\nsix again\n",
        );
        assert_eq!(reconciled, twice.replace("six\n", "six again\n"));
    }
}
