//! `cargo xtask tidy`: the checks that keep the docs and the tools from drifting apart from the
//! code as steps land. Each rule is a function of a [`Tree`] (the repository's files) and the
//! [`Facts`] the tools hold (which steps exist, what doctor calls a later step), so the tests
//! run each rule on a small tree made in a temp dir while `tidy` runs them all on the real one.
//! A rule answers with [`Problem`]s that say where the drift is and how to end it.
//!
//! The rules: [`citations`] (every cited file exists, and none lives outside the repository),
//! [`crate_map`] (a step's `lib.rs` maps every `pub mod` and names the suites it runs),
//! [`example_config`] (`shop.example.toml` holds exactly the keys the steps read),
//! [`statuses`] (doctor's later steps and the chapters' statuses agree with the steps table),
//! [`claims`] (the README claims only components a step uses), [`roadmap`] (every chapter maps
//! the roadmap's tools to this project's).

pub mod citations;
pub mod claims;
pub mod crate_map;
pub mod example_config;
pub mod roadmap;
pub mod statuses;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The files of a repository, as paths relative to its root with `/` between segments.
#[derive(Debug, Clone)]
pub struct Tree {
    pub root: PathBuf,
    pub files: BTreeSet<String>,
}

impl Tree {
    /// The files git knows in `root` (tracked, or new and not ignored): what a commit, and so
    /// CI's fresh clone, has. Build output and ignored files are not cited sources.
    pub fn git(root: &Path) -> anyhow::Result<Tree> {
        let output = std::process::Command::new("git")
            .args([
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ])
            .current_dir(root)
            .output()
            .context("running git ls-files")?;
        if !output.status.success() {
            anyhow::bail!(
                "git ls-files failed in {}: {}",
                root.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let files = output
            .stdout
            .split(|b| *b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| String::from_utf8_lossy(name).into_owned())
            // A file deleted but not yet committed is still listed by --cached.
            .filter(|name| root.join(name).is_file())
            .collect();
        Ok(Tree {
            root: root.to_owned(),
            files,
        })
    }

    /// Every file under `root`: for the trees the tests make, which are not git repositories.
    #[cfg(test)]
    pub fn walk(root: &Path) -> anyhow::Result<Tree> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) -> anyhow::Result<()> {
            let entries =
                std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
            for entry in entries {
                let path = entry?.path();
                if path.is_dir() {
                    walk(root, &path, out)?;
                } else if let Ok(relative) = path.strip_prefix(root) {
                    out.insert(relative.to_string_lossy().replace('\\', "/"));
                }
            }
            Ok(())
        }
        let mut files = BTreeSet::new();
        walk(root, root, &mut files)?;
        Ok(Tree {
            root: root.to_owned(),
            files,
        })
    }

    /// Whether `path` (relative, `/`-separated) is a file or a folder of the tree.
    pub fn has(&self, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        if path.is_empty() || self.files.contains(path) {
            return true;
        }
        let folder = format!("{path}/");
        self.files
            .range(folder.clone()..)
            .next()
            .is_some_and(|f| f.starts_with(&folder))
    }

    /// The text of a file of the tree; `None` when it is missing or not UTF-8.
    pub fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(path)).ok()
    }
}

/// One step, as the steps table describes it.
#[derive(Debug, Clone)]
pub struct StepFacts {
    pub number: u8,
    /// The crate's folder, relative to the root.
    pub dir: String,
}

/// What the tools know that the tree must agree with.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The steps that exist, in order.
    pub steps: Vec<StepFacts>,
    /// doctor's table of what later steps need: `(what, which steps)`.
    pub later: Vec<(String, String)>,
    /// The services and tools the existing steps use, as the README names them (`Redis`).
    pub components: Vec<String>,
}

impl Facts {
    /// The facts of this build of xtask: its steps table and doctor's later steps.
    pub fn of_this_build() -> Facts {
        let mut components: Vec<String> = Vec::new();
        for step in crate::steps::STEPS {
            components.extend(step.services.iter().map(|s| s.label().to_owned()));
            components.extend(step.tools.iter().map(|t| t.label().to_owned()));
        }
        components.sort();
        components.dedup();
        Facts {
            steps: crate::steps::STEPS
                .iter()
                .map(|s| StepFacts {
                    number: s.number,
                    dir: s.dir.to_owned(),
                })
                .collect(),
            later: crate::cmd::doctor::LATER
                .iter()
                .map(|(what, steps)| ((*what).to_owned(), (*steps).to_owned()))
                .collect(),
            components,
        }
    }

    pub fn exists(&self, number: u8) -> bool {
        self.steps.iter().any(|s| s.number == number)
    }
}

/// One drift: which rule found it, where, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub rule: &'static str,
    /// `path` or `path:line`.
    pub at: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]", self.at, self.message, self.rule)
    }
}

/// Every rule on `tree`, the problems sorted by place.
pub fn check(tree: &Tree, facts: &Facts) -> Vec<Problem> {
    let mut problems = Vec::new();
    let crates: Vec<String> = facts.steps.iter().map(|s| s.dir.clone()).collect();
    problems.extend(citations::check(tree, &crates));
    problems.extend(crate_map::check(tree, facts));
    problems.extend(example_config::check(tree, facts));
    problems.extend(statuses::check(tree, facts));
    problems.extend(claims::check(tree, facts));
    problems.extend(roadmap::check(tree));
    problems.sort();
    problems
}

/// The rows of the Markdown table whose first line is `lines[start]`: each row's line index
/// and its cells, trimmed; the separator row is left out.
pub fn table_rows(lines: &[&str], start: usize) -> Vec<(usize, Vec<String>)> {
    lines[start..]
        .iter()
        .enumerate()
        .take_while(|(_, line)| line.trim_start().starts_with('|'))
        .filter(|(_, line)| !is_separator_row(line))
        .map(|(offset, line)| {
            let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
            (
                start + offset,
                inner.split('|').map(|c| c.trim().to_owned()).collect(),
            )
        })
        .collect()
}

/// `|---|:---:|`: a Markdown table's separator row.
pub fn is_separator_row(line: &str) -> bool {
    let line = line.trim();
    line.starts_with('|')
        && line.contains("---")
        && line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

#[cfg(test)]
mod tests;
