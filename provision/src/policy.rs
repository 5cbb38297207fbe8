//! Which source a service comes from: the precedence rule, as pure functions.
//!
//! An explicit URL from the environment wins (`MONGODB_URI`, `DATABASE_URL`, `REDIS_URL`);
//! else a container when a Docker engine answers; else local binaries. Two settings steer it:
//!
//! - `STEPWISE_SERVICES=auto|container|local`: `auto` (the default) is the order above;
//!   `container` fails when Docker or the image is missing instead of falling back; `local`
//!   never touches Docker.
//! - `STEPWISE_IMAGES=official|local`: the official images learners pull (`mongo:7`,
//!   `postgres:15`, `redis:7`) or the ones this repo builds without a registry
//!   (`cargo xtask images`, see [`super::images`]). Unset, the official image when it is here
//!   or can be pulled, else the local one when it was built ([`use_local_image`]): a machine
//!   without a registry that ran `cargo xtask images` gets containers with no setting.
//!
//! Everything here is decided from values, never by looking at the machine, so the tests can
//! check every branch; [`super::docker`] gathers the facts ([`Probe`]) these functions judge.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, anyhow};

/// The variable that picks the source: `auto`, `container` or `local`.
pub const SERVICES_VAR: &str = "STEPWISE_SERVICES";

/// The variable that picks the images: `official` or `local`.
pub const IMAGES_VAR: &str = "STEPWISE_IMAGES";

/// A service the provisioning layer hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    Mongo,
    Postgres,
    Redis,
}

impl ServiceKind {
    /// The variable holding an explicit URL.
    pub fn env_var(self) -> &'static str {
        match self {
            ServiceKind::Mongo => "MONGODB_URI",
            ServiceKind::Postgres => "DATABASE_URL",
            ServiceKind::Redis => "REDIS_URL",
        }
    }

    /// Short name, used in messages and as the `stepwise.service` container label.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Mongo => "mongo",
            ServiceKind::Postgres => "postgres",
            ServiceKind::Redis => "redis",
        }
    }

    /// The port the server listens on inside its container.
    pub fn container_port(self) -> u16 {
        match self {
            ServiceKind::Mongo => 27017,
            ServiceKind::Postgres => 5432,
            ServiceKind::Redis => 6379,
        }
    }

    /// The image for this service in the chosen flavour.
    pub fn image(self, flavor: ImageFlavor) -> &'static str {
        match (flavor, self) {
            (ImageFlavor::Official, ServiceKind::Mongo) => "mongo:7",
            (ImageFlavor::Official, ServiceKind::Postgres) => "postgres:15",
            (ImageFlavor::Official, ServiceKind::Redis) => "redis:7",
            // nx-27017, not MongoDB: Debian does not package MongoDB (see super::nx27017).
            (ImageFlavor::Local, ServiceKind::Mongo) => "stepwise/mongo-standin:local",
            (ImageFlavor::Local, ServiceKind::Postgres) => "stepwise/postgres:15",
            (ImageFlavor::Local, ServiceKind::Redis) => "stepwise/redis:7",
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceKind::Mongo => "MongoDB",
            ServiceKind::Postgres => "PostgreSQL",
            ServiceKind::Redis => "Redis",
        })
    }
}

/// `STEPWISE_SERVICES`: how far down the precedence a service may go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServicesMode {
    /// Environment URL, else a container if Docker and the image are there, else local.
    #[default]
    Auto,
    /// Environment URL, else a container, else an error (CI uses it to prove containers ran).
    Container,
    /// Environment URL, else local binaries; Docker is never contacted.
    Local,
}

impl FromStr for ServicesMode {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(ServicesMode::Auto),
            "container" | "containers" | "docker" => Ok(ServicesMode::Container),
            "local" => Ok(ServicesMode::Local),
            _ => Err(anyhow!(
                "{SERVICES_VAR}={value:?} is not understood: use auto, container or local"
            )),
        }
    }
}

/// `STEPWISE_IMAGES`: which images containers are made from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImageFlavor {
    /// `mongo:7`, `postgres:15`, `redis:7`, pulled from Docker Hub when missing.
    #[default]
    Official,
    /// The `stepwise/*` images `cargo xtask images` builds here; never pulled.
    Local,
}

impl FromStr for ImageFlavor {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "official" => Ok(ImageFlavor::Official),
            "local" => Ok(ImageFlavor::Local),
            _ => Err(anyhow!(
                "{IMAGES_VAR}={value:?} is not understood: use official or local"
            )),
        }
    }
}

/// The two settings together, as read from the environment or spelled out by a caller.
///
/// A value that does not parse is kept as an error and reported when a service starts, so
/// `XSettings::from_env()` stays infallible while a typo (`STEPWISE_SERVICES=contianer`) still
/// fails loudly instead of quietly meaning `auto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePolicy {
    parsed: Result<(ServicesMode, ImageFlavor), String>,
    /// Whether the images were chosen (`STEPWISE_IMAGES` set, or a caller's flavour): only an
    /// unchosen flavour may fall back to the local images.
    images_chosen: bool,
}

impl Default for SourcePolicy {
    fn default() -> Self {
        SourcePolicy::from_values(None, None)
    }
}

impl SourcePolicy {
    pub fn new(mode: ServicesMode, images: ImageFlavor) -> SourcePolicy {
        SourcePolicy {
            parsed: Ok((mode, images)),
            images_chosen: true,
        }
    }

    /// Whether the image flavour was chosen rather than left to the default.
    pub fn images_chosen(&self) -> bool {
        self.images_chosen
    }

    /// Local binaries only (the environment URL still wins).
    pub fn local() -> SourcePolicy {
        SourcePolicy::new(ServicesMode::Local, ImageFlavor::default())
    }

    /// From `STEPWISE_SERVICES` and `STEPWISE_IMAGES`.
    pub fn from_env() -> SourcePolicy {
        SourcePolicy::from_values(
            std::env::var(SERVICES_VAR).ok().as_deref(),
            std::env::var(IMAGES_VAR).ok().as_deref(),
        )
    }

    /// The rule behind [`SourcePolicy::from_env`]: unset or blank means the default, case is
    /// ignored, anything else is an error kept for later.
    pub fn from_values(services: Option<&str>, images: Option<&str>) -> SourcePolicy {
        fn parse<T: FromStr<Err = anyhow::Error> + Default>(
            value: Option<&str>,
        ) -> Result<T, String> {
            match value.map(str::trim) {
                None | Some("") => Ok(T::default()),
                Some(value) => value.parse().map_err(|err| format!("{err}")),
            }
        }
        SourcePolicy {
            parsed: parse(services).and_then(|mode| Ok((mode, parse(images)?))),
            images_chosen: images.is_some_and(|v| !v.trim().is_empty()),
        }
    }

    /// The mode and image flavour, or the error a bad setting produced.
    pub fn resolve(&self) -> Result<(ServicesMode, ImageFlavor)> {
        self.parsed.clone().map_err(|msg| anyhow!("{msg}"))
    }
}

/// The first decision, before anything is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Use this URL from the environment; start nothing.
    Env(String),
    /// Try a container; `required` means failing rather than falling back to local binaries.
    Container { required: bool },
    /// Start local binaries.
    Local,
}

/// The precedence rule: a non-blank URL wins (trimmed; `DATABASE_URL= cargo test` clears
/// it), then containers unless the mode says local.
pub fn plan(env_url: Option<&str>, mode: ServicesMode) -> Plan {
    match env_url.map(str::trim) {
        Some(url) if !url.is_empty() => Plan::Env(url.to_owned()),
        _ => match mode {
            ServicesMode::Auto => Plan::Container { required: false },
            ServicesMode::Container => Plan::Container { required: true },
            ServicesMode::Local => Plan::Local,
        },
    }
}

/// What [`super::docker`] found out about running a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// No Docker engine answered (no socket, no permission, not running, ...).
    NoEngine { reason: String },
    /// The engine answers and has the image (it may just have pulled it).
    ImageReady,
    /// The engine answers but the image is not there and could not be pulled.
    ImageMissing { reason: String },
}

/// The second decision, once the facts are in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// Start the container.
    Container,
    /// Start local binaries; print `notice` (once per process) if there is one.
    Local { notice: Option<String> },
    /// Fail with this message.
    Fail(String),
}

/// How to get containers on a machine without registry access.
const LOCAL_IMAGES_HOWTO: &str = "build the local images with `cargo xtask images` and set \
                                  STEPWISE_IMAGES=local";

/// Whether the local image stands in for the official one: the flavour was not chosen, the
/// official image cannot be had here, and `cargo xtask images` built the local one. An
/// explicit `STEPWISE_IMAGES=official` keeps its word (it fails or falls back to local
/// binaries instead).
pub fn use_local_image(
    images_chosen: bool,
    flavor: ImageFlavor,
    official: &Probe,
    local: &Probe,
) -> bool {
    !images_chosen
        && flavor == ImageFlavor::Official
        && matches!(official, Probe::ImageMissing { .. })
        && *local == Probe::ImageReady
}

/// Judges a [`Probe`] for `image`: containers when possible; otherwise local binaries in
/// `auto` mode (silently when there is no Docker at all, the normal case on a laptop without
/// it; with one line when Docker is there but the image is not, because the user may expect
/// containers) and an error naming the fix in `container` mode.
pub fn fallback(required: bool, flavor: ImageFlavor, image: &str, probe: &Probe) -> Fallback {
    match (probe, required) {
        (Probe::ImageReady, _) => Fallback::Container,
        (Probe::NoEngine { .. }, false) => Fallback::Local { notice: None },
        (Probe::NoEngine { reason }, true) => Fallback::Fail(format!(
            "{SERVICES_VAR}=container, but no Docker engine answers ({reason}). Start Docker \
             (or point DOCKER_HOST at one), or set {SERVICES_VAR}=local to use local binaries"
        )),
        (Probe::ImageMissing { reason }, false) => Fallback::Local {
            notice: Some(match flavor {
                // One short line: it is printed by every command on such a machine.
                ImageFlavor::Official => format!(
                    "provision: no service images ({image}: {reason}); local servers instead \
                     (`cargo xtask images` builds images)"
                ),
                ImageFlavor::Local => format!(
                    "provision: Docker answers but image {image} is not built yet; using local \
                     binaries. To use containers, build it with `cargo xtask images`"
                ),
            }),
        },
        (Probe::ImageMissing { reason }, true) => Fallback::Fail(match flavor {
            ImageFlavor::Official => format!(
                "{SERVICES_VAR}=container, but image {image} is not here and cannot be pulled \
                 ({reason}). Pull it (docker pull {image}), or, without registry access, \
                 {LOCAL_IMAGES_HOWTO}"
            ),
            ImageFlavor::Local => format!(
                "{SERVICES_VAR}=container and {IMAGES_VAR}=local, but image {image} is not \
                 built yet ({reason}). Build it with `cargo xtask images`"
            ),
        }),
    }
}

/// Whether an image may be pulled: official ones may, ours are in no registry.
pub fn may_pull(flavor: ImageFlavor) -> bool {
    flavor == ImageFlavor::Official
}
