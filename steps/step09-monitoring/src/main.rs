//! `step09-monitoring`: serves step 9, with the commands of steps 0 to 8; all of it is
//! `common::cli` and the steps' `cli` modules.

fn main() -> anyhow::Result<()> {
    common::cli::main::<step09_monitoring::AppState>()
}
