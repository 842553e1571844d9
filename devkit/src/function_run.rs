//! Runs a function's real binary, the Lambda runtime and all, against the local
//! Runtime API stub, and keeps everything the process wrote: tests hold what a deployed
//! function would log, not only what its handler does.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::runtime_stub::RuntimeStub;

/// Every log level a function can be run at: `AWS_LAMBDA_LOG_LEVEL` is what the
/// template's `LogLevel` sets; `RUST_LOG` and `LOG_LEVEL` are an operator's overrides,
/// the first naming the very module that writes raw events.
pub const LOG_LEVELS: [(&str, &str); 8] = [
    ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
    ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
    ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
    ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
    ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
    ("AWS_LAMBDA_LOG_LEVEL", "FATAL"),
    ("LOG_LEVEL", "trace"),
    (
        "RUST_LOG",
        "trace,lambda_runtime::layers::api_response=trace",
    ),
];

/// What one run of a function left behind.
pub struct FunctionRun {
    /// Its stdout and stderr, as the log group would hold them.
    pub output: String,
    /// What it answered to each event, in order (API Gateway responses, as JSON).
    pub answers: Vec<String>,
    /// How many of those answers it reported as errors (`/error`).
    pub errors: u64,
}

/// Runs `binary` as the function `name` on `events`, with `STAGE=local`, the tests'
/// DynamoDB Local and moto (for KMS) and `env` on top, and stops it once every event is
/// answered.
pub fn run(
    binary: &Path,
    name: &str,
    env: &[(&str, &str)],
    events: Vec<String>,
) -> Result<FunctionRun> {
    let (dynamodb, moto) = (crate::testing::endpoint(), crate::testing::moto_endpoint());
    let local = [
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.as_str()),
        // KMS, for the payout account keys, is the tests' moto.
        ("AWS_ENDPOINT_URL_KMS", moto.as_str()),
    ];
    let env: Vec<(&str, &str)> = local.iter().chain(env).copied().collect();
    launch(Command::new(binary), name, &env, events)
}

/// Runs `command` (a function's binary, or an emulator with the binary as its
/// argument) as the function `name` on `events`, as [`run`] does, with `STAGE=local`,
/// DynamoDB Local's credentials and `env` alone on top of the Lambda variables.
pub fn launch(
    mut command: Command,
    name: &str,
    env: &[(&str, &str)],
    events: Vec<String>,
) -> Result<FunctionRun> {
    let expected = events.len();
    let stub = RuntimeStub::start(events)?;
    let mut child = command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", stub.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        // DynamoDB Local keeps a table per access key and region: the test's own.
        .envs(crate::dynamodb_local::LOCAL_ENV)
        .env("STAGE", service::config::LOCAL_STAGE)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let output = Arc::new(Mutex::new(Vec::new()));
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|out| Box::new(out) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|err| Box::new(err) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut stream| {
        let output = output.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(read) = stream.read(&mut chunk) {
                if read == 0 {
                    break;
                }
                if let Ok(mut output) = output.lock() {
                    output.extend_from_slice(&chunk[..read]);
                }
            }
        })
    })
    .collect();

    // Long enough for a binary under emulation to start, too.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut exited = None;
    while stub.answers().len() < expected && Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // What the runtime writes after answering (its wait for the next event) is part of
    // the run too.
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    for reader in readers {
        let _ = reader.join();
    }
    let output = output
        .lock()
        .map(|output| String::from_utf8_lossy(&output).into_owned())
        .unwrap_or_default();
    let answers = stub.answers();
    if answers.len() < expected {
        bail!(
            "{name} answered {} of {expected} events ({}); it wrote:\n{output}",
            answers.len(),
            exited.map_or("still running".to_owned(), |status| status.to_string()),
        );
    }
    Ok(FunctionRun {
        output,
        answers,
        errors: stub.errors(),
    })
}

/// An API Gateway HTTP API (payload 2.0) event, as the real API sends one.
pub fn api_event(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), json!(value)))
        .chain([("content-type".to_owned(), json!("application/json"))])
        .collect();
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.ap-south-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "test"
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "24/Nov/2026:02:00:00 +0000",
            "timeEpoch": 1795485600000u64
        },
        "isBase64Encoded": false,
        "body": body
    })
    .to_string()
}

/// The status code of an API Gateway response the function answered with.
pub fn status_of(answer: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(answer)
        .ok()?
        .get("statusCode")?
        .as_u64()
}
