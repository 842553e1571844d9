//! Where the simulation reaches into the real code without a branch of its own there:
//! an interceptor on the DynamoDB client, a wrapper around the payment gateway, and a
//! crash that drops an invocation between two awaits.
//!
//! A crash is decided per invocation as "at its k-th call to DynamoDB or the gateway,
//! before or after that call". When it fires, that call (before) or every later one
//! (after) is refused before it leaves the process, and the invocation's future is
//! dropped at its next await, as when a Lambda dies: what reached DynamoDB or the
//! gateway stays, nothing else happens.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{BoxError, ConnectorError};
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::Notify;

use domain::payout::{IdempotencyKey, Payout};
use domain::time::Timestamp;
use gateway::{BeneficiaryIds, GatewayError, PaymentGateway, TransferOutcome, Validation};
use service::account::PayoutAccount;

/// Where an invocation dies: at its `at`-th call (from 0), before it is made or
/// right after its answer came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashAt {
    pub at: usize,
    pub after: bool,
}

/// One invocation's crash, shared by the seams it calls through.
#[derive(Debug)]
struct Crash {
    at: CrashAt,
    calls: AtomicUsize,
    /// The crash call was let through; the invocation dies when a call completes.
    armed: AtomicBool,
    fired: AtomicBool,
    notify: Notify,
}

tokio::task_local! {
    static CRASH: Arc<Crash>;
}

impl Crash {
    fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

const CRASHED: &str = "the invocation crashed (injected)";

/// What a seam does with the call it is about to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Go,
    /// The invocation is dead: the call never leaves.
    Refuse,
    /// Make the call, then the invocation dies.
    GoThenDie,
}

fn step() -> Step {
    CRASH
        .try_with(|crash| {
            if crash.fired.load(Ordering::SeqCst) {
                return Step::Refuse;
            }
            let index = crash.calls.fetch_add(1, Ordering::SeqCst);
            if index != crash.at.at {
                Step::Go
            } else if crash.at.after {
                crash.armed.store(true, Ordering::SeqCst);
                Step::GoThenDie
            } else {
                crash.fire();
                Step::Refuse
            }
        })
        .unwrap_or(Step::Go)
}

fn die_if_armed() {
    let _ = CRASH.try_with(|crash| {
        if crash.armed.load(Ordering::SeqCst) {
            crash.fire();
        }
    });
}

/// Runs `invocation`, dropping it at the await after its crash point fires. `None`:
/// it crashed.
pub async fn invoke<F: Future>(crash: Option<CrashAt>, invocation: F) -> Option<F::Output> {
    let Some(at) = crash else {
        return Some(invocation.await);
    };
    let crash = Arc::new(Crash {
        at,
        calls: AtomicUsize::new(0),
        armed: AtomicBool::new(false),
        fired: AtomicBool::new(false),
        notify: Notify::new(),
    });
    let watch = crash.clone();
    CRASH
        .scope(crash, async move {
            tokio::select! {
                // Looked at first on every wake-up: once fired, the invocation is not
                // polled again.
                biased;
                _ = watch.notify.notified() => None,
                output = invocation => {
                    if watch.fired.load(Ordering::SeqCst) { None } else { Some(output) }
                }
            }
        })
        .await
}

/// Seeded draws of injected faults, switched off when the run's faults stop.
#[derive(Debug)]
pub struct Dice {
    pub enabled: AtomicBool,
    rng: Mutex<StdRng>,
    pub injected: AtomicU64,
}

impl Dice {
    fn new(seed: u64) -> Self {
        Dice {
            enabled: AtomicBool::new(true),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            injected: AtomicU64::new(0),
        }
    }

    fn roll(&self, rate: f64) -> bool {
        if rate <= 0.0 || !self.enabled.load(Ordering::SeqCst) {
            return false;
        }
        let hit = self
            .rng
            .lock()
            .map(|mut rng| rng.random_bool(rate.min(1.0)))
            .unwrap_or(false);
        if hit {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        hit
    }
}

/// Faults on every DynamoDB call, drawn from the run's seed.
#[derive(Debug)]
pub struct StoreFaults {
    /// The request never leaves (a throttle or a dropped connection that exhausted
    /// the SDK's retries): the caller sees an error, nothing was written.
    pub refuse: f64,
    /// Applied, then the answer is lost and the SDK sends the same request again.
    pub lose_and_retry: f64,
    /// Applied, then the answer is lost and the caller sees an error.
    pub lose_and_fail: f64,
    pub dice: Dice,
}

impl StoreFaults {
    pub fn new(seed: u64, refuse: f64, lose_and_retry: f64, lose_and_fail: f64) -> Arc<Self> {
        Arc::new(StoreFaults {
            refuse,
            lose_and_retry,
            lose_and_fail,
            dice: Dice::new(seed),
        })
    }

    fn roll(&self, rate: f64) -> bool {
        self.dice.roll(rate)
    }
}

/// The interceptor that carries both the crash points and [`StoreFaults`].
#[derive(Clone, Debug)]
pub struct ChaosInterceptor(pub Arc<StoreFaults>);

impl ChaosInterceptor {
    pub fn wrap(&self, client: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
        crate::faults::with_interceptor(client, self.clone())
    }
}

impl Intercept for ChaosInterceptor {
    fn name(&self) -> &'static str {
        "Chaos"
    }

    /// Once per call, whatever the SDK's retries: a call is one step of an invocation.
    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match step() {
            Step::Refuse => Err(CRASHED.into()),
            Step::Go | Step::GoThenDie => Ok(()),
        }
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        die_if_armed();
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.roll(self.0.refuse) {
            return Err("ProvisionedThroughputExceededException (injected)".into());
        }
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.roll(self.0.lose_and_fail) {
            return Err("the answer was lost after DynamoDB applied the request (injected)".into());
        }
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(result) = context.output_or_error_mut() else {
            return Ok(());
        };
        if result.is_ok() && self.0.roll(self.0.lose_and_retry) {
            *result = Err(OrchestratorError::connector(ConnectorError::io(
                "connection reset after the request was applied (injected)".into(),
            )));
        }
        Ok(())
    }
}

/// Gateway faults, drawn from the run's seed.
#[derive(Debug)]
pub struct GatewayFaults {
    /// Unreachable: nothing sent.
    pub unavailable: f64,
    /// Sent and done, then the answer is lost (a timeout).
    pub lost_answer: f64,
    pub rate_limited: f64,
    /// A lost answer often comes with a network that stays down a moment: the next
    /// call fails too (the lookup made at once to learn what happened).
    down: AtomicBool,
    pub dice: Dice,
}

impl GatewayFaults {
    pub fn new(seed: u64, unavailable: f64, lost_answer: f64, rate_limited: f64) -> Arc<Self> {
        Arc::new(GatewayFaults {
            unavailable,
            lost_answer,
            rate_limited,
            down: AtomicBool::new(false),
            dice: Dice::new(seed),
        })
    }

    fn roll(&self, rate: f64) -> bool {
        self.dice.roll(rate)
    }
}

/// A gateway with crash points and faults around the real one.
pub struct ChaosGateway<G> {
    pub inner: G,
    pub faults: Arc<GatewayFaults>,
}

impl<G: PaymentGateway> ChaosGateway<G> {
    /// Runs one gateway call through the crash point and the faults.
    async fn call<T>(
        &self,
        sends: bool,
        call: impl Future<Output = Result<T, GatewayError>>,
    ) -> Result<T, GatewayError> {
        let step = step();
        if step == Step::Refuse {
            return Err(GatewayError::Unavailable(CRASHED.to_owned()));
        }
        let still_down = self.faults.down.swap(false, Ordering::SeqCst)
            && self.faults.dice.enabled.load(Ordering::SeqCst);
        if still_down || self.faults.roll(self.faults.unavailable) {
            return Err(GatewayError::Unavailable(
                "gateway unreachable (injected)".to_owned(),
            ));
        }
        if sends && self.faults.roll(self.faults.rate_limited) {
            return Err(GatewayError::RateLimited("429 (injected)".to_owned()));
        }
        let answer = call.await;
        if step == Step::GoThenDie {
            die_if_armed();
        }
        if sends && answer.is_ok() && self.faults.roll(self.faults.lost_answer) {
            if self.faults.roll(0.5) {
                self.faults.down.store(true, Ordering::SeqCst);
            }
            return Err(GatewayError::Unavailable(
                "timed out after the gateway took it (injected)".to_owned(),
            ));
        }
        answer
    }
}

impl<G: PaymentGateway> PaymentGateway for ChaosGateway<G> {
    fn requires_payout_account(&self) -> bool {
        self.inner.requires_payout_account()
    }

    fn statuses_after(&self, status: &str) -> &'static [&'static str] {
        self.inner.statuses_after(status)
    }

    fn late_transfer_window_secs(&self) -> u64 {
        self.inner.late_transfer_window_secs()
    }

    async fn ready(&self) -> Result<(), GatewayError> {
        self.inner.ready().await
    }

    fn paying_account(&self) -> Option<&str> {
        self.inner.paying_account()
    }

    fn mode_for(
        &self,
        destination: service::account::DestinationKind,
        amount: domain::money::Paise,
    ) -> &'static str {
        self.inner.mode_for(destination, amount)
    }

    async fn register_beneficiary(
        &self,
        account: &PayoutAccount,
    ) -> Result<BeneficiaryIds, GatewayError> {
        self.call(false, self.inner.register_beneficiary(account))
            .await
    }

    async fn start_validation(
        &self,
        fund_account_id: &str,
        account: &PayoutAccount,
        since: Timestamp,
    ) -> Result<Validation, GatewayError> {
        self.call(
            false,
            self.inner.start_validation(fund_account_id, account, since),
        )
        .await
    }

    async fn validation(&self, id: &str) -> Result<Validation, GatewayError> {
        self.call(false, self.inner.validation(id)).await
    }

    async fn transfer(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<TransferOutcome, GatewayError> {
        self.call(true, self.inner.transfer(key, payout)).await
    }

    async fn lookup(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<Option<TransferOutcome>, GatewayError> {
        self.call(false, self.inner.lookup(key, payout)).await
    }
}
