//! A crate's public shape, read from its manifest and its sources: routes, config keys,
//! dependencies, files and tests; `cargo xtask diff A B` compares the snapshots of the crates
//! steps A and B are built from. The manifest comes from cargo ([`manifest`]: `cargo
//! metadata`), the sources from syn ([`modules`]: each target's module tree, parsed), so a
//! comment, a string or a file that no `mod` reaches is never mistaken for code. On that tree:
//! [`names`] (what a path names inside the crate: a string constant, a struct in another
//! module), [`routes`] (what the routers declare), [`config_keys`] (what the config structs
//! read), [`test_fns`] (what nextest runs). It is a review aid, not a compiler: a route built at
//! run time with `format!`, or a key read outside the config structs, is not seen.

mod config_keys;
pub mod manifest;
mod modules;
mod names;
mod routes;
mod test_fns;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub use config_keys::env_name;
pub use manifest::{DepKind, Dependency, Workspace};
pub use routes::{Nest, Route};

use manifest::TargetKind;
use names::Names;

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

    // The lib first: its `Config` is the crate's, even where a bin has one too.
    let mut targets: Vec<&manifest::Target> = package.targets.iter().collect();
    targets.sort_by_key(|t| t.kind != TargetKind::Lib);
    for target in targets {
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
        // The lib and the bins are what the step serves and reads; test binaries only add
        // tests. Names leave out test-only modules: their structs and constants are fixtures.
        if !matches!(target.kind, TargetKind::Lib | TargetKind::Bin) {
            continue;
        }
        let names = Names::new(modules.iter().filter(|m| !m.test_only));
        let nested = routes::nested_fns(&modules);
        for module in &modules {
            let (routes, nests) =
                routes::routes_nested(module, &names, &relative(&module.file), &nested);
            snapshot.routes.extend(routes);
            snapshot.nests.extend(nests);
        }
        // The lib's `Config`, or a bin's when the lib has none.
        if snapshot.config_keys.is_empty() {
            snapshot.config_keys = config_keys::keys_of_crate(&names);
        }
    }

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

/// The configuration keys of the lib whose root file is `lib`, sorted: what its `Config`
/// reads beside the earlier steps' keys, and what the configurations its binaries load read
/// (see [`config_keys`]).
pub fn config_keys_of_lib(lib: &Path) -> anyhow::Result<Vec<String>> {
    let modules = modules::read_crate(lib)?;
    let names = Names::new(modules.iter().filter(|m| !m.test_only));
    let mut keys = config_keys::keys_of_crate(&names);
    keys.extend(config_keys::keys_of_loaded_configs(&names, &modules));
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Every file under `dir`, skipping build output and hidden entries.
/// The files of `paths` (files or folders, relative to `root`), relative to `root` and
/// sorted: what a step adds outside its crate. A path that does not exist is an error: the
/// step table would be naming something the step no longer has.
pub fn files_outside(root: &Path, paths: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    for path in paths {
        let at = root.join(path);
        if at.is_dir() {
            walk(&at, &mut files)?;
        } else if at.is_file() {
            files.push(at);
        } else {
            anyhow::bail!("{path} is in the step table but does not exist");
        }
    }
    let mut files: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string())
        .collect();
    files.sort();
    Ok(files)
}

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
