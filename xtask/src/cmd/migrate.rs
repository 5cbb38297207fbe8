//! `cargo xtask migrate N [-- ARGS]`: runs step N's data migration (step 5: `migrate-orders`,
//! which copies the orders steps 0-4 kept in MongoDB into PostgreSQL) against the services
//! xtask gives the step: the databases named by `MONGODB_URI` and `DATABASE_URL` when they
//! are set (the data a learner's earlier steps wrote), else fresh local ones. ARGS go to the
//! migration as they are (`-- --dry-run`, `-- --batch-size 100`).

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::services::{Origin, Services};
use crate::ui::Ui;
use crate::{steps, workspace};

#[derive(Debug, clap::Args)]
pub struct Migrate {
    /// The step whose data migration runs (5).
    pub number: u8,
    /// Arguments for the migration command, after `--`.
    #[arg(last = true)]
    pub args: Vec<String>,
}

impl Migrate {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let step = steps::find(self.number)?;
        let Some(command) = step.data_migration else {
            let with: Vec<String> = steps::STEPS
                .iter()
                .filter(|s| s.data_migration.is_some())
                .map(|s| s.number.to_string())
                .collect();
            bail!(
                "step {} has no data migration; steps with one: {}",
                step.number,
                with.join(", ")
            );
        };
        let services = Services::start(step.services, Origin::EnvironmentFirst, &Ui::new())?;
        for info in services.infos() {
            eprintln!("{:<12} {}", info.service.label(), info.source);
        }
        if std::env::var_os("MONGODB_URI").is_none() {
            eprintln!(
                "MongoDB is a fresh one, with nothing to copy: set MONGODB_URI (and DATABASE_URL) \
                 to the databases to migrate, e.g. the ones `cargo xtask services up --step 5` prints"
            );
        }
        let mut build = workspace::cargo();
        build.args(["build", "--package", step.package, "--bin", step.binary]);
        eprintln!("building {} ...", step.binary);
        if !build.status().context("running cargo build")?.success() {
            bail!("building {} failed", step.binary);
        }
        let binary = workspace::target_dir().join("debug").join(step.binary);
        eprintln!("{} {command} {} ...", step.binary, self.args.join(" "));
        let status = std::process::Command::new(&binary)
            .arg(command)
            .args(&self.args)
            .envs(services.app_env())
            .status()
            .with_context(|| format!("running {}", binary.display()))?;
        Ok(super::exit_code(status))
    }
}
