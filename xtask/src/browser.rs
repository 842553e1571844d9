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
use domain::payout::{IdempotencyKey, PayoutStatus};
use domain::reconciliation::FindingKind;
use domain::time::Timestamp;
use gateway::TransferOutcome;
use service::reconciliation::{reconcile_day, Day};
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
/// retry and one to cancel whatever the API's earlier callers left; and today
/// reconciled, with findings, for the reconciliation panel.
pub async fn prepare(
    store: &Store,
    gateway_store: &Store,
    vault: &platform::vault::Vault,
) -> Result<()> {
    prepare_world(store, gateway_store, vault).await.map(|_| ())
}

/// What [`prepare`] makes; answers the day it reconciled (`YYYY-MM-DD`).
async fn prepare_world(
    store: &Store,
    gateway_store: &Store,
    vault: &platform::vault::Vault,
) -> Result<String> {
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
    reconciled_day(store, gateway_store, limits).await
}

/// The scout, and its owner, whose payouts the reconciled day is about.
const RECONCILED_SCOUT: &str = "s-browser-reconciled";
const RECONCILED_OWNER: u64 = 76;

/// Today reconciled, with the simulated bank's own mistakes for the dashboard's
/// reconciliation panel to show (`shared/service/tests/reports.rs` makes the same):
/// four payouts of a scout of its own paid, then a transfer for nobody of ours
/// (`unknown_to_us`), one of ours forgotten (`missing_at_gateway`), one paid twice
/// (`paid_twice`), each left for a person, and one sent back by the bank that no
/// webhook told us of (`status_mismatch`, repaired: the payout is `reversed`). Today,
/// in the default operator's zone, is the day: the bank's ledger dates its transfers
/// now (the smoke test may have reconciled it already: this is its second run).
/// Answers the day, `YYYY-MM-DD`.
async fn reconciled_day(
    store: &Store,
    gateway_store: &Store,
    limits: service::config::PayoutLimits,
) -> Result<String> {
    store
        .insert_scout(&Scout::with_earnings(
            RECONCILED_SCOUT,
            RECONCILED_OWNER,
            Paise(1_000_000),
        ))
        .await?;
    let bank = devkit::testing::gateway(gateway_store, 1.0);
    let mut paid = Vec::new();
    for amount in [11_000, 12_500, 30_000, 47_550] {
        let requested = request_payout(
            store,
            limits,
            &Actor::user(RECONCILED_OWNER),
            PayoutRequest {
                scout_id: RECONCILED_SCOUT.to_owned(),
                amount: Some(Paise(amount)),
                idempotency_key: None,
            },
        )
        .await?;
        let payout = devkit::admin::process_payout(
            store,
            &bank,
            processing(10),
            &Actor::admin(1),
            requested.payout().payout_id,
        )
        .await?;
        if payout.status != PayoutStatus::Completed {
            bail!(
                "the paying bank left payout {} {:?}",
                payout.payout_id,
                payout.status
            );
        }
        paid.push(payout);
    }
    let stranger = uuid::Uuid::new_v4();
    bank.book_by_hand(
        &IdempotencyKey::for_attempt(stranger, 1),
        stranger,
        Paise(5_000),
        TransferOutcome::Paid {
            reference: "UTR-BY-HAND-1".to_owned(),
            gateway_payout_id: None,
        },
    )
    .await?;
    bank.forget_by_hand(&paid[0].idempotency_key()).await?;
    bank.book_by_hand(
        &IdempotencyKey::for_attempt(paid[1].payout_id, 9),
        paid[1].payout_id,
        paid[1].amount_paise,
        TransferOutcome::Paid {
            reference: "UTR-TWICE-9".to_owned(),
            gateway_payout_id: None,
        },
    )
    .await?;
    bank.book_by_hand(
        &paid[2].idempotency_key(),
        paid[2].payout_id,
        paid[2].amount_paise,
        TransferOutcome::Reversed {
            reason: "beneficiary account closed".to_owned(),
        },
    )
    .await?;
    let now = Timestamp::now();
    let day = Day::containing(now, service::config::DEFAULT_SCHEDULE_TZ);
    let run = reconcile_day(store, &bank, day, now, None).await?;
    let kinds: Vec<FindingKind> = run
        .new_findings
        .iter()
        .map(|finding| finding.kind)
        .collect();
    for wanted in [
        FindingKind::UnknownToUs,
        FindingKind::MissingAtGateway,
        FindingKind::PaidTwice,
        FindingKind::StatusMismatch,
    ] {
        if !kinds.contains(&wanted) {
            bail!("the reconciled day has no {wanted:?} finding: {kinds:?}");
        }
    }
    Ok(day.name())
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
    let reconciled = prepare_world(&store, &store, &vault).await?;
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
                ("RECONCILED_DATE", &reconciled),
            ],
        )
    })
    .await?;
    server.abort();
    result?;
    println!("wrote {}", out.display());
    Ok(())
}
