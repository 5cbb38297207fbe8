//! `cargo xtask services up|down|status`: long-lived local services for exploring, with their
//! URLs.
//!
//! `up` runs in the foreground and owns the servers: it starts them (always its own, even
//! when `MONGODB_URI` is set: local servers or containers as provision's policy says), writes a state file (`target/xtask/services.json`: its pid and
//! the services' URLs), prints the URLs and `export` lines, and waits. Ctrl-C, SIGTERM or
//! SIGHUP (a closed terminal) make it stop the servers and remove the state file. `down`
//! sends SIGTERM to that pid and waits for it to exit; `status` reads the file and checks the
//! pid and the ports. Nothing can be orphaned: the servers live under provision's watchdog,
//! which stops them when `up` dies, even by SIGKILL; a state file left by such a death is
//! recognised as stale (its pid is gone or is not xtask) and replaced.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::services::{Origin, ServiceInfo, Services};
use crate::steps::{self, STEPS};
use crate::ui::Ui;
use crate::workspace;

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Examples:
  cargo xtask services up                  (in one terminal; Ctrl-C stops them)
  eval \"$(cargo xtask services status --env)\"   (in another: APP__MONGODB__URI=... for
                                           the binaries, MONGODB_URI=... for the tests)
  cargo run -p common                      (step 0 on that MongoDB)
  cargo nextest run -p common              (the tests now use those servers)
  cargo xtask services down")]
pub struct ServicesCmd {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Start local services and keep them up in the foreground until Ctrl-C or `down`.
    Up(Up),
    /// Stop the services `up` started (SIGTERM to it, then wait).
    Down,
    /// Show whether services are up, their URLs and the `export` lines (exit 1 when not up).
    Status(Status),
}

#[derive(clap::Args, Debug)]
pub struct Up {
    /// Only what this step needs (default: what any step needs).
    #[arg(long)]
    pub step: Option<u8>,
}

#[derive(clap::Args, Debug)]
pub struct Status {
    /// Print only the `export VAR=URL` lines (the binaries' `APP__*` and the tests' variables),
    /// for `eval "$(cargo xtask services status --env)"`.
    #[arg(long)]
    pub env: bool,
}

/// What `up` writes for `down` and `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The `up` process: `down` signals it.
    pub pid: u32,
    pub started_unix: u64,
    pub services: Vec<ServiceInfo>,
}

impl ServicesCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let path = state_path();
        match self.action {
            Action::Up(up) => up.run(&path),
            Action::Down => down(&path),
            Action::Status(status) => status.run(&path),
        }
    }
}

pub fn state_path() -> PathBuf {
    workspace::xtask_dir().join("services.json")
}

impl Up {
    fn run(self, path: &Path) -> anyhow::Result<ExitCode> {
        if let Some(state) = read_state(path)? {
            if is_up_process(state.pid) {
                bail!(
                    "services are already up (pid {}); see `cargo xtask services status`, \
                     stop them with `cargo xtask services down`",
                    state.pid
                );
            }
            std::fs::remove_file(path).ok();
        }
        let needs = match self.step {
            Some(n) => steps::find(n)?.services.to_vec(),
            None => steps::services_of(STEPS),
        };
        let services = Services::start(&needs, Origin::Owned, &Ui::new())?;
        let state = State {
            pid: std::process::id(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            services: services.infos(),
        };
        let _state_file = StateFile::write(path, &state)?;

        println!("services up (pid {}):", state.pid);
        for info in &state.services {
            println!(
                "  {:<11} {}  ({})",
                info.service.label(),
                info.url.as_deref().unwrap_or("-"),
                info.source
            );
        }
        println!();
        for line in export_lines(&state.services) {
            println!("{line}");
        }
        println!();
        println!(
            "Ctrl-C (or `cargo xtask services down`) stops them. State: {}",
            workspace::display_path(path)
        );

        let reason = wait_for_stop(&state.services)?;
        eprintln!("{reason}; stopping ...");
        drop(services);
        eprintln!("stopped");
        Ok(ExitCode::SUCCESS)
    }
}

/// Removes the state file when dropped (normal exit, error or panic), unless another `up`
/// has replaced it meanwhile.
struct StateFile {
    path: PathBuf,
}

impl StateFile {
    fn write(path: &Path, state: &State) -> anyhow::Result<StateFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // Written aside and renamed, so a reader never sees half a file.
        let partial = path.with_extension(format!("json.{}", state.pid));
        std::fs::write(&partial, serde_json::to_string_pretty(state)?)
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(StateFile {
            path: path.to_owned(),
        })
    }
}

impl Drop for StateFile {
    fn drop(&mut self) {
        if let Ok(Some(state)) = read_state(&self.path)
            && state.pid == std::process::id()
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Waits for Ctrl-C, SIGTERM or SIGHUP, or for a server to die; says which.
fn wait_for_stop(services: &[ServiceInfo]) -> anyhow::Result<String> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a Tokio runtime")?;
    runtime.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut hangup = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok("Ctrl-C".to_owned()),
                _ = term.recv() => return Ok("SIGTERM (services down)".to_owned()),
                _ = hangup.recv() => return Ok("SIGHUP".to_owned()),
                () = tokio::time::sleep(Duration::from_secs(2)) => {
                    for info in services {
                        if let Some(pid) = info.pid && !process_alive(pid) {
                            return Ok(format!(
                                "{} (pid {pid}) exited on its own",
                                info.service.label()
                            ));
                        }
                    }
                }
            }
        }
    })
}

fn down(path: &Path) -> anyhow::Result<ExitCode> {
    let Some(state) = read_state(path)? else {
        println!("no services are up");
        return Ok(ExitCode::SUCCESS);
    };
    if !is_up_process(state.pid) {
        std::fs::remove_file(path).ok();
        println!(
            "no services are up (removed a stale state file of pid {})",
            state.pid
        );
        return Ok(ExitCode::SUCCESS);
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &state.pid.to_string()])
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("could not signal pid {} ({status})", state.pid);
    }
    // `up` stops each server within provision's grace period (5 s), then exits.
    let deadline = Instant::now() + Duration::from_secs(20);
    while process_alive(state.pid) {
        if Instant::now() > deadline {
            bail!(
                "`services up` (pid {}) did not exit within 20 s; `kill -9 {}` ends it and \
                 provision's watchdog then stops its servers",
                state.pid,
                state.pid
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("stopped (pid {})", state.pid);
    Ok(ExitCode::SUCCESS)
}

impl Status {
    fn run(self, path: &Path) -> anyhow::Result<ExitCode> {
        let state = read_state(path)?.filter(|s| is_up_process(s.pid));
        let Some(state) = state else {
            if !self.env {
                println!("no services are up; start them with `cargo xtask services up`");
            }
            return Ok(ExitCode::FAILURE);
        };
        if self.env {
            for line in export_lines(&state.services) {
                println!("{line}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        println!("services up (pid {}):", state.pid);
        let mut all_answer = true;
        for info in &state.services {
            let answers = info.port.is_none_or(port_answers);
            all_answer &= answers;
            println!(
                "  {:<11} {}  ({}{})",
                info.service.label(),
                info.url.as_deref().unwrap_or("-"),
                info.source,
                if answers { "" } else { "; NOT ANSWERING" }
            );
        }
        println!();
        for line in export_lines(&state.services) {
            println!("{line}");
        }
        Ok(if all_answer {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

/// `export` lines for each service with a URL: first the variables the steps' binaries read
/// (`APP__MONGODB__URI`, for `cargo run -p common`), then the ones the tests read
/// (`MONGODB_URI`, for `cargo nextest run`), each group under a comment that names it, so
/// `eval` takes both and a reader sees which is which.
pub fn export_lines(services: &[ServiceInfo]) -> Vec<String> {
    let with_url: Vec<(&ServiceInfo, &String)> = services
        .iter()
        .filter_map(|s| s.url.as_ref().map(|url| (s, url)))
        .collect();
    if with_url.is_empty() {
        return Vec::new();
    }
    let mut lines =
        vec!["# what the binaries read (cargo xtask run, cargo run -p <step>):".to_owned()];
    lines.extend(
        with_url
            .iter()
            .map(|(s, url)| format!("export {}='{url}'", s.service.app_var())),
    );
    lines.push("# what the tests read (cargo nextest run, cargo xtask step):".to_owned());
    lines.extend(
        with_url
            .iter()
            .map(|(s, url)| format!("export {}='{url}'", s.env)),
    );
    lines
}

fn read_state(path: &Path) -> anyhow::Result<Option<State>> {
    match std::fs::read_to_string(path) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(state) => Ok(Some(state)),
            // Unreadable: treat as stale rather than blocking `up` forever.
            Err(_) => Ok(None),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Whether `pid` runs and is not a zombie (Linux `/proc`).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: `123 (xtask) S ...`.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Whether `pid` is alive and is an xtask (a recycled pid is someone else).
fn is_up_process(pid: u32) -> bool {
    process_alive(pid)
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("xtask"))
}

fn port_answers(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Service;

    fn state() -> State {
        State {
            pid: std::process::id(),
            started_unix: 1,
            services: vec![ServiceInfo {
                service: Service::MongoDb,
                source: "local nx-27017".into(),
                url: Some("mongodb://127.0.0.1:40001/?directConnection=true".into()),
                env: "MONGODB_URI".into(),
                pid: None,
                port: Some(40001),
            }],
        }
    }

    #[test]
    fn export_lines_name_what_the_binaries_read_and_what_the_tests_read() {
        assert_eq!(
            export_lines(&state().services),
            [
                "# what the binaries read (cargo xtask run, cargo run -p <step>):",
                "export APP__MONGODB__URI='mongodb://127.0.0.1:40001/?directConnection=true'",
                "# what the tests read (cargo nextest run, cargo xtask step):",
                "export MONGODB_URI='mongodb://127.0.0.1:40001/?directConnection=true'",
            ]
        );
        assert!(export_lines(&[]).is_empty());
    }

    #[test]
    fn the_state_file_round_trips_and_is_removed_by_its_owner() {
        let dir = tempfile_dir();
        let path = dir.join("services.json");
        {
            let _file = StateFile::write(&path, &state()).unwrap();
            assert_eq!(read_state(&path).unwrap(), Some(state()));
        }
        assert!(!path.exists(), "the owner removes it when dropped");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_state_file_of_another_process_is_left_alone_and_garbage_reads_as_none() {
        let dir = tempfile_dir();
        let path = dir.join("services.json");
        let file = StateFile::write(&path, &state()).unwrap();
        let mut other = state();
        other.pid = 1;
        std::fs::write(&path, serde_json::to_string(&other).unwrap()).unwrap();
        drop(file);
        assert!(path.exists());
        std::fs::write(&path, "{ not json").unwrap();
        assert_eq!(read_state(&path).unwrap(), None);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn this_process_is_alive_and_a_free_pid_is_not() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX - 1));
        assert!(!is_up_process(u32::MAX - 1));
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "xtask-services-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
