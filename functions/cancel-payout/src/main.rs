//! POST /payouts/{payout_id}/cancel: withdraw a pending or failed payout (admin).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::CancelPayout).await
}
