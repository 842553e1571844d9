//! §4 and §5: the release binaries themselves, started against a local Runtime API
//! stub — init time and instructions to the first `/next`, next to a bare
//! `lambda_runtime` function built with the same profile; stripped size, zip size,
//! and peak RSS after 1,000 warm invocations.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use api::auth::DEV_JWT_SECRET;
use devkit::paths;
use devkit::runtime_stub::RuntimeStub;

use crate::events::INGEST_FUNCTION;

use super::stats::{median, ms};

pub const BASELINE: &str = "lambda-hello";

pub struct BinaryFigures {
    pub name: String,
    pub binary_bytes: u64,
    pub zip_bytes: u64,
    pub init_ms: f64,
    pub init_instructions: Option<u64>,
    pub peak_rss_kib: Option<u64>,
}

pub fn functions() -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(paths::workspace_root().join("functions"))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Builds every function and the baseline with the release profile, in one cargo run.
pub fn build(names: &[String]) -> Result<Duration> {
    let started = Instant::now();
    let mut command = Command::new("cargo");
    command
        .args(["build", "--release", "--quiet"])
        .current_dir(paths::workspace_root());
    for name in names.iter().map(String::as_str).chain([BASELINE]) {
        command.args(["-p", name]);
    }
    crate::tools::run(&mut command)?;
    Ok(started.elapsed())
}

fn binary(name: &str) -> PathBuf {
    paths::workspace_root().join("target/release").join(name)
}

/// The deployment zip: the binary as `bootstrap`, deflated (what `cargo lambda build
/// --output-format zip` produces), measured with Python's zipfile to need no `zip`.
fn zip_size(name: &str) -> Result<u64> {
    let out = paths::local_dir().join("bench").join(format!("{name}.zip"));
    std::fs::create_dir_all(out.parent().context("bench dir")?)?;
    let script = "import sys, zipfile\n\
                  with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:\n\
                  \x20   z.write(sys.argv[1], 'bootstrap')\n";
    crate::tools::run(
        Command::new("python3")
            .args(["-c", script])
            .arg(binary(name))
            .arg(&out),
    )?;
    Ok(std::fs::metadata(&out)?.len())
}

/// What every measured function is given, beside `extra` (the payout account keys).
fn environment(
    name: &str,
    stub: &RuntimeStub,
    dynamodb: &str,
    table: &str,
    extra: &[(&'static str, String)],
) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", stub.address()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.to_owned()),
        ("PAYOUTS_TABLE", table.to_owned()),
        ("STAGE", service::config::LOCAL_STAGE.to_owned()),
        ("JWT_SECRET", DEV_JWT_SECRET.to_owned()),
        ("GATEWAY_SIM_LATENCY_MS", "0".to_owned()),
        ("GATEWAY_SIM_SUCCESS_RATE", "1".to_owned()),
    ]
    .into_iter()
    // The local region and keys every local client uses: DynamoDB Local and moto keep
    // each region's tables and resources apart, and the demo table, the bus and the
    // sealing keys were made in that one (in another, every function found no table, and
    // publish-events no bus: it retried every batch until the bench timed out).
    .chain(
        devkit::dynamodb_local::LOCAL_ENV
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned())),
    )
    .chain(extra.iter().cloned())
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn spawn(program: &Path, args: &[String], env: &[(String, String)]) -> Result<Child> {
    Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().cloned())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", program.display()))
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Wall time from exec to the first `/next`, the median of `runs`.
fn init_wall(
    name: &str,
    runs: usize,
    dynamodb: &str,
    table: &str,
    extra: &[(&'static str, String)],
) -> Result<f64> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let stub = RuntimeStub::start(Vec::new())?;
        let env = environment(name, &stub, dynamodb, table, extra);
        let started = Instant::now();
        let child = spawn(&binary(name), &[], &env)?;
        let first = stub.wait_first_next(Duration::from_secs(20));
        stop(child);
        let first = first.with_context(|| format!("{name} never asked for an event"))?;
        samples.push(first - started);
    }
    Ok(ms(median(&samples)))
}

/// Instructions from exec to the first `/next`, counted by callgrind: repeatable
/// whatever else the machine is doing. `None` when valgrind is not installed.
fn init_instructions(
    name: &str,
    dynamodb: &str,
    table: &str,
    extra: &[(&'static str, String)],
) -> Result<Option<u64>> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        return Ok(None);
    }
    let out = paths::local_dir()
        .join("bench")
        .join(format!("callgrind.{name}.out"));
    let _ = std::fs::remove_file(&out);
    let stub = RuntimeStub::start(Vec::new())?;
    let env = environment(name, &stub, dynamodb, table, extra);
    let args = vec![
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", out.display()),
        binary(name).display().to_string(),
    ];
    let child = spawn(Path::new("valgrind"), &args, &env)?;
    let first = stub.wait_first_next(Duration::from_secs(120));
    stop(child);
    first.with_context(|| format!("{name} never asked for an event under valgrind"))?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    let total = text
        .lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok());
    Ok(total)
}

/// Peak RSS (VmHWM) of the function after serving `count` copies of its sample event
/// (the first, for ingest-marketplace, the event of the scout its order names).
fn peak_rss(
    name: &str,
    count: usize,
    dynamodb: &str,
    table: &str,
    extra: &[(&'static str, String)],
) -> Result<Option<u64>> {
    // The bare baseline echoes whatever it is given: the schedule's event will do.
    let sample = paths::sample_event(if name == BASELINE {
        "process-pending"
    } else {
        name
    });
    let event = read_event(&sample)?;
    let mut events = match served_first(name) {
        Some(first) => vec![read_event(&paths::sample_event(first))?],
        None => Vec::new(),
    };
    events.extend(std::iter::repeat_n(
        event,
        count.saturating_sub(events.len()),
    ));
    let stub = RuntimeStub::start(events)?;
    let env = environment(name, &stub, dynamodb, table, extra);
    let child = spawn(&binary(name), &[], &env)?;
    let pid = child.id();
    let served = stub.wait_responses(count as u64, Duration::from_secs(300));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    stop(child);
    if !served {
        bail!("{name} did not answer {count} invocations");
    }
    // An invocation that fails measures the failure, not the function's work.
    let answers = stub.answers();
    let failed: Vec<&String> = answers.iter().filter(|answer| failed(answer)).collect();
    if let Some(last) = failed.last() {
        bail!(
            "{name} failed {} of {count} invocations; the last: {last}",
            failed.len()
        );
    }
    if stub.errors() > 0 {
        bail!(
            "{name} reported {} of {count} invocations as errors",
            stub.errors()
        );
    }
    Ok(status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok()))
}

/// The sample event a function must be served before its own, for the scout its own
/// names: the demo data has not the marketplace's, and the function takes both kinds.
fn served_first(name: &str) -> Option<&'static str> {
    match name {
        INGEST_FUNCTION => Some("ingest-marketplace-scout"),
        _ => None,
    }
}

/// The scout `events/put-scout.json` makes and `events/put-order.json` orders for, and
/// its user: made before the binaries run, since put-order runs before put-scout.
const SAMPLE_SCOUT: (&str, u64) = ("s-9", 21);

/// An answer that is a failure: an error the runtime was told of, a 5xx, or a stream
/// batch handed back (publish-events answers a bus it cannot reach so, not as an error).
fn failed(answer: &str) -> bool {
    let Ok(answer) = serde_json::from_str::<serde_json::Value>(answer) else {
        return false;
    };
    let server_error = answer
        .get("statusCode")
        .and_then(serde_json::Value::as_u64)
        .is_some_and(|status| status >= 500);
    let batch_failed = answer
        .get("batchItemFailures")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|failures| !failures.is_empty());
    answer.get("errorType").is_some() || server_error || batch_failed
}

fn read_event(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// What `--quick` builds and measures: one API function and the processor are enough
/// to prove the measurement still works, without a release build of every function
/// (the longest step of `cargo xtask test` on a fresh machine).
const QUICK_FUNCTIONS: [&str; 2] = ["request-scout-payout", "process-pending"];

pub async fn run(
    dynamodb: &str,
    vault: &platform::vault::Vault,
    account_keys: &[(&'static str, String)],
    quick: bool,
) -> Result<(Vec<BinaryFigures>, Duration)> {
    let names = if quick {
        QUICK_FUNCTIONS
            .iter()
            .map(|name| (*name).to_owned())
            .collect()
    } else {
        functions()?
    };
    let build_time = build(&names)?;

    // The demo data on its own table, so the sample events find what they name.
    let table = devkit::fixture::demo_table(dynamodb, vault, "bench-bin").await?;
    let (scout, user) = SAMPLE_SCOUT;
    store::Store::new(devkit::dynamodb_local::client(dynamodb).await, &table)
        .insert_scout(&domain::scout::Scout::with_earnings(
            scout,
            user,
            domain::money::Paise(0),
        ))
        .await?;

    let (runs, invocations) = if quick { (1, 50) } else { (5, 1000) };
    let mut figures = Vec::new();
    for name in std::iter::once(BASELINE.to_owned()).chain(names) {
        let name_ref = name.as_str();
        let (dynamodb, table) = (dynamodb.to_owned(), table.clone());
        let name_owned = name.clone();
        let extra = account_keys.to_vec();
        let measured = tokio::task::spawn_blocking(move || -> Result<BinaryFigures> {
            let name = name_owned.as_str();
            Ok(BinaryFigures {
                name: name.to_owned(),
                binary_bytes: std::fs::metadata(binary(name))?.len(),
                zip_bytes: zip_size(name)?,
                init_ms: init_wall(name, runs, &dynamodb, &table, &extra)?,
                init_instructions: if quick {
                    None
                } else {
                    init_instructions(name, &dynamodb, &table, &extra)?
                },
                peak_rss_kib: peak_rss(name, invocations, &dynamodb, &table, &extra)?,
            })
        })
        .await??;
        println!("bench: {name_ref} measured");
        figures.push(measured);
    }
    Ok((figures, build_time))
}
