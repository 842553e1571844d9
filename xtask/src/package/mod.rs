//! `cargo xtask package`: every function as Lambda runs it (arm64, `provided.al2023`),
//! built from the whole workspace in one build, each as the `bootstrap.zip` the
//! template's `CodeUri` names; and the record of which sources they were built from,
//! so that `cargo xtask deploy` ships nothing older than the code (docs/DEPLOY.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::tools;

pub mod emulation;

/// What Lambda's arm64 runs: Graviton, glibc (`provided.al2023`).
pub const TARGET: &str = "aarch64-unknown-linux-gnu";

/// Where the zips go, relative to the workspace root: the template's `CodeUri`s.
pub const LAMBDA_DIR: &str = "target/lambda";

/// The record of one package: written after the build, read before every deploy.
const MANIFEST: &str = "package.json";

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// [`source_digest`] of the tree the build started from.
    pub sources: String,
    pub target: String,
    /// `rustc -vV` of the compiler that built it.
    pub rustc: String,
    pub functions: BTreeMap<String, Artifact>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    pub zip_bytes: u64,
    pub sha256: String,
}

/// The function crates, by name (`functions/*`).
pub fn functions(root: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("functions"))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

pub fn zip_path(root: &Path, function: &str) -> PathBuf {
    root.join(LAMBDA_DIR).join(function).join("bootstrap.zip")
}

/// Which functions a build packages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every function: what a deploy ships.
    Every,
    /// [`QUICK`]: a developer's check that the cross build still links and starts.
    Quick,
}

/// One function of each kind of event, each with its own dependencies: an HTTP route
/// (the API edge, KMS), the scheduled processor (the gateway), and the email function
/// (SES, EventBridge's events). Together they link everything the others link, in a
/// fraction of the full build's time.
pub const QUICK: [&str; 3] = ["notify", "process-pending", "request-scout-payout"];

/// What a build compiles again beside what cargo finds changed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Rebuild {
    /// Only what cargo's own checks (modification times) find out of date.
    Changed,
    /// Every crate of the workspace, whatever its files' times say (a deploy).
    Workspace,
}

/// Builds every function for [`TARGET`] with the workspace's release profile, in one
/// cargo run (cargo-lambda cross-links with the Zig its PyPI package brings), and
/// records what it built. Returns the manifest and how long the build took.
pub fn build(root: &Path, scope: Scope, rebuild: Rebuild) -> Result<(Manifest, Duration)> {
    // Taken before the build: a file edited while it runs leaves a digest that no
    // longer matches the tree, and the deploy refuses the package.
    let sources = source_digest(root)?;
    let names = match scope {
        Scope::Every => functions(root)?,
        Scope::Quick => QUICK.iter().map(|name| (*name).to_owned()).collect(),
    };
    ensure_target(root)?;
    let rustc = rustc_version(root)?;
    let venv = tools::cargo_lambda()?;
    let started = Instant::now();
    // No zip of an earlier build can pass for one of this build's.
    let _ = std::fs::remove_dir_all(root.join(LAMBDA_DIR));
    if rebuild == Rebuild::Workspace {
        let mut clean = Command::new("cargo");
        clean
            .args(["clean", "--release", "--target", TARGET])
            .env_remove("RUSTUP_TOOLCHAIN")
            .current_dir(root);
        for member in workspace_crates(root)? {
            clean.args(["--package", &member]);
        }
        tools::run(&mut clean)?;
    }
    let mut command = Command::new("cargo");
    command
        .args(["lambda", "build", "--release", "--target", TARGET])
        .args(["--output-format", "zip", "--lambda-dir"])
        .arg(root.join(LAMBDA_DIR))
        // The workspace's release profile (Cargo.toml, measured in docs/BENCHMARKS.md)
        // is the one shipped, not cargo-lambda's own defaults on top of it.
        .arg("--disable-optimizations")
        // `cargo lambda` runs Zig as `python3 -m ziglang` when no `zig` is on PATH:
        // the venv's python has it.
        .env("PATH", tools::path_with(&venv))
        // The pinned toolchain and the profile's own flags, whatever the caller's
        // environment says (`cargo +stable xtask ...` sets RUSTUP_TOOLCHAIN).
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .current_dir(root);
    for name in &names {
        command.args(["--package", name]);
    }
    tools::run(&mut command).context("cross-building the functions for arm64")?;
    let took = started.elapsed();
    let mut functions = BTreeMap::new();
    for name in names {
        let zip = zip_path(root, &name);
        let bytes = std::fs::read(&zip).with_context(|| format!("reading {}", zip.display()))?;
        functions.insert(
            name,
            Artifact {
                zip_bytes: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            },
        );
    }
    let manifest = Manifest {
        sources,
        target: TARGET.to_owned(),
        rustc,
        functions,
    };
    std::fs::write(
        root.join(LAMBDA_DIR).join(MANIFEST),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    Ok((manifest, took))
}

/// `rustc -vV` of the pinned toolchain, as the build runs it.
fn rustc_version(root: &Path) -> Result<String> {
    let output = Command::new("rustc")
        .arg("-vV")
        .env_remove("RUSTUP_TOOLCHAIN")
        .current_dir(root)
        .output()
        .context("rustc -vV")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The workspace's own crates, by package name: the shared crates and the functions.
fn workspace_crates(root: &Path) -> Result<Vec<String>> {
    let mut crates = functions(root)?;
    for entry in std::fs::read_dir(root.join("shared"))? {
        let manifest = entry?.path().join("Cargo.toml");
        if manifest.is_file() {
            let text = std::fs::read_to_string(&manifest)?;
            let parsed: toml::Table = text
                .parse()
                .with_context(|| format!("reading {}", manifest.display()))?;
            if let Some(name) = parsed
                .get("package")
                .and_then(|package| package.get("name"))
                .and_then(|name| name.as_str())
            {
                crates.push(name.to_owned());
            }
        }
    }
    Ok(crates)
}

/// The standard library for [`TARGET`] in the pinned toolchain, added with rustup when
/// missing (`rust-toolchain.toml` lists it, but rustup adds it only on its own installs).
fn ensure_target(root: &Path) -> Result<()> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .current_dir(root)
        .output()
        .context("rustc --print sysroot")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return Ok(());
    }
    tools::run(
        Command::new("rustup")
            .args(["target", "add", TARGET])
            .env_remove("RUSTUP_TOOLCHAIN")
            .current_dir(root),
    )
}

/// The package at `root`, if it was built from the sources as they are now and every
/// zip is the one built; otherwise an error that says what is stale.
pub fn verify(root: &Path) -> Result<Manifest> {
    let path = root.join(LAMBDA_DIR).join(MANIFEST);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no package at {}: run `cargo xtask package`",
            path.display()
        )
    })?;
    let manifest: Manifest =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    if manifest.target != TARGET {
        bail!(
            "the package was built for {}, not {TARGET}",
            manifest.target
        );
    }
    let now = source_digest(root)?;
    if manifest.sources != now {
        bail!(
            "the package was built from other sources than these (a file under shared/, \
             functions/, Cargo.toml, Cargo.lock, rust-toolchain.toml or .cargo/config.toml \
             changed since): \
             run `cargo xtask package` again"
        );
    }
    let names = functions(root)?;
    if let Some(stranger) = manifest.functions.keys().find(|name| !names.contains(name)) {
        bail!("the package holds {stranger}, which is no function of the workspace");
    }
    for (name, artifact) in &manifest.functions {
        let zip = zip_path(root, name);
        let bytes = std::fs::read(&zip).with_context(|| format!("reading {}", zip.display()))?;
        if sha256_hex(&bytes) != artifact.sha256 {
            bail!(
                "{} is not the zip the package built: run `cargo xtask package` again",
                zip.display()
            );
        }
    }
    Ok(manifest)
}

impl Manifest {
    /// Whether it holds every function of the workspace (what a deploy needs).
    pub fn is_complete(&self, root: &Path) -> Result<bool> {
        let names = functions(root)?;
        Ok(self.functions.keys().eq(names.iter()))
    }
}

/// What a build of the functions reads, as one SHA-256: every file under `shared/`
/// and `functions/`, the workspace manifest, the lockfile and the toolchain file, by
/// path and content. Anything that can change a function's binary changes it.
pub fn source_digest(root: &Path) -> Result<String> {
    let mut files = Vec::new();
    for top in ["shared", "functions"] {
        collect_files(&root.join(top), &mut files)?;
    }
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
        ".cargo/config.toml",
    ] {
        let path = root.join(file);
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for file in files {
        let relative = file.strip_prefix(root).unwrap_or(&file);
        let content =
            std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        // Length-prefixed, so that no two trees hash the same bytes.
        for part in [relative.to_string_lossy().as_bytes(), content.as_slice()] {
            digest.update(&(part.len() as u64).to_le_bytes());
            digest.update(part);
        }
    }
    Ok(hex(digest.finish().as_ref()))
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(&entry.path(), files)?;
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

const USAGE: &str = "usage: cargo xtask package [--quick] [--check]";

/// `cargo xtask package [--quick] [--check]`: every function (`--quick`: [`QUICK`]),
/// and with `--check` each started under emulation on its sample event against a
/// DynamoDB Local and a moto of its own.
pub async fn run(args: &[String]) -> Result<()> {
    let (mut scope, mut check) = (Scope::Every, false);
    for arg in args {
        match arg.as_str() {
            "--quick" => scope = Scope::Quick,
            "--check" => check = true,
            other => bail!("unknown flag `{other}`\n{USAGE}"),
        }
    }
    let root = devkit::paths::workspace_root();
    let (manifest, took) = build(&root, scope, Rebuild::Changed)?;
    print_sizes(&manifest, took);
    if check {
        let (dynamodb, _dynamodb) = crate::servers::dynamodb_for_run("dynamodb-local-package.log")?;
        let (moto, _moto) = crate::servers::moto_for_run("moto-package.log")?;
        emulation::check(&root, &manifest, &dynamodb, &moto).await?;
    }
    Ok(())
}

/// The table `cargo xtask package` prints.
pub fn print_sizes(manifest: &Manifest, took: Duration) {
    println!("{:<26} {:>12}", "function", "zip (bytes)");
    for (name, artifact) in &manifest.functions {
        println!("{name:<26} {:>12}", artifact.zip_bytes);
    }
    let total: u64 = manifest
        .functions
        .values()
        .map(|artifact| artifact.zip_bytes)
        .sum();
    println!(
        "{} functions for {}, {total} bytes of zips, built in {:.0} s; in {LAMBDA_DIR}/",
        manifest.functions.len(),
        manifest.target,
        took.as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Dir;

    /// A workspace's shape, small: what the digest reads and what it must not.
    fn tree() -> Dir {
        let dir = Dir::new("package-digest");
        for (file, text) in [
            ("Cargo.toml", "[workspace]\n"),
            ("Cargo.lock", "version = 4\n"),
            ("shared/service/src/lib.rs", "pub fn pay() {}\n"),
            ("functions/process-pending/src/main.rs", "fn main() {}\n"),
            ("functions/process-pending/Cargo.toml", "[package]\n"),
            ("docs/DEPLOY.md", "# Deploy\n"),
        ] {
            dir.write(file, text);
        }
        dir
    }

    #[test]
    fn any_change_a_build_reads_changes_the_digest() {
        let dir = tree();
        let before = source_digest(dir.path()).unwrap();
        assert_eq!(before, source_digest(dir.path()).unwrap(), "deterministic");
        for (file, text) in [
            (
                "shared/service/src/lib.rs",
                "pub fn pay() { /* fixed */ }\n",
            ),
            ("shared/service/src/new.rs", "\n"),
            ("functions/process-pending/src/main.rs", "fn main() { }\n"),
            ("Cargo.lock", "version = 4\n# bumped\n"),
            ("Cargo.toml", "[workspace]\n# profile\n"),
            ("rust-toolchain.toml", "[toolchain]\n"),
        ] {
            let dir = tree();
            dir.write(file, text);
            assert_ne!(
                before,
                source_digest(dir.path()).unwrap(),
                "a change to {file} leaves the digest as it was"
            );
        }
        // What no build reads does not make a package stale.
        let dir = tree();
        dir.write("docs/DEPLOY.md", "# Deploy, reworded\n");
        assert_eq!(before, source_digest(dir.path()).unwrap());
    }

    /// A package built before a fix to `shared/` is refused, and so is a zip swapped
    /// after the build; the package as built passes.
    #[test]
    fn a_deploy_refuses_a_package_older_than_the_sources() {
        let dir = tree();
        let root = dir.path();
        dir.write(
            &format!("{LAMBDA_DIR}/process-pending/bootstrap.zip"),
            "zip",
        );
        let manifest = Manifest {
            sources: source_digest(root).unwrap(),
            target: TARGET.to_owned(),
            rustc: "rustc 1.95.0".to_owned(),
            functions: BTreeMap::from([(
                "process-pending".to_owned(),
                Artifact {
                    zip_bytes: 3,
                    sha256: sha256_hex(b"zip"),
                },
            )]),
        };
        dir.write(
            &format!("{LAMBDA_DIR}/{MANIFEST}"),
            &serde_json::to_string(&manifest).unwrap(),
        );
        assert_eq!(verify(root).unwrap(), manifest);

        dir.write(
            "shared/service/src/lib.rs",
            "pub fn pay() { /* fixed */ }\n",
        );
        let refused = verify(root).unwrap_err().to_string();
        assert!(refused.contains("other sources"), "{refused}");
        dir.write("shared/service/src/lib.rs", "pub fn pay() {}\n");
        assert!(verify(root).is_ok());

        dir.write(
            &format!("{LAMBDA_DIR}/process-pending/bootstrap.zip"),
            "old",
        );
        let refused = verify(root).unwrap_err().to_string();
        assert!(refused.contains("is not the zip"), "{refused}");

        std::fs::remove_file(root.join(LAMBDA_DIR).join(MANIFEST)).unwrap();
        let refused = verify(root).unwrap_err().to_string();
        assert!(refused.contains("cargo xtask package"), "{refused}");
    }
}
