//! nginx as a load balancer in front of several app instances, for step 4's tests and xtask.
//!
//! Unlike MongoDB, PostgreSQL and Redis there is no URL to borrow and no image to pull: the
//! point is to run *our* config (`docker/nginx/nginx.conf`) in front of instances the test just
//! started on random ports. So nginx is always a local process: the Debian binary
//! (`/usr/sbin/nginx`, or `nginx` on `PATH`) in the foreground (`daemon off;`, in the template)
//! under the watchdog of [`super::process`], with its prefix, pid file, logs and temp paths in
//! the server's private temp dir, so it needs no root and leaves nothing behind. The config is
//! the template rendered with the listen address and one `server` line per instance.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::process::{Launch, LocalServer, find_program};

/// The template, as the repository ships it.
pub const TEMPLATE: &str = include_str!("../../docker/nginx/nginx.conf");

/// The Debian packages with `/usr/sbin/nginx` (the light one is enough).
pub const PACKAGE: &str = "nginx-light";

/// Where Debian puts the binary; not on a non-root user's `PATH`.
const DEBIAN_NGINX: &str = "/usr/sbin/nginx";

/// `max_fails`/`fail_timeout` of every instance: one failed attempt takes an instance out for
/// this long (passive health checks; see the template).
pub const SERVER_PARAMS: &str = "max_fails=1 fail_timeout=5s";

/// How long nginx may take to listen (a few milliseconds normally).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// nginx's own error log, inside its prefix.
const ERROR_LOG: &str = "logs/error.log";

/// nginx's access log, inside its prefix: one line per request with every instance tried.
const ACCESS_LOG: &str = "logs/access.log";

/// The nginx binary: `nginx` on `search_path`, else Debian's `/usr/sbin/nginx`.
pub fn find_nginx(search_path: Option<&OsStr>) -> Result<PathBuf> {
    find_nginx_in(search_path, Path::new(DEBIAN_NGINX))
}

fn find_nginx_in(search_path: Option<&OsStr>, fallback: &Path) -> Result<PathBuf> {
    if let Some(found) = find_program("nginx", search_path) {
        return Ok(found);
    }
    if fallback.is_file() {
        return Ok(fallback.to_owned());
    }
    bail!(
        "no nginx for the load-balancing tests: `nginx` not found on PATH nor at {}.\n\
         Install it with: apt-get install -y {PACKAGE} (or nginx)",
        fallback.display()
    )
}

/// The template with `listen` (`127.0.0.1:8080`) and one `server` line per instance filled in.
pub fn render(template: &str, listen: &str, upstreams: &[SocketAddr]) -> Result<String> {
    if upstreams.is_empty() {
        bail!("nginx needs at least one upstream instance");
    }
    let servers = upstreams
        .iter()
        .map(|addr| format!("server {addr} {SERVER_PARAMS};"))
        .collect::<Vec<_>>()
        .join("\n        ");
    let rendered = template
        .replace("${LISTEN}", listen)
        .replace("${UPSTREAM_SERVERS}", &servers);
    if let Some(at) = rendered.find("${") {
        let rest: String = rendered[at..].chars().take(40).collect();
        bail!("the nginx template has a placeholder nobody fills: {rest}");
    }
    Ok(rendered)
}

/// A local nginx balancing over some instances; dropping it stops nginx and removes its dir.
#[derive(Debug)]
pub struct NginxServer {
    local: LocalServer,
    /// `http://127.0.0.1:PORT`
    url: String,
}

impl NginxServer {
    /// nginx from this machine in front of `upstreams`, on a free port of 127.0.0.1.
    ///
    /// Blocking (it waits until nginx listens); callable inside or outside a Tokio runtime.
    pub fn start(upstreams: &[SocketAddr]) -> Result<NginxServer> {
        NginxServer::start_with(&find_nginx(std::env::var_os("PATH").as_deref())?, upstreams)
    }

    /// [`NginxServer::start`] with a chosen binary.
    pub fn start_with(program: &Path, upstreams: &[SocketAddr]) -> Result<NginxServer> {
        let local = LocalServer::start("nginx", READY_TIMEOUT, |port, dir| {
            launch(program, port, dir, upstreams)
        })?;
        let url = format!("http://127.0.0.1:{}", local.port());
        Ok(NginxServer { local, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.local.port()
    }

    /// The process: pid, dir, logs.
    pub fn local(&self) -> &LocalServer {
        &self.local
    }

    /// The access log so far (nginx flushes it every second, see the template).
    pub fn access_log(&self) -> Result<String> {
        let path = self.local.dir().join(ACCESS_LOG);
        fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// The error log so far: every failed attempt at an instance is a line here.
    pub fn error_log(&self) -> Result<String> {
        let path = self.local.dir().join(ERROR_LOG);
        fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    }
}

/// Writes the rendered config into `dir` and the command line that runs it there.
fn launch(program: &Path, port: u16, dir: &Path, upstreams: &[SocketAddr]) -> Result<Launch> {
    let config = render(TEMPLATE, &format!("127.0.0.1:{port}"), upstreams)?;
    for sub in ["logs", "temp"] {
        fs::create_dir_all(dir.join(sub)).with_context(|| format!("creating {sub}/ for nginx"))?;
    }
    // Run as root, nginx's workers are `nobody`: they must reach the temp paths in here.
    set_mode(dir, 0o755)?;
    let config_path = dir.join("nginx.conf");
    fs::write(&config_path, config).context("writing nginx.conf")?;
    let mut prefix = dir.as_os_str().to_owned();
    prefix.push("/");
    let args: Vec<OsString> = vec![
        "-p".into(),
        prefix,
        "-c".into(),
        config_path.into(),
        // The log used before the config is read, instead of /var/log/nginx (root's).
        "-e".into(),
        dir.join(ERROR_LOG).into(),
    ];
    Ok(Launch {
        program: program.to_owned(),
        args,
        extra_logs: vec![dir.join(ERROR_LOG)],
        ..Launch::default()
    })
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_fills_the_listen_address_and_one_server_line_per_instance() {
        let upstreams: Vec<SocketAddr> = vec![
            "127.0.0.1:3001".parse().unwrap(),
            "127.0.0.1:3002".parse().unwrap(),
        ];
        let config = render(TEMPLATE, "127.0.0.1:8080", &upstreams).unwrap();
        assert!(config.contains("listen 127.0.0.1:8080;"));
        assert!(config.contains("server 127.0.0.1:3001 max_fails=1 fail_timeout=5s;"));
        assert!(config.contains("server 127.0.0.1:3002 max_fails=1 fail_timeout=5s;"));
        assert!(!config.contains("${"), "no placeholder is left");
    }

    #[test]
    fn rendering_without_instances_is_an_error() {
        let err = render(TEMPLATE, "127.0.0.1:8080", &[]).unwrap_err();
        assert!(err.to_string().contains("at least one upstream"));
    }

    #[test]
    fn the_template_never_retries_non_idempotent_requests() {
        let retry = TEMPLATE
            .lines()
            .find(|line| line.trim_start().starts_with("proxy_next_upstream "))
            .expect("a proxy_next_upstream line");
        assert!(!retry.contains("non_idempotent"), "{retry}");
    }

    #[test]
    fn a_missing_nginx_names_the_package_that_installs_it() {
        let err = find_nginx_in(Some(OsStr::new("")), Path::new("/nonexistent/nginx"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("apt-get install -y nginx-light"), "{err}");
    }
}
