//! A local RazorpayX: a stateful fake of the Payouts API
//! (https://razorpay.com/docs/api/x/payouts/) over real HTTP, so that the RazorpayX
//! gateway is tested, and can be tried, with no account and no internet. No registry
//! ships one.
//!
//! It keeps contacts, fund accounts, payouts, fund account validations and the
//! business balance, validates requests the way the documented API does (Basic auth,
//! field rules with `field`, `X-Payout-Idempotency`), settles payouts and validations
//! asynchronously after a delay, and injects seeded faults. Its state is a JSON file
//! written after every change, so a restart loses nothing. A control API under
//! `/_fake/` (no auth, loopback only) plays the part of the RazorpayX Test Mode
//! dashboard (which has no validations: RazorpayX offers them in live mode only).
//!
//! With a webhook URL it also sends signed `payout.*` webhooks for every status change
//! and `fund_account.validation.completed` / `.failed` for every validation settled
//! (https://razorpay.com/docs/webhooks/payouts/), at least once: retried with backoff,
//! and with seeded duplicates and late deliveries, because the receiving end has to cope
//! with all three. Undelivered webhooks live in memory only: a restart drops them, as a
//! disabled webhook would.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use tokio::sync::Notify;
use tokio::task::JoinSet;

use shared::config::{
    DEV_RAZORPAYX_ACCOUNT_NUMBER, DEV_RAZORPAYX_KEY_ID, DEV_RAZORPAYX_KEY_SECRET,
    DEV_RAZORPAYX_WEBHOOK_SECRET,
};

/// Fault rates, each from 0 to 1, drawn per create-payout request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// A 5xx before anything is created.
    pub server_error: f64,
    /// The payout is created, then the answer hangs past the client's timeout.
    pub timeout: f64,
    /// A 429 before anything is created.
    pub rate_limit: f64,
    /// Created, then `rejected`/`failed` at once with a real reason.
    pub reject: f64,
    /// Accepted (`processing`), later `failed` or `reversed` instead of `processed`.
    pub fail_after_accept: f64,
}

impl Faults {
    fn check(&self) -> Result<(), String> {
        for (name, rate) in [
            ("server_error", self.server_error),
            ("timeout", self.timeout),
            ("rate_limit", self.rate_limit),
            ("reject", self.reject),
            ("fail_after_accept", self.fail_after_accept),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be within 0..=1"));
            }
        }
        Ok(())
    }
}

/// Fault rates for fund account validations (docs/RAZORPAYX.md), each from 0 to 1,
/// drawn per validation created. Apart from [`Faults`], which other callers build
/// whole, so that adding these changed nothing of theirs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationFaults {
    /// Completes with `account_status: invalid` and no registered name (the penny
    /// comes back).
    pub invalid_account: f64,
    /// Completes `active`, with a registered name that is someone else's.
    pub name_mismatch: f64,
    /// Fails on RazorpayX's side (`failed`, the penny refunded): nothing is learnt.
    pub technical_failure: f64,
    /// Created (and charged), then the answer hangs past the client's timeout.
    pub timeout: f64,
}

impl ValidationFaults {
    fn check(&self) -> Result<(), String> {
        for (name, rate) in [
            ("invalid_account", self.invalid_account),
            ("name_mismatch", self.name_mismatch),
            ("technical_failure", self.technical_failure),
            ("timeout", self.timeout),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be within 0..=1"));
            }
        }
        Ok(())
    }
}

/// How webhooks are sent (https://razorpay.com/docs/webhooks/best-practices/) and the
/// delivery faults injected into them.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Where events are POSTed; `None` sends none.
    pub url: Option<String>,
    /// The key of the `X-Razorpay-Signature` HMAC (the webhook secret, not the API key).
    pub secret: String,
    /// Rate, from 0 to 1, of events delivered twice under the same event id.
    pub duplicate: f64,
    /// Rate, from 0 to 1, of events held back so that later events overtake them.
    pub late: f64,
    /// The longest hold-back; a held event waits a seeded time between half of it and
    /// all of it, so that two held events can overtake each other too.
    pub late_by: Duration,
    /// The wait before the first retry; it doubles with each retry, plus up to half
    /// again of seeded jitter.
    pub retry_base: Duration,
    /// Attempts per delivery, the first included, before it is recorded as failed.
    pub max_attempts: u32,
}

impl WebhookConfig {
    fn check(&self) -> Result<(), String> {
        for (name, rate) in [("duplicate", self.duplicate), ("late", self.late)] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("the webhook {name} rate must be within 0..=1"));
            }
        }
        if let Some(url) = &self.url {
            reqwest::Url::parse(url).map_err(|err| format!("webhook URL `{url}`: {err}"))?;
        }
        Ok(())
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: None,
            secret: DEV_RAZORPAYX_WEBHOOK_SECRET.to_owned(),
            duplicate: 0.0,
            late: 0.0,
            late_by: Duration::from_secs(10),
            retry_base: Duration::from_millis(500),
            max_attempts: 8,
        }
    }
}

#[derive(Clone, Debug)]
pub struct FakeConfig {
    pub key_id: String,
    pub key_secret: String,
    pub account_number: String,
    /// Where the state lives; `None` keeps it in memory (tests).
    pub state_file: Option<PathBuf>,
    /// How long a payout stays `processing` before it settles.
    pub settle_after: Duration,
    /// How long a `timeout` fault holds the answer back.
    pub hang: Duration,
    /// The business balance a new state starts with, in paise.
    pub opening_balance: u64,
    pub faults: Faults,
    /// The validation faults a new state starts with.
    pub validation_faults: ValidationFaults,
    pub seed: u64,
    pub webhooks: WebhookConfig,
}

impl FakeConfig {
    /// The local RazorpayX of `cargo xtask dev`: state under `.local/razorpayx/`, and
    /// settlement delay, seed and fault rates from the environment
    /// (`RAZORPAYX_FAKE_SETTLE_MS`, `RAZORPAYX_FAKE_SEED`, `RAZORPAYX_FAKE_SERVER_ERROR`,
    /// `…_TIMEOUT`, `…_RATE_LIMIT`, `…_REJECT`, `…_FAIL_AFTER_ACCEPT`), validation
    /// faults (`RAZORPAYX_FAKE_INVALID_ACCOUNT`, `…_NAME_MISMATCH`,
    /// `…_VALIDATION_FAILURE`, `…_VALIDATION_TIMEOUT`), and webhooks:
    /// `RAZORPAYX_FAKE_WEBHOOK_URL` (unset, blank or `off`: none),
    /// `RAZORPAYX_FAKE_WEBHOOK_SECRET` (default [`DEV_RAZORPAYX_WEBHOOK_SECRET`]),
    /// `RAZORPAYX_FAKE_WEBHOOK_DUPLICATE` and `RAZORPAYX_FAKE_WEBHOOK_LATE` (rates, 0–1)
    /// and `RAZORPAYX_FAKE_WEBHOOK_LATE_MS` (the longest hold-back, default 10000).
    pub fn from_env() -> Result<Self> {
        let number = |name: &str| -> Result<Option<f64>> {
            match std::env::var(name) {
                Ok(text) if !text.trim().is_empty() => text
                    .trim()
                    .parse()
                    .map(Some)
                    .with_context(|| format!("{name} must be a number, got `{text}`")),
                _ => Ok(None),
            }
        };
        let rate = |name: &str| -> Result<f64> { Ok(number(name)?.unwrap_or(0.0)) };
        let faults = Faults {
            server_error: rate("RAZORPAYX_FAKE_SERVER_ERROR")?,
            timeout: rate("RAZORPAYX_FAKE_TIMEOUT")?,
            rate_limit: rate("RAZORPAYX_FAKE_RATE_LIMIT")?,
            reject: rate("RAZORPAYX_FAKE_REJECT")?,
            fail_after_accept: rate("RAZORPAYX_FAKE_FAIL_AFTER_ACCEPT")?,
        };
        faults.check().map_err(anyhow::Error::msg)?;
        let validation_faults = ValidationFaults {
            invalid_account: rate("RAZORPAYX_FAKE_INVALID_ACCOUNT")?,
            name_mismatch: rate("RAZORPAYX_FAKE_NAME_MISMATCH")?,
            technical_failure: rate("RAZORPAYX_FAKE_VALIDATION_FAILURE")?,
            timeout: rate("RAZORPAYX_FAKE_VALIDATION_TIMEOUT")?,
        };
        validation_faults.check().map_err(anyhow::Error::msg)?;
        let settle_ms = number("RAZORPAYX_FAKE_SETTLE_MS")?.unwrap_or(5_000.0);
        let text = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let defaults = WebhookConfig::default();
        let webhooks = WebhookConfig {
            url: text("RAZORPAYX_FAKE_WEBHOOK_URL").filter(|url| url != "off"),
            secret: text("RAZORPAYX_FAKE_WEBHOOK_SECRET").unwrap_or(defaults.secret),
            duplicate: rate("RAZORPAYX_FAKE_WEBHOOK_DUPLICATE")?,
            late: rate("RAZORPAYX_FAKE_WEBHOOK_LATE")?,
            late_by: number("RAZORPAYX_FAKE_WEBHOOK_LATE_MS")?.map_or(defaults.late_by, |ms| {
                Duration::from_millis(ms.max(0.0) as u64)
            }),
            ..defaults
        };
        webhooks.check().map_err(anyhow::Error::msg)?;
        Ok(FakeConfig {
            state_file: Some(
                crate::paths::local_dir()
                    .join("razorpayx")
                    .join("state.json"),
            ),
            settle_after: Duration::from_millis(settle_ms.max(0.0) as u64),
            faults,
            validation_faults,
            seed: number("RAZORPAYX_FAKE_SEED")?.map_or_else(rand::random, |seed| seed as u64),
            webhooks,
            ..FakeConfig::default()
        })
    }
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            key_id: DEV_RAZORPAYX_KEY_ID.to_owned(),
            key_secret: DEV_RAZORPAYX_KEY_SECRET.to_owned(),
            account_number: DEV_RAZORPAYX_ACCOUNT_NUMBER.to_owned(),
            state_file: None,
            settle_after: Duration::from_secs(2),
            hang: Duration::from_secs(15),
            // ₹10 crore: enough that only a test that asks for a low balance sees one.
            opening_balance: 10_000_000_000,
            faults: Faults::default(),
            validation_faults: ValidationFaults::default(),
            seed: 0,
            webhooks: WebhookConfig::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Contact {
    id: String,
    entity: String,
    name: String,
    email: Option<String>,
    contact: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    reference_id: Option<String>,
    batch_id: Option<String>,
    active: bool,
    notes: Value,
    created_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct FundAccount {
    id: String,
    entity: String,
    contact_id: String,
    account_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    bank_account: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpa: Option<Value>,
    batch_id: Option<String>,
    active: bool,
    created_at: i64,
}

/// What a payout will become when it settles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
enum Fate {
    Processed,
    Failed { reason: String },
    Reversed { reason: String },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct FakePayout {
    id: String,
    entity: String,
    fund_account_id: String,
    amount: u64,
    currency: String,
    notes: Value,
    fees: u64,
    tax: u64,
    status: String,
    utr: Option<String>,
    mode: String,
    purpose: String,
    reference_id: Option<String>,
    narration: Option<String>,
    batch_id: Option<String>,
    status_details: Option<Value>,
    created_at: i64,
    // The fake's own bookkeeping, never shown on the public API.
    idempotency_key: String,
    request_body: Value,
    settle_at_ms: Option<i64>,
    fate: Fate,
    debited: bool,
}

const PRIVATE_FIELDS: [&str; 5] = [
    "idempotency_key",
    "request_body",
    "settle_at_ms",
    "fate",
    "debited",
];

impl FakePayout {
    /// The payout entity as RazorpayX returns it.
    fn public(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            for field in PRIVATE_FIELDS {
                object.remove(field);
            }
        }
        value
    }

    fn set_status(&mut self, status: &str, reason: Option<&str>) {
        self.status = status.to_owned();
        self.status_details = Some(status_details(status, reason));
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Ledger {
    balance: u64,
    contacts: Vec<Contact>,
    fund_accounts: Vec<FundAccount>,
    payouts: Vec<FakePayout>,
    sequence: u64,
    faults: Faults,
    // Defaulted: a state file written before validations existed still loads.
    #[serde(default)]
    validations: Vec<FakeValidation>,
    #[serde(default)]
    validation_faults: ValidationFaults,
}

struct Fake {
    config: FakeConfig,
    ledger: Ledger,
    rng: StdRng,
    webhooks: Outbox,
}

type Shared = Arc<Mutex<Fake>>;

/// A running fake; dropping it stops the server and any webhook not yet delivered.
pub struct FakeRazorpayX {
    pub addr: SocketAddr,
    shared: Shared,
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
        let webhooks = Outbox::new(config.seed);
        let wake = webhooks.wake.clone();
        let sends_webhooks = config.webhooks.url.is_some();
        let shared = Arc::new(Mutex::new(Fake {
            config,
            ledger,
            rng,
            webhooks,
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
                shared.clone(),
                wake,
                client,
            )))
        } else {
            None
        };
        Ok(FakeRazorpayX {
            addr,
            shared,
            task,
            ticker,
            dispatcher,
        })
    }

    /// One record per delivery (a duplicated event has two), in the order the events
    /// were made, as `GET /_fake/webhooks` lists them.
    pub fn webhook_deliveries(&self) -> Vec<Value> {
        self.shared
            .lock()
            .map(|fake| fake.webhooks.records.iter().map(|r| json!(r)).collect())
            .unwrap_or_default()
    }

    /// Waits until no webhook is queued, held back or in flight. Payouts that settle
    /// later still send theirs: wait for the payout states first.
    pub async fn wait_for_webhooks_idle(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let outstanding = self
                .shared
                .lock()
                .map(|fake| fake.webhooks.outstanding)
                .map_err(|_| anyhow::anyhow!("the local RazorpayX's state is poisoned"))?;
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

    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut fake) = self.shared.lock() {
            fake.ledger.faults = faults;
            fake.persist();
        }
    }

    pub fn balance(&self) -> u64 {
        self.shared
            .lock()
            .map(|fake| fake.ledger.balance)
            .unwrap_or_default()
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/v1/contacts", post(create_contact))
        .route("/v1/fund_accounts", post(create_fund_account))
        .route("/v1/payouts", post(create_payout).get(list_payouts))
        .route("/v1/payouts/{id}", get(fetch_payout))
        .route("/v1/payouts/{id}/cancel", post(cancel_payout))
        .route(
            "/v1/fund_accounts/validations",
            post(create_validation).get(list_validations),
        )
        .route("/v1/fund_accounts/validations/{id}", get(fetch_validation))
        .route("/_fake/payouts", get(control_payouts))
        .route("/_fake/payouts/{id}/status", post(control_status))
        .route("/_fake/faults", post(control_faults))
        .route("/_fake/balance", post(control_balance))
        .route("/_fake/webhooks", get(control_webhooks))
        .route("/_fake/validations", get(control_validations))
        .route("/_fake/validation_faults", post(control_validation_faults))
        .with_state(shared)
}

// --- errors ---------------------------------------------------------------------

struct RzpError {
    status: StatusCode,
    code: &'static str,
    description: String,
    field: Option<String>,
    reason: &'static str,
}

impl IntoResponse for RzpError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.code,
            "description": self.description,
            "source": if self.status.is_server_error() { "internal" } else { "business" },
            "step": "NA",
            "reason": self.reason,
            "metadata": {},
            "field": self.field,
        }});
        (self.status, Json(body)).into_response()
    }
}

fn bad_request(field: Option<&str>, description: impl Into<String>) -> RzpError {
    RzpError {
        status: StatusCode::BAD_REQUEST,
        code: "BAD_REQUEST_ERROR",
        description: description.into(),
        field: field.map(str::to_owned),
        reason: "input_validation_failed",
    }
}

fn authenticate(fake: &Fake, headers: &HeaderMap) -> Result<(), RzpError> {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", fake.config.key_id, fake.config.key_secret))
    );
    let given = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok());
    if given == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(RzpError {
            status: StatusCode::UNAUTHORIZED,
            code: "BAD_REQUEST_ERROR",
            description: "The api key provided is invalid".to_owned(),
            field: None,
            reason: "authentication_failed",
        })
    }
}

type Reply = Result<Response, RzpError>;

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, RzpError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(bad_request(None, "The request body must be a JSON object")),
    }
}

fn string_field<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    required: bool,
) -> Result<Option<&'a str>, RzpError> {
    match body.get(field) {
        None | Some(Value::Null) if required => Err(bad_request(
            Some(field),
            format!("The {field} field is required."),
        )),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(bad_request(
            Some(field),
            format!("The {field} must be a string."),
        )),
    }
}

// --- contacts and fund accounts --------------------------------------------------

async fn create_contact(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Reply {
    let mut fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    let body = parse_body(&body)?;
    let name = string_field(&body, "name", true)?.unwrap_or_default();
    if !(3..=50).contains(&name.chars().count()) {
        return Err(bad_request(
            Some("name"),
            "The name must be between 3 and 50 characters.",
        ));
    }
    let email = string_field(&body, "email", false)?;
    let phone = string_field(&body, "contact", false)?;
    let kind = string_field(&body, "type", false)?;
    if let Some(kind) = kind {
        if !["vendor", "customer", "employee", "self"].contains(&kind) {
            return Err(bad_request(
                Some("type"),
                "Invalid type: type must be one of vendor, customer, employee, self",
            ));
        }
    }
    let reference_id = string_field(&body, "reference_id", false)?;
    if reference_id.is_some_and(|reference| reference.len() > 40) {
        return Err(bad_request(
            Some("reference_id"),
            "The reference id may not be greater than 40 characters.",
        ));
    }
    let same = |contact: &&Contact| {
        contact.name == name
            && contact.email.as_deref() == email
            && contact.contact.as_deref() == phone
            && contact.kind.as_deref() == kind
            && contact.reference_id.as_deref() == reference_id
    };
    if let Some(existing) = fake.ledger.contacts.iter().find(same) {
        return Ok((StatusCode::OK, Json(json!(existing))).into_response());
    }
    let contact = Contact {
        id: fake.next_id("cont"),
        entity: "contact".to_owned(),
        name: name.to_owned(),
        email: email.map(str::to_owned),
        contact: phone.map(str::to_owned),
        kind: kind.map(str::to_owned),
        reference_id: reference_id.map(str::to_owned),
        batch_id: None,
        active: true,
        notes: body.get("notes").cloned().unwrap_or_else(|| json!({})),
        created_at: unix_now(),
    };
    fake.ledger.contacts.push(contact.clone());
    fake.persist();
    Ok((StatusCode::CREATED, Json(json!(contact))).into_response())
}

async fn create_fund_account(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let mut fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    let body = parse_body(&body)?;
    let contact_id = string_field(&body, "contact_id", true)?.unwrap_or_default();
    if !fake.ledger.contacts.iter().any(|c| c.id == contact_id) {
        return Err(bad_request(
            Some("contact_id"),
            "The id provided does not exist",
        ));
    }
    let account_type = string_field(&body, "account_type", true)?.unwrap_or_default();
    let (bank_account, vpa) = match account_type {
        "bank_account" => {
            let Some(Value::Object(bank)) = body.get("bank_account") else {
                return Err(bad_request(
                    Some("bank_account"),
                    "The bank account field is required when account type is bank_account.",
                ));
            };
            let name = string_field(bank, "name", true)?.unwrap_or_default();
            let ifsc = string_field(bank, "ifsc", true)?.unwrap_or_default();
            let number = string_field(bank, "account_number", true)?.unwrap_or_default();
            if !(3..=120).contains(&name.chars().count()) {
                return Err(bad_request(
                    Some("name"),
                    "The name must be between 3 and 120 characters.",
                ));
            }
            if ifsc.len() != 11 {
                return Err(bad_request(Some("ifsc"), "The ifsc must be 11 characters."));
            }
            if !(5..=35).contains(&number.len())
                || !number.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(bad_request(
                    Some("account_number"),
                    "The account number must be between 5 and 35 alphanumeric characters.",
                ));
            }
            (
                Some(
                    json!({"ifsc": ifsc, "bank_name": bank_name(ifsc), "name": name,
                            "notes": [], "account_number": number}),
                ),
                None,
            )
        }
        "vpa" => {
            let Some(Value::Object(vpa)) = body.get("vpa") else {
                return Err(bad_request(
                    Some("vpa"),
                    "The vpa field is required when account type is vpa.",
                ));
            };
            let address = string_field(vpa, "address", true)?.unwrap_or_default();
            let valid = (3..=100).contains(&address.len())
                && address.matches('@').count() == 1
                && address
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"@.-".contains(&b));
            if !valid {
                return Err(bad_request(Some("address"), "Invalid vpa address"));
            }
            let (username, handle) = address.split_once('@').unwrap_or((address, ""));
            (
                None,
                Some(json!({"username": username, "handle": handle, "address": address})),
            )
        }
        _ => {
            return Err(bad_request(
                Some("account_type"),
                "Invalid account type: must be bank_account or vpa",
            ))
        }
    };
    let same = |existing: &&FundAccount| {
        existing.contact_id == contact_id
            && existing.account_type == account_type
            && existing.bank_account == bank_account
            && existing.vpa.as_ref().map(|v| &v["address"]) == vpa.as_ref().map(|v| &v["address"])
    };
    if let Some(existing) = fake.ledger.fund_accounts.iter().find(same) {
        return Ok((StatusCode::OK, Json(json!(existing))).into_response());
    }
    let fund_account = FundAccount {
        id: fake.next_id("fa"),
        entity: "fund_account".to_owned(),
        contact_id: contact_id.to_owned(),
        account_type: account_type.to_owned(),
        bank_account,
        vpa,
        batch_id: None,
        active: true,
        created_at: unix_now(),
    };
    fake.ledger.fund_accounts.push(fund_account.clone());
    fake.persist();
    Ok((StatusCode::CREATED, Json(json!(fund_account))).into_response())
}

// --- payouts ---------------------------------------------------------------------

const PURPOSES: [&str; 6] = [
    "refund",
    "cashback",
    "payout",
    "salary",
    "utility bill",
    "vendor bill",
];

/// Reasons a beneficiary bank gives
/// (https://razorpay.com/docs/errors/x/payout-status-details/), used by the `reject` and
/// `fail_after_accept` faults.
const FAILURE_REASONS: [&str; 4] = [
    "bank_account_closed",
    "beneficiary_bank_rejected",
    "invalid_ifsc_code",
    "bank_account_invalid",
];

async fn create_payout(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Reply {
    let (reply, hang) = {
        let mut fake = lock(&shared)?;
        authenticate(&fake, &headers)?;
        let faults = fake.ledger.faults;
        if fake.roll(faults.rate_limit) {
            return Err(RzpError {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "BAD_REQUEST_ERROR",
                description: "Too many requests".to_owned(),
                field: None,
                reason: "rate_limit_exceeded",
            });
        }
        if fake.roll(faults.server_error) {
            return Err(RzpError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "SERVER_ERROR",
                description:
                    "The server encountered an error. The incident has been reported to admins."
                        .to_owned(),
                field: None,
                reason: "server_error",
            });
        }
        let key = idempotency_key(&headers)?;
        let request = parse_body(&body)?;
        if let Some(existing) = fake
            .ledger
            .payouts
            .iter()
            .find(|payout| payout.idempotency_key == key)
        {
            if existing.request_body != Value::Object(request.clone()) {
                return Err(bad_request(
                    None,
                    "Different request body sent for the same Idempotency Header",
                ));
            }
            return Ok((StatusCode::OK, Json(existing.public())).into_response());
        }
        let payout = fake.new_payout(key, request)?;
        let hang = fake.roll(faults.timeout);
        let view = payout.public();
        fake.emit(view.clone());
        fake.ledger.payouts.push(payout);
        fake.persist();
        ((StatusCode::OK, Json(view)).into_response(), hang)
    };
    if hang {
        // Created and recorded; the caller gives up before it hears so.
        let wait = lock(&shared)?.config.hang;
        tokio::time::sleep(wait).await;
    }
    Ok(reply)
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, RzpError> {
    let key = headers
        .get("x-payout-idempotency")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            bad_request(
                Some("X-Payout-Idempotency"),
                "Idempotency key is missing in the request header",
            )
        })?;
    let valid = (4..=36).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_ ".contains(&b));
    if !valid {
        return Err(bad_request(
            Some("X-Payout-Idempotency"),
            "Idempotency key must be 4 to 36 letters, digits, hyphens, underscores or spaces",
        ));
    }
    Ok(key.to_owned())
}

impl Fake {
    fn roll(&mut self, rate: f64) -> bool {
        rate > 0.0 && self.rng.random_bool(rate.min(1.0))
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.ledger.sequence += 1;
        let noise: u32 = self.rng.random();
        format!("{prefix}_{:06}{noise:08x}", self.ledger.sequence)
    }

    fn new_payout(
        &mut self,
        key: String,
        request: Map<String, Value>,
    ) -> Result<FakePayout, RzpError> {
        let account_number = string_field(&request, "account_number", true)?.unwrap_or_default();
        if account_number != self.config.account_number {
            return Err(bad_request(
                Some("account_number"),
                "The account number is invalid",
            ));
        }
        let fund_account_id = string_field(&request, "fund_account_id", true)?.unwrap_or_default();
        let Some(fund_account) = self
            .ledger
            .fund_accounts
            .iter()
            .find(|fa| fa.id == fund_account_id)
        else {
            return Err(bad_request(
                Some("fund_account_id"),
                "The id provided does not exist",
            ));
        };
        let amount = match request.get("amount") {
            Some(Value::Number(number)) => number.as_u64().filter(|amount| *amount >= 100),
            _ => None,
        }
        .ok_or_else(|| {
            bad_request(
                Some("amount"),
                "The amount must be an integer of at least 100 paise.",
            )
        })?;
        if string_field(&request, "currency", true)? != Some("INR") {
            return Err(bad_request(Some("currency"), "The currency must be INR."));
        }
        let mode = string_field(&request, "mode", true)?.unwrap_or_default();
        let modes: &[&str] = if fund_account.account_type == "vpa" {
            &["UPI"]
        } else {
            &["NEFT", "RTGS", "IMPS"]
        };
        if !modes.contains(&mode) {
            return Err(bad_request(
                Some("mode"),
                format!("The mode {mode} is not allowed for this fund account"),
            ));
        }
        let purpose = string_field(&request, "purpose", true)?.unwrap_or_default();
        if !PURPOSES.contains(&purpose) {
            return Err(bad_request(Some("purpose"), "Invalid purpose"));
        }
        let queue = match request.get("queue_if_low_balance") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => {
                return Err(bad_request(
                    Some("queue_if_low_balance"),
                    "The queue if low balance field must be true or false.",
                ))
            }
        };
        let reference_id = string_field(&request, "reference_id", false)?;
        if reference_id.is_some_and(|reference| reference.len() > 40) {
            return Err(bad_request(
                Some("reference_id"),
                "The reference id may not be greater than 40 characters.",
            ));
        }
        let narration = string_field(&request, "narration", false)?;
        if narration.is_some_and(|text| {
            text.len() > 30 || !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        }) {
            return Err(bad_request(
                Some("narration"),
                "The narration may contain up to 30 letters, digits and spaces.",
            ));
        }
        let notes = request.get("notes").cloned().unwrap_or_else(|| json!({}));
        if notes.as_object().is_some_and(|notes| notes.len() > 15) {
            return Err(bad_request(Some("notes"), "Too many notes: at most 15."));
        }

        let faults = self.ledger.faults;
        let reject = self.roll(faults.reject);
        let fate = if self.roll(faults.fail_after_accept) {
            let reason = self.reason();
            if self.rng.random_bool(0.5) {
                Fate::Failed { reason }
            } else {
                Fate::Reversed { reason }
            }
        } else {
            Fate::Processed
        };
        let mut payout = FakePayout {
            id: self.next_id("pout"),
            entity: "payout".to_owned(),
            fund_account_id: fund_account_id.to_owned(),
            amount,
            currency: "INR".to_owned(),
            notes,
            fees: 0,
            tax: 0,
            status: String::new(),
            utr: None,
            mode: mode.to_owned(),
            purpose: purpose.to_owned(),
            reference_id: reference_id.map(str::to_owned),
            narration: narration.map(str::to_owned),
            batch_id: None,
            status_details: None,
            created_at: unix_now(),
            idempotency_key: key,
            request_body: Value::Object(request),
            settle_at_ms: None,
            fate,
            debited: false,
        };
        if reject {
            let reason = self.reason();
            payout.set_status("failed", Some(&reason));
        } else if amount > self.ledger.balance {
            if queue {
                payout.set_status("queued", Some("low_balance"));
            } else {
                payout.set_status("failed", Some("insufficient_funds"));
            }
        } else {
            self.start_processing(&mut payout);
        }
        Ok(payout)
    }

    fn reason(&mut self) -> String {
        FAILURE_REASONS[self.rng.random_range(0..FAILURE_REASONS.len())].to_owned()
    }

    fn start_processing(&mut self, payout: &mut FakePayout) {
        self.ledger.balance -= payout.amount;
        payout.debited = true;
        payout.set_status("processing", None);
        let delay = i64::try_from(self.config.settle_after.as_millis()).unwrap_or(i64::MAX);
        payout.settle_at_ms = Some(now_ms().saturating_add(delay));
    }

    fn persist(&self) {
        let Some(path) = &self.config.state_file else {
            return;
        };
        if let Err(err) = write_atomically(path, &self.ledger) {
            eprintln!(
                "local RazorpayX: could not save {}: {err:#}",
                path.display()
            );
        }
    }
}

/// Moves payouts whose time has come: `processing` to their fate, `queued` (low
/// balance) to `processing` once the balance covers them, oldest first; then settles
/// the validations that are due.
fn settle_due(shared: &Shared) {
    let Ok(mut guard) = shared.lock() else {
        return;
    };
    let fake = &mut *guard;
    let now = now_ms();
    let mut changed = false;
    let mut payouts = std::mem::take(&mut fake.ledger.payouts);
    for payout in payouts.iter_mut() {
        if payout.status == "queued"
            && payout.status_details.as_ref().map(|d| &d["reason"]) == Some(&json!("low_balance"))
            && payout.amount <= fake.ledger.balance
        {
            fake.start_processing(payout);
            fake.emit(payout.public());
            changed = true;
        } else if payout.status == "processing" && payout.settle_at_ms.is_some_and(|at| at <= now) {
            payout.settle_at_ms = None;
            match payout.fate.clone() {
                Fate::Processed => {
                    payout.utr = Some(utr(&mut fake.rng));
                    payout.set_status("processed", None);
                }
                Fate::Failed { reason } => {
                    fake.ledger.balance += payout.amount;
                    payout.debited = false;
                    payout.set_status("failed", Some(&reason));
                }
                Fate::Reversed { reason } => {
                    fake.ledger.balance += payout.amount;
                    payout.debited = false;
                    payout.set_status("reversed", Some(&reason));
                }
            }
            fake.emit(payout.public());
            changed = true;
        }
    }
    fake.ledger.payouts = payouts;
    changed |= settle_validations(fake, now);
    if changed {
        fake.persist();
    }
}

async fn fetch_payout(
    State(shared): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Reply {
    let fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    let payout = fake
        .ledger
        .payouts
        .iter()
        .find(|payout| payout.id == id)
        .ok_or_else(|| bad_request(Some("id"), "The id provided does not exist"))?;
    Ok(Json(payout.public()).into_response())
}

/// A list's `account_number`, required and ours, as RazorpayX checks it.
fn our_account_number(fake: &Fake, query: &BTreeMap<String, String>) -> Result<(), RzpError> {
    match query.get("account_number") {
        None => Err(bad_request(
            Some("account_number"),
            "The account number field is required.",
        )),
        Some(number) if *number != fake.config.account_number => Err(bad_request(
            Some("account_number"),
            "The account number is invalid",
        )),
        Some(_) => Ok(()),
    }
}

async fn list_payouts(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Reply {
    let fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    our_account_number(&fake, &query)?;
    let number = |name: &str, default: usize| -> Result<usize, RzpError> {
        query.get(name).map_or(Ok(default), |text| {
            text.parse()
                .map_err(|_| bad_request(Some(name), format!("The {name} must be an integer.")))
        })
    };
    let count = number("count", 10)?;
    if !(1..=100).contains(&count) {
        return Err(bad_request(
            Some("count"),
            "The count must be between 1 and 100.",
        ));
    }
    let skip = number("skip", 0)?;
    // Newest first, as RazorpayX lists them.
    let items: Vec<Value> = fake
        .ledger
        .payouts
        .iter()
        .rev()
        .filter(|p| {
            query
                .get("reference_id")
                .is_none_or(|r| p.reference_id.as_ref() == Some(r))
        })
        .filter(|p| query.get("status").is_none_or(|s| &p.status == s))
        .filter(|p| {
            query
                .get("fund_account_id")
                .is_none_or(|f| &p.fund_account_id == f)
        })
        .skip(skip)
        .take(count)
        .map(FakePayout::public)
        .collect();
    Ok(Json(json!({"entity": "collection", "count": items.len(), "items": items})).into_response())
}

async fn cancel_payout(
    State(shared): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Reply {
    let mut fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    let payout = fake
        .ledger
        .payouts
        .iter_mut()
        .find(|payout| payout.id == id)
        .ok_or_else(|| bad_request(Some("id"), "The id provided does not exist"))?;
    if payout.status != "queued" {
        return Err(bad_request(
            None,
            format!("Payout cannot be cancelled: it is {}", payout.status),
        ));
    }
    payout.set_status("cancelled", None);
    let view = payout.public();
    fake.emit(view.clone());
    fake.persist();
    Ok(Json(view).into_response())
}

// --- fund account validations --------------------------------------------------

/// What a validation will come to when it settles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
enum ValidationFate {
    Active { registered_name: String },
    Invalid,
    Failed { reason: String },
}

/// A `fund_account.validation` entity in the shape RazorpayX documents for the
/// validation of an existing fund account (`results` {account_status,
/// registered_name}), plus the fake's own bookkeeping.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct FakeValidation {
    id: String,
    entity: String,
    fund_account: Value,
    status: String,
    amount: Option<u64>,
    currency: Option<String>,
    notes: Value,
    results: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_details: Option<Value>,
    created_at: i64,
    utr: Option<String>,
    // The fake's own bookkeeping, never shown on the public API.
    complete_at_ms: Option<i64>,
    fate: ValidationFate,
    debited: bool,
}

const VALIDATION_PRIVATE_FIELDS: [&str; 3] = ["complete_at_ms", "fate", "debited"];

/// Names the `name_mismatch` fault has the bank return: nobody's saved name here.
const OTHER_NAMES: [&str; 3] = ["RAVI SHANKAR IYER", "PRIYA NAIR", "MOHAMMED IQBAL KHAN"];

impl FakeValidation {
    fn public(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            for field in VALIDATION_PRIVATE_FIELDS {
                object.remove(field);
            }
        }
        value
    }

    /// Settles it as its fate says; true when the penny is to go back.
    fn settle(&mut self, rng: &mut StdRng) -> bool {
        self.complete_at_ms = None;
        match self.fate.clone() {
            ValidationFate::Active { registered_name } => {
                self.status = "completed".to_owned();
                self.results =
                    json!({"account_status": "active", "registered_name": registered_name});
                // Only a penny drop has a bank reference; a VPA's check moves no money.
                if self.amount.is_some() {
                    self.utr = Some(utr(rng));
                }
                false
            }
            ValidationFate::Invalid => {
                self.status = "completed".to_owned();
                self.results = json!({"account_status": "invalid", "registered_name": null});
                // The bank sent the penny back.
                self.debited
            }
            ValidationFate::Failed { reason } => {
                self.status = "failed".to_owned();
                self.status_details = Some(json!({
                    "reason": reason,
                    "source": "beneficiary_bank",
                    "description": "The validation could not be completed as the beneficiary bank did not respond.",
                }));
                // RazorpayX reverses its charges for a failed validation (FAQ).
                self.debited
            }
        }
    }
}

async fn create_validation(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Reply {
    let (reply, hang) = {
        let mut fake = lock(&shared)?;
        authenticate(&fake, &headers)?;
        let request = parse_body(&body)?;
        let validation = fake.new_validation(request)?;
        let timeout = fake.ledger.validation_faults.timeout;
        let hang = fake.roll(timeout);
        let view = validation.public();
        fake.ledger.validations.push(validation);
        fake.persist();
        // RazorpayX answers every create `created`: the result comes later.
        ((StatusCode::OK, Json(view)).into_response(), hang)
    };
    if hang {
        let wait = lock(&shared)?.config.hang;
        tokio::time::sleep(wait).await;
    }
    Ok(reply)
}

impl Fake {
    /// The by-id form of the request (`account_number`, `fund_account: {id}`, and for
    /// a bank account `amount` and `currency`); the composite form (an inline fund
    /// account) is not modelled and is refused as a missing id.
    fn new_validation(&mut self, request: Map<String, Value>) -> Result<FakeValidation, RzpError> {
        let account_number = string_field(&request, "account_number", true)?.unwrap_or_default();
        if account_number != self.config.account_number {
            return Err(bad_request(
                Some("account_number"),
                "The account number is invalid",
            ));
        }
        let fund_account_id = match request.get("fund_account") {
            Some(Value::Object(fund_account)) => {
                string_field(fund_account, "id", true)?.unwrap_or_default()
            }
            None | Some(Value::Null) => {
                return Err(bad_request(
                    Some("fund_account"),
                    "The fund account field is required.",
                ))
            }
            Some(_) => {
                return Err(bad_request(
                    Some("fund_account"),
                    "The fund account must be an object.",
                ))
            }
        };
        let Some(fund_account) = self
            .ledger
            .fund_accounts
            .iter()
            .find(|fa| fa.id == fund_account_id)
            .cloned()
        else {
            return Err(bad_request(Some("id"), "The id provided does not exist"));
        };
        let penny_drop = fund_account.account_type == "bank_account";
        let (amount, currency) = if penny_drop {
            let amount = match request.get("amount") {
                None | Some(Value::Null) => Some(100),
                Some(Value::Number(number)) => number.as_u64().filter(|amount| *amount >= 100),
                Some(_) => None,
            }
            .ok_or_else(|| {
                bad_request(
                    Some("amount"),
                    "The amount must be an integer of at least 100 paise.",
                )
            })?;
            match string_field(&request, "currency", false)? {
                None | Some("INR") => {}
                Some(_) => return Err(bad_request(Some("currency"), "The currency must be INR.")),
            }
            (Some(amount), Some("INR".to_owned()))
        } else {
            // A VPA is checked with NPCI: no amount, no money moves (RazorpayX FAQ).
            (None, None)
        };
        let notes = request.get("notes").cloned().unwrap_or_else(|| json!({}));
        if notes.as_object().is_some_and(|notes| notes.len() > 15) {
            return Err(bad_request(Some("notes"), "Too many notes: at most 15."));
        }
        if let Some(amount) = amount {
            if amount > self.ledger.balance {
                return Err(RzpError {
                    status: StatusCode::BAD_REQUEST,
                    code: "BAD_REQUEST_ERROR",
                    description: "Your account does not have enough balance to carry out the \
                                  validation."
                        .to_owned(),
                    field: None,
                    reason: "insufficient_funds",
                });
            }
            self.ledger.balance -= amount;
        }
        // The name the bank holds the account under is the one it was saved with (in
        // capitals, as banks return names): the bank account's, or for a VPA its
        // contact's.
        let saved_name = match &fund_account.bank_account {
            Some(bank) => bank["name"].as_str().unwrap_or_default().to_owned(),
            None => self
                .ledger
                .contacts
                .iter()
                .find(|contact| contact.id == fund_account.contact_id)
                .map(|contact| contact.name.clone())
                .unwrap_or_default(),
        };
        let faults = self.ledger.validation_faults;
        let fate = if self.roll(faults.technical_failure) {
            ValidationFate::Failed {
                reason: "beneficiary_bank_timeout".to_owned(),
            }
        } else if self.roll(faults.invalid_account) {
            ValidationFate::Invalid
        } else if self.roll(faults.name_mismatch) {
            let saved = saved_name.to_uppercase();
            let others: Vec<&str> = OTHER_NAMES
                .iter()
                .copied()
                .filter(|name| *name != saved)
                .collect();
            let registered_name = others[self.rng.random_range(0..others.len())].to_owned();
            ValidationFate::Active { registered_name }
        } else {
            ValidationFate::Active {
                registered_name: saved_name.to_uppercase(),
            }
        };
        let delay = i64::try_from(self.config.settle_after.as_millis()).unwrap_or(i64::MAX);
        Ok(FakeValidation {
            id: self.next_id("fav"),
            entity: "fund_account.validation".to_owned(),
            fund_account: json!(fund_account),
            status: "created".to_owned(),
            amount,
            currency,
            notes,
            results: json!({"account_status": null, "registered_name": null}),
            status_details: None,
            created_at: unix_now(),
            utr: None,
            complete_at_ms: Some(now_ms().saturating_add(delay)),
            fate,
            debited: amount.is_some(),
        })
    }
}

/// Settles the validations whose time has come, oldest first, and sends their
/// webhooks.
fn settle_validations(fake: &mut Fake, now: i64) -> bool {
    let mut changed = false;
    let mut validations = std::mem::take(&mut fake.ledger.validations);
    for validation in validations.iter_mut() {
        if validation.status != "created" || validation.complete_at_ms.is_none_or(|at| at > now) {
            continue;
        }
        if validation.settle(&mut fake.rng) {
            fake.ledger.balance += validation.amount.unwrap_or_default();
            validation.debited = false;
        }
        fake.emit_validation(validation.public());
        changed = true;
    }
    fake.ledger.validations = validations;
    changed
}

async fn fetch_validation(
    State(shared): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Reply {
    let fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    let validation = fake
        .ledger
        .validations
        .iter()
        .find(|validation| validation.id == id)
        .ok_or_else(|| bad_request(Some("id"), "The id provided does not exist"))?;
    Ok(Json(validation.public()).into_response())
}

/// `GET /v1/fund_accounts/validations?account_number=&from=&to=&count=&skip=`, newest
/// first, as RazorpayX lists them.
async fn list_validations(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Reply {
    let fake = lock(&shared)?;
    authenticate(&fake, &headers)?;
    our_account_number(&fake, &query)?;
    let number = |name: &str| -> Result<Option<i64>, RzpError> {
        query
            .get(name)
            .map(|text| {
                text.parse()
                    .map_err(|_| bad_request(Some(name), format!("The {name} must be an integer.")))
            })
            .transpose()
    };
    let count = number("count")?.unwrap_or(10);
    if !(1..=100).contains(&count) {
        return Err(bad_request(
            Some("count"),
            "The count must be between 1 and 100.",
        ));
    }
    let skip = usize::try_from(number("skip")?.unwrap_or(0))
        .map_err(|_| bad_request(Some("skip"), "The skip must be at least 0."))?;
    let (from, to) = (number("from")?, number("to")?);
    let items: Vec<Value> = fake
        .ledger
        .validations
        .iter()
        .rev()
        .filter(|v| from.is_none_or(|from| v.created_at >= from))
        .filter(|v| to.is_none_or(|to| v.created_at <= to))
        .skip(skip)
        .take(usize::try_from(count).unwrap_or(10))
        .map(FakeValidation::public)
        .collect();
    Ok(Json(json!({"entity": "collection", "count": items.len(), "items": items})).into_response())
}

async fn control_validations(State(shared): State<Shared>) -> Reply {
    let fake = lock(&shared)?;
    let items: Vec<Value> = fake
        .ledger
        .validations
        .iter()
        .map(FakeValidation::public)
        .collect();
    Ok(Json(json!({"entity": "collection", "count": items.len(), "items": items})).into_response())
}

async fn control_validation_faults(State(shared): State<Shared>, body: Bytes) -> Reply {
    let faults: ValidationFaults = serde_json::from_slice(&body)
        .map_err(|err| bad_request(None, format!("unknown or malformed fault: {err}")))?;
    faults
        .check()
        .map_err(|message| bad_request(None, message))?;
    let mut fake = lock(&shared)?;
    fake.ledger.validation_faults = faults;
    fake.persist();
    Ok(Json(json!(faults)).into_response())
}

// --- a webhook receiver for tests ------------------------------------------------

/// One delivery as it arrived: the exact body bytes, so a signature can be checked.
#[derive(Clone, Debug)]
pub struct ReceivedWebhook {
    pub event_id: String,
    pub signature: String,
    pub body: Vec<u8>,
}

/// A receiver on `127.0.0.1` that records every POST and answers 200: where a test
/// points the fake's webhooks when it wants to look at them itself. Dropping it stops
/// it.
pub struct WebhookSink {
    pub url: String,
    received: Arc<Mutex<Vec<ReceivedWebhook>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookSink {
    pub async fn start() -> Result<Self> {
        let received = Arc::new(Mutex::new(Vec::new()));
        let inbox = received.clone();
        let app = Router::new().fallback(post(move |headers: HeaderMap, body: Bytes| {
            let inbox = inbox.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                if let Ok(mut inbox) = inbox.lock() {
                    inbox.push(ReceivedWebhook {
                        event_id: header("x-razorpay-event-id"),
                        signature: header("x-razorpay-signature"),
                        body: body.to_vec(),
                    });
                }
                StatusCode::OK
            }
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the webhook sink")?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(WebhookSink {
            url: format!("http://{addr}/webhooks/razorpayx"),
            received,
            task,
        })
    }

    /// Every delivery so far, in the order they arrived.
    pub fn received(&self) -> Vec<ReceivedWebhook> {
        self.received
            .lock()
            .map(|received| received.clone())
            .unwrap_or_default()
    }
}

// --- control API -------------------------------------------------------------------

fn control_view(payout: &FakePayout) -> Value {
    let mut view = payout.public();
    if let Some(object) = view.as_object_mut() {
        object.insert("idempotency_key".to_owned(), json!(payout.idempotency_key));
    }
    view
}

async fn control_payouts(State(shared): State<Shared>) -> Reply {
    let fake = lock(&shared)?;
    let items: Vec<Value> = fake.ledger.payouts.iter().map(control_view).collect();
    Ok(Json(json!({"entity": "collection", "count": items.len(), "items": items})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

async fn control_status(
    State(shared): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Reply {
    let change: StatusChange = serde_json::from_slice(&body)
        .map_err(|err| bad_request(None, format!("expected {{\"status\", \"reason\"}}: {err}")))?;
    let mut guard = lock(&shared)?;
    let fake = &mut *guard;
    let Some(payout) = fake
        .ledger
        .payouts
        .iter_mut()
        .find(|payout| payout.id == id)
    else {
        return Err(bad_request(Some("id"), "The id provided does not exist"));
    };
    let allowed = match change.status.as_str() {
        "processed" => payout.status == "processing",
        "failed" => ["queued", "processing"].contains(&payout.status.as_str()),
        "reversed" => ["processing", "processed"].contains(&payout.status.as_str()),
        _ => {
            return Err(bad_request(
                Some("status"),
                "status must be processed, failed or reversed",
            ))
        }
    };
    if !allowed {
        return Err(bad_request(
            Some("status"),
            format!("a {} payout cannot become {}", payout.status, change.status),
        ));
    }
    payout.settle_at_ms = None;
    if change.status == "processed" {
        payout.utr = Some(utr(&mut fake.rng));
    } else if payout.debited {
        fake.ledger.balance += payout.amount;
        payout.debited = false;
    }
    payout.set_status(&change.status, change.reason.as_deref());
    let view = control_view(payout);
    let entity = payout.public();
    fake.emit(entity);
    fake.persist();
    Ok(Json(view).into_response())
}

async fn control_faults(State(shared): State<Shared>, body: Bytes) -> Reply {
    let faults: Faults = serde_json::from_slice(&body)
        .map_err(|err| bad_request(None, format!("unknown or malformed fault: {err}")))?;
    faults
        .check()
        .map_err(|message| bad_request(None, message))?;
    let mut fake = lock(&shared)?;
    fake.ledger.faults = faults;
    fake.persist();
    Ok(Json(json!(faults)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Balance {
    amount: u64,
}

async fn control_balance(State(shared): State<Shared>, body: Bytes) -> Reply {
    let balance: Balance = serde_json::from_slice(&body).map_err(|err| {
        bad_request(
            Some("amount"),
            format!("expected {{\"amount\": paise}}: {err}"),
        )
    })?;
    {
        let mut fake = lock(&shared)?;
        fake.ledger.balance = balance.amount;
        fake.persist();
    }
    settle_due(&shared);
    Ok(Json(json!({"balance": balance.amount})).into_response())
}

// --- webhooks ----------------------------------------------------------------------

/// `acc_` and 14 characters, like a real RazorpayX account id; the fake has one account.
pub const WEBHOOK_ACCOUNT_ID: &str = "acc_LocalFakeRzpX1";

/// RazorpayX treats an answer not received within 5 s as a failure
/// (https://razorpay.com/docs/webhooks/best-practices/).
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits past this are not interesting locally, and keep the arithmetic in range.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(600);

/// Events made and not yet delivered or given up, with the record of every delivery.
struct Outbox {
    /// Its own generator, so that turning webhooks on leaves the payouts' seeded
    /// behaviour (ids, faults, UTRs) as it was.
    rng: StdRng,
    queue: VecDeque<Delivery>,
    records: Vec<DeliveryRecord>,
    /// Deliveries queued, held back or in flight.
    outstanding: usize,
    wake: Arc<Notify>,
}

impl Outbox {
    fn new(seed: u64) -> Self {
        Outbox {
            rng: StdRng::seed_from_u64(seed ^ u64::from_be_bytes(*b"webhooks")),
            queue: VecDeque::new(),
            records: Vec::new(),
            outstanding: 0,
            wake: Arc::new(Notify::new()),
        }
    }
}

/// One copy of an event on its way; a duplicated event is two of these.
struct Delivery {
    record: usize,
    url: String,
    event_id: String,
    /// Signed once: every attempt and copy carries these exact bytes.
    body: Bytes,
    signature: String,
    hold: Duration,
    attempts: u32,
    max_attempts: u32,
    retry_base: Duration,
    /// Its own, so the backoff does not depend on how deliveries interleave.
    jitter: StdRng,
}

#[derive(Clone, Debug, Serialize)]
struct DeliveryRecord {
    event_id: String,
    event: String,
    /// The payout the event is about; empty (and not shown) for a validation's.
    #[serde(skip_serializing_if = "String::is_empty")]
    payout_id: String,
    /// The fund account validation the event is about, for a validation's.
    #[serde(skip_serializing_if = "Option::is_none")]
    validation_id: Option<String>,
    status: String,
    /// 1, or 2 for the second copy of a duplicated event.
    copy: u8,
    held_back_ms: u64,
    attempts: u32,
    last_http_status: Option<u16>,
    last_error: Option<String>,
    delivered: bool,
    /// `pending` (queued, held back, in flight or waiting to retry), `delivered`, or
    /// `failed` (every attempt failed).
    state: &'static str,
}

#[derive(Serialize)]
struct Envelope<'a> {
    entity: &'static str,
    account_id: &'static str,
    event: &'a str,
    contains: [&'static str; 1],
    payload: Value,
    created_at: i64,
}

/// The event RazorpayX fires when a payout enters `status`
/// (https://razorpay.com/docs/webhooks/payouts/).
fn event_name(status: &str) -> &'static str {
    match status {
        "processing" => "payout.initiated",
        "queued" => "payout.queued",
        "processed" => "payout.processed",
        "failed" => "payout.failed",
        "rejected" => "payout.rejected",
        "reversed" => "payout.reversed",
        "pending" => "payout.pending",
        _ => "payout.updated",
    }
}

/// `X-Razorpay-Signature`: lowercase hex HMAC-SHA256 of the body.
fn signature(secret: &str, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    aws_lc_rs::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn alphanumerics(rng: &mut StdRng, count: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..count)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// What an event is about, for its delivery records.
enum Subject {
    Payout(String),
    Validation(String),
}

impl Fake {
    /// Queues the webhook for a payout that just changed; `entity` is its public view
    /// at that moment, which later changes must not alter.
    fn emit(&mut self, entity: Value) {
        let status = entity["status"].as_str().unwrap_or_default().to_owned();
        let payout_id = entity["id"].as_str().unwrap_or_default().to_owned();
        let event = event_name(&status);
        self.queue_event(event, "payout", entity, status, Subject::Payout(payout_id));
    }

    /// Queues the webhook for a validation that just settled (docs/RAZORPAYX.md):
    /// `.failed` when RazorpayX could not finish it, `.completed` otherwise, an
    /// invalid account included.
    fn emit_validation(&mut self, entity: Value) {
        let status = entity["status"].as_str().unwrap_or_default().to_owned();
        let id = entity["id"].as_str().unwrap_or_default().to_owned();
        let event = if status == "failed" {
            "fund_account.validation.failed"
        } else {
            "fund_account.validation.completed"
        };
        self.queue_event(
            event,
            "fund_account.validation",
            entity,
            status,
            Subject::Validation(id),
        );
    }

    /// Signs and queues one event whose payload is `{contains: {entity}}`, the shape
    /// of every RazorpayX event (https://razorpay.com/docs/webhooks/payouts/).
    fn queue_event(
        &mut self,
        event: &str,
        contains: &'static str,
        entity: Value,
        status: String,
        subject: Subject,
    ) {
        let Some(url) = self.config.webhooks.url.clone() else {
            return;
        };
        let settings = &self.config.webhooks;
        let outbox = &mut self.webhooks;
        let (payout_id, validation_id) = match subject {
            Subject::Payout(id) => (id, None),
            Subject::Validation(id) => (String::new(), Some(id)),
        };
        let event_id = format!("evt_{}", alphanumerics(&mut outbox.rng, 14));
        let mut payload = Map::new();
        payload.insert(contains.to_owned(), json!({ "entity": entity }));
        let envelope = Envelope {
            entity: "event",
            account_id: WEBHOOK_ACCOUNT_ID,
            event,
            contains: [contains],
            payload: Value::Object(payload),
            created_at: unix_now(),
        };
        let body = match serde_json::to_vec(&envelope) {
            Ok(body) => Bytes::from(body),
            Err(err) => {
                let about = validation_id.as_deref().unwrap_or(&payout_id);
                eprintln!("local RazorpayX: could not encode {event} for {about}: {err}");
                return;
            }
        };
        let signature = signature(&settings.secret, &body);
        let copies = if roll(&mut outbox.rng, settings.duplicate) {
            2
        } else {
            1
        };
        let hold = if roll(&mut outbox.rng, settings.late) {
            let longest = u64::try_from(settings.late_by.as_millis()).unwrap_or(u64::MAX);
            Duration::from_millis(outbox.rng.random_range(longest / 2..=longest))
        } else {
            Duration::ZERO
        };
        for copy in 1..=copies {
            outbox.records.push(DeliveryRecord {
                event_id: event_id.clone(),
                event: event.to_owned(),
                payout_id: payout_id.clone(),
                validation_id: validation_id.clone(),
                status: status.clone(),
                copy,
                held_back_ms: u64::try_from(hold.as_millis()).unwrap_or(u64::MAX),
                attempts: 0,
                last_http_status: None,
                last_error: None,
                delivered: false,
                state: "pending",
            });
            let jitter = StdRng::seed_from_u64(outbox.rng.random());
            outbox.queue.push_back(Delivery {
                record: outbox.records.len() - 1,
                url: url.clone(),
                event_id: event_id.clone(),
                body: body.clone(),
                signature: signature.clone(),
                hold,
                attempts: 0,
                max_attempts: settings.max_attempts.max(1),
                retry_base: settings.retry_base,
                jitter,
            });
            outbox.outstanding += 1;
        }
        outbox.wake.notify_one();
    }
}

fn roll(rng: &mut StdRng, rate: f64) -> bool {
    rate > 0.0 && rng.random_bool(rate.min(1.0))
}

/// Sends queued events one at a time, in the order the payouts changed; a held-back
/// event and the retries of a failed one go on their own, so they neither stall the
/// queue nor keep their place in it (RazorpayX promises no order either, §2.3).
/// Owning the side tasks here means aborting this task stops them too.
async fn dispatch_webhooks(shared: Shared, wake: Arc<Notify>, client: reqwest::Client) {
    let mut side = JoinSet::new();
    loop {
        while side.try_join_next().is_some() {}
        let next = match shared.lock() {
            Ok(mut fake) => fake.webhooks.queue.pop_front(),
            Err(_) => return,
        };
        let Some(mut delivery) = next else {
            wake.notified().await;
            continue;
        };
        if !delivery.hold.is_zero() {
            let (shared, client) = (shared.clone(), client.clone());
            side.spawn(async move {
                tokio::time::sleep(delivery.hold).await;
                deliver(&shared, &client, delivery).await;
            });
            continue;
        }
        if attempt(&shared, &client, &mut delivery).await {
            continue;
        }
        let (shared, client) = (shared.clone(), client.clone());
        side.spawn(async move {
            tokio::time::sleep(backoff(&mut delivery)).await;
            deliver(&shared, &client, delivery).await;
        });
    }
}

/// Attempts until delivered or out of attempts.
async fn deliver(shared: &Shared, client: &reqwest::Client, mut delivery: Delivery) {
    while !attempt(shared, client, &mut delivery).await {
        tokio::time::sleep(backoff(&mut delivery)).await;
    }
}

/// The wait after the `attempts`-th failure: base × 2^(attempts − 1), plus up to half
/// of that again.
fn backoff(delivery: &mut Delivery) -> Duration {
    let doublings = delivery.attempts.saturating_sub(1).min(30);
    let wait = delivery
        .retry_base
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_WAIT);
    wait.mul_f64(1.0 + delivery.jitter.random_range(0.0..0.5))
}

/// One POST; true when the delivery is finished, delivered or given up.
async fn attempt(shared: &Shared, client: &reqwest::Client, delivery: &mut Delivery) -> bool {
    delivery.attempts += 1;
    let sent = client
        .post(&delivery.url)
        .header("Content-Type", "application/json")
        .header("X-Razorpay-Event-Id", &delivery.event_id)
        .header("X-Razorpay-Signature", &delivery.signature)
        .body(delivery.body.clone())
        .send()
        .await;
    let (http_status, error) = match sent {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(err) => {
            let kind = if err.is_timeout() {
                "timed out"
            } else if err.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            (None, Some(format!("{kind}: {err}")))
        }
    };
    let delivered = http_status.is_some_and(|status| (200..300).contains(&status));
    let done = delivered || delivery.attempts >= delivery.max_attempts;
    if let Ok(mut fake) = shared.lock() {
        if let Some(record) = fake.webhooks.records.get_mut(delivery.record) {
            record.attempts = delivery.attempts;
            record.last_http_status = http_status;
            record.last_error = error;
            record.delivered = delivered;
            if done {
                record.state = if delivered { "delivered" } else { "failed" };
            }
        }
        if done {
            fake.webhooks.outstanding = fake.webhooks.outstanding.saturating_sub(1);
        }
    }
    done
}

async fn control_webhooks(State(shared): State<Shared>) -> Reply {
    let fake = lock(&shared)?;
    let items: Vec<Value> = fake.webhooks.records.iter().map(|r| json!(r)).collect();
    Ok(Json(json!({"entity": "collection", "count": items.len(), "items": items})).into_response())
}

// --- helpers ---------------------------------------------------------------------------

fn lock(shared: &Shared) -> Result<std::sync::MutexGuard<'_, Fake>, RzpError> {
    shared.lock().map_err(|_| RzpError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "SERVER_ERROR",
        description: "the local RazorpayX's state is poisoned; restart it".to_owned(),
        field: None,
        reason: "server_error",
    })
}

fn status_details(status: &str, reason: Option<&str>) -> Value {
    let (reason, source, description) = match (status, reason) {
        ("processed", _) => ("payout_processed", "beneficiary_bank", "Payout is processed and the money has been credited into the beneficiary account.".to_owned()),
        ("queued", Some("low_balance")) => ("low_balance", "business", "Payout is queued as there is insufficient balance in your business account to process the payout".to_owned()),
        ("failed", Some("insufficient_funds")) => ("insufficient_funds", "business", "Payout failed as there is insufficient balance in your business account.".to_owned()),
        ("processing", _) => ("payout_bank_processing", "beneficiary_bank", "Payout is being processed by the beneficiary bank.".to_owned()),
        ("cancelled", _) => ("payout_cancelled", "business", "Payout was cancelled.".to_owned()),
        (_, Some(reason)) => (reason, "beneficiary_bank", format!("Payout {status}: {}.", reason.replace('_', " "))),
        (_, None) => ("server_error", "internal", format!("Payout {status}.")),
    };
    json!({"reason": reason, "source": source, "description": description})
}

fn bank_name(ifsc: &str) -> &'static str {
    match ifsc.get(..4) {
        Some("HDFC") => "HDFC Bank",
        Some("ICIC") => "ICICI Bank",
        Some("SBIN") => "State Bank of India",
        Some("UTIB") => "Axis Bank",
        _ => "Local Test Bank",
    }
}

fn utr(rng: &mut StdRng) -> String {
    format!("{:012}", rng.random_range(0..1_000_000_000_000u64))
}

fn unix_now() -> i64 {
    now_ms() / 1000
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

fn write_atomically(path: &Path, ledger: &Ledger) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_vec_pretty(ledger)?)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

impl FakeRazorpayX {
    /// Sets the business balance (queued payouts then go), as `POST /_fake/balance`.
    pub fn set_balance(&self, amount: u64) {
        if let Ok(mut fake) = self.shared.lock() {
            fake.ledger.balance = amount;
            fake.persist();
        }
        settle_due(&self.shared);
    }
}

/// Panics unless the local RazorpayX agrees with our payouts: each completed one has
/// exactly one `processed` payout there, for its amount, with the UTR it shows; at
/// most one payout there is not failed (processed or still on its way) for any of
/// ours; a failed or cancelled one of ours has nothing there that paid or may pay;
/// and nothing was processed there that is not one of `payouts`.
pub fn assert_paid_once(fake: &FakeRazorpayX, payouts: &[shared::payout::Payout]) {
    use shared::payout::PayoutStatus;
    const GONE: [&str; 4] = ["failed", "rejected", "cancelled", "reversed"];
    let at_gateway = fake.payouts();
    let of = |payout_id: &str| -> Vec<&Value> {
        at_gateway
            .iter()
            .filter(|item| item["reference_id"] == payout_id)
            .collect()
    };
    for payout in payouts {
        let id = payout.payout_id.to_string();
        let items = of(&id);
        let alive: Vec<&&Value> = items
            .iter()
            .filter(|item| !GONE.iter().any(|gone| item["status"] == *gone))
            .collect();
        assert!(
            alive.len() <= 1,
            "payout {id}: {} payouts at RazorpayX paid or may pay: {alive:?}",
            alive.len()
        );
        match payout.status {
            PayoutStatus::Completed => {
                let paid: Vec<&&&Value> = alive
                    .iter()
                    .filter(|item| item["status"] == "processed")
                    .collect();
                assert_eq!(paid.len(), 1, "payout {id}: processed at RazorpayX");
                assert_eq!(
                    paid[0]["amount"],
                    json!(payout.amount_paise.get()),
                    "payout {id}: amount"
                );
                assert_eq!(
                    paid[0]["utr"].as_str(),
                    payout.payment_reference.as_deref(),
                    "payout {id}: UTR"
                );
            }
            status if status.is_in_flight() => {}
            status => assert!(
                alive.is_empty(),
                "payout {id} is {status} but RazorpayX holds {alive:?}"
            ),
        }
    }
    for item in at_gateway
        .iter()
        .filter(|item| item["status"] == "processed")
    {
        assert!(
            payouts
                .iter()
                .any(|payout| item["reference_id"] == json!(payout.payout_id.to_string())),
            "RazorpayX processed {item} for no payout of ours"
        );
    }
}
