//! The AWS SDK configuration every function shares: the standard chain (environment,
//! Lambda's role; `AWS_ENDPOINT_URL_<SERVICE>` locally, so no code path special-cases
//! the local stack) with an HTTPS client that trusts AWS's roots only.

use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};

/// Amazon Root CA 1–4 and Starfield Services Root G2, which every AWS endpoint chains
/// to. The SDK would otherwise read and parse every certificate under
/// `/etc/ssl/certs` while a client is built, which was most of a cold start's
/// instructions (docs/BENCHMARKS.md). It also narrows whom a payout service's TLS trusts.
const AWS_ROOT_CAS: &str = include_str!("aws-roots.pem");

pub async fn sdk_config() -> aws_config::SdkConfig {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AWS_ROOT_CAS);
    let http_client = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map(|tls| {
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(tls)
                .build_https()
        });
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let loader = match http_client {
        Ok(http_client) => loader.http_client(http_client),
        // The bundled roots always parse (a test holds it); should they not, keep the
        // SDK's default.
        Err(_) => loader,
    };
    loader.load().await
}

/// An AWS SDK error as our errors, and so our logs, may carry it: each cause's message
/// in turn, redacted. Never its `Debug` (what `DisplayErrorContext` appends), which
/// holds the raw response whole: for a refused conditional write that returns the old
/// item, that is the item, a payout account's number included; for a secret's answer,
/// the secret.
pub fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    crate::telemetry::redact(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_aws_root_cas_parse() {
        assert_eq!(
            AWS_ROOT_CAS.matches("-----BEGIN CERTIFICATE-----").count(),
            5
        );
        let trust = TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AWS_ROOT_CAS);
        assert!(TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .is_ok());
    }
}
