//! PUT /scouts/{scout_id}: the marketplace's backend creates a scout or changes its profile.

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::PutScout).await
}
