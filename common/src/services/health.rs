//! Health checks behind `GET /health`. Each dependency contributes a [`HealthCheck`]; later
//! steps add theirs (Redis, PostgreSQL) to the same list.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mongodb::Database;
use mongodb::bson::doc;

#[async_trait]
pub trait HealthCheck: Send + Sync {
    fn name(&self) -> &'static str;
    async fn check(&self) -> anyhow::Result<()>;
    /// Figures the check measured, shown beside its word in `/health` (step 6's replica lag);
    /// read after [`HealthCheck::check`]. None by default: most checks have only a word.
    fn details(&self) -> Option<serde_json::Value> {
        None
    }
}

/// The checks, run concurrently with a bound on each.
#[derive(Clone, Default)]
pub struct HealthChecks(Vec<Arc<dyn HealthCheck>>);

impl HealthChecks {
    const TIMEOUT: Duration = Duration::from_secs(2);

    pub fn with(mut self, check: impl HealthCheck + 'static) -> Self {
        self.0.push(Arc::new(check));
        self
    }

    /// The checks but those named in `names`.
    pub fn without(&self, names: &[&str]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|c| !names.contains(&c.name()))
                .cloned()
                .collect(),
        )
    }

    /// Only the checks named in `names`.
    pub fn only(&self, names: &[&str]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|c| names.contains(&c.name()))
                .cloned()
                .collect(),
        )
    }

    /// `name -> details` of the checks that have any, after a [`HealthChecks::run`].
    pub fn details(&self) -> std::collections::BTreeMap<&'static str, serde_json::Value> {
        self.0
            .iter()
            .filter_map(|check| Some((check.name(), check.details()?)))
            .collect()
    }

    /// `(name, Ok | Err(reason))` for every check.
    pub async fn run(&self) -> Vec<(&'static str, Result<(), String>)> {
        futures::future::join_all(self.0.iter().map(|check| async move {
            let outcome = match tokio::time::timeout(Self::TIMEOUT, check.check()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {:?}", Self::TIMEOUT)),
            };
            (check.name(), outcome)
        }))
        .await
    }
}

pub struct MongoHealth(pub Database);

#[async_trait]
impl HealthCheck for MongoHealth {
    fn name(&self) -> &'static str {
        "mongodb"
    }

    async fn check(&self) -> anyhow::Result<()> {
        self.0.run_command(doc! { "ping": 1 }).await?;
        Ok(())
    }
}
