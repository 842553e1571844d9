//! GET /payouts/my-payouts: the caller's payouts, newest first, with totals.

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::MyPayouts).await
}
