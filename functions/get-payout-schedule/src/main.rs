//! GET /me/payout-schedule?scout_id=…: a scout's automatic payout schedule (manual unless set).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::GetPayoutSchedule).await
}
