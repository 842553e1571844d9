//! POST /payouts/{payout_id}/retry: send a failed payout round again and pay it (admin).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::RetryPayout).await
}
