//! GET /payouts/stats: payout counts and amounts by status and type, the oldest pending payout, and what completed and failed lately (admin).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::PayoutStats).await
}
