//! GET /users/{user_id}/payout-account: any user's payout account, masked (admin).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::GetUserPayoutAccount).await
}
