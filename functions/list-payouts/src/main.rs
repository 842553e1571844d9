//! GET /payouts: every payout, or one status's, newest first (admin).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::ListPayouts).await
}
