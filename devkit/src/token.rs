//! Dev tokens for `cargo xtask token`: HS256, signed with `JWT_SECRET` (or the
//! documented local secret), with the claims DESIGN §7 names.

use anyhow::Result;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde::Serialize;
use shared::auth::Role;

#[derive(Serialize)]
struct Claims {
    sub: String,
    role: Role,
    iat: i64,
    exp: i64,
}

pub fn mint(secret: &str, user_id: u64, role: Role, ttl_secs: u64) -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = Claims {
        sub: user_id.to_string(),
        role,
        iat: i64::try_from(now)?,
        exp: i64::try_from(now.saturating_add(ttl_secs))?,
    };
    Ok(encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}
