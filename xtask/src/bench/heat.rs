//! §7: partition heat. A lifecycle of payouts through the service's own code, every
//! write its client sends recorded and billed in DynamoDB's write units, in the table
//! and in each index, on the partition key it lands on; for each, the hottest key's
//! units per payout and the ceiling that puts on payouts a second (a partition takes
//! at most 1,000 write units a second). The rules and the method are in
//! `devkit::heat`; this file runs the lifecycle and writes the section.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use devkit::heat::billing::{self, KeyValue, TableShape, Target};
use devkit::heat::ledger::{self, Checks, Ledger};
use devkit::heat::recorder::{RecordedRequest, WriteRecorder};
use devkit::table::TableDefinition;
use domain::actor::Actor;
use domain::money::Paise;
use domain::time::Timestamp;
use gateway::RazorpayX;
use platform::vault::Vault;
use service::account::{save_payout_account, Destination, NewPayoutAccount};
use service::config::{Drain, ProcessorConfig, DEFAULT_SCHEDULE_TZ};
use service::process::Processor;
use service::schedule::sweep::{sweep, SweepOptions};
use service::schedule::{period_of, Frequency, PayoutSchedule};
use service::scout::{request_payout, PayoutRequest, Scout};
use store::{keys, Store};

use super::reconcile::thousands;
use super::world::LIMITS;

pub const HEADING: &str = "## 7. Partition heat";

/// A partition's most write units a second, on demand or provisioned ("each
/// individual partition is limited to 1000 write units per second and 3000 read
/// units per second": "Understanding DynamoDB warm throughput in different scenarios",
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html>).
pub const PARTITION_WRITE_UNITS: f64 = 1000.0;

/// The measured steps of the lifecycle, in order; what else the recorder saw
/// (setting up, the warm-up) is left out of the figure.
const STEPS: [&str; 4] = ["request", "sweep", "send", "settle"];

/// Each user's payout is asked for (and swept) in this amount, in paise; the sweep
/// pays a scout's whole balance.
const AMOUNT: Paise = Paise(10_000);
const EARNINGS: Paise = Paise(1_000_000);
/// The first user id of the benchmark's users, one per scout.
const FIRST_USER: u64 = 50_000;
/// Requests and account saves in flight at once while setting up.
const SETUP_PARALLEL: usize = 16;
/// `PROCESS_CONCURRENCY` of the processor's runs.
const CONCURRENCY: usize = 20;

/// One target's heat over the measured lifecycle.
pub struct TargetHeat {
    pub target: Target,
    /// Write units over the lifecycle, every key.
    pub units: u64,
    pub partitions: usize,
    pub hottest: Option<HotKey>,
}

pub struct HotKey {
    pub value: String,
    /// The value with its ids, numbers and dates generalised (`STATS#<n>`).
    pub pattern: String,
    /// Partition keys of the target with the same pattern, and their units together.
    pub keys_of_pattern: usize,
    pub units_of_pattern: u64,
    pub units: u64,
    /// Its units by step, in [`STEPS`] order.
    pub by_step: Vec<u64>,
}

/// Computed write units beside DynamoDB Local's own (`ReturnConsumedCapacity`).
#[derive(Default)]
pub struct CrossCheck {
    pub computed_table: u64,
    pub computed_indexes: u64,
    pub reported_table: f64,
    pub reported_indexes: f64,
    pub requests: usize,
    /// Requests whose answer carried no `ConsumedCapacity`.
    pub unreported: usize,
}

pub struct HeatFigures {
    pub payouts: usize,
    pub requested: usize,
    pub swept: usize,
    pub targets: Vec<TargetHeat>,
    pub checks: Checks,
    pub single: CrossCheck,
    pub transactions: CrossCheck,
    /// The smallest and largest payout item the stream showed, in bytes.
    pub payout_bytes: (usize, usize),
    pub secs: f64,
}

pub async fn run(endpoint: &str, vault: &Vault, quick: bool) -> Result<HeatFigures> {
    let started = Instant::now();
    // Even: half asked for, half swept.
    let payouts = if quick { 40 } else { 200 };
    let half = payouts / 2;

    let recorder = WriteRecorder::default();
    recorder.begin("setup");
    let client = recorder.client(&devkit::dynamodb_local::client(endpoint).await);
    let table = format!("bench-heat-{}", uuid::Uuid::new_v4().simple());
    let definition = TableDefinition::from_template(&devkit::paths::template())?;
    definition.create(&client, &table).await?;
    let shape = TableShape::from_definition(&definition)?;
    let store = Store::new(client, &table);
    let (_fake, gateway) = super::processor::local_razorpayx(vault).await?;

    let users: Vec<(u64, String)> = (0..payouts)
        .map(|n| (FIRST_USER + n as u64, format!("s-heat-{n:04}")))
        .collect();
    in_waves(&users, |(user, scout_id)| {
        let (store, vault) = (store.clone(), vault.clone());
        async move {
            store
                .insert_scout(&Scout::with_earnings(&scout_id, user, EARNINGS))
                .await?;
            let account = NewPayoutAccount {
                name: format!("Heat Payee {user}"),
                destination: Destination::Vpa {
                    address: format!("heat{user}@okhdfc"),
                },
                email: None,
            };
            save_payout_account(&store, &vault, &Actor::user(user), account, 0).await?;
            Ok(())
        }
    })
    .await?;
    // The swept half's schedules, due a minute ago: an owner saves one once, not per
    // payout.
    let due = Timestamp::now().minus_secs(60);
    for (user, scout_id) in &users[half..] {
        let schedule = PayoutSchedule {
            scout_id: scout_id.clone(),
            user_id: *user,
            frequency: Frequency::Daily,
            day: None,
            minimum_paise: Paise(1),
            next_due_at: Some(due),
            next_period: Some(period_of(due, DEFAULT_SCHEDULE_TZ)),
            last_swept_at: None,
            updated_at: Some(due),
        };
        store.put_schedule(scout_id, &schedule, Some(due)).await?;
    }

    // Every user paid once before, unmeasured: a user's first payout also records the
    // fund account RazorpayX made for them, which no later payout does.
    recorder.begin("warm-up");
    request_each(&store, &users).await?;
    send(&store, &gateway, payouts).await?;
    settle(&store, &gateway, payouts).await?;

    recorder.begin(STEPS[0]);
    request_each(&store, &users[..half]).await?;
    recorder.begin(STEPS[1]);
    let swept = sweep(
        &store,
        LIMITS,
        DEFAULT_SCHEDULE_TZ,
        Timestamp::now(),
        None,
        SweepOptions::default(),
    )
    .await?;
    ensure!(
        swept.requested == half,
        "the sweep requested {} of {half}: {swept:?}",
        swept.requested
    );
    recorder.begin(STEPS[2]);
    send(&store, &gateway, payouts).await?;
    recorder.begin(STEPS[3]);
    settle(&store, &gateway, payouts).await?;
    recorder.begin("after");
    ensure!(
        recorder.open() == 0,
        "{} writes still unanswered",
        recorder.open()
    );

    let changes = ledger::read_stream(endpoint, &table, &shape).await?;
    let payout_bytes = payout_sizes(&shape, &changes);
    let requests = recorder.answered();
    let ledger = ledger::bill(&shape, &table, &requests, changes)?;
    let (single, transactions) = cross_check(&ledger, &requests, &table);
    Ok(HeatFigures {
        payouts,
        requested: half,
        swept: swept.requested,
        targets: heat(&shape, &ledger),
        checks: ledger.checks,
        single,
        transactions,
        payout_bytes,
        secs: started.elapsed().as_secs_f64(),
    })
}

/// Runs `task` on each of `items`, [`SETUP_PARALLEL`] at a time.
async fn in_waves<T, F, Fut>(items: &[T], task: F) -> Result<()>
where
    T: Clone,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    for wave in items.chunks(SETUP_PARALLEL) {
        let handles: Vec<_> = wave
            .iter()
            .cloned()
            .map(|item| tokio::spawn(task(item)))
            .collect();
        for handle in handles {
            handle.await??;
        }
    }
    Ok(())
}

/// One payout of [`AMOUNT`] for each user's scout, as its owner asks for it.
async fn request_each(store: &Store, users: &[(u64, String)]) -> Result<()> {
    in_waves(users, |(user, scout_id)| {
        let store = store.clone();
        async move {
            request_payout(
                &store,
                LIMITS,
                &Actor::user(user),
                PayoutRequest {
                    scout_id,
                    amount: Some(AMOUNT),
                    idempotency_key: None,
                },
            )
            .await?;
            Ok(())
        }
    })
    .await
}

fn processor_config(batch_size: usize, drain: Option<Drain>) -> ProcessorConfig {
    ProcessorConfig {
        batch_size,
        concurrency: CONCURRENCY,
        lease_secs: 300,
        // Accepted payouts are due for a look a second later.
        poll_secs: 1,
        drain,
        validate_accounts: false,
    }
}

/// One run in drain mode sends every pending payout: claimed, sent, accepted.
async fn send(store: &Store, gateway: &RazorpayX, payouts: usize) -> Result<()> {
    let processor = Processor::new(
        store,
        gateway,
        processor_config(100, Some(Drain { margin_secs: 30 })),
    );
    let sent = processor
        .run_until(Some(Instant::now() + Duration::from_secs(900)))
        .await?;
    ensure!(
        sent.accepted == payouts,
        "RazorpayX accepted {} of {payouts}: {sent:?}",
        sent.accepted
    );
    Ok(())
}

/// Later runs find the accepted payouts processed at RazorpayX and settle them.
async fn settle(store: &Store, gateway: &RazorpayX, payouts: usize) -> Result<()> {
    // Processed at the local RazorpayX within its 50 ms tick; due for a look after 1 s.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let processor = Processor::new(store, gateway, processor_config(payouts, None));
    let mut completed = 0;
    for _ in 0..5 {
        completed += processor.run().await?.completed;
        if completed >= payouts {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    anyhow::bail!("settled {completed} of {payouts} in five runs")
}

/// The smallest and largest payout item any write left.
fn payout_sizes(shape: &TableShape, changes: &[ledger::StreamChange]) -> (usize, usize) {
    let sizes: Vec<usize> = changes
        .iter()
        .filter(|change| {
            change
                .key
                .get(&shape.hash)
                .is_some_and(|pk| pk.to_string().starts_with("PAYOUT#"))
        })
        .filter_map(|change| change.after.as_ref())
        .map(billing::item_size)
        .collect();
    (
        sizes.iter().copied().min().unwrap_or(0),
        sizes.iter().copied().max().unwrap_or(0),
    )
}

/// Units per target and partition key over the measured steps, and the hottest key.
fn heat(shape: &TableShape, ledger: &Ledger) -> Vec<TargetHeat> {
    let mut by_target: BTreeMap<Target, BTreeMap<KeyValue, Vec<u64>>> = BTreeMap::new();
    for billed in &ledger.billed {
        let Some(step) = STEPS.iter().position(|step| *step == billed.phase) else {
            continue;
        };
        let units = by_target
            .entry(billed.charge.target.clone())
            .or_default()
            .entry(billed.charge.partition.clone())
            .or_insert_with(|| vec![0; STEPS.len()]);
        units[step] += billed.charge.units;
    }
    std::iter::once(Target::Table)
        .chain(
            shape
                .indexes
                .iter()
                .map(|index| Target::Index(index.name.clone())),
        )
        .map(|target| {
            let keys = by_target.remove(&target).unwrap_or_default();
            let total = |steps: &Vec<u64>| steps.iter().sum::<u64>();
            // The most units; of equals, the first key in order, so a run is repeatable.
            let hottest = keys
                .iter()
                .max_by(|a, b| total(a.1).cmp(&total(b.1)).then_with(|| b.0.cmp(a.0)))
                .map(|(value, by_step)| {
                    let value = value.to_string();
                    let pattern = key_pattern(&value);
                    let alike: Vec<u64> = keys
                        .iter()
                        .filter(|(other, _)| key_pattern(&other.to_string()) == pattern)
                        .map(|(_, by_step)| total(by_step))
                        .collect();
                    HotKey {
                        keys_of_pattern: alike.len(),
                        units_of_pattern: alike.iter().sum(),
                        units: total(by_step),
                        by_step: by_step.clone(),
                        value,
                        pattern,
                    }
                });
            TargetHeat {
                units: keys.values().map(total).sum(),
                partitions: keys.len(),
                hottest,
                target,
            }
        })
        .collect()
}

/// A key value with what varies from key to key generalised: ids (`<uuid>`), dates
/// (`<day>`), and other runs of digits (`<n>`).
fn key_pattern(value: &str) -> String {
    value
        .split('#')
        .map(|part| {
            if uuid::Uuid::parse_str(part).is_ok() {
                return "<uuid>".to_owned();
            }
            let (day, rest) = match part.get(..10) {
                Some(head) if chrono::NaiveDate::parse_from_str(head, "%Y-%m-%d").is_ok() => {
                    ("<day>", &part[10..])
                }
                _ => ("", part),
            };
            let mut out = day.to_owned();
            let mut in_digits = false;
            for ch in rest.chars() {
                if ch.is_ascii_digit() {
                    if !in_digits {
                        out.push_str("<n>");
                    }
                    in_digits = true;
                } else {
                    out.push(ch);
                    in_digits = false;
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("#")
}

/// Computed units beside DynamoDB Local's, over the measured steps: single-item
/// writes, and transactions.
fn cross_check(
    ledger: &Ledger,
    requests: &[RecordedRequest],
    table: &str,
) -> (CrossCheck, CrossCheck) {
    let mut computed: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for billed in &ledger.billed {
        let entry = computed.entry(billed.request).or_default();
        match billed.charge.target {
            Target::Table => entry.0 += billed.charge.units,
            Target::Index(_) => entry.1 += billed.charge.units,
        }
    }
    let (mut single, mut transactions) = (CrossCheck::default(), CrossCheck::default());
    for request in requests
        .iter()
        .filter(|request| request.applied && STEPS.contains(&request.phase.as_str()))
    {
        let check = if request.operation == "TransactWriteItems" {
            &mut transactions
        } else {
            &mut single
        };
        let (table_units, index_units) = computed.get(&request.id).copied().unwrap_or_default();
        check.requests += 1;
        check.computed_table += table_units;
        check.computed_indexes += index_units;
        let reported: Vec<_> = request
            .reported
            .iter()
            .filter(|reported| reported.table == table)
            .collect();
        if reported.is_empty() {
            check.unreported += 1;
        }
        for reported in reported {
            check.reported_table += reported.table_units;
            check.reported_indexes += reported.index_units.values().sum::<f64>();
        }
    }
    (single, transactions)
}

fn per_payout(units: u64, payouts: usize) -> f64 {
    units as f64 / payouts.max(1) as f64
}

fn ratio_text(reported: f64, computed: u64) -> String {
    if computed == 0 {
        "—".to_owned()
    } else {
        format!("{:.2}", reported / computed as f64)
    }
}

/// §7 of docs/BENCHMARKS.md.
pub fn section(figures: &HeatFigures, command: &str) -> String {
    let mut out = String::new();
    let n = figures.payouts;
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let _ = writeln!(out, "{HEADING}\n");
    let _ = writeln!(
        out,
        "Figures of this section: `{command}`, {date} ({n} payouts, {:.0} s).\n",
        figures.secs
    );
    let _ = writeln!(out, "Where one payout's writes land. {n} payouts on DynamoDB Local, through the service's own code: {} asked for by their scouts' owners (`request_payout`), {} made by the daily sweep of as many daily schedules due (`sweep`); every one sent to the local RazorpayX by the processor in drain mode (claimed, then accepted: `processing`) and settled by a later run that finds it processed. One payout per user and scout, and each user was paid once before, unmeasured (a user's first payout also records the fund account RazorpayX made, which no later one does). An SDK interceptor on the service's client records every write it sends (`devkit::heat::recorder`); the table's stream (`NEW_AND_OLD_IMAGES`) gives each write's item before and after, paired write by write (`devkit::heat::ledger`); each is billed as DynamoDB bills writes, in the table and in each index, on the partition key it lands on there (`devkit::heat::billing`, which cites AWS's page for each rule). A payout item was {}–{} bytes after its writes, each write 1 unit while it stays under {} bytes; an `ALL` index entry is the whole item. `by_user`'s keys are one user's each: with one payout per user, its hottest key is one payout in {n}.\n", figures.requested, figures.swept, figures.payout_bytes.0, figures.payout_bytes.1, billing::WRITE_UNIT_BYTES);
    let _ = writeln!(out, "A partition takes at most 1,000 write units a second, however much the table is given ([AWS](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html)), so a partition key that takes W units per payout holds the whole service to 1,000 / W payouts a second.\n");
    let _ = writeln!(out, "| where | write units per payout | partition keys written | hottest partition key | its write units per payout | ceiling |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for target in &figures.targets {
        let total = per_payout(target.units, n);
        match &target.hottest {
            Some(hot) => {
                let hot_units = per_payout(hot.units, n);
                let shared = if hot.keys_of_pattern > 1 {
                    format!(
                        " (`{}`, 1 of {}; their mean {:.2})",
                        hot.pattern,
                        hot.keys_of_pattern,
                        per_payout(hot.units_of_pattern, n) / hot.keys_of_pattern as f64
                    )
                } else if hot.pattern != hot.value {
                    format!(" (`{}`)", hot.pattern)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "| {} | {total:.2} | {} | `{}`{shared} | {hot_units:.2} | **{} payouts/s** |",
                    name(&target.target),
                    target.partitions,
                    hot.value,
                    thousands((PARTITION_WRITE_UNITS / hot_units).round() as usize)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "| {} | 0 | 0 | (not written) | 0 | — |",
                    name(&target.target)
                );
            }
        }
    }
    let _ = writeln!(out, "\nThe table has both layouts' indexes, as a stage has them while it moves (docs/DEPLOY.md, \"Moving a live table to the sharded indexes\"), and every write carries both layouts' keys; each layout's ceiling is the table's and its own indexes' (`by_user` and `by_day` are in both).\n");
    let _ = writeln!(out, "Before the sharded indexes and the 64 counter shards (this section's run of 2026-12-07 02:08 UTC, at 479e39b, recorded here since the code that made it is gone): the service topped out at **200 payouts a second**, set by `PAYOUTS` of `by_created` (5.00 units a payout), then `STATUS#processing` of `by_status` (4.00, 250/s), `DUE` of `by_due` (1.00, 1,000/s) and the table's hottest counter shard `STATS#4` (1.46, of 8; 685/s). The legacy rows above are the same indexes measured again in this run.\n");
    for (layout, left_out) in [
        (
            "**Legacy layout** (`by_status`, `by_created`, `by_due`: the indexes before the sharded ones, read until `cargo xtask migrate` has run, removed after)",
            SHARDED_INDEXES,
        ),
        (
            "**Sharded layout** (`by_status_shard`, `by_created_shard`, `by_due_shard`, once the legacy indexes are removed)",
            LEGACY_INDEXES,
        ),
    ] {
        let _ = writeln!(out, "- {layout}: {}.", ceiling_text(figures, &left_out));
    }
    if figures.targets.iter().any(|target| {
        target
            .hottest
            .as_ref()
            .is_some_and(|hot| hot.keys_of_pattern > 1)
    }) {
        let _ = writeln!(out, "\nWhere the hottest key is one of several alike (a counter shard, taken in turn from a random start; a day's send shard, a status's, the feed's or the due schedules' shard, each picked by the item's id), which one it is, and how far above their mean, changes from run to run: a sample of {n} payouts spreads over a few dozen shards unevenly, as thousands a second would not.");
    }
    let _ = writeln!(out, "\nThe hottest keys' write units per payout, by step (each step's units over all {n} payouts, so the steps add up to the figure above):\n");
    let _ = writeln!(
        out,
        "| where | key | {} |",
        [
            format!("request ({} payouts)", figures.requested),
            format!("sweep ({} payouts)", figures.swept),
            "send (claim, accept)".to_owned(),
            "settle (take over, complete)".to_owned(),
        ]
        .join(" | ")
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for target in &figures.targets {
        if let Some(hot) = &target.hottest {
            let steps: Vec<String> = hot
                .by_step
                .iter()
                .map(|units| format!("{:.2}", per_payout(*units, n)))
                .collect();
            let _ = writeln!(
                out,
                "| {} | `{}` | {} |",
                name(&target.target),
                hot.value,
                steps.join(" | ")
            );
        }
    }
    let checks = &figures.checks;
    let refused: usize = checks.refused.values().sum();
    let _ = writeln!(out, "\nChecks: the stream's {} records paired one to one with the writes DynamoDB applied (none left over on either side); {} of them sized here byte for byte as DynamoDB Local sizes them (its `SizeBytes`: keys and both images){}; {refused} write(s) refused in the whole run (a refused conditional write is billed by DynamoDB too, and not here); {} item(s) whose pairing could depend on two writes in flight at once.\n",
        checks.stream_records,
        checks.sizes_agreeing,
        if checks.size_disagreements.is_empty() {
            String::new()
        } else {
            format!(" (not: {})", checks.size_disagreements.join("; "))
        },
        checks.ambiguous_keys
    );
    let _ = writeln!(out, "DynamoDB Local's own count: the interceptor adds `ReturnConsumedCapacity: INDEXES` to each write, and DynamoDB Local answers with what it consumed.\n");
    let _ = writeln!(out, "| writes in the steps above | requests | computed here, table / indexes | DynamoDB Local, table / indexes | ratio, table / indexes |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (what, check) in [
        (
            "single-item (`PutItem`, `UpdateItem`, `DeleteItem`)",
            &figures.single,
        ),
        ("`TransactWriteItems`", &figures.transactions),
    ] {
        let _ = writeln!(
            out,
            "| {what} | {} | {} / {} | {:.0} / {:.0} | {} / {} |",
            check.requests,
            check.computed_table,
            check.computed_indexes,
            check.reported_table,
            check.reported_indexes,
            ratio_text(check.reported_table, check.computed_table),
            ratio_text(check.reported_indexes, check.computed_indexes),
        );
    }
    let unreported = figures.single.unreported + figures.transactions.unreported;
    if unreported > 0 {
        let _ = writeln!(
            out,
            "\n{unreported} request(s) came back without a `ConsumedCapacity`."
        );
    }
    let _ = writeln!(out, "\nDynamoDB Local counts single-item writes by the rules above, to the unit. Transactions it counts otherwise, so their row is its accounting, not DynamoDB's: one to five small items alike are 4 units in the table (DynamoDB: 2 per item), and its index writes are four times the rules' (the rules, measured against DynamoDB itself by others, do not double them at all). What the figure leaves out: reads (a partition also takes at most 3,000 read units a second), the stream's own reads, TTL deletions (not billed), refused writes (none here), and DynamoDB's splitting of a hot partition by sort key (\"split for heat\"), which its pages do not promise for a key whose writes go to ever-later sort keys (`created_sk` begins with the time): the ceiling takes one partition per key.");
    out
}

/// The indexes of the layout before the sharded one, and the sharded ones: each
/// layout's ceiling leaves the other's out.
const LEGACY_INDEXES: [&str; 3] = [
    keys::INDEX_BY_STATUS,
    keys::INDEX_BY_CREATED,
    keys::INDEX_BY_DUE,
];
const SHARDED_INDEXES: [&str; 3] = [
    keys::INDEX_BY_STATUS_SHARD,
    keys::INDEX_BY_CREATED_SHARD,
    keys::INDEX_BY_DUE_SHARD,
];

/// The lowest ceiling over the targets but `left_out`, what sets it and what follows.
fn ceiling_text(figures: &HeatFigures, left_out: &[&str]) -> String {
    let n = figures.payouts;
    let mut ceilings: Vec<(f64, String)> = figures
        .targets
        .iter()
        .filter(|target| match &target.target {
            Target::Index(index) => !left_out.contains(&index.as_str()),
            Target::Table => true,
        })
        .filter_map(|target| {
            let hot = target.hottest.as_ref()?;
            let ceiling = PARTITION_WRITE_UNITS / per_payout(hot.units, n);
            Some((
                ceiling,
                format!("`{}` of {}", hot.value, name(&target.target)),
            ))
        })
        .collect();
    ceilings.sort_by(|a, b| a.0.total_cmp(&b.0));
    match ceilings.as_slice() {
        [(lowest, key), rest @ ..] => {
            let next = rest
                .first()
                .map(|(ceiling, key)| {
                    format!(" (then {key}, {})", thousands(ceiling.round() as usize))
                })
                .unwrap_or_default();
            format!(
                "the service's ceiling is **{} payouts a second**, set by {key}{next}",
                thousands(lowest.round() as usize)
            )
        }
        [] => "nothing was written".to_owned(),
    }
}

fn name(target: &Target) -> String {
    match target {
        Target::Table => "table".to_owned(),
        Target::Index(index) if LEGACY_INDEXES.contains(&index.as_str()) => {
            format!("`{index}` (legacy)")
        }
        Target::Index(index) => format!("`{index}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_generalise_ids_days_and_numbers_and_keep_words() {
        assert_eq!(key_pattern("STATS#3"), "STATS#<n>");
        assert_eq!(key_pattern("STATUS#pending"), "STATUS#pending");
        assert_eq!(key_pattern("PAYOUTS"), "PAYOUTS");
        assert_eq!(
            key_pattern("PAYOUT#67e55044-10b1-426f-9247-bb680e5fe0c8"),
            "PAYOUT#<uuid>"
        );
        assert_eq!(key_pattern("SENT#2026-12-07#5"), "SENT#<day>#<n>");
        assert_eq!(key_pattern("SCOUT#s-heat-0012"), "SCOUT#s-heat-<n>");
    }
}
