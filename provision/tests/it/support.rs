//! What the per-service tests share: the three servers behind one trait, and the checks every
//! service must pass (a local server goes away on drop, an environment URL wins, an unreachable
//! one fails without leaking its password, a missing binary names its package). Each service's
//! module keeps its own tests and calls these with what is specific to it.

use std::fmt::Debug;
use std::future::Future;
use std::time::Instant;

use anyhow::Result;
pub use provision::Server;
use provision::process::MissingProgram;
use provision::{ImageFlavor, ServiceSource, ServicesMode, SourcePolicy};

use crate::watchdog::{port_is_open, process_is_alive};

/// Runs a blocking `start` off the test's runtime and returns the server it started, saying
/// how long that took.
pub async fn start_blocking<S: Server>(start: impl FnOnce() -> Result<S> + Send + 'static) -> S {
    let started = Instant::now();
    let server = tokio::task::spawn_blocking(start)
        .await
        .unwrap()
        .expect("starting a server");
    eprintln!("{} ready in {:?}", server.source(), started.elapsed());
    server
}

/// Containers only, from the local images: where no such image exists, starting fails (and
/// so proves it was not tried when it must not be).
pub fn containers() -> SourcePolicy {
    SourcePolicy::new(ServicesMode::Container, ImageFlavor::Local)
}

/// Checks `server` is a local one on 127.0.0.1 called one of `names`, hands its URL to
/// `exercise`, then drops it and checks its process, port and dir went with it.
pub async fn assert_local_server_answers_and_stops_on_drop<S, F>(
    server: S,
    names: &[&str],
    exercise: impl FnOnce(String) -> F,
) where
    S: Server,
    F: Future<Output = ()>,
{
    let local = server.local().expect("a local server");
    assert_eq!(
        server.source(),
        &ServiceSource::Local {
            server: local.name(),
            port: local.port()
        }
    );
    assert!(
        names.contains(&local.name()),
        "{} is none of {names:?}",
        local.name()
    );
    assert!(server.source().is_local());
    assert!(
        server
            .url()
            .contains(&format!("127.0.0.1:{}", local.port()))
    );
    exercise(server.url().to_owned()).await;

    let local = server.local().unwrap();
    let (pid, port, dir) = (local.pid(), local.port(), local.dir().to_owned());
    drop(server);
    assert!(!process_is_alive(pid), "server still running after drop");
    assert!(!port_is_open(port));
    assert!(!dir.exists(), "{} left behind", dir.display());
}

/// Checks `second` came from `var` and nothing was started for it.
pub fn assert_from_env_and_nothing_started(second: &impl Server, var: &'static str) {
    assert_eq!(second.source(), &ServiceSource::FromEnv { var });
    assert!(
        second.local().is_none() && second.container().is_none(),
        "no process or container was started"
    );
}

/// Checks the error of a start from an environment URL with the password `s3cret` where
/// nothing listens: it names `var` and `service` and says how to get out, and hides the
/// password.
pub fn assert_unreachable_env_url_fails_clearly<S: Debug>(
    var: &str,
    service: &str,
    url: impl FnOnce(u16) -> String,
    start: impl FnOnce(String) -> Result<S>,
) {
    let port = provision::free_port().unwrap();
    let url = url(port);
    assert!(url.contains("s3cret"));

    let err = start(url).expect_err("nothing listens there");

    let message = format!("{err:#}");
    assert!(
        message.contains(&format!("{var} is set, but no {service} answered")),
        "{message}"
    );
    assert!(message.contains(&format!("unset {var}")), "{message}");
    assert!(
        !message.contains("s3cret"),
        "the password leaked: {message}"
    );
}

/// Checks a start without the server's binaries fails with a [`MissingProgram`] naming
/// `package`, the command that installs it and `var`; returns the message for more checks.
pub fn assert_missing_binaries_name_the_package<S: Debug>(
    package: &str,
    var: &str,
    start: Result<S>,
) -> String {
    let err = start.expect_err("no binaries");
    let missing = err
        .downcast_ref::<MissingProgram>()
        .expect("a MissingProgram");
    assert_eq!(missing.package, package);
    let message = err.to_string();
    assert!(
        message.contains(&format!("apt-get install -y {package}")),
        "{message}"
    );
    assert!(message.contains(&format!("{var}=")), "{message}");
    message
}
