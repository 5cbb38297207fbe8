//! `cargo xtask sqlx prepare|check`: the offline data of step 5's compile-time checked queries.
//! sqlx's `query!` macros check each query against the schema when the crate builds; without
//! a database they read what PostgreSQL said of each query from `.sqlx/` in the crate
//! (`query-<sha256 of the SQL>.json`), and `SQLX_OFFLINE=true` in `.cargo/config.toml` makes
//! every build do so, so neither the `DATABASE_URL` that `cargo xtask test` hands the tests nor
//! a learner's shell can point the macros at a database.
//!
//! Both commands make that data afresh, as sqlx-cli's `prepare` does but without it: a
//! throwaway database from the provisioning layer, the crate's migrations applied, then the
//! crate's library built online (`SQLX_OFFLINE=false`, `DATABASE_URL` on that database) with
//! `SQLX_OFFLINE_DIR` naming an empty directory, where the macros write one file per query.
//! Only the library is rebuilt: its `src/lib.rs` is touched, because cargo does not see the
//! variables a proc macro reads. `prepare` makes `.sqlx/` that data; `check` compares, and
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

/// The crate whose queries are checked (the only one with `query!` macros), from the root.
pub const CRATE_DIR: &str = "steps/step05-hybrid-dbs";
const PACKAGE: &str = "step05-hybrid-dbs";

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
    /// Write steps/step05-hybrid-dbs/.sqlx/ from a throwaway database with the migrations
    /// applied: one file per query, unused ones removed.
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
                    "sqlx: {written} query files in {CRATE_DIR}/.sqlx/ (commit them with the queries)"
                );
            }
            Action::Check => {
                let drift = check(server, &ui)?;
                if !drift.is_empty() {
                    eprint!("{}", render(&drift));
                    return Ok(ExitCode::FAILURE);
                }
                println!("sqlx: {CRATE_DIR}/.sqlx/ matches the queries and the migrations");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The committed data: `<root>/steps/step05-hybrid-dbs/.sqlx`.
pub fn committed_dir() -> PathBuf {
    workspace::root().join(CRATE_DIR).join(".sqlx")
}

/// Rewrites `.sqlx/` from the queries and migrations; returns how many files it holds.
pub fn prepare(server_url: &str, ui: &Ui) -> anyhow::Result<usize> {
    let fresh = Scratch::new()?;
    generate(server_url, &fresh.0, ui)?;
    let committed = committed_dir();
    fs::create_dir_all(&committed)?;
    let generated = query_files(&fresh.0)?;
    for (name, drift) in compare(&generated, &query_files(&committed)?) {
        let path = committed.join(&name);
        match drift {
            Drift::Unused => fs::remove_file(&path),
            Drift::Missing | Drift::Stale => fs::write(&path, &generated[&name]),
        }
        .with_context(|| format!("writing {}", workspace::display_path(&path)))?;
    }
    Ok(generated.len())
}

/// What differs between `.sqlx/` and what `prepare` would write now; empty when nothing.
pub fn check(server_url: &str, ui: &Ui) -> anyhow::Result<BTreeMap<String, Drift>> {
    let fresh = Scratch::new()?;
    generate(server_url, &fresh.0, ui)?;
    Ok(compare(
        &query_files(&fresh.0)?,
        &query_files(&committed_dir())?,
    ))
}

/// How one committed query file differs from the fresh data.
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
    for (name, how) in drift {
        out.push_str(&format!("sqlx: {CRATE_DIR}/.sqlx/{name}: {how}\n"));
    }
    out.push_str(&format!(
        "sqlx: {} file{} of the offline query data differ{} from the queries and migrations; \
         run `{FIX}` and commit {CRATE_DIR}/.sqlx/\n",
        drift.len(),
        if drift.len() == 1 { "" } else { "s" },
        if drift.len() == 1 { "s" } else { "" },
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
fn generate(server_url: &str, out: &Path, ui: &Ui) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Dropped (the database with it) when this function returns, on error too.
    let database = runtime.block_on(migrated_database(server_url))?;
    let lib = workspace::root().join(CRATE_DIR).join("src/lib.rs");
    fs::File::options()
        .append(true)
        .open(&lib)
        .and_then(|file| file.set_modified(SystemTime::now()))
        .with_context(|| format!("touching {} so cargo rebuilds it", lib.display()))?;
    // cargo prints its own progress: a plain line, no spinner.
    let activity = ui.quiet_activity(format!(
        "sqlx: building {PACKAGE}'s library against a database with its migrations applied"
    ));
    let status = workspace::cargo()
        .args(["build", "--package", PACKAGE, "--lib"])
        .env("SQLX_OFFLINE", "false")
        .env("DATABASE_URL", &database.url)
        .env("SQLX_OFFLINE_DIR", out)
        .status()
        .context("running cargo build")?;
    let took = activity.elapsed();
    if !status.success() {
        activity.clear();
        bail!(
            "{PACKAGE} does not build against its own migrations (above): a query names a \
             column, table or type the schema does not have, or a type the code does not \
             expect"
        );
    }
    activity.finish(&format!(
        "sqlx: the queries' offline data made in {}",
        human_duration(took)
    ));
    drop(database);
    drop(runtime);
    Ok(())
}

/// A fresh database with every migration of the crate applied, in file-name order, as
/// sqlx's migrator applies them (its bookkeeping table aside: no query reads it).
async fn migrated_database(server_url: &str) -> anyhow::Result<TestPostgresDatabase> {
    let database = TestPostgresDatabase::create_on(server_url).await?;
    let dir = workspace::root().join(CRATE_DIR).join("migrations");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|e| e == "sql"));
    files.sort();
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
        let text = render(&compare(&fresh, &committed));
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
