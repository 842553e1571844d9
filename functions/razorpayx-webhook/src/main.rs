//! POST /webhooks/razorpayx: RazorpayX's signed payout events (no token).

use api::{run, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run(Endpoint::RazorpayXWebhook).await
}
