//! The operator commands every step's binary shares: `create-admin` and `seed`. A step's
//! binary flattens these argument structs into its own clap CLI and calls the functions with
//! its own accounts service, so an admin gets that step's password hashing.

use std::io::BufRead;

use anyhow::Context;

use crate::config::MongoConfig;
use crate::domain::Email;
use crate::seed;
use crate::services::Accounts;
use crate::store::{Stores, mongo};

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
    let db = mongo::connect(config).await?;
    mongo::ensure_indexes(&db).await?;
    let stores = Stores::mongo(&db);
    let inserted = seed::seed_demo_catalog(stores.products.as_ref()).await?;
    println!("demo catalog: {inserted} products inserted");
    Ok(())
}
