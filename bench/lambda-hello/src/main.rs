//! A bare `lambda_runtime` function that echoes its event: what a Rust Lambda costs
//! before it does anything of its own. `cargo xtask bench` divides by it.

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
