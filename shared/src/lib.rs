//! The payout service's use cases, over the crates below it (domain, platform, store,
//! gateway; their modules re-exported here under the paths callers have always named).
//! The scheduled and event-driven functions call one operation here; the API's
//! functions reach it through the `api` crate.

pub mod account;
pub mod admin;
pub mod bulk;
pub mod config;
pub mod cursor;
pub mod events;
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
// Who is asking; the tokens that say so are verified at the edge (`api::auth`).
pub use domain::actor as auth;
pub use gateway;
pub use platform::{aws, metrics, secrets, telemetry, vault};
pub use store;

pub use error::{Error, Result};
