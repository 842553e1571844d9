//! `cargo xtask test`: every check and every test, on a machine that may be new.
//! It is what CI runs, so it installs what it needs and stops what it starts.

use std::process::Command;

use anyhow::Result;
use devkit::chaos::GatewayKind;
use devkit::dynamodb_local::{self, DynamoDbLocal};
use devkit::paths;

use crate::tools;

pub async fn run(extra_test_args: &[String]) -> Result<()> {
    let root = paths::workspace_root();
    let logs = paths::local_dir().join("logs");
    std::fs::create_dir_all(&logs)?;

    step("cargo fmt --check");
    tools::run(
        Command::new("cargo")
            .args(["fmt", "--all", "--", "--check"])
            .current_dir(&root),
    )?;

    step("cargo clippy --all-targets -- -D warnings");
    tools::run(
        Command::new("cargo")
            .args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
            .current_dir(&root),
    )?;

    step("cfn-lint template.yaml, sam validate --lint");
    tools::lint_template()?;

    let (endpoint, _dynamodb) = dynamodb_for_run("dynamodb-local-test.log")?;
    step(&format!("DynamoDB Local at {endpoint}"));

    let razorpay_python = tools::python_with(tools::RAZORPAY_SDK, "razorpay")?;

    step("cargo test --workspace");
    tools::run(
        Command::new("cargo")
            .args(["test", "--workspace", "--all-targets"])
            .args(extra_test_args)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)
            .env("RAZORPAY_SDK_PYTHON", &razorpay_python)
            .current_dir(&root),
    )?;

    // Short: the full figure (1,000 runs per gateway) is run by hand (docs/RELIABILITY.md).
    for (gateway, runs) in [(GatewayKind::Simulated, 40), (GatewayKind::RazorpayX, 10)] {
        let options = crate::chaos::Options {
            runs,
            seed: crate::chaos::random_seed(),
            gateway,
            operations: crate::chaos::DEFAULT_OPERATIONS,
            verbose: false,
        };
        step(&format!(
            "cargo xtask chaos --runs {runs} --seed {} --gateway {}",
            options.seed,
            gateway.as_str()
        ));
        crate::chaos::simulate(&endpoint, &options).await?;
    }

    step("cargo lambda watch: smoke test of every endpoint, then schemathesis");
    crate::smoke::run(&endpoint).await?;

    step("cargo xtask bench --quick (that the benchmarks still run; no timing is asserted)");
    tools::run(
        Command::new("cargo")
            .args([
                "run",
                "--quiet",
                "--package",
                "xtask",
                "--",
                "bench",
                "--quick",
            ])
            .env("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)
            .current_dir(&root),
    )?;

    step("all checks passed");
    Ok(())
}

fn step(what: &str) {
    eprintln!("\n==> {what}");
}

/// An already-running DynamoDB Local named by `AWS_ENDPOINT_URL_DYNAMODB` is used as it
/// is; otherwise one is started on a free port for this run alone (stopped on drop).
pub fn dynamodb_for_run(log_name: &str) -> Result<(String, Option<DynamoDbLocal>)> {
    let reuse = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .ok()
        .filter(|endpoint| {
            crate::dev::local_port(endpoint).is_some_and(dynamodb_local::is_listening)
        });
    if let Some(endpoint) = reuse {
        return Ok((endpoint, None));
    }
    let logs = paths::local_dir().join("logs");
    std::fs::create_dir_all(&logs)?;
    let started = DynamoDbLocal::start(dynamodb_local::free_port()?, &logs.join(log_name))?;
    Ok((started.endpoint(), Some(started)))
}
