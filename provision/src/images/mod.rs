//! The local images, for machines where Docker runs but no registry can be reached: a Debian
//! base made without pulling anything, and the services on top of it, installed from Debian
//! packages. `cargo xtask images` calls [`ensure_local_images`]. Unless `STEPWISE_IMAGES` is
//! set they stand in for official images that cannot be pulled; `STEPWISE_IMAGES=local` makes
//! the harness use them always ([`crate::policy`]).
//!
//! - `stepwise/debian:bookworm`: `debootstrap --variant=minbase bookworm`, slimmed by
//!   `docker/images/base/finish-rootfs.sh`, then `tar | docker import`. Needs root and
//!   `debootstrap` (an `apt-get install` away).
//! - `stepwise/postgres:15`, `stepwise/redis:7`, `stepwise/mongo-standin:local`:
//!   `docker build` of `docker/images/<name>/` on top of it.
//!
//! Builds are cached: an image whose `stepwise.context` label matches a fingerprint of its
//! inputs (its files; for the services also the base image's id) is not rebuilt, so editing a
//! Dockerfile or rebuilding the base rebuilds exactly what depends on it, and `force` rebuilds
//! everything. Builds say what they do on stderr (up-to-date images are only reported in
//! the returned [`ImageReport`]s); each build's full output goes to a log file that an error
//! quotes.
//!
//! Two network quirks of such machines are handled: `docker build` retries with
//! `--network host` when the default bridge network cannot reach the outside, and the build
//! host's CA bundle is handed to `pip` inside the build (an HTTPS-intercepting proxy signs
//! PyPI's certificate with a CA only the host trusts).
//!
//! Here: which images there are ([`LocalImage`]), how to build them ([`ImageOptions`]), and
//! [`ensure_local_images`], which decides what to rebuild. The parts:
//! - `base`: the Debian root filesystem, debootstrapped and imported;
//! - `services`: the service images, `docker build` on top of the base;
//! - `fingerprint`: the content hash of an image's inputs, its cache key;
//! - `lock`: one build at a time across processes;
//! - `report`: what was done with each image ([`ImageReport`]);
//! - `cli`: the `docker` CLI calls the builds share;
//! - [`app`]: the app's own images (`stepwise/<binary>:local`) from `docker/Dockerfile` and a
//!   binary built on the host; [`hadolint`]: the linter its test checks the Dockerfile with.

pub mod app;
mod base;
mod cli;
mod fingerprint;
pub mod hadolint;
mod lock;
mod report;
mod services;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};

use base::build_base;
use cli::{Inspected, docker_cli, inspect};
use fingerprint::fingerprint;
use lock::BuildLock;
use services::build_service;

use crate::cache;
use crate::policy::{ImageFlavor, ServiceKind};

pub use base::find_debootstrap;
pub use report::{BuildReason, ImageReport, ImageStatus};

/// The base image's tag.
pub const BASE_TAG: &str = "stepwise/debian:bookworm";

/// The label holding the fingerprint of what an image was built from.
pub const CONTEXT_LABEL: &str = "stepwise.context";

/// The Debian mirror, unless `STEPWISE_DEBIAN_MIRROR` names another.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// The variable naming another Debian mirror.
pub const MIRROR_VAR: &str = "STEPWISE_DEBIAN_MIRROR";

/// An image this repo builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalImage {
    Base,
    Postgres,
    Redis,
    MongoStandin,
    /// nginx in front of step 7's compose stage (no test service: the tests run Debian's
    /// nginx directly, see `crate::nginx`).
    Nginx,
}

/// The local nginx image: Debian bookworm's nginx.
pub const NGINX_TAG: &str = "stepwise/nginx:1.22";

impl LocalImage {
    /// Every image, each after what it is built on.
    pub const ALL: [LocalImage; 5] = [
        LocalImage::Base,
        LocalImage::Postgres,
        LocalImage::Redis,
        LocalImage::MongoStandin,
        LocalImage::Nginx,
    ];

    pub fn tag(self) -> &'static str {
        match self {
            LocalImage::Base => BASE_TAG,
            LocalImage::Postgres => ServiceKind::Postgres.image(ImageFlavor::Local),
            LocalImage::Redis => ServiceKind::Redis.image(ImageFlavor::Local),
            LocalImage::MongoStandin => ServiceKind::Mongo.image(ImageFlavor::Local),
            LocalImage::Nginx => NGINX_TAG,
        }
    }

    /// The image that plays `kind`.
    pub fn for_service(kind: ServiceKind) -> LocalImage {
        match kind {
            ServiceKind::Mongo => LocalImage::MongoStandin,
            ServiceKind::Postgres => LocalImage::Postgres,
            ServiceKind::Redis => LocalImage::Redis,
        }
    }

    /// Its folder in `docker/images/`.
    fn dir(self) -> &'static str {
        match self {
            LocalImage::Base => "base",
            LocalImage::Postgres => "postgres",
            LocalImage::Redis => "redis",
            LocalImage::MongoStandin => "mongo-standin",
            LocalImage::Nginx => "nginx",
        }
    }
}

impl fmt::Display for LocalImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// How to build.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Rebuild even images that are up to date.
    pub force: bool,
    /// `docker/images/` of this repository.
    pub images_dir: PathBuf,
    /// The Debian mirror for debootstrap and the images' apt sources.
    pub mirror: String,
    /// Where build logs go (one file per image, overwritten by the next build).
    pub log_dir: PathBuf,
}

impl Default for ImageOptions {
    /// The repository's `docker/images/`, the mirror from `STEPWISE_DEBIAN_MIRROR` or Debian's
    /// own, logs in the cache dir (or the temp dir).
    fn default() -> Self {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .to_owned();
        ImageOptions {
            force: false,
            images_dir: repo.join("docker").join("images"),
            mirror: std::env::var(MIRROR_VAR)
                .ok()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_MIRROR.to_owned()),
            log_dir: cache::cache_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("image-logs"),
        }
    }
}

/// Builds every local image that is missing or out of date (all of them with `force`).
pub fn ensure_local_images(options: &ImageOptions) -> Result<Vec<ImageReport>> {
    ensure(&LocalImage::ALL, options)
}

/// Builds `image` and what it is built on, where missing or out of date.
pub fn ensure_local_image(image: LocalImage, options: &ImageOptions) -> Result<Vec<ImageReport>> {
    if image == LocalImage::Base {
        ensure(&[LocalImage::Base], options)
    } else {
        ensure(&[LocalImage::Base, image], options)
    }
}

/// Whether `tag` exists on the local engine (no fingerprint check).
pub fn image_exists(tag: &str) -> Result<bool> {
    Ok(inspect(&docker_cli()?, tag)?.is_some())
}

/// One build at a time per process: parallel tests that each need an image wait for the
/// first one's build instead of repeating it. [`BuildLock`] does the same across processes.
static BUILDING: Mutex<()> = Mutex::new(());

fn ensure(images: &[LocalImage], options: &ImageOptions) -> Result<Vec<ImageReport>> {
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|p| p.into_inner());
    let docker = docker_cli()?;
    // The usual case, everything up to date, needs no lock (so it never waits for another
    // process's long build of an image we do not need).
    if !options.force {
        let mut reports = Vec::new();
        for &image in images {
            match up_to_date(&docker, image, options)? {
                Some(size_bytes) => reports.push(ImageReport {
                    image,
                    status: ImageStatus::Cached,
                    size_bytes,
                }),
                None => break,
            }
        }
        if reports.len() == images.len() {
            return Ok(reports);
        }
    }
    fs::create_dir_all(&options.log_dir)
        .with_context(|| format!("creating {}", options.log_dir.display()))?;
    let _lock = BuildLock::acquire(&options.log_dir)?;
    let mut reports = Vec::new();
    // Images replaced by a build, removed at the end (dependants first) so rebuilds do not
    // pile up untagged images.
    let mut replaced = Vec::new();
    for &image in images {
        let fingerprint = fingerprint(&docker, image, options)?;
        let existing = inspect(&docker, image.tag())?;
        let reason = build_reason(options.force, existing.as_ref(), &fingerprint);
        let status = match reason {
            None => ImageStatus::Cached,
            Some(reason) => {
                let started = Instant::now();
                match image {
                    LocalImage::Base => build_base(&docker, &fingerprint, options)?,
                    _ => build_service(&docker, image, &fingerprint, options)?,
                }
                replaced.extend(existing.map(|old| old.id));
                ImageStatus::Built {
                    reason,
                    took: started.elapsed(),
                }
            }
        };
        let size_bytes = inspect(&docker, image.tag())?
            .ok_or_else(|| anyhow!("{image} is missing right after its build"))?
            .size;
        let report = ImageReport {
            image,
            status,
            size_bytes,
        };
        if report.status != ImageStatus::Cached {
            say!("images: {report}");
        }
        reports.push(report);
    }
    for old in replaced.iter().rev() {
        // Fails, harmlessly, while a container still runs from the old image.
        let _ = Command::new(&docker)
            .args(["image", "rm", old])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    Ok(reports)
}

/// Whether `image` exists and was built from its current inputs, so that ensuring it would
/// build nothing (e.g. no debootstrap run for the base).
pub fn is_up_to_date(image: LocalImage, options: &ImageOptions) -> Result<bool> {
    Ok(up_to_date(&docker_cli()?, image, options)?.is_some())
}

/// The image's size if it exists and was built from its current inputs.
fn up_to_date(docker: &Path, image: LocalImage, options: &ImageOptions) -> Result<Option<u64>> {
    let Some(found) = inspect(docker, image.tag())? else {
        return Ok(None);
    };
    if image != LocalImage::Base && inspect(docker, BASE_TAG)?.is_none() {
        return Ok(None);
    }
    let fingerprint = fingerprint(docker, image, options)?;
    Ok((found.context.as_deref() == Some(fingerprint.as_str())).then_some(found.size))
}

/// Why an image must be built: forced, missing, or built from other inputs than
/// `fingerprint`; `None` when the one there is current.
fn build_reason(
    force: bool,
    existing: Option<&Inspected>,
    fingerprint: &str,
) -> Option<BuildReason> {
    match existing {
        _ if force => Some(BuildReason::Forced),
        None => Some(BuildReason::Missing),
        Some(found) if found.context.as_deref() != Some(fingerprint) => Some(BuildReason::Changed),
        Some(_) => None,
    }
}
