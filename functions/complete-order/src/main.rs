//! PATCH /orders/{order_id}/complete: the buyer (or an admin) completes an order; its seller payout is created.

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::CompleteOrder).await
}
