//! POST /scouts/{scout_id}/request-payout: a scout (or an admin) asks for a payout of bounty earnings.

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::RequestScoutPayout).await
}
