//! Dev tokens for `cargo xtask token`: HS256, signed with `JWT_SECRET` (or the documented
//! local secret), with the claims docs/API.md (Authentication) names; and a test identity
//! provider for the asymmetric path deployed stages use.

use anyhow::{Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::actor::Role;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde::Serialize;

#[derive(Serialize)]
struct Claims {
    sub: String,
    role: Role,
    iat: i64,
    exp: i64,
}

pub fn mint(secret: &str, user_id: u64, role: Role, ttl_secs: u64) -> Result<String> {
    let (iat, exp) = lifetime(ttl_secs)?;
    let claims = Claims {
        sub: user_id.to_string(),
        role,
        iat,
        exp,
    };
    sign_hs256(secret, &claims)
}

/// Now and `ttl_secs` from now, as a token's `iat` and `exp`.
fn lifetime(ttl_secs: u64) -> Result<(i64, i64)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    Ok((
        i64::try_from(now)?,
        i64::try_from(now.saturating_add(ttl_secs))?,
    ))
}

/// `claims` signed with the local secret, as `cargo xtask token` signs them.
fn sign_hs256(secret: &str, claims: &impl Serialize) -> Result<String> {
    Ok(encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

#[derive(Serialize)]
struct ServiceClaims<'a> {
    sub: &'a str,
    client_id: &'a str,
    scope: &'a str,
    iat: i64,
    exp: i64,
}

/// A client-credentials token of the marketplace's backend, as the identity provider
/// issues one: its client, and the service scope (`api::auth::DEFAULT_SERVICE_SCOPE`).
pub fn mint_service(secret: &str, client_id: &str, ttl_secs: u64) -> Result<String> {
    let (iat, exp) = lifetime(ttl_secs)?;
    let claims = ServiceClaims {
        sub: client_id,
        client_id,
        scope: api::auth::DEFAULT_SERVICE_SCOPE,
        iat,
        exp,
    };
    sign_hs256(secret, &claims)
}

/// A local identity provider for tests of the asymmetric path: an RSA and
/// an EC P-256 key generated at start, their public halves served as a JWKS on
/// 127.0.0.1, and tokens signed with them. It counts the fetches of its key set and can
/// be told to fail them, so tests see the refresh limit and the fail-closed path.
pub struct TestIssuer {
    rsa_der: Vec<u8>,
    rsa_public: aws_lc_rs::rsa::PublicKeyComponents<Vec<u8>>,
    ec_pkcs8: Vec<u8>,
    jwks: std::sync::Arc<JwksState>,
    port: u16,
    server: tokio::task::JoinHandle<()>,
    pub audience: String,
}

#[derive(Default)]
struct JwksState {
    keys: std::sync::Mutex<Vec<serde_json::Value>>,
    fetches: std::sync::atomic::AtomicUsize,
    failing: std::sync::atomic::AtomicBool,
}

/// The one client the test issuer's stage takes as the marketplace's backend.
pub const TEST_SERVICE_CLIENT: &str = "marketplace-m2m";

/// The key ids the test issuer signs with.
pub const RSA_KID: &str = "test-rsa-1";
pub const EC_KID: &str = "test-ec-1";

impl TestIssuer {
    pub async fn start(audience: &str) -> Result<Self> {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair;
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| anyhow::anyhow!("generating an RSA key"))?;
        let rsa_pkcs8 = rsa
            .as_der()
            .map_err(|_| anyhow::anyhow!("encoding the RSA key"))?;
        let rsa_der = pkcs8_rsa_to_pkcs1(rsa_pkcs8.as_ref())?;
        let rsa_public = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let ec_pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .map_err(|_| anyhow::anyhow!("generating an EC key"))?
        .as_ref()
        .to_vec();
        let ec = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &ec_pkcs8,
        )
        .map_err(|_| anyhow::anyhow!("reading the EC key back"))?;
        let point = ec.public_key().as_ref().to_vec();
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let jwks = std::sync::Arc::new(JwksState::default());
        *jwks.keys.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = vec![
            serde_json::json!({"kty": "RSA", "kid": RSA_KID, "use": "sig", "alg": "RS256",
                "n": b64(&rsa_public.n), "e": b64(&rsa_public.e)}),
            serde_json::json!({"kty": "EC", "kid": EC_KID, "use": "sig", "crv": "P-256",
                "x": b64(&point[1..33]), "y": b64(&point[33..65])}),
        ];
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let state = jwks.clone();
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let state = state.clone();
                async move {
                    state
                        .fetches
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if state.failing.load(std::sync::atomic::Ordering::SeqCst) {
                        return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
                    }
                    let keys = state
                        .keys
                        .lock()
                        .map_err(|_| axum::http::StatusCode::INTERNAL_SERVER_ERROR)?
                        .clone();
                    Ok(axum::Json(serde_json::json!({ "keys": keys })))
                }
            }),
        );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(TestIssuer {
            rsa_der,
            rsa_public,
            ec_pkcs8,
            jwks,
            port,
            server,
            audience: audience.to_owned(),
        })
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.issuer())
    }

    /// The configuration a function verifying this issuer's tokens runs with.
    pub fn config(&self) -> api::auth::IssuerConfig {
        api::auth::AuthConfig::from_lookup(|name| match name {
            "STAGE" => Some(service::config::LOCAL_STAGE.to_owned()),
            "JWT_JWKS_URL" => Some(self.jwks_url()),
            "JWT_ISSUER" => Some(self.issuer()),
            "JWT_AUDIENCE" => Some(self.audience.clone()),
            "JWT_SERVICE_CLIENT_IDS" => Some(TEST_SERVICE_CLIENT.to_owned()),
            _ => None,
        })
        .ok()
        .and_then(|config| match config {
            api::auth::AuthConfig::Issuer(issuer) => Some(*issuer),
            api::auth::AuthConfig::LocalSecret(_) => None,
        })
        .expect("a JWKS URL, issuer and audience make an issuer configuration")
    }

    /// How many times its key set was asked for.
    pub fn fetches(&self) -> usize {
        self.jwks.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// From now on every fetch of the key set fails (503), or succeeds again.
    pub fn set_failing(&self, failing: bool) {
        self.jwks
            .failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }

    /// Claims a valid token of this issuer carries, for `user_id` (and the admin role).
    pub fn claims(&self, user_id: u64, admin: bool) -> serde_json::Value {
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = serde_json::json!({
            "iss": self.issuer(), "aud": self.audience, "sub": user_id.to_string(),
            "iat": now, "exp": now + 600,
        });
        if admin {
            claims["role"] = serde_json::json!("admin");
        }
        claims
    }

    /// Claims of a client-credentials token of `client_id` with the service scope, as
    /// Cognito issues one: `client_id`, `token_use: access`, and no `aud`.
    pub fn service_claims(&self, client_id: &str) -> serde_json::Value {
        let now = jsonwebtoken::get_current_timestamp();
        serde_json::json!({
            "iss": self.issuer(), "sub": client_id, "client_id": client_id,
            "token_use": "access", "scope": api::auth::DEFAULT_SERVICE_SCOPE,
            "iat": now, "exp": now + 600,
        })
    }

    /// `claims` signed with the RSA key (RS256) under `kid`.
    pub fn sign_rs256(&self, claims: &serde_json::Value, kid: &str) -> Result<String> {
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        Ok(encode(
            &header,
            claims,
            &EncodingKey::from_rsa_der(&self.rsa_der),
        )?)
    }

    /// `claims` signed with the EC key (ES256) under `kid`.
    pub fn sign_es256(&self, claims: &serde_json::Value, kid: &str) -> Result<String> {
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        Ok(encode(
            &header,
            claims,
            &EncodingKey::from_ec_der(&self.ec_pkcs8),
        )?)
    }

    /// The RSA public key as an attacker would hold it: its modulus and exponent, the
    /// bytes of its JWK.
    pub fn rsa_public_key_bytes(&self) -> Vec<Vec<u8>> {
        vec![
            self.rsa_public.n.clone(),
            [self.rsa_public.n.as_slice(), self.rsa_public.e.as_slice()].concat(),
            URL_SAFE_NO_PAD.encode(&self.rsa_public.n).into_bytes(),
        ]
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (aws-lc-rs exports
/// PKCS#8; jsonwebtoken signs with PKCS#1): the content of its one OCTET STRING. Test
/// keys only, of the shape aws-lc-rs writes.
fn pkcs8_rsa_to_pkcs1(der: &[u8]) -> Result<Vec<u8>> {
    // SEQUENCE { INTEGER 0, SEQUENCE { rsaEncryption, NULL }, OCTET STRING { key } }
    const RSA_ALGORITHM: [u8; 18] = [
        0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
        0x01, 0x05, 0x00,
    ];
    let header_len = |at: usize| -> Result<(usize, usize)> {
        match der.get(at + 1).copied() {
            Some(short) if short < 0x80 => Ok((2, usize::from(short))),
            Some(0x82) => {
                let high = usize::from(*der.get(at + 2).context("truncated")?);
                let low = usize::from(*der.get(at + 3).context("truncated")?);
                Ok((4, high << 8 | low))
            }
            _ => anyhow::bail!("not a PKCS#8 key of the expected shape"),
        }
    };
    let (outer, _) = header_len(0)?;
    let octets_at = outer + RSA_ALGORITHM.len();
    anyhow::ensure!(
        der.get(outer..octets_at) == Some(&RSA_ALGORITHM[..]) && der.get(octets_at) == Some(&0x04),
        "not an RSA PKCS#8 key"
    );
    let (header, len) = header_len(octets_at)?;
    let start = octets_at + header;
    der.get(start..start + len)
        .map(<[u8]>::to_vec)
        .context("truncated")
}
