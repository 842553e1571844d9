//! What ties a function to AWS and to its logs, below the store and the gateways: the
//! AWS SDK's configuration (`aws`), secrets read at run time (`secrets`), payout
//! destinations sealed with KMS (`vault`), the JSON log lines and their redaction
//! (`telemetry`), CloudWatch metrics as log lines (`metrics`), and what an invocation
//! arrives with that a function may keep (`invocation`). It knows the domain's
//! types and nothing of the service above it.

pub mod aws;
pub mod invocation;
pub mod metrics;
pub mod secrets;
pub mod telemetry;
pub mod vault;
