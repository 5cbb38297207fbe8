//! `cargo xtask config N [--profile P]`: step N's configuration as its binary would resolve it
//! here, every key with its value (secrets redacted) and the layer that set it (a file, a
//! variable, the cloud profile, a secret, or the default), then whether a start would accept
//! it. `--profile` picks step 8's cloud profile (`aws`, `gcp`, `azure`, `local`), as
//! `APP__CLOUD__PROFILE` would; the rest comes from this shell's `APP__*` variables and files.

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::{steps, workspace};

/// The first step with cloud profiles.
const PROFILES_FROM: u8 = 8;

#[derive(Debug, clap::Args)]
pub struct Config {
    /// The step whose configuration is shown.
    pub number: u8,
    /// The cloud profile (step 8 on): local, aws, gcp or azure.
    #[arg(long)]
    pub profile: Option<String>,
}

impl Config {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let step = steps::find(self.number)?;
        if self.profile.is_some() && step.number < PROFILES_FROM {
            bail!(
                "step {} has no cloud profiles; they come with step {PROFILES_FROM}",
                step.number
            );
        }
        let mut build = workspace::cargo();
        build.args([
            "build",
            "--quiet",
            "--package",
            step.package,
            "--bin",
            step.binary,
        ]);
        if !build.status().context("running cargo build")?.success() {
            bail!("building {} failed", step.binary);
        }
        let binary = workspace::target_dir().join("debug").join(step.binary);
        let mut show = std::process::Command::new(&binary);
        show.arg("config");
        if let Some(profile) = &self.profile {
            show.env("APP__CLOUD__PROFILE", profile);
        }
        let status = show
            .status()
            .with_context(|| format!("running {}", binary.display()))?;
        Ok(super::exit_code(status))
    }
}
