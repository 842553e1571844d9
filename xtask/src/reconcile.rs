//! `cargo xtask reconcile [--date YYYY-MM-DD]`: the `reconcile` function of the running
//! dev stack, for a day (yesterday in `PAYOUT_SCHEDULE_TZ` by default), with the
//! gateway the stack runs with; then the day's report and findings as the table holds
//! them. A deployed stage's is invoked with the AWS CLI (docs/OPERATIONS.md).

use anyhow::{bail, Context, Result};
use devkit::{dynamodb_local, paths};
use domain::reconciliation::{Action, Report};

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
    let config = service::config::StageConfig::from_env(false)?;
    let store = store::Store::new(crate::sdk_client().await, &config.table_name);
    let findings = store.all_findings(&report.date).await?;
    print!("{}", describe(&report));
    for finding in &findings {
        let action = match &finding.action {
            Action::Repaired { transition } => format!("repaired ({transition})"),
            Action::LeftForPerson => "left for a person".to_owned(),
        };
        let payout = finding
            .payout_id()
            .map_or_else(|| "-".to_owned(), |id| id.to_string());
        println!(
            "  {:<21} {:<38} {:<24} {action}: {}",
            finding.kind.as_str(),
            payout,
            finding.subject,
            finding.detail
        );
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
