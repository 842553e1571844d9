//! `cargo xtask chaos --load`: the concurrency figures on DynamoDB Local.

use anyhow::Result;

pub async fn run(_endpoint: &str) -> Result<()> {
    anyhow::bail!("not built yet")
}
