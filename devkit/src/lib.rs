//! Local tooling shared by `cargo xtask` and the test suites: it runs DynamoDB Local,
//! creates the table from `template.yaml`, loads fixtures, mints dev tokens and checks
//! the money invariants. Nothing here is deployed.

pub mod api;
pub mod counting;
pub mod dynamodb_local;
pub mod fixture;
pub mod invariants;
pub mod paths;
pub mod runtime_stub;
pub mod table;
pub mod testing;
pub mod token;
