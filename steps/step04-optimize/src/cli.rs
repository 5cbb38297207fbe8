//! Step 4's binary: the commands of steps 0 to 3, `seed --large` (the load runs' catalog:
//! 100,000 products, 10,000 users, 300,000 reviews, idempotent) and `indexes`, which creates
//! every step's query indexes and prints the plan.

use common::Step;
use common::cli::Binary;

use crate::{AppState, Config, indexes, large_catalog};

/// What step 4's `seed` takes: step 3's options, and `--large`.
#[derive(Debug, clap::Args)]
// clap names each `Args` struct's group after the struct: every step's `Seed` needs its own.
#[group(id = "step04-seed")]
pub struct Seed {
    #[command(flatten)]
    pub base: step03_caching::cli::Seed,
    /// Also insert the load runs' catalog: 100,000 products, 10,000 users, 300,000 reviews.
    #[arg(long)]
    pub large: bool,
}

/// The commands of steps 1 to 4.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create every step's query indexes (idempotent) and print the plan: each index, the
    /// query it serves, and whether it was created now or existed.
    Indexes,
    #[command(flatten)]
    Earlier(step01_security::cli::Command),
}

impl Binary for AppState {
    const ABOUT: &'static str =
        "stepwise-shop step 4: optimize (indexes, profiling, a reference endpoint, load balancing)";
    type Seed = Seed;
    type Command = Command;

    async fn seed(config: &Config, seed: Seed) -> anyhow::Result<()> {
        step03_caching::AppState::seed(config, seed.base).await?;
        if seed.large {
            let passwords = step01_security::passwords::Argon2id::new(&config.security.passwords)?;
            let (seeded, took) = large_catalog::seed_large(
                &config.mongodb,
                &passwords,
                large_catalog::PRODUCTS,
                large_catalog::USERS,
            )
            .await?;
            println!(
                "large catalog: {} products, {} users, {} reviews inserted in {:.1} s",
                seeded.products,
                seeded.users,
                seeded.reviews,
                took.as_secs_f64()
            );
        }
        Ok(())
    }

    async fn command(config: &Config, command: Command) -> anyhow::Result<()> {
        match command {
            Command::Indexes => {
                let db = common::store::mongo::Mongo::connect(&config.mongodb, |_| {}).await?;
                // Every earlier step's indexes, then the plan's, whatever
                // `optimize.create_indexes` says.
                step03_caching::AppState::prepare(&db, config).await?;
                let server = indexes::Server::detect(&db).await?;
                println!("server: {server:?}");
                for outcome in indexes::ensure(&db).await? {
                    println!("{outcome}");
                }
                Ok(())
            }
            Command::Earlier(command) => step03_caching::AppState::command(config, command).await,
        }
    }
}
