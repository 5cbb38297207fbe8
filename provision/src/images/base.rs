//! The base image, `stepwise/debian:bookworm`, made without pulling anything: debootstrap
//! into a temp dir (as root), slimmed by `docker/images/base/finish-rootfs.sh`, then
//! `tar | docker import`.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};

use super::cli::run_logged;
use super::{BASE_TAG, CONTEXT_LABEL, ImageOptions};
use crate::process::{find_program, run_to_completion};

/// The debootstrap invocation, part of the base image's fingerprint (the mirror is not: the
/// same packages come from any mirror).
pub(super) const DEBOOTSTRAP_ARGS: &[&str] = &["--variant=minbase", "bookworm"];

/// `debootstrap` in `search_path`, else in `/usr/sbin` or `/sbin`, where Debian installs it and
/// a non-root PATH often does not look.
pub fn find_debootstrap(search_path: Option<&OsStr>) -> Option<PathBuf> {
    find_program("debootstrap", search_path)
        .or_else(|| find_program("debootstrap", Some("/usr/sbin:/sbin".as_ref())))
}

/// debootstrap, slim down, import.
pub(super) fn build_base(docker: &Path, fingerprint: &str, options: &ImageOptions) -> Result<()> {
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
    let debootstrap = find_debootstrap(std::env::var_os("PATH").as_deref()).ok_or_else(|| {
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
