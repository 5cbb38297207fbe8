//! Prerequisites that the commands install themselves where they can: on a Debian machine as
//! root, with apt-get, saying so aloud. Elsewhere they stop with the exact command to run.

use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::services::Service;

/// What the local MongoDB stand-in needs: python3 with the venv module (nx-27017 is installed
/// from PyPI into a venv by the test harness). Not needed when `MONGODB_URI` is set or a
/// `mongod` is on PATH.
pub fn ensure_mongo_prerequisites() -> anyhow::Result<()> {
    let uri_given = std::env::var("MONGODB_URI").is_ok_and(|u| !u.trim().is_empty());
    if uri_given || on_path("mongod") {
        return Ok(());
    }
    if python_has_venv() {
        return Ok(());
    }
    apt_install(
        &["python3", "python3-venv", "python3-pip"],
        "python3 with venv runs nx-27017, the local MongoDB stand-in",
    )?;
    if !python_has_venv() {
        bail!("python3 still cannot create a venv after installing python3-venv");
    }
    Ok(())
}

/// A program tests start themselves, beside the services of a step's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Step 4's load-balancing tests start nginx in front of two instances.
    Nginx,
    /// The provisioning crate's container tests build the local images, whose Debian base
    /// debootstrap makes (`cargo xtask test` runs them; see [`wants_debootstrap`]).
    Debootstrap,
    /// Step 7's workflow tests lint the `run:` scripts of `.github/workflows/` with it,
    /// through actionlint (which skips them silently without it).
    Shellcheck,
    /// Step 9's tests check the alert rules with promtool and run the shipped configuration
    /// on a real Prometheus and Alertmanager (Debian's `prometheus` package ships promtool).
    Prometheus,
}

impl Tool {
    /// Its name, as the README and doctor write it.
    pub fn label(self) -> &'static str {
        match self {
            Tool::Nginx => "nginx",
            Tool::Debootstrap => "debootstrap",
            Tool::Shellcheck => "shellcheck",
            Tool::Prometheus => "prometheus",
        }
    }
}

/// The local server programs behind `services` and `tools`, installed with apt-get where they
/// are missing (provision falls back to a local server when no URL is given and no container
/// answers). Skipped for a service whose URL the environment gives; MongoDB has its own
/// check ([`ensure_mongo_prerequisites`]).
pub fn ensure_local_programs(services: &[Service], tools: &[Tool]) -> anyhow::Result<()> {
    use provision::images::{self, ImageOptions, LocalImage};
    use provision::postgres::{PostgresSettings, find_bin_dir};
    use provision::redis::RedisSettings;

    let given = |url: Option<&str>| url.is_some_and(|u| !u.trim().is_empty());
    let path = std::env::var_os("PATH");
    let mut missing = Vec::new();
    let mut why = Vec::new();
    if services.contains(&Service::Postgres) {
        let postgres = PostgresSettings::from_env();
        if !given(postgres.env_url.as_deref())
            && find_bin_dir(postgres.search_path.as_deref()).is_err()
        {
            missing.push("postgresql");
        }
    }
    if services.contains(&Service::Redis) {
        let redis = RedisSettings::from_env();
        if !given(redis.env_url.as_deref()) && !on_path("redis-server") {
            missing.push("redis-server");
        }
    }
    if tools.contains(&Tool::Nginx) && provision::nginx::find_nginx(path.as_deref()).is_err() {
        missing.push("nginx-light");
    }
    if !missing.is_empty() {
        why.push("the tests start real PostgreSQL, Redis and nginx servers");
    }
    if tools.contains(&Tool::Shellcheck) && !on_path("shellcheck") {
        missing.push("shellcheck");
        why.push("step 7's tests check the workflows' `run:` scripts with it");
    }
    if tools.contains(&Tool::Prometheus) {
        let before = missing.len();
        for &(program, package) in PROMETHEUS_PROGRAMS {
            if !on_path(program) && !missing.contains(&package) {
                missing.push(package);
            }
        }
        if missing.len() > before {
            why.push("step 9's tests run promtool and a real Prometheus and Alertmanager");
        }
    }
    if tools.contains(&Tool::Debootstrap) {
        // Each probe only where the one before leaves the answer open: pinging an absent
        // engine takes up to seconds.
        let found = images::find_debootstrap(path.as_deref()).is_some();
        let engine_answers = !found && provision::docker::engine_status().is_ok();
        let base_up_to_date = engine_answers
            && images::is_up_to_date(LocalImage::Base, &ImageOptions::default()).unwrap_or(false);
        if wants_debootstrap(engine_answers, base_up_to_date, found) {
            missing.push("debootstrap");
            why.push("the container tests build the local images' Debian base with it");
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    apt_install(&missing, &why.join("; "))
}

/// The programs behind [`Tool::Prometheus`], with the Debian package of each.
pub const PROMETHEUS_PROGRAMS: &[(&str, &str)] = &[
    ("prometheus", "prometheus"),
    ("promtool", "prometheus"),
    ("prometheus-alertmanager", "prometheus-alertmanager"),
    ("amtool", "prometheus-alertmanager"),
];

/// Whether debootstrap must be installed for the container tests: they run where a Docker
/// engine answers (and skip where none does), and build the base image with debootstrap
/// unless it is there and up to date.
fn wants_debootstrap(engine_answers: bool, base_up_to_date: bool, found: bool) -> bool {
    engine_answers && !base_up_to_date && !found
}

fn python_has_venv() -> bool {
    Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Installs Debian packages, or explains how when it cannot.
pub fn apt_install(packages: &[&str], why: &str) -> anyhow::Result<()> {
    let command = format!("apt-get install -y {}", packages.join(" "));
    if !on_path("apt-get") {
        bail!(
            "missing: {} ({why}); install them with your package manager",
            packages.join(", ")
        );
    }
    if !is_root() {
        bail!(
            "missing: {} ({why}); run: sudo {command}",
            packages.join(", ")
        );
    }
    eprintln!("installing {} with apt-get: {why}", packages.join(", "));
    for args in [vec!["update", "-qq"], {
        let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
        args.extend_from_slice(packages);
        args
    }] {
        let status = Command::new("apt-get")
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("running apt-get {}", args.join(" ")))?;
        if !status.success() {
            bail!(
                "apt-get {} failed ({status}); try: {command}",
                args.join(" ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debootstrap_is_wanted_only_where_docker_answers_and_the_base_image_must_be_built() {
        // (engine answers, base image up to date, debootstrap found) -> wanted
        let cases = [
            ((true, false, false), true),
            ((true, false, true), false),
            ((true, true, false), false),
            ((true, true, true), false),
            ((false, false, false), false),
            ((false, false, true), false),
            ((false, true, false), false),
            ((false, true, true), false),
        ];
        for ((engine, up_to_date, found), wanted) in cases {
            assert_eq!(
                wants_debootstrap(engine, up_to_date, found),
                wanted,
                "engine answers: {engine}, base up to date: {up_to_date}, found: {found}"
            );
        }
    }
}
