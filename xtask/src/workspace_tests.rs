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
/// directory as cargo does, stopping at the first that fails (with `--no-fail-fast`,
/// failing at the end). `args` are `cargo test`'s options (`-p service`, `--test
/// listing`), then after a `--` each binary's (a name filter, `--nocapture`), as
/// `check_args` allowed before anything else ran. After a binary that left a table in a
/// DynamoDB Local this run started, the next gets a new one.
pub async fn run(
    root: &Path,
    args: &[String],
    env: &[(&str, String)],
    dynamo: &mut Dynamo,
) -> Result<()> {
    let (cargo_args, binary_args) = split_args(args);
    let no_fail_fast = cargo_args.iter().any(|arg| arg == "--no-fail-fast");
    let binaries = build(root, &with_default_scope(cargo_args))?;
    let started = Instant::now();
    let mut restarts = 0;
    let mut failed = Vec::new();
    // What `cargo run` set for xtask itself is not the test's: cargo gives a test
    // process its own package's values.
    let inherited: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| CARGO_PACKAGE_VARIABLES.iter().any(|p| name.starts_with(p)))
        .collect();
    for binary in &binaries {
        let shown = binary
            .executable
            .strip_prefix(root)
            .unwrap_or(&binary.executable);
        eprintln!("     Running {} ({})", binary.source, shown.display());
        let mut command = Command::new(&binary.executable);
        for name in &inherited {
            command.env_remove(name);
        }
        let status = command
            .args(binary_args)
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .env("CARGO_MANIFEST_DIR", &binary.package_dir)
            .env("AWS_ENDPOINT_URL_DYNAMODB", dynamo.endpoint())
            // The endpoint above is named, not xtask's default.
            .env_remove(crate::servers::DYNAMODB_ENDPOINT_DEFAULTED)
            .current_dir(&binary.package_dir)
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("running {}", binary.executable.display()))?;
        if !status.success() {
            let failure = format!(
                "{} ({}) failed: {status}",
                binary.source,
                binary.package_dir.display()
            );
            if !no_fail_fast {
                bail!(failure);
            }
            failed.push(failure);
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
    if !failed.is_empty() {
        bail!(
            "{} test binaries failed:\n{}",
            failed.len(),
            failed.join("\n")
        );
    }
    Ok(())
}

/// Variables `cargo run` sets for the xtask binary that name xtask's package; each test
/// binary gets its own package's `CARGO_MANIFEST_DIR` instead, and none of the rest
/// (no test reads them at run time).
const CARGO_PACKAGE_VARIABLES: [&str; 5] = [
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_BIN_NAME",
    "CARGO_CRATE_NAME",
    "CARGO_PRIMARY_PACKAGE",
];

/// cargo's options that take a value as the next argument, so that a bare argument
/// after one of them is that value, not a test name.
const OPTIONS_WITH_VALUE: [&str; 16] = [
    "-p",
    "--package",
    "--exclude",
    "--test",
    "--bench",
    "--bin",
    "--example",
    "-F",
    "--features",
    "--target",
    "--target-dir",
    "--profile",
    "-j",
    "--jobs",
    "--manifest-path",
    "--config",
];

/// A test name given to cargo itself (`cargo xtask test -- merged`) would be dropped by
/// `cargo test --no-run`: refused, with where it goes instead.
fn check_cargo_args(cargo_args: &[String]) -> Result<()> {
    let mut previous: Option<&str> = None;
    for arg in cargo_args {
        let is_value = previous.is_some_and(|option| OPTIONS_WITH_VALUE.contains(&option));
        if !arg.starts_with('-') && !is_value {
            bail!(
                "`{arg}`: a test name goes after a second `--` (`cargo xtask test -- -- {arg}`, \
                 or `cargo xtask test -- -p service -- {arg}`); before it go cargo's options"
            );
        }
        previous = Some(arg);
    }
    Ok(())
}

/// `cargo_args` with `--workspace` unless they choose packages, and `--all-targets`
/// unless they choose targets: `cargo test --workspace --all-targets` with them.
fn with_default_scope(cargo_args: &[String]) -> Vec<String> {
    let chooses = |flags: &[&str]| {
        cargo_args.iter().any(|arg| {
            flags
                .iter()
                .any(|flag| arg == flag || arg.starts_with(&format!("{flag}=")))
                || (flags.contains(&"-p") && arg.starts_with("-p") && arg.len() > 2)
        })
    };
    let mut args = cargo_args.to_vec();
    if !chooses(&["-p", "--package", "--workspace", "--all", "--exclude"]) {
        args.push("--workspace".to_owned());
    }
    if !chooses(&[
        "--lib",
        "--bin",
        "--bins",
        "--test",
        "--tests",
        "--bench",
        "--benches",
        "--example",
        "--examples",
        "--all-targets",
        "--doc",
    ]) {
        args.push("--all-targets".to_owned());
    }
    args
}

/// Refuses what `run` would not do as asked, before the checks that come first take
/// their minutes.
pub fn check_args(args: &[String]) -> Result<()> {
    check_cargo_args(split_args(args).0)
}

/// `cargo xtask test -- <cargo's> [-- <each binary's>]`: the first `--` is xtask's own.
fn split_args(args: &[String]) -> (&[String], &[String]) {
    let args = args.strip_prefix(&["--".to_owned()]).unwrap_or(args);
    match args.iter().position(|arg| arg == "--") {
        Some(at) => (&args[..at], &args[at + 1..]),
        None => (args, &[]),
    }
}

/// `cargo test --no-run` with cargo's JSON messages: the test executables, in the order
/// of their packages' directories and sources (a stable order, as cargo's own is).
fn build(root: &Path, cargo_args: &[String]) -> Result<Vec<TestBinary>> {
    let output = Command::new("cargo")
        .args([
            "test",
            "--no-run",
            "--message-format",
            "json-render-diagnostics",
        ])
        .args(cargo_args)
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
    fn cargos_options_keep_the_whole_workspace_and_every_target_unless_they_choose() {
        assert_eq!(
            with_default_scope(&[]),
            strings(&["--workspace", "--all-targets"])
        );
        assert_eq!(
            with_default_scope(&strings(&["--release", "--no-fail-fast"])),
            strings(&[
                "--release",
                "--no-fail-fast",
                "--workspace",
                "--all-targets"
            ])
        );
        assert_eq!(
            with_default_scope(&strings(&["-p", "service", "--test", "listing"])),
            strings(&["-p", "service", "--test", "listing"])
        );
        assert_eq!(
            with_default_scope(&strings(&["-pservice", "--lib"])),
            strings(&["-pservice", "--lib"])
        );
        assert_eq!(
            with_default_scope(&strings(&["--package=service"])),
            strings(&["--package=service", "--all-targets"])
        );
    }

    #[test]
    fn a_test_name_among_cargos_options_is_refused_and_an_options_value_is_not() {
        assert!(check_cargo_args(&strings(&["-p", "service", "--test", "listing"])).is_ok());
        assert!(check_cargo_args(&strings(&["--release", "-j", "2"])).is_ok());
        let refused = check_cargo_args(&strings(&["merged"])).expect_err("a bare name");
        assert!(refused
            .to_string()
            .contains("cargo xtask test -- -- merged"));
        assert!(check_cargo_args(&strings(&["-p", "service", "merged"])).is_err());
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
