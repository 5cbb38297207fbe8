//! `cargo xtask diff A B`: what step B adds over step A, for reviewers: new routes, config
//! keys, dependencies, files and tests, and the chapters to read.
//!
//! A step's crate extends the previous one instead of copying it, so what step N *has* is
//! the union of the crates of steps 0..=N; what B adds over A is that union for B minus the
//! union for A. Routes that B's own crates register again, although A had them, are listed
//! apart: that is how a step changes an earlier behaviour on purpose.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::snapshot::{self, CrateSnapshot, DepKind, Dependency, Route, Workspace, env_name};
use crate::steps::{self, StepInfo};
use crate::ui::Paint;
use crate::workspace;

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Examples:
  cargo xtask diff 0 1     what step 1 adds over step 0
  cargo xtask diff 0 3     everything steps 1 to 3 add")]
pub struct Diff {
    /// The step to compare from.
    pub from: u8,
    /// The step whose additions are shown.
    pub to: u8,
}

impl Diff {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let from = steps::chain(self.from)?;
        let to = steps::chain(self.to)?;
        let root = workspace::root();
        let packages = Workspace::load()?;
        // Each crate once: the two chains share their first steps.
        let longer = if from.len() > to.len() { from } else { to };
        let snapshots = longer
            .iter()
            .map(|s| step_snapshot(&packages, &root, s))
            .collect::<anyhow::Result<Vec<CrateSnapshot>>>()?;
        let diff = StepDiff::between(&snapshots[..from.len()], &snapshots[..to.len()]);
        let chapters: Vec<&str> = to
            .iter()
            .filter(|s| s.number > self.from)
            .map(|s| s.chapter)
            .collect();
        print!(
            "{}",
            diff.render(
                steps::find(self.from)?,
                steps::find(self.to)?,
                &chapters,
                Paint::for_stdout()
            )
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// Step `info`'s crate, with the files it has outside its crate ([`StepInfo::outside`]).
fn step_snapshot(
    packages: &Workspace,
    root: &std::path::Path,
    info: &StepInfo,
) -> anyhow::Result<CrateSnapshot> {
    let mut snapshot = snapshot::snapshot(packages, root, info.dir)?;
    snapshot
        .files
        .extend(snapshot::files_outside(root, info.outside)?);
    Ok(snapshot)
}

/// What one chain of crates adds over another.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StepDiff {
    pub routes: Vec<Route>,
    /// Routes the newer crates register again: changed behaviour.
    pub redefined_routes: Vec<Route>,
    /// Where the new crates nest routers (`/api/v1`), to read the paths.
    pub nests: Vec<String>,
    pub config_keys: Vec<String>,
    pub dependencies: Vec<Dependency>,
    pub files: Vec<String>,
    pub tests: Vec<String>,
}

impl StepDiff {
    /// `to` and `from` are the snapshots of steps 0..=B and 0..=A.
    pub fn between(from: &[CrateSnapshot], to: &[CrateSnapshot]) -> StepDiff {
        let old_packages: BTreeSet<&str> = from.iter().map(|c| c.package.as_str()).collect();
        let new_crates: Vec<&CrateSnapshot> = to
            .iter()
            .filter(|c| !old_packages.contains(c.package.as_str()))
            .collect();
        let all_packages: BTreeSet<&str> = to.iter().map(|c| c.package.as_str()).collect();

        let old_routes: Vec<&Route> = from.iter().flat_map(|c| &c.routes).collect();
        let mut routes = Vec::new();
        let mut redefined_routes = Vec::new();
        let mut seen = BTreeSet::new();
        for route in new_crates.iter().flat_map(|c| &c.routes) {
            // A route its own crate nests (`/api/v2` + `/products`) is that route, not the
            // earlier `/products`; one nested elsewhere may be any earlier route of its path.
            let again = old_routes.iter().any(|old| {
                old.method == route.method
                    && old.path == route.path
                    && (route.prefix.is_none() || route.prefix == old.prefix)
            });
            if again {
                redefined_routes.push(route.clone());
            } else if seen.insert((route.method.clone(), route.full_path())) {
                routes.push(route.clone());
            }
        }

        let old = |items: fn(&CrateSnapshot) -> &Vec<String>| -> BTreeSet<String> {
            from.iter().flat_map(items).cloned().collect()
        };
        let new = |items: fn(&CrateSnapshot) -> &Vec<String>| -> Vec<String> {
            let old = old(items);
            let fresh: BTreeSet<String> = new_crates
                .iter()
                .flat_map(|c| items(c))
                .filter(|item| !old.contains(*item))
                .cloned()
                .collect();
            fresh.into_iter().collect()
        };

        let old_deps: BTreeSet<&Dependency> = from.iter().flat_map(|c| &c.dependencies).collect();
        let dependencies: BTreeSet<Dependency> = new_crates
            .iter()
            .flat_map(|c| &c.dependencies)
            .filter(|d| !old_deps.contains(d) && !all_packages.contains(d.name.as_str()))
            // A dev-dependency that step A already had as a normal one is not news.
            .filter(|d| {
                !old_deps
                    .iter()
                    .any(|o| o.name == d.name && o.kind == DepKind::Normal)
            })
            .cloned()
            .collect();

        let nests: BTreeSet<String> = new_crates
            .iter()
            .flat_map(|c| &c.nests)
            .map(|n| n.prefix.clone())
            .collect();

        StepDiff {
            routes,
            redefined_routes,
            nests: nests.into_iter().collect(),
            config_keys: new(|c| &c.config_keys),
            dependencies: dependencies.into_iter().collect(),
            files: new(|c| &c.files),
            tests: new(|c| &c.tests),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
            && self.redefined_routes.is_empty()
            && self.config_keys.is_empty()
            && self.dependencies.is_empty()
            && self.files.is_empty()
            && self.tests.is_empty()
    }

    pub fn render(
        &self,
        from: &StepInfo,
        to: &StepInfo,
        chapters: &[&str],
        paint: Paint,
    ) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}",
            paint.bold(&format!(
                "What step {} ({}) adds over step {} ({})",
                to.number, to.title, from.number, from.title
            ))
        );
        if self.is_empty() {
            let _ = writeln!(out, "\nnothing new");
            if to.number < from.number {
                let _ = writeln!(
                    out,
                    "(step {} comes before step {}; did you mean `cargo xtask diff {} {}`?)",
                    to.number, from.number, to.number, from.number
                );
            }
            return out;
        }
        let plus = paint.green("+");
        let section = |out: &mut String, title: &str, count: usize, hint: &str| {
            let _ = writeln!(out, "\n{} ({count} new){hint}", paint.bold(title));
        };

        if !self.routes.is_empty() || !self.redefined_routes.is_empty() {
            let hint = if self.nests.is_empty() {
                String::new()
            } else {
                format!(
                    "; paths as the routers declare them, those the step nests itself in \
                     full (it nests under {})",
                    self.nests.join(", ")
                )
            };
            section(&mut out, "Routes", self.routes.len(), &hint);
            let width = self
                .routes
                .iter()
                .chain(&self.redefined_routes)
                .map(|r| r.method.len() + 1 + r.full_path().len())
                .max()
                .unwrap_or(0);
            for route in &self.routes {
                let what = format!("{} {}", route.method, route.full_path());
                let _ = writeln!(out, "  {plus} {what:<width$}  {}", paint.dim(&route.at));
            }
            for route in &self.redefined_routes {
                let what = format!("{} {}", route.method, route.full_path());
                let _ = writeln!(
                    out,
                    "  {} {what:<width$}  {} (registered again: changes an earlier behaviour)",
                    paint.yellow("~"),
                    paint.dim(&route.at)
                );
            }
        }
        if !self.config_keys.is_empty() {
            section(
                &mut out,
                "Config keys",
                self.config_keys.len(),
                "; in a config file, or as environment variables",
            );
            let width = self.config_keys.iter().map(String::len).max().unwrap_or(0);
            for key in &self.config_keys {
                let env = if key.ends_with(".*") {
                    String::new()
                } else {
                    env_name(key)
                };
                let _ = writeln!(out, "  {plus} {key:<width$}  {}", paint.dim(&env));
            }
        }
        if !self.dependencies.is_empty() {
            section(&mut out, "Dependencies", self.dependencies.len(), "");
            for dep in &self.dependencies {
                let kind = match dep.kind {
                    DepKind::Normal => "",
                    DepKind::Dev => " (dev)",
                    DepKind::Build => " (build)",
                };
                let _ = writeln!(out, "  {plus} {}{}", dep.name, paint.dim(kind));
            }
        }
        if !self.files.is_empty() {
            section(&mut out, "Files", self.files.len(), "");
            for file in &self.files {
                let _ = writeln!(out, "  {plus} {file}");
            }
        }
        if !self.tests.is_empty() {
            section(&mut out, "Tests", self.tests.len(), "");
            for test in &self.tests {
                let _ = writeln!(out, "  {plus} {test}");
            }
        }
        if !chapters.is_empty() {
            let _ = writeln!(out, "\n{} {}", paint.bold("Read:"), chapters.join(", "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Nest;

    fn route(method: &str, path: &str, at: &str) -> Route {
        Route {
            method: method.into(),
            path: path.into(),
            at: at.into(),
            prefix: None,
        }
    }

    /// What `cargo xtask diff from to` computes on this repository.
    fn real(from: u8, to: u8) -> (StepDiff, String) {
        let packages = Workspace::load().unwrap();
        let root = workspace::root();
        let snap = |n: u8| {
            steps::chain(n)
                .unwrap()
                .iter()
                .map(|s| step_snapshot(&packages, &root, s).unwrap())
                .collect::<Vec<_>>()
        };
        let diff = StepDiff::between(&snap(from), &snap(to));
        let text = diff.render(
            steps::find(from).unwrap(),
            steps::find(to).unwrap(),
            &[],
            Paint::plain(),
        );
        (diff, text)
    }

    /// The diff's text lists `key` with its variable.
    fn assert_shows_key(text: &str, key: &str) {
        assert!(
            text.lines()
                .any(|l| l.contains(key) && l.contains(&env_name(key))),
            "{key} with {}: {text}",
            env_name(key)
        );
    }

    fn shown(routes: &[Route]) -> Vec<String> {
        routes
            .iter()
            .map(|r| format!("{} {}", r.method, r.full_path()))
            .collect()
    }

    #[test]
    fn diff_0_1_shows_step_1s_routes_and_the_auth_routes_it_registers_again() {
        let (diff, text) = real(0, 1);
        assert!(
            shown(&diff.routes).contains(&"POST /auth/refresh".to_owned()),
            "{text}"
        );
        let again = shown(&diff.redefined_routes);
        for route in ["POST /auth/login", "POST /auth/register", "GET /auth/me"] {
            assert!(again.contains(&route.to_owned()), "{route}: {text}");
        }
        assert_shows_key(&text, "security.tokens.access_ttl_secs");
    }

    #[test]
    fn diff_1_2_shows_v2_under_its_prefix_the_api_docs_and_no_test_only_route() {
        let (diff, text) = real(1, 2);
        let routes = shown(&diff.routes);
        for route in [
            "GET /api/v2/products",
            "GET /api/v2/orders/{id}",
            "GET /api-docs/",
            "GET /api-docs/openapi.json",
            "POST /graphql",
        ] {
            assert!(routes.contains(&route.to_owned()), "{route}: {text}");
        }
        assert!(
            !diff
                .redefined_routes
                .iter()
                .any(|r| r.prefix.as_deref() == Some("/api/v2")),
            "v2 is new, not v1 registered again: {text}"
        );
        assert!(!text.contains("/ping"), "a test-only route: {text}");
        assert_shows_key(&text, "apis.rate_limit.enabled");
    }

    #[test]
    fn diff_2_3_shows_the_cache_route_and_the_redis_and_cache_keys() {
        let (diff, text) = real(2, 3);
        assert!(
            shown(&diff.routes).contains(&"GET /internal/cache".to_owned()),
            "{text}"
        );
        for key in ["redis.url", "cache.enabled", "sessions.outage_grace_secs"] {
            assert!(diff.config_keys.contains(&key.to_owned()), "{key}: {text}");
        }
        assert_shows_key(&text, "redis.url");
    }

    #[test]
    fn diff_3_4_shows_step_4s_routes_declared_through_constants() {
        let (diff, text) = real(3, 4);
        let routes = shown(&diff.routes);
        for route in ["GET /internal/noop", "GET /internal/profile"] {
            assert!(routes.contains(&route.to_owned()), "{route}: {text}");
        }
        assert_shows_key(&text, "optimize.create_indexes");
    }

    #[test]
    fn diff_3_4_and_5_6_show_the_files_the_steps_add_outside_their_crates() {
        let (diff, text) = real(3, 4);
        assert!(
            diff.files.contains(&"docker/nginx/nginx.conf".to_owned()),
            "{text}"
        );
        let (diff, text) = real(5, 6);
        assert!(
            diff.files
                .contains(&"docker/mongo-replica/compose.yaml".to_owned()),
            "{text}"
        );
        assert!(
            !diff.files.iter().any(|f| f.starts_with("docker/nginx")),
            "step 4's files are not step 6's news: {text}"
        );
    }

    #[test]
    fn a_path_outside_the_crates_that_does_not_exist_is_an_error_naming_it() {
        let error = snapshot::files_outside(&workspace::root(), &["docker/no-such-thing"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("docker/no-such-thing"), "{error}");
    }

    fn dep(name: &str, kind: DepKind) -> Dependency {
        Dependency {
            name: name.into(),
            kind,
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn step0() -> CrateSnapshot {
        CrateSnapshot {
            package: "common".into(),
            routes: vec![
                route("POST", "/auth/login", "common/src/routes/auth.rs:27"),
                route("GET", "/products", "common/src/routes/products.rs:27"),
            ],
            nests: vec![Nest {
                prefix: "/api/v1".into(),
                at: "common/src/routes/mod.rs:44".into(),
            }],
            config_keys: strings(&["auth.token_ttl_secs", "server.port"]),
            dependencies: vec![
                dep("axum", DepKind::Normal),
                dep("reqwest", DepKind::Normal),
                dep("testkit", DepKind::Dev),
            ],
            files: strings(&["common/Cargo.toml", "common/src/lib.rs"]),
            tests: strings(&["common::it auth::login_works"]),
        }
    }

    fn step1() -> CrateSnapshot {
        CrateSnapshot {
            package: "step01-security".into(),
            routes: vec![
                route(
                    "POST",
                    "/auth/login",
                    "steps/step01-security/src/routes/auth.rs:20",
                ),
                route(
                    "POST",
                    "/auth/refresh",
                    "steps/step01-security/src/routes/auth.rs:21",
                ),
            ],
            nests: vec![Nest {
                prefix: "/api/v1".into(),
                at: "steps/step01-security/src/lib.rs:9".into(),
            }],
            config_keys: strings(&["security.refresh_ttl_secs", "server.port"]),
            dependencies: vec![
                dep("argon2", DepKind::Normal),
                dep("axum", DepKind::Normal),
                dep("common", DepKind::Normal),
                dep("reqwest", DepKind::Dev),
                dep("wiremock", DepKind::Dev),
            ],
            files: strings(&[
                "steps/step01-security/Cargo.toml",
                "steps/step01-security/src/lib.rs",
            ]),
            tests: strings(&["step01-security::it refresh::rotates"]),
        }
    }

    #[test]
    fn a_step_adds_what_its_own_crate_declares_beyond_the_earlier_ones() {
        let diff = StepDiff::between(&[step0()], &[step0(), step1()]);
        assert_eq!(
            diff.routes,
            [route(
                "POST",
                "/auth/refresh",
                "steps/step01-security/src/routes/auth.rs:21"
            )]
        );
        assert_eq!(
            diff.redefined_routes,
            [route(
                "POST",
                "/auth/login",
                "steps/step01-security/src/routes/auth.rs:20"
            )]
        );
        assert_eq!(diff.config_keys, ["security.refresh_ttl_secs"]);
        // `common` is the previous step itself; reqwest was already a normal dependency.
        assert_eq!(
            diff.dependencies,
            [
                dep("argon2", DepKind::Normal),
                dep("wiremock", DepKind::Dev)
            ]
        );
        assert_eq!(diff.files.len(), 2);
        assert_eq!(diff.tests, ["step01-security::it refresh::rotates"]);
        assert_eq!(diff.nests, ["/api/v1"]);
    }

    #[test]
    fn a_step_adds_nothing_over_itself_or_a_later_step() {
        assert!(StepDiff::between(&[step0()], &[step0()]).is_empty());
        assert!(StepDiff::between(&[step0(), step1()], &[step0()]).is_empty());
    }

    #[test]
    fn the_rendered_diff_lists_each_kind_with_markers_and_the_chapter() {
        let diff = StepDiff::between(&[step0()], &[step0(), step1()]);
        let info = steps::find(0).unwrap();
        let text = diff.render(info, info, &["docs/01-security.md"], Paint::plain());
        assert!(
            text.contains(
                "Routes (1 new); paths as the routers declare them, those the step nests itself in \
                 full (it nests under /api/v1)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  + POST /auth/refresh  steps/step01-security/src/routes/auth.rs:21\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  ~ POST /auth/login    steps/step01-security/src/routes/auth.rs:20 (registered again"
            ),
            "{text}"
        );
        assert!(
            text.contains("  + security.refresh_ttl_secs  APP__SECURITY__REFRESH_TTL_SECS\n"),
            "{text}"
        );
        assert!(text.contains("  + wiremock (dev)\n"), "{text}");
        assert!(
            text.contains("  + step01-security::it refresh::rotates\n"),
            "{text}"
        );
        assert!(text.ends_with("\nRead: docs/01-security.md\n"), "{text}");
    }

    #[test]
    fn diff_0_0_prints_nothing_new() {
        let info = steps::find(0).unwrap();
        let snapshot =
            snapshot::snapshot(&Workspace::load().unwrap(), &workspace::root(), info.dir).unwrap();
        let diff = StepDiff::between(
            std::slice::from_ref(&snapshot),
            std::slice::from_ref(&snapshot),
        );
        let text = diff.render(info, info, &[], Paint::plain());
        assert_eq!(
            text,
            "What step 0 (the baseline monolith) adds over step 0 (the baseline monolith)\n\nnothing new\n"
        );
    }

    #[test]
    fn diffing_against_a_step_that_does_not_exist_is_a_clear_error() {
        let error = Diff { from: 0, to: 42 }.run().unwrap_err().to_string();
        assert!(error.contains("step 42 does not exist yet"), "{error}");
    }
}
