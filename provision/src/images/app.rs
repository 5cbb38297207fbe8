//! The app's images built on this machine: `stepwise/<binary>:local` from `docker/Dockerfile`,
//! the same file CI builds the official images with, but its `prebuilt` target and a binary
//! cargo built on the host. There is no Rust toolchain image here to build in, and a release
//! build of the workspace inside a container on two cores would take many minutes on every
//! dependency change; the host's target dir already holds the binary the tests run. Docker's
//! legacy builder (engine 20.10, no BuildKit) builds every stage up to the target, and the
//! Dockerfile puts `runtime` and `prebuilt` before the Rust stages, so nothing is pulled.
//!
//! The build context is a temp dir holding two files, `docker/healthcheck.sh` and
//! `prebuilt/app` (the binary without its debug sections: line tables only matter to a
//! debugger, and they are a third of a debug build), not the repository (gigabytes with a
//! target dir, sent to the engine on every build). The runtime base is
//! [`super::BASE_TAG`], built first when missing.
//!
//! Cached like the other local images: the `stepwise.context` label holds a fingerprint of the
//! Dockerfile, the health check, the binary's bytes, the base image's id and the build
//! arguments, and an image whose label matches is not rebuilt.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use super::cli::{docker_cli, inspect, run_logged};
use super::fingerprint::Fields;
use super::lock::BuildLock;
use super::{BASE_TAG, BuildReason, CONTEXT_LABEL, ImageOptions, ImageStatus, LocalImage};
use crate::cargo::{cargo_in, workspace_root};
use crate::process::find_program;

/// The binaries that ship as images, with the package each belongs to.
pub const APP_BINARIES: [AppBinary; 3] = [
    AppBinary {
        binary: "step07-devops",
        package: "step07-devops",
    },
    AppBinary {
        binary: "step02-payments",
        package: "step02-apis",
    },
    AppBinary {
        binary: "payment-sim",
        package: "payment-sim",
    },
];

/// The Dockerfile's stage that takes a binary from the context (`prebuilt/app`).
pub const PREBUILT_TARGET: &str = "prebuilt";

/// A binary of the workspace that ships as an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppBinary {
    /// The `[[bin]]` name, the Dockerfile's `BINARY`.
    pub binary: &'static str,
    /// The package that has it, for `cargo build --package`.
    pub package: &'static str,
}

impl AppBinary {
    /// `stepwise/<binary>:local`.
    pub fn local_tag(&self) -> String {
        format!("stepwise/{}:local", self.binary)
    }

    /// Builds the binary with cargo on the host (debug unless `release`) and returns its
    /// path, as cargo reports it. Cargo's own output goes to our stderr.
    pub fn cargo_build(&self, release: bool) -> Result<PathBuf> {
        let mut command = cargo_in(&workspace_root());
        command.args([
            "build",
            "--package",
            self.package,
            "--bin",
            self.binary,
            "--message-format",
            "json",
        ]);
        if release {
            command.arg("--release");
        }
        let output = command
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running cargo build --bin {}", self.binary))?;
        if !output.status.success() {
            bail!(
                "cargo build --bin {} failed ({})",
                self.binary,
                output.status
            );
        }
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| {
                message["reason"] == "compiler-artifact" && message["target"]["name"] == self.binary
            })
            .find_map(|message| message["executable"].as_str().map(PathBuf::from))
            .with_context(|| format!("cargo built {} but reported no executable", self.binary))
    }
}

/// How to build an app image.
#[derive(Debug, Clone)]
pub struct AppImageOptions {
    /// Rebuild even when up to date.
    pub force: bool,
    /// `docker/` of this repository (the Dockerfile and the health check).
    pub docker_dir: PathBuf,
    /// For the base image, and where the build log goes.
    pub base: ImageOptions,
}

impl Default for AppImageOptions {
    fn default() -> Self {
        AppImageOptions {
            force: false,
            docker_dir: workspace_root().join("docker"),
            base: ImageOptions::default(),
        }
    }
}

/// What [`ensure_app_image`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppImageReport {
    pub tag: String,
    pub status: ImageStatus,
    /// As `docker images` counts it (the base's layers included).
    pub size_bytes: u64,
    /// The size of the binary as it went into the image (debug sections removed).
    pub binary_bytes: u64,
}

impl fmt::Display for AppImageReport {
    /// "stepwise/step07-devops:local  built in 21.3 s (was missing), 179 MB (binary 104 MB)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = self.size_bytes as f64 / 1e6;
        let binary = self.binary_bytes as f64 / 1e6;
        match &self.status {
            ImageStatus::Cached => write!(f, "{}  up to date", self.tag)?,
            ImageStatus::Built { reason, took } => write!(
                f,
                "{}  built in {:.1} s ({})",
                self.tag,
                took.as_secs_f64(),
                match reason {
                    BuildReason::Missing => "was missing",
                    BuildReason::Changed => "inputs changed",
                    BuildReason::Forced => "forced",
                }
            )?,
        }
        write!(f, ", {size:.0} MB (binary {binary:.0} MB)")
    }
}

/// Builds `stepwise/<binary>:local` from `executable` (a binary built on the host, e.g.
/// [`AppBinary::cargo_build`] or a test's `CARGO_BIN_EXE_*`) unless it is up to date; builds
/// the base image first when it is missing.
pub fn ensure_app_image(
    app: AppBinary,
    executable: &Path,
    options: &AppImageOptions,
) -> Result<AppImageReport> {
    let docker = docker_cli()?;
    super::ensure_local_image(LocalImage::Base, &options.base)?;
    let tag = app.local_tag();
    fs::create_dir_all(&options.base.log_dir)
        .with_context(|| format!("creating {}", options.base.log_dir.display()))?;
    // The binary is stripped before it is hashed: what is hashed is what goes in.
    let context = tempfile::Builder::new()
        .prefix("stepwise-app-image-")
        .tempdir()
        .context("creating a build context dir")?;
    let stripped = prepare_context(context.path(), executable, &options.docker_dir)?;
    let binary_bytes = fs::metadata(&stripped)?.len();
    let fingerprint = fingerprint(&docker, app, context.path(), &options.docker_dir)?;

    let _lock = BuildLock::acquire(&options.base.log_dir)?;
    let existing = inspect(&docker, &tag)?;
    let reason = super::build_reason(options.force, existing.as_ref(), &fingerprint);
    let status = match reason {
        None => ImageStatus::Cached,
        Some(reason) => {
            let took = build(&docker, app, &tag, &fingerprint, context.path(), options)?;
            if let Some(old) = existing {
                // Fails, harmlessly, while a container still runs from the old image.
                let _ = Command::new(&docker)
                    .args(["image", "rm", &old.id])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            ImageStatus::Built { reason, took }
        }
    };
    let size_bytes = inspect(&docker, &tag)?
        .ok_or_else(|| anyhow!("{tag} is missing right after its build"))?
        .size;
    let report = AppImageReport {
        tag,
        status,
        size_bytes,
        binary_bytes,
    };
    if report.status != ImageStatus::Cached {
        say!("images: {report}");
    }
    Ok(report)
}

/// [`ensure_app_image`] for every binary in [`APP_BINARIES`], each built by cargo first
/// (debug unless `release`).
pub fn ensure_app_images(release: bool, options: &AppImageOptions) -> Result<Vec<AppImageReport>> {
    APP_BINARIES
        .iter()
        .map(|app| ensure_app_image(*app, &app.cargo_build(release)?, options))
        .collect()
}

/// The context: `docker/healthcheck.sh` and `prebuilt/app`; the latter's path.
fn prepare_context(context: &Path, executable: &Path, docker_dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(context.join("docker"))?;
    fs::create_dir_all(context.join("prebuilt"))?;
    let check = docker_dir.join("healthcheck.sh");
    // fs::copy keeps the executable bit.
    fs::copy(&check, context.join("docker").join("healthcheck.sh"))
        .with_context(|| format!("copying {}", check.display()))?;
    if !executable.is_file() {
        bail!(
            "{} is not a file (build the binary first)",
            executable.display()
        );
    }
    let app = context.join("prebuilt").join("app");
    match find_program("objcopy", std::env::var_os("PATH").as_deref()) {
        Some(objcopy) => {
            let status = Command::new(objcopy)
                .arg("--strip-debug")
                .arg(executable)
                .arg(&app)
                .stdin(Stdio::null())
                .status()
                .context("running objcopy --strip-debug")?;
            if !status.success() {
                bail!(
                    "objcopy --strip-debug {} failed ({status})",
                    executable.display()
                );
            }
        }
        // binutils missing: the binary goes in as it is, only bigger.
        None => {
            fs::copy(executable, &app)
                .with_context(|| format!("copying {}", executable.display()))?;
        }
    }
    Ok(app)
}

/// The image's inputs: the Dockerfile, the build context's files, the base image's id and
/// the build arguments.
fn fingerprint(docker: &Path, app: AppBinary, context: &Path, docker_dir: &Path) -> Result<String> {
    let mut hash = Fields::default();
    hash.write(app.local_tag().as_bytes());
    hash.write(app.binary.as_bytes());
    hash.write(PREBUILT_TARGET.as_bytes());
    let dockerfile = docker_dir.join("Dockerfile");
    hash.write(
        &fs::read(&dockerfile).with_context(|| format!("reading {}", dockerfile.display()))?,
    );
    for file in ["docker/healthcheck.sh", "prebuilt/app"] {
        hash.write(file.as_bytes());
        hash.write(&fs::read(context.join(file))?);
    }
    let base = inspect(docker, BASE_TAG)?
        .ok_or_else(|| anyhow!("{BASE_TAG} is missing; it is built first"))?;
    hash.write(base.id.as_bytes());
    Ok(hash.finish())
}

/// `docker build --target prebuilt` of the context; how long it took.
fn build(
    docker: &Path,
    app: AppBinary,
    tag: &str,
    fingerprint: &str,
    context: &Path,
    options: &AppImageOptions,
) -> Result<Duration> {
    let log = options.base.log_dir.join(format!("{}.log", app.binary));
    say!(
        "images: {tag}: docker build --target {PREBUILT_TARGET} (log: {})",
        log.display()
    );
    let started = Instant::now();
    let mut command = Command::new(docker);
    command
        .arg("build")
        .arg("--force-rm")
        .arg("--file")
        .arg(options.docker_dir.join("Dockerfile"))
        .args(["--target", PREBUILT_TARGET])
        .args(["--build-arg", &format!("RUNTIME_IMAGE={BASE_TAG}")])
        .args(["--build-arg", &format!("BINARY={}", app.binary)])
        .args(["--label", &format!("{CONTEXT_LABEL}={fingerprint}")])
        .args(["-t", tag]);
    if options.force {
        command.arg("--no-cache");
    }
    command.arg(context);
    run_logged(&mut command, &log, "docker build")?;
    Ok(started.elapsed())
}
