//! The service images (PostgreSQL, Redis, the MongoDB stand-in): `docker build` of
//! `docker/images/<name>/` on top of the base, with the host's CA bundle in the context and
//! the proxy settings passed on, retried with `--network host` where the bridge network
//! cannot reach the outside.

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, anyhow};

use super::cli::run_logged;
use super::{CONTEXT_LABEL, ImageOptions, LocalImage};

/// The name of the CA bundle file put into each build context.
const HOST_CA_FILE: &str = "host-ca-certificates.crt";

/// Where a host keeps its CA bundle (Debian/Ubuntu, then Fedora/RHEL).
const HOST_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// `docker build` of `docker/images/<dir>/`, retried with `--network host` if it fails.
pub(super) fn build_service(
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
