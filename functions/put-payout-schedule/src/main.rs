//! PUT /me/payout-schedule: set how often one of the caller's scouts is paid out automatically.

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::PutPayoutSchedule).await
}
