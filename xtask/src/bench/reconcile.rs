//! §6: the daily reconciliation over a whole day of payouts, against the local
//! RazorpayX: how long `reconcile_day` takes, what it asks of DynamoDB and of the
//! gateway per payout, and whether a day fits the `reconcile` function's timeout.
//!
//! The day is built directly (our payouts written into the table in batches, the
//! gateway's booked at the local RazorpayX in bulk): made through the processor, a day
//! of 100,000 would take hours on DynamoDB Local. A few deliberate disagreements of each
//! kind are seeded, and a run that finds other than those fails the benchmark.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use devkit::razorpayx::{FakeConfig, FakeRazorpayX};
use domain::error::Error;
use domain::money::Paise;
use domain::payout::{IdempotencyKey, Payout, PayoutStatus, PayoutType};
use domain::reconciliation::Report;
use domain::time::Timestamp;
use gateway::RazorpayX;
use service::config::{
    RazorpayXConfig, DEV_RAZORPAYX_ACCOUNT_NUMBER, DEV_RAZORPAYX_KEY_ID, DEV_RAZORPAYX_KEY_SECRET,
};
use service::reconciliation::{reconcile_day, Day};
use store::keys::{self, DayFeed};
use uuid::Uuid;

use super::world::World;

/// The day the full benchmark reconciles, and the smaller days that show how the time
/// grows with the day (and so which day would fit).
pub const FULL_DAYS: [usize; 4] = [5_000, 10_000, 15_000, 100_000];
/// `cargo xtask bench --quick` (run by `cargo xtask test`): enough to prove the part works.
pub const QUICK_DAYS: [usize; 1] = [1_000];

/// What a run keeps of its deadline to write its report (the reconciliation's own).
pub const RUN_MARGIN_SECS: u64 = service::reconciliation::DEADLINE_MARGIN.as_secs();

/// A round trip to RazorpayX from the function's region, for the estimate of what the
/// day's list costs against the real gateway (loopback here costs next to nothing).
const ASSUMED_ROUND_TRIP_SECS: f64 = 0.1;

/// Deliberate disagreements seeded per kind.
const SEEDED_PER_KIND: usize = 10;

/// Our payouts written per `BatchWriteItem` (DynamoDB's most), and how many at once.
const WRITE_BATCH: usize = 25;
const WRITES_IN_FLIGHT: usize = 8;
/// Gateway payouts booked per request to the local RazorpayX.
const BOOK_BATCH: usize = 2_000;

/// What one payout of the day is made to be, on each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seeded {
    /// Completed here, processed there: the common case.
    Agrees,
    /// Still `processing` here, processed there, and nobody told us: repaired.
    WordMissed,
    /// Completed here, failed there: left for a person.
    FailedThere,
    /// Completed here, processed there for another amount.
    OtherAmount,
    /// Completed here, processed there to another fund account.
    OtherDestination,
    /// Completed here, processed there twice (a second payout under our reference).
    PaidTwice,
    /// Completed here, nothing there.
    MissingThere,
}

const DISAGREEMENTS: [Seeded; 6] = [
    Seeded::WordMissed,
    Seeded::FailedThere,
    Seeded::OtherAmount,
    Seeded::OtherDestination,
    Seeded::PaidTwice,
    Seeded::MissingThere,
];

/// The findings the seeded day must produce, by kind (unknown_to_us: the gateway
/// payouts booked under references of nobody here).
fn expected_findings() -> BTreeMap<String, u64> {
    let n = SEEDED_PER_KIND as u64;
    [
        ("status_mismatch", 2 * n),
        ("amount_mismatch", n),
        ("destination_mismatch", n),
        ("paid_twice", n),
        ("missing_at_gateway", n),
        ("unknown_to_us", n),
    ]
    .into_iter()
    .map(|(kind, count)| (kind.to_owned(), count))
    .collect()
}

pub struct DayFigure {
    pub payouts: usize,
    /// Building the day (not part of the run).
    pub seed: Duration,
    /// The run under the Lambda's deadline: its wall time, and whether it finished.
    pub wall: Duration,
    pub finished: bool,
    /// Findings recorded by the run (all of them when it finished).
    pub findings_recorded: usize,
    pub dynamodb: BTreeMap<String, u64>,
    pub gateway: BTreeMap<String, u64>,
    /// Reading each side alone, after the run: the gateway's list of the day (with its
    /// overlap) and our `by_day` index with the payouts.
    pub read_gateway: Duration,
    pub read_ours: Duration,
    /// Peak resident memory the run added to the process (VmHWM after, less VmRSS
    /// before), if the kernel lets the peak be reset.
    pub peak_extra_kib: Option<u64>,
}

pub struct ReconcileFigures {
    pub days: Vec<DayFigure>,
    pub timeout_secs: u64,
    pub memory_mb: u64,
}

/// Each day on a DynamoDB Local of its own: one that has held an earlier day (its table
/// deleted) writes and reads several times slower (a day of 5,000 took 204 s to build
/// after the day of 100,000, 7 s on a fresh one), which would blur how the time grows.
/// `shared_endpoint` (the run's own) serves the quick run's one small day.
pub async fn run(shared_endpoint: &str, quick: bool) -> Result<ReconcileFigures> {
    let (timeout_secs, memory_mb) = reconcile_function_limits()?;
    let sizes: Vec<usize> = match std::env::var("BENCH_RECONCILE_DAYS") {
        // While developing: `BENCH_RECONCILE_DAYS=5000,20000`; the figures in docs come
        // from the defaults.
        Ok(text) if !text.trim().is_empty() => text
            .split(',')
            .map(|size| size.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("BENCH_RECONCILE_DAYS must be sizes, got `{text}`"))?,
        _ if quick => QUICK_DAYS.to_vec(),
        _ => FULL_DAYS.to_vec(),
    };
    let mut days = Vec::new();
    for payouts in sizes {
        println!("bench: reconciling a day of {payouts} payouts");
        let fresh = if quick {
            None
        } else {
            let logs = devkit::paths::local_dir().join("logs");
            std::fs::create_dir_all(&logs)?;
            Some(devkit::dynamodb_local::DynamoDbLocal::start(
                devkit::dynamodb_local::free_port()?,
                &logs.join("dynamodb-local-bench-reconcile.log"),
            )?)
        };
        let endpoint = fresh
            .as_ref()
            .map_or_else(|| shared_endpoint.to_owned(), |local| local.endpoint());
        let figure = one_day(&endpoint, payouts, timeout_secs).await?;
        drop(fresh);
        println!(
            "bench:   {} in {:.1} s ({}), gateway read {:.1} s, ours read {:.1} s",
            if figure.finished {
                "finished"
            } else {
                "stopped at its deadline"
            },
            figure.wall.as_secs_f64(),
            super::operations(&figure.dynamodb),
            figure.read_gateway.as_secs_f64(),
            figure.read_ours.as_secs_f64()
        );
        days.push(figure);
    }
    days.sort_by_key(|day| day.payouts);
    Ok(ReconcileFigures {
        days,
        timeout_secs,
        memory_mb,
    })
}

/// `Timeout` and `MemorySize` of `ReconcileFunction` in template.yaml.
fn reconcile_function_limits() -> Result<(u64, u64)> {
    let path = devkit::paths::template();
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let lines = text
        .lines()
        .skip_while(|line| line.trim_end() != "  ReconcileFunction:")
        .skip(1)
        // The next resource starts at the same indentation.
        .take_while(|line| !line.starts_with("  ") || line.starts_with("   "));
    let mut timeout = None;
    let mut memory = None;
    for line in lines {
        let line = line.trim();
        if let Some(value) = line.strip_prefix("Timeout:") {
            timeout = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("MemorySize:") {
            memory = value.trim().parse().ok();
        }
    }
    match (timeout, memory) {
        (Some(timeout), Some(memory)) => Ok((timeout, memory)),
        _ => anyhow::bail!(
            "no Timeout and MemorySize under ReconcileFunction in {}",
            path.display()
        ),
    }
}

async fn one_day(endpoint: &str, size: usize, timeout_secs: u64) -> Result<DayFigure> {
    let world = World::new(endpoint).await?;
    let fake = FakeRazorpayX::start(
        0,
        FakeConfig {
            settle_after: Duration::ZERO,
            ..FakeConfig::default()
        },
    )
    .await?;
    let (proxy_url, gateway_counts, proxy) = counting_proxy(fake.base_url()).await?;
    let gateway = RazorpayX::new(&RazorpayXConfig::local(
        proxy_url,
        DEV_RAZORPAYX_KEY_SECRET,
        10_000,
    ))
    .map_err(|err| anyhow::anyhow!("{err}"))?;

    // The zone the schedules use, as the function reads it (Asia/Kolkata by default).
    let tz = devkit::testing::local_config(&[])
        .map_err(|err| anyhow::anyhow!("the local configuration: {err}"))?
        .schedule_tz;
    let now = Timestamp::now();
    let day = Day::before(now, tz);
    let seeding = Instant::now();
    let plan = plan_day(size, day);
    let booked = book_at_gateway(&fake, &plan).await?;
    let booking = seeding.elapsed();
    write_ours(&world, &plan, &booked).await?;
    let seed = seeding.elapsed();
    println!(
        "bench:   built the day in {:.0} s (the gateway's side {:.0} s, ours {:.0} s)",
        seed.as_secs_f64(),
        booking.as_secs_f64(),
        (seed - booking).as_secs_f64()
    );

    world.counter.reset();
    reset_counts(&gateway_counts);
    let rss_before = reset_peak_rss();
    let started = Instant::now();
    let outcome = Box::pin(reconcile_day(
        &world.store,
        &gateway,
        day,
        now,
        Some(started + Duration::from_secs(timeout_secs)),
    ))
    .await;
    let wall = started.elapsed();
    let peak_extra_kib = rss_before
        .and_then(|before| proc_status_kib("VmHWM:").map(|peak| peak.saturating_sub(before)));
    let dynamodb = world.counter.counts();
    let gateway_requests = counts_of(&gateway_counts);

    let (finished, findings_recorded) = match outcome {
        Ok(run) => {
            check_report(&run.report, size)?;
            anyhow::ensure!(
                run.new_findings.len() as u64 == expected_findings().values().sum::<u64>(),
                "the run recorded {} new findings on a fresh day",
                run.new_findings.len()
            );
            (true, run.new_findings.len())
        }
        // Out of time: what it recorded stays, and the day does not fit.
        Err(Error::Incomplete(_)) => (false, world.store.all_findings(&day.name()).await?.len()),
        Err(other) => return Err(anyhow::anyhow!("the reconciliation failed: {other}")),
    };

    // Each side read alone, as the run reads it first.
    let (from, to) = day.window();
    let reading = Instant::now();
    // The run's overlap past each end of the day: the gateway's late window and its own
    // margin (`OVERLAP_MARGIN_SECS`, 15 minutes, private to the reconciliation).
    let overlap = gateway::PaymentGateway::late_transfer_window_secs(&gateway) + 15 * 60;
    gateway::PaymentGateway::payouts_made(
        &gateway,
        from.minus_secs(overlap),
        to.plus_secs(overlap),
        None,
    )
    .await
    .map_err(|err| anyhow::anyhow!("listing the day at the gateway: {err}"))?;
    let read_gateway = reading.elapsed();
    let reading = Instant::now();
    world.store.payouts_first_sent(from, to).await?;
    let read_ours = reading.elapsed();

    proxy.abort();
    drop_table(&world).await;
    Ok(DayFigure {
        payouts: size,
        seed,
        wall,
        finished,
        findings_recorded,
        dynamodb,
        gateway: gateway_requests,
        read_gateway,
        read_ours,
        peak_extra_kib,
    })
}

/// The report a finished run over the seeded day must write.
fn check_report(report: &Report, size: usize) -> Result<()> {
    let n = SEEDED_PER_KIND as u64;
    let size = size as u64;
    let expected = expected_findings();
    // Theirs: every payout of ours but the missing ones, the second payments, and the
    // payouts nobody here made.
    let theirs = size - n + n + n;
    // Matched as completed: the agreeing ones, the repaired ones and the first payment
    // of each paid twice.
    let matched = size - n * DISAGREEMENTS.len() as u64 + n + n;
    let problems: Vec<String> = [
        (report.ours.payouts != size).then(|| format!("ours {} of {size}", report.ours.payouts)),
        (report.theirs.payouts != theirs)
            .then(|| format!("theirs {} of {theirs}", report.theirs.payouts)),
        (report.findings != expected)
            .then(|| format!("findings {:?}, expected {expected:?}", report.findings)),
        (report.repaired != n).then(|| format!("repaired {} of {n}", report.repaired)),
        (report.left_for_person != expected.values().sum::<u64>() - n)
            .then(|| format!("left for a person {}", report.left_for_person)),
        (report.matched.get("completed") != Some(&matched))
            .then(|| format!("matched {:?}, expected completed {matched}", report.matched)),
    ]
    .into_iter()
    .flatten()
    .collect();
    anyhow::ensure!(
        problems.is_empty(),
        "the reconciliation of a seeded day of {size} reported other than was seeded: {}",
        problems.join("; ")
    );
    Ok(())
}

/// One payout of ours in the day, and what the gateway is to hold for it.
struct Planned {
    payout_id: Uuid,
    user_id: u64,
    amount: u64,
    sent_at: Timestamp,
    seeded: Seeded,
}

/// The day's payouts, first sent evenly through it; the disagreements spread among
/// them, so the run meets them wherever it is in its lists.
fn plan_day(size: usize, day: Day) -> Vec<Planned> {
    let (from, to) = day.window();
    let span = to.unix_millis() - from.unix_millis();
    let disagreeing = SEEDED_PER_KIND * DISAGREEMENTS.len();
    let stride = (size / disagreeing.max(1)).max(1);
    (0..size)
        .map(|index| {
            let seeded = if index % stride == 0 && index / stride < disagreeing {
                DISAGREEMENTS[(index / stride) % DISAGREEMENTS.len()]
            } else {
                Seeded::Agrees
            };
            Planned {
                payout_id: Uuid::new_v4(),
                user_id: 1_000 + (index % 500) as u64,
                amount: 10_000 + (index % 90) as u64 * 100,
                sent_at: Timestamp::from_millis(
                    from.unix_millis() + span * (index as i64 + 1) / (size as i64 + 1),
                ),
                seeded,
            }
        })
        .collect()
}

/// What the gateway holds for the day, as the local RazorpayX's ids of our attempts.
struct Booked {
    gateway_ids: HashMap<String, String>,
    fund_account: String,
}

/// Books the gateway's side of the day at the local RazorpayX: a payout for each of
/// ours as seeded, a second payment for each paid twice, and payouts nobody here made.
async fn book_at_gateway(fake: &FakeRazorpayX, plan: &[Planned]) -> Result<Booked> {
    let http = reqwest::Client::builder().no_proxy().build()?;
    let base = fake.base_url();
    let ours = fund_account(&http, &base, "bench@okhdfc").await?;
    let elsewhere = fund_account(&http, &base, "someone-else@okhdfc").await?;
    let mut booking = Vec::with_capacity(plan.len() + 2 * SEEDED_PER_KIND);
    let booked = |reference: &Uuid, key: &str, amount: u64, account: &str, status: &str, at| {
        serde_json::json!({
            "reference_id": reference.to_string(),
            "idempotency_key": key,
            "amount": amount,
            "fund_account_id": account,
            "status": status,
            "reason": (status == "failed").then_some("bank_account_closed"),
            "created_at": unix_secs(at),
        })
    };
    for planned in plan {
        let key = IdempotencyKey::for_attempt(planned.payout_id, 1);
        let (id, key) = (&planned.payout_id, key.as_str());
        let (amount, at) = (planned.amount, planned.sent_at);
        match planned.seeded {
            Seeded::Agrees | Seeded::WordMissed => {
                booking.push(booked(id, key, amount, &ours, "processed", at));
            }
            Seeded::FailedThere => booking.push(booked(id, key, amount, &ours, "failed", at)),
            Seeded::OtherAmount => {
                booking.push(booked(id, key, amount + 100, &ours, "processed", at));
            }
            Seeded::OtherDestination => {
                booking.push(booked(id, key, amount, &elsewhere, "processed", at));
            }
            Seeded::PaidTwice => {
                booking.push(booked(id, key, amount, &ours, "processed", at));
                let again = format!("{}-again", id.simple());
                booking.push(booked(
                    id,
                    &again,
                    amount,
                    &ours,
                    "processed",
                    at.plus_secs(60),
                ));
            }
            Seeded::MissingThere => {}
        }
    }
    // Made by hand on the dashboard, under references of nobody here.
    for (index, planned) in plan.iter().take(SEEDED_PER_KIND).enumerate() {
        let stranger = Uuid::new_v4();
        booking.push(booked(
            &stranger,
            &format!("by-hand-{index}"),
            77_700,
            &ours,
            "processed",
            planned.sent_at.plus_secs(5),
        ));
    }
    let mut gateway_ids = HashMap::with_capacity(booking.len());
    for chunk in booking.chunks(BOOK_BATCH) {
        let answer: serde_json::Value = http
            .post(format!("{base}/_fake/payouts/bulk"))
            .json(&serde_json::json!({ "payouts": chunk }))
            .send()
            .await?
            .error_for_status()
            .context("booking payouts at the local RazorpayX")?
            .json()
            .await?;
        for item in answer["items"].as_array().into_iter().flatten() {
            if let (Some(key), Some(id)) = (item["idempotency_key"].as_str(), item["id"].as_str()) {
                gateway_ids.insert(key.to_owned(), id.to_owned());
            }
        }
    }
    anyhow::ensure!(
        gateway_ids.len() == booking.len(),
        "the local RazorpayX booked {} of {} payouts",
        gateway_ids.len(),
        booking.len()
    );
    Ok(Booked {
        gateway_ids,
        fund_account: ours,
    })
}

/// A fund account (a VPA) of one contact at the local RazorpayX, made through its
/// public API.
async fn fund_account(http: &reqwest::Client, base: &str, address: &str) -> Result<String> {
    let contact: serde_json::Value = http
        .post(format!("{base}/v1/contacts"))
        .basic_auth(DEV_RAZORPAYX_KEY_ID, Some(DEV_RAZORPAYX_KEY_SECRET))
        .json(&serde_json::json!({"name": "Bench Payee", "type": "vendor"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let account: serde_json::Value = http
        .post(format!("{base}/v1/fund_accounts"))
        .basic_auth(DEV_RAZORPAYX_KEY_ID, Some(DEV_RAZORPAYX_KEY_SECRET))
        .json(&serde_json::json!({
            "contact_id": contact["id"],
            "account_type": "vpa",
            "vpa": {"address": address},
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    account["id"]
        .as_str()
        .map(str::to_owned)
        .context("the local RazorpayX made a fund account with no id")
}

/// Our side of the day, written straight into the table in batches (with the uncounted
/// client: building the day is not the run's cost).
async fn write_ours(world: &World, plan: &[Planned], booked: &Booked) -> Result<()> {
    let mut items = Vec::with_capacity(plan.len());
    for planned in plan {
        let key = IdempotencyKey::for_attempt(planned.payout_id, 1);
        let sent = planned.sent_at;
        let mut payout = Payout::new(
            planned.payout_id,
            planned.user_id,
            PayoutType::SellerPayout,
            Paise(planned.amount),
            sent.minus_secs(3_600),
        );
        payout.order_id = Some(format!("order-{}", planned.payout_id.simple()));
        payout.version = 4;
        payout.attempt_sent_at = Some(sent);
        payout.first_sent_at = Some(sent);
        payout.processed_at = Some(sent);
        payout.gateway_fund_account_id = Some(booked.fund_account.clone());
        payout.gateway_mode = Some("UPI".to_owned());
        payout.destination = Some("be***@okhdfc".to_owned());
        payout.gateway_account_number = Some(DEV_RAZORPAYX_ACCOUNT_NUMBER.to_owned());
        payout.gateway_payout_id = Some(
            booked
                .gateway_ids
                .get(key.as_str())
                .cloned()
                // Forgotten by the gateway since it accepted the attempt.
                .unwrap_or_else(|| format!("pout_forgotten{}", planned.payout_id.simple())),
        );
        if planned.seeded == Seeded::WordMissed {
            payout.status = PayoutStatus::Processing;
            payout.gateway_status = Some("processing".to_owned());
            payout.updated_at = sent;
        } else {
            payout.status = PayoutStatus::Completed;
            payout.gateway_status = Some("processed".to_owned());
            payout.payment_reference = Some(format!("UTR{:09}", planned.amount));
            payout.completed_at = Some(sent.plus_secs(30));
            payout.updated_at = sent.plus_secs(30);
        }
        items.push(payout_item(&payout)?);
    }
    let client = world.ledger.client().clone();
    let table = world.ledger.table().to_owned();
    let mut batches = items.chunks(WRITE_BATCH).map(<[_]>::to_vec);
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        while in_flight.len() < WRITES_IN_FLIGHT {
            let Some(batch) = batches.next() else { break };
            in_flight.spawn(write_batch(client.clone(), table.clone(), batch));
        }
        match in_flight.join_next().await {
            Some(done) => done??,
            None => return Ok(()),
        }
    }
}

type Item = HashMap<String, AttributeValue>;

/// One `BatchWriteItem`, sent again with whatever DynamoDB left unprocessed.
pub(super) async fn write_batch(
    client: aws_sdk_dynamodb::Client,
    table: String,
    items: Vec<Item>,
) -> Result<()> {
    let mut writes = items
        .into_iter()
        .map(|item| {
            Ok(WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                .build())
        })
        .collect::<Result<Vec<_>>>()?;
    for round in 0..10u32 {
        if writes.is_empty() {
            return Ok(());
        }
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(50 << round.min(5))).await;
        }
        let output = client
            .batch_write_item()
            .request_items(&table, writes)
            .send()
            .await
            .context("BatchWriteItem")?;
        writes = output
            .unprocessed_items
            .and_then(|mut left| left.remove(&table))
            .unwrap_or_default();
    }
    anyhow::bail!(
        "DynamoDB Local kept leaving {} writes unprocessed",
        writes.len()
    )
}

/// The payout as the store writes it (`store::payouts::payout_item`, private to the
/// store), with its key and its place in `by_day`, the one index the reconciliation
/// reads. It is left out of the others (`by_status`, `by_user`, `by_created`): their
/// partitions hold the whole day (one status, one feed), and DynamoDB Local slows with
/// every item one index partition holds, to hours for a day of 100,000.
fn payout_item(payout: &Payout) -> Result<Item> {
    let AttributeValue::M(mut item) = attribute(serde_json::to_value(payout)?) else {
        anyhow::bail!("a payout is not a JSON object");
    };
    let id = payout.payout_id;
    let mut put =
        |name: &str, value: String| item.insert(name.to_owned(), AttributeValue::S(value));
    put(keys::PK, keys::payout_pk(id));
    put(keys::SK, keys::PAYOUT_SK.to_owned());
    if let Some(sent) = payout.first_sent_at {
        let (day_pk, day_sk) = DayFeed::Sent.keys(sent, &id.to_string());
        put(keys::DAY_PK, day_pk);
        put(keys::DAY_SK, day_sk);
    }
    Ok(item)
}

/// A JSON value as serde_dynamo writes the same serde data.
fn attribute(value: serde_json::Value) -> AttributeValue {
    use serde_json::Value;
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(flag) => AttributeValue::Bool(flag),
        Value::Number(number) => AttributeValue::N(number.to_string()),
        Value::String(text) => AttributeValue::S(text),
        Value::Array(values) => AttributeValue::L(values.into_iter().map(attribute).collect()),
        Value::Object(fields) => AttributeValue::M(
            fields
                .into_iter()
                .map(|(name, value)| (name, attribute(value)))
                .collect(),
        ),
    }
}

fn unix_secs(at: Timestamp) -> i64 {
    at.unix_millis().div_euclid(1000)
}

async fn drop_table(world: &World) {
    // DynamoDB Local keeps every table in memory: the next day gets the room back.
    let _ = world
        .ledger
        .client()
        .delete_table()
        .table_name(world.ledger.table())
        .send()
        .await;
}

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

fn reset_counts(counts: &Counts) {
    if let Ok(mut counts) = counts.lock() {
        counts.clear();
    }
}

fn counts_of(counts: &Counts) -> BTreeMap<String, u64> {
    counts
        .lock()
        .map(|counts| counts.clone())
        .unwrap_or_default()
}

struct Proxy {
    target: String,
    http: reqwest::Client,
    counts: Counts,
}

/// A pass-through in front of the local RazorpayX that counts the requests our client
/// makes, by what they ask (the fake itself keeps no such count).
async fn counting_proxy(target: String) -> Result<(String, Counts, tokio::task::JoinHandle<()>)> {
    let counts = Counts::default();
    let proxy = Arc::new(Proxy {
        target,
        http: reqwest::Client::builder().no_proxy().build()?,
        counts: counts.clone(),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, counts, task))
}

/// What a request to RazorpayX asks, in the words of the table in docs/BENCHMARKS.md.
fn request_kind(method: &str, path: &str, query: &str) -> String {
    let has = |name: &str| query.split('&').any(|pair| pair.starts_with(name));
    match (method, path) {
        ("GET", "/v1/payouts") if has("reference_id=") => "payouts of one reference".to_owned(),
        ("GET", "/v1/payouts") if has("status=reversed") => {
            "reversals of the 30 days before".to_owned()
        }
        ("GET", "/v1/payouts") if has("from=") => "the day's list".to_owned(),
        ("GET", "/v1/transactions") => "the statement".to_owned(),
        ("GET", path) if path.starts_with("/v1/payouts/") => "one payout by id".to_owned(),
        _ => format!("{method} {path}"),
    }
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let query = parts.uri.query().unwrap_or_default();
    let kind = request_kind(parts.method.as_str(), parts.uri.path(), query);
    if let Ok(mut counts) = proxy.counts.lock() {
        *counts.entry(kind).or_default() += 1;
    }
    let relayed = async {
        let body = axum::body::to_bytes(body, usize::MAX).await?;
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())?;
        let target = parts.uri.path_and_query().map_or("/", |path| path.as_str());
        let mut outgoing = proxy
            .http
            .request(method, format!("{}{target}", proxy.target))
            .body(body.to_vec());
        for (name, value) in &parts.headers {
            if name.as_str() != "host" {
                outgoing = outgoing.header(name.as_str(), value.as_bytes());
            }
        }
        let answer = outgoing.send().await?;
        let status = axum::http::StatusCode::from_u16(answer.status().as_u16())?;
        let content_type = answer
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("application/json")
            .to_owned();
        let bytes = answer.bytes().await?;
        anyhow::Ok((status, [("content-type", content_type)], bytes.to_vec()).into_response())
    };
    match relayed.await {
        Ok(response) => response,
        Err(err) => (
            axum::http::StatusCode::BAD_GATEWAY,
            format!("bench proxy: {err:#}"),
        )
            .into_response(),
    }
}

/// Resets the process's peak resident memory to what it holds now and returns that, in
/// KiB (`/proc/self/clear_refs` 5); `None` where the kernel does not allow it.
fn reset_peak_rss() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// The heading §6 starts with, by which `--only reconcile` finds it in the file.
pub const HEADING: &str = "## 6. Daily reconciliation";
/// The start of §6's line under "Targets missed".
pub const MISSED_PREFIX: &str = "- **Reconciliation:";

/// §6 of docs/BENCHMARKS.md.
pub fn section(figures: &ReconcileFigures, command: &str) -> String {
    let mut out = String::new();
    let timeout = figures.timeout_secs;
    let budget = timeout.saturating_sub(RUN_MARGIN_SECS);
    out.push_str(&super::stats::section_head(HEADING, command));
    let _ = writeln!(out, "`service::reconciliation::reconcile_day` over yesterday's business day (Asia/Kolkata), with `PAYMENT_GATEWAY=razorpayx` against the local RazorpayX (every call over HTTP on loopback, counted by a pass-through in front of it) and our side through `by_day` on DynamoDB Local (requests counted by the SDK interceptor). The day is built directly: our payouts written into the table in `BatchWriteItem`s with `first_sent_at` spread through the day, the gateway's booked with `POST /_fake/payouts/bulk`. Among them, {SEEDED_PER_KIND} of each disagreement: a processed payout we hold as `processing` (repaired), one failed there that we hold as completed, another amount, another fund account, a second payment under our reference, one missing there, and {SEEDED_PER_KIND} payouts made by hand under nobody's reference; a finished run that reports other than those fails the benchmark. Each run has the `reconcile` function's deadline (template.yaml: `Timeout: {timeout}`, `MemorySize: {}`), and stops taking on work {RUN_MARGIN_SECS} s before it, so it has {budget} s.\n", figures.memory_mb);
    let _ = writeln!(out, "| payouts in the day | run | wall time | payouts/s | DynamoDB requests per payout | gateway requests per payout | the gateway's list alone | ours alone | peak memory added |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for day in &figures.days {
        let n = day.payouts as f64;
        let secs = day.wall.as_secs_f64();
        let dynamodb: u64 = day.dynamodb.values().sum();
        let gateway: u64 = day.gateway.values().sum();
        let _ = writeln!(
            out,
            "| {} | {} | {secs:.1} s | {} | {:.3} | {:.3} | {:.1} s | {:.1} s | {} |",
            thousands(day.payouts),
            if day.finished {
                "finished".to_owned()
            } else {
                format!(
                    "**stopped at its deadline** ({} findings of {} recorded)",
                    day.findings_recorded,
                    expected_findings().values().sum::<u64>()
                )
            },
            if day.finished {
                format!("{:.0}", n / secs)
            } else {
                "—".to_owned()
            },
            dynamodb as f64 / n,
            gateway as f64 / n,
            day.read_gateway.as_secs_f64(),
            day.read_ours.as_secs_f64(),
            day.peak_extra_kib
                .map(|kib| format!("{:.0} MB", kib as f64 / 1024.0))
                .unwrap_or_else(|| "not measured".to_owned()),
        );
    }
    let _ = writeln!(
        out,
        "\nRequests by kind (for a stopped run, those it made before it stopped):\n"
    );
    let _ = writeln!(out, "| payouts in the day | DynamoDB | RazorpayX |");
    let _ = writeln!(out, "|---|---|---|");
    for day in &figures.days {
        let gateway = day
            .gateway
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "| {} | {} | {gateway} |",
            thousands(day.payouts),
            super::operations(&day.dynamodb)
        );
    }
    let _ = writeln!(
        out,
        "\nBuilding the days (not part of any run): {}.\n",
        figures
            .days
            .iter()
            .map(|day| format!(
                "{} in {:.0} s",
                thousands(day.payouts),
                day.seed.as_secs_f64()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(largest) = figures.days.iter().max_by_key(|day| day.payouts) {
        let pages = listed_pages(largest);
        let _ = writeln!(out, "Where the time goes: \"alone\" is each side read by itself after the run, as the run first reads it (the gateway's list of the day with its overlap; our `by_day` and the payouts in `BatchGetItem`s of 100). The rest of a run is its own work on the lists, and the requests for the findings. The gateway's list and its account statement are read a page of 100 at a time, one page after another ({} requests for the day of {}): here each is a call on loopback, against RazorpayX a round trip over the internet each.\n", thousands(pages as usize), thousands(largest.payouts));
    }
    let _ = writeln!(out, "The run here is the benchmark's own build (`cargo xtask` builds the dev profile: unoptimised, x86_64, a whole core of this machine); the function runs the release build (opt-level \"s\") on arm64 with {} MB, which Lambda gives about {:.1} of a vCPU (a whole one at 1,769 MB). Absolute times differ between the two; how the time grows with the day does not.\n", figures.memory_mb, figures.memory_mb as f64 / 1769.0);
    let _ = writeln!(out, "{}", verdict(figures));
    out
}

/// Whether the largest day fits, and what the finished runs imply.
pub fn verdict(figures: &ReconcileFigures) -> String {
    let budget = figures.timeout_secs.saturating_sub(RUN_MARGIN_SECS) as f64;
    let Some(largest) = figures.days.iter().max_by_key(|day| day.payouts) else {
        return String::new();
    };
    let finished: Vec<&DayFigure> = figures.days.iter().filter(|day| day.finished).collect();
    let mut out = String::new();
    if largest.finished {
        let secs = largest.wall.as_secs_f64();
        let rate = largest.payouts as f64 / secs;
        let _ = write!(out, "**A day of {} fits** the function's {} s: it finished in {secs:.1} s of the {budget:.0} s it may work, {rate:.0} payouts/s.", thousands(largest.payouts), figures.timeout_secs);
        // The loopback hides what a real gateway adds: a network round trip per page.
        let pages = listed_pages(largest) as f64;
        let added = pages * ASSUMED_ROUND_TRIP_SECS;
        let estimate = secs + added;
        let _ = write!(out, " Against RazorpayX each of the {} pages of its list and statement is also a round trip over the internet, read one after another: at an assumed {:.0} ms each (not measured here), about {added:.0} s more, {estimate:.0} s in all, which {} the {budget:.0} s.", thousands(pages as usize), ASSUMED_ROUND_TRIP_SECS * 1000.0, if estimate <= budget { "still fits" } else { "**does not fit**" });
    } else {
        let _ = write!(out, "**A day of {} does not fit** the function's {} s: the run stopped at its deadline after {:.1} s, recorded what it had found ({} findings), wrote no report and failed, as a run out of time does (docs/OPERATIONS.md). Run again, it reads both lists afresh and does the same work over (what it recorded stays), so a day this size stops at about the same point every time and is never reported.", thousands(largest.payouts), figures.timeout_secs, largest.wall.as_secs_f64(), largest.findings_recorded);
    }
    match growth(&finished, budget) {
        Some((exponent, fits)) => {
            let rates = finished
                .iter()
                .map(|day| {
                    format!(
                        "{}: {:.0}/s",
                        thousands(day.payouts),
                        day.payouts as f64 / day.wall.as_secs_f64()
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(out, " Payouts per second by day ({rates}); the time grows as the day's size to the power {exponent:.2} between the two largest finished days (1 would be linear), which puts the largest day that finishes within {budget:.0} s at about **{}** payouts.", thousands(fits));
        }
        None if finished.len() == 1 && !largest.finished => {
            let day = finished[0];
            let rate = day.payouts as f64 / day.wall.as_secs_f64();
            let _ = write!(out, " The finished day of {} ran at {rate:.0} payouts/s; at that rate (if it held, which the larger day says it does not) {budget:.0} s cover {} payouts.", thousands(day.payouts), thousands((rate * budget) as usize));
        }
        None => {}
    }
    if let Some(peak) = figures
        .days
        .iter()
        .filter_map(|day| day.peak_extra_kib)
        .max()
    {
        let mb = peak as f64 / 1024.0;
        let _ = write!(
            out,
            " Peak memory the run added: {mb:.0} MB of the function's {} MB ({}).",
            figures.memory_mb,
            if mb > figures.memory_mb as f64 * 0.5 {
                "**near enough to matter**"
            } else {
                "far from it"
            }
        );
    }
    out.push('\n');
    out
}

/// The pages of the day's list and of its statement a run read, one after another.
fn listed_pages(day: &DayFigure) -> u64 {
    ["the day's list", "the statement"]
        .iter()
        .filter_map(|kind| day.gateway.get(*kind))
        .sum()
}

/// How the time grows with the day between the two largest finished days (the
/// exponent of a power law through them), and the day that would take the whole budget.
fn growth(finished: &[&DayFigure], budget_secs: f64) -> Option<(f64, usize)> {
    let mut by_size: Vec<&&DayFigure> = finished.iter().collect();
    by_size.sort_by_key(|day| day.payouts);
    let [.., smaller, larger] = by_size.as_slice() else {
        return None;
    };
    let (n1, t1) = (smaller.payouts as f64, smaller.wall.as_secs_f64());
    let (n2, t2) = (larger.payouts as f64, larger.wall.as_secs_f64());
    if n2 <= n1 || t1 <= 0.0 || t2 <= 0.0 {
        return None;
    }
    let exponent = (t2 / t1).ln() / (n2 / n1).ln();
    if !exponent.is_finite() || exponent <= 0.0 {
        return None;
    }
    let fits = n2 * (budget_secs / t2).powf(1.0 / exponent);
    Some((exponent, fits as usize))
}

pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
