//! Faults injected at the AWS SDK's seam, so tests exercise the real code against the
//! real DynamoDB Local while the network misbehaves.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{BoxError, ConnectorError};
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};

/// Loses the response of the next `count` successful `operation` requests (by its
/// `X-Amz-Target` name, e.g. `UpdateItem`): DynamoDB applied the write, the caller sees
/// an I/O error, and the SDK's retry policy sends the same request again — what a
/// dropped connection does in production.
#[derive(Clone, Debug)]
pub struct LoseResponses {
    operation: &'static str,
    remaining: Arc<AtomicU32>,
}

impl LoseResponses {
    pub fn new(operation: &'static str, count: u32) -> Self {
        LoseResponses {
            operation,
            remaining: Arc::new(AtomicU32::new(count)),
        }
    }

    /// How many of the responses it was to lose are still to come.
    pub fn remaining(&self) -> u32 {
        self.remaining.load(Ordering::SeqCst)
    }

    /// `client` with this fault on every request it sends.
    pub fn wrap(&self, client: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
        with_interceptor(client, self.clone())
    }
}

/// `client` with `interceptor` on every request it sends.
pub fn with_interceptor(
    client: &aws_sdk_dynamodb::Client,
    interceptor: impl Intercept + 'static,
) -> aws_sdk_dynamodb::Client {
    let config = client
        .config()
        .to_builder()
        .interceptor(interceptor)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

impl Intercept for LoseResponses {
    fn name(&self) -> &'static str {
        "LoseResponses"
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The request has gone to the HTTP client by now; the operation's name stays
        // in the config bag.
        let operation = cfg.load::<Metadata>().map(Metadata::name);
        if operation != Some(self.operation) {
            return Ok(());
        }
        let Some(result) = context.output_or_error_mut() else {
            return Ok(());
        };
        if result.is_ok()
            && self
                .remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    left.checked_sub(1)
                })
                .is_ok()
        {
            *result = Err(OrchestratorError::connector(ConnectorError::io(
                "connection reset after the request was applied (injected)".into(),
            )));
        }
        Ok(())
    }
}
