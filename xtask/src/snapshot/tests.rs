//! The snapshot's readers on small crates written to a temp dir (so they go through the same
//! module tree as a real crate), and on the real step 0.

use std::path::Path;

use super::config_keys::{env_name, keys_of_crate};
use super::modules::{Module, read_crate};
use super::names::Names;
use super::routes::{Nest, routes_in};
use super::test_fns::tests_in;
use super::*;
use crate::workspace;

/// Writes `files` (path, text) into a temp dir and reads the crate rooted at the first one.
fn read(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<Module>) {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    let modules = read_crate(&dir.path().join(files[0].0)).unwrap();
    (dir, modules)
}

fn shown_routes(modules: &[Module]) -> Vec<String> {
    let names = Names::new(modules.iter().filter(|m| !m.test_only));
    modules
        .iter()
        .flat_map(|m| routes_in(m, &names, "src/routes.rs").0)
        .map(|r| format!("{} {} {}", r.method, r.path, r.at))
        .collect()
}

fn keys(modules: &[Module]) -> Vec<String> {
    keys_of_crate(&Names::new(modules))
}

#[test]
fn comments_and_strings_are_not_read_as_routes() {
    let (_dir, modules) = read(&[(
        "src/lib.rs",
        "// .route(\"/commented\", get(x))\n/* block /* nested */ */\n\
         fn f<'a>(c: char) { let _ = ('\"', '\\'', \".route(\\\"/quoted\\\", get(x))\", \
         r#\"raw .route(\"/raw\", get(x))\"#); Router::new().route(\"/real\", get(h)); }",
    )]);
    assert_eq!(shown_routes(&modules), ["GET /real src/routes.rs:3"]);
}

const ROUTER: &str = r#"
pub fn router<S>() -> Router<S> {
    Router::new()
        .route("/products", get(list_products).post(create_product))
        .route(
            "/products/{id}",
            get(get_product).put(update_product).delete(delete_product),
        )
        .route("/legacy", on(MethodFilter::PATCH, patch_it))
        .route_service("/static", ServeDir::new("assets"))
        .nest("/api/v1", api())
}
"#;

#[test]
fn routes_are_read_with_every_method_of_their_method_router() {
    let (_dir, modules) = read(&[("src/lib.rs", ROUTER)]);
    assert_eq!(
        shown_routes(&modules),
        [
            "GET /products src/routes.rs:4",
            "POST /products src/routes.rs:4",
            "DELETE /products/{id} src/routes.rs:6",
            "GET /products/{id} src/routes.rs:6",
            "PUT /products/{id} src/routes.rs:6",
            "PATCH /legacy src/routes.rs:9",
            "ANY /static src/routes.rs:10",
        ]
    );
    assert_eq!(
        routes_in(&modules[0], &Names::new(&modules), "src/routes.rs").1,
        [Nest {
            prefix: "/api/v1".into(),
            at: "src/routes.rs:11".into()
        }]
    );
}

#[test]
fn a_handler_closure_inside_a_method_router_adds_no_method() {
    let (_dir, modules) = read(&[(
        "src/lib.rs",
        "fn r() -> Router { Router::new().route(\"/x\", get(|| async { client.post(u).send() })) }",
    )]);
    assert_eq!(shown_routes(&modules), ["GET /x src/routes.rs:1"]);
}

const CONFIG: &str = r#"
#[derive(Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub base: common::Config,
    pub security: SecurityConfig,
    pub tls: Option<TlsConfig>,
    #[serde(skip)]
    pub computed: u32,
}
pub struct SecurityConfig {
    /// Seconds.
    #[serde(default = "default_ttl", alias = "ttl")]
    pub refresh_ttl_secs: u64,
    pub(crate) keys: Vec<KeyConfig>,
    pub limits: HashMap<String, u32>,
    #[serde(flatten)]
    pub extra: Extra,
}
struct Extra { pub pepper: SecretString }
pub struct TlsConfig { cert: PathBuf }
"#;

#[test]
fn config_keys_follow_sections_and_flattening() {
    let (_dir, modules) = read(&[("src/config.rs", CONFIG)]);
    assert_eq!(
        keys(&modules),
        [
            "security.refresh_ttl_secs",
            "security.keys",
            "security.limits",
            "security.pepper",
            "tls.cert",
        ]
    );
    assert_eq!(
        env_name("security.refresh_ttl_secs"),
        "APP__SECURITY__REFRESH_TTL_SECS"
    );
}

#[test]
fn a_section_typed_by_another_crate_is_shown_whole() {
    let (_dir, modules) = read(&[(
        "src/config.rs",
        "pub struct Config { pub base: common::Config, pub port: u16 }",
    )]);
    assert_eq!(keys(&modules), ["base.*", "port"]);
}

const TESTS: &str = r#"
fn helper() {}
#[test]
fn top_level() {}
#[cfg(test)]
mod tests {
    use super::*;
    #[tokio::test(flavor = "multi_thread")]
    #[ignore]
    async fn inner_async() {}
    fn not_a_test() {}
    mod deeper { #[test] fn deep() { let _ = { 1 }; } }
    #[test]
    fn after_deeper() {}
}
"#;

#[test]
fn test_fns_are_named_with_their_module_path() {
    let (_dir, modules) = read(&[("src/lib.rs", "mod config;"), ("src/config.rs", TESTS)]);
    let found: Vec<String> = modules.iter().flat_map(tests_in).collect();
    assert_eq!(
        found,
        [
            "config::top_level",
            "config::tests::inner_async",
            "config::tests::after_deeper",
            "config::tests::deeper::deep",
        ]
    );
}

#[test]
fn tests_inside_an_item_macro_are_found_by_their_attribute() {
    let (_dir, modules) = read(&[(
        "src/lib.rs",
        "proptest! { #[test] fn money_round_trips(m in any::<i64>()) { } fn helper() {} }",
    )]);
    assert_eq!(tests_in(&modules[0]), ["money_round_trips"]);
}

#[test]
fn modules_are_found_where_rustc_looks_for_them() {
    let (_dir, modules) = read(&[
        (
            "src/lib.rs",
            "mod domain; mod config; #[path = \"generated/api.rs\"] mod api; \
             mod inline { mod nested; }",
        ),
        ("src/domain/mod.rs", "mod money;"),
        ("src/domain/money.rs", ""),
        ("src/config.rs", "#[cfg(test)] mod tests;"),
        ("src/config/tests.rs", ""),
        ("src/generated/api.rs", "mod v1;"),
        ("src/generated/v1.rs", ""),
        ("src/inline/nested.rs", ""),
        ("src/orphan.rs", "fn not_compiled() {}"),
    ]);
    let shown: Vec<String> = modules
        .iter()
        .map(|m| {
            let file = m.file.iter().rev().take(2).collect::<Vec<_>>();
            format!(
                "{} {}/{}{}",
                m.path.join("::"),
                file[1].to_string_lossy(),
                file[0].to_string_lossy(),
                if m.test_only { " (test)" } else { "" }
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            " src/lib.rs",
            "domain domain/mod.rs",
            "domain::money domain/money.rs",
            "config src/config.rs",
            "config::tests config/tests.rs (test)",
            "api generated/api.rs",
            "api::v1 generated/v1.rs",
            "inline src/lib.rs",
            "inline::nested inline/nested.rs",
        ]
    );
}

#[test]
fn targets_map_to_nextest_binary_ids() {
    let package = |kind, name: &str| {
        let target = manifest::Target {
            name: name.into(),
            kind,
            root: "/ws/common/src/x.rs".into(),
        };
        let package = manifest::Package {
            name: "common".into(),
            dir: "/ws/common".into(),
            targets: vec![target.clone()],
            dependencies: Vec::new(),
        };
        package.binary_id(&target)
    };
    assert_eq!(package(TargetKind::Lib, "common"), Some("common".into()));
    assert_eq!(
        package(TargetKind::Bin, "shop"),
        Some("common::bin/shop".into())
    );
    assert_eq!(package(TargetKind::Test, "it"), Some("common::it".into()));
    assert_eq!(package(TargetKind::Other, "hot_paths"), None);
}

const METADATA: &str = r#"{
  "packages": [{
    "name": "step01-security",
    "manifest_path": "/ws/steps/step01-security/Cargo.toml",
    "targets": [
      {"kind": ["lib"], "name": "step01_security", "src_path": "/ws/steps/step01-security/src/lib.rs"},
      {"kind": ["bin"], "name": "shop-security", "src_path": "/ws/steps/step01-security/src/main.rs"},
      {"kind": ["test"], "name": "it", "src_path": "/ws/steps/step01-security/tests/it/main.rs"},
      {"kind": ["custom-build"], "name": "build-script-build", "src_path": "/ws/steps/step01-security/build.rs"}
    ],
    "dependencies": [
      {"name": "common", "kind": null, "rename": null, "path": "/ws/common"},
      {"name": "aes-gcm", "kind": null, "rename": null, "req": "^0.10"},
      {"name": "tests", "kind": "dev", "rename": "contract"},
      {"name": "cc", "kind": "build", "rename": null, "target": "cfg(unix)"}
    ]
  }],
  "workspace_root": "/ws",
  "version": 1
}"#;

#[test]
fn cargo_metadata_gives_every_kind_of_dependency_and_the_targets() {
    let workspace = Workspace::parse(METADATA).unwrap();
    let package = workspace
        .package_in(Path::new("/ws/steps/step01-security"))
        .unwrap();
    assert_eq!(package.name, "step01-security");
    let deps: Vec<String> = package
        .dependencies
        .iter()
        .map(|d| format!("{:?} {}", d.kind, d.name))
        .collect();
    assert_eq!(
        deps,
        [
            "Normal common",
            "Normal aes-gcm",
            "Dev contract",
            "Build cc"
        ]
    );
    let targets: Vec<String> = package
        .targets
        .iter()
        .map(|t| format!("{:?} {} {}", t.kind, t.name, t.root.display()))
        .collect();
    assert_eq!(
        targets,
        [
            "Lib step01_security /ws/steps/step01-security/src/lib.rs",
            "Bin shop-security /ws/steps/step01-security/src/main.rs",
            "Test it /ws/steps/step01-security/tests/it/main.rs",
            "Other build-script-build /ws/steps/step01-security/build.rs",
        ]
    );
    assert!(workspace.package_in(Path::new("/ws/common")).is_none());
}

#[test]
fn test_only_routers_are_not_routes_of_the_crate() {
    let (_dir, modules) = read(&[
        (
            "src/lib.rs",
            "#[cfg(test)] mod tests; \
             fn app() -> Router { Router::new().route(\"/products\", get(list)) } \
             #[cfg(test)] fn fake() -> Router { Router::new().route(\"/fake\", get(f)) }",
        ),
        (
            "src/tests.rs",
            "fn limited() -> Router { Router::new().route(\"/api/v1/ping\", get(ok)) }",
        ),
    ]);
    assert_eq!(shown_routes(&modules), ["GET /products src/routes.rs:1"]);
}

#[test]
fn route_paths_named_by_string_constants_of_the_crate_are_resolved() {
    let (_dir, modules) = read(&[
        (
            "src/lib.rs",
            "mod paths; mod routes; pub use paths::PROFILE_PATH;",
        ),
        (
            "src/paths.rs",
            "pub const ORDERS: &str = \"/orders\"; pub const PROFILE_PATH: &str = \"/profile\";",
        ),
        (
            "src/routes.rs",
            r#"use crate::paths::ORDERS as ORDERS_PATH;
pub const NOOP_PATH: &str = "/internal/noop";
static STATIC_PATH: &str = "/static";
pub fn router() -> Router {
    Router::new()
        .route(NOOP_PATH, get(noop))
        .route(crate::paths::ORDERS, post(place))
        .route(ORDERS_PATH, get(list))
        .route(super::PROFILE_PATH, get(profile))
        .route(self::STATIC_PATH, get(serve))
        .route(common::HEALTH_PATH, get(health))
}"#,
        ),
    ]);
    assert_eq!(
        shown_routes(&modules),
        [
            "GET /internal/noop src/routes.rs:6",
            "POST /orders src/routes.rs:7",
            "GET /orders src/routes.rs:8",
            "GET /profile src/routes.rs:9",
            "GET /static src/routes.rs:10",
        ]
    );
}

#[test]
fn a_section_typed_by_a_path_into_the_same_crate_lists_its_keys() {
    let (_dir, modules) = read(&[
        ("src/lib.rs", "mod config; mod rest; mod graphql;"),
        (
            "src/config.rs",
            r#"use crate::graphql::GraphqlConfig;
use common::config::ServerConfig;
pub struct Config {
    #[serde(flatten)]
    pub base: step01_security::Config,
    pub rest: crate::rest::RestConfig,
    pub graphql: GraphqlConfig,
    pub server: ServerConfig,
    pub limits: super::rest::Limits,
}"#,
        ),
        (
            "src/rest.rs",
            "pub struct RestConfig { pub v1_sunset: String } pub struct Limits { pub burst: u32 }",
        ),
        ("src/graphql/mod.rs", "mod config; pub use config::*;"),
        (
            "src/graphql/config.rs",
            "pub struct GraphqlConfig { pub max_depth: usize }",
        ),
    ]);
    assert_eq!(
        keys(&modules),
        [
            "rest.v1_sunset",
            "graphql.max_depth",
            "server.*",
            "limits.burst"
        ]
    );
}

/// The snapshot of the real crate in `dir`, and its routes as `METHOD /path`.
fn real_snapshot(dir: &str) -> (CrateSnapshot, Vec<String>) {
    let snapshot = snapshot(&Workspace::load().unwrap(), &workspace::root(), dir).unwrap();
    let routes = snapshot
        .routes
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    (snapshot, routes)
}

#[test]
fn step_4s_routes_named_by_constants_are_in_its_snapshot() {
    let (_, routes) = real_snapshot("steps/step04-optimize");
    assert!(
        routes.contains(&"GET /internal/noop".to_owned()),
        "{routes:?}"
    );
    assert!(
        routes.contains(&"GET /internal/profile".to_owned()),
        "{routes:?}"
    );
}

#[test]
fn the_snapshot_of_step_0_shows_its_routes_keys_dependencies_and_tests() {
    let (snapshot, routes) = real_snapshot("common");
    assert_eq!(snapshot.package, "common");
    for expected in [
        "GET /health",
        "POST /auth/login",
        "GET /products",
        "POST /orders",
    ] {
        assert!(
            routes.contains(&expected.to_owned()),
            "{expected} in {routes:?}"
        );
    }
    assert!(snapshot.nests.iter().any(|n| n.prefix == "/api/v1"));
    for key in [
        "server.port",
        "mongodb.uri",
        "auth.bcrypt_cost",
        "environment",
    ] {
        assert!(
            snapshot.config_keys.contains(&key.to_owned()),
            "{key} in {:?}",
            snapshot.config_keys
        );
    }
    assert!(snapshot.dependencies.iter().any(|d| d.name == "axum"));
    assert!(snapshot.files.contains(&"common/src/lib.rs".to_owned()));
    assert!(
        snapshot
            .tests
            .iter()
            .any(|t| t.starts_with("common::it orders::")),
        "{:?}",
        snapshot.tests
    );
    assert!(
        snapshot
            .tests
            .contains(&"common config::tests::a_short_jwt_secret_is_refused".to_owned())
    );
}
