//! Secrets read at run time from AWS Secrets Manager: never from a function's
//! environment, where anyone holding `lambda:GetFunctionConfiguration` could read them.
//!
//! The SDK client, not the Parameters and Secrets Lambda Extension: the extension is a
//! layer whose ARN differs by region and architecture and a local HTTP hop with its own
//! cache settings, while the SDK is already in every function, reaches moto locally
//! through `AWS_ENDPOINT_URL_SECRETS_MANAGER` with no special path, and lets the cache
//! and its failure mode be ours and tested.
//!
//! A value is cached for a bounded time ([`SECRET_CACHE_SECS`]), so a rotation takes
//! effect without a redeploy, and a read that fails once the cache has run out fails
//! closed: the caller gets an error, never a stale or empty value.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OnceCell};

/// How long a value read from Secrets Manager is used before it is read again.
pub const SECRET_CACHE_SECS: u64 = 300;
/// One read of a secret, retries included.
const READ_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {secret_id} could not be read: {reason}")]
pub struct SecretError {
    pub secret_id: String,
    pub reason: String,
}

/// One secret value, from Secrets Manager or (for local runs and tests only) fixed.
/// `Debug` names the secret, never its value.
#[derive(Clone)]
pub struct Secret(Arc<Source>);

enum Source {
    /// The documented development value of a local run, or a test's own.
    Fixed(Arc<String>),
    Managed(Managed),
}

struct Managed {
    secret_id: String,
    ttl: Duration,
    /// Built at first use: a function that never needs the secret never makes the client.
    client: OnceCell<aws_sdk_secretsmanager::Client>,
    cached: Mutex<Option<(Instant, Arc<String>)>>,
}

impl Secret {
    pub fn fixed(value: impl Into<String>) -> Self {
        Secret(Arc::new(Source::Fixed(Arc::new(value.into()))))
    }

    /// The secret `secret_id` (a name or an ARN), read at first use and again once
    /// `ttl` has passed.
    pub fn managed(secret_id: impl Into<String>, ttl: Duration) -> Self {
        Secret(Arc::new(Source::Managed(Managed {
            secret_id: secret_id.into(),
            ttl,
            client: OnceCell::new(),
            cached: Mutex::new(None),
        })))
    }

    /// The secret `secret_id`, read through `client` (tests and local tooling, whose
    /// client points at a local Secrets Manager with its own credentials).
    pub fn managed_with_client(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Secret(Arc::new(Source::Managed(Managed {
            secret_id: secret_id.into(),
            ttl,
            client: OnceCell::new_with(Some(client)),
            cached: Mutex::new(None),
        })))
    }

    /// Which secret this is, for messages: its id, or `fixed`.
    pub fn id(&self) -> &str {
        match &*self.0 {
            Source::Fixed(_) => "fixed",
            Source::Managed(managed) => &managed.secret_id,
        }
    }

    pub fn is_managed(&self) -> bool {
        matches!(&*self.0, Source::Managed(_))
    }

    /// The current value. A managed secret is read from Secrets Manager when its cached
    /// value is older than the TTL; if that read fails, this fails.
    pub async fn read(&self) -> Result<Arc<String>, SecretError> {
        match &*self.0 {
            Source::Fixed(value) => Ok(value.clone()),
            // Boxed: the read holds the SDK's whole configuration loader, which would
            // otherwise be inlined into every gateway call's future (and overflowed a
            // worker's stack in debug builds, deep inside the processor).
            Source::Managed(managed) => Box::pin(managed.read()).await,
        }
    }
}

impl Managed {
    async fn read(&self) -> Result<Arc<String>, SecretError> {
        // Held across the fetch: concurrent readers of an expired value wait for one
        // read instead of each asking Secrets Manager.
        let mut cached = self.cached.lock().await;
        if let Some((read_at, value)) = cached.as_ref() {
            if read_at.elapsed() < self.ttl {
                return Ok(value.clone());
            }
        }
        // Fail closed: whatever was cached is past its time and is not used again.
        *cached = None;
        let client = self
            .client
            .get_or_init(|| async {
                // A stalled read would hold every caller waiting on this lock until the
                // function's own timeout.
                let config =
                    aws_sdk_secretsmanager::config::Builder::from(&crate::aws::sdk_config().await)
                        .timeout_config(
                            aws_sdk_secretsmanager::config::timeout::TimeoutConfig::builder()
                                .operation_timeout(READ_TIMEOUT)
                                .build(),
                        )
                        .build();
                aws_sdk_secretsmanager::Client::from_conf(config)
            })
            .await;
        let failed = |reason: String| SecretError {
            secret_id: self.secret_id.clone(),
            reason,
        };
        let output = client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|err| failed(crate::aws::error_text(&err)))?;
        let value = output
            .secret_string
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| failed("it has no string value".to_owned()))?;
        let value = Arc::new(value);
        *cached = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({})", self.id())
    }
}

/// Two secrets are the same secret when they name the same one (or are the same fixed
/// value): configuration compares where values come from, not what they are.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        match (&*self.0, &*other.0) {
            (Source::Fixed(a), Source::Fixed(b)) => a == b,
            (Source::Managed(a), Source::Managed(b)) => a.secret_id == b.secret_id,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_secret_never_its_value() {
        let fixed = Secret::fixed("hunter2-super-secret-value");
        assert_eq!(format!("{fixed:?}"), "Secret(fixed)");
        let managed = Secret::managed("payouts/prod/razorpayx-api", Duration::from_secs(1));
        assert_eq!(format!("{managed:?}"), "Secret(payouts/prod/razorpayx-api)");
    }
}
