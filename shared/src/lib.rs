//! The payout service's domain. Function crates parse an event, call one operation
//! here and shape the response; everything else lives in this crate.

pub mod account;
pub mod admin;
pub mod auth;
pub mod aws;
pub mod bulk;
pub mod config;
pub mod cursor;
pub mod error;
pub mod events;
pub mod gateway;
pub mod http;
pub mod listing;
pub mod metrics;
pub mod money;
pub mod names;
pub mod notify;
pub mod order;
pub mod payout;
pub mod process;
pub mod schedule;
pub mod scout;
pub mod secrets;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod vault;
pub mod verification;
pub mod webhook;

pub use error::{Error, Result};
