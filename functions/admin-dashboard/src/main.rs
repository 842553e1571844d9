//! GET /admin: the operators' dashboard, one self-contained page that signs in with an admin token and calls the API.

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::AdminDashboard).await
}
