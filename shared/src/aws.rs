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
