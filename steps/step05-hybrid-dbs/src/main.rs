//! `step05-hybrid-dbs`: serves step 5, with the commands of steps 0 to 5 (`create-admin`,
//! `seed`, `rotate-keys`, `indexes`, `migrate`); all of it is `common::cli` and the steps'
//! `cli` modules.

fn main() -> anyhow::Result<()> {
    common::cli::main::<step05_hybrid_dbs::AppState>()
}
