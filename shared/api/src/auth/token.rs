//! Bearer tokens to [`Actor`]s (docs/API.md, Authentication).
//!
//! Deployed stages: an asymmetric signature (RS*/PS*/ES* as configured) by a key from
//! the issuer's JWKS, `iss`, `aud`, `exp` required, `nbf` and `iat` checked when
//! present, and a lifetime no longer than the configured maximum. Local runs: HS256
//! with the local secret. `alg: none`, HMAC outside local, and any algorithm not
//! configured never verify: the algorithm is checked against the allow-list, then
//! against the key the `kid` names, before any signature is computed.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::config::{AuthConfig, ClaimNames, IssuerConfig};
use super::jwks::{Jwks, JWKS_MIN_REFRESH};
use super::{Actor, Role};
use domain::actor::{Caller, ServiceCaller};
use domain::error::{Error, Result};

/// An `iat` this far ahead of our clock is a clock difference, not a forgery.
const CLOCK_SKEW_SECS: u64 = 30;

pub enum TokenVerifier {
    /// `STAGE=local`: HS256 with the local secret.
    Local {
        key: DecodingKey,
        validation: Validation,
    },
    Issuer {
        jwks: Jwks,
        validation: Validation,
        rules: Box<IssuerRules>,
        max_ttl_secs: u64,
    },
}

/// What a deployed stage holds a verified token's claims to, besides the signature.
#[derive(Debug)]
pub struct IssuerRules {
    claims: ClaimNames,
    /// The `aud` a token must hold; only a listed service client's access token may
    /// come without one (Cognito's client-credentials tokens carry `client_id`, no
    /// `aud`).
    audience: String,
    service_clients: Vec<String>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenVerifier::Local { .. } => f.write_str("TokenVerifier(local HS256)"),
            TokenVerifier::Issuer { jwks, .. } => {
                f.debug_tuple("TokenVerifier").field(jwks).finish()
            }
        }
    }
}

impl TokenVerifier {
    pub fn from_config(config: &AuthConfig) -> Result<Self> {
        match config {
            AuthConfig::LocalSecret(secret) => Ok(Self::local(secret)),
            AuthConfig::Issuer(issuer) => Self::issuer(issuer, JWKS_MIN_REFRESH),
        }
    }

    /// HS256 with `secret`: local runs and tests only ([`AuthConfig`] refuses it
    /// elsewhere).
    pub fn local(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        // `sub` is checked by `actor_of` itself: the library's own check only accepts a
        // string, and docs/API.md (Authentication) accepts a JSON number too.
        validation.set_required_spec_claims(&["exp"]);
        TokenVerifier::Local {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Tokens of `config`'s issuer. `min_refresh` bounds how often its key set is
    /// fetched ([`JWKS_MIN_REFRESH`] but in tests of the refresh).
    pub fn issuer(config: &IssuerConfig, min_refresh: std::time::Duration) -> Result<Self> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = config.algorithms.clone();
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&config.issuer]);
        // `aud` is checked by `audience_holds` after the signature: required of every
        // token but a listed service client's access token.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss"]);
        Ok(TokenVerifier::Issuer {
            jwks: Jwks::new(&config.jwks_url, !config.local, min_refresh)?,
            validation,
            rules: Box::new(IssuerRules {
                claims: config.claims.clone(),
                audience: config.audience.clone(),
                service_clients: config.service_clients.clone(),
            }),
            max_ttl_secs: config.max_ttl_secs,
        })
    }

    /// Whom an `Authorization` header value speaks for.
    pub async fn caller(&self, authorization: Option<&str>) -> Result<Caller> {
        let header = authorization
            .ok_or_else(|| Error::Unauthenticated("missing Authorization header".to_owned()))?;
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                Error::Unauthenticated("Authorization must be `Bearer <token>`".to_owned())
            })?;
        match self {
            TokenVerifier::Local { key, validation } => {
                let claims = verified_claims(token, key, validation)?;
                // `cargo xtask token` writes `role` as `admin` or `user` (docs/API.md,
                // Authentication); anything else there is not a token of ours.
                let role_is_ours = match claims.get("role") {
                    None => true,
                    Some(role) => role
                        .as_str()
                        .is_some_and(|role| role == "admin" || role == "user"),
                };
                if !role_is_ours {
                    return Err(invalid());
                }
                caller_of(&claims, &ClaimNames::default())
            }
            TokenVerifier::Issuer {
                jwks,
                validation,
                rules,
                max_ttl_secs,
            } => {
                // The header is read unverified only to pick the key; the algorithm
                // must be one we allow and one the key is for, before anything else.
                let header = decode_header(token).map_err(|_| invalid())?;
                if !validation.algorithms.contains(&header.alg) {
                    return Err(invalid());
                }
                let kid = header
                    .kid
                    .as_deref()
                    .filter(|kid| !kid.is_empty())
                    .ok_or_else(|| {
                        Error::Unauthenticated("token names no signing key (kid)".to_owned())
                    })?;
                let key = jwks.key(kid).await?;
                if !key.verifies(header.alg) {
                    return Err(invalid());
                }
                // The library wants every allowed algorithm to be of the key's family:
                // the one allowed here is the one the header names, checked above.
                let mut validation = validation.clone();
                validation.algorithms = vec![header.alg];
                let claims = verified_claims(token, &key.key, &validation)?;
                check_lifetime(&claims, *max_ttl_secs)?;
                rules.caller(&claims)
            }
        }
    }
}

impl IssuerRules {
    /// Whom verified claims speak for, once their audience holds: a user or admin
    /// only with `aud`; the marketplace's backend only as a listed client, with `aud`
    /// or as an access token without one.
    fn caller(&self, claims: &Value) -> Result<Caller> {
        let audience_holds = match claims.get("aud") {
            None => None,
            Some(Value::String(audience)) => Some(*audience == self.audience),
            Some(Value::Array(audiences)) => Some(
                audiences
                    .iter()
                    .any(|audience| audience.as_str() == Some(self.audience.as_str())),
            ),
            Some(_) => return Err(invalid()),
        };
        if audience_holds == Some(false) {
            return Err(Error::Unauthenticated(
                "token is not meant for this service and stage (aud)".to_owned(),
            ));
        }
        let has_audience = audience_holds.is_some();
        match caller_of(claims, &self.claims)? {
            Caller::Service(service) => {
                if !self.service_clients.contains(&service.client_id) {
                    return Err(Error::Forbidden(format!(
                        "client {} is not one of this stage's marketplace clients \
                         (JWT_SERVICE_CLIENT_IDS)",
                        service.client_id
                    )));
                }
                let access_token = claims
                    .get("token_use")
                    .is_none_or(|token_use| token_use.as_str() == Some("access"));
                if !has_audience && !access_token {
                    return Err(no_audience());
                }
                Ok(Caller::Service(service))
            }
            Caller::Person(_) if !has_audience => Err(no_audience()),
            person => Ok(person),
        }
    }
}

fn no_audience() -> Error {
    Error::Unauthenticated("token has no `aud` claim".to_owned())
}

fn invalid() -> Error {
    Error::Unauthenticated("token is not valid".to_owned())
}

fn verified_claims(token: &str, key: &DecodingKey, validation: &Validation) -> Result<Value> {
    decode::<Value>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|err| match err.kind() {
            ErrorKind::ExpiredSignature => Error::Unauthenticated("token has expired".to_owned()),
            ErrorKind::ImmatureSignature => {
                Error::Unauthenticated("token is not valid yet (nbf)".to_owned())
            }
            ErrorKind::InvalidIssuer => {
                Error::Unauthenticated("token was not issued by this service's issuer".to_owned())
            }
            ErrorKind::InvalidAudience => Error::Unauthenticated(
                "token is not meant for this service and stage (aud)".to_owned(),
            ),
            ErrorKind::MissingRequiredClaim(claim) => {
                Error::Unauthenticated(format!("token has no `{claim}` claim"))
            }
            _ => invalid(),
        })
}

/// A token may not live longer than `max_ttl_secs`: from `iat` when it says when it was
/// issued, else from now (a token without `iat` that expires too far ahead is refused
/// all the same). An `iat` in the future is refused beyond a small clock skew.
fn check_lifetime(claims: &Value, max_ttl_secs: u64) -> Result<()> {
    let now = jsonwebtoken::get_current_timestamp();
    let exp = claims["exp"].as_u64().ok_or_else(invalid)?;
    let issued = match claims.get("iat") {
        None => now,
        Some(iat) => {
            let iat = iat.as_u64().ok_or_else(invalid)?;
            if iat > now.saturating_add(CLOCK_SKEW_SECS) {
                return Err(Error::Unauthenticated(
                    "token says it was issued in the future (iat)".to_owned(),
                ));
            }
            iat
        }
    };
    if exp.saturating_sub(issued) > max_ttl_secs {
        return Err(Error::Unauthenticated(format!(
            "token lives longer than the {max_ttl_secs} seconds this service accepts"
        )));
    }
    Ok(())
}

/// Whom a verified token's claims speak for: the marketplace's backend when they carry
/// the service scope (a client-credentials token), else the user they name. A token
/// with the service scope is a service's whatever else it says, so it can never act
/// as a user or an admin; the identity provider grants that scope to the
/// marketplace's client alone (docs/MARKETPLACE.md).
fn caller_of(claims: &Value, names: &ClaimNames) -> Result<Caller> {
    let scoped = match claim(claims, &names.service_scope_claim) {
        Some(Value::String(text)) => text
            .split_whitespace()
            .any(|scope| scope == names.service_scope),
        Some(Value::Array(values)) => values
            .iter()
            .any(|value| value.as_str() == Some(names.service_scope.as_str())),
        _ => false,
    };
    if !scoped {
        return actor_of(claims, names).map(Caller::Person);
    }
    // Cognito and Okta name the client in `client_id`, Auth0 and Keycloak in `azp`;
    // `sub` is the client too in a client-credentials token.
    let client_id = ["client_id", "azp", "sub"]
        .into_iter()
        .filter_map(|name| claims.get(name).and_then(Value::as_str))
        .find(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| Error::Unauthenticated("service token names no client".to_owned()))?;
    Ok(Caller::Service(ServiceCaller {
        client_id: client_id.to_owned(),
    }))
}

/// The actor a verified token's claims name.
fn actor_of(claims: &Value, names: &ClaimNames) -> Result<Actor> {
    let user_id = match claim(claims, &names.user_id) {
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text))
            if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
    .ok_or_else(|| Error::Unauthenticated("token subject is not a user id".to_owned()))?;
    let admin = match claim(claims, &names.role) {
        // Only an OAuth scope list is a space-separated set; any other string is one
        // role, so a free-text claim holding "user admin" makes nobody an admin.
        Some(Value::String(text)) if is_scope_list(&names.role) => {
            text.split_whitespace().any(|role| role == names.admin_role)
        }
        Some(Value::String(text)) => *text == names.admin_role,
        Some(Value::Array(values)) => values
            .iter()
            .any(|value| value.as_str() == Some(names.admin_role.as_str())),
        // Absent (or of another shape) means the least privilege.
        _ => false,
    };
    Ok(Actor {
        user_id,
        role: if admin { Role::Admin } else { Role::User },
    })
}

/// The claims OAuth defines as space-separated scope lists (RFC 8693 `scope`, and
/// `scp` as Azure AD and Okta write it).
fn is_scope_list(claim: &str) -> bool {
    matches!(claim, "scope" | "scp")
}

/// A claim by name, or by JSON pointer when the name starts with `/`.
fn claim<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    if name.starts_with('/') {
        claims.pointer(name)
    } else {
        claims.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_come_from_a_string_a_scope_list_or_an_array() {
        let cognito = ClaimNames {
            user_id: "custom:user_id".to_owned(),
            role: "cognito:groups".to_owned(),
            admin_role: "payouts-admin".to_owned(),
            ..ClaimNames::default()
        };
        let admin = json!({"custom:user_id": "42", "cognito:groups": ["sellers", "payouts-admin"]});
        assert_eq!(actor_of(&admin, &cognito).unwrap(), Actor::admin(42));
        let user = json!({"custom:user_id": "42", "cognito:groups": ["payouts-admins"]});
        assert_eq!(actor_of(&user, &cognito).unwrap(), Actor::user(42));

        let scoped = ClaimNames {
            role: "scope".to_owned(),
            admin_role: "payouts:admin".to_owned(),
            ..ClaimNames::default()
        };
        let admin = json!({"sub": 7, "scope": "openid payouts:admin"});
        assert_eq!(actor_of(&admin, &scoped).unwrap(), Actor::admin(7));

        let keycloak = ClaimNames {
            role: "/realm_access/roles".to_owned(),
            ..ClaimNames::default()
        };
        let admin = json!({"sub": "7", "realm_access": {"roles": ["admin"]}});
        assert_eq!(actor_of(&admin, &keycloak).unwrap(), Actor::admin(7));

        // The default names: `role` "admin" or nothing; a free-text role is one value.
        let names = ClaimNames::default();
        assert_eq!(
            actor_of(&json!({"sub": "7", "role": "user admin"}), &names).unwrap(),
            Actor::user(7)
        );
        assert_eq!(
            actor_of(&json!({"sub": "7", "role": "admin"}), &names).unwrap(),
            Actor::admin(7)
        );
        assert_eq!(
            actor_of(&json!({"sub": "7"}), &names).unwrap(),
            Actor::user(7)
        );
        assert_eq!(
            actor_of(&json!({"sub": "7", "role": {"admin": true}}), &names).unwrap(),
            Actor::user(7)
        );
        for sub in [
            json!("abc"),
            json!(""),
            json!(-1),
            json!("123456789012345678901"),
            json!(null),
        ] {
            assert!(actor_of(&json!({"sub": sub}), &names).is_err(), "{sub}");
        }
    }

    #[test]
    fn the_service_scope_makes_a_service_caller_and_nothing_else_does() {
        let names = ClaimNames::default();
        let service = |client: &str| {
            Caller::Service(ServiceCaller {
                client_id: client.to_owned(),
            })
        };
        // Cognito: `client_id` and a space-separated `scope`.
        let cognito = json!({"sub": "abc", "client_id": "abc", "scope": "payouts/marketplace"});
        assert_eq!(caller_of(&cognito, &names).unwrap(), service("abc"));
        // Auth0: `azp`, and a `sub` that is not a user id.
        let auth0 = json!({"sub": "m@clients", "azp": "m", "scope": "read:x payouts/marketplace"});
        assert_eq!(caller_of(&auth0, &names).unwrap(), service("m"));
        // An array of scopes, under a configured claim.
        let azure = ClaimNames {
            service_scope_claim: "roles".to_owned(),
            service_scope: "Payouts.Marketplace".to_owned(),
            ..ClaimNames::default()
        };
        let roles = json!({"sub": "app", "roles": ["Payouts.Marketplace"]});
        assert_eq!(caller_of(&roles, &azure).unwrap(), service("app"));
        // With the scope, an admin role does not make an admin: it is a service.
        let both = json!({"sub": "7", "role": "admin", "scope": "payouts/marketplace"});
        assert_eq!(caller_of(&both, &names).unwrap(), service("7"));
        // A look-alike scope is no scope: the user it names, or no one.
        for scope in [
            "payouts/marketplaces",
            "payouts/marketplace:read",
            "PAYOUTS/MARKETPLACE",
        ] {
            let token = json!({"sub": "7", "scope": scope});
            assert_eq!(
                caller_of(&token, &names).unwrap(),
                Caller::Person(Actor::user(7)),
                "{scope}"
            );
        }
        // A service token must name its client.
        assert!(caller_of(&json!({"scope": "payouts/marketplace"}), &names).is_err());
        assert!(caller_of(&json!({"sub": "", "scope": "payouts/marketplace"}), &names).is_err());
    }

    #[test]
    fn a_lifetime_over_the_maximum_is_refused() {
        let now = jsonwebtoken::get_current_timestamp();
        assert!(check_lifetime(&json!({"exp": now + 3600, "iat": now}), 3600).is_ok());
        assert!(check_lifetime(&json!({"exp": now + 3601, "iat": now}), 3600).is_err());
        // Issued long ago but still valid: its lifetime is what counts.
        assert!(check_lifetime(&json!({"exp": now + 60, "iat": now - 7200}), 3600).is_err());
        // No iat: the time left is its lifetime.
        assert!(check_lifetime(&json!({"exp": now + 600}), 3600).is_ok());
        assert!(check_lifetime(&json!({"exp": now + 7200}), 3600).is_err());
        assert!(check_lifetime(&json!({"exp": now + 600, "iat": now + 300}), 3600).is_err());
    }
}
