//! Partition heat: what each write costs in DynamoDB's write units, in the table and
//! in each global secondary index, and which partition key it lands on there.
//!
//! - [`billing`]: the rules, pure (item sizes, write units, index entries).
//! - [`recorder`]: an SDK interceptor on a client that records each write request (its
//!   items, whether transactional, whether applied, the capacity DynamoDB reported).
//! - [`ledger`]: each recorded write paired with the stream record of its change (the
//!   item before and after), and billed.
//!
//! `cargo xtask bench --only heat` puts them to work over a lifecycle of payouts.

pub mod billing;
pub mod ledger;
pub mod recorder;
