//! §1's paced drain: a backlog sent to the local RazorpayX while it refuses calls above
//! R a second (`rate_limit_tps`, RazorpayX's 429), by one run in drain mode whose
//! client keeps `GATEWAY_MAX_TPS = R`. What it shows: the drain's rate against R, the
//! share of gateway calls refused, and that nothing was paid twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use devkit::dynamodb_local::{self, DynamoDbLocal};
use domain::actor::Actor;
use platform::vault::Vault;
use service::account::{save_payout_account, Destination, NewPayoutAccount};
use service::config::{Drain, ProcessorConfig};
use service::process::{Processor, Stopped};

use super::world::World;

/// The rates (calls a second) the local RazorpayX is held to; `None`, no limit and no
/// pace: what the service sustains on this machine's DynamoDB Local, the ceiling any
/// rate is measured against beside R.
pub const RATES: [Option<f64>; 3] = [Some(10.0), Some(50.0), None];
/// Payees the backlog is spread over, so that no one balance is raced for.
const PAYEES: u64 = 20;
const FIRST_PAYEE: u64 = 60_000;
/// Payouts in flight at once: more than the rate times a call's time needs.
const CONCURRENCY: usize = 50;
const BATCH: usize = 100;

pub struct PacedDrain {
    pub rate: Option<f64>,
    pub payouts: usize,
    pub secs: f64,
    /// Calls RazorpayX let through, and refused with its 429, during the drain.
    pub admitted: u64,
    pub refused: u64,
    /// Payouts of ours RazorpayX holds more than one payout for.
    pub paid_twice: usize,
}

impl PacedDrain {
    pub fn payouts_per_sec(&self) -> f64 {
        self.payouts as f64 / self.secs
    }

    pub fn refused_share(&self) -> f64 {
        self.refused as f64 / (self.admitted + self.refused).max(1) as f64
    }
}

/// One drain for each of [`RATES`], of `backlog` payouts, each on a DynamoDB Local of
/// its own: one that has held the earlier drains' thousands of payouts is slower, and
/// the rows would measure that instead of each other.
pub async fn run(vault: &Vault, backlog: usize) -> Result<Vec<PacedDrain>> {
    let logs = devkit::paths::local_dir().join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut figures = Vec::new();
    for rate in RATES {
        let dynamodb = DynamoDbLocal::start(
            dynamodb_local::free_port()?,
            &logs.join("dynamodb-local-bench-drain.log"),
        )?;
        let world = World::new(&dynamodb.endpoint()).await?;
        figures.push(paced_drain(&world, vault, rate, backlog).await?);
    }
    Ok(figures)
}

async fn paced_drain(
    world: &World,
    vault: &Vault,
    rate: Option<f64>,
    backlog: usize,
) -> Result<PacedDrain> {
    let (fake, gateway) = super::processor::rate_limited_razorpayx(vault, rate).await?;
    let payees: Vec<u64> = (FIRST_PAYEE..FIRST_PAYEE + PAYEES).collect();
    for &user in &payees {
        let scout = scout_of(user);
        world.rich_scout(&scout, user).await?;
        let account = NewPayoutAccount {
            name: format!("Drain Payee {user}"),
            destination: Destination::Vpa {
                address: format!("drain{user}@okhdfc"),
            },
            email: None,
        };
        save_payout_account(&world.store, vault, &Actor::user(user), account, 0).await?;
    }
    let processor = |drain: Option<Drain>| {
        Processor::new(
            &world.store,
            &gateway,
            ProcessorConfig {
                batch_size: BATCH,
                concurrency: CONCURRENCY,
                lease_secs: 300,
                poll_secs: 3_600,
                drain,
                validate_accounts: false,
            },
        )
    };
    // Each payee paid once first, unmeasured: a payee's first payout also registers them
    // at RazorpayX (a contact and a fund account), which no later payout does.
    for &user in &payees {
        world.pending(&scout_of(user), user, 1, 1).await?;
    }
    let warm = processor(None).run().await?;
    ensure!(
        warm.accepted + warm.completed == payees.len(),
        "the warm-up run did not send every payee's first payout: {warm:?}"
    );

    let per_payee = backlog.div_ceil(payees.len());
    let mut made = 0;
    for &user in &payees {
        let count = per_payee.min(backlog - made);
        world.pending(&scout_of(user), user, count, 16).await?;
        made += count;
    }
    let before = fake.rate_counts();
    let started = Instant::now();
    let summary = processor(Some(Drain { margin_secs: 30 }))
        .run_until(Some(Instant::now() + Duration::from_secs(900)))
        .await?;
    let secs = started.elapsed().as_secs_f64();
    let after = fake.rate_counts();
    ensure!(
        summary.accepted + summary.completed == backlog && summary.stopped == Stopped::QueueEmpty,
        "the paced drain sent {} of {backlog}: {summary:?}",
        summary.accepted + summary.completed
    );

    let mut per_reference: HashMap<String, usize> = HashMap::new();
    for payout in fake.payouts() {
        if let Some(reference) = payout["reference_id"].as_str() {
            *per_reference.entry(reference.to_owned()).or_default() += 1;
        }
    }
    let paid_twice = per_reference.values().filter(|count| **count > 1).count();
    let scouts: Vec<String> = payees.iter().map(|user| scout_of(*user)).collect();
    let scouts: Vec<&str> = scouts.iter().map(String::as_str).collect();
    devkit::invariants::assert_balances(&world.store, &scouts, &payees).await;
    Ok(PacedDrain {
        rate,
        payouts: backlog,
        secs,
        admitted: after.0 - before.0,
        refused: after.1 - before.1,
        paid_twice,
    })
}

fn scout_of(user: u64) -> String {
    format!("s-drain-{user}")
}

pub const HEADING: &str = "## 8. Draining at the gateway's rate";

pub fn section(figures: &[PacedDrain], command: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str(&super::stats::section_head(HEADING, command));
    let _ = writeln!(
        out,
        "A backlog sent to the local RazorpayX while it refuses every call above R a second with RazorpayX's 429 (`rate_limit_tps`, one token bucket), by one run in drain mode (`BATCH_SIZE` {BATCH}, `PROCESS_CONCURRENCY` {CONCURRENCY}) whose client paces its calls at `GATEWAY_MAX_TPS` = R (shared/gateway/src/pace.rs: evenly spaced; a 429 halves the pace, each answer climbs it back a twentieth). {PAYEES} payees, each registered at RazorpayX by a first payout before the clock starts, so that a payout costs one call (its creation); the drain ends when every payout is with RazorpayX (accepted or processed). Goal: at least 0.95 R, under 1 % of calls refused, nothing paid twice. The last row drains with no limit and no pace: what the service itself sustains on this machine's DynamoDB Local (about four requests a payout, two of them transactions, against a Java emulator on the same two cores), the most any R can get here.\n"
    );
    let _ = writeln!(
        out,
        "| R (calls/s) | backlog | wall time | payouts/s | ÷ R | ÷ the lesser of R and the ceiling | calls | refused (429) | paid twice |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    let ceiling = figures
        .iter()
        .find(|figure| figure.rate.is_none())
        .map(PacedDrain::payouts_per_sec);
    for figure in figures {
        let rate = figure
            .rate
            .map_or("no limit (the ceiling)".to_owned(), |rate| {
                format!("{rate:.0}")
            });
        let of_rate = figure.rate.map_or(String::new(), |rate| {
            format!("{:.2}", figure.payouts_per_sec() / rate)
        });
        let of_bound = match (figure.rate, ceiling) {
            (Some(rate), Some(ceiling)) => {
                format!("**{:.2}**", figure.payouts_per_sec() / rate.min(ceiling))
            }
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| {rate} | {} | {:.1} s | {:.1} | {of_rate} | {of_bound} | {} | {} ({:.2} %) | {} |",
            figure.payouts,
            figure.secs,
            figure.payouts_per_sec(),
            figure.admitted + figure.refused,
            figure.refused,
            figure.refused_share() * 100.0,
            figure.paid_twice
        );
    }
    let _ = writeln!(
        out,
        "\nThe books balance after each drain (`devkit::invariants::assert_balances`: every scout's and user's balance against their payouts). The pace is each Lambda instance's own: the processor runs one at a time (reserved concurrency 1), so its pace is the drain's; the API's single-payout and bulk routes and `reconcile` keep their own and share RazorpayX's limit with it (docs/OPERATIONS.md)."
    );
    out
}
