//! `step08-cloud`: serves step 8, with the commands of steps 0 to 7; all of it is
//! `common::cli` and the steps' `cli` modules.

fn main() -> anyhow::Result<()> {
    common::cli::main::<step08_cloud::AppState>()
}
