//! `cargo xtask`: every chore of the project in one typed CLI (the alias lives in
//! `.cargo/config.toml`). Learners run `cargo xtask run N` and `cargo xtask step N`; CI runs
//! `cargo xtask test`. Each command is one struct with a `run` method in [`cmd`].

mod cmd;
mod prereq;
mod steps;
mod workspace;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Run, validate and test the steps of stepwise-shop",
    long_about = "Run, validate and test the steps of stepwise-shop.\n\n\
        Services (MongoDB today) come from MONGODB_URI when set, else a local server that \
        this command starts and stops itself."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve step N on localhost with its services, demo data and the payment simulator.
    ///
    /// Example: `cargo xtask run 0`, then `curl localhost:8080/api/v1/products`.
    Run(cmd::run::Run),
    /// Validate step N: start its services, run its tests and the contract suites it claims.
    ///
    /// Example: `cargo xtask step 0`.
    Step(cmd::step::Step),
    /// Run every test of the workspace against shared services (what CI runs).
    ///
    /// Example: `cargo xtask test`.
    Test(cmd::test::Test),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(command) => command.run(),
        Command::Step(command) => command.run(),
        Command::Test(command) => command.run(),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
