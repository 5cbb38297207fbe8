//! The binary every step ships, written once: `serve` (the default), `create-admin`, `seed`,
//! and the commands of the step and the steps before it. A step's `main.rs` is one call,
//! [`main::<AppState>()`](main); what differs between steps is its [`Binary`] implementation:
//! what `seed` takes beyond the demo catalog and which commands it adds (step 1's
//! `rotate-keys`, step 4's `indexes`), each extending the previous step's.

use std::future::Future;
use std::io::BufRead;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{MongoConfig, StepConfig};
use crate::domain::Email;
use crate::seed;
use crate::services::Accounts;
use crate::startup::shutdown_signal;
use crate::step::Step;
use crate::store::{Stores, mongo};
use crate::telemetry;

/// What a step's binary adds to the commands every step has.
pub trait Binary: Step {
    /// One line for `--help`.
    const ABOUT: &'static str;
    /// The longest password `create-admin` accepts: bcrypt reads 72 bytes; argon2id (step 1
    /// on) takes long passwords whole, and this only bounds the work one command may ask for.
    const MAX_PASSWORD_BYTES: usize = 1024;
    /// What `seed` takes beyond inserting the demo catalog: the previous step's options plus
    /// this step's (`#[command(flatten)]`).
    type Seed: Args + Send;
    /// The commands of this step and the steps before it, beyond serve, create-admin and seed:
    /// the previous step's (`#[command(flatten)]` in a variant) plus this step's own.
    type Command: Subcommand + Send;

    /// `seed`: the demo catalog has been inserted; insert what `seed` asks for beyond it.
    fn seed(
        config: &Self::Config,
        seed: Self::Seed,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Runs one of [`Binary::Command`].
    fn command(
        config: &Self::Config,
        command: Self::Command,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// `seed` with nothing beyond the demo catalog (step 0's).
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct DemoCatalog {}

/// No commands beyond serve, create-admin and seed (step 0's).
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum NoCommand {}

#[derive(Parser)]
struct Cli<A: Args, C: Subcommand> {
    #[command(subcommand)]
    command: Option<Command<A, C>>,
}

#[derive(Subcommand)]
enum Command<A: Args, C: Subcommand> {
    /// Serve the API (the default). Configuration: APP__* variables; the step's chapter in
    /// docs/ lists them.
    Serve {
        /// Insert the demo catalog before serving (products whose SKU exists are kept).
        #[arg(long)]
        seed: bool,
    },
    /// Create the first admin, or promote an existing account (its password is kept). Admins
    /// never come from the public register route.
    CreateAdmin(AdminArgs),
    /// Insert the demo catalog (idempotent), and what the options ask for.
    Seed(A),
    /// Show the resolved configuration: every key with its value (secrets redacted) and the
    /// layer it came from, then whether it would be accepted at start.
    Config,
    #[command(flatten)]
    Step(C),
}

/// Checks step `S`'s commands and arguments as clap's debug assertions do (unique names and
/// groups among flattened options, valid defaults). Those otherwise run only when a command is
/// parsed in a debug build, so a clash hides until someone types that command; every step's
/// contract tests call this (`testkit::contract_suites!`).
pub fn check_arguments<S: Binary>() {
    Cli::<S::Seed, S::Command>::command().debug_assert();
}

/// The whole binary of step `S`: logs, arguments, configuration, then the command. Exits
/// with the error (and its causes) on stderr when the command fails.
pub fn main<S: Binary>() -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()
        .context("starting the Tokio runtime")?
        .block_on(run::<S>())
}

async fn run<S: Binary>() -> anyhow::Result<()> {
    telemetry::init();
    let name = std::env::args()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| format!("step{:02}", S::NUMBER));
    let parser = Cli::<S::Seed, S::Command>::command()
        .name(name)
        .about(S::ABOUT)
        .version(env!("CARGO_PKG_VERSION"));
    let cli = Cli::<S::Seed, S::Command>::from_arg_matches(&parser.get_matches())
        .unwrap_or_else(|e| e.exit());
    let command = cli.command.unwrap_or(Command::Serve { seed: false });
    if let Command::Config = command {
        return show_config::<S::Config>();
    }
    let config = S::Config::load()?;
    match command {
        Command::Serve { seed } => {
            if seed {
                seed_catalog(&config.common().mongodb).await?;
            }
            // Taken before the address is announced (see `shutdown_signal`).
            let stop = shutdown_signal();
            S::serve(&config, stop, |addr| {
                tracing::info!(
                    "step {} ({}) listening on http://{addr}",
                    S::NUMBER,
                    S::TITLE,
                );
            })
            .await?;
        }
        Command::CreateAdmin(args) => {
            let state = S::build(&config).await?;
            args.run(state.accounts(), S::MAX_PASSWORD_BYTES).await?;
        }
        Command::Seed(options) => {
            seed_catalog(&config.common().mongodb).await?;
            S::seed(&config, options).await?;
        }
        Command::Step(command) => S::command(&config, command).await?,
        Command::Config => unreachable!("answered before the configuration is loaded"),
    }
    Ok(())
}

/// `create-admin`: create the first admin, or promote an existing account (whose password is
/// kept). Admins never come from the public register route.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long, default_value = "Admin")]
    pub name: String,
    /// The password; without it, it is read from the first line of standard input.
    #[arg(long, env = "SHOP_ADMIN_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

impl AdminArgs {
    /// Creates or promotes the admin and prints what happened. `max_password_bytes` is the
    /// step's limit (72 for bcrypt in step 0).
    pub async fn run(self, accounts: &Accounts, max_password_bytes: usize) -> anyhow::Result<()> {
        let email = Email::parse(&self.email).map_err(|e| anyhow::anyhow!("--email {e}"))?;
        let password = match self.password {
            Some(p) => p,
            None => std::io::stdin()
                .lock()
                .lines()
                .next()
                .context("expected the password on standard input")??,
        };
        if password.chars().count() < 8 || password.len() > max_password_bytes {
            anyhow::bail!("the password must be 8 characters to {max_password_bytes} bytes long");
        }
        let (user, created) = accounts.create_admin(email, self.name, password).await?;
        let verb = if created {
            "created"
        } else {
            "promoted existing account to"
        };
        println!("{verb} admin {} ({})", user.email, user.id);
        Ok(())
    }
}

/// `seed`: inserts the demo catalog's missing products and prints how many.
pub async fn seed_catalog(config: &MongoConfig) -> anyhow::Result<()> {
    let db = mongo::Mongo::connect(config, |_| {}).await?;
    mongo::ensure_indexes(&db).await?;
    let stores = Stores::mongo(&db);
    let inserted = seed::seed_demo_catalog(stores.products.as_ref()).await?;
    println!("demo catalog: {inserted} products inserted");
    Ok(())
}

impl Binary for crate::AppState {
    const ABOUT: &'static str = "stepwise-shop step 0: the baseline monolith";
    /// bcrypt reads at most 72 bytes of a password.
    const MAX_PASSWORD_BYTES: usize = 72;
    type Seed = DemoCatalog;
    type Command = NoCommand;

    async fn seed(_config: &crate::Config, _seed: DemoCatalog) -> anyhow::Result<()> {
        Ok(())
    }

    async fn command(_config: &crate::Config, command: NoCommand) -> anyhow::Result<()> {
        match command {}
    }
}

/// `config`: the configuration as the layers resolve it, a key per line (`key = value  #
/// source`), then the checks a start would run; an error when a start would refuse it. Shown
/// even when the checks fail, since which layer set a refused value is what there is to find.
fn show_config<C: StepConfig>() -> anyhow::Result<()> {
    let figment = C::layers()?;
    let config: C = crate::config::extract(&figment)?;
    let lines = crate::config::shown(&figment, &config);
    let width = lines
        .iter()
        .map(|line| line.key.len() + line.value.len() + 3)
        .max()
        .unwrap_or(0);
    for line in &lines {
        let assignment = format!("{} = {}", line.key, line.value);
        println!("{assignment:width$}  # {}", line.source);
    }
    C::from_figment(figment)?;
    println!("# accepted: a start with this configuration passes its checks");
    Ok(())
}
