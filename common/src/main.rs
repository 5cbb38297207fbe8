//! `shop`: serves step 0, with the operator commands every step's binary has (`create-admin`,
//! `seed`); all of it is `common::cli`, shared by every step.

fn main() -> anyhow::Result<()> {
    common::cli::main::<common::AppState>()
}
