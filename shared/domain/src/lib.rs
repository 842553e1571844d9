//! The lowest layer: what a payout, an amount, a moment, a payout account, a scout, an
//! order and the one asking are, the lifecycle's one table of transitions, the checks
//! every reader of a body or a setting applies, and the one error type. Nothing here reaches
//! AWS, the network or a clock other than `Timestamp::now`; every other crate of the
//! service builds on it, and it depends on none of them.

pub mod account;
pub mod actor;
pub mod body;
pub mod error;
pub mod money;
pub mod names;
pub mod order;
pub mod payout;
pub mod reconciliation;
pub mod scout;
pub mod settings;
pub mod time;

pub use error::{Conflict, Error, Result, StoreFailure};
