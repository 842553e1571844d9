//! §3's bulk row beside the single action it repeats: one `POST /payouts/bulk` that
//! cancels ten payouts against one `POST /payouts/{id}/cancel`, each run's requests
//! captured and sent again to copies of the table as it was before it (`floor`), so the
//! ratio the issue sets (ten ids ≤ 3 × one action) stands next to the ratio DynamoDB
//! Local allows for the very same requests.

use std::time::Instant;

use anyhow::{ensure, Result};
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

impl BulkFigures {
    fn median(&self, value: impl Fn(&Round) -> f64) -> f64 {
        let mut values: Vec<f64> = self.rounds.iter().map(value).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(0.0)
    }

    /// The bulk call's time ÷ the single action's, each the median of the rounds.
    pub fn run_ratio(&self) -> f64 {
        self.median(|r| r.bulk_ms) / self.median(|r| r.single_ms).max(f64::EPSILON)
    }

    /// The same for DynamoDB Local's own time for each call's requests.
    pub fn floor_ratio(&self) -> f64 {
        self.median(|r| r.bulk.floor_ms) / self.median(|r| r.single.floor_ms).max(f64::EPSILON)
    }

    pub fn single_ms(&self) -> f64 {
        self.median(|r| r.single_ms)
    }

    pub fn bulk_ms(&self) -> f64 {
        self.median(|r| r.bulk_ms)
    }

    pub fn single_floor_ms(&self) -> f64 {
        self.median(|r| r.single.floor_ms)
    }

    pub fn bulk_floor_ms(&self) -> f64 {
        self.median(|r| r.bulk.floor_ms)
    }
}

pub async fn run(endpoint: &str, vault: &Vault, quick: bool) -> Result<BulkFigures> {
    let capture = Capture::new("service");
    let world = World::captured(endpoint, &capture).await?;
    world.rich_scout("s-bulk", 11).await?;
    let api = super::api::api_for(&world, vault, "1")?;
    let admin = super::api::token(1, domain::actor::Role::Admin)?;
    let client = devkit::dynamodb_local::client(endpoint).await;

    // Unmeasured first calls of each: the store's layout read, the client's connections.
    for count in [1, IDS] {
        let ids = world.pending("s-bulk", 11, count, count).await?;
        cancel(&api, &admin, &ids).await?;
    }

    let mut rounds = Vec::new();
    for _ in 0..if quick { 1 } else { 5 } {
        let one = world.pending("s-bulk", 11, 1, 1).await?;
        let (single_ms, single) =
            measured(&world, &capture, &client, cancel(&api, &admin, &one)).await?;
        let ten = world.pending("s-bulk", 11, IDS, IDS).await?;
        let (bulk_ms, bulk) =
            measured(&world, &capture, &client, cancel(&api, &admin, &ten)).await?;
        ensure!(
            single.refused == 0 && bulk.refused == 0,
            "a request sent again was refused where the run's was applied"
        );
        rounds.push(Round {
            single_ms,
            bulk_ms,
            single,
            bulk,
        });
    }
    Ok(BulkFigures { rounds })
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

/// `call`'s wall time with its requests captured, and DynamoDB Local's own time for
/// them sent again to copies of the table as it was just before (`call` is not polled
/// until the copies are made).
async fn measured(
    world: &World,
    capture: &Capture,
    client: &aws_sdk_dynamodb::Client,
    call: impl std::future::Future<Output = Result<()>>,
) -> Result<(f64, Floor)> {
    let copies = floor::copies(client, world.store.table(), 2).await?;
    let [at_once, alone] = copies.as_slice() else {
        anyhow::bail!("two copies of the table");
    };
    capture.start();
    let started = Instant::now();
    call.await?;
    let run_ms = ms(started.elapsed());
    let calls = capture.stop();
    let measured =
        floor::measure(client, &calls, started, world.store.table(), at_once, alone).await?;
    Ok((run_ms, measured))
}

pub const HEADING: &str = "## 10. Bulk actions";

/// The target: ten ids in one call within three single actions.
const TARGET: f64 = 3.0;

/// How the report's line under "Targets missed" for this part starts (`--only bulk`
/// replaces it).
pub const MISSED_PREFIX: &str = "- **Bulk actions:";

/// The line under "Targets missed" when ten ids take more than three single actions.
pub fn missed(figures: &BulkFigures) -> Option<String> {
    let (run, floor) = (figures.run_ratio(), figures.floor_ratio());
    (run > TARGET).then(|| {
        format!(
            "{MISSED_PREFIX} {IDS} ids in one call = {run:.2} × one cancel** (target {TARGET}): DynamoDB Local's own time for the very same requests is {floor:.2} × one cancel's, since it answers requests sent at once nearly one after another; the bulk call adds {:.2}× over that. Its ids already run {IDS} at once; on DynamoDB, which serves them in parallel, the call is bounded by its slowest id. See §10.",
            run / floor.max(f64::EPSILON)
        )
    })
}

pub fn section(figures: &BulkFigures, command: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str(&super::stats::section_head(HEADING, command));
    let (run, floor) = (figures.run_ratio(), figures.floor_ratio());
    let _ = writeln!(out, "`POST /payouts/bulk` cancelling {IDS} pending payouts against `POST /payouts/{{id}}/cancel` cancelling one, each through `App::handle` (the function's code) on DynamoDB Local, median of {} rounds. Each call's requests were captured and sent again, unchanged but for the table's name, to copies of the table as it was just before the call: as the call sent them (each run of requests of one kind at once), the least DynamoDB Local takes for them, and one at a time.\n", figures.rounds.len());
    let _ = writeln!(
        out,
        "| | one id (cancel-payout) | {IDS} ids (bulk-payouts) | {IDS} ids ÷ one | target |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| the call | {:.1} ms | {:.1} ms | {run:.2} | ≤ {TARGET}: {} |",
        figures.single_ms(),
        figures.bulk_ms(),
        if run <= TARGET { "met" } else { "**missed**" }
    );
    let _ = writeln!(
        out,
        "| DynamoDB Local's own time for the same requests | {:.1} ms | {:.1} ms | {floor:.2} | |",
        figures.single_floor_ms(),
        figures.bulk_floor_ms(),
    );
    let _ = writeln!(out, "\nThe call's ratio ÷ DynamoDB Local's: **{:.2}** (1 would be the ids running as concurrently as DynamoDB Local lets the same requests run). The bulk call runs `PROCESS_CONCURRENCY` (10) ids at once, so its {IDS} ids' `GetItem`s go at once, then their transactions; where the ratio is above {TARGET}, it is because DynamoDB Local answers concurrent requests nearly one after another (\"at once ÷ one alone\" below near the number sent), which DynamoDB does not.\n", run / floor.max(f64::EPSILON));
    if let Some(last) = figures.rounds.last() {
        let _ = writeln!(out, "The bulk call of the last round, phase by phase:\n");
        let _ = write!(out, "{}", floor::table(&last.bulk));
        let _ = writeln!(out, "\nThe single cancel of the last round:\n");
        let _ = write!(out, "{}", floor::table(&last.single));
    }
    out
}
