//! `step04-optimize`: serves step 4, with the commands of steps 0 to 4 (`create-admin`, `seed`
//! with `--products N` and `--large`, `rotate-keys`, `indexes`); all of it is `common::cli`
//! and the steps' `cli` modules.

fn main() -> anyhow::Result<()> {
    common::cli::main::<step04_optimize::AppState>()
}
