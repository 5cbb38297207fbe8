//! Containers for services, through testcontainers: is there an engine, is the image here (or
//! can it be pulled), start a labelled container, wait until its service really answers, and
//! make sure no container outlives the process that started it.
//!
//! Three layers against orphans, because `Drop` alone covers only the polite exits:
//! - `Drop` on [`ServiceContainer`] removes the container (and its anonymous volumes);
//! - a *lifeline* per container, the same idea as the local servers' watchdog
//!   ([`crate::process`]): a small `sh` holding a pipe only we write to runs `docker rm -f`
//!   when the pipe closes, i.e. when we exit in any way (a `static` never dropped, a panic,
//!   SIGKILL). It sits in its own process group so a Ctrl-C aimed at the test run does not
//!   take it down before it has acted. It needs the `docker` CLI; without one this layer is
//!   skipped;
//! - labels (`stepwise.owner.pid`, `.start`, `.host`, `stepwise.service`) and a reaper: every
//!   container start first removes labelled containers whose owner process is gone. That
//!   covers the rest (lifeline killed too, machine rebooted, no CLI).
//!
//! All Docker calls run on one runtime of their own (`engine`): testcontainers keeps one
//! Docker client per process, and its HTTP connections belong to the runtime that opened
//! them, so a runtime per call (as the database drivers get, see [`crate::runtime`]) would
//! leave it holding dead connections.
//!
//! - `engine`: that runtime, whether an engine answers, whether an image is here or pulled;
//! - `containers`: [`ServiceContainer`], started from a spec, ready when its service answers,
//!   removed on drop;
//! - `lifeline`: the `sh` that removes a container when we die;
//! - `reaper`: the owner labels and the removal of containers whose owner is gone.

mod containers;
mod engine;
mod lifeline;
mod reaper;

pub use containers::ServiceContainer;
pub(crate) use containers::{ContainerSpec, provide};
pub use engine::engine_status;
pub use reaper::{
    OWNER_HOST_LABEL, OWNER_PID_LABEL, OWNER_START_LABEL, Owner, Reaped, SERVICE_LABEL, is_orphan,
    reap_orphans, start_time,
};
