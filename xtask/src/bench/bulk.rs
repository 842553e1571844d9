//! §3's bulk row beside the single action it repeats: one `POST /payouts/bulk` that
//! cancels ten payouts against one `POST /payouts/{id}/cancel`, each run's requests
//! captured and sent again to copies of the table as it was before it (`floor`), so the
//! ratio the issue sets (ten ids ≤ 3 × one action) stands next to the ratio DynamoDB
//! Local allows for the very same requests.

use std::time::Instant;

use anyhow::{ensure, Context, Result};
use devkit::api::Api;
use devkit::replay::Capture;
use domain::payout::Payout;
use platform::vault::Vault;

use super::floor::{self, Floor};
use super::stats::ms;
use super::world::World;

/// Ids in one bulk call: the seed's batch, and the figure.
pub const IDS: usize = 10;

pub struct Round {
    pub single_ms: f64,
    pub bulk_ms: f64,
    pub single: Floor,
    pub bulk: Floor,
}

pub struct BulkFigures {
    pub rounds: Vec<Round>,
}

/// The rounds' medians, each figure on its own.
pub struct Medians {
    pub single_ms: f64,
    pub bulk_ms: f64,
    pub single_floor_ms: f64,
    pub bulk_floor_ms: f64,
}

impl Medians {
    /// The bulk call's time ÷ the single action's.
    pub fn run_ratio(&self) -> f64 {
        self.bulk_ms / self.single_ms.max(f64::EPSILON)
    }

    /// The same for DynamoDB Local's own time for each call's requests.
    pub fn floor_ratio(&self) -> f64 {
        self.bulk_floor_ms / self.single_floor_ms.max(f64::EPSILON)
    }
}

impl BulkFigures {
    pub fn medians(&self) -> Medians {
        let median = |value: fn(&Round) -> f64| {
            let mut values: Vec<f64> = self.rounds.iter().map(value).collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied().unwrap_or(0.0)
        };
        Medians {
            single_ms: median(|r| r.single_ms),
            bulk_ms: median(|r| r.bulk_ms),
            single_floor_ms: median(|r| r.single.floor_ms),
            bulk_floor_ms: median(|r| r.bulk.floor_ms),
        }
    }
}

pub async fn run(endpoint: &str, vault: &Vault, quick: bool) -> Result<BulkFigures> {
    let capture = Capture::new("service");
    let world = World::captured(endpoint, &capture).await?;
    // Each payout of its own scout and user, as a bulk call over an admin's list mostly
    // is: payouts of one scout would be ten transactions on that scout's item at once,
    // which DynamoDB refuses as conflicting and the store retries.
    let scouts: Vec<(String, u64)> = (0..=IDS as u64)
        .map(|n| (format!("s-bulk-{n}"), FIRST_USER + n))
        .collect();
    for (scout, user) in &scouts {
        world.rich_scout(scout, *user).await?;
    }
    let api = super::api::api_for(&world, vault, "1")?;
    let admin = super::api::token(1, domain::actor::Role::Admin)?;
    let client = devkit::dynamodb_local::client(endpoint).await;
    let (single_scout, bulk_scouts) = scouts.split_last().context("scouts")?;

    // Unmeasured first calls of each: the store's layout read, the client's connections.
    cancel(
        &api,
        &admin,
        &one_each(&world, std::slice::from_ref(single_scout)).await?,
    )
    .await?;
    cancel(&api, &admin, &one_each(&world, bulk_scouts).await?).await?;

    let mut rounds = Vec::new();
    for round in 0..if quick { 1 } else { 5 } {
        let one = one_each(&world, std::slice::from_ref(single_scout)).await?;
        let ten = one_each(&world, bulk_scouts).await?;
        // Copies for both calls before either: the two touch no item in common, and
        // neither call runs beside more tables (streams) than the other.
        let copies = floor::copies(&client, world.store.table(), 4).await?;
        let (single_copies, bulk_copies) = copies.split_at(2);
        // Alternating which goes first, so that neither is always the warmer.
        let (single, bulk) = if round % 2 == 0 {
            let single = captured(&capture, cancel(&api, &admin, &one)).await?;
            let bulk = captured(&capture, cancel(&api, &admin, &ten)).await?;
            (single, bulk)
        } else {
            let bulk = captured(&capture, cancel(&api, &admin, &ten)).await?;
            let single = captured(&capture, cancel(&api, &admin, &one)).await?;
            (single, bulk)
        };
        let table = world.store.table();
        let single_floor = single.floor(&client, table, single_copies).await?;
        let bulk_floor = bulk.floor(&client, table, bulk_copies).await?;
        ensure!(
            single_floor.refused == 0 && bulk_floor.refused == 0,
            "a request sent again was refused where the run's was applied"
        );
        rounds.push(Round {
            single_ms: single.run_ms,
            bulk_ms: bulk.run_ms,
            single: single_floor,
            bulk: bulk_floor,
        });
    }
    Ok(BulkFigures { rounds })
}

/// Users of the bench's scouts, clear of the other parts' (they share no table).
const FIRST_USER: u64 = 300;

/// One new pending payout of each scout.
async fn one_each(world: &World, scouts: &[(String, u64)]) -> Result<Vec<Payout>> {
    let mut payouts = Vec::new();
    for (scout, user) in scouts {
        payouts.extend(world.pending(scout, *user, 1, 1).await?);
    }
    Ok(payouts)
}

/// One payout cancelled by its own route, or several by one bulk call, every one done.
async fn cancel(api: &Api, admin: &str, payouts: &[Payout]) -> Result<()> {
    let reply = match payouts {
        [one] => {
            api.post(&format!("/payouts/{}/cancel", one.payout_id), admin, None)
                .await
        }
        many => {
            let ids: Vec<String> = many.iter().map(|p| p.payout_id.to_string()).collect();
            let body = serde_json::json!({"action": "cancel", "payout_ids": ids}).to_string();
            api.post("/payouts/bulk", admin, Some(&body)).await
        }
    };
    ensure!(
        reply.status == 200,
        "cancel answered {}: {:?}",
        reply.status,
        reply.body
    );
    if payouts.len() > 1 {
        ensure!(
            reply.body["counts"]["done"] == payouts.len() as u64,
            "not every id was cancelled: {:?}",
            reply.body["counts"]
        );
    }
    Ok(())
}

/// One call's wall time and the requests it sent.
struct CallCapture {
    run_ms: f64,
    started: Instant,
    calls: Vec<devkit::replay::Captured>,
}

impl CallCapture {
    /// DynamoDB Local's own time for the call's requests, sent again to `copies` (two
    /// copies of `table` as it was before the call).
    async fn floor(
        &self,
        client: &aws_sdk_dynamodb::Client,
        table: &str,
        copies: &[String],
    ) -> Result<Floor> {
        let [at_once, alone] = copies else {
            anyhow::bail!("two copies of the table");
        };
        floor::measure(client, &self.calls, self.started, table, at_once, alone).await
    }
}

/// `call`'s wall time with its requests captured (`call` is not polled before).
async fn captured(
    capture: &Capture,
    call: impl std::future::Future<Output = Result<()>>,
) -> Result<CallCapture> {
    capture.start();
    let started = Instant::now();
    call.await?;
    let run_ms = ms(started.elapsed());
    Ok(CallCapture {
        run_ms,
        started,
        calls: capture.stop(),
    })
}

pub const HEADING: &str = "## 10. Bulk actions";

/// The target: ten ids in one call within three single actions.
const TARGET: f64 = 3.0;

/// How the report's line under "Targets missed" for this part starts (`--only bulk`
/// replaces it).
pub const MISSED_PREFIX: &str = "- **Bulk actions:";

/// The line under "Targets missed" when ten ids take more than three single actions.
pub fn missed(figures: &BulkFigures) -> Option<String> {
    let run = figures.medians().run_ratio();
    (run > TARGET).then(|| format!("{MISSED_PREFIX} {IDS} ids in one call = {run:.2} × one cancel** (target {TARGET}): {} See §10.", cause(figures)))
}

/// Why ten ids take what they take, from what was measured: DynamoDB Local's own time
/// for the same requests, and how far the call is above it.
fn cause(figures: &BulkFigures) -> String {
    let medians = figures.medians();
    let (run, floor) = (medians.run_ratio(), medians.floor_ratio());
    let over = run / floor.max(f64::EPSILON);
    if floor > TARGET {
        format!("DynamoDB Local's own time for the very same requests, sent as the call sent them, is already {floor:.2} × one cancel's (it answers requests sent at once nearly one after another: \"at once ÷ one alone\" in §10's phases), and the call is {over:.2} × that. Each id is its own payout, scout and user, so on DynamoDB no two of the call's requests touch one item.")
    } else {
        format!("DynamoDB Local lets the very same requests run at {floor:.2} × one cancel's, so the call's {over:.2} × that is the bulk code's own.")
    }
}
pub fn section(figures: &BulkFigures, command: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str(&super::stats::section_head(HEADING, command));
    let medians = figures.medians();
    let (run, floor) = (medians.run_ratio(), medians.floor_ratio());
    let _ = writeln!(out, "`POST /payouts/bulk` cancelling {IDS} pending payouts, each of its own scout and user, against `POST /payouts/{{id}}/cancel` cancelling one of another, each through `App::handle` (the function's code) on DynamoDB Local, median of {} rounds, the two calls taking turns to go first. Each call's requests were captured and sent again, unchanged but for the table's name, to copies of the table made before either call (the two touch no item in common): as the call sent them (each run of requests of one kind at once), the least DynamoDB Local takes for them, and one at a time.\n", figures.rounds.len());
    let _ = writeln!(
        out,
        "| | one id (cancel-payout) | {IDS} ids (bulk-payouts) | {IDS} ids ÷ one | target |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| the call | {:.1} ms | {:.1} ms | {run:.2} | ≤ {TARGET}: {} |",
        medians.single_ms,
        medians.bulk_ms,
        if run <= TARGET { "met" } else { "**missed**" }
    );
    let _ = writeln!(
        out,
        "| DynamoDB Local's own time for the same requests | {:.1} ms | {:.1} ms | {floor:.2} | |",
        medians.single_floor_ms, medians.bulk_floor_ms,
    );
    let _ = writeln!(out, "\nThe call's ratio ÷ DynamoDB Local's: **{:.2}** (1 would be the ids running as concurrently as DynamoDB Local lets the same requests run). The bulk call runs `PROCESS_CONCURRENCY` (10) ids at once: its {IDS} ids' `GetItem`s go at once, then their transactions. {}\n", run / floor.max(f64::EPSILON), cause(figures));
    if let Some(last) = figures.rounds.last() {
        let _ = writeln!(out, "The bulk call of the last round, phase by phase:\n");
        let _ = write!(out, "{}", floor::table(&last.bulk));
        let _ = writeln!(out, "\nThe single cancel of the last round:\n");
        let _ = write!(out, "{}", floor::table(&last.single));
    }
    out
}
