//! The precedence rule, run once for every service: an environment URL, else a container,
//! else a local server, each checked with a real request before it is handed out.
//!
//! A service describes itself as a [`Recipe`] (its variable, image, URL shape, readiness check
//! and how to start its local server); [`provision`] does the rest and returns a
//! [`Provisioned`] server that `MongoServer`, `PostgresServer` and `RedisServer` wrap. The
//! order itself is decided in [`super::policy`], the container step in [`super::docker`].

use std::fmt;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

use super::docker::{self, ContainerSpec, ServiceContainer};
use super::policy::{ImageFlavor, Plan, ServiceKind, SourcePolicy, plan};
use super::process::LocalServer;
use super::source::ServiceSource;

/// How often a local server that accepts connections is asked again whether it answers.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// What is specific to one service; its settings struct implements it.
pub(crate) trait Recipe {
    const KIND: ServiceKind;
    /// The readiness check, as messages name it: "a ping", "PING", "`SELECT 1`".
    const CHECK: &'static str;
    /// How long a local server may take to answer [`Recipe::check`] once it listens.
    const LOCAL_READY_TIMEOUT: Duration;

    /// The URL from the environment, if any (blank counts as unset, see [`plan`]).
    fn env_url(&self) -> Option<&str>;
    /// `STEPWISE_SERVICES` and `STEPWISE_IMAGES`.
    fn policy(&self) -> &SourcePolicy;
    /// The URL of a server we started, listening on `host:port`.
    fn url(host: &str, port: u16) -> String;
    /// One real request to the server at `url`: the readiness check.
    fn check(url: &str) -> Result<()>;
    /// The readiness check of a container, retried by [`docker::provide`] until it passes.
    fn container_check(url: &str) -> Result<()> {
        Self::check(url)
    }
    /// Rejects an environment URL that cannot be right before anything connects to it.
    fn validate_env_url(_url: &str) -> Result<()> {
        Ok(())
    }
    /// What the containers run.
    fn container_spec(images: ImageFlavor) -> ContainerSpec;
    /// Starts the local server process (it accepts connections, but may not answer yet).
    fn start_local(&self) -> Result<LocalServer>;
}

/// A server handed out by [`provision`], with whatever we started for it.
pub(crate) struct Provisioned {
    url: String,
    source: ServiceSource,
    /// The server process and its temp dir, when we started it locally.
    local: Option<LocalServer>,
    /// The container, when we started one.
    container: Option<ServiceContainer>,
}

impl Provisioned {
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn source(&self) -> &ServiceSource {
        &self.source
    }

    pub(crate) fn local(&self) -> Option<&LocalServer> {
        self.local.as_ref()
    }

    pub(crate) fn container(&self) -> Option<&ServiceContainer> {
        self.container.as_ref()
    }

    /// `Debug` for the server `name` wrapping this, its URL shown as `url_field`: a URL from
    /// the environment is left out, as it may carry a password.
    pub(crate) fn debug_as(
        &self,
        f: &mut fmt::Formatter<'_>,
        name: &str,
        url_field: &str,
    ) -> fmt::Result {
        let url = if self.source.is_owned() {
            self.url.as_str()
        } else {
            "<from the environment>"
        };
        f.debug_struct(name)
            .field(url_field, &url)
            .field("source", &self.source)
            .field("local", &self.local)
            .field("container", &self.container)
            .finish()
    }
}

/// A server chosen by the precedence rule and checked before it is returned.
///
/// Blocking; callable inside or outside a Tokio runtime (checks run on their own thread).
pub(crate) fn provision<R: Recipe>(recipe: &R) -> Result<Provisioned> {
    let (mode, images) = recipe.policy().resolve()?;
    match plan(recipe.env_url(), mode) {
        Plan::Env(url) => from_env::<R>(url),
        Plan::Container { required } => {
            let ready = |host: &str, port| R::container_check(&R::url(host, port));
            let spec = ContainerSpec {
                flavor_chosen: recipe.policy().images_chosen(),
                ..R::container_spec(images)
            };
            match docker::provide(&spec, required, ready)? {
                Some(container) => Ok(Provisioned {
                    url: R::url(container.host(), container.port()),
                    source: ServiceSource::Container {
                        image: container.image().to_owned(),
                        port: container.port(),
                    },
                    local: None,
                    container: Some(container),
                }),
                None => start_local(recipe),
            }
        }
        Plan::Local => start_local(recipe),
    }
}

fn from_env<R: Recipe>(url: String) -> Result<Provisioned> {
    let var = R::KIND.env_var();
    // The URL may hold credentials: name the variable, never the value.
    R::validate_env_url(&url)?;
    R::check(&url).with_context(|| {
        format!(
            "{var} is set, but no {} answered {} there. Start that server, or unset {var} to \
             let the tests start one",
            R::KIND,
            R::CHECK
        )
    })?;
    Ok(Provisioned {
        url,
        source: ServiceSource::FromEnv { var },
        local: None,
        container: None,
    })
}

fn start_local<R: Recipe>(recipe: &R) -> Result<Provisioned> {
    let local = recipe.start_local()?;
    let server = local.name();
    answering::<R>(local, server)
}

/// Waits until a freshly started local server answers [`Recipe::check`] (servers accept
/// connections a moment before they answer requests), then wraps it as `server`.
pub(crate) fn answering<R: Recipe>(
    mut local: LocalServer,
    server: &'static str,
) -> Result<Provisioned> {
    let url = R::url("127.0.0.1", local.port());
    let started = Instant::now();
    while let Err(err) = R::check(&url) {
        local.ensure_running()?;
        if started.elapsed() > R::LOCAL_READY_TIMEOUT {
            return Err(local.failure(&format!(
                "{server} accepts connections on port {} but does not answer {}: {err:#}",
                local.port(),
                R::CHECK
            )));
        }
        thread::sleep(POLL_INTERVAL);
    }
    Ok(Provisioned {
        url,
        source: ServiceSource::Local {
            server,
            port: local.port(),
        },
        local: Some(local),
        container: None,
    })
}

/// The server in `cell`, started with `start` on first use: the body of the `shared_*`
/// functions.
///
/// Never dropped (statics are not): the watchdog or the container's lifeline stops it when
/// the process exits. A failed start is remembered, so every test reports the same error at
/// once instead of each retrying for seconds.
pub(crate) fn shared<T>(
    cell: &'static OnceLock<Result<T, String>>,
    start: impl FnOnce() -> Result<T>,
) -> Result<&'static T> {
    cell.get_or_init(|| start().map_err(|err| format!("{err:#}")))
        .as_ref()
        .map_err(|msg| anyhow!("{msg}"))
}
