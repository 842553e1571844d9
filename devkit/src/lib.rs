//! Local tooling shared by `cargo xtask` and the test suites: it runs DynamoDB Local,
//! creates the table from `template.yaml`, loads fixtures, mints dev tokens and checks
//! the money invariants. Nothing here is deployed.

pub mod api;
pub mod chaos;
pub mod counting;
pub mod dynamodb_local;
pub mod faults;
pub mod fixture;
pub mod invariants;
pub mod paths;
pub mod razorpayx;
pub mod runtime_stub;
pub mod table;
pub mod testing;
pub mod token;

/// Runs a command to completion; its failure is an error that names it.
pub fn run(command: &mut std::process::Command) -> anyhow::Result<()> {
    use anyhow::Context;
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    anyhow::ensure!(status.success(), "{command:?} failed: {status}");
    Ok(())
}
