//! `cargo xtask migrate [--dry-run] [--restart] [--segments N] [--yes]`: moves a table
//! made before the sharded payout indexes onto them (docs/OPERATIONS.md, "Moving the
//! table to the sharded indexes"). A parallel scan gives every payout and due schedule
//! the sharded keys it lacks ([`store::Store::backfill_sharded_keys`]), a checkpoint
//! after every page lets an interrupted run carry on, and once every segment is done
//! and the three indexes are active, the marker makes every store read them.
//!
//! `--unmark` takes the marker away again, the first step of a rollback past this
//! version (docs/DEPLOY.md): every store reads the legacy indexes again within a minute,
//! so the sharded ones can be stepped down, and the older code, which writes payouts
//! without the sharded keys, never leaves a sharded read short.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::{GlobalSecondaryIndexDescription, IndexStatus};
use serde::{Deserialize, Serialize};

use domain::time::Timestamp;
use service::config::StageConfig;
use store::keys;
use store::{BackfillPage, PageKey, ShardedSince, Store};

pub const USAGE: &str =
    "usage: cargo xtask migrate [--dry-run] [--restart] [--segments N] [--yes]\n       cargo xtask migrate --unmark [--yes]";

/// Enough to keep a table's reads busy without throttling an on-demand table that
/// serves the service meanwhile.
const DEFAULT_SEGMENTS: u32 = 4;
/// Every segment is a task of its own; more than this is a typo, not a plan.
const MOST_SEGMENTS: u32 = 256;

/// The indexes the marker promises are complete.
const SHARDED_INDEXES: [&str; 3] = [
    keys::INDEX_BY_STATUS_SHARD,
    keys::INDEX_BY_CREATED_SHARD,
    keys::INDEX_BY_DUE_SHARD,
];

/// How a migration runs.
#[derive(Clone, Debug)]
pub struct Options {
    pub segments: u32,
    /// Scan and count, write nothing (neither the table nor the checkpoint).
    pub dry_run: bool,
    /// Scan from the start whatever a checkpoint or the marker says.
    pub restart: bool,
    /// Where the checkpoint is kept (`.local/migrate` for the command).
    pub checkpoint_dir: PathBuf,
    pub show_progress: bool,
    /// Items a scan page reads at most; `None` is DynamoDB's 1 MB.
    pub page_limit: Option<u32>,
    /// Stop after this many pages in all, as an interrupted run would (tests).
    pub max_pages: Option<usize>,
}

/// What the scan found and did, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub scanned: u64,
    pub payouts_keyed: u64,
    pub schedules_keyed: u64,
    pub already: u64,
}

impl Counts {
    fn add(&mut self, page: &BackfillPage) {
        self.scanned += page.scanned as u64;
        self.payouts_keyed += page.payouts_keyed as u64;
        self.schedules_keyed += page.schedules_keyed as u64;
        self.already += page.already as u64;
    }

    fn sum<'a>(all: impl Iterator<Item = &'a Counts>) -> Counts {
        all.fold(Counts::default(), |mut total, counts| {
            total.scanned += counts.scanned;
            total.payouts_keyed += counts.payouts_keyed;
            total.schedules_keyed += counts.schedules_keyed;
            total.already += counts.already;
            total
        })
    }
}

/// Where one segment's scan stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct SegmentState {
    /// The key the next page starts after; `None` before the first page and once done.
    next: Option<PageKey>,
    done: bool,
    counts: Counts,
}

/// The checkpoint file: enough to carry on a scan of this table in this many segments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    table: String,
    /// When the table was made (DescribeTable, epoch seconds): a table deleted and made
    /// again under the same name is another table, scanned from the start.
    table_created: i64,
    segments: u32,
    started_at: Timestamp,
    states: Vec<SegmentState>,
}

impl Checkpoint {
    fn new(table: &str, table_created: i64, segments: u32) -> Self {
        Checkpoint {
            table: table.to_owned(),
            table_created,
            segments,
            started_at: Timestamp::now(),
            states: vec![SegmentState::default(); segments as usize],
        }
    }

    fn totals(&self) -> Counts {
        Counts::sum(self.states.iter().map(|state| &state.counts))
    }

    fn finished(&self) -> bool {
        self.states.iter().all(|state| state.done)
    }
}

/// How the marker stands at the end of a run that got to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marked {
    /// This run wrote it.
    Now,
    /// It was there (another run, or a table made with it).
    Already,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The marker found at the start, when that ended the run (no `--restart`).
    pub moved_before: Option<ShardedSince>,
    /// It carried on from a checkpoint.
    pub resumed: bool,
    /// Over the whole scan, earlier runs' pages included.
    pub totals: Counts,
    /// This run's pages alone.
    pub this_run: Counts,
    /// Every segment is done.
    pub finished: bool,
    pub marked: Option<Marked>,
}

/// What `cargo xtask migrate` was asked to do.
#[derive(Debug)]
enum Command {
    Migrate(Options),
    Unmark { checkpoint_dir: PathBuf },
}

pub async fn run(args: &[String]) -> Result<()> {
    let command = read_command(args, devkit::paths::local_dir().join("migrate"))?;
    let config = StageConfig::from_env(false)?;
    let store = Store::new(crate::sdk_client().await, &config.table_name);
    match command {
        Command::Migrate(options) => migrate(&store, &options).await.map(|_| ()),
        Command::Unmark { checkpoint_dir } => unmark(&store, &checkpoint_dir).await.map(|_| ()),
    }
}

fn read_command(args: &[String], checkpoint_dir: PathBuf) -> Result<Command> {
    if args.iter().any(|arg| arg == "--unmark") {
        if args.len() > 1 {
            bail!("--unmark takes no other flag\n{USAGE}");
        }
        return Ok(Command::Unmark { checkpoint_dir });
    }
    read_options(args, checkpoint_dir).map(Command::Migrate)
}

/// Takes the table's marker away and forgets this machine's finished scan of it: the
/// next `migrate` here scans every item again (writes an older version makes after a
/// rollback are not in the earlier scan; elsewhere, `--restart` does the same). `false`
/// when it was not marked.
pub async fn unmark(store: &Store, checkpoint_dir: &Path) -> Result<bool> {
    let table = store.table();
    let since = store.sharded_since().await?;
    let removed = store.unmark_sharded().await?;
    match since.filter(|_| removed) {
        Some(since) => println!(
            "{table}: the marker of {} is taken away; within a minute every store reads the \
             legacy indexes, until `cargo xtask migrate --restart` has scanned the table \
             again and marked it (docs/DEPLOY.md, \"Rolling back past this version\")",
            since.sharded_at
        ),
        None => println!("{table} was not marked: nothing to take away"),
    }
    let path = checkpoint_dir.join(format!("{table}.json"));
    match std::fs::remove_file(&path) {
        Ok(()) => println!(
            "{} removed: the next run scans from the start",
            path.display()
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("removing {}", path.display())),
    }
    Ok(removed)
}

fn read_options(args: &[String], checkpoint_dir: PathBuf) -> Result<Options> {
    let mut options = Options {
        segments: DEFAULT_SEGMENTS,
        dry_run: false,
        restart: false,
        checkpoint_dir,
        show_progress: true,
        page_limit: None,
        max_pages: None,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--dry-run" => options.dry_run = true,
            "--restart" => options.restart = true,
            "--segments" => {
                let value = args
                    .next()
                    .with_context(|| format!("--segments needs N\n{USAGE}"))?;
                options.segments = match value.parse() {
                    Ok(segments) if (1..=MOST_SEGMENTS).contains(&segments) => segments,
                    _ => {
                        bail!("--segments takes a number from 1 to {MOST_SEGMENTS}, not `{value}`")
                    }
                };
            }
            other => bail!("unknown flag `{other}`\n{USAGE}"),
        }
    }
    Ok(options)
}

/// Runs the migration of `store`'s table as `options` say, printing what it does.
pub async fn migrate(store: &Store, options: &Options) -> Result<Report> {
    let table = store.table().to_owned();
    let mut report = Report::default();
    if let Some(since) = store.sharded_since().await? {
        if !options.restart {
            println!(
                "{table} reads the sharded indexes already (marked {}): nothing to do \
                 (--restart scans it again)",
                since.sharded_at
            );
            report.moved_before = Some(since);
            return Ok(report);
        }
        println!(
            "{table} was marked {}; scanning it again (--restart)",
            since.sharded_at
        );
    }
    let description = describe_table(store).await?;
    let table_created = description
        .creation_date_time
        .map_or(0, |created| created.secs());
    let path = options.checkpoint_dir.join(format!("{table}.json"));
    let fresh = Checkpoint::new(&table, table_created, options.segments);
    let checkpoint = if options.dry_run {
        println!("{table}: a dry run: nothing is written, the checkpoint neither read nor kept");
        fresh
    } else {
        let checkpoint = starting_point(&path, fresh, options, &mut report)?;
        if !report.resumed {
            // At once, not after the first page: a run stopped before that would leave
            // the old checkpoint, and a finished one there is trusted without a scan.
            save(&path, &checkpoint)?;
        }
        checkpoint
    };
    let scanned_before = checkpoint.totals();
    let checkpoint = if checkpoint.finished() {
        println!(
            "every segment was scanned by an earlier run ({}, started {}); checking the \
             indexes (--restart scans again)",
            path.display(),
            checkpoint.started_at
        );
        checkpoint
    } else {
        let estimate = u64::try_from(description.item_count.unwrap_or(0)).unwrap_or(0);
        scan(store, options, &path, checkpoint, estimate).await?
    };
    report.totals = checkpoint.totals();
    report.this_run = Counts {
        scanned: report.totals.scanned - scanned_before.scanned,
        payouts_keyed: report.totals.payouts_keyed - scanned_before.payouts_keyed,
        schedules_keyed: report.totals.schedules_keyed - scanned_before.schedules_keyed,
        already: report.totals.already - scanned_before.already,
    };
    report.finished = checkpoint.finished();
    print_totals(&report, options.dry_run);
    if options.dry_run {
        println!("a dry run: nothing written, not marked");
        return Ok(report);
    }
    if !report.finished {
        let left = checkpoint.states.iter().filter(|state| !state.done).count();
        println!(
            "stopped with {left} of {} segments unfinished; the same command carries on \
             from {}",
            options.segments,
            path.display()
        );
        return Ok(report);
    }
    let problems = index_problems(&describe_indexes(store).await?);
    if !problems.is_empty() {
        bail!(
            "{}: every payout and due schedule of {table} has its sharded keys, but the \
             table is not marked: run `cargo xtask migrate` again once the indexes are \
             ACTIVE (the checkpoint {} makes it go straight to this check; docs/OPERATIONS.md, \
             \"Moving the table to the sharded indexes\")",
            problems.join("; "),
            path.display()
        );
    }
    let marked = if store.mark_sharded(Timestamp::now()).await? {
        println!(
            "{table} marked: every store reads the sharded indexes within a minute \
             (docs/OPERATIONS.md)"
        );
        Marked::Now
    } else {
        println!("{table} was marked already: its stores read the sharded indexes");
        Marked::Already
    };
    report.marked = Some(marked);
    Ok(report)
}

/// The checkpoint to carry on from, or a new one, saying which.
fn starting_point(
    path: &Path,
    fresh: Checkpoint,
    options: &Options,
    report: &mut Report,
) -> Result<Checkpoint> {
    if !path.exists() {
        return Ok(fresh);
    }
    if options.restart {
        println!("starting over (--restart): {} is replaced", path.display());
        return Ok(fresh);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let saved: Checkpoint = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a migration checkpoint (remove it, or pass --restart)",
            path.display()
        )
    })?;
    if saved.table != fresh.table || saved.table_created != fresh.table_created {
        println!(
            "{} is a scan of another table {} (made at another time); starting over",
            path.display(),
            saved.table
        );
        return Ok(fresh);
    }
    if saved.segments != fresh.segments {
        println!(
            "{} is a scan in {} segments; starting over in {} (--segments {} carries it on)",
            path.display(),
            saved.segments,
            fresh.segments,
            saved.segments
        );
        return Ok(fresh);
    }
    let done = saved.states.iter().filter(|state| state.done).count();
    println!(
        "resuming from {} (started {}): {done} of {} segments done, {} items scanned so far",
        path.display(),
        saved.started_at,
        saved.segments,
        saved.totals().scanned
    );
    report.resumed = true;
    Ok(saved)
}

/// Scans every unfinished segment at once from where it stands, saving the checkpoint
/// after every page (unless a dry run).
async fn scan(
    store: &Store,
    options: &Options,
    path: &Path,
    checkpoint: Checkpoint,
    estimate: u64,
) -> Result<Checkpoint> {
    println!(
        "scanning {} in {} segments: about {estimate} items (DescribeTable's ItemCount, \
         which DynamoDB refreshes about every six hours: an estimate)",
        store.table(),
        options.segments
    );
    let bar = if options.show_progress {
        let bar = indicatif::ProgressBar::new(estimate);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/~{len} items {per_sec} eta {eta}",
            )?
            .progress_chars("=> "),
        );
        bar.set_prefix("migrate");
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_position(checkpoint.totals().scanned);
    let unfinished: Vec<u32> = (0..options.segments)
        .filter(|segment| !checkpoint.states[*segment as usize].done)
        .collect();
    let scan = Scan {
        store,
        options,
        path,
        checkpoint: Mutex::new(checkpoint),
        pages: AtomicUsize::new(0),
        bar: &bar,
    };
    let outcome =
        futures::future::try_join_all(unfinished.into_iter().map(|segment| scan.segment(segment)))
            .await;
    bar.finish_and_clear();
    outcome?;
    Ok(scan
        .checkpoint
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner))
}

/// One run's scan, shared by its segments.
struct Scan<'a> {
    store: &'a Store,
    options: &'a Options,
    path: &'a Path,
    checkpoint: Mutex<Checkpoint>,
    /// Pages taken by every segment, for [`Options::max_pages`].
    pages: AtomicUsize,
    bar: &'a indicatif::ProgressBar,
}

impl Scan<'_> {
    async fn segment(&self, segment: u32) -> Result<()> {
        let index = segment as usize;
        loop {
            if let Some(most) = self.options.max_pages {
                if self.pages.fetch_add(1, Ordering::SeqCst) >= most {
                    return Ok(());
                }
            }
            let start = self.lock().states[index].next.clone();
            let page = self
                .store
                .backfill_sharded_keys(
                    segment,
                    self.options.segments,
                    start,
                    self.options.dry_run,
                    self.options.page_limit,
                )
                .await
                .with_context(|| {
                    format!(
                        "segment {segment}: what the pages before did is kept in {}; the same \
                         command carries on from there",
                        self.path.display()
                    )
                })?;
            let done = page.next.is_none();
            {
                let mut checkpoint = self.lock();
                let state = &mut checkpoint.states[index];
                state.counts.add(&page);
                state.next = page.next.clone();
                state.done = done;
                if !self.options.dry_run {
                    save(self.path, &checkpoint)?;
                }
            }
            let position = self.bar.position() + page.scanned as u64;
            if self.bar.length().is_some_and(|length| position > length) {
                self.bar.set_length(position);
            }
            self.bar.set_position(position);
            if done {
                return Ok(());
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Checkpoint> {
        // A segment that panicked left whole pages behind it: the state is still sound.
        self.checkpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes the checkpoint whole or not at all: a run killed mid-write leaves the last
/// one, never half of one.
fn save(path: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let dir = path.parent().context("the checkpoint has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .context("the checkpoint has no file name")?;
    let temporary = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, serde_json::to_vec_pretty(checkpoint)?)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))
}

fn print_totals(report: &Report, dry_run: bool) {
    let totals = report.totals;
    let (payouts, schedules) = if dry_run {
        ("payouts to key", "due schedules to key")
    } else {
        ("payouts keyed", "due schedules keyed")
    };
    println!(
        "{} items scanned: {} {payouts}, {} {schedules}, {} already right",
        totals.scanned, totals.payouts_keyed, totals.schedules_keyed, totals.already
    );
    if report.resumed && report.this_run.scanned > 0 {
        let now = report.this_run;
        println!(
            "  of which this run: {} scanned, {} payouts and {} schedules keyed, {} already \
             right",
            now.scanned, now.payouts_keyed, now.schedules_keyed, now.already
        );
    }
}

async fn describe_table(store: &Store) -> Result<aws_sdk_dynamodb::types::TableDescription> {
    store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .with_context(|| format!("describing {}", store.table()))?
        .table
        .with_context(|| format!("DynamoDB described no table {}", store.table()))
}

async fn describe_indexes(store: &Store) -> Result<Vec<GlobalSecondaryIndexDescription>> {
    Ok(describe_table(store)
        .await?
        .global_secondary_indexes
        .unwrap_or_default())
}

/// What keeps the sharded indexes from being read: one missing, or still being built.
fn index_problems(indexes: &[GlobalSecondaryIndexDescription]) -> Vec<String> {
    SHARDED_INDEXES
        .iter()
        .filter_map(|wanted| {
            let Some(index) = indexes
                .iter()
                .find(|index| index.index_name() == Some(*wanted))
            else {
                return Some(format!(
                    "index {wanted} is missing (the stack adds it: ShardedIndexes, one index a deploy, up to 3)"
                ));
            };
            match index.index_status() {
                Some(IndexStatus::Active) if index.backfilling() == Some(true) => {
                    Some(format!("index {wanted} is ACTIVE but still backfilling"))
                }
                Some(IndexStatus::Active) => None,
                Some(status) => Some(format!("index {wanted} is {}", status.as_str())),
                None => Some(format!("index {wanted} has no status")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::time::Duration;

    use aws_sdk_dynamodb::types::{AttributeValue, GlobalSecondaryIndexDescription, IndexStatus};
    use uuid::Uuid;

    use devkit::admin::cancel_payout;
    use devkit::testing::{
        fresh_store, gateway, local_config, mark_sent, processor_config, requested,
    };
    use domain::actor::Actor;
    use domain::money::Paise;
    use domain::payout::{Payout, PayoutStatus};
    use service::process::Processor;
    use service::schedule::{Frequency, PayoutSchedule};
    use service::scout::Scout;
    use store::{PayoutIndex, Store};

    use super::*;
    use crate::scratch;

    type Item = HashMap<String, AttributeValue>;

    const OWNER: u64 = 7;
    const OTHER: u64 = 8;
    /// Due schedules (in the past and to come) and one manual one, which has no place in
    /// the due index and is left alone.
    const DUE_SCOUTS: [&str; 5] = ["d-1", "d-2", "d-3", "d-4", "d-5"];
    const LATER_SCOUTS: [&str; 2] = ["l-1", "l-2"];
    const MANUAL_SCOUT: &str = "m-1";
    const PAGE: usize = 3;

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_owned())
    }

    fn options(dir: &Path) -> Options {
        Options {
            segments: 4,
            dry_run: false,
            restart: false,
            checkpoint_dir: dir.to_path_buf(),
            show_progress: false,
            page_limit: Some(4),
            max_pages: None,
        }
    }

    /// Payouts in five statuses, through the service as production made them.
    async fn payouts(store: &Store) -> Vec<Payout> {
        let limits = local_config(&[]).unwrap().limits;
        for (scout, user) in [("s-1", OWNER), ("s-2", OTHER)] {
            store
                .insert_scout(&Scout::with_earnings(scout, user, Paise(10_000_000)))
                .await
                .unwrap();
        }
        let mut ids = Vec::new();
        let request = |count: usize| {
            let store = store.clone();
            async move {
                let mut made = Vec::new();
                for index in 0..count {
                    let (scout, user) = if index % 3 == 0 {
                        ("s-2", OTHER)
                    } else {
                        ("s-1", OWNER)
                    };
                    made.push(requested(&store, limits, user, scout, 1_000 + index as u64).await);
                }
                made
            }
        };
        let paid = request(6).await;
        Processor::new(store, &gateway(store, 1.0), processor_config(30))
            .run()
            .await
            .unwrap();
        let refused = request(4).await;
        Processor::new(store, &gateway(store, 0.0), processor_config(30))
            .run()
            .await
            .unwrap();
        let waiting = request(7).await;
        let admin = Actor::admin(1);
        for payout in &waiting[..2] {
            cancel_payout(
                store,
                &gateway(store, 1.0),
                processor_config(30),
                &admin,
                payout.payout_id,
            )
            .await
            .unwrap();
        }
        for payout in &waiting[2..4] {
            mark_sent(store, payout).await;
        }
        ids.extend(
            paid.iter()
                .chain(&refused)
                .chain(&waiting)
                .map(|p| p.payout_id),
        );
        let mut now = Vec::new();
        for id in ids {
            now.push(store.payout(id).await.unwrap().unwrap());
        }
        now
    }

    async fn schedules(store: &Store, now: Timestamp) {
        let put = |scout: &'static str, due: Option<Timestamp>| {
            let store = store.clone();
            async move {
                let schedule = PayoutSchedule {
                    scout_id: scout.to_owned(),
                    user_id: OWNER,
                    frequency: if due.is_some() {
                        Frequency::Daily
                    } else {
                        Frequency::Manual
                    },
                    day: None,
                    minimum_paise: Paise(100),
                    next_due_at: due,
                    next_period: due.map(|due| due.as_utc().date_naive()),
                    last_swept_at: None,
                    updated_at: Some(now),
                };
                store.put_schedule(scout, &schedule, due).await.unwrap();
            }
        };
        for (index, scout) in DUE_SCOUTS.iter().enumerate() {
            // Two due at the same moment: the scout's id orders them.
            put(scout, Some(now.minus_secs(3_600 * (index as u64 / 2 + 1)))).await;
        }
        for scout in LATER_SCOUTS {
            put(scout, Some(now.plus_secs(86_400))).await;
        }
        put(MANUAL_SCOUT, None).await;
    }

    async fn item(store: &Store, pk: &str, sk: &str) -> Item {
        store
            .client()
            .get_item()
            .table_name(store.table())
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    }

    async fn update(store: &Store, pk: &str, sk: &str, expression: &str, values: Option<Item>) {
        store
            .client()
            .update_item()
            .table_name(store.table())
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression(expression)
            .set_expression_attribute_values(values)
            .send()
            .await
            .unwrap();
    }

    /// Every item of the table, by key.
    async fn everything(store: &Store) -> BTreeMap<(String, String), Item> {
        let mut all = BTreeMap::new();
        let mut start = None;
        loop {
            let output = store
                .client()
                .scan()
                .table_name(store.table())
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for item in output.items.unwrap_or_default() {
                let text = |name: &str| match item.get(name) {
                    Some(AttributeValue::S(text)) => text.clone(),
                    _ => String::new(),
                };
                all.insert((text(keys::PK), text(keys::SK)), item.clone());
            }
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return all,
            }
        }
    }

    fn wanted_status_shard(payout: &Payout) -> String {
        let id = payout.payout_id.to_string();
        keys::status_shard_pk(payout.status, keys::shard_of(&id, keys::STATUS_SHARDS))
    }

    fn wanted_feed_shard(payout: &Payout) -> String {
        let id = payout.payout_id.to_string();
        keys::feed_shard_pk(keys::shard_of(&id, keys::FEED_SHARDS))
    }

    fn wanted_due_shard(scout: &str) -> String {
        keys::due_shard_pk(keys::shard_of(scout, keys::DUE_SHARDS))
    }

    fn scheduled_with_due() -> impl Iterator<Item = &'static str> {
        DUE_SCOUTS.into_iter().chain(LATER_SCOUTS)
    }

    /// How many payouts and due schedules lack their sharded keys, have them right,
    /// and have them wrong.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Keyed {
        missing: usize,
        right: usize,
        wrong: usize,
    }

    async fn keyed(store: &Store, payouts: &[Payout]) -> Keyed {
        let mut found = Keyed::default();
        let mut count = |wanted: Vec<String>, stored: Vec<Option<&AttributeValue>>| {
            if stored.iter().all(Option::is_none) {
                found.missing += 1;
            } else if wanted.iter().map(|key| Some(s(key))).collect::<Vec<_>>()
                == stored
                    .into_iter()
                    .map(Option::<&AttributeValue>::cloned)
                    .collect::<Vec<_>>()
            {
                found.right += 1;
            } else {
                found.wrong += 1;
            }
        };
        for payout in payouts {
            let stored = item(store, &keys::payout_pk(payout.payout_id), keys::PAYOUT_SK).await;
            count(
                vec![wanted_status_shard(payout), wanted_feed_shard(payout)],
                vec![
                    stored.get(keys::STATUS_SHARD_PK),
                    stored.get(keys::FEED_SHARD_PK),
                ],
            );
        }
        for scout in scheduled_with_due() {
            let stored = item(store, &keys::scout_pk(scout), keys::SCHEDULE_SK).await;
            count(
                vec![wanted_due_shard(scout)],
                vec![stored.get(keys::DUE_SHARD_PK)],
            );
        }
        let manual = item(store, &keys::scout_pk(MANUAL_SCOUT), keys::SCHEDULE_SK).await;
        assert!(!manual.contains_key(keys::DUE_SHARD_PK));
        assert!(!manual.contains_key(keys::DUE_PK));
        found
    }

    /// Everything the listings show, page by page, as a reader of either layout sees it.
    #[derive(Debug, PartialEq)]
    struct Listings {
        /// Per listing (All, then each status), newest first, then oldest first.
        whole: Vec<Vec<Uuid>>,
        /// Per listing, newest first: each page and the key it ends on.
        pages: Vec<Vec<(Vec<Uuid>, Option<PageKey>)>>,
        /// Per listing: the page each `PAGE`-th skip reaches, and the key it starts
        /// after. At the exact end the legacy walk hands back the last key (DynamoDB's
        /// `LastEvaluatedKey` at a full page) and the merged one `None`: both mean an
        /// empty page, which is what is compared there.
        skips: Vec<Vec<(Option<PageKey>, Vec<Uuid>)>>,
        /// Per listing: the admin list's pages by number, as the API serves them (ids and
        /// the key its next cursor holds; the cursor's text follows a map's order).
        numbered: Vec<Vec<(Vec<Uuid>, Option<PageKey>)>>,
        /// The scouts due, pages of 2 (empty pages left out).
        due: Vec<Vec<String>>,
    }

    fn listings_of() -> Vec<PayoutIndex> {
        std::iter::once(PayoutIndex::All)
            .chain(PayoutStatus::ALL.into_iter().map(PayoutIndex::Status))
            .collect()
    }

    fn ids(page: &store::PayoutPage) -> Vec<Uuid> {
        page.payouts.iter().map(|payout| payout.payout_id).collect()
    }

    async fn listings(store: &Store, now: Timestamp) -> Listings {
        let mut whole = Vec::new();
        let mut pages = Vec::new();
        let mut skips = Vec::new();
        let mut numbered = Vec::new();
        for index in listings_of() {
            for newest_first in [true, false] {
                let page = store
                    .query_payouts(&index, newest_first, 1000, None)
                    .await
                    .unwrap();
                assert_eq!(page.next, None);
                whole.push(ids(&page));
            }
            let mut listing = Vec::new();
            let mut start = None;
            loop {
                let page = store
                    .query_payouts(&index, true, PAGE, start)
                    .await
                    .unwrap();
                listing.push((ids(&page), page.next.clone()));
                match page.next {
                    Some(next) => start = Some(next),
                    None => break,
                }
            }
            pages.push(listing);
            let mut skipped = Vec::new();
            for skip in (0..=whole.last().map_or(0, Vec::len) + PAGE).step_by(PAGE) {
                let at = store.skip_payouts(&index, true, skip).await.unwrap();
                let page = match &at {
                    Some(start) => ids(&store
                        .query_payouts(&index, true, PAGE, start.clone())
                        .await
                        .unwrap()),
                    None => Vec::new(),
                };
                let at = if page.is_empty() { None } else { at.flatten() };
                skipped.push((at, page));
            }
            skips.push(skipped);
            let status = match index {
                PayoutIndex::Status(status) => Some(status),
                _ => None,
            };
            let mut by_number = Vec::new();
            for number in 1.. {
                let list = service::listing::list_payouts(
                    store,
                    &Actor::admin(1),
                    false,
                    status,
                    Some(number),
                    PAGE,
                    None,
                )
                .await
                .unwrap();
                let empty = list.payouts.is_empty();
                let next = list
                    .next_cursor
                    .map(|cursor| service::cursor::decode(&index, &cursor).unwrap());
                by_number.push((
                    list.payouts.iter().map(|payout| payout.payout_id).collect(),
                    next,
                ));
                if empty {
                    break;
                }
            }
            numbered.push(by_number);
        }
        let mut due = Vec::new();
        let mut start = None;
        loop {
            let page = store.due_schedules(now, 2, start).await.unwrap();
            if !page.scout_ids.is_empty() {
                due.push(page.scout_ids);
            }
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        Listings {
            whole,
            pages,
            skips,
            numbered,
            due,
        }
    }

    fn newest_first(payouts: &[&Payout]) -> Vec<Uuid> {
        let mut sorted: Vec<&&Payout> = payouts.iter().collect();
        sorted.sort_by_key(|payout| (payout.created_at, payout.payout_id.to_string()));
        sorted.reverse();
        sorted.into_iter().map(|payout| payout.payout_id).collect()
    }

    fn read_checkpoint(dir: &Path, table: &str) -> Checkpoint {
        let text = std::fs::read_to_string(dir.join(format!("{table}.json"))).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[tokio::test]
    async fn a_legacy_table_moves_to_the_sharded_indexes_once_resumably_and_reads_the_same() {
        let store = fresh_store().await;
        let table = store.table().to_owned();
        let client = store.client().clone();
        let now = Timestamp::now();
        let mut payouts = payouts(&store).await;
        schedules(&store, now).await;

        // As a table made before the sharded indexes: no marker, no sharded keys; and one
        // payout whose status an older version changed after a newer one keyed it.
        client
            .delete_item()
            .table_name(&table)
            .key(keys::PK, s(keys::LAYOUT_PK))
            .key(keys::SK, s(keys::LAYOUT_SK))
            .send()
            .await
            .unwrap();
        let mut stale = None;
        for payout in &payouts {
            let pk = keys::payout_pk(payout.payout_id);
            if stale.is_none() && payout.status == PayoutStatus::Completed {
                let pending = keys::status_shard_pk(
                    PayoutStatus::Pending,
                    keys::shard_of(&payout.payout_id.to_string(), keys::STATUS_SHARDS),
                );
                let values = HashMap::from([(":stale".to_owned(), s(&pending))]);
                update(
                    &store,
                    &pk,
                    keys::PAYOUT_SK,
                    "SET status_shard_pk = :stale REMOVE feed_shard_pk",
                    Some(values),
                )
                .await;
                stale = Some(payout.payout_id);
            } else {
                update(
                    &store,
                    &pk,
                    keys::PAYOUT_SK,
                    "REMOVE status_shard_pk, feed_shard_pk",
                    None,
                )
                .await;
            }
        }
        let stale = stale.expect("a completed payout");
        for scout in scheduled_with_due() {
            update(
                &store,
                &keys::scout_pk(scout),
                keys::SCHEDULE_SK,
                "REMOVE due_shard_pk",
                None,
            )
            .await;
        }
        let statuses: std::collections::HashSet<_> =
            payouts.iter().map(|payout| payout.status).collect();
        assert!(statuses.len() >= 5, "{statuses:?}");
        let payouts_to_key = payouts.len() as u64;
        let schedules_to_key = scheduled_with_due().count() as u64;
        let items = everything(&store).await.len() as u64;
        let legacy_keys = Keyed {
            missing: (payouts_to_key + schedules_to_key) as usize - 1,
            right: 0,
            wrong: 1,
        };
        assert_eq!(keyed(&store, &payouts).await, legacy_keys);
        let all_right = Keyed {
            right: (payouts_to_key + schedules_to_key) as usize,
            ..Keyed::default()
        };

        // (a) The legacy layout is read, and is right.
        let legacy = Store::new(client.clone(), &table);
        assert_eq!(legacy.sharded_since().await.unwrap(), None);
        let before = listings(&legacy, now).await;
        let all: Vec<&Payout> = payouts.iter().collect();
        assert_eq!(before.whole[0], newest_first(&all));
        for (position, status) in PayoutStatus::ALL.into_iter().enumerate() {
            let of_status: Vec<&Payout> = payouts.iter().filter(|p| p.status == status).collect();
            assert_eq!(
                before.whole[2 + 2 * position],
                newest_first(&of_status),
                "{status}"
            );
        }
        let due: Vec<String> = before.due.concat();
        // Due longest ago first; d-1 and d-2 an hour ago, d-3 and d-4 two, d-5 three.
        assert_eq!(due, ["d-5", "d-3", "d-4", "d-1", "d-2"]);

        // (b) A dry run counts and writes nothing.
        let dir = scratch::Dir::new("migrate");
        let checkpoints = dir.path().join("checkpoints");
        let dry = migrate(
            &Store::new(client.clone(), &table),
            &Options {
                dry_run: true,
                ..options(&checkpoints)
            },
        )
        .await
        .unwrap();
        assert_eq!(
            dry.totals,
            Counts {
                scanned: items,
                payouts_keyed: payouts_to_key,
                schedules_keyed: schedules_to_key,
                already: 0,
            }
        );
        assert_eq!((dry.finished, dry.marked, dry.resumed), (true, None, false));
        assert!(!checkpoints.exists(), "a dry run keeps no checkpoint");
        assert_eq!(legacy.sharded_since().await.unwrap(), None);
        assert_eq!(keyed(&legacy, &payouts).await, legacy_keys);

        // (c) Interrupted after its first page, then carried on.
        let first = migrate(
            &Store::new(client.clone(), &table),
            &Options {
                max_pages: Some(1),
                ..options(&checkpoints)
            },
        )
        .await
        .unwrap();
        assert_eq!((first.finished, first.marked), (false, None));
        assert!(first.totals.scanned > 0 && first.totals.scanned <= 4);
        assert_eq!(legacy.sharded_since().await.unwrap(), None);
        let saved = read_checkpoint(&checkpoints, &table);
        assert_eq!(saved.totals(), first.totals);
        let started: Vec<&SegmentState> = saved
            .states
            .iter()
            .filter(|state| state.counts.scanned > 0)
            .collect();
        assert_eq!(started.len(), 1, "{saved:?}");
        assert!(!started[0].done && started[0].next.is_some(), "{saved:?}");

        let second = migrate(&Store::new(client.clone(), &table), &options(&checkpoints))
            .await
            .unwrap();
        assert!(second.resumed && second.finished);
        assert_eq!(second.marked, Some(Marked::Now));
        // Every item scanned once, every payout and schedule keyed once: a page read
        // twice would count its payouts as already right.
        assert_eq!(
            second.totals,
            Counts {
                scanned: items,
                payouts_keyed: payouts_to_key,
                schedules_keyed: schedules_to_key,
                already: 0,
            }
        );
        assert_eq!(
            second.this_run.payouts_keyed + first.totals.payouts_keyed,
            payouts_to_key
        );
        assert_eq!(
            second.this_run.scanned + first.totals.scanned,
            second.totals.scanned
        );
        assert!(read_checkpoint(&checkpoints, &table).finished());
        assert_eq!(keyed(&legacy, &payouts).await, all_right);
        let marker = legacy.sharded_since().await.unwrap().expect("marked");

        // (d) A new store reads the sharded indexes, and sees what the legacy ones showed.
        let sharded = Store::new(client.clone(), &table);
        let mut in_feed = 0;
        for shard in 0..keys::FEED_SHARDS {
            in_feed += client
                .query()
                .table_name(&table)
                .index_name(keys::INDEX_BY_CREATED_SHARD)
                .key_condition_expression("feed_shard_pk = :shard")
                .expression_attribute_values(":shard", s(&keys::feed_shard_pk(shard)))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .send()
                .await
                .unwrap()
                .count;
        }
        assert_eq!(in_feed as u64, payouts_to_key);
        let after = listings(&sharded, now).await;
        assert_eq!(after.whole, before.whole);
        assert_eq!(after.pages, before.pages);
        assert_eq!(after.skips, before.skips);
        assert_eq!(after.numbered, before.numbered);
        assert_eq!(after.due, before.due);
        // The stale payout is listed as completed, not pending.
        let position = |status: PayoutStatus| {
            2 * PayoutStatus::ALL.iter().position(|s| *s == status).unwrap() + 2
        };
        assert!(after.whole[position(PayoutStatus::Completed)].contains(&stale));
        assert!(!after.whole[position(PayoutStatus::Pending)].contains(&stale));
        // A cursor handed out before the move goes on after it.
        for (index, listing) in listings_of().iter().zip(&before.pages) {
            for (page, next) in listing.iter().zip(listing.iter().skip(1)) {
                let carried = sharded
                    .query_payouts(index, true, PAGE, page.1.clone())
                    .await
                    .unwrap();
                assert_eq!(ids(&carried), next.0);
            }
        }

        // (e) Again: nothing to do; with --restart, a scan that writes nothing.
        let again = migrate(&Store::new(client.clone(), &table), &options(&checkpoints))
            .await
            .unwrap();
        assert_eq!(again.moved_before, Some(marker));
        assert_eq!((again.totals, again.marked), (Counts::default(), None));
        let items_now = everything(&store).await;
        let rescanned = migrate(
            &Store::new(client.clone(), &table),
            &Options {
                restart: true,
                ..options(&checkpoints)
            },
        )
        .await
        .unwrap();
        assert!(!rescanned.resumed);
        assert_eq!(
            rescanned.totals,
            Counts {
                scanned: items + 1,
                payouts_keyed: 0,
                schedules_keyed: 0,
                already: payouts_to_key + schedules_to_key,
            }
        );
        assert_eq!(rescanned.marked, Some(Marked::Already));
        assert_eq!(everything(&store).await, items_now, "nothing written");
        assert_eq!(legacy.sharded_since().await.unwrap(), Some(marker));

        // A --restart stopped before its first page leaves no finished checkpoint
        // behind: the next run scans rather than trusting the earlier scan.
        let stopped = migrate(
            &Store::new(client.clone(), &table),
            &Options {
                restart: true,
                max_pages: Some(0),
                ..options(&checkpoints)
            },
        )
        .await
        .unwrap();
        assert_eq!(
            (stopped.finished, stopped.totals),
            (false, Counts::default())
        );
        let saved = read_checkpoint(&checkpoints, &table);
        assert!(saved
            .states
            .iter()
            .all(|state| *state == SegmentState::default()));

        // The payouts moved on since (read again) keep to the sharded layout.
        for payout in &mut payouts {
            *payout = store.payout(payout.payout_id).await.unwrap().unwrap();
        }
        assert_eq!(keyed(&legacy, &payouts).await, all_right);
    }

    /// A rollback past this version and forward again. `--unmark` sends a store that
    /// read the sharded indexes back to the legacy ones at its next look (a minute in a
    /// Lambda, at once here), and forgets this machine's scan; the older version then
    /// makes a payout without the sharded keys and claims another, leaving it keyed as
    /// pending; the sharded reads miss both, the legacy ones do not; moving forward
    /// again scans every item, keys both and marks the table.
    #[tokio::test]
    async fn unmarking_sends_reads_back_to_the_legacy_indexes_until_a_new_scan_keys_them() {
        let store = fresh_store().await;
        let table = store.table().to_owned();
        let client = store.client().clone();
        let limits = local_config(&[]).unwrap().limits;
        store
            .insert_scout(&Scout::with_earnings("s-1", OWNER, Paise(10_000_000)))
            .await
            .unwrap();
        let mut payouts = Vec::new();
        for amount in [1_000, 2_000, 3_000] {
            payouts.push(requested(&store, limits, OWNER, "s-1", amount).await);
        }
        let now = Timestamp::now();
        schedules(&store, now).await;
        let dir = scratch::Dir::new("migrate-unmark");
        let checkpoints = dir.path().join("checkpoints");
        let checkpoint = checkpoints.join(format!("{table}.json"));
        let scanned = migrate(
            &Store::new(client.clone(), &table),
            &Options {
                restart: true,
                ..options(&checkpoints)
            },
        )
        .await
        .unwrap();
        assert!(scanned.finished && checkpoint.exists(), "{scanned:?}");
        assert!(store.sharded_since().await.unwrap().is_some());
        let watching =
            Store::new(client.clone(), &table).with_layout_looked_at_every(Duration::ZERO);
        let lists = |store: Store| async move {
            let mut found = Vec::new();
            for index in [
                PayoutIndex::Status(PayoutStatus::Pending),
                PayoutIndex::Status(PayoutStatus::Processing),
                PayoutIndex::All,
            ] {
                let page = store.query_payouts(&index, true, 100, None).await.unwrap();
                found.push(ids(&page));
            }
            found
        };
        let all = newest_first(&payouts.iter().collect::<Vec<_>>());
        assert_eq!(
            lists(watching.clone()).await,
            [all.clone(), vec![], all.clone()]
        );
        // A sweep's first page of due schedules, read from the sharded index.
        let first_due = watching.due_schedules(now, 2, None).await.unwrap();
        let before = everything(&store).await;

        // --unmark: the marker and the finished scan are gone; nothing else is.
        assert!(unmark(&store, &checkpoints).await.unwrap());
        assert_eq!(store.sharded_since().await.unwrap(), None);
        assert!(!checkpoint.exists());
        assert!(
            !unmark(&store, &checkpoints).await.unwrap(),
            "nothing to take away twice"
        );
        let mut unmarked = before;
        unmarked.remove(&(keys::LAYOUT_PK.to_owned(), keys::LAYOUT_SK.to_owned()));
        assert_eq!(everything(&store).await, unmarked, "only the marker went");

        // The older version: a payout with its legacy keys only, and a claim that moves
        // the legacy status key alone.
        let made = requested(&store, limits, OWNER, "s-1", 4_000).await;
        update(
            &store,
            &keys::payout_pk(made.payout_id),
            keys::PAYOUT_SK,
            "REMOVE status_shard_pk, feed_shard_pk",
            None,
        )
        .await;
        let claimed = payouts[0].payout_id;
        let values = HashMap::from([
            (":status".to_owned(), s("processing")),
            (
                ":status_pk".to_owned(),
                s(&keys::status_pk(PayoutStatus::Processing)),
            ),
        ]);
        client
            .update_item()
            .table_name(&table)
            .key(keys::PK, s(&keys::payout_pk(claimed)))
            .key(keys::SK, s(keys::PAYOUT_SK))
            .update_expression("SET #status = :status, status_pk = :status_pk")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .unwrap();
        payouts.push(made.clone());
        for payout in &mut payouts {
            *payout = store.payout(payout.payout_id).await.unwrap().unwrap();
        }
        assert_eq!(payouts[0].status, PayoutStatus::Processing);
        let all = newest_first(&payouts.iter().collect::<Vec<_>>());
        let pending: Vec<Uuid> = all.iter().copied().filter(|id| *id != claimed).collect();
        let legacy_lists = [pending.clone(), vec![claimed], all.clone()];

        // The store that read the sharded indexes reads the legacy ones now, and sees
        // everything the older version did; a store on the sharded ones would not.
        assert_eq!(lists(watching.clone()).await, legacy_lists);
        // The sweep carries on from the sharded page's end on the legacy index.
        let mut due = first_due.scout_ids;
        let mut start = first_due.next;
        while let Some(from) = start.take() {
            let page = watching.due_schedules(now, 2, Some(from)).await.unwrap();
            due.extend(page.scout_ids);
            start = page.next;
        }
        assert_eq!(due, ["d-5", "d-3", "d-4", "d-1", "d-2"]);
        assert!(store.mark_sharded(Timestamp::now()).await.unwrap());
        let sharded_lists = lists(Store::new(client.clone(), &table)).await;
        assert!(
            !sharded_lists[0].contains(&made.payout_id),
            "{sharded_lists:?}"
        );
        assert!(!sharded_lists[0].contains(&claimed));
        assert!(
            sharded_lists[1].is_empty(),
            "the claim is in no processing shard"
        );
        assert!(store.unmark_sharded().await.unwrap());

        // Forward again: every item scanned (no checkpoint here), both keyed, marked.
        let again = migrate(&Store::new(client.clone(), &table), &options(&checkpoints))
            .await
            .unwrap();
        assert!(!again.resumed);
        assert_eq!(again.totals.payouts_keyed, 2, "{again:?}");
        assert_eq!(again.marked, Some(Marked::Now));
        assert_eq!(lists(watching.clone()).await, legacy_lists);
        assert_eq!(
            lists(Store::new(client.clone(), &table)).await,
            legacy_lists
        );
        for payout in &payouts {
            let stored = item(&store, &keys::payout_pk(payout.payout_id), keys::PAYOUT_SK).await;
            assert_eq!(
                [stored.get("status_shard_pk"), stored.get("feed_shard_pk")],
                [
                    Some(&s(&wanted_status_shard(payout))),
                    Some(&s(&wanted_feed_shard(payout)))
                ],
                "{}",
                payout.payout_id
            );
        }
    }

    #[test]
    fn the_indexes_must_all_be_there_active_and_done_backfilling() {
        let index = |name: &str, status: IndexStatus, backfilling: Option<bool>| {
            GlobalSecondaryIndexDescription::builder()
                .index_name(name)
                .index_status(status)
                .set_backfilling(backfilling)
                .build()
        };
        let ready: Vec<_> = SHARDED_INDEXES
            .iter()
            .map(|name| index(name, IndexStatus::Active, None))
            .chain([index(keys::INDEX_BY_STATUS, IndexStatus::Creating, None)])
            .collect();
        assert!(index_problems(&ready).is_empty());
        let building = vec![
            index(
                keys::INDEX_BY_STATUS_SHARD,
                IndexStatus::Active,
                Some(false),
            ),
            index(
                keys::INDEX_BY_CREATED_SHARD,
                IndexStatus::Creating,
                Some(true),
            ),
        ];
        assert_eq!(
            index_problems(&building),
            [
                "index by_created_shard is CREATING",
                "index by_due_shard is missing (the stack adds it: ShardedIndexes, one index a deploy, up to 3)",
            ]
        );
        let backfilling = vec![
            index(keys::INDEX_BY_STATUS_SHARD, IndexStatus::Active, Some(true)),
            index(keys::INDEX_BY_CREATED_SHARD, IndexStatus::Active, None),
            index(keys::INDEX_BY_DUE_SHARD, IndexStatus::Active, None),
        ];
        assert_eq!(
            index_problems(&backfilling),
            ["index by_status_shard is ACTIVE but still backfilling"]
        );
    }

    #[test]
    fn flags_are_read_strictly() {
        let args = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        let dir = PathBuf::from("/nowhere");
        let read = read_options(
            &args(&["--dry-run", "--segments", "8", "--restart"]),
            dir.clone(),
        )
        .unwrap();
        assert_eq!((read.segments, read.dry_run, read.restart), (8, true, true));
        assert_eq!(read_options(&[], dir.clone()).unwrap().segments, 4);
        for wrong in [
            &["--segments"][..],
            &["--segments", "0"],
            &["--segments", "x"],
            &["--dryrun"],
        ] {
            assert!(
                read_options(&args(wrong), dir.clone()).is_err(),
                "{wrong:?}"
            );
        }
        assert!(matches!(
            read_command(&args(&["--unmark"]), dir.clone()),
            Ok(Command::Unmark { .. })
        ));
        assert!(matches!(
            read_command(&args(&["--restart"]), dir.clone()),
            Ok(Command::Migrate(Options { restart: true, .. }))
        ));
        for wrong in [&["--unmark", "--restart"][..], &["--dry-run", "--unmark"]] {
            assert!(
                read_command(&args(wrong), dir.clone()).is_err(),
                "{wrong:?}"
            );
        }
    }
}
