//! Who is asking: a bearer token's verified claims become an [`Actor`] (the use cases
//! enforce roles and ownership on it), by a verifier built from [`AuthConfig`].

mod config;
mod jwks;
mod token;

pub use config::{AuthConfig, ClaimNames, IssuerConfig, DEFAULT_MAX_TTL_SECS, DEV_JWT_SECRET};
pub use domain::actor::{Actor, Role};
pub use jwks::{Jwks, JWKS_MIN_REFRESH};
pub use token::TokenVerifier;
