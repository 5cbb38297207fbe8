//! `cargo xtask tidy`: runs the drift checks of [`crate::tidy`] on this repository and lists
//! every problem with its place and its fix; exit code 1 when there is any. `cargo xtask test`
//! runs it first, so CI fails on drift before it spends time on the tests.

use std::process::ExitCode;

use crate::tidy::{self, Facts, Tree};
use crate::workspace;

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Example:
  cargo xtask tidy")]
pub struct Tidy {}

impl Tidy {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let problems = problems()?;
        if problems.is_empty() {
            println!("tidy: the docs, the example config and the tools agree with the code");
            return Ok(ExitCode::SUCCESS);
        }
        print!("{}", render(&problems));
        Ok(ExitCode::FAILURE)
    }
}

/// The problems of this repository.
pub fn problems() -> anyhow::Result<Vec<tidy::Problem>> {
    let tree = Tree::git(&workspace::root())?;
    Ok(tidy::check(&tree, &Facts::of_this_build()))
}

/// One line per problem, then the count.
pub fn render(problems: &[tidy::Problem]) -> String {
    let mut out = String::new();
    for problem in problems {
        out.push_str(&format!("tidy: {problem}\n"));
    }
    out.push_str(&format!(
        "tidy: {} problem{} (each line: where, what to do, [rule])\n",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    ));
    out
}
