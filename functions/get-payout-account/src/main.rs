//! GET /me/payout-account: the caller's payout account, masked.

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::GetPayoutAccount).await
}
