//! The HTTP checks of `cargo xtask test`, against the real `cargo lambda watch` with
//! the workspace router on a free port, over a table that starts empty: a marketplace's
//! day through its door (scouts, orders moved on and completed, an opening balance,
//! a payout requested and paid), a smoke test that calls every other endpoint, the
//! event path those calls set off (stream → `publish-events` → bus → `notify` →
//! email, each recorded as sent), the dev banner's command that runs the processor
//! now, word for word, schemathesis fuzzing the API from `openapi.yaml`, then the admin
//! dashboard and a web app on another origin (CORS) in headless Chromium. Every HTTP
//! call goes through the local front (`crate::front`: API Gateway's CORS). The watch is
//! stopped afterwards.

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
use service::notify::Recipient;
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
    // Empty: everything the calls below act on, the marketplace creates over HTTP.
    let table = devkit::fixture::empty_table(dynamodb_endpoint, "smoke").await?;
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
            // CORS is the front's, as it is API Gateway's when deployed.
            .arg("--disable-cors")
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
    // Every HTTP call goes through the front, as deployed ones go through API Gateway;
    // the invocations of the event path go to the watch itself.
    // A marketplace web app's origin (and one it is not), for the CORS check.
    let app_origin = format!("http://localhost:{}", dynamodb_local::free_port()?);
    let other_origin = format!("http://localhost:{}", dynamodb_local::free_port()?);
    let front_port = dynamodb_local::free_port()?;
    let front =
        crate::front::serve(front_port, port, &crate::front::parse_origins(&app_origin)?).await?;
    let base = format!("http://127.0.0.1:{front_port}");
    let smoke_base = base.clone();
    let smoke = tokio::task::spawn_blocking(move || calls(&smoke_base)).await?;
    let mut outcome = match smoke {
        Ok((completed, day)) => {
            let path = EventPath {
                lambda_bin: &lambda_bin,
                port,
                dynamodb_endpoint,
                table: &table,
                settings: &events,
                capture: &capture,
                watch_log: &log_path,
            };
            path.check(&completed, &day).await
        }
        Err(err) => Err(err),
    };
    if outcome.is_ok() {
        let processor_base = base.clone();
        outcome = tokio::task::spawn_blocking(move || processor_now(&processor_base, port))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|result| result);
    }
    if outcome.is_ok() {
        let reconcile_base = base.clone();
        outcome =
            tokio::task::spawn_blocking(move || reconcile_now(&reconcile_base, port, front_port))
                .await
                .map_err(anyhow::Error::from)
                .and_then(|result| result);
    }
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
                tokio::task::spawn_blocking(move || {
                    crate::browser::dashboard_test(&browser_base)?;
                    crate::browser::cors_test(&browser_base, &app_origin, &other_origin)
                })
                .await
                .map_err(anyhow::Error::from)
                .and_then(|result| result)
            }
            Err(err) => Err(err),
        };
    }
    front.abort();
    drop(watch);
    outcome.with_context(|| format!("cargo lambda watch log: {}", log_path.display()))
}

/// The operations only the marketplace's backend may call (`security: service`).
const MARKETPLACE_OPERATIONS: &str = "^(putScout|putOrder|recordScoutEarnings)$";

/// Fuzzes every operation of `openapi.yaml`, positive and negative: the marketplace's
/// with a service token, every other as an admin (who may call every other route).
/// Every response must conform to the spec and none may be a 5xx.
/// `SCHEMATHESIS_SEED` and `SCHEMATHESIS_MAX_EXAMPLES` change the run.
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
    let service = devkit::token::mint_service(DEV_JWT_SECRET, "marketplace-fuzz", 3600)?;
    println!("schemathesis: seed {seed}, {examples} examples per operation and phase");
    for (token, filter) in [
        (&admin, "--exclude-operation-id-regex"),
        (&service, "--include-operation-id-regex"),
    ] {
        tools::run(
            Command::new(bin.join("st"))
                .arg("run")
                .arg(paths::workspace_root().join("openapi.yaml"))
                .args(["--url", base])
                .args(["--header", &format!("Authorization: Bearer {token}")])
                .args([filter, MARKETPLACE_OPERATIONS])
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
        .context("schemathesis found responses that break openapi.yaml")?;
    }
    Ok(())
}

struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    fn new(base: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Client {
            agent,
            base: base.to_owned(),
        }
    }

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

/// What a marketplace's day left for the event path to find.
struct MarketplaceDay {
    /// Completed through `PUT /orders/{id}`.
    orders_completed: Vec<String>,
    /// Scouts credited outside an order.
    scouts_credited: Vec<String>,
    /// Scout payouts requested and paid.
    paid: Vec<String>,
}

/// A marketplace's day through its door, on an empty table, as its backend and its
/// users would: the backend creates scouts s-1 (user 7, with an opening balance) and
/// s-3 (user 12) and orders o-1 (s-1's bounty), o-3 (s-3's) and o-4, moves them on,
/// completes o-3 and cancels o-4; the seller and s-3's owner save payout accounts,
/// s-3's owner asks for the bounty, and an admin pays it. Refusals on the way: a status moving back, a
/// completed order changed, a user's token on the door, the service's token on a
/// user's route.
fn marketplace_day(api: &Client, admin: &str) -> Result<MarketplaceDay> {
    let service = devkit::token::mint_service(DEV_JWT_SECRET, "marketplace-smoke", 3600)?;
    let service = Some(service.as_str());
    let json = |value: Value| value.to_string();
    let scout_1 =
        json(serde_json::json!({"user_id": 7, "display_name": "Asha Rao", "active": true}));
    api.expect("PUT", "/scouts/s-1", service, Some(&scout_1), 201)?;
    let again = api.expect("PUT", "/scouts/s-1", service, Some(&scout_1), 200)?;
    ensure!(again["earnings_paise"] == 0, "{again}");
    api.expect(
        "PUT",
        "/scouts/s-3",
        service,
        Some(r#"{"user_id": 12, "active": true}"#),
        201,
    )?;
    let opening = json(serde_json::json!(
        {"direction": "credit", "amount_paise": 50_000, "reason": "opening_balance"}
    ));
    for expected in [201, 200] {
        let (status, entry) = api.call_with(
            "POST",
            "/scouts/s-1/earnings",
            service,
            Some(&opening),
            &[("idempotency-key", "opening-s-1")],
        )?;
        ensure!(status == expected, "{status} {entry}");
    }

    let order = |status: &str, scout: &str, bounty: u64, price: u64| {
        json(
            serde_json::json!({"buyer_id": 9, "seller_id": 8, "item_price_paise": price,
            "currency": "INR", "status": status, "scout_id": scout, "scout_bounty_paise": bounty}),
        )
    };
    api.expect(
        "PUT",
        "/orders/o-1",
        service,
        Some(&order("placed", "s-1", 6_000, 120_000)),
        201,
    )?;
    for status in ["shipped", "delivered"] {
        let moved = api.expect(
            "PUT",
            "/orders/o-1",
            service,
            Some(&order(status, "s-1", 6_000, 120_000)),
            200,
        )?;
        ensure!(moved["order"]["status"] == status, "{moved}");
    }
    let back = api.expect(
        "PUT",
        "/orders/o-1",
        service,
        Some(&order("shipped", "s-1", 6_000, 120_000)),
        409,
    )?;
    ensure!(back["error"]["code"] == "status_backwards", "{back}");

    let o3 = order("completed", "s-3", 4_995, 99_900);
    api.expect(
        "PUT",
        "/orders/o-3",
        service,
        Some(&order("placed", "s-3", 4_995, 99_900)),
        201,
    )?;
    let completed = api.expect("PUT", "/orders/o-3", service, Some(&o3), 200)?;
    ensure!(
        completed["payout"]["payout_id"] == Order::seller_payout_id("o-3").to_string().as_str(),
        "{completed}"
    );
    let replayed = api.expect("PUT", "/orders/o-3", service, Some(&o3), 200)?;
    ensure!(replayed["payout"] == completed["payout"], "{replayed}");
    let changed = api.expect(
        "PUT",
        "/orders/o-3",
        service,
        Some(&order("completed", "s-3", 4_995, 99_000)),
        409,
    )?;
    ensure!(changed["error"]["code"] == "order_closed", "{changed}");
    let s3 = api.expect(
        "PUT",
        "/scouts/s-3",
        service,
        Some(r#"{"user_id": 12, "active": true}"#),
        200,
    )?;
    ensure!(
        s3["earnings_paise"] == 4_995,
        "the bounty, credited once: {s3}"
    );
    api.expect(
        "PUT",
        "/orders/o-4",
        service,
        Some(&order("cancelled", "s-1", 0, 30_000)),
        201,
    )?;

    let owner = devkit::token::mint(DEV_JWT_SECRET, 12, Role::User, 3600)?;
    let owner = Some(owner.as_str());
    let refused = api.expect(
        "PUT",
        "/scouts/s-3",
        owner,
        Some(r#"{"user_id": 12, "active": true}"#),
        403,
    )?;
    ensure!(refused["error"]["code"] == "forbidden", "{refused}");
    api.expect("GET", "/payouts/my-payouts", service, None, 403)?;

    // The seller sets up where they are paid (no email yet: the smoke test adds one
    // later, a change that holds their payouts).
    let seller = devkit::token::mint(DEV_JWT_SECRET, PAID_USER, Role::User, 3600)?;
    let vpa = json(serde_json::json!({"type": "vpa", "name": "Vikram Singh",
        "address": "vikram@okicici"}));
    api.expect("PUT", "/me/payout-account", Some(&seller), Some(&vpa), 200)?;

    let account = json(serde_json::json!({"type": "vpa", "name": "Ravi Kumar",
        "address": "ravi@okaxis", "email": "ravi@example.com"}));
    let saved = api.expect("PUT", "/me/payout-account", owner, Some(&account), 200)?;
    if saved["hold_until"].is_string() {
        api.expect(
            "POST",
            "/users/12/payout-account/end-hold",
            Some(admin),
            None,
            200,
        )?;
    }
    let requested = api.expect("POST", "/scouts/s-3/request-payout", owner, Some("{}"), 201)?;
    ensure!(requested["amount_paise"] == 4_995, "{requested}");
    let payout_id = requested["payout_id"]
        .as_str()
        .context("payout_id")?
        .to_owned();
    let paid = api.expect(
        "POST",
        &format!("/payouts/process/{payout_id}"),
        Some(admin),
        None,
        200,
    )?;
    ensure!(paid["status"] == "completed", "{paid}");
    Ok(MarketplaceDay {
        orders_completed: vec!["o-3".to_owned()],
        scouts_credited: vec!["s-1".to_owned()],
        paid: vec![payout_id],
    })
}

/// Calls every endpoint, after a marketplace's day has made the records they act on;
/// returns the ids of the payouts completed, and the day.
fn calls(base: &str) -> Result<(Vec<String>, MarketplaceDay)> {
    let api = Client::new(base);
    let token = |user: u64, role: Role| devkit::token::mint(DEV_JWT_SECRET, user, role, 3600);
    let (scout_owner, buyer, admin) = (
        token(7, Role::User)?,
        token(9, Role::User)?,
        token(1, Role::Admin)?,
    );
    let day = marketplace_day(&api, &admin)?;

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

    // The seller has no email on file yet; with one, the events of the
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
    let mut completed = vec![seller_payout];
    completed.extend(day.paid.iter().cloned());
    Ok((completed, day))
}

/// The dev banner's way to run the processor now, word for word in a shell at the
/// workspace's root, against this watch: s-3's owner asks for a bonus the marketplace
/// credited, and the run the command starts pays it.
fn processor_now(base: &str, port: u16) -> Result<()> {
    let api = Client::new(base);
    let service = devkit::token::mint_service(DEV_JWT_SECRET, "marketplace-smoke", 3600)?;
    let bonus = serde_json::json!(
        {"direction": "credit", "amount_paise": 2_000, "reason": "bonus"}
    )
    .to_string();
    let (status, entry) = api.call_with(
        "POST",
        "/scouts/s-3/earnings",
        Some(&service),
        Some(&bonus),
        &[("idempotency-key", "processor-now-s-3")],
    )?;
    ensure!(status == 201, "{status} {entry}");
    let owner = devkit::token::mint(DEV_JWT_SECRET, 12, Role::User, 3600)?;
    let requested = api.expect(
        "POST",
        "/scouts/s-3/request-payout",
        Some(&owner),
        Some(r#"{"amount_paise": 2000}"#),
        201,
    )?;
    ensure!(requested["status"] == "pending", "{requested}");
    let payout_id = requested["payout_id"].as_str().context("payout_id")?;

    let command = crate::invoke::run_processor_now(port);
    let answer = as_typed(&command)?;
    let summary: Value = serde_json::from_str(answer.trim())
        .with_context(|| format!("`{command}` answered something not JSON: {answer}"))?;
    ensure!(
        summary["completed"].as_u64().is_some_and(|done| done >= 1),
        "`{command}` paid nothing: {summary}"
    );
    let mine = api.expect(
        "GET",
        "/payouts/my-payouts?limit=5",
        Some(&owner),
        None,
        200,
    )?;
    let paid = mine["payouts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|payout| payout["payout_id"] == payout_id)
        .with_context(|| format!("{payout_id} is not among {mine}"))?;
    ensure!(paid["status"] == "completed", "{paid}");
    println!("smoke: `{command}` → {summary}");
    Ok(())
}

/// Runs `command` as a person types it in a shell at the workspace's root: what it
/// printed, if it succeeded.
fn as_typed(command: &str) -> Result<String> {
    println!("smoke: {command}");
    let output = Command::new("sh")
        .args(["-c", command])
        .current_dir(paths::workspace_root())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running `{command}`"))?;
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    ensure!(
        output.status.success(),
        "`{command}` failed ({}): {}{}",
        output.status,
        printed.trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(printed)
}

/// The dev banner's way to reconcile a day, word for word in a shell at the workspace's
/// root, against this stack, for the day o-1's seller payout was sent: the simulated
/// bank paid it, and the signed reversal above returned it at RazorpayX's word, so the
/// two sides disagree on exactly that payout, and nothing else.
fn reconcile_now(base: &str, invoke_port: u16, api_port: u16) -> Result<()> {
    let api = Client::new(base);
    let admin = devkit::token::mint(DEV_JWT_SECRET, 1, Role::Admin, 3600)?;
    let seller_payout = Order::seller_payout_id("o-1").to_string();
    let reversed = api.expect("GET", "/payouts?status=reversed", Some(&admin), None, 200)?;
    let sent_at = reversed["payouts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|payout| payout["payout_id"] == seller_payout.as_str())
        .and_then(|payout| payout["attempt_sent_at"].as_str())
        .and_then(domain::time::Timestamp::parse)
        .with_context(|| format!("when {seller_payout} was sent: {reversed}"))?;
    let day =
        service::reconciliation::Day::containing(sent_at, service::config::DEFAULT_SCHEDULE_TZ)
            .name();
    let command = crate::invoke::reconcile_day(invoke_port, api_port, Some(&day));
    let printed = as_typed(&command)?;
    let findings: Vec<&str> = printed
        .lines()
        .filter(|line| {
            domain::reconciliation::FindingKind::ALL
                .iter()
                .any(|kind| line.trim_start().starts_with(kind.as_str()))
        })
        .collect();
    ensure!(
        findings.len() == 1
            && findings[0].trim_start().starts_with("status_mismatch")
            && findings[0].contains(&seller_payout),
        "`{command}` should find only {seller_payout} reversed here and paid at the bank:\n{printed}"
    );
    ensure!(
        printed.starts_with(&format!("{day} (")),
        "`{command}` printed no report of {day}:\n{printed}"
    );
    println!("smoke: `{command}` →\n{printed}");
    Ok(())
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
    /// Where the watch writes the functions' logs.
    watch_log: &'a std::path::Path,
}

impl EventPath<'_> {
    async fn check(&self, completed: &[String], day: &MarketplaceDay) -> Result<()> {
        let records = self.publish_stream().await?;
        let published = self.capture.drain().await?;
        println!(
            "smoke: {} stream records → {} events on {}",
            records,
            published.len(),
            self.settings.bus
        );
        expect_events(&published, completed, day)?;
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

        // Each email is recorded as sent before its invocation ends, as it is deployed;
        // under the watch's own deadline (ten minutes after the epoch) none was.
        let marked = self.emails_marked_sent(&notified).await?;
        ensure!(
            marked == sent.len(),
            "{marked} email records marked sent for {} emails sent",
            sent.len()
        );
        let log = std::fs::read_to_string(self.watch_log)
            .with_context(|| format!("reading {}", self.watch_log.display()))?;
        ensure!(
            log.contains("\"email_sent\""),
            "no email_sent among the functions' logs in {}",
            self.watch_log.display()
        );
        for unrecorded in ["email_not_marked_sent", "email_claim_lost"] {
            ensure!(
                !log.contains(unrecorded),
                "notify logged {unrecorded} (see {})",
                self.watch_log.display()
            );
        }

        // A redelivered event sends no second email: it finds its emails sent, not
        // held by a delivery that may still be sending them.
        for event in &notified {
            let answer = self.invoke(events::NOTIFY_FUNCTION, event).await?;
            ensure!(
                matches!(
                    answer["outcome"].as_str(),
                    Some("already_sent" | "no_email_address")
                ),
                "a redelivered {} answered {answer}",
                event["detail-type"]
            );
        }
        let again = self.sent_recipients().await?;
        ensure!(again == sent, "a redelivered event sent another email");
        Ok(())
    }

    /// How many of the notified events' email records are marked sent; an error for
    /// one left claimed but unmarked.
    async fn emails_marked_sent(&self, notified: &[&Value]) -> Result<usize> {
        let store = store::Store::new(
            dynamodb_local::client(self.dynamodb_endpoint).await,
            self.table,
        );
        let mut marked = 0;
        for event in notified {
            let event_id = event["detail"]["event_id"]
                .as_str()
                .with_context(|| format!("an event without detail.event_id: {event}"))?;
            let claims = [
                event_id.to_owned(),
                Recipient::Previous.claim_id(event_id),
                Recipient::New.claim_id(event_id),
            ];
            for claim in claims {
                let Some(record) = store.email_record(&claim).await? else {
                    continue;
                };
                ensure!(
                    record.state == store::EmailState::Sent && record.message_id.is_some(),
                    "the email of {claim} was sent but not recorded: {record:?}"
                );
                marked += 1;
            }
        }
        Ok(marked)
    }

    /// Every record of the stream through `publish-events`; how many there were.
    async fn publish_stream(&self) -> Result<usize> {
        let mut reader = devkit::streams::StreamReader::open(
            self.dynamodb_endpoint,
            self.table,
            devkit::streams::StartAt::TrimHorizon,
        )
        .await?
        .filtered(devkit::streams::MappingFilter::from_template()?);
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

/// At least one `payout.requested`, exactly one `payout.completed` for each payout the
/// smoke test completed, one `order.completed` for each order the marketplace
/// completed, and one `scout.credited` for each scout it credited (its credit was sent
/// twice).
fn expect_events(published: &[Value], completed: &[String], day: &MarketplaceDay) -> Result<()> {
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
    let once = |kind: &str, field: &str, ids: &[String]| -> Result<()> {
        let events = of_type(kind);
        for id in ids {
            let matching = events
                .iter()
                .filter(|event| event["detail"][field] == id.as_str())
                .count();
            ensure!(
                matching == 1,
                "{matching} {kind} events for {id}, expected 1"
            );
        }
        Ok(())
    };
    once("order.completed", "order_id", &day.orders_completed)?;
    once("scout.credited", "scout_id", &day.scouts_credited)?;
    Ok(())
}
