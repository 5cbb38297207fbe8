//! `cargo xtask sqlx prepare|check`: the offline data of the compile-time checked queries of
//! the steps that use PostgreSQL (step 5, and step 6 on top of its schema).
//! sqlx's `query!` macros check each query against the schema when the crate builds; without
//! a database they read what PostgreSQL said of each query from `.sqlx/` in the crate
//! (`query-<sha256 of the SQL>.json`), and `SQLX_OFFLINE=true` in `.cargo/config.toml` makes
//! every build do so, so neither the `DATABASE_URL` that `cargo xtask test` hands the tests nor
//! a learner's shell can point the macros at a database.
//!
//! Both commands make that data afresh, as sqlx-cli's `prepare` does but without it: a
//! throwaway database from the provisioning layer, every checked crate's migrations applied
//! (each step's after the one before, as the steps apply them), then each crate's library
//! built online in turn (`SQLX_OFFLINE=false`, `DATABASE_URL` on that database) with
//! `SQLX_OFFLINE_DIR` naming an empty directory of its own, where the macros write one file
//! per query. Only that library is rebuilt: its `src/lib.rs` is touched, because cargo does
//! not see the variables a proc macro reads. `prepare` makes `.sqlx/` that data; `check` compares, and
//! names every file that is missing, stale or unused. `cargo xtask test` runs `check`.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, bail};
use provision::postgres::TestPostgresDatabase;
use sqlx::Connection;

use crate::services::{Origin, Service, Services};
use crate::ui::{Ui, human_duration};
use crate::workspace;

/// The crates whose queries are checked (those with `query!` macros), from the root, each
/// after the crates it builds on; the folder's name is the package's.
pub const CRATE_DIRS: &[&str] = &["steps/step05-hybrid-dbs", "steps/step06-distributed"];

fn package_of(dir: &str) -> &str {
    dir.rsplit('/').next().unwrap_or(dir)
}

/// The command that rewrites the committed data: what every drift message ends with.
pub const FIX: &str = "cargo xtask sqlx prepare";

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Examples:
  cargo xtask sqlx prepare    after changing a query or a migration; commit .sqlx/ with it
  cargo xtask sqlx check      what CI runs (cargo xtask test runs it first)")]
pub struct Sqlx {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write each checked crate's .sqlx/ (steps 5 and 6) from a throwaway database with the
    /// migrations applied: one file per query, unused ones removed.
    Prepare,
    /// Fail, naming each file and the fix, when .sqlx/ is not what `prepare` would write.
    Check,
}

impl Sqlx {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let ui = Ui::new();
        let services = Services::start(&[Service::Postgres], Origin::EnvironmentFirst, &ui)?;
        let server = services
            .url_of(Service::Postgres)
            .context("PostgreSQL was started but has no URL")?;
        match self.action {
            Action::Prepare => {
                let written = prepare(server, &ui)?;
                println!(
                    "sqlx: {written} query files in {} (commit them with the queries)",
                    committed_dirs()
                );
            }
            Action::Check => {
                let drift = check(server, &ui)?;
                if !drift.is_empty() {
                    eprint!("{}", render(&drift));
                    return Ok(ExitCode::FAILURE);
                }
                println!(
                    "sqlx: {} match the queries and the migrations",
                    committed_dirs()
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The committed data of the crate in `dir`: `<root>/<dir>/.sqlx`.
pub fn committed_dir(dir: &str) -> PathBuf {
    workspace::root().join(dir).join(".sqlx")
}

/// `steps/step05-hybrid-dbs/.sqlx/ and ...`, for messages.
pub fn committed_dirs() -> String {
    CRATE_DIRS
        .iter()
        .map(|dir| format!("{dir}/.sqlx/"))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Rewrites every checked crate's `.sqlx/` from the queries and migrations; returns how many
/// files they hold.
pub fn prepare(server_url: &str, ui: &Ui) -> anyhow::Result<usize> {
    let mut written = 0;
    for (dir, generated) in generate_all(server_url, ui)? {
        let committed = committed_dir(dir);
        fs::create_dir_all(&committed)?;
        for (name, drift) in compare(&generated, &query_files(&committed)?) {
            let path = committed.join(&name);
            match drift {
                Drift::Unused => fs::remove_file(&path),
                Drift::Missing | Drift::Stale => fs::write(&path, &generated[&name]),
            }
            .with_context(|| format!("writing {}", workspace::display_path(&path)))?;
        }
        written += generated.len();
    }
    Ok(written)
}

/// What differs between the committed `.sqlx/` folders and what `prepare` would write now,
/// each file named by its path from the root; empty when nothing.
pub fn check(server_url: &str, ui: &Ui) -> anyhow::Result<BTreeMap<String, Drift>> {
    let mut drift = BTreeMap::new();
    for (dir, generated) in generate_all(server_url, ui)? {
        let committed = query_files(&committed_dir(dir))?;
        drift.extend(keyed(dir, compare(&generated, &committed)));
    }
    Ok(drift)
}

/// `drift` of the crate in `dir`, each file named by its path from the root.
fn keyed(dir: &str, drift: BTreeMap<String, Drift>) -> BTreeMap<String, Drift> {
    drift
        .into_iter()
        .map(|(name, how)| (format!("{dir}/.sqlx/{name}"), how))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// A query in the source has no file: a build would fail.
    Missing,
    /// The file says something else than PostgreSQL says now (a migration changed a column).
    Stale,
    /// No query in the source has this file any more.
    Unused,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Drift::Missing => "missing (a query has no offline data: builds fail)",
            Drift::Stale => "stale (the schema now describes this query otherwise)",
            Drift::Unused => "unused (no query has this file any more)",
        })
    }
}

/// Every file name in `fresh` or `committed` whose contents differ, and how.
pub fn compare(
    fresh: &BTreeMap<String, String>,
    committed: &BTreeMap<String, String>,
) -> BTreeMap<String, Drift> {
    let mut drift = BTreeMap::new();
    for (name, text) in fresh {
        match committed.get(name) {
            None => drift.insert(name.clone(), Drift::Missing),
            Some(old) if old != text => drift.insert(name.clone(), Drift::Stale),
            Some(_) => None,
        };
    }
    for name in committed.keys().filter(|name| !fresh.contains_key(*name)) {
        drift.insert(name.clone(), Drift::Unused);
    }
    drift
}

/// One line per file, then the fix.
pub fn render(drift: &BTreeMap<String, Drift>) -> String {
    let mut out = String::new();
    for (path, how) in drift {
        out.push_str(&format!("sqlx: {path}: {how}\n"));
    }
    out.push_str(&format!(
        "sqlx: {} file{} of the offline query data differ{} from the queries and migrations; \
         run `{FIX}` and commit {}\n",
        drift.len(),
        if drift.len() == 1 { "" } else { "s" },
        if drift.len() == 1 { "s" } else { "" },
        committed_dirs(),
    ));
    out
}

/// The `query-*.json` files of `dir` (none when it does not exist), by name.
fn query_files(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("query-") && name.ends_with(".json") {
            let text =
                fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            files.insert(name.into_owned(), text);
        }
    }
    Ok(files)
}

/// The macros' data for every query of the crate, written into `out`.
/// The query files each checked crate's build writes against one database with every
/// checked crate's migrations, by crate.
fn generate_all(
    server_url: &str,
    ui: &Ui,
) -> anyhow::Result<Vec<(&'static str, BTreeMap<String, String>)>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let database = runtime.block_on(migrated_database(server_url))?;
    let mut all = Vec::with_capacity(CRATE_DIRS.len());
    for dir in CRATE_DIRS {
        let fresh = Scratch::new()?;
        generate(dir, &database.url, &fresh.0, ui)?;
        all.push((*dir, query_files(&fresh.0)?));
    }
    drop(database);
    drop(runtime);
    Ok(all)
}

/// Builds the library of the crate in `dir` online against `database_url`, its macros writing
/// their query files into `out`.
fn generate(dir: &str, database_url: &str, out: &Path, ui: &Ui) -> anyhow::Result<()> {
    let package = package_of(dir);
    let lib = workspace::root().join(dir).join("src/lib.rs");
    fs::File::options()
        .append(true)
        .open(&lib)
        .and_then(|file| file.set_modified(SystemTime::now()))
        .with_context(|| format!("touching {} so cargo rebuilds it", lib.display()))?;
    let activity = ui.quiet_activity(format!(
        "sqlx: building {package}'s library against a database with its migrations applied"
    ));
    let status = workspace::cargo()
        .args(["build", "--package", package, "--lib"])
        .env("SQLX_OFFLINE", "false")
        .env("DATABASE_URL", database_url)
        .env("SQLX_OFFLINE_DIR", out)
        .status()
        .context("running cargo build")?;
    let took = activity.elapsed();
    if !status.success() {
        activity.clear();
        bail!(
            "{package} does not build against its own migrations (above): a query names a \
             column, table or type the schema does not have, or a type the code does not \
             expect"
        );
    }
    activity.finish(&format!(
        "sqlx: {package}'s offline query data made in {}",
        human_duration(took)
    ));
    Ok(())
}

/// A fresh database with every checked crate's migrations applied, crate after crate and in
/// file-name order within each, as the steps' migrators apply them (their bookkeeping table
/// aside: no query reads it).
async fn migrated_database(server_url: &str) -> anyhow::Result<TestPostgresDatabase> {
    let database = TestPostgresDatabase::create_on(server_url).await?;
    let mut files: Vec<PathBuf> = Vec::new();
    for crate_dir in CRATE_DIRS {
        let dir = workspace::root().join(crate_dir).join("migrations");
        let mut own: Vec<PathBuf> = fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        own.retain(|path| path.extension().is_some_and(|e| e == "sql"));
        own.sort();
        files.extend(own);
    }
    let mut conn = sqlx::PgConnection::connect(&database.url)
        .await
        .context("connecting to the throwaway database")?;
    for file in &files {
        let sql = fs::read_to_string(file)?;
        sqlx::raw_sql(&sql)
            .execute(&mut conn)
            .await
            .with_context(|| format!("applying {}", workspace::display_path(file)))?;
    }
    conn.close().await?;
    Ok(database)
}

/// A directory of this process's own under `<target>/xtask`, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        let dir = workspace::xtask_dir().join(format!("sqlx-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
            .collect()
    }

    #[test]
    fn a_stale_a_missing_and_an_unused_query_file_are_each_named_with_the_fix() {
        let fresh = files(&[
            ("query-a.json", "{\"nullable\":[false]}"),
            ("query-b.json", "b"),
            ("query-c.json", "c"),
        ]);
        let committed = files(&[
            ("query-a.json", "{\"nullable\":[true]}"),
            ("query-c.json", "c"),
            ("query-old.json", "old"),
        ]);
        let drift = compare(&fresh, &committed);
        assert_eq!(
            drift.into_iter().collect::<Vec<_>>(),
            [
                ("query-a.json".to_owned(), Drift::Stale),
                ("query-b.json".to_owned(), Drift::Missing),
                ("query-old.json".to_owned(), Drift::Unused),
            ]
        );
        let text = render(&keyed(
            "steps/step05-hybrid-dbs",
            compare(&fresh, &committed),
        ));
        assert!(
            text.contains("steps/step05-hybrid-dbs/.sqlx/query-a.json: stale"),
            "{text}"
        );
        assert!(text.contains("query-b.json: missing"), "{text}");
        assert!(text.contains("query-old.json: unused"), "{text}");
        assert!(text.contains("3 files"), "{text}");
        assert!(text.contains(FIX), "{text}");
    }

    #[test]
    fn identical_query_files_are_no_drift() {
        let same = files(&[("query-a.json", "a")]);
        assert!(compare(&same, &same).is_empty());
    }

    #[test]
    fn the_committed_files_are_read_and_anything_else_in_the_directory_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("query-1.json"), "one").unwrap();
        fs::write(dir.path().join("README.md"), "not data").unwrap();
        let read = query_files(dir.path()).unwrap();
        assert_eq!(read, files(&[("query-1.json", "one")]));
        assert!(query_files(&dir.path().join("absent")).unwrap().is_empty());
    }
}
