//! POST /payouts/bulk: process, retry or cancel up to 100 payouts, each on its own (admin).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::BulkPayouts).await
}
