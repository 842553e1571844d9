//! `cargo test --workspace --all-targets`, run one test binary at a time, each binary
//! that uses DynamoDB Local on one that holds nothing of the binaries before it.
//!
//! DynamoDB Local slows with every table ever made in it ([`Dynamo::renew`]): on one
//! instance for the whole suite (~700 tables) the later binaries ran 5 to 15 times
//! slower than alone (listing: 134 s, 12.6 s on an instance of its own). Deleting the
//! tables does not help; a new process does.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use devkit::dynamodb_local;
use serde::Deserialize;

use crate::servers::Dynamo;

/// One test executable as cargo built it.
struct TestBinary {
    executable: PathBuf,
    /// Where cargo runs it: its package's directory.
    package_dir: PathBuf,
    /// `src/lib.rs`, `tests/listing.rs`, …: what cargo's "Running" line names.
    source: String,
}

/// The part of a `compiler-artifact` message of `cargo --message-format=json` read here.
#[derive(Deserialize)]
struct Artifact {
    reason: String,
    #[serde(default)]
    executable: Option<PathBuf>,
    #[serde(default)]
    manifest_path: Option<PathBuf>,
    #[serde(default)]
    profile: Option<Profile>,
    #[serde(default)]
    target: Option<Target>,
}

#[derive(Deserialize)]
struct Profile {
    test: bool,
}

#[derive(Deserialize)]
struct Target {
    src_path: PathBuf,
}

/// Builds every test target, then runs each binary in turn with `env`, in its package's
/// directory as cargo does, stopping at the first that fails. `args` are `cargo test`'s
/// options (`-p service`, `--test listing`), then after a `--` each binary's (a name
/// filter, `--nocapture`); a test name given to cargo itself is not passed on. After a
/// binary that left a table in a DynamoDB Local this run started, the next gets a new
/// one.
pub async fn run(
    root: &Path,
    args: &[String],
    env: &[(&str, String)],
    dynamo: &mut Dynamo,
) -> Result<()> {
    let (cargo_args, binary_args) = split_args(args);
    let binaries = build(root, cargo_args)?;
    let started = Instant::now();
    let mut restarts = 0;
    for binary in &binaries {
        let shown = binary
            .executable
            .strip_prefix(root)
            .unwrap_or(&binary.executable);
        eprintln!("     Running {} ({})", binary.source, shown.display());
        let status = Command::new(&binary.executable)
            .args(binary_args)
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .env("AWS_ENDPOINT_URL_DYNAMODB", dynamo.endpoint())
            .current_dir(&binary.package_dir)
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("running {}", binary.executable.display()))?;
        if !status.success() {
            bail!(
                "{} ({}) failed: {status}",
                binary.source,
                binary.package_dir.display()
            );
        }
        if matches!(dynamo, Dynamo::Own { .. })
            && holds_tables(&dynamo.endpoint()).await?
            && dynamo.renew()?
        {
            restarts += 1;
        }
    }
    eprintln!(
        "\n{} test binaries in {:.0} s; a new DynamoDB Local after each of the {restarts} that left tables in it",
        binaries.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo xtask test -- <cargo's> [-- <each binary's>]`: the first `--` is xtask's own.
fn split_args(args: &[String]) -> (&[String], &[String]) {
    let args = args.strip_prefix(&["--".to_owned()]).unwrap_or(args);
    match args.iter().position(|arg| arg == "--") {
        Some(at) => (&args[..at], &args[at + 1..]),
        None => (args, &[]),
    }
}

/// `cargo test --no-run` with cargo's JSON messages (`--workspace --all-targets` unless
/// told which): the test executables, in the order of their packages' directories and
/// sources (a stable order, as cargo's own is).
fn build(root: &Path, cargo_args: &[String]) -> Result<Vec<TestBinary>> {
    // cargo's `--all-targets` would override a `--test` given.
    let everything = ["--workspace".to_owned(), "--all-targets".to_owned()];
    let targets = if cargo_args.is_empty() {
        &everything[..]
    } else {
        cargo_args
    };
    let output = Command::new("cargo")
        .args([
            "test",
            "--no-run",
            "--message-format",
            "json-render-diagnostics",
        ])
        .args(targets)
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo test --no-run")?;
    if !output.status.success() {
        bail!("cargo test --no-run failed: {}", output.status);
    }
    let binaries = test_binaries(&String::from_utf8_lossy(&output.stdout))?;
    if binaries.is_empty() {
        bail!("cargo test --no-run built no test binary");
    }
    Ok(binaries)
}

/// The test executables cargo's JSON `messages` name, sorted, each once.
fn test_binaries(messages: &str) -> Result<Vec<TestBinary>> {
    let mut binaries = Vec::new();
    for line in messages.lines() {
        let Ok(artifact) = serde_json::from_str::<Artifact>(line) else {
            continue;
        };
        if artifact.reason != "compiler-artifact" {
            continue;
        }
        let (Some(executable), Some(manifest), Some(profile), Some(target)) = (
            artifact.executable,
            artifact.manifest_path,
            artifact.profile,
            artifact.target,
        ) else {
            continue;
        };
        if !profile.test {
            continue;
        }
        let package_dir = manifest
            .parent()
            .context("a manifest path without a directory")?
            .to_path_buf();
        let source = target
            .src_path
            .strip_prefix(&package_dir)
            .unwrap_or(&target.src_path)
            .display()
            .to_string();
        binaries.push(TestBinary {
            executable,
            package_dir,
            source,
        });
    }
    binaries.sort_by(|a, b| (&a.package_dir, &a.source).cmp(&(&b.package_dir, &b.source)));
    binaries.dedup_by(|a, b| a.executable == b.executable);
    Ok(binaries)
}

/// Whether any table is left on the DynamoDB Local at `endpoint`.
async fn holds_tables(endpoint: &str) -> Result<bool> {
    let listed = dynamodb_local::client(endpoint)
        .await
        .list_tables()
        .limit(1)
        .send()
        .await
        .map_err(|err| {
            anyhow::anyhow!(
                "listing DynamoDB Local's tables: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(err)
            )
        })?;
    Ok(!listed.table_names().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn the_first_separator_is_xtasks_and_the_second_splits_cargos_from_the_binaries() {
        let args = strings(&["--", "-p", "service", "--test", "listing", "--", "merged"]);
        let (cargo, binary) = split_args(&args);
        assert_eq!(cargo, strings(&["-p", "service", "--test", "listing"]));
        assert_eq!(binary, strings(&["merged"]));

        let args = strings(&["--", "--", "--nocapture"]);
        let (cargo, binary) = split_args(&args);
        assert!(cargo.is_empty());
        assert_eq!(binary, strings(&["--nocapture"]));

        let (cargo, binary) = split_args(&[]);
        assert!(cargo.is_empty() && binary.is_empty());
    }

    #[test]
    fn only_test_executables_are_run_each_once_in_their_packages_directory() {
        let messages = [
            // A test target: run, in its package's directory.
            r#"{"reason":"compiler-artifact","manifest_path":"/w/shared/service/Cargo.toml","target":{"src_path":"/w/shared/service/tests/listing.rs"},"profile":{"test":true},"executable":"/w/target/debug/deps/listing-1"}"#,
            // A library built for the tests: no executable.
            r#"{"reason":"compiler-artifact","manifest_path":"/w/shared/store/Cargo.toml","target":{"src_path":"/w/shared/store/src/lib.rs"},"profile":{"test":false},"executable":null}"#,
            // A binary the tests start (not a test harness itself).
            r#"{"reason":"compiler-artifact","manifest_path":"/w/xtask/Cargo.toml","target":{"src_path":"/w/xtask/src/main.rs"},"profile":{"test":false},"executable":"/w/target/debug/xtask"}"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/w/shared/api/Cargo.toml","target":{"src_path":"/w/shared/api/src/lib.rs"},"profile":{"test":true},"executable":"/w/target/debug/deps/api-2"}"#,
            // The same executable named twice (a fresh artifact and a built one).
            r#"{"reason":"compiler-artifact","manifest_path":"/w/shared/api/Cargo.toml","target":{"src_path":"/w/shared/api/src/lib.rs"},"profile":{"test":true},"executable":"/w/target/debug/deps/api-2"}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "not json",
        ]
        .join("\n");
        let binaries = test_binaries(&messages).expect("the messages parse");
        let found: Vec<(String, String, String)> = binaries
            .iter()
            .map(|b| {
                (
                    b.executable.display().to_string(),
                    b.package_dir.display().to_string(),
                    b.source.clone(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("/w/target/debug/deps/api-2", "/w/shared/api", "src/lib.rs"),
                (
                    "/w/target/debug/deps/listing-1",
                    "/w/shared/service",
                    "tests/listing.rs"
                ),
            ]
            .map(|(e, d, s)| (e.to_owned(), d.to_owned(), s.to_owned()))
        );
    }
}
