//! One module per command, each a clap struct with a `run` method.

pub mod run;
pub mod step;
pub mod test;

use std::process::ExitCode;

use testkit::services::MongoServer;

/// Starts the services every step so far needs, announcing where they come from.
pub fn start_services() -> anyhow::Result<MongoServer> {
    crate::prereq::ensure_mongo_prerequisites()?;
    let mongo = MongoServer::start()?;
    eprintln!("MongoDB: {}", mongo.source());
    Ok(mongo)
}

/// The exit code of a finished child process.
pub fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    }
}
