//! Step 5's binary: the commands of steps 0 to 4, `migrate`, which applies the PostgreSQL
//! migrations (what startup does unless `postgres.migrate_on_start` is off), and
//! `migrate-orders`, which copies steps 0-4's orders from MongoDB (see [`crate::migration`]),
//! and `cutover`, which does it for a running shop with a short freeze (see [`crate::cutover`]).

use common::cli::Binary;

use crate::{AppState, Config};

/// What step 5's `seed` takes: step 4's options, and `--orders N`.
#[derive(Debug, clap::Args)]
// clap names each `Args` struct's group after the struct: every step's `Seed` needs its own.
#[group(id = "step05-seed")]
pub struct Seed {
    #[command(flatten)]
    pub base: step04_optimize::cli::Seed,
    /// Also write a synthetic sales history of N orders (2.5 lines each on average) into
    /// PostgreSQL, over the catalog's products: the sales report's large dataset.
    #[arg(long)]
    pub orders: Option<u64>,
}

/// The commands of steps 1 to 5.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Apply the embedded PostgreSQL migrations that are not applied yet (idempotent, safe
    /// while instances run) and list them.
    Migrate,
    /// Copy the orders and payments steps 0-4 kept in MongoDB into PostgreSQL: in batches,
    /// each one transaction with its checkpoint (a killed run resumes where it stopped),
    /// idempotent, then every order verified by checksum on both sides. What cannot be copied
    /// (a document that does not decode, a payment without its order) is reported, not fatal.
    MigrateOrders {
        /// Orders per batch, and per PostgreSQL transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
        /// Read and decode everything, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Move a running shop's orders to PostgreSQL (instances run with `postgres.cutover`):
    /// freeze order writes (waiting for the running ones; later ones get 503 with
    /// Retry-After), copy and verify as `migrate-orders` does, then switch every instance to
    /// PostgreSQL. A failed verification unfreezes on MongoDB instead, and fails.
    Cutover {
        /// Orders per batch, and per PostgreSQL transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
        /// What refused writes' Retry-After says, in seconds.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=3_600))]
        retry_after: u32,
    },
    #[command(flatten)]
    Earlier(step04_optimize::cli::Command),
}

impl Binary for AppState {
    const ABOUT: &'static str =
        "stepwise-shop step 5: hybrid databases (orders and payments in PostgreSQL)";
    type Seed = Seed;
    type Command = Command;

    async fn seed(config: &Config, seed: Seed) -> anyhow::Result<()> {
        step04_optimize::AppState::seed(config, seed.base).await?;
        if let Some(orders) = seed.orders {
            let db = common::store::mongo::connect(&config.mongodb).await?;
            crate::postgres::migrate(&config.postgres).await?;
            let pool = crate::postgres::pool(&config.postgres)?;
            let products = common::store::mongo::MongoProducts::new(&db);
            let started = std::time::Instant::now();
            let (orders, lines) =
                crate::large_orders::seed_orders(&pool, &products, orders).await?;
            println!(
                "sales history: PostgreSQL holds {orders} orders and {lines} order lines ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }

    async fn command(config: &Config, command: Command) -> anyhow::Result<()> {
        match command {
            Command::Migrate => {
                crate::postgres::migrate(&config.postgres).await?;
                for migration in crate::postgres::MIGRATOR.iter() {
                    println!(
                        "{:>4} {}: applied",
                        migration.version, migration.description
                    );
                }
                Ok(())
            }
            Command::MigrateOrders {
                batch_size,
                dry_run,
            } => {
                let db = common::store::mongo::connect(&config.mongodb).await?;
                crate::postgres::migrate(&config.postgres).await?;
                let pool = crate::postgres::pool(&config.postgres)?;
                let options = crate::migration::Options {
                    batch_size,
                    dry_run,
                };
                let report = crate::migration::migrate_orders(&db, &pool, options).await?;
                print!("{report}");
                if !dry_run && !report.verification.passed() {
                    anyhow::bail!(
                        "verification failed: PostgreSQL does not hold every MongoDB order as it is"
                    );
                }
                Ok(())
            }
            Command::Cutover {
                batch_size,
                retry_after,
            } => {
                let db = common::store::mongo::connect(&config.mongodb).await?;
                crate::postgres::migrate(&config.postgres).await?;
                let pool = crate::postgres::pool(&config.postgres)?;
                let options = crate::cutover::Options {
                    batch_size,
                    retry_after_secs: retry_after,
                };
                match crate::cutover::run(&db, &pool, options).await? {
                    crate::cutover::Outcome::AlreadyDone => {
                        println!("cutover: already done; orders are in PostgreSQL");
                    }
                    crate::cutover::Outcome::Done {
                        drain,
                        frozen,
                        report,
                    } => {
                        print!("{report}");
                        println!(
                            "cutover: done; order writes were paused {:.0} ms (of which {:.0} ms waiting for running writes); every instance now serves orders from PostgreSQL",
                            frozen.as_secs_f64() * 1e3,
                            drain.as_secs_f64() * 1e3
                        );
                    }
                }
                Ok(())
            }
            Command::Earlier(command) => step04_optimize::AppState::command(config, command).await,
        }
    }
}
