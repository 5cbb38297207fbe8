//! One module per command, each a clap struct with a `run` method.

pub mod config;
pub mod diff;
pub mod doctor;
pub mod images;
pub mod load;
pub mod migrate;
pub mod profile;
pub mod run;
pub mod services;
pub mod sqlx;
pub mod step;
pub mod test;
pub mod tidy;

use std::process::ExitCode;

/// The exit code of a finished child process.
pub fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    }
}
