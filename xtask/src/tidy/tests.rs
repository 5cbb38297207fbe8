//! One test per kind of drift, each on a small tree in a temp dir that has exactly that drift
//! beside the same tree without it, and one test that the repository itself has none.

use super::*;
use crate::workspace;

/// A tree of `files` in a fresh temp dir (kept alive by the returned guard).
fn make_tree(files: &[(&str, &str)]) -> (tempfile::TempDir, Tree) {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let tree = Tree::walk(dir.path()).unwrap();
    (dir, tree)
}

/// Steps 0 and 1 exist: step 0 in `common`, step 1 in a crate of the fixture.
fn facts() -> Facts {
    Facts {
        steps: vec![
            StepFacts {
                number: 0,
                dir: "common".into(),
            },
            StepFacts {
                number: 1,
                dir: "steps/one".into(),
            },
        ],
        later: vec![("PostgreSQL".into(), "step 5 (orders)".into())],
        components: vec!["MongoDB".into(), "Redis".into()],
    }
}

/// Exactly one problem, and it says `what`.
fn assert_one(problems: &[String], what: &str) {
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains(what), "{what}: {problems:?}");
}

fn messages(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

#[test]
fn a_cited_file_that_does_not_exist_is_a_problem_and_templates_are_not_citations() {
    let (_dir, tree) = make_tree(&[
        (
            "docs/00-baseline.md",
            "# Step 0\nSee [the map](architecture.md#seams).",
        ),
        ("docs/architecture.md", "# Architecture"),
        ("common/Cargo.toml", "[package]"),
        ("common/tests/it/main.rs", "//! Tests."),
        (
            "common/src/lib.rs",
            "//! See `docs/architecture.md`, `docs/NN-name.md`, `steps/stepNN-*/`, \
             `steps/step05-...` and `tests/it/main.rs`.\n",
        ),
        ("tests/src/lib.rs", "//! The suites."),
        ("docker/README.md", "# Images"),
        (
            ".github/workflows/ci.yml",
            "jobs:\n  images:\n    steps:\n      - uses: docker/build-push-action@v7\n",
        ),
        (
            "common/src/x.rs",
            "//! X.\n#[cfg(test)]\nmod tests {\n    const TREE: &str = \"docs/made-by-the-test.md\";\n}\n",
        ),
    ]);
    assert_eq!(
        messages(&citations::check(&tree, &[])),
        Vec::<String>::new()
    );

    let (_dir, tree) = make_tree(&[
        (
            "docs/00-baseline.md",
            "# Step 0\nSee [the map](architecture.md) and [x](gone.md).",
        ),
        ("docs/architecture.md", "# Architecture"),
        (
            "common/src/lib.rs",
            "//! See `docs/01-security.md` and `docs/architecture.md`.\n",
        ),
    ]);
    let problems = messages(&citations::check(&tree, &[]));
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].starts_with("common/src/lib.rs:1: cites `docs/01-security.md`, which"));
    assert!(problems[1].starts_with("docs/00-baseline.md:2: links to `gone.md`"));
}

#[test]
fn a_file_that_lives_outside_the_repository_may_not_be_cited_even_when_it_exists_here() {
    for name in citations::outside_names() {
        let line = format!("//! The reasons are in {name}.\n");
        let (_dir, tree) = make_tree(&[
            ("common/src/lib.rs", &line),
            (&name.replace("../", ""), "x"),
        ]);
        let problems = messages(&citations::check(&tree, &[]));
        assert_eq!(problems.len(), 1, "{name}: {problems:#?}");
        assert!(
            problems[0].contains("not in the repository"),
            "{problems:?}"
        );
    }
}

/// A step 1 lib with modules `a` and `b` and a contract file running steps 0-1 and hostile 0.
fn step_one(map: &str, try_it: &str) -> Vec<(String, String)> {
    let lib = format!(
        "//! # Step 1\n//!\n//! ## Try it\n//! {try_it}\n//!\n//! ## Map of the crate\n{map}\
         //!\n//! ## Next\n//! [`c`] is not a module.\n\npub mod a;\npub mod b;\nmod hidden;\n"
    );
    vec![
        ("steps/one/src/lib.rs".into(), lib),
        (
            "steps/one/tests/it/contract.rs".into(),
            "//! Contract.\ntestkit::contract_suites!(one::AppState:\n    step00, hostile00, step01);\n"
                .into(),
        ),
        (
            "common/src/lib.rs".into(),
            "//! ## Try it\n//! the contract suite 0\n//! ## Map of the crate\n".into(),
        ),
        (
            "common/tests/it/contract.rs".into(),
            "testkit::contract_suites!(common::AppState: step00);".into(),
        ),
    ]
}

fn crate_map_problems(files: &[(String, String)]) -> Vec<String> {
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let (_dir, tree) = make_tree(&files);
    messages(&crate_map::check(&tree, &facts()))
}

#[test]
fn a_map_of_the_crate_that_leaves_out_a_pub_mod_is_a_problem() {
    let good = step_one(
        "//! - [`a`]: one.\n//! - [`b`]: two.\n",
        "the contract suites 0-1 and the hostile suite 0",
    );
    assert_eq!(crate_map_problems(&good), Vec::<String>::new());

    let bad = step_one(
        "//! - [`a`]: one.\n",
        "the contract suites 0-1 and the hostile suite 0",
    );
    let problems = crate_map_problems(&bad);
    assert_one(&problems, "leaves out `pub mod b`");
}

#[test]
fn a_try_it_that_names_other_suites_than_the_contract_file_runs_is_a_problem() {
    let map = "//! - [`a`]: one.\n//! - [`b`]: two.\n";
    for said in [
        "the contract suites 0-1",
        "the contract suite 1 and the hostile suite 0",
        "the contract suites 0-2 and the hostile suite 0",
        "step 0's suites",
    ] {
        let problems = crate_map_problems(&step_one(map, said));
        assert_eq!(problems.len(), 1, "{said}: {problems:#?}");
        assert!(
            problems[0].contains("write \"the contract suites 0-1 and the hostile suite 0\""),
            "{problems:?}"
        );
    }
}

const CONFIG_LIB: &str = "\
//! A step.
pub mod config {
    #[derive(serde::Deserialize)]
    pub struct Config {
        pub environment: String,
        pub server: Server,
        #[serde(skip)]
        pub cached: u8,
    }
    #[derive(serde::Deserialize)]
    pub struct Server {
        pub port: u16,
        pub limit: Quota,
        pub keys: std::collections::HashMap<String, String>,
    }
    #[derive(serde::Deserialize)]
    pub struct Quota {
        pub requests: u32,
        pub window_secs: u64,
    }
}
";

fn example_config_problems(example: &str) -> Vec<String> {
    let (_dir, tree) = make_tree(&[
        ("common/src/lib.rs", CONFIG_LIB),
        ("steps/one/src/lib.rs", "//! Nothing to configure."),
        (example_config::FILE, example),
    ]);
    messages(&example_config::check(&tree, &facts()))
}

#[test]
fn an_example_config_that_misses_a_key_or_names_an_unread_one_is_a_problem() {
    let complete = "\
# The environment.
environment = \"development\"

[server]
# 0 picks a free port.
port = 8080
# limit = { requests = 600, window_secs = 60 }   # per user
# keys = { k1 = \"...\" }
";
    assert_eq!(example_config_problems(complete), Vec::<String>::new());

    let drifted = "\
environment = \"development\"
# [server]
# port = 8080
# limit = { requests = 600 }
# keys = { k1 = \"...\" }
# timeout_ms = 5000
";
    let problems = example_config_problems(drifted);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].contains("misses `server.limit.window_secs`"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("shop.example.toml:6: names `server.timeout_ms`"),
        "{problems:?}"
    );
}

#[test]
fn prose_in_comments_is_not_a_key() {
    let known = Default::default();
    let keys = example_config::keys_in(
        "# Environment variables override the file: APP__SERVER__PORT=9090.\n\
         # Step 2 adds an [apis] section; see docs/02-apis.md.\n\
         # 0 picks a free port = whatever is free\n",
        &known,
    );
    assert_eq!(keys, Vec::<(String, usize)>::new());
}

#[test]
fn doctor_naming_an_existing_step_as_later_is_a_problem() {
    let (_dir, tree) = make_tree(&[]);
    assert_eq!(
        messages(&statuses::check(&tree, &facts())),
        Vec::<String>::new()
    );
    let mut facts = facts();
    facts
        .later
        .push(("Redis".into(), "steps 1 (sessions) and 3 (cache)".into()));
    let problems = messages(&statuses::check(&tree, &facts));
    assert_one(&problems, "LATER lists Redis for step 1, which exists");
}

#[test]
fn a_status_of_planned_for_a_step_that_exists_or_ready_for_one_that_does_not_is_a_problem() {
    let readme = |one: &str, two: &str| {
        format!(
            "| Step | Crate | Adds | Status |\n|---|---|---|---|\n| 0 | `common` | a | ready |\n\
             | 1 | `steps/one` | b | {one} |\n| 2 | `steps/two` | c | {two} |\n"
        )
    };
    let chapters = |one: &str| {
        format!(
            "| Chapter | Step | Status |\n|---|---|---|\n| [00-a.md](00-a.md) | a | ready |\n\
             | 01-b.md | b | {one} |\n"
        )
    };
    for status in ["ready", "in progress"] {
        let (_dir, tree) = make_tree(&[
            ("README.md", &readme(status, "planned")),
            ("docs/README.md", &chapters(status)),
        ]);
        assert_eq!(
            messages(&statuses::check(&tree, &facts())),
            Vec::<String>::new(),
            "{status}"
        );
    }
    let (_dir, tree) = make_tree(&[("README.md", &readme("ready", "in progress"))]);
    assert_one(
        &messages(&statuses::check(&tree, &facts())),
        "README.md:5: step 2 is \"in progress\", but it does not exist",
    );

    let (_dir, tree) = make_tree(&[
        ("README.md", &readme("planned", "ready")),
        ("docs/README.md", &chapters("planned")),
    ]);
    let problems = messages(&statuses::check(&tree, &facts()));
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("README.md:4: step 1 is \"planned\", but it exists"));
    assert!(problems[1].starts_with("README.md:5: step 2 is \"ready\", but it does not exist"));
    assert!(problems[2].starts_with("docs/README.md:4: step 1 is \"planned\""));
}

#[test]
fn the_readme_claiming_a_component_no_ready_step_uses_is_a_problem() {
    let readme = |claims: &str| {
        format!(
            "# Shop\n\nIt grows. {} {claims}. More text.\n\n| Step | Crate | Adds | Status |\n\
             |---|---|---|---|\n| 0 | `common` | MongoDB, gRPC payments | ready |\n\
             | 9 | `steps/step09-...` | Prometheus metrics | planned |\n",
            claims::LEAD
        )
    };
    let (_dir, tree) = make_tree(&[(
        "README.md",
        &readme("the MongoDB wire protocol, Redis and gRPC"),
    )]);
    assert_eq!(
        messages(&claims::check(&tree, &facts())),
        Vec::<String>::new()
    );

    let (_dir, tree) = make_tree(&[("README.md", &readme("MongoDB, gRPC and Prometheus"))]);
    let problems = messages(&claims::check(&tree, &facts()));
    assert_one(&problems, "claims \"Prometheus\"");
}

#[test]
fn a_chapter_without_a_from_the_roadmap_table_is_a_problem() {
    let with_table = "# Step 0\n\n## From the roadmap\n\n| Roadmap | Here | Why |\n|---|---|---|\n\
                      | Express | axum | typed |\n\n## Next\n";
    let heading_only = "# Step 0\n\n## From the roadmap\n\nSoon.\n\n## Next\n\n\
                        | a | b |\n|---|---|\n";
    let in_code = "# Step 0\n\n```\n## From the roadmap\n```\n";
    let (_dir, tree) = make_tree(&[
        ("docs/00-a.md", with_table),
        ("docs/01-b.md", heading_only),
        ("docs/02-c.md", in_code),
        ("docs/architecture.md", "# Not a chapter"),
    ]);
    let problems = messages(&roadmap::check(&tree));
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].starts_with("docs/01-b.md: has a \"From the roadmap\" section without"));
    assert!(problems[1].starts_with("docs/02-c.md: has no \"From the roadmap\" section"));
}

#[test]
fn this_repository_has_no_drift() {
    let tree = Tree::git(&workspace::root()).unwrap();
    let problems = check(&tree, &Facts::of_this_build());
    assert!(
        problems.is_empty(),
        "cargo xtask tidy:\n{}",
        crate::cmd::tidy::render(&problems)
    );
}
