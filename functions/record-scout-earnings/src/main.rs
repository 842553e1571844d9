//! POST /scouts/{scout_id}/earnings: the marketplace's backend credits or debits a scout's earnings under an Idempotency-Key.

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::RecordScoutEarnings).await
}
