//! `step01-security`: serves step 1, with the commands of steps 0 and 1 (`create-admin`,
//! `seed`, `rotate-keys`); all of it is `common::cli` and this crate's `cli`.

fn main() -> anyhow::Result<()> {
    common::cli::main::<step01_security::AppState>()
}
