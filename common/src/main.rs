//! `shop`: serves step 0, and the operator commands that go with it (`create-admin`, `seed`).

use clap::{Parser, Subcommand};
use common::cli::{AdminArgs, seed_catalog};
use common::{AppState, Application, Config, telemetry};

#[derive(Parser)]
#[command(
    name = "shop",
    about = "stepwise-shop step 0: the baseline monolith",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). Configuration: APP__* variables, see docs/00-baseline.md.
    Serve {
        /// Insert the demo catalog before serving (products whose SKU exists are kept).
        #[arg(long)]
        seed: bool,
    },
    /// Create the first admin, or promote an existing account. Admins never come from the
    /// public register route.
    CreateAdmin(AdminArgs),
    /// Insert the demo catalog (idempotent).
    Seed,
}

/// bcrypt reads at most 72 bytes of a password.
const MAX_PASSWORD_BYTES: usize = 72;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let cli = Cli::parse();
    let config = Config::load()?;
    match cli.command.unwrap_or(Command::Serve { seed: false }) {
        Command::Serve { seed } => {
            if seed {
                seed_catalog(&config.mongodb).await?;
            }
            let app = Application::build(config).await?;
            let stop = common::startup::shutdown_signal();
            tracing::info!("step 0 listening on http://{}", app.local_addr()?);
            app.run_until(stop).await?;
        }
        Command::CreateAdmin(args) => {
            let state = AppState::build(&config).await?;
            args.run(&state.accounts, MAX_PASSWORD_BYTES).await?;
        }
        Command::Seed => seed_catalog(&config.mongodb).await?,
    }
    Ok(())
}
