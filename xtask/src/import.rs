//! `cargo xtask import --scouts FILE --orders FILE [--dry-run] [--complete-orders]
//! [--restart]`: a marketplace that already has history, loaded into `PAYOUTS_TABLE`
//! through the marketplace's own use cases (`devkit::import` reads the files;
//! docs/MARKETPLACE.md).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use devkit::import::{FileReport, ImportRun, Kind};
use domain::actor::ServiceCaller;
use service::config::StageConfig;
use service::marketplace::import::Importer;

const USAGE: &str = "usage: cargo xtask import [--scouts FILE] [--orders FILE] [--dry-run] \
                     [--complete-orders] [--restart]";

/// Who imported records are written as.
const IMPORT_CLIENT: &str = "import";

/// How many refusals the summary lists; all of them go to the refusals file.
const REFUSALS_SHOWN: usize = 20;

pub async fn run(args: &[String]) -> Result<()> {
    let mut scouts = None;
    let mut orders = None;
    let (mut dry_run, mut complete_orders, mut restart) = (false, false, false);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--scouts" => scouts = Some(PathBuf::from(args.next().context(USAGE)?)),
            "--orders" => orders = Some(PathBuf::from(args.next().context(USAGE)?)),
            "--dry-run" => dry_run = true,
            "--complete-orders" => complete_orders = true,
            "--restart" => restart = true,
            other => bail!("unknown flag `{other}`\n{USAGE}"),
        }
    }
    if scouts.is_none() && orders.is_none() {
        bail!(USAGE);
    }
    let config = StageConfig::from_env(true)?;
    let store = store::Store::new(crate::sdk_client().await, &config.table_name);
    let importer = Importer {
        store: &store,
        limits: config.limits,
        caller: ServiceCaller {
            client_id: IMPORT_CLIENT.to_owned(),
        },
        dry_run,
        planned_scouts: Default::default(),
        complete_orders,
    };
    let state_dir = devkit::paths::local_dir().join("import");
    let import = ImportRun {
        importer: &importer,
        state_dir: (!dry_run).then(|| state_dir.clone()),
        restart,
        show_progress: true,
    };
    println!(
        "{} {} (stage {}){}",
        if dry_run {
            "checking against"
        } else {
            "importing into"
        },
        config.table_name,
        config.stage.as_deref().unwrap_or("not set"),
        if dry_run {
            ": a dry run, nothing is written"
        } else {
            ""
        },
    );
    // Scouts first: orders name them.
    let mut refused = 0;
    for (kind, path) in [(Kind::Scouts, &scouts), (Kind::Orders, &orders)] {
        let Some(path) = path else {
            continue;
        };
        let report = import.file(kind, path).await?;
        refused += report.refused.len();
        print_report(kind, path, &report, dry_run);
        if !report.refused.is_empty() {
            let file = state_dir.join(format!(
                "refused-{}-{}.jsonl",
                kind.as_str(),
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ));
            std::fs::create_dir_all(&state_dir)?;
            let lines: Vec<String> = report
                .refused
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<_, _>>()?;
            std::fs::write(&file, lines.join("\n") + "\n")?;
            println!("  every refusal: {}", file.display());
        }
    }
    if refused > 0 {
        println!(
            "{refused} records refused and not written; correct them and run the same command \
             again (every record is gone through again; what was written stays unchanged)"
        );
    }
    Ok(())
}

fn print_report(kind: Kind, path: &std::path::Path, report: &FileReport, dry_run: bool) {
    let (created, updated) = if dry_run {
        ("would create", "would update")
    } else {
        ("created", "updated")
    };
    println!(
        "{} ({}): {} records{}: {created} {}, {updated} {}, unchanged {}, refused {}",
        kind.as_str(),
        path.display(),
        report.records,
        if report.resumed_past > 0 {
            format!(" ({} done by an earlier run, skipped)", report.resumed_past)
        } else {
            String::new()
        },
        report.created,
        report.updated,
        report.unchanged,
        report.refused.len()
    );
    for refusal in report.refused.iter().take(REFUSALS_SHOWN) {
        println!(
            "  line {} ({}): {}",
            refusal.line, refusal.id, refusal.reason
        );
    }
    if report.refused.len() > REFUSALS_SHOWN {
        println!("  … and {} more", report.refused.len() - REFUSALS_SHOWN);
    }
}
