//! `step01-security`: serves step 1, with step 0's operator commands (`create-admin`, `seed`)
//! and one more, `rotate-keys`, which re-encrypts stored fields under the active key.

use clap::{Parser, Subcommand};
use common::cli::{AdminArgs, seed_catalog};
use common::telemetry;
use step01_security::{AppState, Config, profiles};

#[derive(Parser)]
#[command(
    name = "step01-security",
    about = "stepwise-shop step 1: security (refresh tokens, Google sign-in, field encryption, argon2id)",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). Configuration: APP__* variables, see docs/01-security.md.
    Serve {
        /// Insert the demo catalog before serving (products whose SKU exists are kept).
        #[arg(long)]
        seed: bool,
    },
    /// Create the first admin, or promote an existing account (its password is kept).
    CreateAdmin(AdminArgs),
    /// Insert the demo catalog (idempotent).
    Seed,
    /// Re-encrypt every stored field not under the active key
    /// (APP__SECURITY__ENCRYPTION__ACTIVE_KEY). Safe while the app serves; stop it any time
    /// and run it again to continue.
    RotateKeys {
        /// Documents per batch.
        #[arg(long, default_value_t = 100)]
        batch_size: u32,
        /// Stop after this many batches (run again to continue).
        #[arg(long)]
        max_batches: Option<u32>,
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
                seed_catalog(&config.base.mongodb).await?;
            }
            let app = step01_security::build(&config).await?;
            let stop = common::startup::shutdown_signal();
            tracing::info!("step 1 listening on http://{}", app.local_addr()?);
            app.run_until(stop).await?;
        }
        Command::CreateAdmin(args) => {
            // Step 0's `create_admin`, with step 1's accounts: the admin gets an argon2id hash.
            let state = AppState::build(&config).await?;
            args.run(&state.base.accounts, MAX_PASSWORD_BYTES).await?;
        }
        Command::Seed => seed_catalog(&config.base.mongodb).await?,
        Command::RotateKeys {
            batch_size,
            max_batches,
        } => {
            let state = AppState::build(&config).await?;
            let report = profiles::rotate_keys(&state.profiles, batch_size, max_batches).await?;
            println!(
                "rotated {} of {} profiles to key {:?} ({} skipped: written meanwhile; {} failed){}",
                report.rotated,
                report.scanned,
                state.profiles.cipher().active_kid(),
                report.skipped,
                report.failed,
                if report.complete {
                    ""
                } else {
                    "; stopped at --max-batches, run again to continue"
                }
            );
            if report.failed > 0 {
                anyhow::bail!(
                    "{} profiles could not be decrypted; see the log",
                    report.failed
                );
            }
        }
    }
    Ok(())
}
