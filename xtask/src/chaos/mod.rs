//! `cargo xtask chaos`: seeded randomized histories of the whole money path under
//! faults (the simulation itself is `devkit::chaos`), and `--load`, the concurrency
//! figures. See docs/RELIABILITY.md.

pub mod load;

use anyhow::Result;

pub async fn run(args: &[String]) -> Result<()> {
    if args.iter().any(|arg| arg == "--load") {
        let (endpoint, _dynamodb) = crate::test::dynamodb_for_run("dynamodb-local-load.log")?;
        return load::run(&endpoint).await;
    }
    anyhow::bail!("cargo xtask chaos: the simulation is not built yet")
}
