//! The HTTP checks of `cargo xtask test`, against the real `cargo lambda watch` with
//! the workspace router on a free port: a smoke test that calls every endpoint, the
//! event path those calls set off (stream → `publish-events` → bus → `notify` →
//! email), schemathesis fuzzing the API from `openapi.yaml`, then the admin dashboard
//! in headless Chromium. The watch is stopped afterwards.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use api::auth::DEV_JWT_SECRET;
use devkit::dynamodb_local;
use devkit::paths;
use domain::actor::Role;
use gateway::razorpayx_webhook;
use serde_json::Value;
use service::config::DEV_RAZORPAYX_WEBHOOK_SECRET;
use service::order::Order;

use crate::children::Supervised;
use crate::events::{self, EventSettings};
use crate::tools;

/// Schemathesis, pinned, from PyPI into `.local/venv`.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The user whose payout the smoke test completes, and the email it gives them so
/// that payout's events are mailed.
const PAID_USER: u64 = 8;
const PAID_USER_EMAIL: &str = "vikram@example.com";

pub async fn run(dynamodb_endpoint: &str, moto_endpoint: &str) -> Result<()> {
    let lambda_bin = tools::cargo_lambda()?;
    let schemathesis_bin = tools::venv_with(&[SCHEMATHESIS], "st")?;
    let (vault, account_keys) = devkit::moto::local_vault(moto_endpoint).await?;
    let table = devkit::fixture::demo_table(dynamodb_endpoint, &vault, "smoke").await?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let events = EventSettings {
        moto_endpoint: moto_endpoint.to_owned(),
        bus: format!("payouts-smoke-{run_id}"),
        // Of this run alone: moto may be shared, and its emails are told apart by sender.
        from_address: format!("payouts-smoke-{run_id}@example.com"),
        configuration_set: "payouts-smoke".to_owned(),
    };
    let capture = events
        .set_up("all-payout-events", &events::all_events_pattern())
        .await?;

    let port = dynamodb_local::free_port()?;
    let log_path = paths::local_dir().join("logs").join("smoke-watch.log");
    let log = std::fs::File::create(&log_path)?;
    let mut watch = Supervised::spawn(
        "cargo lambda watch (smoke)",
        Command::new("cargo")
            .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .env("PATH", tools::path_with(&lambda_bin))
            .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
            .env("PAYOUTS_TABLE", &table)
            .env("STAGE", service::config::LOCAL_STAGE)
            .env("JWT_SECRET", DEV_JWT_SECRET)
            .env("GATEWAY_SIM_SUCCESS_RATE", "1")
            .env("GATEWAY_SIM_LATENCY_MS", "0")
            .envs(events.function_env())
            .envs(account_keys.env(moto_endpoint))
            .current_dir(paths::workspace_root())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log),
    )?;
    crate::dev::wait_for_port(port, Duration::from_secs(120), &mut watch)
        .with_context(|| format!("see {}", log_path.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    let smoke_base = base.clone();
    let smoke = tokio::task::spawn_blocking(move || calls(&smoke_base)).await?;
    let mut outcome = match smoke {
        Ok(completed) => {
            let path = EventPath {
                lambda_bin: &lambda_bin,
                port,
                dynamodb_endpoint,
                table: &table,
                settings: &events,
                capture: &capture,
            };
            path.check(&completed).await
        }
        Err(err) => Err(err),
    };
    if outcome.is_ok() {
        outcome = schemathesis(&schemathesis_bin, &base);
    }
    if outcome.is_ok() {
        // The dashboard in headless Chromium, against this same stack: a scout of its
        // own with failed payouts to retry and a pending one to cancel, whatever the
        // fuzzing above left.
        let store = store::Store::new(dynamodb_local::client(dynamodb_endpoint).await, &table);
        outcome = match crate::browser::prepare(&store, &store, &vault).await {
            Ok(()) => {
                let browser_base = base.clone();
                tokio::task::spawn_blocking(move || crate::browser::dashboard_test(&browser_base))
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|result| result)
            }
            Err(err) => Err(err),
        };
    }
    drop(watch);
    outcome.with_context(|| format!("cargo lambda watch log: {}", log_path.display()))
}

/// Fuzzes every operation of `openapi.yaml`, positive and negative, as an admin (who
/// may call every route). Every response must conform to the spec and none may be a
/// 5xx. `SCHEMATHESIS_SEED` and `SCHEMATHESIS_MAX_EXAMPLES` change the run.
///
/// Deliberate settings, each for a reason outside the functions:
/// - `positive_data_acceptance` is excluded: a schema-valid request can be refused by
///   state no schema expresses (a balance too small, a cursor that was never issued);
/// - `unsupported_method` is excluded: an unrouted method is answered by the router
///   (API Gateway, or `cargo lambda`), 404, before any function runs; the functions
///   themselves answer 405 (tested in Rust);
/// - `xtask/schemathesis/payout_hooks.py` keeps non-UTF-8 headers and bodies away from
///   the `cargo lambda` emulator, which answers those with its own 500.
fn schemathesis(bin: &std::path::Path, base: &str) -> Result<()> {
    let seed = std::env::var("SCHEMATHESIS_SEED")
        .unwrap_or_else(|_| (uuid::Uuid::new_v4().as_u128() % 1_000_000).to_string());
    let examples = std::env::var("SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| "15".to_owned());
    let admin = devkit::token::mint(DEV_JWT_SECRET, 1, Role::Admin, 3600)?;
    println!("schemathesis: seed {seed}, {examples} examples per operation and phase");
    tools::run(
        Command::new(bin.join("st"))
            .arg("run")
            .arg(paths::workspace_root().join("openapi.yaml"))
            .args(["--url", base])
            .args(["--header", &format!("Authorization: Bearer {admin}")])
            .args(["--mode", "all", "--checks", "all"])
            .args([
                "--exclude-checks",
                "positive_data_acceptance,unsupported_method",
            ])
            .args(["--max-examples", &examples, "--seed", &seed])
            .args(["--request-timeout", "60", "--workers", "1"])
            .env(
                "PYTHONPATH",
                paths::workspace_root().join("xtask/schemathesis"),
            )
            .env("SCHEMATHESIS_HOOKS", "payout_hooks")
            .current_dir(paths::local_dir()),
    )
    .context("schemathesis found responses that break openapi.yaml")
}

struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    /// One call; the first call of each function waits for `cargo lambda` to build it.
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Result<(u16, Value)> {
        self.call_with(method, path, token, body, &[])
    }

    fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = match token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        };
        let request = request.body(body.unwrap_or_default().to_owned())?;
        let mut response = self
            .agent
            .run(request)
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string()?;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        println!("smoke: {method} {path} → {status}");
        Ok((status, json))
    }

    fn expect(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        status: u16,
    ) -> Result<Value> {
        let (got, json) = self.call(method, path, token, body)?;
        ensure!(
            got == status,
            "{method} {path}: expected {status}, got {got}: {json}"
        );
        Ok(json)
    }
}

/// Calls every endpoint; returns the ids of the payouts it completed.
fn calls(base: &str) -> Result<Vec<String>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    let api = Client {
        agent,
        base: base.to_owned(),
    };
    let token = |user: u64, role: Role| devkit::token::mint(DEV_JWT_SECRET, user, role, 3600);
    let (scout_owner, buyer, admin) = (
        token(7, Role::User)?,
        token(9, Role::User)?,
        token(1, Role::Admin)?,
    );

    let requested = api.expect(
        "POST",
        "/scouts/s-1/request-payout",
        Some(&scout_owner),
        Some(r#"{"amount_paise": 1000}"#),
        201,
    )?;
    ensure!(requested["status"] == "pending", "{requested}");
    let scout_payout = requested["payout_id"]
        .as_str()
        .context("payout_id")?
        .to_owned();

    let mine = api.expect(
        "GET",
        "/payouts/my-payouts?limit=5",
        Some(&scout_owner),
        None,
        200,
    )?;
    ensure!(
        mine["payouts"][0]["payout_id"] == scout_payout.as_str(),
        "{mine}"
    );

    let completed = api.expect("PATCH", "/orders/o-1/complete", Some(&buyer), None, 200)?;
    let seller_payout = Order::seller_payout_id("o-1").to_string();
    ensure!(
        completed["payout"]["payout_id"] == seller_payout.as_str(),
        "{completed}"
    );

    let listed = api.expect(
        "GET",
        "/payouts?status=pending&limit=50",
        Some(&admin),
        None,
        200,
    )?;
    let ids: Vec<&str> = listed["payouts"]
        .as_array()
        .context("payouts")?
        .iter()
        .filter_map(|p| p["payout_id"].as_str())
        .collect();
    ensure!(
        ids.contains(&scout_payout.as_str()) && ids.contains(&seller_payout.as_str()),
        "{listed}"
    );

    // The seller has no email on file in the demo data; with one, the events of the
    // payout about to be paid are mailed (checked in `EventPath`). A new email is a
    // change of account: it is announced (`payout_account.changed`, mailed to the new
    // address) and holds the seller's payouts, which are refused until an admin ends
    // the hold.
    let seller = token(PAID_USER, Role::User)?;
    let account = api.expect(
        "PUT",
        "/me/payout-account",
        Some(&seller),
        Some(
            &serde_json::json!({"type": "vpa", "name": "Vikram Singh",
                "address": "vikram@okicici", "email": PAID_USER_EMAIL})
            .to_string(),
        ),
        200,
    )?;
    ensure!(account["email"] == PAID_USER_EMAIL, "{account}");
    ensure!(account["hold_until"].is_string(), "{account}");
    let held = api.expect(
        "POST",
        &format!("/payouts/process/{seller_payout}"),
        Some(&admin),
        None,
        409,
    )?;
    ensure!(held["error"]["code"] == "payout_account_on_hold", "{held}");
    let ended = api.expect(
        "POST",
        &format!("/users/{PAID_USER}/payout-account/end-hold"),
        Some(&admin),
        None,
        200,
    )?;
    ensure!(ended["hold_ended_by"] == 1, "{ended}");

    let paid = api.expect(
        "POST",
        &format!("/payouts/process/{seller_payout}"),
        Some(&admin),
        None,
        200,
    )?;
    ensure!(paid["status"] == "completed", "{paid}");
    let cancelled = api.expect(
        "POST",
        &format!("/payouts/{scout_payout}/cancel"),
        Some(&admin),
        None,
        200,
    )?;
    ensure!(cancelled["status"] == "cancelled", "{cancelled}");
    let refused = api.expect(
        "POST",
        &format!("/payouts/{seller_payout}/retry"),
        Some(&admin),
        None,
        409,
    )?;
    ensure!(refused["error"]["code"] == "invalid_status", "{refused}");

    // RazorpayX's word, signed with the local secret: the bank returned the seller's
    // payout. Unsigned, the same body is refused.
    let reversal = serde_json::json!({
        "entity": "event",
        "event": "payout.reversed",
        "contains": ["payout"],
        "payload": {"payout": {"entity": {
            "id": "pout_SmokeReversal01",
            "status": "reversed",
            "reference_id": seller_payout,
            "notes": {"idempotency_key": Order::seller_payout_id("o-1").simple().to_string() + "-1"},
            "status_details": {"reason": "beneficiary_bank_rejected", "description": "account closed", "source": "beneficiary_bank"}
        }}}
    })
    .to_string();
    let signature = razorpayx_webhook::signature(reversal.as_bytes(), DEV_RAZORPAYX_WEBHOOK_SECRET);
    let (status, answer) = api.call_with(
        "POST",
        "/webhooks/razorpayx",
        None,
        Some(&reversal),
        &[
            ("x-razorpay-event-id", "evt_Smoke000000001"),
            ("x-razorpay-signature", &signature),
        ],
    )?;
    ensure!(
        status == 200 && answer["handled"] == "applied",
        "{status} {answer}"
    );
    let (status, _) = api.call_with(
        "POST",
        "/webhooks/razorpayx",
        None,
        Some(&reversal),
        &[("x-razorpay-event-id", "evt_Smoke000000002")],
    )?;
    ensure!(status == 401, "an unsigned webhook answered {status}");
    let reversed = api.expect("GET", "/payouts?status=reversed", Some(&admin), None, 200)?;
    ensure!(
        reversed["payouts"][0]["payout_id"] == seller_payout.as_str(),
        "{reversed}"
    );
    // s-1's owner asks to be paid every Monday; reading it back gives the same.
    let schedule = api.expect(
        "PUT",
        "/me/payout-schedule",
        Some(&scout_owner),
        Some(r#"{"scout_id": "s-1", "frequency": "weekly", "day": 1}"#),
        200,
    )?;
    ensure!(
        schedule["frequency"] == "weekly" && schedule["next_due_at"].is_string(),
        "{schedule}"
    );
    let read = api.expect(
        "GET",
        "/me/payout-schedule?scout_id=s-1",
        Some(&scout_owner),
        None,
        200,
    )?;
    ensure!(read == schedule, "{read} != {schedule}");

    // One bulk call, two outcomes: the cancelled scout payout cannot be retried, and
    // the nil id names no payout.
    let bulk = api.expect(
        "POST",
        "/payouts/bulk",
        Some(&admin),
        Some(
            &serde_json::json!({
                "action": "retry",
                "payout_ids": [scout_payout, uuid::Uuid::nil().to_string()]
            })
            .to_string(),
        ),
        200,
    )?;
    ensure!(
        bulk["results"][0]["outcome"] == "conflict" && bulk["results"][1]["outcome"] == "not_found",
        "{bulk}"
    );

    api.expect("GET", "/payouts/my-payouts", None, None, 401)?;
    api.expect("GET", "/payouts", Some(&scout_owner), None, 403)?;
    Ok(vec![seller_payout])
}

/// The event path after the API calls: the table's stream, from its beginning, through
/// `publish-events` in Lambda-sized batches onto the smoke bus, where a rule on every
/// payout event captures what was published; then `notify` with each event that sends
/// an email, and the emails moto accepted.
struct EventPath<'a> {
    lambda_bin: &'a std::path::Path,
    port: u16,
    dynamodb_endpoint: &'a str,
    table: &'a str,
    settings: &'a EventSettings,
    capture: &'a devkit::moto::Capture,
}

impl EventPath<'_> {
    async fn check(&self, completed: &[String]) -> Result<()> {
        let records = self.publish_stream().await?;
        let published = self.capture.drain().await?;
        println!(
            "smoke: {} stream records → {} events on {}",
            records,
            published.len(),
            self.settings.bus
        );
        expect_events(&published, completed)?;
        let notified: Vec<&Value> = published
            .iter()
            .filter(|event| {
                event["detail-type"]
                    .as_str()
                    .is_some_and(|kind| events::NOTIFIED.contains(&kind))
            })
            .collect();
        for event in &notified {
            self.invoke(events::NOTIFY_FUNCTION, event).await?;
        }
        let expected = self.expected_recipients(&notified).await?;
        let sent = self.sent_recipients().await?;
        ensure!(
            sent == expected && !sent.is_empty(),
            "emails sent to {sent:?}, expected {expected:?}"
        );
        println!("smoke: notify sent {} emails: {sent:?}", sent.len());

        // A redelivered event sends no second email.
        if let Some(event) = notified.first() {
            self.invoke(events::NOTIFY_FUNCTION, event).await?;
            let again = self.sent_recipients().await?;
            ensure!(again == sent, "a redelivered event sent another email");
        }
        Ok(())
    }

    /// Every record of the stream through `publish-events`; how many there were.
    async fn publish_stream(&self) -> Result<usize> {
        let mut reader = devkit::streams::StreamReader::open(
            self.dynamodb_endpoint,
            self.table,
            devkit::streams::StartAt::TrimHorizon,
        )
        .await?;
        let mut records = 0;
        loop {
            let batch = reader.next_batch(events::STREAM_BATCH).await?;
            if batch.records.is_empty() {
                return Ok(records);
            }
            records += batch.records.len();
            let answer = self.invoke(events::PUBLISH_FUNCTION, &batch).await?;
            let failed = events::failed_sequence_numbers(&answer);
            ensure!(
                failed.is_empty(),
                "publish-events reported failures: {answer}"
            );
        }
    }

    async fn invoke(&self, function: &str, event: &impl serde::Serialize) -> Result<Value> {
        events::invoke(self.lambda_bin, self.port, function, event).await
    }

    /// One address per notified event whose user has an email on their payout account.
    async fn expected_recipients(&self, notified: &[&Value]) -> Result<Vec<String>> {
        let store = store::Store::new(
            dynamodb_local::client(self.dynamodb_endpoint).await,
            self.table,
        );
        let mut recipients = Vec::new();
        for event in notified {
            let user = event["detail"]["user_id"]
                .as_u64()
                .with_context(|| format!("an event without detail.user_id: {event}"))?;
            if let Some(email) = store.payout_account(user).await?.and_then(|a| a.email) {
                recipients.push(email);
            }
        }
        recipients.sort();
        Ok(recipients)
    }

    async fn sent_recipients(&self) -> Result<Vec<String>> {
        let mut recipients: Vec<String> = devkit::moto::sent_emails(&self.settings.moto_endpoint)
            .await?
            .into_iter()
            .filter(|email| email.from == self.settings.from_address)
            .flat_map(|email| email.to)
            .collect();
        recipients.sort();
        Ok(recipients)
    }
}

/// At least one `payout.requested`, and exactly one `payout.completed` for each payout
/// the smoke test completed.
fn expect_events(published: &[Value], completed: &[String]) -> Result<()> {
    let of_type = |kind: &str| -> Vec<&Value> {
        published
            .iter()
            .filter(|event| event["detail-type"] == kind)
            .collect()
    };
    ensure!(
        !of_type("payout.requested").is_empty(),
        "no payout.requested among {} events",
        published.len()
    );
    let completions = of_type("payout.completed");
    for payout_id in completed {
        let matching = completions
            .iter()
            .filter(|event| event["detail"]["payout_id"] == payout_id.as_str())
            .count();
        ensure!(
            matching == 1,
            "{matching} payout.completed events for {payout_id}, expected 1"
        );
    }
    Ok(())
}
