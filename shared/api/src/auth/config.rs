//! How bearer tokens are verified (docs/API.md, Authentication): read only by the functions
//! behind a token, so the webhook, the dashboard page and the scheduled functions never
//! build it.
//!
//! Deployed stages verify asymmetric tokens from the marketplace's identity provider
//! with its public keys (`JWT_JWKS_URL`): no function holds a key that can mint a
//! token. HS256 with a shared secret is for `STAGE=local` alone.

use jsonwebtoken::{Algorithm, AlgorithmFamily};

use domain::error::{Error, Result};
use domain::settings::{parse, trimmed, within};
use service::config::LOCAL_STAGE;

/// The documented local secret (docs/CONFIGURATION.md): tokens from `cargo xtask token` are signed
/// with it, and only `STAGE=local` accepts it.
pub const DEV_JWT_SECRET: &str = "local-dev-secret-do-not-use-in-production-0123456789";

/// A token may live at most this long unless `JWT_MAX_TTL_SECS` says otherwise.
pub const DEFAULT_MAX_TTL_SECS: u64 = 3_600;

/// The asymmetric algorithms a deployed stage may accept, and the default set.
const ASYMMETRIC: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];
const DEFAULT_ALGORITHMS: &str = "RS256,ES256";

#[derive(Clone, PartialEq)]
pub enum AuthConfig {
    /// `STAGE=local` without `JWT_JWKS_URL`: HS256 with `JWT_SECRET` (default
    /// [`DEV_JWT_SECRET`]).
    LocalSecret(String),
    /// Every deployed stage: the identity provider's public keys.
    Issuer(Box<IssuerConfig>),
}

/// Never prints the local secret.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthConfig::LocalSecret(_) => f.write_str("LocalSecret(<redacted>)"),
            AuthConfig::Issuer(issuer) => f.debug_tuple("Issuer").field(issuer).finish(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct IssuerConfig {
    /// `JWT_JWKS_URL`: where the issuer publishes its public keys (https; plain http
    /// only under `STAGE=local`).
    pub jwks_url: String,
    /// `JWT_ISSUER`: the `iss` every token must carry.
    pub issuer: String,
    /// `JWT_AUDIENCE`: the `aud` a token must hold; one per stage, so a token for
    /// another stage is refused even in the same account.
    pub audience: String,
    /// `JWT_MAX_TTL_SECS` (default one hour): a token whose `exp - iat` is longer is
    /// refused.
    pub max_ttl_secs: u64,
    /// `JWT_ALGORITHMS` (default `RS256,ES256`): asymmetric algorithms only.
    pub algorithms: Vec<Algorithm>,
    pub claims: ClaimNames,
    /// `JWT_SERVICE_CLIENT_IDS` (comma-separated; none by default): the clients whose
    /// tokens with the service scope are the marketplace's backend. A token with the
    /// scope from any other client is refused, so a provider that hands the scope to
    /// a users' app client by mistake makes no user a service.
    pub service_clients: Vec<String>,
    /// Plain-http JWKS and the like are allowed (local runs only).
    pub local: bool,
}

/// Where the identity provider puts who the caller is. A name starting with `/` is a
/// JSON pointer into the claims (`/realm_access/roles` for Keycloak); any other name is
/// a top-level claim, taken whole (`cognito:groups`, or an Auth0 namespaced claim such
/// as `https://shop.example/roles`, dots and all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimNames {
    /// `JWT_USER_ID_CLAIM` (default `sub`): the user id, digits or a JSON number.
    pub user_id: String,
    /// `JWT_ROLE_CLAIM` (default `role`): a string (space-separated values, like an
    /// OAuth `scope`) or an array of strings (Cognito's `cognito:groups`).
    pub role: String,
    /// `JWT_ADMIN_ROLE` (default `admin`): the value in the role claim that makes an admin.
    pub admin_role: String,
    /// `JWT_SERVICE_SCOPE_CLAIM` (default `scope`): where a client-credentials token
    /// lists its scopes (a space-separated string or an array).
    pub service_scope_claim: String,
    /// `JWT_SERVICE_SCOPE` (default [`DEFAULT_SERVICE_SCOPE`]): the scope that makes a
    /// token the marketplace's backend calling as itself.
    pub service_scope: String,
}

/// The service scope unless `JWT_SERVICE_SCOPE` says otherwise; `cargo xtask token
/// --service` puts it in local tokens. Shaped as a Cognito resource server's scope
/// (`<identifier>/<scope>`), which other identity providers accept as a name too.
pub const DEFAULT_SERVICE_SCOPE: &str = "payouts/marketplace";

impl Default for ClaimNames {
    fn default() -> Self {
        ClaimNames {
            user_id: "sub".to_owned(),
            role: "role".to_owned(),
            admin_role: "admin".to_owned(),
            service_scope_claim: "scope".to_owned(),
            service_scope: DEFAULT_SERVICE_SCOPE.to_owned(),
        }
    }
}

impl AuthConfig {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = trimmed(lookup);
        let local = var("STAGE").as_deref() == Some(LOCAL_STAGE);
        let Some(jwks_url) = var("JWT_JWKS_URL") else {
            if !local {
                return Err(Error::Config(
                    "JWT_JWKS_URL is not set: outside STAGE=local tokens are verified with the \
                     identity provider's public keys (JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE)"
                        .to_owned(),
                ));
            }
            return Ok(AuthConfig::LocalSecret(
                var("JWT_SECRET").unwrap_or_else(|| DEV_JWT_SECRET.to_owned()),
            ));
        };
        if !local && var("JWT_SECRET").is_some() {
            return Err(Error::Config(
                "JWT_SECRET is set: HS256 tokens are accepted only under STAGE=local; a \
                 deployed function holds no key that can mint a token"
                    .to_owned(),
            ));
        }
        if !local && !jwks_url.starts_with("https://") {
            return Err(Error::Config(format!(
                "JWT_JWKS_URL must be https outside local development, got `{jwks_url}`"
            )));
        }
        let required = |name: &str| {
            var(name).ok_or_else(|| {
                Error::Config(format!(
                    "{name} is not set: tokens from the identity provider are checked against it"
                ))
            })
        };
        let issuer = required("JWT_ISSUER")?;
        let audience = required("JWT_AUDIENCE")?;
        let max_ttl_secs = within(
            parse(&var, "JWT_MAX_TTL_SECS", DEFAULT_MAX_TTL_SECS)?,
            "JWT_MAX_TTL_SECS",
            60,
            86_400,
        )?;
        let algorithms = var("JWT_ALGORITHMS")
            .unwrap_or_else(|| DEFAULT_ALGORITHMS.to_owned())
            .split(',')
            .map(|name| {
                let name = name.trim();
                let algorithm: Algorithm = name.parse().map_err(|_| {
                    Error::Config(format!(
                        "JWT_ALGORITHMS names an unknown algorithm `{name}`"
                    ))
                })?;
                if algorithm.family() == AlgorithmFamily::Hmac || !ASYMMETRIC.contains(&algorithm) {
                    return Err(Error::Config(format!(
                        "JWT_ALGORITHMS may name asymmetric algorithms only (RS*, PS*, ES256, \
                         ES384), not `{name}`: a shared secret would let its holder mint tokens"
                    )));
                }
                Ok(algorithm)
            })
            .collect::<Result<Vec<_>>>()?;
        let defaults = ClaimNames::default();
        let claims = ClaimNames {
            user_id: var("JWT_USER_ID_CLAIM").unwrap_or(defaults.user_id),
            role: var("JWT_ROLE_CLAIM").unwrap_or(defaults.role),
            admin_role: var("JWT_ADMIN_ROLE").unwrap_or(defaults.admin_role),
            service_scope_claim: var("JWT_SERVICE_SCOPE_CLAIM")
                .unwrap_or(defaults.service_scope_claim),
            service_scope: var("JWT_SERVICE_SCOPE").unwrap_or(defaults.service_scope),
        };
        if claims.role == claims.service_scope_claim && claims.admin_role == claims.service_scope {
            return Err(Error::Config(
                "JWT_ADMIN_ROLE and JWT_SERVICE_SCOPE name the same value in the same claim: \
                 the marketplace's backend and an admin must be told apart"
                    .to_owned(),
            ));
        }
        let service_clients = var("JWT_SERVICE_CLIENT_IDS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|client| !client.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(AuthConfig::Issuer(Box::new(IssuerConfig {
            jwks_url,
            issuer,
            audience,
            max_ttl_secs,
            algorithms,
            claims,
            service_clients,
            local,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(pairs: &[(&str, &str)]) -> Result<AuthConfig> {
        AuthConfig::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    const ISSUER: [(&str, &str); 4] = [
        ("STAGE", "prod"),
        ("JWT_JWKS_URL", "https://idp.example/.well-known/jwks.json"),
        ("JWT_ISSUER", "https://idp.example/"),
        ("JWT_AUDIENCE", "payouts-prod"),
    ];

    #[test]
    fn hs256_is_refused_at_start_outside_local() {
        // No JWKS at all: a deployed stage has nothing to verify with.
        let err = auth(&[("STAGE", "prod"), ("JWT_SECRET", "x".repeat(64).as_str())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("JWT_JWKS_URL"), "{err}");
        // A JWKS and a shared secret: the secret is refused, not ignored.
        let mut pairs = ISSUER.to_vec();
        pairs.push(("JWT_SECRET", DEV_JWT_SECRET));
        let err = auth(&pairs).unwrap_err().to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
        // No STAGE is not local either.
        assert!(auth(&[]).is_err());
        for algorithms in ["HS256", "RS256,HS512", "none", "EdDSA"] {
            let mut pairs = ISSUER.to_vec();
            pairs.push(("JWT_ALGORITHMS", algorithms));
            assert!(auth(&pairs).is_err(), "{algorithms}");
        }
    }

    #[test]
    fn a_deployed_stage_needs_https_an_issuer_and_an_audience() {
        let AuthConfig::Issuer(issuer) = auth(&ISSUER).unwrap() else {
            panic!("a deployed stage verifies with the issuer's keys");
        };
        assert_eq!(issuer.max_ttl_secs, 3_600);
        assert_eq!(issuer.algorithms, vec![Algorithm::RS256, Algorithm::ES256]);
        assert_eq!(issuer.claims, ClaimNames::default());
        assert!(!issuer.local);
        for missing in ["JWT_ISSUER", "JWT_AUDIENCE"] {
            let pairs: Vec<_> = ISSUER
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = auth(&pairs).unwrap_err().to_string();
            assert!(err.contains(missing), "{err}");
        }
        let mut plain = ISSUER.to_vec();
        plain[1] = ("JWT_JWKS_URL", "http://idp.example/jwks.json");
        assert!(auth(&plain).is_err());
        let mut long = ISSUER.to_vec();
        long.push(("JWT_MAX_TTL_SECS", "604800"));
        assert!(auth(&long).is_err());
    }

    #[test]
    fn local_runs_keep_hs256_with_the_dev_secret_unless_given_a_jwks() {
        assert_eq!(
            auth(&[("STAGE", "local")]).unwrap(),
            AuthConfig::LocalSecret(DEV_JWT_SECRET.to_owned())
        );
        let local_jwks = auth(&[
            ("STAGE", "local"),
            ("JWT_JWKS_URL", "http://127.0.0.1:9300/jwks.json"),
            ("JWT_ISSUER", "http://127.0.0.1:9300"),
            ("JWT_AUDIENCE", "payouts-local"),
            ("JWT_ROLE_CLAIM", "cognito:groups"),
            ("JWT_ADMIN_ROLE", "payouts-admin"),
        ])
        .unwrap();
        let AuthConfig::Issuer(issuer) = local_jwks else {
            panic!("a JWKS URL means the issuer's keys");
        };
        assert!(issuer.local);
        assert_eq!(issuer.claims.role, "cognito:groups");
        assert_eq!(issuer.claims.admin_role, "payouts-admin");
    }

    #[test]
    fn service_clients_are_listed_and_the_service_scope_is_never_the_admin_role() {
        let AuthConfig::Issuer(issuer) = auth(&ISSUER).unwrap() else {
            panic!("an issuer");
        };
        assert!(
            issuer.service_clients.is_empty(),
            "no service client by default"
        );
        let mut listed = ISSUER.to_vec();
        listed.push(("JWT_SERVICE_CLIENT_IDS", " m2m-1 , m2m-2,"));
        let AuthConfig::Issuer(issuer) = auth(&listed).unwrap() else {
            panic!("an issuer");
        };
        assert_eq!(issuer.service_clients, ["m2m-1", "m2m-2"]);
        let mut overlap = ISSUER.to_vec();
        overlap.extend([
            ("JWT_ROLE_CLAIM", "scope"),
            ("JWT_ADMIN_ROLE", "payouts/marketplace"),
        ]);
        let err = auth(&overlap).unwrap_err().to_string();
        assert!(err.contains("JWT_SERVICE_SCOPE"), "{err}");
    }

    #[test]
    fn debug_never_prints_the_local_secret() {
        let config = AuthConfig::LocalSecret("a-secret-that-must-not-print".to_owned());
        assert!(!format!("{config:?}").contains("must-not-print"));
    }
}
