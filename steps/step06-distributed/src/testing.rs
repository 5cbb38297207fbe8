//! Step 6's test configuration, for its own tests and every later step's: step 5's, with
//! times short enough for a test to watch a saga resumed or an order expire (a lease a second
//! above the longest wait for the provider, a recovery pass every 100 ms, events polled every
//! 20 ms), PostgreSQL's server-side timeouts short enough for a fault run to settle, and an
//! expiry that no contract case reaches.

use common::testing::{TestEnv, TestStep};

use crate::config::{IdempotencyConfig, OutboxConfig, ReplicaConfig, ReplicaSetConfig, SagaConfig};
use crate::{AppState, Config};

impl TestStep for AppState {
    async fn test_config(env: &mut TestEnv) -> anyhow::Result<Config> {
        let mut base = step05_hybrid_dbs::AppState::test_config(env).await?;
        let payment_wait = base.payments.timeout_ms.max(base.apis.payments.deadline_ms);
        let lease_ms = (payment_wait + 1_000) / 9 * 10;
        base.postgres.statement_timeout_ms = 5_000;
        base.postgres.lock_timeout_ms = 2_000;
        base.postgres.idle_in_transaction_timeout_ms = 2_000;
        Ok(Config {
            base,
            saga: SagaConfig {
                lease_ms,
                recovery_interval_ms: 100,
                retry_after_ms: 5_000,
                order_expiry_secs: 600,
                ..SagaConfig::default()
            },
            outbox: OutboxConfig {
                poll_ms: 20,
                claim_idle_ms: 1_000,
                ..OutboxConfig::default()
            },
            idempotency: IdempotencyConfig::default(),
            replica: ReplicaConfig::default(),
            replica_set: ReplicaSetConfig::default(),
        })
    }
}
