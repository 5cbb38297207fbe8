//! Step 6's test configuration, for its own tests and every later step's: step 5's, with
//! times short enough for a test to watch a saga resumed or an order expire (a lease a second
//! above the longest wait for the provider, a recovery pass every 100 ms, events polled every
//! 20 ms), PostgreSQL's server-side timeouts short enough for a fault run to settle, and an
//! expiry that no contract case reaches. And [`Child`]: a step's binary run as a child process
//! on a test's services, for the crash tests here and step 7's shutdown tests.

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use common::testing::{TestEnv, TestStep};
use secrecy::ExposeSecret;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

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

/// A server of step 6 (or a later step) in a process of its own: the step's binary,
/// configured by `APP__*` variables from a test's configuration, which the test kills,
/// stops or watches.
pub struct Child {
    process: tokio::process::Child,
    pub base: String,
    said: mpsc::UnboundedReceiver<String>,
}

impl Child {
    /// Starts `binary` (a step's, `env!("CARGO_BIN_EXE_...")`) on `config`'s services;
    /// `pause_at` names the saga steps it stops at, and `overrides` replace (or add to) the
    /// variables it gets: another PostgreSQL or MongoDB address, e.g. a fault proxy's, or a
    /// later step's own settings. An error when it exits or does not answer `/health` within
    /// 30 s (its MongoDB or PostgreSQL may be behind a fault at that moment).
    pub async fn spawn(
        binary: &str,
        config: &Config,
        pause_at: &[&str],
        overrides: &[(&str, String)],
    ) -> anyhow::Result<Child> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("a free port")?
            .port();
        let c = config;
        let mut env: Vec<(String, String)> = vec![
            ("APP__SERVER__HOST".into(), "127.0.0.1".into()),
            ("APP__SERVER__PORT".into(), port.to_string()),
            (
                "APP__MONGODB__URI".into(),
                c.mongodb.uri.expose_secret().to_owned(),
            ),
            ("APP__MONGODB__DATABASE".into(), c.mongodb.database.clone()),
            (
                "APP__POSTGRES__URL".into(),
                c.postgres.url.expose_secret().to_owned(),
            ),
            (
                "APP__REDIS__URL".into(),
                c.redis.url.expose_secret().to_owned(),
            ),
            ("APP__CACHE__KEY_PREFIX".into(), c.cache.key_prefix.clone()),
            (
                "APP__PAYMENTS__BASE_URL".into(),
                c.payments.base_url.clone(),
            ),
            (
                "APP__PAYMENTS__TIMEOUT_MS".into(),
                c.payments.timeout_ms.to_string(),
            ),
            (
                "APP__APIS__PAYMENTS__URL".into(),
                c.apis.payments.url.clone(),
            ),
            (
                "APP__APIS__PAYMENTS__DEADLINE_MS".into(),
                c.apis.payments.deadline_ms.to_string(),
            ),
            ("APP__SAGA__LEASE_MS".into(), c.saga.lease_ms.to_string()),
            (
                "APP__POSTGRES__STATEMENT_TIMEOUT_MS".into(),
                c.postgres.statement_timeout_ms.to_string(),
            ),
            (
                "APP__POSTGRES__LOCK_TIMEOUT_MS".into(),
                c.postgres.lock_timeout_ms.to_string(),
            ),
            (
                "APP__POSTGRES__IDLE_IN_TRANSACTION_TIMEOUT_MS".into(),
                c.postgres.idle_in_transaction_timeout_ms.to_string(),
            ),
            ("APP__SAGA__RECOVERY_INTERVAL_MS".into(), "100".into()),
            ("APP__SAGA__RETRY_AFTER_MS".into(), "300".into()),
            ("APP__OUTBOX__POLL_MS".into(), "20".into()),
            ("APP__SAGA__PAUSE_AT".into(), format!("{pause_at:?}")),
        ];
        if let Some(secret) = &c.auth.jwt_secret {
            env.push((
                "APP__AUTH__JWT_SECRET".into(),
                secret.expose_secret().to_owned(),
            ));
        }
        if let Some(token) = &c.apis.payments.service_token {
            env.push((
                "APP__APIS__PAYMENTS__SERVICE_TOKEN".into(),
                token.expose_secret().to_owned(),
            ));
        }
        for (kid, key) in &c.security.encryption.keys {
            env.push((
                format!("APP__SECURITY__ENCRYPTION__KEYS__{}", kid.to_uppercase()),
                key.expose_secret().to_owned(),
            ));
        }
        for (name, value) in overrides {
            env.retain(|(n, _)| n != name);
            env.push(((*name).to_owned(), value.clone()));
        }
        let mut process = Command::new(binary)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        // Both streams are read to the end (a full pipe would block the child), into one
        // channel of lines; they are shown with TEST_LOG, as the harness shows an in-process
        // app's logs.
        let (tx, said) = mpsc::unbounded_channel();
        let stderr = BufReader::new(process.stderr.take().context("its stderr")?).lines();
        let stdout = BufReader::new(process.stdout.take().context("its stdout")?).lines();
        tokio::spawn(forward(stderr, tx.clone()));
        tokio::spawn(forward(stdout, tx));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(health) = http.get(format!("{base}/health")).send().await
                && health.status().is_success()
            {
                break;
            }
            if let Some(exit) = process.try_wait()? {
                anyhow::bail!("the child server exited ({exit}) before answering");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the child server did not answer /health within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Child {
            process,
            base,
            said,
        })
    }

    /// Waits until the child says a saga has stopped at `step`.
    pub async fn paused_at(&mut self, step: &str) {
        let wanted = format!("paused at {step} ");
        let waited = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = self.said.recv().await {
                if line.contains(&wanted) {
                    return;
                }
            }
            panic!("the child ended before pausing at {step}");
        })
        .await;
        assert!(waited.is_ok(), "no saga paused at {step} within 30 s");
    }

    /// SIGKILL, then wait for the process to be gone.
    pub async fn kill(mut self) {
        self.process.kill().await.expect("killing the child");
    }

    /// SIGTERM, as an orchestrator stops an instance; the process goes on until it exits.
    pub fn terminate(&self) -> anyhow::Result<()> {
        let pid = self.process.id().context("the child has exited")?;
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .context("running kill")?;
        anyhow::ensure!(sent.success(), "kill -TERM {pid} failed: {sent}");
        Ok(())
    }

    /// Waits up to `within` for the process to exit; its status.
    pub async fn exited_within(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        tokio::time::timeout(within, self.process.wait())
            .await
            .with_context(|| format!("the child did not exit within {within:?}"))?
            .context("waiting for the child")
    }

    /// The lines the child wrote (stdout and stderr: its logs) since the last call, to the
    /// end: for a child that has exited, whose streams end with it.
    pub async fn said_to_the_end(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(5), self.said.recv()).await
        {
            lines.push(line);
        }
        lines
    }
}

/// Sends every line of `lines` to `to` (and to stderr with TEST_LOG).
async fn forward<R: tokio::io::AsyncBufRead + Unpin>(
    mut lines: tokio::io::Lines<R>,
    to: mpsc::UnboundedSender<String>,
) {
    while let Ok(Some(line)) = lines.next_line().await {
        if std::env::var_os("TEST_LOG").is_some() {
            eprintln!("child: {line}");
        }
        let _ = to.send(line);
    }
}
