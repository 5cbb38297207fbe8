//! Serving the simulator on a real socket, for tests and for the binary. `start` binds before
//! it returns, so the port is known (port 0 becomes a free one) and requests can be sent at
//! once. The server runs as a tokio task that `stop` shuts down gracefully and `Drop` aborts,
//! so a test that forgets to stop its simulator, or panics first, does not leak a listener.

use std::{fmt, io, net::SocketAddr, time::Duration};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    config::SimConfig,
    faults::{Faults, Knobs, Settings},
    routes,
    state::AppState,
};

/// How long `stop` lets in-flight requests finish before cutting them off. Long enough for
/// any sane injected latency, short enough that a test with a huge one still ends.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A payment simulator serving on a socket, owned by the caller.
pub struct RunningSimulator {
    /// The bound address, with the real port when 0 was asked for.
    addr: SocketAddr,
    /// The same settings the router's middleware reads, so faults can change while it runs.
    faults: Faults,
    /// Starts the graceful shutdown; taken by `stop` or `Drop`.
    shutdown: Option<oneshot::Sender<()>>,
    /// The serve task. Aborting it closes the listener at once; open connections see the
    /// shutdown signal and close after their current request.
    task: Option<JoinHandle<io::Result<()>>>,
}

impl RunningSimulator {
    /// Starts a simulator on `127.0.0.1` and a free port.
    ///
    /// # Panics
    /// If `config.failure_rate` or `config.lose_answer_rate` is outside `0.0..=1.0`.
    pub async fn start(config: SimConfig) -> io::Result<RunningSimulator> {
        RunningSimulator::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts a simulator on `addr` (port 0 picks a free port).
    ///
    /// # Panics
    /// If `config.failure_rate` or `config.lose_answer_rate` is outside `0.0..=1.0`.
    pub async fn start_on(addr: SocketAddr, config: SimConfig) -> io::Result<RunningSimulator> {
        let state = AppState::new(config);
        let faults = state.faults.clone();
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_signal) = oneshot::channel::<()>();
        let serve = axum::serve(listener, routes::router(state)).with_graceful_shutdown(async {
            // Either a send or the sender being dropped means "stop".
            let _ = shutdown_signal.await;
        });
        let task = tokio::spawn(async move { serve.await });
        tracing::info!(%addr, "payment simulator started");
        Ok(RunningSimulator {
            addr,
            faults,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR:PORT`, without a trailing slash: what the app's configuration needs.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The latency currently added before every `/v1` answer.
    pub fn latency(&self) -> Duration {
        self.faults.get().latency()
    }

    /// Changes the latency for requests that arrive from now on (`PUT /sim/faults` does the
    /// same over HTTP).
    pub fn set_latency(&self, latency: Duration) {
        self.change_faults(|now| Knobs { latency, ..now });
    }

    /// The current probability that a `/v1` request answers 503.
    pub fn failure_rate(&self) -> f64 {
        self.faults.get().failure_rate()
    }

    /// Changes the failure probability; 1.0 is a full outage, 0.0 a healthy provider
    /// (`PUT /sim/faults` does the same over HTTP).
    ///
    /// # Panics
    /// If `failure_rate` is outside `0.0..=1.0`.
    pub fn set_failure_rate(&self, failure_rate: f64) {
        self.change_faults(|now| Knobs {
            failure_rate,
            ..now
        });
    }

    /// The current probability that a `/v1` `POST` is carried out but never answered.
    pub fn lose_answer_rate(&self) -> f64 {
        self.faults.get().lose_answer_rate()
    }

    /// Changes the probability that a `/v1` `POST` that makes a charge or refund is carried
    /// out and stored but never answered, so its client times out (`PUT /sim/faults` does the
    /// same over HTTP).
    ///
    /// # Panics
    /// If `lose_answer_rate` is outside `0.0..=1.0`.
    pub fn set_lose_answer_rate(&self, lose_answer_rate: f64) {
        self.change_faults(|now| Knobs {
            lose_answer_rate,
            ..now
        });
    }

    /// The seed of the failure and lost-answer draws, if they are seeded.
    pub fn seed(&self) -> Option<u64> {
        self.faults.get().seed()
    }

    /// Seeds the failure and lost-answer draws (`None`: fresh randomness). Like every change
    /// of the faults, it starts the seed's sequence again.
    pub fn set_seed(&self, seed: Option<u64>) {
        self.change_faults(|now| Knobs { seed, ..now });
    }

    /// The one way the settings change, shared with the route; a refusal is the calling
    /// test's bug, so it panics here where the route answers 400.
    fn change_faults(&self, change: impl FnOnce(Knobs) -> Knobs) {
        if let Err(refused) = self.faults.change(|now| Settings::new(change(now.knobs()))) {
            panic!("{refused}");
        }
    }

    /// Stops accepting connections, lets in-flight requests finish (for up to ten seconds,
    /// then cuts them off) and returns once the port is closed.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let Some(mut task) = self.task.take() else {
            return;
        };
        match tokio::time::timeout(STOP_GRACE, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => tracing::warn!(%err, "payment simulator stopped with an error"),
            Ok(Err(err)) => tracing::warn!(%err, "payment simulator task failed"),
            Err(_) => {
                tracing::warn!("payment simulator did not stop in time; aborting it");
                task.abort();
                // Waiting for the aborted task means its listener is dropped when we return.
                let _ = task.await;
            }
        }
        tracing::info!(addr = %self.addr, "payment simulator stopped");
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        // Dropping the sender signals open connections to finish; aborting closes the listener.
        self.shutdown.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl fmt::Debug for RunningSimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningSimulator")
            .field("addr", &self.addr)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}
