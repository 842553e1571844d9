//! The local servers a run needs (DynamoDB Local, moto): the ones already running
//! where the environment points, or its own on a free port, stopped when dropped.

use anyhow::Result;
use devkit::dynamodb_local::{self, DynamoDbLocal};
use devkit::moto::Moto;
use devkit::paths;

/// An already-running moto named by `AWS_ENDPOINT_URL_EVENTBRIDGE` is used as it is
/// (each test makes a bus of its own); otherwise one is started on a free port for this
/// run alone (stopped on drop).
pub fn moto_for_run(log_name: &str) -> Result<(String, Option<Moto>)> {
    local_server_for_run(
        "AWS_ENDPOINT_URL_EVENTBRIDGE",
        log_name,
        Moto::start,
        Moto::endpoint,
    )
}

/// Set (to `1`) while `AWS_ENDPOINT_URL_DYNAMODB` holds xtask's default (the dev stack's
/// port), not a value the caller gave.
pub const DYNAMODB_ENDPOINT_DEFAULTED: &str = "XTASK_DYNAMODB_ENDPOINT_DEFAULTED";

/// An already-running DynamoDB Local the caller named in `AWS_ENDPOINT_URL_DYNAMODB` is
/// used as it is; otherwise one is started on a free port for this run alone (stopped
/// on drop). The default endpoint does not count: a running `cargo xtask dev` stack's
/// instance would take every test's tables.
pub fn dynamodb_for_run(log_name: &str) -> Result<(String, Option<DynamoDbLocal>)> {
    if std::env::var_os(DYNAMODB_ENDPOINT_DEFAULTED).is_some() {
        return start_for_run(log_name, DynamoDbLocal::start, DynamoDbLocal::endpoint)
            .map(|(endpoint, local)| (endpoint, Some(local)));
    }
    local_server_for_run(
        "AWS_ENDPOINT_URL_DYNAMODB",
        log_name,
        DynamoDbLocal::start,
        DynamoDbLocal::endpoint,
    )
}

/// The DynamoDB Local a run uses: its own, which it may swap for an empty one, or one
/// already running (`AWS_ENDPOINT_URL_DYNAMODB`) that it leaves as it is.
pub enum Dynamo {
    Own {
        local: DynamoDbLocal,
        log: std::path::PathBuf,
    },
    Shared(String),
}

impl Dynamo {
    /// As [`dynamodb_for_run`].
    pub fn for_run(log_name: &str) -> Result<Self> {
        Ok(match dynamodb_for_run(log_name)? {
            (_, Some(local)) => Dynamo::Own {
                local,
                log: paths::local_dir().join("logs").join(log_name),
            },
            (endpoint, None) => Dynamo::Shared(endpoint),
        })
    }

    pub fn endpoint(&self) -> String {
        match self {
            Dynamo::Own { local, .. } => local.endpoint(),
            Dynamo::Shared(endpoint) => endpoint.clone(),
        }
    }

    /// Replaces its own instance with an empty one (on a new port; read `endpoint`
    /// again). DynamoDB Local keeps every table's stream shards, deleted tables' too, in
    /// one SQLite table it scans on every request (`getStreamDescription`, in `jstack`),
    /// so each table a run makes slows every later request; a new process sheds them.
    /// A shared instance is not ours to restart: false.
    pub fn renew(&mut self) -> Result<bool> {
        match self {
            Dynamo::Own { local, log } => {
                local.restart(log)?;
                Ok(true)
            }
            Dynamo::Shared(_) => Ok(false),
        }
    }
}

/// The local server `endpoint_variable` names, if one listens there; otherwise a new
/// one from `start` on a free port, logging to `.local/logs/<log_name>`.
fn local_server_for_run<S>(
    endpoint_variable: &str,
    log_name: &str,
    start: impl FnOnce(u16, &std::path::Path) -> Result<S>,
    endpoint: impl FnOnce(&S) -> String,
) -> Result<(String, Option<S>)> {
    let reuse = std::env::var(endpoint_variable).ok().filter(|endpoint| {
        crate::dev::local_port(endpoint).is_some_and(dynamodb_local::is_listening)
    });
    if let Some(endpoint) = reuse {
        return Ok((endpoint, None));
    }
    start_for_run(log_name, start, endpoint).map(|(endpoint, started)| (endpoint, Some(started)))
}

/// A new server from `start` on a free port, logging to `.local/logs/<log_name>`.
fn start_for_run<S>(
    log_name: &str,
    start: impl FnOnce(u16, &std::path::Path) -> Result<S>,
    endpoint: impl FnOnce(&S) -> String,
) -> Result<(String, S)> {
    let logs = paths::local_dir().join("logs");
    std::fs::create_dir_all(&logs)?;
    let started = start(dynamodb_local::free_port()?, &logs.join(log_name))?;
    Ok((endpoint(&started), started))
}
