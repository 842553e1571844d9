//! The seeded fault simulation of the money path (`cargo xtask chaos`,
//! docs/RELIABILITY.md).
//!
//! One run: a fresh table on DynamoDB Local, a random world, then waves of real
//! operations (requests, completions, admin actions, overlapping processor runs in
//! drain mode,
//! payout account saves, lease expiries, reversals and, with RazorpayX, its webhooks),
//! several at once, with faults drawn from the run's seed: crashes between awaits,
//! DynamoDB errors and lost answers, gateway outages, lost answers, 429s, declines.
//! Then the faults stop, clean processor runs drive every payout to its end, and the
//! invariants are checked by code. Every decision comes from the seed; the timing
//! against a real DynamoDB Local does not, so the trace of what ran is kept too.

mod check;
mod plan;
mod reconciled;
pub mod seams;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use uuid::Uuid;

use crate::admin::{cancel_payout, process_payout, retry_payout};
use domain::actor::Actor;
use domain::money::Paise;
use domain::payout::PayoutStatus;
use domain::time::Timestamp;
use gateway::{PaymentGateway, RazorpayX, SimulatedGateway};
use platform::vault::Vault;
use service::account::{save_payout_account, Destination, NewPayoutAccount};
use service::config::{
    Drain, PayoutLimits, ProcessorConfig, RazorpayXConfig, SimulatedGatewayConfig,
    DEV_RAZORPAYX_KEY_SECRET,
};
use service::order::complete_order;
use service::process::Processor;
use service::scout::{request_payout, PayoutRequest};
use store::Store;

use crate::razorpayx::{FakeConfig, FakeRazorpayX, Faults, WebhookConfig};
use crate::table::TableDefinition;
use plan::{Op, Plan, Step};
use seams::{ChaosGateway, ChaosInterceptor, GatewayFaults, StoreFaults};

pub use plan::KeyChoice;

pub use service::config::GatewayKind;

/// What one run did and found.
#[derive(Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub operations: usize,
    pub crashes: usize,
    pub faults: u64,
    pub violations: Vec<String>,
    pub trace: Vec<String>,
}

const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};
const ADMIN: u64 = 1;
/// Short, so that a crashed holder's payout comes back within the run.
const LEASE_SECS: u64 = 3;
/// A change of account holds the user's payouts this long: short enough to end within
/// a run, so holds both block sends and lift among the other operations.
const CHAOS_HOLD_SECS: u64 = 1;
/// Every invocation is cut off after this, as Lambda's timeout cuts off a function: the
/// service's rule is that a lease outlives every function (checked at start-up), and
/// a run that broke it could report what production cannot do. Leases still end
/// under live holders through `ExpireLease` (a clock that jumped).
pub const INVOCATION_TIMEOUT: Duration = Duration::from_millis(2_500);
/// A processor run of the history drains until this is all that is left before its
/// invocation's timeout (the slowest payout so far on top).
const DRAIN_MARGIN_SECS: u64 = 1;
/// Clean processor runs after the faults stop, at most.
const QUIESCE_ROUNDS: usize = 15;

/// With RazorpayX, destinations are verified before they are paid (the fake checks
/// them, and its validation webhooks race the processor's polls); the simulated
/// gateway cannot verify.
fn processor_config(gateway: GatewayKind) -> ProcessorConfig {
    ProcessorConfig {
        batch_size: 10,
        concurrency: 4,
        lease_secs: LEASE_SECS,
        poll_secs: 0,
        drain: None,
        validate_accounts: gateway == GatewayKind::RazorpayX,
    }
}

/// The same seed gives the same world, operations and fault rates.
pub fn plan(seed: u64, gateway: GatewayKind, operations: usize) -> Plan {
    Plan::generate(seed, gateway, operations)
}

/// Runs the history of `seed` on a new table of the DynamoDB Local `client` talks to.
pub async fn run(
    client: &Client,
    vault: &Vault,
    seed: u64,
    gateway: GatewayKind,
    operations: usize,
) -> Report {
    let plan = plan(seed, gateway, operations);
    let client = client.clone();
    let vault = vault.clone();
    // Its own task, so that a panic anywhere in the run is a violation of this seed,
    // not the end of the whole command.
    let run = tokio::spawn(async move {
        let mut report = Report {
            seed,
            ..Report::default()
        };
        if let Err(err) = run_plan(&client, &vault, &plan, &mut report).await {
            report
                .violations
                .push(format!("the harness itself failed: {err:#}"));
        }
        report
    });
    match run.await {
        Ok(report) => report,
        Err(err) => Report {
            seed,
            violations: vec![format!(
                "the run panicked: {}",
                if err.is_panic() {
                    panic_message(err.into_panic())
                } else {
                    err.to_string()
                }
            )],
            ..Report::default()
        },
    }
}

async fn run_plan(
    client: &Client,
    vault: &Vault,
    plan: &Plan,
    report: &mut Report,
) -> anyhow::Result<()> {
    let started = Timestamp::now();
    let table = format!("chaos-{}-{}", plan.seed, Uuid::new_v4().simple());
    TableDefinition::from_template(&crate::paths::template())?
        .create(client, &table)
        .await?;
    // The world and the checks go through a client without faults.
    let clean = Store::new(client.clone(), &table);
    plan.world.load(&clean, vault, LIMITS).await?;

    let store_faults = StoreFaults::new(
        plan.seed ^ 0x5707e,
        plan.faults.store_refuse,
        plan.faults.store_lose_and_retry,
        plan.faults.store_lose_and_fail,
    );
    let faulty = Store::new(ChaosInterceptor(store_faults.clone()).wrap(client), &table);
    let gateway_faults = GatewayFaults::new(
        plan.seed ^ 0x6a7e,
        plan.faults.gateway_unavailable,
        plan.faults.gateway_lost_answer,
        plan.faults.gateway_rate_limited,
    );
    let trace = Arc::new(Mutex::new(Vec::new()));

    match plan.gateway {
        GatewayKind::Simulated => {
            // The bank keeps its ledger through a client without faults: it is not us.
            let bank = SimulatedGateway::new(
                clean.clone(),
                SimulatedGatewayConfig {
                    success_rate: 1.0 - plan.faults.decline,
                    latency_ms: 0,
                    seed: Some(plan.seed),
                },
            );
            let gateway = Arc::new(ChaosGateway {
                inner: bank,
                faults: gateway_faults.clone(),
            });
            let history = History {
                plan,
                store: faulty,
                clean: clean.clone(),
                gateway,
                trace: trace.clone(),
                fake: None,
                saves: Saves::default(),
                vault: vault.clone(),
            };
            history.play(report).await;
            store_faults.dice.enabled.store(false, Ordering::SeqCst);
            gateway_faults.dice.enabled.store(false, Ordering::SeqCst);
            history.quiesce().await;
            check::books(&clean, plan, report, "after the faults stopped").await;
            check::simulated_ledger(&clean, plan, report).await;
            check::destinations(&clean, plan, &history.saves, report).await;
            check::sealed_accounts(&clean, plan, report).await;
            check::liveness(&clean, plan, report).await;
            let bank = &history.gateway.inner;
            let injected = reconciled::inject_at_bank(&clean, bank, plan, report).await;
            reconciled::check(&clean, bank, started, &injected, report).await;
            check::books(&clean, plan, report, "after the reconciliation").await;
        }
        GatewayKind::RazorpayX => {
            let webhook_store = faulty.clone();
            let front =
                check::serve_webhooks(webhook_store, plan.seed ^ 0x3eb, plan.faults.webhook_crash)
                    .await?;
            let fake = FakeRazorpayX::start(
                0,
                FakeConfig {
                    settle_after: Duration::from_millis(plan.faults.settle_ms),
                    hang: Duration::from_millis(1_500),
                    seed: plan.seed,
                    faults: plan.faults.razorpayx,
                    webhooks: WebhookConfig {
                        url: Some(format!("http://{}/webhooks/razorpayx", front.addr)),
                        secret: check::WEBHOOK_SECRET.to_owned(),
                        duplicate: plan.faults.webhook_duplicate,
                        late: plan.faults.webhook_late,
                        late_by: Duration::from_millis(600),
                        retry_base: Duration::from_millis(50),
                        max_attempts: 12,
                    },
                    ..FakeConfig::default()
                },
            )
            .await?;
            let client = RazorpayX::new(
                &RazorpayXConfig::local(fake.base_url(), DEV_RAZORPAYX_KEY_SECRET, 1_000)
                    .with_vault(vault.clone()),
            )
            .map_err(|err| anyhow::anyhow!("{err}"))?;
            let gateway = Arc::new(ChaosGateway {
                inner: client,
                faults: gateway_faults.clone(),
            });
            let fake = Arc::new(fake);
            let history = History {
                plan,
                store: faulty,
                clean: clean.clone(),
                gateway,
                trace: trace.clone(),
                fake: Some(fake.clone()),
                saves: Saves::default(),
                vault: vault.clone(),
            };
            history.play(report).await;
            store_faults.dice.enabled.store(false, Ordering::SeqCst);
            gateway_faults.dice.enabled.store(false, Ordering::SeqCst);
            fake.set_faults(Faults::default());
            front.stop_crashing();
            history.quiesce().await;
            let _ = fake.wait_for_webhooks_idle(Duration::from_secs(20)).await;
            check::books(&clean, plan, report, "after the faults stopped").await;
            check::razorpayx_ledger(&clean, plan, &fake, report).await;
            check::verified_destinations(&fake, report);
            check::destinations(&clean, plan, &history.saves, report).await;
            check::sealed_accounts(&clean, plan, report).await;
            check::liveness(&clean, plan, report).await;
            let injected = reconciled::inject_at_razorpayx(&clean, &fake, plan, report).await;
            reconciled::check(&clean, &history.gateway.inner, started, &injected, report).await;
            check::books(&clean, plan, report, "after the reconciliation").await;
            report.violations.extend(front.violations());
            front.abort();
        }
    }
    report.faults = store_faults.dice.injected.load(Ordering::SeqCst)
        + gateway_faults.dice.injected.load(Ordering::SeqCst);
    report.trace = trace.lock().map(|trace| trace.clone()).unwrap_or_default();
    // Long runs would otherwise fill DynamoDB Local's memory with old tables.
    let _ = client.delete_table().table_name(&table).send().await;
    Ok(())
}

struct History<'a, G> {
    plan: &'a Plan,
    /// The service's store, with the run's faults.
    store: Store,
    /// The harness's own reads and writes, without faults.
    clean: Store,
    gateway: Arc<ChaosGateway<G>>,
    trace: Arc<Mutex<Vec<String>>>,
    fake: Option<Arc<FakeRazorpayX>>,
    saves: Saves,
    vault: Vault,
}

/// Each payout account save that committed: user, revision, and an instant after the
/// commit.
#[derive(Clone, Default)]
pub struct Saves(Arc<Mutex<Vec<(u64, u64, Timestamp)>>>);

impl Saves {
    fn record(&self, user_id: u64, revision: u64, after: Timestamp) {
        if let Ok(mut saves) = self.0.lock() {
            saves.push((user_id, revision, after));
        }
    }

    pub fn all(&self) -> Vec<(u64, u64, Timestamp)> {
        self.0.lock().map(|saves| saves.clone()).unwrap_or_default()
    }
}

/// Payout ids as the run learns them, so that later operations can name them.
#[derive(Clone, Default)]
struct Known(Arc<Mutex<Vec<Uuid>>>);

impl Known {
    fn add(&self, id: Uuid) {
        if let Ok(mut ids) = self.0.lock() {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }

    fn pick(&self, pick: usize) -> Option<Uuid> {
        let ids = self.0.lock().ok()?;
        (!ids.is_empty()).then(|| ids[pick % ids.len()])
    }
}

impl<G: PaymentGateway + 'static> History<'_, G> {
    async fn play(&self, report: &mut Report) {
        let known = Known::default();
        for (wave, steps) in self.plan.waves.iter().enumerate() {
            let mut tasks = Vec::new();
            for (index, step) in steps.iter().enumerate() {
                let label = format!("w{wave}.{index} {}", step.describe());
                let task = tokio::spawn(self.perform(step.clone(), known.clone()));
                tasks.push((label, step.crash.is_some(), task));
            }
            for (label, may_crash, task) in tasks {
                report.operations += 1;
                let line = match task.await {
                    Ok(Some(outcome)) => format!("{label} → {outcome}"),
                    Ok(None) => {
                        report.crashes += 1;
                        format!("{label} → crashed")
                    }
                    Err(err) if err.is_panic() => {
                        let message = panic_message(err.into_panic());
                        report
                            .violations
                            .push(format!("{label} panicked: {message}"));
                        format!("{label} → PANIC {message}")
                    }
                    Err(err) => format!("{label} → {err}"),
                };
                debug_assert!(may_crash || !line.ends_with("crashed"));
                self.note(line);
            }
            // The books must balance at every moment, faults or not.
            if wave % 4 == 3 {
                check::books(
                    &self.clean,
                    self.plan,
                    report,
                    &format!("after wave {wave}"),
                )
                .await;
            }
        }
    }

    fn note(&self, line: String) {
        if let Ok(mut trace) = self.trace.lock() {
            trace.push(line);
        }
    }

    /// One operation as its own task; `None` when it crashed.
    fn perform(
        &self,
        step: Step,
        known: Known,
    ) -> impl std::future::Future<Output = Option<String>> + Send + 'static {
        let store = self.store.clone();
        let clean = self.clean.clone();
        let gateway = self.gateway.clone();
        let fake = self.fake.clone();
        let world = self.plan.world.clone();
        let saves = self.saves.clone();
        let vault = self.vault.clone();
        let config = processor_config(self.plan.gateway);
        async move {
            let admin = Actor::admin(ADMIN);
            let work = async {
                match &step.op {
                    Op::Request { scout, amount, key } => {
                        let scout = &world.scouts[*scout % world.scouts.len()];
                        let idempotency_key = match key {
                            KeyChoice::None => None,
                            KeyChoice::Slot(slot) => Some(format!("k-{}-{slot}", scout.scout_id)),
                        };
                        let result = request_payout(
                            &store,
                            LIMITS,
                            &Actor::user(scout.user_id),
                            PayoutRequest {
                                scout_id: scout.scout_id.clone(),
                                amount: amount.map(Paise),
                                idempotency_key,
                            },
                        )
                        .await;
                        Some(match result {
                            Ok(requested) => {
                                known.add(requested.payout().payout_id);
                                format!("payout {}", short(requested.payout().payout_id))
                            }
                            Err(err) => err.code().to_owned(),
                        })
                    }
                    Op::Complete { order } => {
                        let order = &world.orders[*order % world.orders.len()];
                        let result = complete_order(
                            &store,
                            LIMITS,
                            &Actor::user(order.buyer_id),
                            &order.order_id,
                        )
                        .await;
                        Some(match result {
                            Ok(completed) => {
                                if let Some(payout) = &completed.payout {
                                    known.add(payout.payout_id);
                                }
                                "completed".to_owned()
                            }
                            Err(err) => err.code().to_owned(),
                        })
                    }
                    Op::Process { pick } | Op::Retry { pick } | Op::Cancel { pick } => {
                        let id = aim(&clean, &world, &known, &step, *pick).await?;
                        let result = match &step.op {
                            Op::Process { .. } => {
                                process_payout(&store, &*gateway, config, &admin, id).await
                            }
                            Op::Retry { .. } => {
                                retry_payout(&store, &*gateway, config, &admin, id).await
                            }
                            _ => cancel_payout(&store, &*gateway, config, &admin, id).await,
                        };
                        Some(match result {
                            Ok(payout) => format!("{} {}", short(id), payout.status),
                            Err(err) => format!("{} {}", short(id), err.code()),
                        })
                    }
                    Op::Run => {
                        // In drain mode, to its own deadline: the pipeline's reads, starts
                        // and stops race everything else here.
                        let draining = ProcessorConfig {
                            drain: Some(Drain {
                                margin_secs: DRAIN_MARGIN_SECS,
                            }),
                            ..config
                        };
                        let result = Processor::new(&store, &*gateway, draining)
                            .run_until(Some(Instant::now() + INVOCATION_TIMEOUT))
                            .await;
                        Some(match result {
                            Ok(summary) => format!(
                                "found {} completed {} failed {} requeued {} recovered {} accepted {}",
                                summary.found,
                                summary.completed,
                                summary.failed,
                                summary.requeued,
                                summary.recovered,
                                summary.accepted
                            ),
                            Err(err) => err.code().to_owned(),
                        })
                    }
                    Op::ExpireLease { pick } => {
                        let id = aim(&clean, &world, &known, &step, *pick).await?;
                        Some(check::expire_lease(&clean, id).await)
                    }
                    Op::SaveAccount { user, address } => {
                        let user_id = world.users[*user % world.users.len()];
                        let result = save_payout_account(
                            &store,
                            &vault,
                            &Actor::user(user_id),
                            NewPayoutAccount {
                                name: format!("User {user_id}"),
                                destination: Destination::Vpa {
                                    address: format!("user{user_id}v{address}@okhdfc"),
                                },
                                email: None,
                            },
                            CHAOS_HOLD_SECS,
                        )
                        .await;
                        Some(match result {
                            Ok(saved) => {
                                // Taken once the save has committed: a claim decided after
                                // this instant must see it.
                                saves.record(user_id, saved.revision, Timestamp::now());
                                format!("user {user_id} saved revision {}", saved.revision)
                            }
                            Err(err) => err.code().to_owned(),
                        })
                    }
                    Op::Reverse { pick } => {
                        let fake = fake.as_ref()?;
                        Some(check::reverse_at_gateway(fake, *pick).await)
                    }
                    Op::Pause { ms } => {
                        tokio::time::sleep(Duration::from_millis(*ms)).await;
                        Some("slept".to_owned())
                    }
                }
            };
            match tokio::time::timeout(INVOCATION_TIMEOUT, seams::invoke(step.crash, work)).await {
                Ok(Some(Some(outcome))) => Some(outcome),
                Ok(Some(None)) => Some("nothing to act on".to_owned()),
                Ok(None) => None,
                Err(_) => Some("timed out (cut off like a Lambda at its timeout)".to_owned()),
            }
        }
    }

    /// Faults off: processor runs until every payout has reached an end, a lease apart
    /// so that crashed holders' leases run out, or the rounds run out (then liveness
    /// says which payouts are stuck).
    async fn quiesce(&self) {
        let config = processor_config(self.plan.gateway);
        for round in 0..QUIESCE_ROUNDS {
            let outcome = Processor::new(&self.store, &*self.gateway, config)
                .run()
                .await;
            self.note(format!("quiesce {round}: {:?}", outcome.map(|s| s.found)));
            if check::open_payouts(&self.clean, self.plan).await == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(LEASE_SECS * 1000 + 100)).await;
        }
    }
}

/// The payout an operation names: the `pick`-th, in creation order, of those in the
/// states it is meant for when it is aimed, else of every payout the run made.
async fn aim(
    clean: &Store,
    world: &plan::World,
    known: &Known,
    step: &Step,
    pick: usize,
) -> Option<Uuid> {
    if !step.aimed {
        return known.pick(pick);
    }
    let wanted = |payout: &domain::payout::Payout| match step.op {
        // A payout that went back to the queue after it was sent is the one whose
        // cancel must ask the gateway first.
        Op::Cancel { .. } => payout.status == PayoutStatus::Pending,
        Op::Retry { .. } => matches!(payout.status, PayoutStatus::Failed | PayoutStatus::Reversed),
        Op::Process { .. } => payout.status == PayoutStatus::Pending,
        Op::ExpireLease { .. } => payout.status == PayoutStatus::Processing,
        Op::Reverse { .. } => payout.status == PayoutStatus::Completed,
        _ => true,
    };
    let mut candidates = Vec::new();
    for user in &world.users {
        candidates.extend(
            crate::invariants::user_payouts(clean, *user)
                .await
                .into_iter()
                .filter(|payout| wanted(payout)),
        );
    }
    // For a cancel, the pending payouts whose attempt was sent before, when there are
    // any: a cancel must ask the gateway about those first.
    if matches!(step.op, Op::Cancel { .. }) && candidates.iter().any(|p| p.sent_at().is_some()) {
        candidates.retain(|payout| payout.sent_at().is_some());
    }
    candidates.sort_by_key(|payout| (payout.created_at, payout.payout_id));
    if candidates.is_empty() {
        return known.pick(pick);
    }
    Some(candidates[pick % candidates.len()].payout_id)
}

fn short(id: Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
