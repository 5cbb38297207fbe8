//! `step02-apis`: serves step 2, with the commands of steps 0 and 1 (`create-admin`, `seed`,
//! `rotate-keys`); all of it is `common::cli` and the earlier steps' `cli` modules.

fn main() -> anyhow::Result<()> {
    common::cli::main::<step02_apis::AppState>()
}
