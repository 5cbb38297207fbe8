//! `step04-optimize`: serves step 4, with step 0's operator commands (`create-admin`, `seed`)
//! and step 3's benchmark seeder (`seed --products N`).

use clap::{Parser, Subcommand};
use common::cli::{AdminArgs, seed_catalog};
use common::telemetry;
use step04_optimize::{AppState, Config};

#[derive(Parser)]
#[command(
    name = "step04-optimize",
    about = "stepwise-shop step 4: optimize (indexes, profiling, a reference endpoint, load balancing)",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). Configuration: APP__* variables, see docs/04-optimize.md.
    Serve {
        /// Insert the demo catalog before serving (products whose SKU exists are kept).
        #[arg(long)]
        seed: bool,
    },
    /// Create the first admin, or promote an existing account (its password is kept).
    CreateAdmin(AdminArgs),
    /// Insert the demo catalog (idempotent); with `--products N`, also N generated products
    /// (SKUs `BENCH-000001`...); with `--large`, the load runs' catalog: 100,000 products,
    /// 10,000 users, 300,000 reviews (idempotent too).
    Seed {
        #[arg(long, value_name = "N")]
        products: Option<u32>,
        #[arg(long)]
        large: bool,
    },
    /// Create every step's query indexes (idempotent) and print the plan: each index, the
    /// query it serves, and whether it was created now or existed.
    Indexes,
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
            let app = step04_optimize::build(&config).await?;
            let stop = common::startup::shutdown_signal();
            tracing::info!("step 4 listening on http://{}", app.local_addr()?);
            app.run_until(stop).await?;
        }
        Command::CreateAdmin(args) => {
            let state = AppState::build(&config).await?;
            args.run(&state.base.base.base.base.accounts, MAX_PASSWORD_BYTES)
                .await?;
        }
        Command::Seed { products, large } => {
            seed_catalog(&config.common().mongodb).await?;
            if large {
                let passwords = step01_security::passwords::Argon2id::new(
                    &config.base.base.base.security.passwords,
                )?;
                let (seeded, took) = step04_optimize::catalog::seed_large(
                    &config.common().mongodb,
                    &passwords,
                    step04_optimize::catalog::PRODUCTS,
                    step04_optimize::catalog::USERS,
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
            if let Some(count) = products {
                let inserted =
                    step03_caching::bench::seed_products(&config.common().mongodb, count).await?;
                println!("{inserted} generated products inserted ({count} wanted)");
            }
        }
        Command::Indexes => {
            let mongodb = &config.common().mongodb;
            let db = common::store::mongo::connect(mongodb).await?;
            common::store::mongo::ensure_indexes(&db).await?;
            step01_security::store::mongo::ensure_indexes(&db).await?;
            step02_apis::listing::ensure_indexes(&db).await?;
            let server = step04_optimize::indexes::Server::detect(&db).await?;
            println!("server: {server:?}");
            for outcome in step04_optimize::indexes::ensure(&db).await? {
                println!("{outcome}");
            }
        }
    }
    Ok(())
}
