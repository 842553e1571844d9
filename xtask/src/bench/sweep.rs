//! §9: the daily sweep at scale. N scouts with earnings and a daily schedule due, loaded
//! directly (`BatchWriteItem`s of items as the store writes them), swept by
//! `service::schedule::sweep::sweep` with its default options: scouts a second, and
//! DynamoDB requests per scout (the SDK interceptor). On a sample of the same scouts,
//! the same sweep captured request by request and billed in write units (the heat
//! bench's recorder, stream and rules), and its captured requests sent again to two
//! copies of the sample, one with the table's stream and one without, as they were
//! sent (each page's shard queries at once, then each scout's reads and transaction one
//! after another, as many scouts at once as the sweep): DynamoDB Local's own rate for
//! the same requests on each kind of table, the ratios' baselines. The
//! section then does on paper what a million due schedules take.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use devkit::counting::RequestCounter;
use devkit::heat::billing::{KeyValue, TableShape, Target};
use devkit::heat::ledger;
use devkit::heat::recorder::WriteRecorder;
use devkit::replay::{Capture, Captured, Request};
use devkit::table::TableDefinition;
use domain::money::Paise;
use domain::time::Timestamp;
use futures::stream::{self, StreamExt, TryStreamExt};
use service::config::DEFAULT_SCHEDULE_TZ;
use service::schedule::sweep::{sweep, SweepOptions, SweepSummary};
use service::schedule::{period_of, Frequency, PayoutSchedule};
use service::scout::Scout;
use store::{keys, Store};

use super::heat::PARTITION_WRITE_UNITS;
use super::reconcile::thousands;
use super::world::LIMITS;

pub const HEADING: &str = "## 9. Sweep";

/// The figure: a million due schedules swept within an hour.
const TARGET_SCHEDULES: f64 = 1_000_000.0;
const TARGET_SECS: f64 = 3_600.0;
/// The sweep function's timeout and the margin the sweep keeps (template.yaml,
/// `SweepOptions::default`).
const SWEEP_TIMEOUT_SECS: f64 = 120.0;
/// The most Lambda instances an account runs at once unless AWS raises it.
const ACCOUNT_CONCURRENCY: f64 = 1_000.0;

const EARNINGS: Paise = Paise(1_000_000);
const FIRST_USER: u64 = 200_000;
/// `BatchWriteItem`s in flight at once while loading.
const LOAD_PARALLEL: usize = 8;

/// 100,000, as the issue asks: on a DynamoDB Local of its own (the bench starts one for
/// each part) the sweep's rate holds as the count grows, each page of the due index read
/// alike whatever its length, which the sample's row beside it shows; the run by hand
/// takes most of the full bench's time.
pub fn scouts(quick: bool) -> usize {
    if quick {
        50
    } else {
        100_000
    }
}

/// The single-partition indexes of the layout a table leaves once it has moved to the
/// sharded ones (docs/DEPLOY.md): written by every write until then, dropped after.
const LEGACY_INDEXES: [&str; 3] = ["by_created", "by_due", "by_status"];

/// The sample billed and sent again: every scout in a quick run.
fn sample(quick: bool) -> usize {
    if quick {
        50
    } else {
        500
    }
}

pub struct SweepFigures {
    pub scouts: usize,
    pub options: SweepOptions,
    pub load_secs: f64,
    pub secs: f64,
    pub summary: SweepSummary,
    pub requests: BTreeMap<String, u64>,
    /// `TransactWriteItems` sent (one a scout, the SDK's retries too) in each whole
    /// minute of the full sweep.
    pub per_minute: Vec<u64>,
    pub sample: SampleFigures,
}

/// The sample: the same sweep on fewer scouts, and its requests sent again.
pub struct SampleFigures {
    pub scouts: usize,
    pub sweep_secs: f64,
    /// The captured requests sent again, as the sweep sent them, to a copy with the
    /// stream.
    pub floor_secs: f64,
    /// Sent again and refused where the sweep's were applied (should be none).
    pub floor_refused: usize,
    /// The same, sent to a copy without the stream: the full sweep's like.
    pub unstreamed_floor_secs: f64,
    pub unstreamed_floor_refused: usize,
    /// Mean time of one request of each kind in the sweep, ms.
    pub mean_ms: BTreeMap<String, f64>,
    /// Write units per scout by target, every key.
    pub units: BTreeMap<String, f64>,
    /// The hottest partition key of each target, and its units per scout.
    pub hottest: BTreeMap<String, (String, f64)>,
    /// The shard queries of one page, at once: mean wall time, ms.
    pub page_ms: f64,
}

impl SweepFigures {
    pub fn rate(&self) -> f64 {
        self.scouts as f64 / self.secs
    }
}

impl SampleFigures {
    fn rate(&self) -> f64 {
        self.scouts as f64 / self.sweep_secs
    }
    fn floor_rate(&self) -> f64 {
        self.scouts as f64 / self.floor_secs
    }
    fn unstreamed_floor_rate(&self) -> f64 {
        self.scouts as f64 / self.unstreamed_floor_secs
    }
}

fn scout_id(n: usize) -> String {
    format!("s-sweep-{n:07}")
}

/// The items of scouts `0..count`: the scout and its daily schedule due at `due`, as the
/// store writes them (taken from one written by the store itself, `template`).
fn items(
    template: &[HashMap<String, AttributeValue>; 2],
    count: usize,
    due: Timestamp,
) -> Vec<HashMap<String, AttributeValue>> {
    let mut out = Vec::with_capacity(count * 2);
    for n in 0..count {
        let id = scout_id(n);
        let user = FIRST_USER + n as u64;
        for item in template {
            let mut item = item.clone();
            item.insert(keys::PK.to_owned(), AttributeValue::S(keys::scout_pk(&id)));
            item.insert("scout_id".to_owned(), AttributeValue::S(id.clone()));
            item.insert("user_id".to_owned(), AttributeValue::N(user.to_string()));
            if item.contains_key(keys::DUE_SK) {
                item.insert(
                    keys::DUE_SK.to_owned(),
                    AttributeValue::S(keys::due_sk(due, &id)),
                );
                item.insert(
                    keys::DUE_SHARD_PK.to_owned(),
                    AttributeValue::S(keys::due_shard_pk(keys::shard_of(&id, keys::DUE_SHARDS))),
                );
            }
            out.push(item);
        }
    }
    out
}

/// A new table made by `definition` with scouts `0..count` due at `due`; the store over
/// `client` on it. The sample's table has the stream its writes are billed from; the
/// full sweep's has none (`world::unstreamed_table`: on DynamoDB Local each write pays for every stream
/// record already held, and the full sweep's 100,000 transactions would measure that).
async fn loaded(
    client: aws_sdk_dynamodb::Client,
    count: usize,
    due: Timestamp,
    definition: &TableDefinition,
) -> Result<Store> {
    let table = format!("bench-sweep-{}", uuid::Uuid::new_v4().simple());
    definition.create(&client, &table).await?;
    let store = Store::new(client.clone(), &table);
    // One scout and schedule written by the store: the shape every other copies.
    let first = scout_id(0);
    store
        .insert_scout(&Scout::with_earnings(&first, FIRST_USER, EARNINGS))
        .await?;
    let schedule = PayoutSchedule {
        scout_id: first.clone(),
        user_id: FIRST_USER,
        frequency: Frequency::Daily,
        day: None,
        minimum_paise: Paise(1),
        next_due_at: Some(due),
        next_period: Some(period_of(due, DEFAULT_SCHEDULE_TZ)),
        last_swept_at: None,
        updated_at: Some(due),
    };
    store.put_schedule(&first, &schedule, Some(due)).await?;
    let mut template = Vec::new();
    for sk in [keys::SCOUT_SK, keys::SCHEDULE_SK] {
        let item = client
            .get_item()
            .table_name(&table)
            .key(keys::PK, AttributeValue::S(keys::scout_pk(&first)))
            .key(keys::SK, AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await?
            .item
            .context("the template scout was not written")?;
        template.push(item);
    }
    let template: [HashMap<String, AttributeValue>; 2] = template
        .try_into()
        .map_err(|_| anyhow::anyhow!("two template items"))?;
    let all = items(&template, count, due);
    // The first scout is there already, as the store wrote it.
    let rest: Vec<_> = all.into_iter().skip(2).collect();
    stream::iter(rest.chunks(25).map(<[_]>::to_vec))
        .map(|chunk| super::reconcile::write_batch(client.clone(), table.clone(), chunk))
        .buffer_unordered(LOAD_PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(store)
}

async fn swept(
    store: &Store,
    now: Timestamp,
    options: SweepOptions,
    scouts: usize,
) -> Result<(SweepSummary, f64)> {
    let started = Instant::now();
    let summary = sweep(store, LIMITS, DEFAULT_SCHEDULE_TZ, now, None, options).await?;
    let secs = started.elapsed().as_secs_f64();
    ensure!(
        summary.requested == scouts,
        "the sweep requested {} of {scouts}: {summary:?}",
        summary.requested
    );
    Ok((summary, secs))
}

pub async fn run(endpoint: &str, quick: bool) -> Result<SweepFigures> {
    let scouts = scouts(quick);
    let options = SweepOptions::default();
    let due = Timestamp::now().minus_secs(60);

    // The sample first, on a DynamoDB Local that holds nothing else of this part's.
    let sample = sample_figures(endpoint, sample(quick).min(scouts), due, options).await?;

    // The sweep at full size, its requests counted.
    let counter = RequestCounter::default();
    let started = Instant::now();
    let store = loaded(
        counter.client(endpoint).await,
        scouts,
        due,
        &super::world::unstreamed_table()?,
    )
    .await?;
    let load_secs = started.elapsed().as_secs_f64();
    println!("bench: sweep: {scouts} scouts loaded in {load_secs:.0} s");
    counter.reset();
    let minutes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let progress = tokio::spawn(report_progress(counter.clone(), scouts, minutes.clone()));
    let result = swept(&store, Timestamp::now(), options, scouts).await;
    progress.abort();
    let _ = progress.await;
    let (summary, secs) = result?;
    let per_minute = minutes.lock().map(|m| m.clone()).unwrap_or_default();
    let requests = counter.counts();
    println!("bench: sweep: {scouts} swept in {secs:.1} s");

    Ok(SweepFigures {
        scouts,
        options,
        load_secs,
        secs,
        summary,
        requests,
        per_minute,
        sample,
    })
}

/// A line a minute while the full sweep runs (each scout swept is one
/// `TransactWriteItems`): whether its rate holds as it goes is seen as it goes, and kept
/// in `minutes` for the section.
async fn report_progress(
    counter: RequestCounter,
    scouts: usize,
    minutes: std::sync::Arc<std::sync::Mutex<Vec<u64>>>,
) {
    let started = Instant::now();
    let mut last = 0;
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(60));
    // A late tick starts the next minute then, rather than counting a short one.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let swept = counter
            .counts()
            .get("TransactWriteItems")
            .copied()
            .unwrap_or(0);
        println!(
            "bench: sweep: {swept} transactions sent for {scouts} scouts after {:.0} s ({} in the last minute)",
            started.elapsed().as_secs_f64(),
            swept - last
        );
        if let Ok(mut minutes) = minutes.lock() {
            minutes.push(swept - last);
        }
        last = swept;
    }
}

/// The sweep of a sample, captured and billed, and its requests sent again to two
/// copies, one with the table's stream and one without.
async fn sample_figures(
    endpoint: &str,
    scouts: usize,
    due: Timestamp,
    options: SweepOptions,
) -> Result<SampleFigures> {
    let base = devkit::dynamodb_local::client(endpoint).await;
    let recorder = WriteRecorder::default();
    let capture = Capture::new("service");
    recorder.begin("setup");
    let client = recorder.client(&capture.client(&base));
    let streamed = TableDefinition::from_template(&devkit::paths::template())?;
    let store = loaded(client, scouts, due, &streamed).await?;
    let copy = loaded(base.clone(), scouts, due, &streamed).await?;
    let unstreamed_copy = loaded(
        base.clone(),
        scouts,
        due,
        &super::world::unstreamed_table()?,
    )
    .await?;

    recorder.begin("sweep");
    capture.start();
    let (_, sweep_secs) = swept(&store, Timestamp::now(), options, scouts).await?;
    let calls = capture.stop();
    recorder.begin("after");
    println!("bench: sweep: sample of {scouts} swept in {sweep_secs:.1} s");

    // Billed as DynamoDB bills writes.
    let definition = TableDefinition::from_template(&devkit::paths::template())?;
    let shape = TableShape::from_definition(&definition)?;
    let changes = ledger::read_stream(endpoint, store.table(), &shape).await?;
    let billed = ledger::bill(&shape, store.table(), &recorder.answered(), changes)?;
    let mut by_key: BTreeMap<(String, String), u64> = BTreeMap::new();
    for charge in billed.billed.iter().filter(|b| b.phase == "sweep") {
        let target = match &charge.charge.target {
            Target::Table => "table".to_owned(),
            Target::Index(name) => name.clone(),
        };
        *by_key
            .entry((target, key_text(&charge.charge.partition)))
            .or_default() += charge.charge.units;
    }
    let mut units: BTreeMap<String, f64> = BTreeMap::new();
    let mut hottest: BTreeMap<String, (String, f64)> = BTreeMap::new();
    for ((target, key), n) in &by_key {
        let per_scout = *n as f64 / scouts as f64;
        *units.entry(target.clone()).or_default() += per_scout;
        let hot = hottest.entry(target.clone()).or_insert((key.clone(), 0.0));
        if per_scout > hot.1 {
            *hot = (key.clone(), per_scout);
        }
    }

    let mut mean_ms: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for call in &calls {
        if let Some(answered) = call.answered {
            let entry = mean_ms
                .entry(call.request.operation().to_owned())
                .or_default();
            entry.0 += (answered - call.began).as_secs_f64() * 1e3;
            entry.1 += 1;
        }
    }
    let mean_ms = mean_ms
        .into_iter()
        .map(|(op, (sum, n))| (op, sum / n.max(1) as f64))
        .collect();

    println!("bench: sweep: sample billed");
    // The same requests, to each copy, as the sweep sent them.
    let (floor_secs, floor_refused, page_ms) =
        send_again(&base, &calls, store.table(), copy.table(), options).await?;
    let (unstreamed_floor_secs, unstreamed_floor_refused, _) = send_again(
        &base,
        &calls,
        store.table(),
        unstreamed_copy.table(),
        options,
    )
    .await?;
    Ok(SampleFigures {
        scouts,
        sweep_secs,
        floor_secs,
        floor_refused,
        unstreamed_floor_secs,
        unstreamed_floor_refused,
        mean_ms,
        units,
        hottest,
        page_ms,
    })
}

/// Whether the full sweep's rate held from its first minute to its last.
fn steadiness(per_minute: &[u64]) -> String {
    let (Some(first), Some(last), Some(low), Some(high)) = (
        per_minute.first(),
        per_minute.last(),
        per_minute.iter().min(),
        per_minute.iter().max(),
    ) else {
        return "it took less than a minute, so its rate over time is not shown".to_owned();
    };
    format!(
        "its transactions sent a minute, over its {} whole minute{}: first {}, last {}, least {}, most {}",
        per_minute.len(),
        if per_minute.len() == 1 { "" } else { "s" },
        thousands(*first as usize),
        thousands(*last as usize),
        thousands(*low as usize),
        thousands(*high as usize)
    )
}

fn key_text(key: &KeyValue) -> String {
    key.to_string()
}

/// The sweep's captured requests sent again to table `to`: each page's queries at once,
/// then its scouts' requests, one scout's after another's in order, `concurrency`
/// scouts at once. The wall time, the requests refused, the mean time of a page's
/// queries (ms).
async fn send_again(
    client: &aws_sdk_dynamodb::Client,
    calls: &[Captured],
    from: &str,
    to: &str,
    options: SweepOptions,
) -> Result<(f64, usize, f64)> {
    // Pages: a run of queries, then the scouts' requests until the next query.
    let mut pages: Vec<(Vec<Request>, Vec<Vec<Request>>)> = Vec::new();
    let mut chains: HashMap<String, usize> = HashMap::new();
    for call in calls {
        let request = call.request.clone().on_table(from, to);
        let is_query = matches!(request, Request::Query(_));
        let new_page = match pages.last() {
            None => true,
            Some((_, scouts)) => is_query && !scouts.is_empty(),
        };
        if new_page {
            pages.push((Vec::new(), Vec::new()));
            chains.clear();
        }
        let Some((queries, scouts)) = pages.last_mut() else {
            continue;
        };
        if is_query {
            queries.push(request);
            continue;
        }
        let owner = request
            .partition_keys()
            .into_iter()
            .next()
            .unwrap_or_default();
        let at = *chains.entry(owner).or_insert_with(|| {
            scouts.push(Vec::new());
            scouts.len() - 1
        });
        if let Some(chain) = scouts.get_mut(at) {
            chain.push(request);
        }
    }
    let started = Instant::now();
    let mut refused = 0;
    let mut page_secs = 0.0;
    for (queries, scouts) in &pages {
        let page_started = Instant::now();
        let answers: Vec<bool> = stream::iter(queries)
            .map(|query| query.send(client))
            .buffer_unordered(keys::DUE_SHARDS as usize)
            .try_collect()
            .await?;
        page_secs += page_started.elapsed().as_secs_f64();
        refused += answers.iter().filter(|applied| !**applied).count();
        let answers: Vec<usize> = stream::iter(scouts)
            .map(|chain| async move {
                let mut refused = 0;
                for request in chain {
                    if !request.send(client).await? {
                        refused += 1;
                    }
                }
                Ok::<_, anyhow::Error>(refused)
            })
            .buffer_unordered(options.concurrency.max(1))
            .try_collect()
            .await?;
        refused += answers.iter().sum::<usize>();
    }
    Ok((
        started.elapsed().as_secs_f64(),
        refused,
        page_secs * 1e3 / pages.len().max(1) as f64,
    ))
}

pub fn section(figures: &SweepFigures, command: &str) -> String {
    let mut out = String::new();
    let s = &figures.sample;
    let n = figures.scouts;
    let rate = figures.rate();
    out.push_str(&super::stats::section_head(HEADING, command));
    let _ = writeln!(out, "`service::schedule::sweep::sweep` with its default options (pages of {} due scouts, {} scouts at once within a page) over {} scouts, each with earnings and a daily schedule due, on DynamoDB Local. The scouts and schedules are loaded directly ({} in {:.0} s, not part of any figure): `BatchWriteItem`s of items copied from one scout and schedule the store itself wrote. Requests are counted by the SDK interceptor. On a sample of {} of the same scouts, in a table of their own, the same sweep's requests were captured one by one (inputs and times) and its writes billed as DynamoDB bills them (the §7 recorder, stream and rules); then the captured requests were sent again, unchanged but for the table's name, to two more copies of the sample, as the sweep sent them (each page's shard queries at once, then each scout's requests one after another, {} scouts at once): DynamoDB Local's own time for the same requests with the same concurrency and none of the service's work, the baselines of the ratios. One copy has the table's stream, as the sample has (its writes are billed from it); the other has none, as the full sweep's table has none (`world::unstreamed_table`: DynamoDB Local pays inside each write to a streamed table for every stream record it holds, DynamoDB does not). Each run is divided by the baseline of its own kind of table.\n",
        figures.options.page_size, figures.options.concurrency, thousands(n), thousands(n), figures.load_secs, thousands(s.scouts), figures.options.concurrency);
    let per_scout = |op: &str| figures.requests.get(op).copied().unwrap_or(0) as f64 / n as f64;
    let total: f64 = figures.requests.values().sum::<u64>() as f64 / n as f64;
    let ops = figures
        .requests
        .iter()
        .map(|(op, count)| format!("{op} {:.2}", *count as f64 / n as f64))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "| run | table's stream | scouts | wall time | scouts/s | ÷ its baseline's rate |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| the sweep | none | {} | {:.1} s | **{rate:.0}** | **{:.2}** |",
        thousands(n),
        figures.secs,
        rate / s.unstreamed_floor_rate()
    );
    let _ = writeln!(
        out,
        "| baseline: the sample's requests sent again directly | none | {} | {:.1} s | {:.0} | 1.00 |",
        thousands(s.scouts),
        s.unstreamed_floor_secs,
        s.unstreamed_floor_rate()
    );
    let _ = writeln!(
        out,
        "| the sweep, sample | yes | {} | {:.1} s | {:.0} | {:.2} |",
        thousands(s.scouts),
        s.sweep_secs,
        s.rate(),
        s.rate() / s.floor_rate()
    );
    let _ = writeln!(
        out,
        "| baseline: its requests sent again directly | yes | {} | {:.1} s | {:.0} | 1.00 |\n",
        thousands(s.scouts),
        s.floor_secs,
        s.floor_rate()
    );
    let _ = writeln!(out, "Sent again, {} request(s) were refused where the sweep's were applied (both copies together; 0: each took the very same writes). Pages: {}; due {}, requested {}.\n", s.floor_refused + s.unstreamed_floor_refused, figures.summary.pages, figures.summary.due, figures.summary.requested);
    let _ = writeln!(out, "The full sweep is divided by the stream-less baseline of its sample, a table of {} scouts: a baseline that stands for {} only as far as DynamoDB Local's time for a request does not grow with the table. Whether the full sweep slowed as it went: {}.\n", thousands(s.scouts), thousands(n), steadiness(&figures.per_minute));
    if rate > s.unstreamed_floor_rate() {
        let _ = writeln!(out, "The full sweep ran faster than its baseline. The baseline's requests went to a DynamoDB Local that had served the sample's alone, the full sweep's to one that had also loaded {} scouts, and a JVM serves the same requests faster once warm: read this ratio as the sweep being no slower than the requests it sends, and the sample's row, sent and replayed on one instance in one state, as the measure of the sweep's own cost.\n", thousands(n));
    }
    let means = s
        .mean_ms
        .iter()
        .map(|(op, ms)| format!("{op} {ms:.1} ms"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(out, "**Per scout**: {total:.2} DynamoDB requests ({ops}): the schedule and the scout read (`GetItem` each), one `TransactWriteItems` that reserves the earnings, creates the payout and its summary, moves the schedule on and adds to the counters, and the page's shard queries shared by its {} scouts. One request of each kind took, in the sample's sweep: {means}; a page's {} shard queries at once {:.1} ms.\n", figures.options.page_size, keys::DUE_SHARDS, s.page_ms);
    let table_units = s.units.get("table").copied().unwrap_or(0.0);
    let index_units: f64 = s
        .units
        .iter()
        .filter(|(t, _)| *t != "table")
        .map(|(_, u)| u)
        .sum();
    let _ = writeln!(out, "Write units per scout (DynamoDB's rules, §7): {:.2} in the table, {:.2} in the indexes, {:.2} in all. Where they land, and the ceiling each target's hottest partition key puts on scouts a second (a partition takes at most {:.0} write units a second):\n", table_units, index_units, table_units + index_units, PARTITION_WRITE_UNITS);
    let _ = writeln!(
        out,
        "| where | write units per scout | hottest partition key | its units per scout | ceiling |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    let mut binding: Option<(String, String, f64)> = None;
    for (target, units) in &s.units {
        let Some((key, hot)) = s.hottest.get(target) else {
            continue;
        };
        let ceiling = PARTITION_WRITE_UNITS / hot;
        let legacy = LEGACY_INDEXES.contains(&target.as_str());
        if !legacy && binding.as_ref().is_none_or(|(_, _, best)| ceiling < *best) {
            binding = Some((target.clone(), key.clone(), ceiling));
        }
        let name = if target == "table" {
            "table".to_owned()
        } else {
            format!("`{target}`")
        };
        let name = if legacy {
            format!("{name} (legacy layout)")
        } else {
            name
        };
        let _ = writeln!(
            out,
            "| {name} | {units:.2} | `{key}` | {hot:.3} | {} scouts/s |",
            thousands(ceiling.round() as usize)
        );
    }
    let _ = writeln!(out, "\nThe legacy layout's single-partition indexes are written until the table has moved to the sharded ones (docs/DEPLOY.md, `cargo xtask migrate`) and dropped after; on a table still on it, `DUE` of `by_due` takes 2 units a scout and holds the sweep to 500 scouts/s. The ceiling below is the moved table's.\n");
    let _ = writeln!(out, "In a sample of {} the hottest of several alike shards (counters, due shards, a day's send shards) sits above their mean by chance; at a million scouts each shard's share is its mean.\n", thousands(s.scouts));

    // On paper.
    let needed = TARGET_SCHEDULES / TARGET_SECS;
    let budget = SWEEP_TIMEOUT_SECS - figures.options.margin.as_secs_f64();
    let one = TARGET_SCHEDULES / rate;
    let per_invocation = rate * budget;
    let k = (needed / rate).ceil();
    let (bind_target, bind_key, ceiling) = binding.unwrap_or_default();
    let listing = s.page_ms / 1e3 / figures.options.page_size as f64 * TARGET_SCHEDULES;
    let _ = writeln!(out, "**A million due schedules, on paper.** The goal is {:.0} scouts a second ({} in {:.0} s).\n", needed, thousands(TARGET_SCHEDULES as usize), TARGET_SECS);
    let _ = writeln!(out, "- **One invocation, as deployed** (`sweep-earnings`: timeout {SWEEP_TIMEOUT_SECS:.0} s, reserved concurrency 1, the sweep stops starting pages {:.0} s before the deadline): at the measured {rate:.0} scouts/s an invocation sweeps about {} scouts; a million take {:.0} s ({:.1} h) of sweeping, {:.0} invocations one after another (each later one resumes where the schedules still due begin). **{}**.", figures.options.margin.as_secs_f64(), thousands(per_invocation as usize), one, one / 3600.0, (TARGET_SCHEDULES / per_invocation).ceil(), if one <= TARGET_SECS { "Within the hour" } else { "Not within the hour" });
    let _ = writeln!(out, "- **Fan-out** (not built): one lister reads the due index a page at a time ({} shard queries a page of {}, {:.1} ms here: listing a million takes about {:.0} s) and enqueues each page to SQS; K invocations consume pages, each sweeping its page as the sweep does now. At r = {rate:.0} scouts/s an invocation, K invocations sweep K × r until a shared limit binds: K = {k:.0} meets {needed:.0}/s: 10⁶ / (K × r) = {:.0} s of sweeping, with the listing's {listing:.0} s alongside it (consumers start on the first page enqueued; a lister of its own needs a longer timeout than the sweep's {SWEEP_TIMEOUT_SECS:.0} s, or to hand its place on to the next invocation, as the sweep's pages do now).", keys::DUE_SHARDS, figures.options.page_size, s.page_ms, listing, TARGET_SCHEDULES / (k * rate));
    let _ = writeln!(out, "- **What binds.** DynamoDB's partitions: the hottest key above (`{bind_key}` of {bind_target}) holds the whole fan-out to about {} scouts/s, {:.0} times the goal; the 16 `DUE#<n>` shards and 64 counter shards each take 1/16 and 1/64 of the scouts' writes. Lambda: K = {k:.0} concurrent invocations of the default {ACCOUNT_CONCURRENCY:.0} in a region (the function's reserved concurrency of 1 would have to go, or the consumers be a function of their own). Each invocation's own r is set by its requests' round trips ({:.2} a scout, {} at a time): here DynamoDB Local's, whose rate the ratio above compares it with; in AWS, DynamoDB's single-digit-millisecond round trips, not measured here.", thousands(ceiling.round() as usize), ceiling / needed, total, figures.options.concurrency);
    let _ = writeln!(out, "\nPer-scout cost: {total:.2} requests ({:.2} of them `TransactWriteItems`), {:.2} write units.", per_scout("TransactWriteItems"), table_units + index_units);
    out
}
