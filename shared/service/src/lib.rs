//! The payout service's use cases, over the crates below it (domain, platform, store,
//! gateway), which callers name themselves. The scheduled and event-driven functions
//! call one operation here; the API's functions reach it through the `api` crate.

pub mod account;
pub mod admin;
pub mod bulk;
pub mod config;
pub mod csv_page;
pub mod cursor;
pub mod events;
pub mod export;
pub mod listing;
pub mod marketplace;
pub mod notify;
pub mod order;
pub mod process;
pub mod reconciliation;
pub mod schedule;
pub mod scout;
pub mod stats;
pub mod verification;
pub mod webhook;

pub use domain::{Error, Result};
