//! The HTTP checks of `cargo xtask test`, against the real `cargo lambda watch` with
//! the workspace router on a free port: a smoke test that calls every endpoint,
//! schemathesis fuzzing the API from `openapi.yaml`, then the admin dashboard in
//! headless Chromium. The watch is stopped afterwards.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use devkit::dynamodb_local;
use devkit::paths;
use serde_json::Value;
use shared::auth::Role;
use shared::config::{DEV_JWT_SECRET, DEV_RAZORPAYX_WEBHOOK_SECRET};
use shared::gateway::razorpayx_webhook;
use shared::order::Order;

use crate::children::Supervised;
use crate::tools;

/// Schemathesis, pinned, from PyPI into `.local/venv`.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

pub async fn run(dynamodb_endpoint: &str) -> Result<()> {
    let lambda_bin = tools::cargo_lambda()?;
    let schemathesis_bin = tools::venv_with(&[SCHEMATHESIS], "st")?;
    let table = devkit::fixture::demo_table(dynamodb_endpoint, "smoke").await?;

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
            .env("STAGE", shared::config::LOCAL_STAGE)
            .env("JWT_SECRET", DEV_JWT_SECRET)
            .env("GATEWAY_SIM_SUCCESS_RATE", "1")
            .env("GATEWAY_SIM_LATENCY_MS", "0")
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
    let mut outcome = smoke.and_then(|()| schemathesis(&schemathesis_bin, &base));
    if outcome.is_ok() {
        // The dashboard in headless Chromium, against this same stack: a scout of its
        // own with failed payouts to retry and a pending one to cancel, whatever the
        // fuzzing above left.
        let store =
            shared::store::Store::new(dynamodb_local::client(dynamodb_endpoint).await, &table);
        outcome = match crate::browser::prepare(&store, &store).await {
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

fn calls(base: &str) -> Result<()> {
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
    Ok(())
}
