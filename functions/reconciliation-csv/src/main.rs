//! GET /admin/reconciliation.csv: a day's reconciliation findings as CSV, a page at a time (admin).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::ReconciliationCsv).await
}
