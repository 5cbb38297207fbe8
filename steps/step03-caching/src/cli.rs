//! Step 3's binary: the commands of steps 0 to 2, and `seed --products N`, which also inserts N
//! generated products (SKUs `BENCH-000001`...) for the cache benchmark.

use common::cli::{Binary, DemoCatalog};

use crate::{AppState, Config};

/// What step 3's `seed` takes beyond the demo catalog.
#[derive(Debug, clap::Args)]
// clap names each `Args` struct's group after the struct: every step's `Seed` needs its own.
#[group(id = "step03-seed")]
pub struct Seed {
    #[command(flatten)]
    pub base: DemoCatalog,
    /// Also insert N generated products (SKUs `BENCH-000001`...), for the benchmark.
    #[arg(long, value_name = "N")]
    pub products: Option<u32>,
}

impl Binary for AppState {
    const ABOUT: &'static str =
        "stepwise-shop step 3: caching with Redis (cache-aside, invalidation, stampede protection)";
    type Seed = Seed;
    type Command = step01_security::cli::Command;

    async fn seed(config: &Config, seed: Seed) -> anyhow::Result<()> {
        step02_apis::AppState::seed(config, seed.base).await?;
        if let Some(count) = seed.products {
            let inserted = crate::bench::seed_products(&config.mongodb, count).await?;
            println!("{inserted} generated products inserted ({count} wanted)");
        }
        Ok(())
    }

    async fn command(config: &Config, command: Self::Command) -> anyhow::Result<()> {
        step02_apis::AppState::command(config, command).await
    }
}
