//! A crate's public shape, read from its manifest and its sources: routes, config keys,
//! dependencies, files and tests. `cargo xtask diff A B` compares the snapshots of the crates
//! steps A and B are built from.
//!
//! The manifest comes from cargo ([`manifest`]: `cargo metadata`), the sources from syn
//! ([`modules`]: each target's module tree, parsed), so a comment, a string or a file that no
//! `mod` reaches can never be mistaken for code. On that tree: [`routes`] (what the routers
//! declare), [`config_keys`] (what the config structs read), [`test_fns`] (what nextest runs).
//! It is still a review aid, not a compiler: a route built at run time from a `format!`, or
//! keys read outside the config structs, are not seen.

mod config_keys;
mod manifest;
mod modules;
mod routes;
mod test_fns;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub use config_keys::env_name;
pub use manifest::{DepKind, Dependency, Workspace};
pub use routes::{Nest, Route};

use manifest::TargetKind;

/// What one crate declares, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrateSnapshot {
    pub package: String,
    pub routes: Vec<Route>,
    pub nests: Vec<Nest>,
    /// `server.port`: file keys; the environment spells them `APP__SERVER__PORT`.
    pub config_keys: Vec<String>,
    pub dependencies: Vec<Dependency>,
    /// Paths relative to the workspace root.
    pub files: Vec<String>,
    /// nextest style: `common::it orders::concurrent_orders_never_oversell`.
    pub tests: Vec<String>,
}

/// Reads the crate in `dir` (relative to `root`), a package of `workspace`.
pub fn snapshot(workspace: &Workspace, root: &Path, dir: &str) -> anyhow::Result<CrateSnapshot> {
    let crate_dir = root.join(dir);
    let package = workspace
        .package_in(&crate_dir)
        .with_context(|| format!("no package of the workspace is in {dir}"))?;
    let relative = |path: &Path| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string()
    };

    let mut files = Vec::new();
    walk(&crate_dir, &mut files)?;
    files.sort();
    let mut snapshot = CrateSnapshot {
        package: package.name.clone(),
        dependencies: package.dependencies.clone(),
        files: files.iter().map(|f| relative(f)).collect(),
        ..CrateSnapshot::default()
    };

    // The lib and the bins: what the step serves and reads. Test binaries only add tests.
    let mut served = Vec::new();
    for target in &package.targets {
        let Some(binary) = package.binary_id(target) else {
            continue;
        };
        let modules = modules::read_crate(&target.root)?;
        for module in &modules {
            snapshot.tests.extend(
                test_fns::tests_in(module)
                    .into_iter()
                    .map(|name| format!("{binary} {name}")),
            );
        }
        if matches!(target.kind, TargetKind::Lib | TargetKind::Bin) {
            served.extend(modules);
        }
    }
    for module in &served {
        let (routes, nests) = routes::routes_in(module, &relative(&module.file));
        snapshot.routes.extend(routes);
        snapshot.nests.extend(nests);
    }
    // The config structs live in config.rs (or config/); elsewhere only if not there.
    // Not in test modules: their structs are fixtures.
    let compiled: Vec<&modules::Module> = served.iter().filter(|m| !m.test_only).collect();
    let in_config = |m: &&&modules::Module| m.path.first().is_some_and(|p| p == "config");
    let structs = config_keys::structs_in(compiled.iter().filter(in_config).copied());
    snapshot.config_keys = if structs.iter().any(|s| s.name == "Config") {
        config_keys::config_keys(&structs, "Config")
    } else {
        config_keys::config_keys(&config_keys::structs_in(compiled), "Config")
    };

    snapshot.routes.sort();
    snapshot.routes.dedup();
    snapshot.nests.sort();
    snapshot.nests.dedup();
    snapshot.config_keys.sort();
    snapshot.config_keys.dedup();
    snapshot.dependencies.sort();
    snapshot.tests.sort();
    snapshot.tests.dedup();
    Ok(snapshot)
}

/// Every file under `dir`, skipping build output and hidden entries.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
