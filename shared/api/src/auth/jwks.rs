//! The identity provider's public keys (its JWKS), fetched at first use and cached.
//!
//! A token naming a key id we do not hold makes us fetch the set again, at most once
//! per [`JWKS_MIN_REFRESH`], so a flood of made-up `kid`s costs the issuer one request a
//! minute. A set older than [`JWKS_MAX_AGE`] is fetched again before it is used, so a
//! key the issuer withdrew stops working within that time. When no set can be fetched,
//! nothing verifies: the request is answered 503, never let through.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;

use domain::error::{Error, Result};

/// The least time between two fetches of the key set, whatever asks for them.
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(60);
/// The longest a fetched key set is trusted before it is fetched again.
const JWKS_MAX_AGE: Duration = Duration::from_secs(3_600);
/// One fetch, connection included: a slow issuer must not eat an API call's 29 seconds.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// Key sets are a few kilobytes; a larger answer is not one.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// A public key from the set, with what it may verify.
#[derive(Clone)]
pub(super) struct VerifyingKey {
    pub key: DecodingKey,
    kind: KeyKind,
    /// The key's own `alg`, when the set names one: a token must use exactly it.
    algorithm: Option<Algorithm>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
}

impl VerifyingKey {
    /// Whether this key may verify a token signed with `algorithm`: an RSA key never
    /// checks an ECDSA signature and the other way round, and never an HMAC one.
    pub fn verifies(&self, algorithm: Algorithm) -> bool {
        let family_fits = match algorithm {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => self.kind == KeyKind::Rsa,
            Algorithm::ES256 => self.kind == KeyKind::P256,
            Algorithm::ES384 => self.kind == KeyKind::P384,
            _ => false,
        };
        family_fits && self.algorithm.is_none_or(|own| own == algorithm)
    }
}

struct KeySet {
    keys: HashMap<String, VerifyingKey>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

pub struct Jwks {
    url: String,
    http: reqwest::Client,
    min_refresh: Duration,
    state: Mutex<KeySet>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks").field("url", &self.url).finish()
    }
}

impl Jwks {
    /// The key set at `url`. `https_only` outside local runs; `min_refresh` is
    /// [`JWKS_MIN_REFRESH`] everywhere but in tests of the refresh itself.
    pub fn new(url: &str, https_only: bool, min_refresh: Duration) -> Result<Self> {
        // The issuer is often not AWS (Auth0, Keycloak, the marketplace's own), so this
        // client trusts the public web's roots (the platform's), unlike the AWS clients.
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .https_only(https_only)
            .build()
            .map_err(|err| Error::Config(format!("JWKS client: {err}")))?;
        Ok(Jwks {
            url: url.to_owned(),
            http,
            min_refresh,
            state: Mutex::new(KeySet {
                keys: HashMap::new(),
                fetched_at: None,
                last_attempt: None,
            }),
        })
    }

    /// The key `kid` names, fetching the set when it is missing, too old, or lacks it.
    pub(super) async fn key(&self, kid: &str) -> Result<VerifyingKey> {
        // Held across the fetch: requests arriving meanwhile wait for its keys rather
        // than fetching again.
        let mut state = self.state.lock().await;
        let fresh = state
            .fetched_at
            .is_some_and(|fetched| fetched.elapsed() < JWKS_MAX_AGE);
        if fresh {
            if let Some(key) = state.keys.get(kid) {
                return Ok(key.clone());
            }
        }
        let may_fetch = state
            .last_attempt
            .is_none_or(|attempt| attempt.elapsed() >= self.min_refresh);
        if !may_fetch {
            return Err(if fresh {
                Error::Unauthenticated(
                    "token is signed with a key the issuer does not list".to_owned(),
                )
            } else {
                Error::DependencyUnavailable(
                    "the identity provider's keys could not be fetched".to_owned(),
                )
            });
        }
        state.last_attempt = Some(Instant::now());
        // Boxed: an HTTP client's future is large, and this sits under every request.
        match Box::pin(self.fetch()).await {
            Ok(keys) => {
                state.keys = keys;
                state.fetched_at = Some(Instant::now());
            }
            Err(reason) => {
                tracing::error!(event = "jwks_fetch_failed", url = %self.url, reason, "the identity provider's keys could not be fetched");
                platform::metrics::emit(
                    &[("JwksFetchFailed", platform::metrics::Unit::Count, 1)],
                    &[],
                );
                if !fresh {
                    // Fail closed: keys past their age are not trusted any longer.
                    state.keys.clear();
                    state.fetched_at = None;
                    return Err(Error::DependencyUnavailable(
                        "the identity provider's keys could not be fetched".to_owned(),
                    ));
                }
            }
        }
        state.keys.get(kid).cloned().ok_or_else(|| {
            Error::Unauthenticated("token is signed with a key the issuer does not list".to_owned())
        })
    }

    async fn fetch(&self) -> std::result::Result<HashMap<String, VerifyingKey>, String> {
        let mut response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|err| err.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("the issuer answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| err.without_url().to_string())?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("the key set is larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let set: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| "the key set is not JSON".to_owned())?;
        let keys: HashMap<String, VerifyingKey> = set["keys"]
            .as_array()
            .ok_or_else(|| "the key set has no `keys`".to_owned())?
            .iter()
            // One key of a kind we do not use (an encryption key, an unknown curve)
            // does not spoil the others.
            .filter_map(|value| serde_json::from_value::<Jwk>(value.clone()).ok())
            .filter_map(|jwk| verifying_key(&jwk))
            .collect();
        if keys.is_empty() {
            return Err("the key set holds no RSA or EC signing key with a kid".to_owned());
        }
        Ok(keys)
    }
}

/// A signing key of the set, or `None` for a key we never verify with: symmetric keys
/// (a JWKS must not hand out an HMAC secret), encryption keys, keys without a `kid`.
fn verifying_key(jwk: &Jwk) -> Option<(String, VerifyingKey)> {
    let kid = jwk.common.key_id.clone().filter(|kid| !kid.is_empty())?;
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyKind::Rsa,
        AlgorithmParameters::EllipticCurve(params) => match params.curve {
            EllipticCurve::P256 => KeyKind::P256,
            EllipticCurve::P384 => KeyKind::P384,
            _ => return None,
        },
        _ => return None,
    };
    let algorithm = match jwk.common.key_algorithm {
        None => None,
        Some(named) => Some(named.to_string().parse::<Algorithm>().ok()?),
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((
        kid,
        VerifyingKey {
            key,
            kind,
            algorithm,
        },
    ))
}
