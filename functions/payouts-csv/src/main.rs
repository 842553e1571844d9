//! GET /admin/payouts.csv: every payout created in a range of time as CSV, a page at a time (admin).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::PayoutsCsv).await
}
