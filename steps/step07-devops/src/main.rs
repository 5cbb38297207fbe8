//! `step07-devops`: serves step 7, with the commands of steps 0 to 6; all of it is
//! `common::cli` and the steps' `cli` modules.

fn main() -> anyhow::Result<()> {
    common::cli::main::<step07_devops::AppState>()
}
