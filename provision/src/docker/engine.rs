//! The engine itself: the one runtime every Docker call runs on (and why there is only
//! one), whether an engine answers, and whether an image is here or can be pulled.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, OnceLock, mpsc};
use std::time::Duration;

use anyhow::{Result, anyhow};
use futures::StreamExt;
use testcontainers::bollard::Docker;
use testcontainers::bollard::errors::Error as BollardError;
use testcontainers::bollard::query_parameters::CreateImageOptionsBuilder;

use crate::policy::Probe;

/// How long the engine may take to answer a ping before it counts as absent.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a pull may take. Generous: a first `mongo:7` pull on a slow line takes minutes.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a pull runs before we say that it does (and that it happens once).
const PULL_NOTICE_AFTER: Duration = Duration::from_secs(2);

/// The runtime every Docker call runs on; built on first use, never shut down.
static DOCKER_RUNTIME: LazyLock<Result<tokio::runtime::Runtime, String>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("provision-docker")
        .enable_all()
        .build()
        .map_err(|err| format!("building the Docker runtime: {err}"))
});

/// Runs `work` on the Docker runtime and waits for it, from sync code or from inside another
/// runtime (the caller's thread blocks; the work runs elsewhere).
pub(super) fn on_docker_runtime<F, T>(work: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let runtime = DOCKER_RUNTIME.as_ref().map_err(|msg| anyhow!("{msg}"))?;
    let (tx, rx) = mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv().map_err(|_| anyhow!("a Docker task panicked"))?
}

pub(super) async fn client() -> Result<Docker> {
    testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|err| anyhow!("{err}"))
}

/// `Ok` when a Docker engine answers a ping, else why not. Asked once per process: the
/// answer is the same for every service, and a missing engine may take seconds to say so.
pub fn engine_status() -> Result<(), String> {
    static STATUS: OnceLock<Result<(), String>> = OnceLock::new();
    STATUS
        .get_or_init(|| {
            on_docker_runtime(async {
                let docker = client().await?;
                tokio::time::timeout(PING_TIMEOUT, docker.ping())
                    .await
                    .map_err(|_| anyhow!("no answer to a ping within {PING_TIMEOUT:?}"))?
                    .map_err(|err| anyhow!("{err}"))?;
                Ok(())
            })
            .map_err(|err| first_line(&format!("{err:#}")))
        })
        .clone()
}

/// The first line of `text`, at most 200 characters: pull errors can be pages long.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_owned(),
    }
}

/// Whether `image` is on the engine; pulls it first when `pull` allows and it is not.
/// Failed pulls are remembered for the rest of the process: without registry access every
/// further attempt would fail the same way, maybe slowly.
pub(super) fn image_probe(image: &str, pull: bool) -> Probe {
    static PULL_FAILURES: LazyLock<Mutex<HashMap<String, String>>> =
        LazyLock::new(Default::default);
    let owned = image.to_owned();
    let present = on_docker_runtime(async move {
        match client().await?.inspect_image(&owned).await {
            Ok(_) => Ok(true),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(err) => Err(anyhow!("{err}")),
        }
    });
    match present {
        Ok(true) => return Probe::ImageReady,
        Ok(false) => {}
        Err(err) => {
            return Probe::ImageMissing {
                reason: first_line(&format!("inspecting it failed: {err:#}")),
            };
        }
    }
    if !pull {
        return Probe::ImageMissing {
            reason: "no such image".to_owned(),
        };
    }
    let mut failures = PULL_FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(reason) = failures.get(image) {
        return Probe::ImageMissing {
            reason: reason.clone(),
        };
    }
    let (name, tag) = split_image(image);
    let shown = image.to_owned();
    let pulled = on_docker_runtime(async move {
        let docker = client().await?;
        let options = CreateImageOptionsBuilder::new()
            .from_image(&name)
            .tag(&tag)
            .build();
        let mut progress = docker.create_image(Some(options), None, None);
        let pull = async {
            while let Some(step) = progress.next().await {
                step.map_err(|err| anyhow!("{err}"))?;
            }
            Ok::<(), anyhow::Error>(())
        };
        // Said only when the pull takes a while: where it fails at once (no registry), the
        // one-line fallback notice is all the user should see.
        let pull = tokio::time::timeout(PULL_TIMEOUT, pull);
        tokio::pin!(pull);
        let finished = tokio::select! {
            finished = &mut pull => finished,
            () = tokio::time::sleep(PULL_NOTICE_AFTER) => {
                say!("provision: pulling {shown} (once per machine)...");
                pull.await
            }
        };
        finished.map_err(|_| anyhow!("no pull finished within {PULL_TIMEOUT:?}"))?
    });
    match pulled {
        Ok(()) => Probe::ImageReady,
        Err(err) => {
            let reason = first_line(&format!("{err:#}"));
            failures.insert(image.to_owned(), reason.clone());
            Probe::ImageMissing { reason }
        }
    }
}

/// "stepwise/postgres:15" -> ("stepwise/postgres", "15"); no tag means "latest". A colon
/// before the last slash belongs to a registry port, not a tag.
pub(super) fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => (image.to_owned(), "latest".to_owned()),
    }
}
