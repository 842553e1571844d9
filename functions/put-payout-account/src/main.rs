//! PUT /me/payout-account: save the caller's payout account (bank account or UPI).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::PutPayoutAccount).await
}
