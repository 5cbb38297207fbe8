//! `step02-apis`: serves step 2, with step 0's operator commands (`create-admin`, `seed`).

use clap::{Parser, Subcommand};
use common::cli::{AdminArgs, seed_catalog};
use common::telemetry;
use step02_apis::{AppState, Config};

#[derive(Parser)]
#[command(
    name = "step02-apis",
    about = "stepwise-shop step 2: APIs (REST v1/v2, OpenAPI, rate limits, GraphQL, gRPC payments)",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). Configuration: APP__* variables, see docs/02-apis.md.
    Serve {
        /// Insert the demo catalog before serving (products whose SKU exists are kept).
        #[arg(long)]
        seed: bool,
    },
    /// Create the first admin, or promote an existing account (its password is kept).
    CreateAdmin(AdminArgs),
    /// Insert the demo catalog (idempotent).
    Seed,
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
            let app = step02_apis::build(&config).await?;
            let stop = common::startup::shutdown_signal();
            tracing::info!("step 2 listening on http://{}", app.local_addr()?);
            app.run_until(stop).await?;
        }
        Command::CreateAdmin(args) => {
            let state = AppState::build(&config).await?;
            args.run(&state.base.base.accounts, MAX_PASSWORD_BYTES)
                .await?;
        }
        Command::Seed => seed_catalog(&config.common().mongodb).await?,
    }
    Ok(())
}
