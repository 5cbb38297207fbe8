//! The local images, for machines where Docker runs but no registry can be reached: a Debian
//! base made without pulling anything, and the services on top of it, installed from Debian
//! packages. `cargo xtask images` calls [`ensure_local_images`]; `STEPWISE_IMAGES=local`
//! makes the harness use them ([`super::policy`]).
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

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use super::cache;
use super::docker;
use super::policy::{ImageFlavor, ServiceKind};
use super::process::{find_program, run_to_completion};

/// The base image's tag.
pub const BASE_TAG: &str = "stepwise/debian:bookworm";

/// The label holding the fingerprint of what an image was built from.
pub const CONTEXT_LABEL: &str = "stepwise.context";

/// The Debian mirror, unless `STEPWISE_DEBIAN_MIRROR` names another.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// The variable naming another Debian mirror.
pub const MIRROR_VAR: &str = "STEPWISE_DEBIAN_MIRROR";

/// The debootstrap invocation, part of the base image's fingerprint (the mirror is not: the
/// same packages come from any mirror).
const DEBOOTSTRAP_ARGS: &[&str] = &["--variant=minbase", "bookworm"];

/// The name of the CA bundle file put into each build context.
const HOST_CA_FILE: &str = "host-ca-certificates.crt";

/// Where a host keeps its CA bundle (Debian/Ubuntu, then Fedora/RHEL).
const HOST_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// An image this repo builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalImage {
    Base,
    Postgres,
    Redis,
    MongoStandin,
}

impl LocalImage {
    /// Every image, each after what it is built on.
    pub const ALL: [LocalImage; 4] = [
        LocalImage::Base,
        LocalImage::Postgres,
        LocalImage::Redis,
        LocalImage::MongoStandin,
    ];

    pub fn tag(self) -> &'static str {
        match self {
            LocalImage::Base => BASE_TAG,
            LocalImage::Postgres => ServiceKind::Postgres.image(ImageFlavor::Local),
            LocalImage::Redis => ServiceKind::Redis.image(ImageFlavor::Local),
            LocalImage::MongoStandin => ServiceKind::Mongo.image(ImageFlavor::Local),
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

/// What [`ensure_local_images`] did with one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageStatus {
    /// Up to date; not rebuilt.
    Cached,
    /// Built now.
    Built { reason: BuildReason, took: Duration },
}

/// Why an image was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildReason {
    Missing,
    /// Its inputs (files, base image) changed since it was built.
    Changed,
    Forced,
}

/// One image's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReport {
    pub image: LocalImage,
    pub status: ImageStatus,
    /// As `docker images` counts it (layers shared with the base included).
    pub size_bytes: u64,
}

impl fmt::Display for ImageReport {
    /// "stepwise/redis:7  built in 21.3 s (missing), 95 MB".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = self.size_bytes as f64 / 1e6;
        match &self.status {
            ImageStatus::Cached => write!(f, "{}  up to date, {size:.0} MB", self.image),
            ImageStatus::Built { reason, took } => write!(
                f,
                "{}  built in {:.1} s ({}), {size:.0} MB",
                self.image,
                took.as_secs_f64(),
                match reason {
                    BuildReason::Missing => "was missing",
                    BuildReason::Changed => "inputs changed",
                    BuildReason::Forced => "forced",
                }
            ),
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
        let reason = match &existing {
            _ if options.force => Some(BuildReason::Forced),
            None => Some(BuildReason::Missing),
            Some(found) if found.context.as_deref() != Some(fingerprint.as_str()) => {
                Some(BuildReason::Changed)
            }
            Some(_) => None,
        };
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

/// A lock across processes on the image builds (with nextest every test is a process of its
/// own, and three tests needing `stepwise/redis:7` would build it three times): a directory,
/// since creating one is atomic, holding its owner's pid and start time, so a lock left by a
/// process that died is taken over. Two processes taking over the same stale lock at the same
/// moment could both proceed; the cost is a duplicate build, never a broken image
/// (`docker build -t` and `docker tag` replace tags atomically).
struct BuildLock {
    path: PathBuf,
}

impl BuildLock {
    const NAME: &'static str = "build.lock";

    /// How old an owner-less lock (its creator died before writing the owner) must be to be
    /// taken over.
    const OWNERLESS_GRACE: Duration = Duration::from_secs(10);

    fn acquire(dir: &Path) -> Result<BuildLock> {
        let path = dir.join(Self::NAME);
        let me = docker::Owner::current()?;
        let mut announced = false;
        loop {
            match fs::create_dir(&path) {
                Ok(()) => {
                    fs::write(path.join("owner"), format!("{} {}", me.pid, me.start))
                        .context("writing the image build lock")?;
                    return Ok(BuildLock { path });
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Self::is_stale(&path) {
                        let _ = fs::remove_dir_all(&path);
                        continue;
                    }
                    if !announced {
                        say!(
                            "images: waiting for another process that is building images (lock: \
                             {})",
                            path.display()
                        );
                        announced = true;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
    }

    fn is_stale(path: &Path) -> bool {
        match fs::read_to_string(path.join("owner")) {
            Ok(owner) => {
                let mut fields = owner.split_whitespace().map(str::parse::<u64>);
                match (fields.next(), fields.next()) {
                    (Some(Ok(pid)), Some(Ok(start))) => u32::try_from(pid)
                        .map_or(true, |pid| docker::start_time(pid) != Some(start)),
                    _ => true,
                }
            }
            Err(_) => fs::metadata(path)
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > Self::OWNERLESS_GRACE),
        }
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The `docker` CLI, or an error saying how to get it.
fn docker_cli() -> Result<PathBuf> {
    find_program("docker", std::env::var_os("PATH").as_deref()).ok_or_else(|| {
        anyhow!(
            "building the local images needs the docker CLI, and `docker` is not on PATH. \
             Install Docker (on Debian: apt-get install -y docker.io)"
        )
    })
}

/// What `docker image inspect` says about an image we care about.
struct Inspected {
    id: String,
    context: Option<String>,
    size: u64,
}

fn inspect(docker: &Path, tag: &str) -> Result<Option<Inspected>> {
    let output = Command::new(docker)
        .args(["image", "inspect", "--format"])
        .arg(format!(
            "{{{{.Id}}}}|{{{{index .Config.Labels \"{CONTEXT_LABEL}\"}}}}|{{{{.Size}}}}"
        ))
        .arg(tag)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running docker image inspect {tag}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        if stderr.to_ascii_lowercase().contains("no such image") {
            return Ok(None);
        }
        bail!("docker image inspect {tag} failed: {}", stderr.trim());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut fields = stdout.trim().splitn(3, '|');
    let (Some(id), Some(context), Some(size)) = (fields.next(), fields.next(), fields.next())
    else {
        bail!("unexpected docker image inspect output for {tag}: {stdout:?}");
    };
    Ok(Some(Inspected {
        id: id.to_owned(),
        // Go templates print a missing label as "<no value>" or nothing.
        context: (!context.is_empty() && context != "<no value>").then(|| context.to_owned()),
        size: size.parse().unwrap_or_default(),
    }))
}

/// The fingerprint of an image's inputs: its files (names, contents, executable bits); for
/// the base also the debootstrap arguments, for the others the base image's id.
fn fingerprint(docker: &Path, image: LocalImage, options: &ImageOptions) -> Result<String> {
    let dir = options.images_dir.join(image.dir());
    let mut hash = Fnv1a::new();
    hash.write(image.tag().as_bytes());
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("reading {} (the image's build files)", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for file in files.iter().filter(|f| f.is_file()) {
        hash.write(file.file_name().unwrap_or_default().as_encoded_bytes());
        let meta = fs::metadata(file)?;
        hash.write(&[u8::from(meta.mode() & 0o111 != 0)]);
        hash.write(&fs::read(file).with_context(|| format!("reading {}", file.display()))?);
    }
    match image {
        LocalImage::Base => {
            for arg in DEBOOTSTRAP_ARGS {
                hash.write(arg.as_bytes());
            }
        }
        _ => {
            let base = inspect(docker, BASE_TAG)?
                .ok_or_else(|| anyhow!("{BASE_TAG} is missing; it is built first"))?;
            hash.write(base.id.as_bytes());
        }
    }
    Ok(format!("{:016x}", hash.finish()))
}

/// FNV-1a, 64 bits: a fingerprint that stays the same across Rust releases (std's hasher
/// may change), without a dependency for it.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // Separates consecutive writes: ("ab", "c") and ("a", "bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// debootstrap, slim down, import.
fn build_base(docker: &Path, fingerprint: &str, options: &ImageOptions) -> Result<()> {
    let euid = fs::metadata("/proc/self")
        .context("reading /proc/self to learn our uid")?
        .uid();
    if euid != 0 {
        bail!(
            "building {BASE_TAG} runs debootstrap, which needs root. Run the command again as \
             root (e.g. `sudo -E cargo xtask images`), or use the official images instead \
             (STEPWISE_IMAGES=official, where Docker Hub is reachable)"
        );
    }
    let path = std::env::var_os("PATH");
    let debootstrap = find_program("debootstrap", path.as_deref())
        .or_else(|| find_program("debootstrap", Some("/usr/sbin:/sbin".as_ref())))
        .ok_or_else(|| {
            anyhow!(
                "building {BASE_TAG} needs debootstrap, which is not installed. Install it \
                 with: apt-get install -y debootstrap"
            )
        })?;
    // In the temp dir, not the cache: about 200 MB, deleted right after the import.
    let work = tempfile::Builder::new()
        .prefix("stepwise-rootfs-")
        .tempdir()
        .context("creating a temp dir for the root filesystem")?;
    let rootfs = work.path().join("rootfs");
    let log = options.log_dir.join("debian-bookworm.log");
    say!(
        "images: {BASE_TAG}: debootstrap {} from {} (about a minute; log: {})",
        DEBOOTSTRAP_ARGS.join(" "),
        options.mirror,
        log.display()
    );
    run_logged(
        Command::new(debootstrap)
            .args(DEBOOTSTRAP_ARGS)
            .arg(&rootfs)
            .arg(&options.mirror),
        &log,
        "debootstrap",
    )?;
    let finish = options.images_dir.join("base").join("finish-rootfs.sh");
    run_to_completion(
        Command::new("sh")
            .arg(&finish)
            .arg(&rootfs)
            .arg(&options.mirror),
    )
    .context("slimming the root filesystem")?;
    say!("images: {BASE_TAG}: docker import");
    let mut tar = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(&rootfs)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running tar")?;
    let tar_out = tar.stdout.take().context("tar's stdout was not piped")?;
    // Untagged first: a half-fed import must not be mistaken for a finished base later.
    let imported = Command::new(docker)
        .arg("import")
        .args(["--change", "CMD [\"bash\"]"])
        .args([
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ])
        .args(["--change", "ENV LANG=C.UTF-8"])
        .args(["--change", &format!("LABEL {CONTEXT_LABEL}={fingerprint}")])
        .arg("-")
        .stdin(tar_out)
        .output()
        .context("running docker import")?;
    let tar_done = tar.wait_with_output().context("waiting for tar")?;
    if !tar_done.status.success() {
        bail!(
            "tar of the root filesystem failed ({}): {}",
            tar_done.status,
            String::from_utf8_lossy(&tar_done.stderr).trim()
        );
    }
    if !imported.status.success() {
        bail!(
            "docker import failed ({}): {}",
            imported.status,
            String::from_utf8_lossy(&imported.stderr).trim()
        );
    }
    let id = String::from_utf8_lossy(&imported.stdout).trim().to_owned();
    run_to_completion(Command::new(docker).args(["tag", &id, BASE_TAG]))
        .context("tagging the imported base")?;
    Ok(())
}

/// `docker build` of `docker/images/<dir>/`, retried with `--network host` if it fails.
fn build_service(
    docker: &Path,
    image: LocalImage,
    fingerprint: &str,
    options: &ImageOptions,
) -> Result<()> {
    let context = tempfile::Builder::new()
        .prefix("stepwise-image-")
        .tempdir()
        .context("creating a build context dir")?;
    let source = options.images_dir.join(image.dir());
    for entry in fs::read_dir(&source).with_context(|| format!("reading {}", source.display()))? {
        let path = entry?.path();
        if path.is_file() {
            // fs::copy keeps the permission bits (the entrypoint's executable bit).
            fs::copy(
                &path,
                context.path().join(path.file_name().unwrap_or_default()),
            )
            .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    let bundle = HOST_CA_BUNDLES
        .iter()
        .map(Path::new)
        .find(|bundle| bundle.is_file());
    let ca = context.path().join(HOST_CA_FILE);
    match bundle {
        Some(bundle) => fs::copy(bundle, &ca).map(drop),
        None => fs::write(&ca, b""),
    }
    .context("putting the host's CA bundle into the build context")?;

    let log = options.log_dir.join(format!("{}.log", image.dir()));
    say!(
        "images: {image}: docker build (a minute or two; log: {})",
        log.display()
    );
    let build = |network_host: bool| {
        let mut command = Command::new(docker);
        command
            .arg("build")
            // No intermediate containers left behind by a failed step either.
            .arg("--force-rm")
            .args(["-t", image.tag()])
            .args(["--label", &format!("{CONTEXT_LABEL}={fingerprint}")]);
        if options.force {
            // Docker's layer cache would otherwise hand back the same layers.
            command.arg("--no-cache");
        }
        if network_host {
            command.args(["--network", "host"]);
        }
        for arg in build_args() {
            command.arg("--build-arg").arg(arg);
        }
        command.arg(context.path());
        run_logged(&mut command, &log, "docker build")
    };
    match build(false) {
        Ok(()) => Ok(()),
        Err(first) => {
            say!(
                "images: {image}: docker build failed; retrying with --network host in case \
                 the build containers cannot reach the network"
            );
            build(true).map_err(|second| {
                anyhow!(
                    "{second:#}\n(the first attempt, on the default network, failed too: \
                     {})",
                    first.to_string().lines().next().unwrap_or_default()
                )
            })
        }
    }
}

/// Proxy settings and a PyPI mirror from our environment, passed on to the builds (`docker
/// build` does not pass the environment on by itself).
fn build_args() -> Vec<OsString> {
    let mut args = Vec::new();
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    ] {
        if let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let mut arg = OsString::from(format!("{var}="));
            arg.push(value);
            args.push(arg);
        }
    }
    if let Some(index) = std::env::var_os("PIP_INDEX_URL").filter(|v| !v.is_empty()) {
        let mut arg = OsString::from("STEPWISE_PIP_INDEX_URL=");
        arg.push(index);
        args.push(arg);
    }
    args
}

/// Runs `command` with its output in `log`; on failure the error names `what`, the log and
/// its last lines.
fn run_logged(command: &mut Command, log: &Path, what: &str) -> Result<()> {
    let file = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .with_context(|| format!("running {what}"))?;
    if status.success() {
        return Ok(());
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(25)..].join("\n");
    bail!(
        "{what} failed ({status}); the last lines of {}:\n{tail}",
        log.display()
    )
}
