//! `shop`: serves step 0, and the operator commands that go with it (`create-admin`, `seed`).

use std::io::BufRead;

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::domain::Email;
use common::store::{Stores, mongo};
use common::{AppState, Application, Config, seed, telemetry};

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
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Admin")]
        name: String,
        /// The password; without it, it is read from the first line of standard input.
        #[arg(long, env = "SHOP_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Insert the demo catalog (idempotent).
    Seed,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let cli = Cli::parse();
    let config = Config::load()?;
    match cli.command.unwrap_or(Command::Serve { seed: false }) {
        Command::Serve { seed } => {
            if seed {
                seed_catalog(&config).await?;
            }
            let app = Application::build(config).await?;
            tracing::info!("step 0 listening on http://{}", app.local_addr()?);
            app.run_until_stopped().await?;
        }
        Command::CreateAdmin {
            email,
            name,
            password,
        } => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("--email {e}"))?;
            let password = match password {
                Some(p) => p,
                None => std::io::stdin()
                    .lock()
                    .lines()
                    .next()
                    .context("expected the password on standard input")??,
            };
            if password.chars().count() < 8 || password.len() > 72 {
                anyhow::bail!("the password must be 8 characters to 72 bytes long");
            }
            let state = AppState::build(&config).await?;
            let (user, created) = state.accounts.create_admin(email, name, password).await?;
            let verb = if created {
                "created"
            } else {
                "promoted existing account to"
            };
            println!("{verb} admin {} ({})", user.email, user.id);
        }
        Command::Seed => seed_catalog(&config).await?,
    }
    Ok(())
}

async fn seed_catalog(config: &Config) -> anyhow::Result<()> {
    let db = mongo::connect(&config.mongodb).await?;
    mongo::ensure_indexes(&db).await?;
    let stores = Stores::mongo(&db);
    let inserted = seed::seed_demo_catalog(stores.products.as_ref()).await?;
    println!("demo catalog: {inserted} products inserted");
    Ok(())
}
