//! `step06-distributed`: serves step 6, with the commands of steps 0 to 6; all of it is
//! `common::cli` and the steps' `cli` modules.

fn main() -> anyhow::Result<()> {
    common::cli::main::<step06_distributed::AppState>()
}
