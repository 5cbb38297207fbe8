//! `step03-caching`: serves step 3, with the commands of steps 0 to 3 (`create-admin`, `seed`
//! and `seed --products N`, `rotate-keys`); all of it is `common::cli` and the steps' `cli`
//! modules.

fn main() -> anyhow::Result<()> {
    common::cli::main::<step03_caching::AppState>()
}
