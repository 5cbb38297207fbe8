//! Step 1's binary: step 0's commands (`serve`, `create-admin`, `seed`; an admin now gets an
//! argon2id hash) and one more, `rotate-keys`, which re-encrypts stored fields under the
//! active key. Every later step's binary inherits it.

use common::Step;
use common::cli::{Binary, DemoCatalog};

use crate::{AppState, Config, profiles};

/// Step 1's own commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
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

impl Binary for AppState {
    const ABOUT: &'static str = "stepwise-shop step 1: security (refresh tokens, Google sign-in, field encryption, argon2id)";
    type Seed = DemoCatalog;
    type Command = Command;

    async fn seed(_config: &Config, _seed: DemoCatalog) -> anyhow::Result<()> {
        Ok(())
    }

    async fn command(config: &Config, command: Command) -> anyhow::Result<()> {
        match command {
            Command::RotateKeys {
                batch_size,
                max_batches,
            } => rotate_keys(config, batch_size, max_batches).await,
        }
    }
}

/// `rotate-keys`: one pass over the stored profiles, reported on stdout.
async fn rotate_keys(
    config: &Config,
    batch_size: u32,
    max_batches: Option<u32>,
) -> anyhow::Result<()> {
    let state = AppState::build(config).await?;
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
    Ok(())
}
