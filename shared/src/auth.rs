//! Who is asking: the bearer token's verified claims become an [`Actor`], and the
//! domain operations enforce roles and ownership on it themselves, so no entry point
//! can forget to.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: u64,
    pub role: Role,
}

impl Actor {
    pub fn user(user_id: u64) -> Self {
        Actor {
            user_id,
            role: Role::User,
        }
    }

    pub fn admin(user_id: u64) -> Self {
        Actor {
            user_id,
            role: Role::Admin,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "this action needs the admin role".to_owned(),
            ))
        }
    }

    /// Owners act on their own records; admins act for anyone.
    pub fn require_owner(&self, owner_id: u64, what: &str) -> Result<()> {
        if self.is_admin() || self.user_id == owner_id {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("{what} belongs to another user")))
        }
    }
}

/// Verifies bearer tokens (DESIGN §7): HS256 only, `exp` required and enforced with no
/// leeway, `sub` the user id (digits, or a JSON number), `role` `admin` or `user`.
/// `alg: none` and every other algorithm are refused by the algorithm allow-list.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenVerifier(HS256)")
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Subject,
    /// Absent means the least privilege.
    #[serde(default)]
    role: Option<Role>,
}

/// RFC 7519 says `sub` is a string; some issuers send the numeric id as a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Subject {
    Text(String),
    Number(u64),
}

impl TokenVerifier {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        // `sub` is required by `Claims` itself: the library's own check only accepts a
        // string, and DESIGN §7 accepts a JSON number too.
        validation.set_required_spec_claims(&["exp"]);
        TokenVerifier {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// The actor of an `Authorization` header value.
    pub fn actor(&self, authorization: Option<&str>) -> Result<Actor> {
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
        let claims = decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => {
                    Error::Unauthenticated("token has expired".to_owned())
                }
                _ => Error::Unauthenticated("token is not valid".to_owned()),
            })?
            .claims;
        let user_id = match claims.sub {
            Subject::Number(id) => id,
            Subject::Text(text)
                if !text.is_empty()
                    && text.len() <= 20
                    && text.bytes().all(|b| b.is_ascii_digit()) =>
            {
                text.parse().map_err(|_| {
                    Error::Unauthenticated("token subject is not a user id".to_owned())
                })?
            }
            Subject::Text(_) => {
                return Err(Error::Unauthenticated(
                    "token subject is not a user id".to_owned(),
                ))
            }
        };
        Ok(Actor {
            user_id,
            role: claims.role.unwrap_or(Role::User),
        })
    }
}
