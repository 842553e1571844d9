//! The lowest layer: what a payout, an amount, a moment and a payout account are, the
//! lifecycle's one table of transitions, and the one error type. Nothing here reaches
//! AWS, the network or a clock other than `Timestamp::now`; every other crate of the
//! service builds on it, and it depends on none of them.

pub mod account;
pub mod error;
pub mod money;
pub mod names;
pub mod order;
pub mod payout;
pub mod scout;
pub mod time;

pub use error::{Error, Result};
