//! moto's server, a local stand-in for AWS's APIs (S3, Secrets Manager, ...), from PyPI
//! (`moto[server]`, in a cached venv, see [`super::venv`]), for the tests of step 8's object
//! storage and Secrets Manager reader.
//!
//! Each [`MotoServer`] is a process of its own on a free port (its state is in memory and
//! nobody else's), started under the harness's watchdog ([`super::process`]) and stopped when
//! it drops. A test can stop it and start it again on the same port, empty, to see what the
//! code under test does while AWS is away.
//!
//! moto accepts any credentials and, unless asked otherwise, checks no signature; it signs
//! nothing either. What it does not check (a presigned URL's expiry, a signature's validity)
//! a test cannot learn from it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use super::process::{Launch, LocalServer, StopSignal};
use super::venv::PythonTool;

/// moto 5's server (`moto_server -H HOST -p PORT`).
pub const TOOL: PythonTool = PythonTool {
    venv_dir: "moto-5-venv",
    packages: &["moto[server]>=5,<6"],
    import_check: "moto.server",
};

/// What `bin/moto_server` does, without its shebang.
const RUN_SERVER: &str = "import sys; from moto.server import main; \
                          sys.argv[0] = 'moto_server'; sys.exit(main())";

/// The region tests use; moto serves any.
pub const REGION: &str = "us-east-1";
/// Credentials moto accepts (any would do; these are AWS's documented examples).
pub const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// How long moto may take to listen (its imports take a second or two).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A moto server a test owns; stopped when dropped.
pub struct MotoServer {
    server: Option<LocalServer>,
    port: u16,
    python: PathBuf,
}

impl std::fmt::Debug for MotoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MotoServer")
            .field("port", &self.port)
            .field("running", &self.server.is_some())
            .finish()
    }
}

impl MotoServer {
    /// Builds the venv if needed (once per machine; needs PyPI) and starts a server on a free
    /// port. Blocking; callable inside or outside a Tokio runtime (from async code, through
    /// `spawn_blocking`).
    pub fn start() -> Result<MotoServer> {
        let python = TOOL
            .ensure("moto")
            .context("moto is the local AWS for step 8's tests")?;
        let server = Self::launch(&python, None)?;
        Ok(MotoServer {
            port: server.port(),
            server: Some(server),
            python,
        })
    }

    fn launch(python: &Path, port: Option<u16>) -> Result<LocalServer> {
        let python = python.to_owned();
        LocalServer::start_at("moto", port, READY_TIMEOUT, move |port, _dir| {
            Ok(Launch {
                program: python.clone(),
                args: vec![
                    "-c".into(),
                    RUN_SERVER.into(),
                    "-H".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string().into(),
                ],
                stop_signal: StopSignal::Term,
                ..Launch::default()
            })
        })
    }

    /// `http://127.0.0.1:PORT`, the endpoint of every service moto emulates.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server: until [`MotoServer::restart`], connections are refused.
    pub fn stop(&mut self) {
        drop(self.server.take());
    }

    /// Starts it again, empty, on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.server = Some(Self::launch(&self.python, Some(self.port))?);
        Ok(())
    }

    /// The server's logs, for a failing test's message.
    pub fn log_tail(&self, lines: usize) -> String {
        self.server
            .as_ref()
            .map(|s| s.log_tail(lines))
            .unwrap_or_else(|| "(stopped)".to_owned())
    }
}
