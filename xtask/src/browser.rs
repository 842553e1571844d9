//! The operators' dashboard in a real browser: Debian's Chromium, driven by Playwright
//! for Python (`xtask/browser/`). Playwright because it waits for the page by itself,
//! reports every console message and page error, and takes screenshots, with nothing
//! to download beyond PyPI: it launches the system Chromium (`executable_path`), never
//! a browser of its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use api::auth::DEV_JWT_SECRET;
use devkit::paths;
use domain::actor::{Actor, Role};
use domain::money::Paise;
use service::scout::{request_payout, PayoutRequest, Scout};
use store::Store;

use crate::tools;

/// Playwright for Python, pinned, from PyPI into `.local/venv`.
pub const PLAYWRIGHT: &str = "playwright==1.65.2";

/// Debian's Chromium, installed with apt if it is not there yet.
pub fn chromium() -> Result<PathBuf> {
    let path = PathBuf::from("/usr/bin/chromium");
    if path.is_file() {
        return Ok(path);
    }
    devkit::apt::install(&["chromium"])?;
    if !path.is_file() {
        bail!("{} is missing after installing chromium", path.display());
    }
    Ok(path)
}

fn processing(batch_size: usize) -> service::config::ProcessorConfig {
    service::config::ProcessorConfig {
        batch_size,
        concurrency: 2,
        lease_secs: 300,
        poll_secs: 60,
        drain: None,
        validate_accounts: false,
    }
}

fn script(name: &str) -> PathBuf {
    paths::workspace_root().join("xtask/browser").join(name)
}

fn run_script(name: &str, envs: &[(&str, &str)]) -> Result<()> {
    let chromium = chromium()?;
    let python = tools::python_with(PLAYWRIGHT, "playwright")?;
    let mut command = Command::new(python);
    command
        .arg(script(name))
        .env("CHROMIUM", &chromium)
        .current_dir(paths::workspace_root());
    for (name, value) in envs {
        command.env(name, value);
    }
    tools::run(&mut command)
}

/// The scout, and its owner, whose page the CORS test plays.
const WEB_APP_SCOUT: &str = "s-web-app";
const WEB_APP_OWNER: u64 = 79;

/// Failed and pending payouts of a scout of its own, so that the browser has one to
/// retry and one to cancel whatever the API's earlier callers left.
pub async fn prepare(
    store: &Store,
    gateway_store: &Store,
    vault: &platform::vault::Vault,
) -> Result<()> {
    let owner = 77;
    store
        .insert_scout(&Scout::with_earnings("s-browser", owner, Paise(50_000_000)))
        .await?;
    let limits = service::config::PayoutLimits {
        min: Paise(1),
        max: Paise(100_000_000),
    };
    let mut made = Vec::new();
    // ₹1,23,456.78 shows the Indian grouping; the rest are everyday amounts. Enough
    // stay actionable after the test's retry, its conflict and its cancel for the
    // keyboard check that follows them.
    for amount in [12_345_678, 250_000, 99_900, 45_000, 10_000, 5_000] {
        let requested = request_payout(
            store,
            limits,
            &Actor::user(owner),
            PayoutRequest {
                scout_id: "s-browser".to_owned(),
                amount: Some(Paise(amount)),
                idempotency_key: None,
            },
        )
        .await?;
        made.push(requested.payout().clone());
    }
    let declining = gateway::SimulatedGateway::new(
        gateway_store.clone(),
        service::config::SimulatedGatewayConfig {
            success_rate: 0.0,
            latency_ms: 0,
            seed: Some(1),
        },
    );
    // A user who has just changed their payout account: their payout is held, and the
    // dashboard says until when.
    let held = 78;
    store
        .insert_scout(&Scout::with_earnings(
            "s-browser-held",
            held,
            Paise(1_000_000),
        ))
        .await?;
    for number in ["765432123456789", "112233445566"] {
        let account = service::account::NewPayoutAccount {
            name: "Held Payee".to_owned(),
            destination: service::account::Destination::BankAccount {
                ifsc: "HDFC0000053".to_owned(),
                account_number: number.to_owned(),
            },
            email: None,
        };
        service::account::save_payout_account(store, vault, &Actor::user(held), account, 86_400)
            .await?;
    }
    request_payout(
        store,
        limits,
        &Actor::user(held),
        PayoutRequest {
            scout_id: "s-browser-held".to_owned(),
            amount: Some(Paise(77_700)),
            idempotency_key: None,
        },
    )
    .await?;
    // The marketplace web app's scout (the CORS test): one of its own, because the
    // fuzzing before it may deactivate or drain the documented example scout s-1.
    store
        .insert_scout(&Scout::with_earnings(
            WEB_APP_SCOUT,
            WEB_APP_OWNER,
            Paise(1_000_000),
        ))
        .await?;
    let config = processing(10);
    // Two declined (failed, to retry), the others left pending (to cancel).
    for payout in &made[..2] {
        devkit::admin::process_payout(
            store,
            &declining,
            config,
            &Actor::admin(1),
            payout.payout_id,
        )
        .await?;
    }
    Ok(())
}

/// The page's ₹ formatting against Node's own `en-IN` grouping
/// (`xtask/browser/format_test.mjs`), then `xtask/browser/dashboard_test.py` against the
/// API at `base`.
pub fn dashboard_test(base: &str) -> Result<()> {
    tools::run(Command::new("node").arg(script("format_test.mjs")).env(
        "DASHBOARD_FORMAT_JS",
        paths::workspace_root().join("shared/api/src/dashboard/script/format.js"),
    ))
    .context("the dashboard's rupee formatting")?;
    let admin = devkit::token::mint(DEV_JWT_SECRET, 1, Role::Admin, 3600)?;
    let user = devkit::token::mint(DEV_JWT_SECRET, 7, Role::User, 3600)?;
    run_script(
        "dashboard_test.py",
        &[
            ("DASHBOARD_URL", &format!("{base}/admin")),
            ("API_BASE", base),
            ("ADMIN_TOKEN", &admin),
            ("USER_TOKEN", &user),
        ],
    )
    .context("the dashboard failed in the browser")
}

/// A marketplace web app on its own origin, in headless Chromium, against the API at
/// `base` (through the front, which allows `allowed` and no other origin): from
/// `allowed`, a scout's owner lists their payouts and requests one (a preflighted
/// request, its replay header readable); from `other` the browser is refused the same
/// calls (`xtask/browser/cors_test.py`, which serves the app's page at both).
pub fn cors_test(base: &str, allowed: &str, other: &str) -> Result<()> {
    let user = devkit::token::mint(DEV_JWT_SECRET, WEB_APP_OWNER, Role::User, 3600)?;
    run_script(
        "cors_test.py",
        &[
            ("API_BASE", base),
            ("ALLOWED_ORIGIN", allowed),
            ("OTHER_ORIGIN", other),
            ("USER_TOKEN", &user),
            ("SCOUT_ID", WEB_APP_SCOUT),
        ],
    )
    .context("a web app on another origin could not use the API as CORS allows")
}

/// `cargo xtask screenshot`: the dashboard over the demo data, as `docs/dashboard.png`.
pub async fn screenshot(out: &Path) -> Result<()> {
    let (endpoint, _dynamodb) = crate::servers::dynamodb_for_run("dynamodb-local-screenshot.log")?;
    let (moto_endpoint, _moto) = crate::servers::moto_for_run("moto-screenshot.log")?;
    let (vault, _) = devkit::moto::local_vault(&moto_endpoint).await?;
    let table = devkit::fixture::demo_table(&endpoint, &vault, "screenshot").await?;
    let client = devkit::dynamodb_local::client(&endpoint).await;
    let store = Store::new(client, &table);
    prepare(&store, &store, &vault).await?;
    // Two of the demo's pending payouts paid, so that the picture has every kind.
    let paying = gateway::SimulatedGateway::new(
        store.clone(),
        service::config::SimulatedGatewayConfig {
            success_rate: 1.0,
            latency_ms: 0,
            seed: Some(1),
        },
    );
    service::process::Processor::new(&store, &paying, processing(2))
        .run()
        .await?;
    let (mut config, gateway) = devkit::testing::local_parts(&[
        ("GATEWAY_SIM_LATENCY_MS", "0"),
        ("GATEWAY_SIM_SUCCESS_RATE", "1.0"),
    ])?;
    config.table_name = table;
    let api = Arc::new(devkit::api::Api::with_config(config, &gateway, store));
    let (addr, server) = devkit::api::serve_http(api).await?;
    let admin = devkit::token::mint(DEV_JWT_SECRET, 1, Role::Admin, 3600)?;
    let out_text = out.display().to_string();
    let base = format!("http://{addr}");
    let result = tokio::task::spawn_blocking(move || {
        run_script(
            "screenshot.py",
            &[
                ("DASHBOARD_URL", &format!("{base}/admin")),
                ("ADMIN_TOKEN", &admin),
                ("OUT", &out_text),
            ],
        )
    })
    .await?;
    server.abort();
    result?;
    println!("wrote {}", out.display());
    Ok(())
}
