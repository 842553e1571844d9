//! PUT /orders/{order_id}: the marketplace's backend creates an order or moves it on; completing it creates its seller payout.

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::PutOrder).await
}
