//! POST /users/{user_id}/payout-account/end-hold: an admin ends the hold on a user's
//! payouts after a change of payout account, recorded with the admin's id (admin).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::EndPayoutAccountHold).await
}
