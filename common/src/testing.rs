//! The seam between a step and the test harness (`testkit`): [`TestStep`] says how a step makes
//! its test configuration from the previous step's, and [`TestEnv`] hands it what it needs
//! for that (services started for the test, things to keep alive beside the app).
//!
//! It is compiled into the library on purpose, not behind a feature: step N+1's tests build
//! step N's test configuration, and a feature switched on by the tests would give the test
//! build and a binary's build different feature sets, so each would rebuild the chain the
//! other built. It adds no dependency and no behaviour to the shop.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::step::Step;

/// A step whose test configuration the harness can make.
pub trait TestStep: Step {
    /// The step's test configuration: the previous step's, plus this step's sections set for a
    /// test (its own key prefix on a Redis, an in-process service it talks to, ...).
    fn test_config(env: &mut TestEnv) -> impl Future<Output = anyhow::Result<Self::Config>> + Send;
}

impl TestStep for crate::AppState {
    async fn test_config(env: &mut TestEnv) -> anyhow::Result<crate::Config> {
        Ok(env.config.clone())
    }
}

/// A service the harness hands a test: where it is and the namespace that is the test's own.
#[derive(Debug, Clone)]
pub struct Slot {
    pub url: String,
    /// A Redis key prefix, a PostgreSQL database name: nobody else's.
    pub namespace: String,
}

/// Where test services come from: implemented by the harness.
pub trait Services: Send + Sync {
    /// A key prefix of the test's own on a Redis server; the guard removes its keys when the
    /// last holder drops it.
    fn redis(&self) -> BoxFuture<'_, anyhow::Result<(Slot, Fixture)>>;
    /// A PostgreSQL database of the test's own; the guard drops it.
    fn postgres(&self) -> BoxFuture<'_, anyhow::Result<(Slot, Fixture)>>;
}

/// Anything kept alive as long as a test's app: a service's guard, an in-process server.
pub type Fixture = Arc<dyn Any + Send + Sync>;

/// What a step's [`TestStep::test_config`] works with.
pub struct TestEnv {
    /// Step 0's test configuration: the test environment, port 0, cheap password hashing, the
    /// test's own database and payment provider.
    pub config: crate::Config,
    services: Arc<dyn Services>,
    fixtures: Vec<Fixture>,
}

impl TestEnv {
    pub fn new(config: crate::Config, services: Arc<dyn Services>) -> Self {
        Self {
            config,
            services,
            fixtures: Vec::new(),
        }
    }

    /// A Redis key prefix of the test's own; kept until the app's last instance drops.
    pub async fn redis(&mut self) -> anyhow::Result<Slot> {
        let (slot, guard) = self.services.redis().await?;
        self.fixtures.push(guard);
        Ok(slot)
    }

    /// A PostgreSQL database of the test's own; kept until the app's last instance drops.
    pub async fn postgres(&mut self) -> anyhow::Result<Slot> {
        let (slot, guard) = self.services.postgres().await?;
        self.fixtures.push(guard);
        Ok(slot)
    }

    /// Keeps `fixture` alive as long as the app; the test finds it again by its type.
    pub fn keep<T: Any + Send + Sync>(&mut self, fixture: T) {
        self.fixtures.push(Arc::new(fixture));
    }

    /// What was kept, for the harness.
    pub fn into_fixtures(self) -> Vec<Fixture> {
        self.fixtures
    }
}

/// Configuration layers made of `key = value` pairs (`("auth.bcrypt_cost", "4")`), for tests
/// of configuration rules: `Config::from_figment(common::testing::figment(&[...]))`.
pub fn figment(pairs: &[(&str, &str)]) -> figment::Figment {
    pairs
        .iter()
        .fold(figment::Figment::new(), |figment, (key, value)| {
            figment.merge(figment::providers::Serialized::default(key, value))
        })
}

/// The first fixture of type `T` among `fixtures`.
pub fn find<T: Any + Send + Sync>(fixtures: &[Fixture]) -> Option<&T> {
    fixtures.iter().find_map(|f| f.downcast_ref::<T>())
}
