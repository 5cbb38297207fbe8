//! Step 4's configuration: step 3's [`step03_caching::Config`], flattened, so every earlier key
//! keeps its name and its `APP__*` variable, plus an `optimize` section: whether the CPU
//! profiling endpoint is served (`APP__OPTIMIZE__PROFILING_ENABLED`, on by default only in
//! development), how long one profile may run, and whether the query indexes are created at
//! startup (`APP__OPTIMIZE__CREATE_INDEXES`).

use anyhow::bail;
use common::config::{Environment, ExtendsConfig};
use derive_more::{Deref, DerefMut};
use serde::{Deserialize, Serialize};

/// Everything step 4 reads: step 3's configuration (`base`, reached through `Deref`) and the
/// `optimize` section.
#[derive(Debug, Clone, Deserialize, Serialize, Deref, DerefMut)]
pub struct Config {
    #[serde(flatten)]
    #[deref]
    #[deref_mut]
    pub base: step03_caching::Config,
    #[serde(default)]
    pub optimize: OptimizeConfig,
}

/// What step 4 adds to the configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct OptimizeConfig {
    /// Serve `GET /internal/profile`. Unset: on in development, off elsewhere, because a
    /// profile costs CPU while it runs and shows the code's shape to whoever asks for it.
    pub profiling_enabled: Option<bool>,
    /// The longest profile one request may ask for: it holds a connection that long.
    pub max_profile_seconds: u64,
    /// Samples per second: 99, not 100, so the sampling does not beat in step with timers
    /// that fire every 10 ms.
    pub profile_frequency_hz: i32,
    /// Create the query indexes at startup (idempotent). Off only to measure the "before"
    /// of the chapter's index comparison; `step04-optimize indexes` creates them on demand.
    pub create_indexes: bool,
}

impl Default for OptimizeConfig {
    fn default() -> Self {
        Self {
            profiling_enabled: None,
            max_profile_seconds: 60,
            profile_frequency_hz: 99,
            create_indexes: true,
        }
    }
}

impl OptimizeConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(1..=600).contains(&self.max_profile_seconds) {
            bail!(
                "optimize.max_profile_seconds must be between 1 and 600, got {}",
                self.max_profile_seconds
            );
        }
        if !(1..=1_000).contains(&self.profile_frequency_hz) {
            bail!(
                "optimize.profile_frequency_hz must be between 1 and 1000, got {}",
                self.profile_frequency_hz
            );
        }
        Ok(())
    }
}

impl ExtendsConfig for Config {
    /// Step 4's section (step 3's checks run first).
    fn check(&self) -> anyhow::Result<()> {
        self.optimize.validate()
    }
}

impl Config {
    /// Whether `/internal/profile` is served: the explicit setting, else development only.
    pub fn profiling_enabled(&self) -> bool {
        self.optimize
            .profiling_enabled
            .unwrap_or(self.environment == Environment::Development)
    }
}
