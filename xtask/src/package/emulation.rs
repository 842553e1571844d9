//! That what `cargo xtask package` built runs: each zip's `bootstrap` is an aarch64
//! ELF, and started under qemu's user-mode emulator (Debian's `qemu-user-static`, with
//! the aarch64 C library of `libc6-arm64-cross`) against the local Runtime API stub, it
//! serves its sample event from `events/` on the local stack. Emulated start-up times
//! say that it started, nothing about Lambda's: they are printed, never recorded.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use api::auth::DEV_JWT_SECRET;
use devkit::function_run::{self, FunctionRun};
use devkit::paths;

use super::Manifest;

const QEMU: &str = "/usr/bin/qemu-aarch64-static";
/// Where `libc6-arm64-cross` puts the aarch64 loader and C library (qemu's `-L`).
const SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// The emulator and the aarch64 C library, installed from Debian's packages if not yet.
fn emulator() -> Result<Command> {
    let loader = Path::new(SYSROOT).join("lib/ld-linux-aarch64.so.1");
    if !Path::new(QEMU).is_file() || !loader.is_file() {
        devkit::apt::install(&["qemu-user-static", "libc6-arm64-cross"])?;
    }
    if !Path::new(QEMU).is_file() || !loader.is_file() {
        bail!(
            "{QEMU} or {} is missing after installing them",
            loader.display()
        );
    }
    let mut command = Command::new(QEMU);
    command.args(["-L", SYSROOT]);
    Ok(command)
}

/// The settings every function is started with beside the stack's endpoints: those a
/// deployed stage gets from the template, with the local stage's values.
fn settings(table: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PAYOUTS_TABLE", table.to_owned()),
        ("JWT_SECRET", DEV_JWT_SECRET.to_owned()),
        ("GATEWAY_SIM_SUCCESS_RATE", "1".to_owned()),
        ("GATEWAY_SIM_LATENCY_MS", "0".to_owned()),
    ]
}

/// Starts every packaged function under emulation on its sample event, against
/// DynamoDB Local at `dynamodb` (a demo table of its own) and moto at `moto`, and fails
/// unless each answered it (not an error, and below 500 for an HTTP event).
pub async fn check(root: &Path, manifest: &Manifest, dynamodb: &str, moto: &str) -> Result<()> {
    let (vault, account_keys) = devkit::moto::local_vault(moto).await?;
    let table = devkit::fixture::demo_table(dynamodb, &vault, "package-check").await?;
    // The bus, its rule and the verified sender, as the smoke test has them: what the
    // deployed stack has from template.yaml.
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let events = crate::events::EventSettings {
        moto_endpoint: moto.to_owned(),
        bus: format!("payouts-package-{run_id}"),
        from_address: format!("payouts-package-{run_id}@example.com"),
        configuration_set: "payouts-package".to_owned(),
    };
    events
        .set_up("all-payout-events", &crate::events::all_events_pattern())
        .await?;
    let mut env = settings(&table);
    env.push(("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.to_owned()));
    env.extend(events.function_env());
    env.extend(account_keys.env(moto));
    println!(
        "{:<26} {:>14}  answer",
        "function (arm64, qemu)", "started in"
    );
    for name in manifest.functions.keys() {
        let bootstrap = unpack(root, name)?;
        let elf = std::fs::read(&bootstrap)?;
        if !is_aarch64_elf(&elf) {
            bail!(
                "{}: the bootstrap is not an aarch64 ELF",
                bootstrap.display()
            );
        }
        let sample = paths::sample_event(name);
        let event = std::fs::read_to_string(&sample)
            .with_context(|| format!("reading {}", sample.display()))?;
        let (name, env) = (name.clone(), env.clone());
        let started = Instant::now();
        let (name, run) = tokio::task::spawn_blocking(move || {
            let mut command = emulator()?;
            command.arg(&bootstrap);
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let run = function_run::launch(command, &name, &env, vec![event]);
            anyhow::Ok((name, run))
        })
        .await??;
        let run = run.with_context(|| format!("{name} under emulation"))?;
        let answer = judge(&name, &run)?;
        println!(
            "{name:<26} {:>11.1} s  {answer}",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// What the function answered, if it is an answer: an HTTP status below 500, or any
/// other function's result.
fn judge(name: &str, run: &FunctionRun) -> Result<String> {
    let answer = run.answers.first().map(String::as_str).unwrap_or_default();
    if run.errors > 0 {
        bail!(
            "{name} reported an error: {answer}\nit wrote:\n{}",
            run.output
        );
    }
    let value: serde_json::Value = serde_json::from_str(answer).unwrap_or_default();
    match value.get("statusCode").and_then(serde_json::Value::as_u64) {
        Some(status) if status >= 500 => {
            bail!(
                "{name} answered {status}: {answer}\nit wrote:\n{}",
                run.output
            )
        }
        Some(status) => Ok(format!("HTTP {status}")),
        None => Ok(truncate(answer, 60)),
    }
}

fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The zip's `bootstrap`, unpacked (with Python's zipfile: no `unzip` needed) into
/// `.local/package-check/<function>/`, executable.
fn unpack(root: &Path, name: &str) -> Result<PathBuf> {
    let dir = paths::local_dir().join("package-check").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let script = "import os, sys, zipfile\n\
                  zipfile.ZipFile(sys.argv[1]).extract('bootstrap', sys.argv[2])\n\
                  os.chmod(os.path.join(sys.argv[2], 'bootstrap'), 0o755)\n";
    crate::tools::run(
        Command::new("python3")
            .args(["-c", script])
            .arg(super::zip_path(root, name))
            .arg(&dir),
    )?;
    Ok(dir.join("bootstrap"))
}

/// An ELF executable for AArch64: 64-bit, little-endian, `e_machine` 183.
fn is_aarch64_elf(bytes: &[u8]) -> bool {
    bytes.len() > 20
        && bytes.starts_with(b"\x7fELF")
        && bytes[4] == 2
        && bytes[5] == 1
        && u16::from_le_bytes([bytes[18], bytes[19]]) == 183
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_aarch64_elf_passes() {
        let header = |class: u8, machine: u16| {
            let mut bytes = b"\x7fELF".to_vec();
            bytes.extend([class, 1, 1, 0]);
            bytes.extend([0; 10]);
            bytes.extend(machine.to_le_bytes());
            bytes.extend([0; 8]);
            bytes
        };
        assert!(is_aarch64_elf(&header(2, 183)));
        assert!(!is_aarch64_elf(&header(2, 62)), "x86_64");
        assert!(!is_aarch64_elf(&header(1, 183)), "32-bit");
        assert!(!is_aarch64_elf(b"PK\x03\x04 a zip, not a binary"));
    }
}
