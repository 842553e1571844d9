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

/// An already-running DynamoDB Local named by `AWS_ENDPOINT_URL_DYNAMODB` is used as it
/// is; otherwise one is started on a free port for this run alone (stopped on drop).
pub fn dynamodb_for_run(log_name: &str) -> Result<(String, Option<DynamoDbLocal>)> {
    local_server_for_run(
        "AWS_ENDPOINT_URL_DYNAMODB",
        log_name,
        DynamoDbLocal::start,
        DynamoDbLocal::endpoint,
    )
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
    let logs = paths::local_dir().join("logs");
    std::fs::create_dir_all(&logs)?;
    let started = start(dynamodb_local::free_port()?, &logs.join(log_name))?;
    Ok((endpoint(&started), Some(started)))
}
