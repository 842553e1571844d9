//! POST /payouts/{payout_id}/cancel: withdraw a pending, failed or reversed payout (admin).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::CancelPayout).await
}
