//! The workspace's packages as cargo itself reads their manifests: `cargo metadata
//! --format-version 1 --no-deps` (no resolution, no network), read with serde_json into the
//! few fields a snapshot needs: each package's name and folder, its targets (the lib, the bins,
//! the test binaries, with their root files) and its dependencies with their kind. Reading the
//! JSON with our own serde types instead of the `cargo_metadata` crate keeps xtask's build small:
//! serde_json is already here, `cargo_metadata` would add semver, camino and cargo-platform.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DepKind {
    Normal,
    Dev,
    Build,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dependency {
    /// The name the manifest and the code use: the rename when there is one (`contract` for
    /// the `tests` package).
    pub name: String,
    pub kind: DepKind,
}

/// What a target is, as far as its tests go: nextest names each kind's binary differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// `lib`, `rlib`, `proc-macro`, ...: the package's library.
    Lib,
    Bin,
    /// An integration-test binary under `tests/`.
    Test,
    /// Benches, examples, build scripts: no tests of ours run in them.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    /// The crate root, absolute.
    pub root: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    /// The folder of its Cargo.toml, absolute.
    pub dir: PathBuf,
    pub targets: Vec<Target>,
    pub dependencies: Vec<Dependency>,
}

impl Package {
    /// The nextest binary id of one of its targets: `common`, `common::bin/shop`,
    /// `common::it`; `None` for a target that runs none of our tests.
    pub fn binary_id(&self, target: &Target) -> Option<String> {
        match target.kind {
            TargetKind::Lib => Some(self.name.clone()),
            TargetKind::Bin => Some(format!("{}::bin/{}", self.name, target.name)),
            TargetKind::Test => Some(format!("{}::{}", self.name, target.name)),
            TargetKind::Other => None,
        }
    }
}

/// Every package of the workspace.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    pub packages: Vec<Package>,
}

impl Workspace {
    /// Asks cargo (`$CARGO`, from the workspace root).
    pub fn load() -> anyhow::Result<Workspace> {
        let output = workspace::cargo()
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("running cargo metadata")?;
        if !output.status.success() {
            bail!("cargo metadata failed ({})", output.status);
        }
        Workspace::parse(&String::from_utf8_lossy(&output.stdout))
    }

    /// Reads the output of `cargo metadata --format-version 1`.
    pub fn parse(json: &str) -> anyhow::Result<Workspace> {
        let metadata: Metadata =
            serde_json::from_str(json).context("reading the output of cargo metadata")?;
        let packages = metadata
            .packages
            .into_iter()
            .map(|package| Package {
                name: package.name,
                dir: package
                    .manifest_path
                    .parent()
                    .map(Path::to_owned)
                    .unwrap_or_default(),
                targets: package
                    .targets
                    .into_iter()
                    .map(|target| Target {
                        kind: target_kind(&target.kind),
                        name: target.name,
                        root: target.src_path,
                    })
                    .collect(),
                dependencies: package
                    .dependencies
                    .into_iter()
                    .map(|dep| Dependency {
                        name: dep.rename.unwrap_or(dep.name),
                        kind: match dep.kind.as_deref() {
                            Some("dev") => DepKind::Dev,
                            Some("build") => DepKind::Build,
                            _ => DepKind::Normal,
                        },
                    })
                    .collect(),
            })
            .collect();
        Ok(Workspace { packages })
    }

    /// The package whose Cargo.toml is in `dir`.
    pub fn package_in(&self, dir: &Path) -> Option<&Package> {
        self.packages.iter().find(|p| p.dir == dir)
    }
}

fn target_kind(kinds: &[String]) -> TargetKind {
    let is = |kind: &str| kinds.iter().any(|k| k == kind);
    if is("bin") {
        TargetKind::Bin
    } else if is("test") {
        TargetKind::Test
    } else if kinds.iter().any(|k| {
        matches!(
            k.as_str(),
            "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"
        )
    }) {
        TargetKind::Lib
    } else {
        TargetKind::Other
    }
}

// The parts of cargo metadata's format 1 that we read; serde skips the rest.

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<RawPackage>,
}

#[derive(Deserialize)]
struct RawPackage {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<RawTarget>,
    dependencies: Vec<RawDependency>,
}

#[derive(Deserialize)]
struct RawTarget {
    name: String,
    kind: Vec<String>,
    src_path: PathBuf,
}

#[derive(Deserialize)]
struct RawDependency {
    name: String,
    rename: Option<String>,
    /// `null` for a normal dependency, else `"dev"` or `"build"`.
    kind: Option<String>,
}
