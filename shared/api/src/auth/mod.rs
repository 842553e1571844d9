//! Who is asking: a bearer token's verified claims become a [`Caller`], a person (an
//! [`Actor`]: the use cases enforce roles and ownership on it) or the marketplace's
//! backend (a [`ServiceCaller`]), by a verifier built from [`AuthConfig`].

mod config;
mod jwks;
mod token;

pub use config::{
    AuthConfig, ClaimNames, IssuerConfig, DEFAULT_MAX_TTL_SECS, DEFAULT_SERVICE_SCOPE,
    DEV_JWT_SECRET,
};
pub use domain::actor::{Actor, Caller, Role, ServiceCaller};
pub use jwks::{Jwks, JWKS_MIN_REFRESH};
pub use token::TokenVerifier;
