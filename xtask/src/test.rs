//! `cargo xtask test`: every check and every test, on a machine that may be new.
//! It is what CI runs, so it installs what it needs and stops what it starts.

use std::process::Command;

use anyhow::Result;
use devkit::chaos::GatewayKind;
use devkit::paths;

use crate::servers::{moto_for_run, Dynamo};
use crate::tools;

pub async fn run(extra_test_args: &[String]) -> Result<()> {
    crate::workspace_tests::check_args(extra_test_args)?;
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

    step("no import circles between the modules of any crate");
    crate::circles::check(&root)?;

    step("cfn-lint template.yaml, sam validate --lint");
    tools::lint_template()?;
    // Into the same venv, now: the tests need it whether or not a moto is running.
    devkit::moto::install()?;

    let mut dynamo = Dynamo::for_run("dynamodb-local-test.log")?;
    step(&format!("DynamoDB Local at {}", dynamo.endpoint()));
    let (moto_endpoint, _moto) = moto_for_run("moto-test.log")?;
    step(&format!(
        "moto (EventBridge, SES v2, SQS, Secrets Manager, KMS) at {moto_endpoint}"
    ));

    let razorpay_python = tools::python_with(tools::RAZORPAY_SDK, "razorpay")?;

    step("cargo test --workspace --all-targets, each test binary on a DynamoDB Local of its own");
    let razorpay_python = razorpay_python.display().to_string();
    let mut env: Vec<(&str, String)> = moto_env(&moto_endpoint)
        .into_iter()
        .map(|(name, value)| (name, value.to_owned()))
        .collect();
    env.push(("RAZORPAY_SDK_PYTHON", razorpay_python));
    crate::workspace_tests::run(&root, extra_test_args, &env, &mut dynamo).await?;
    // Short: the full figure (1,000 runs per gateway) is run by hand (docs/RELIABILITY.md).
    for (gateway, runs) in [(GatewayKind::Simulated, 40), (GatewayKind::RazorpayX, 10)] {
        let options = crate::chaos::Options {
            runs,
            seed: crate::chaos::random_seed(),
            gateway,
            operations: crate::chaos::DEFAULT_OPERATIONS,
            verbose: false,
            jobs: crate::chaos::DEFAULT_JOBS,
        };
        step(&format!(
            "cargo xtask chaos --runs {runs} --seed {} --gateway {}",
            options.seed,
            gateway.as_str()
        ));
        crate::chaos::simulate(&mut dynamo, &moto_endpoint, &options).await?;
    }
    // The rest runs on the last instance: when this run started its own, it holds no
    // test's table (each binary that left one got a new one after it) and only a few
    // chaos runs' streams.
    let endpoint = dynamo.endpoint();

    step(
        "cargo lambda watch: smoke test of every endpoint and of the event path, then schemathesis",
    );
    crate::smoke::run(&endpoint, &moto_endpoint).await?;

    // Three functions, one of each kind of event: the cross build (aws-lc-sys's C and
    // assembly) links and the binaries start. All of them took 17 minutes of a cold
    // 2-core machine, more than CI's budget; `cargo xtask deploy` builds them all.
    step("cargo xtask package --quick --check: three functions built for arm64, each started under qemu on its sample event");
    let (manifest, took) = crate::package::build(
        &root,
        crate::package::Scope::Quick,
        crate::package::Rebuild::Changed,
    )?;
    crate::package::print_sizes(&manifest, took);
    let manifest = crate::package::verify(&root)?;
    crate::package::emulation::check(&root, &manifest, &endpoint, &moto_endpoint).await?;

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
            // Its own DynamoDB Local, which it renews between parts.
            .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
            .envs(moto_env(&moto_endpoint))
            .current_dir(&root),
    )?;

    step("all checks passed");
    Ok(())
}

fn step(what: &str) {
    eprintln!("\n==> {what}");
}

/// The variables that send the SDK's EventBridge, SES v2 and SQS calls to moto.
fn moto_env(moto_endpoint: &str) -> [(&'static str, &str); 4] {
    [
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", moto_endpoint),
        ("AWS_ENDPOINT_URL_SESV2", moto_endpoint),
        ("AWS_ENDPOINT_URL_SQS", moto_endpoint),
        ("AWS_ENDPOINT_URL_KMS", moto_endpoint),
    ]
}
