//! GET /admin/reconciliation: a day's reconciliation report and a page of its findings (admin).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::ReconciliationReport).await
}
