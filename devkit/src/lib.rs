//! Local tooling shared by `cargo xtask` and the test suites: it runs DynamoDB Local
//! and moto, creates the table from `template.yaml`, reads its stream as Lambda would,
//! loads fixtures, mints dev tokens and checks the money invariants. Nothing here is
//! deployed.
// The chaos history's futures nest every use case of the service; their layout needs
// a deeper query than the compiler's default of 128.
#![recursion_limit = "256"]

pub mod admin;
pub mod api;
pub mod apt;
pub mod chaos;
pub mod counting;
pub mod dynamodb_local;
pub mod faults;
pub mod fixture;
pub mod function_run;
pub mod heat;
pub mod import;
pub mod invariants;
pub mod moto;
pub mod paths;
pub mod python;
pub mod razorpayx;
pub mod replay;
pub mod runtime_stub;
pub mod streams;
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
