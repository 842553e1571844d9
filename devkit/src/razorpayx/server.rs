//! The running fake: its HTTP server, the ticker that settles what is due, the webhook
//! dispatcher, and what a test or `cargo xtask dev` asks of it directly.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};

use super::accounts::{create_contact, create_fund_account};
use super::config::{FakeConfig, Faults, ValidationFaults};
use super::control::{
    control_add_transaction, control_balance, control_bulk, control_duplicate, control_faults,
    control_forget, control_forget_transaction, control_payouts, control_rate, control_status,
    control_transactions, control_validation_faults, control_validations, control_view,
    control_webhooks,
};
use super::fake::{Fake, Shared};
use super::ledger::{FakeTransaction, FakeValidation, Ledger};
use super::payouts::{cancel_payout, create_payout, fetch_payout, list_payouts, settle_due};
use super::rate::limit_rate;
use super::rate_budget::RateBudget;
use super::statement::list_transactions;
use super::validations::{create_validation, fetch_validation, list_validations};
use super::webhooks::{dispatch_webhooks, Outbox, SharedOutbox, WEBHOOK_TIMEOUT};

/// A running fake; dropping it stops the server and any webhook not yet delivered.
pub struct FakeRazorpayX {
    pub addr: SocketAddr,
    shared: Shared,
    outbox: SharedOutbox,
    task: tokio::task::JoinHandle<()>,
    ticker: tokio::task::JoinHandle<()>,
    dispatcher: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeRazorpayX {
    fn drop(&mut self) {
        self.task.abort();
        self.ticker.abort();
        if let Some(dispatcher) = &self.dispatcher {
            dispatcher.abort();
        }
    }
}

impl FakeRazorpayX {
    /// Serves on `127.0.0.1:port` (0 = any free port), loading the state file if any.
    pub async fn start(port: u16, config: FakeConfig) -> Result<Self> {
        config.webhooks.check().map_err(anyhow::Error::msg)?;
        config
            .validation_faults
            .check()
            .map_err(anyhow::Error::msg)?;
        let ledger = match &config.state_file {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            _ => Ledger {
                balance: config.opening_balance,
                faults: config.faults,
                validation_faults: config.validation_faults,
                ..Ledger::default()
            },
        };
        let rng = StdRng::seed_from_u64(config.seed);
        let outbox = Outbox::new(config.seed);
        let wake = outbox.wake();
        let outbox = Arc::new(Mutex::new(outbox));
        let sends_webhooks = config.webhooks.url.is_some();
        let shared = Arc::new(Mutex::new(Fake {
            config,
            ledger,
            rng,
            webhooks: outbox.clone(),
            rate: RateBudget::new(),
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let ticking = shared.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                settle_due(&ticking);
            }
        });
        let dispatcher = if sends_webhooks {
            let client = reqwest::Client::builder()
                .timeout(WEBHOOK_TIMEOUT)
                .no_proxy()
                .build()
                .context("building the webhook HTTP client")?;
            Some(tokio::spawn(dispatch_webhooks(
                outbox.clone(),
                wake,
                client,
            )))
        } else {
            None
        };
        Ok(FakeRazorpayX {
            addr,
            shared,
            outbox,
            task,
            ticker,
            dispatcher,
        })
    }

    /// One record per delivery (a duplicated event has two), in the order the events
    /// were made, as `GET /_fake/webhooks` lists them.
    pub fn webhook_deliveries(&self) -> Vec<Value> {
        self.outbox
            .lock()
            .map(|outbox| outbox.deliveries())
            .unwrap_or_default()
    }

    /// Waits until no webhook is queued, held back or in flight. Payouts that settle
    /// later still send theirs: wait for the payout states first.
    pub async fn wait_for_webhooks_idle(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let outstanding = self
                .outbox
                .lock()
                .map(|outbox| outbox.outstanding())
                .map_err(|_| anyhow::anyhow!("the local RazorpayX's outbox is poisoned"))?;
            if outstanding == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "{outstanding} webhook deliveries still queued, held back or in flight after {timeout:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every payout as the control API lists it.
    pub fn payouts(&self) -> Vec<Value> {
        self.shared
            .lock()
            .map(|fake| fake.ledger.payouts.iter().map(control_view).collect())
            .unwrap_or_default()
    }

    /// Every account statement line as RazorpayX shows it, oldest first, as
    /// `GET /_fake/transactions` lists them.
    pub fn transactions(&self) -> Vec<Value> {
        self.shared
            .lock()
            .map(|fake| {
                fake.ledger
                    .transactions
                    .iter()
                    .map(FakeTransaction::public)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every contact as RazorpayX shows it, oldest first.
    pub fn contacts(&self) -> Vec<Value> {
        self.shared
            .lock()
            .map(|fake| {
                fake.ledger
                    .contacts
                    .iter()
                    .map(|contact| json!(contact))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every fund account as RazorpayX shows it, oldest first.
    pub fn fund_accounts(&self) -> Vec<Value> {
        self.shared
            .lock()
            .map(|fake| {
                fake.ledger
                    .fund_accounts
                    .iter()
                    .map(|account| json!(account))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every fund account validation as RazorpayX shows it, oldest first.
    pub fn validations(&self) -> Vec<Value> {
        self.shared
            .lock()
            .map(|fake| {
                fake.ledger
                    .validations
                    .iter()
                    .map(FakeValidation::public)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// As `POST /_fake/validation_faults`; rates outside 0–1 are refused.
    pub fn set_validation_faults(&self, faults: ValidationFaults) -> Result<()> {
        faults.check().map_err(anyhow::Error::msg)?;
        let mut fake = self
            .shared
            .lock()
            .map_err(|_| anyhow::anyhow!("the local RazorpayX's state is poisoned"))?;
        fake.ledger.validation_faults = faults;
        fake.persist();
        Ok(())
    }

    /// As `POST /_fake/faults`, unchecked: a rate outside 0–1 is used as it is, and a
    /// `rate_limit_tps` not above 0 counts as no limit. The request-rate budget starts
    /// full again and its counts from zero.
    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut fake) = self.shared.lock() {
            fake.ledger.faults = faults;
            fake.rate.reset();
            fake.persist();
        }
    }

    /// The `/v1/…` calls with the right keys admitted and refused (429 for
    /// `rate_limit_tps`) since the start or the last change of faults, as
    /// `GET /_fake/rate` shows them. Every such call counts, limit or not; a 429 of the
    /// `rate_limit` fault counts as admitted.
    pub fn rate_counts(&self) -> (u64, u64) {
        self.shared
            .lock()
            .map(|fake| (fake.rate.admitted, fake.rate.refused))
            .unwrap_or_default()
    }

    pub fn balance(&self) -> u64 {
        self.shared
            .lock()
            .map(|fake| fake.ledger.balance)
            .unwrap_or_default()
    }

    /// Sets the business balance (queued payouts then go), as `POST /_fake/balance`:
    /// a `bank_transfer` line on the statement for the difference.
    pub fn set_balance(&self, amount: u64) {
        if let Ok(mut fake) = self.shared.lock() {
            fake.set_balance(amount);
            fake.persist();
        }
        settle_due(&self.shared);
    }
}

fn router(shared: Shared) -> Router {
    // Every `/v1/…` call spends from one request-rate budget; `/_fake/…` ones never do.
    let api = Router::new()
        .route("/v1/contacts", post(create_contact))
        .route("/v1/fund_accounts", post(create_fund_account))
        .route("/v1/payouts", post(create_payout).get(list_payouts))
        .route("/v1/payouts/{id}", get(fetch_payout))
        .route("/v1/payouts/{id}/cancel", post(cancel_payout))
        .route("/v1/transactions", get(list_transactions))
        .route(
            "/v1/fund_accounts/validations",
            post(create_validation).get(list_validations),
        )
        .route("/v1/fund_accounts/validations/{id}", get(fetch_validation))
        .route_layer(from_fn_with_state(shared.clone(), limit_rate));
    Router::new()
        .route("/_fake/payouts", get(control_payouts))
        .route("/_fake/payouts/bulk", post(control_bulk))
        .route("/_fake/payouts/{id}/status", post(control_status))
        .route("/_fake/payouts/{id}/duplicate", post(control_duplicate))
        .route("/_fake/payouts/{id}/forget", post(control_forget))
        .route(
            "/_fake/transactions",
            get(control_transactions).post(control_add_transaction),
        )
        .route(
            "/_fake/transactions/{id}/forget",
            post(control_forget_transaction),
        )
        .route("/_fake/faults", post(control_faults))
        .route("/_fake/rate", get(control_rate))
        .route("/_fake/balance", post(control_balance))
        .route("/_fake/webhooks", get(control_webhooks))
        .route("/_fake/validations", get(control_validations))
        .route("/_fake/validation_faults", post(control_validation_faults))
        .merge(api)
        .with_state(shared)
}
