//! The payout service over its domain (the `domain` crate, re-exported here): the
//! DynamoDB store, the gateways, the use cases and the HTTP edge. Function crates parse
//! an event, call one operation here and shape the response.

pub mod account;
pub mod admin;
pub mod auth;
pub mod bulk;
pub mod config;
pub mod cursor;
pub mod events;
pub mod http;
pub mod listing;
pub mod notify;
pub mod order;
pub mod process;
pub mod schedule;
pub mod scout;
pub mod stats;
pub mod verification;
pub mod webhook;

// The lower crates' modules, under the paths the rest of the service has always named.
pub use domain::{error, money, names, payout, time};
pub use gateway;
pub use platform::{aws, metrics, secrets, telemetry, vault};
pub use store;

pub use error::{Error, Result};
