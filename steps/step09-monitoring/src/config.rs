//! Step 9's configuration: step 8's [`step08_cloud::Config`], flattened, so every earlier
//! key keeps its name, its `APP__*` variable and step 8's layers and strictness, plus a
//! `metrics` section: where the admin listener serves `/metrics`, and when a saga counts as
//! stuck.

use anyhow::bail;
use common::config::ExtendsConfig;
use derive_more::{Deref, DerefMut};
use serde::{Deserialize, Serialize};
use step06_distributed::config::between;

/// Everything step 9 reads.
#[derive(Debug, Clone, Deserialize, Serialize, Deref, DerefMut)]
pub struct Config {
    #[serde(flatten)]
    #[deref]
    #[deref_mut]
    pub base: step08_cloud::Config,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// The admin listener and the metrics' own settings ([`crate::metrics`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// The admin listener's address. `/metrics` is served there and never on the public
    /// port: a deployment exposes the public port through its load balancer and keeps this
    /// one inside its network, for Prometheus alone.
    pub host: String,
    /// 9464 by default (the port OpenTelemetry's Prometheus exporter took); 0 picks a free
    /// one (tests).
    pub port: u16,
    /// A running saga not moved for this long counts in `shop_sagas_stuck`. Longer than
    /// the recovery worker's lease and the payment deadline together, so a saga that is
    /// merely slow, or waiting for the recovery after a crash, is not stuck yet.
    pub saga_stuck_after_secs: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".to_owned(),
            port: 9464,
            saga_stuck_after_secs: 120,
        }
    }
}

impl MetricsConfig {
    /// The admin listener's socket address.
    pub fn addr(&self) -> anyhow::Result<std::net::SocketAddr> {
        let ip: std::net::IpAddr = self.host.parse().map_err(|_| {
            anyhow::anyhow!(
                "metrics.host must be an IP address (0.0.0.0, 127.0.0.1, ::), not {:?}",
                self.host
            )
        })?;
        Ok((ip, self.port).into())
    }
}

impl ExtendsConfig for Config {
    /// Step 9's section (step 8's checks run first): the admin listener must not be the
    /// public one.
    fn check(&self) -> anyhow::Result<()> {
        let m = &self.metrics;
        m.addr()?;
        between(
            "metrics.saga_stuck_after_secs",
            m.saga_stuck_after_secs,
            1..=86_400,
        )?;
        if m.port != 0 && m.port == self.server.port {
            bail!(
                "metrics.port ({}) is server.port: /metrics must have a listener of its own, \
                 so that the public port does not expose it",
                m.port
            );
        }
        Ok(())
    }
}
