//! `step03-caching`: serves step 3, with step 0's operator commands (`create-admin`, `seed`)
//! and a benchmark seeder (`seed --products N`).

use clap::{Parser, Subcommand};
use common::cli::{AdminArgs, seed_catalog};
use common::telemetry;
use step03_caching::{AppState, Config};

#[derive(Parser)]
#[command(
    name = "step03-caching",
    about = "stepwise-shop step 3: caching with Redis (cache-aside, invalidation, stampede protection)",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). Configuration: APP__* variables, see docs/03-caching.md.
    Serve {
        /// Insert the demo catalog before serving (products whose SKU exists are kept).
        #[arg(long)]
        seed: bool,
    },
    /// Create the first admin, or promote an existing account (its password is kept).
    CreateAdmin(AdminArgs),
    /// Insert the demo catalog (idempotent); with `--products N`, also N generated products
    /// (SKUs `BENCH-000001`...), for the benchmark.
    Seed {
        #[arg(long, value_name = "N")]
        products: Option<u32>,
    },
}

/// argon2id takes long passwords whole; this only bounds the work one command can ask for.
const MAX_PASSWORD_BYTES: usize = 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let cli = Cli::parse();
    let config = Config::load()?;
    match cli.command.unwrap_or(Command::Serve { seed: false }) {
        Command::Serve { seed } => {
            if seed {
                seed_catalog(&config.common().mongodb).await?;
            }
            let app = step03_caching::build(&config).await?;
            let stop = common::startup::shutdown_signal();
            tracing::info!("step 3 listening on http://{}", app.local_addr()?);
            app.run_until(stop).await?;
        }
        Command::CreateAdmin(args) => {
            let state = AppState::build(&config).await?;
            args.run(&state.base.base.base.accounts, MAX_PASSWORD_BYTES)
                .await?;
        }
        Command::Seed { products } => {
            seed_catalog(&config.common().mongodb).await?;
            if let Some(count) = products {
                let inserted =
                    step03_caching::bench::seed_products(&config.common().mongodb, count).await?;
                println!("{inserted} generated products inserted ({count} wanted)");
            }
        }
    }
    Ok(())
}
