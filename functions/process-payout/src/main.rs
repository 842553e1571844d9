//! POST /payouts/process/{payout_id}: pay one pending payout now (admin).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::ProcessPayout).await
}
