//! `cargo xtask reconcile [--date YYYY-MM-DD]`: the `reconcile` function of the running
//! dev stack, for a day (yesterday in `PAYOUT_SCHEDULE_TZ` by default), with the
//! gateway the stack runs with; then the day's report, and its findings as the stack's
//! API serves them (`GET /admin/reconciliation`). A deployed stage's is invoked with the
//! AWS CLI (docs/OPERATIONS.md).

use anyhow::{bail, Context, Result};
use api::auth::DEV_JWT_SECRET;
use devkit::{dynamodb_local, paths};
use domain::reconciliation::Report;

use crate::{invoke, tools};

pub const USAGE: &str = "usage: cargo xtask reconcile [--date YYYY-MM-DD]";

pub async fn run(args: &[String]) -> Result<()> {
    let date = match args {
        [] => None,
        [flag, date] if flag == "--date" => Some(date.clone()),
        _ => bail!("{USAGE}"),
    };
    if let Some(date) = &date {
        if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
            bail!("`{date}` is not a date (YYYY-MM-DD)\n{USAGE}");
        }
    }
    let port = invoke::port()?;
    if !dynamodb_local::is_listening(port) {
        bail!(
            "nothing listens on 127.0.0.1:{port}: the dev stack is not running; start it \
             with `cargo xtask dev` (or set INVOKE_PORT to the port its banner names)"
        );
    }
    // The schedule's event names no date (the function takes the day before its time);
    // an operator's names the one asked for.
    let event = match &date {
        Some(date) => serde_json::json!({ "date": date }),
        None => serde_json::json!({ "time": domain::time::Timestamp::now().to_string() }),
    };
    let request = paths::local_dir().join("reconcile-request.json");
    std::fs::create_dir_all(paths::local_dir())?;
    std::fs::write(&request, serde_json::to_vec(&event)?)?;
    let lambda_bin = tools::cargo_lambda()?;
    let output = invoke::lambda_invoke(&lambda_bin, port, "reconcile", &request)
        .output()
        .await
        .context("running cargo lambda invoke")?;
    if !output.status.success() {
        bail!(
            "reconcile failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let report: Report = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "reconcile answered what is not a report: {}",
            String::from_utf8_lossy(&output.stdout).trim()
        )
    })?;
    print!("{}", describe(&report));
    // The findings as an admin reads them: through the stack's own API.
    let base = format!("http://127.0.0.1:{}", invoke::api_port()?);
    let admin = devkit::token::mint(DEV_JWT_SECRET, 1, domain::actor::Role::Admin, 600)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/admin/reconciliation?date={}", report.date);
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let mut response = agent
            .get(&url)
            .header("authorization", &format!("Bearer {admin}"))
            .call()
            .with_context(|| format!("GET {url}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string()?;
        if status != 200 {
            bail!("GET {url} answered {status}: {text}");
        }
        let page: serde_json::Value = serde_json::from_str(&text)?;
        for finding in page["findings"].as_array().into_iter().flatten() {
            let action = match finding["transition"].as_str() {
                Some(transition) => format!("repaired ({transition})"),
                None => "left for a person".to_owned(),
            };
            println!(
                "  {:<21} {:<38} {:<24} {action}: {}",
                finding["kind"].as_str().unwrap_or_default(),
                finding["payout_id"].as_str().unwrap_or("-"),
                finding["subject"].as_str().unwrap_or_default(),
                finding["detail"].as_str().unwrap_or_default(),
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    Ok(())
}

/// The report in a few lines.
fn describe(report: &Report) -> String {
    let side = |name: &str, totals: &domain::reconciliation::SideTotals| {
        format!(
            "  {name:<9} {} payouts: {} paid ({} paise), {} not paid, {} on their way\n",
            totals.payouts, totals.paid, totals.paid_paise, totals.not_paid, totals.in_flight
        )
    };
    let mut text = format!(
        "{} ({}, {} to {}) against {}, run {}:\n",
        report.date,
        report.time_zone,
        report.window_from,
        report.window_to,
        report.gateway,
        report.runs
    );
    text.push_str(&side("ours", &report.ours));
    text.push_str(&side("gateway", &report.theirs));
    if let Some(statement) = &report.statement {
        text.push_str(&format!(
            "  statement {} lines: {} paise debited, {} paise credited\n",
            statement.lines, statement.debited_paise, statement.credited_paise
        ));
    }
    let matched: Vec<String> = report
        .matched
        .iter()
        .map(|(status, count)| format!("{count} {status}"))
        .collect();
    text.push_str(&format!(
        "  matched   {}\n  findings  {} repaired, {} left for a person\n",
        if matched.is_empty() {
            "none".to_owned()
        } else {
            matched.join(", ")
        },
        report.repaired,
        report.left_for_person
    ));
    text
}
