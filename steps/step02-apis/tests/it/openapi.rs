//! The OpenAPI document against the running step-2 server: it is OpenAPI 3.1, it covers
//! every route the router serves (and nothing it does not), its limits match the code, the
//! Swagger UI is served from this server alone, and schemathesis, generating requests from the
//! document, finds no 5xx and no response that breaks the document.

use std::collections::BTreeSet;
use std::time::Instant;

use reqwest::Method;
use serde_json::Value;
use step02_apis::openapi::{DOCS_CSP, DOCUMENT_PATH};

use crate::support::App;

/// Every route step 2 serves, as `METHOD path` (OpenAPI's `{param}` syntax), except the
/// docs themselves and `/graphql` (GraphQL describes itself). Kept by hand on purpose: the
/// document is generated from the handlers' annotations, so an independent list is what
/// catches a route that was added without one.
const ROUTES: &[&str] = &[
    "GET /health",
    "POST /api/v1/auth/register",
    "POST /api/v1/auth/login",
    "GET /api/v1/auth/me",
    "POST /api/v1/auth/refresh",
    "POST /api/v1/auth/logout",
    "POST /api/v1/auth/logout-all",
    "POST /api/v1/auth/password",
    "GET /api/v1/auth/sessions",
    "DELETE /api/v1/auth/sessions/{id}",
    "GET /api/v1/auth/google/start",
    "GET /api/v1/auth/google/callback",
    "GET /api/v1/profile",
    "PUT /api/v1/profile",
    "GET /api/v1/products",
    "POST /api/v1/products",
    "GET /api/v1/products/{id}",
    "PUT /api/v1/products/{id}",
    "DELETE /api/v1/products/{id}",
    "GET /api/v1/products/{id}/reviews",
    "POST /api/v1/products/{id}/reviews",
    "GET /api/v1/orders",
    "POST /api/v1/orders",
    "GET /api/v1/orders/{id}",
    "POST /api/v1/orders/{id}/pay",
    "POST /api/v1/orders/{id}/ship",
    "POST /api/v1/orders/{id}/cancel",
    "GET /api/v2/products",
    "GET /api/v2/products/{id}",
    "GET /api/v2/products/{id}/reviews",
    "GET /api/v2/orders",
    "GET /api/v2/orders/{id}",
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

async fn document(app: &App) -> Value {
    let response = app.get(DOCUMENT_PATH, None).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("the document is JSON")
}

/// `METHOD path` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(*method).is_some() {
                found.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    found
}

/// A concrete URL for a templated path: any well-formed id will do.
fn concrete(path: &str) -> String {
    path.replace("{id}", "665f1c2e8b3a4d0012345678")
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_documents_exactly_the_routes_served() {
    let app = App::spawn().await;
    let doc = document(&app).await;

    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1."), "openapi {version}");
    let expected: BTreeSet<String> = ROUTES.iter().map(|r| r.to_string()).collect();
    let documented = operations(&doc);
    assert_eq!(
        documented.difference(&expected).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "documented but not in ROUTES"
    );
    assert_eq!(
        expected.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "served but not documented"
    );
}

#[tokio::test]
async fn every_documented_operation_is_served_and_no_other_method_is() {
    let app = App::spawn().await;
    let doc = document(&app).await;

    for operation in operations(&doc) {
        let (method, path) = operation.split_once(' ').unwrap();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = app.request(method, &concrete(path), None, None).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            status != 405 && !(status == 404 && body["error"]["message"] == "route not found"),
            "{operation} is documented but not routed: {status} {body}"
        );
    }
    // The other direction on every documented path: a method the document does not list is
    // 405, so the router serves nothing there the document leaves out.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_none()) {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .request(method.clone(), &concrete(path), None, None)
                .await;
            assert_eq!(
                response.status(),
                405,
                "{method} {path} is served, undocumented"
            );
        }
    }
}

#[tokio::test]
async fn every_api_operation_documents_the_error_shape_429_and_503() {
    let app = App::spawn().await;
    let doc = document(&app).await;

    let responses = &doc["components"]["responses"];
    let too_many = &responses["TooManyRequests"];
    for header in [
        "Retry-After",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "RateLimit-Policy",
    ] {
        assert!(
            too_many["headers"].get(header).is_some(),
            "429 lacks {header}"
        );
    }
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error"]));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let statuses = &item[*method]["responses"];
            if path.starts_with("/api/") {
                assert!(statuses.get("429").is_some(), "{method} {path}: no 429");
            }
            assert!(statuses.get("503").is_some(), "{method} {path}: no 503");
            if item[*method].get("security").is_some() {
                assert!(statuses.get("401").is_some(), "{method} {path}: no 401");
            }
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn the_documented_page_limit_is_the_one_the_code_enforces() {
    let app = App::spawn().await;
    let doc = document(&app).await;
    let params = doc["paths"]["/api/v1/orders"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let limit = params.iter().find(|p| p["name"] == "limit").expect("limit");
    let max = limit["schema"]["maximum"].as_u64().expect("a maximum");
    assert_eq!(max, common::domain::Page::MAX_LIMIT);
    let page = params.iter().find(|p| p["name"] == "page").expect("page");
    assert_eq!(
        page["schema"]["maximum"].as_u64(),
        Some(common::domain::Page::MAX_PAGE)
    );

    let (_, token) = app.customer().await;
    let at_max = app
        .get(&format!("/api/v1/orders?limit={max}"), Some(&token))
        .await;
    assert_eq!(at_max.status(), 200);
    let over = app
        .get(&format!("/api/v1/orders?limit={}", max + 1), Some(&token))
        .await;
    testkit::expect_error(over, 400, "INVALID_PARAMETER").await;
}

/// Found by schemathesis: `(page - 1) * limit` overflowed, and the listing answered 500.
#[tokio::test]
async fn a_page_past_the_last_possible_one_is_a_400_not_a_500() {
    let app = App::spawn().await;
    let (_, token) = app.customer().await;
    let max = common::domain::Page::MAX_PAGE;
    for path in [
        "/api/v1/orders?page=9223372036854775808".to_owned(),
        format!("/api/v1/orders?page={}", max + 1),
    ] {
        let response = app.get(&path, Some(&token)).await;
        testkit::expect_error(response, 400, "INVALID_PARAMETER").await;
    }
    let last = app
        .get(
            &format!("/api/v1/orders?page={max}&limit=100"),
            Some(&token),
        )
        .await;
    let body = testkit::expect_status(last, 200).await;
    assert_eq!(body["items"], serde_json::json!([]));
}

#[tokio::test]
async fn swagger_ui_is_served_from_this_server_with_its_own_csp() {
    let app = App::spawn().await;

    let page = app.get("/api-docs/", None).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-security-policy"], DOCS_CSP);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Offline: every script and stylesheet is a relative URL on this server.
    for attr in ["src=\"", "href=\""] {
        for url in html
            .split(attr)
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
        {
            assert!(!url.contains("//"), "{url} is not on this server");
        }
    }
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let response = app.get(&format!("/api-docs/{asset}"), None).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(response.headers()["content-security-policy"], DOCS_CSP);
        if asset == "swagger-initializer.js" {
            assert!(response.text().await.unwrap().contains(DOCUMENT_PATH));
        }
    }
    // The API itself keeps step 1's strict policy.
    let api = app.get("/health", None).await;
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    // An unknown docs file is a 404, not the UI.
    assert_eq!(app.get("/api-docs/nope.js", None).await.status(), 404);
}

/// How many test cases schemathesis generates per operation: enough to reach every
/// documented status, few enough that the run stays under a minute on two cores (about
/// 2,900 requests in 15-30 s here).
const MAX_EXAMPLES: &str = "100";

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_failures_against_the_document() {
    let python = testkit::services::schemathesis::ensure().expect("schemathesis installed");
    // Limits that a run of a few thousand requests must not trip go here (`spawn_with`).
    // The rate limiter is tested in `rate_limit.rs`; here a few thousand requests from one
    // user and one address would spend the default quotas within seconds and leave most
    // operations answering only 429, so the run gets quotas it cannot exhaust.
    let app = App::spawn_with(|config| {
        let limits = &mut config.apis.rate_limit;
        for quota in [
            &mut limits.default,
            &mut limits.credentials,
            &mut limits.orders,
        ] {
            quota.requests = 1_000_000;
        }
    })
    .await;
    let (_, token) = app.customer().await;
    // Something to find, so reads of products, reviews and orders reach their 200s.
    let (_, admin) = app.admin().await;
    app.create_product(&admin, serde_json::json!({})).await;

    let client_timeout = app.config.server.request_timeout_ms / 1000 + 5;
    let report = tempfile::tempdir().unwrap();
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/schemathesis/schemathesis.toml"
    );
    let mut st = testkit::services::schemathesis::command(&python);
    st.args(["--config-file", config])
        .arg("run")
        .arg(app.url(DOCUMENT_PATH))
        .args(["--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        // Logging out, or revoking a session (schemathesis learns the current session's id
        // from `GET /auth/sessions`), would end the session every other request of the run is
        // signed in with, so every later signed-in case would test only the 401 path.
        .args(["--exclude-path", "/api/v1/auth/logout"])
        .args(["--exclude-path", "/api/v1/auth/logout-all"])
        .args(["--exclude-path", "/api/v1/auth/sessions/{id}"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", "20240602"])
        // One worker: with two, hypothesis' lambda-source cache raced and schemathesis
        // reported an internal "AST constructor recursion depth mismatch".
        .args(["--workers", "1"])
        // Longer than the server's own timeout, so a slow request shows up as the server's
        // documented 503 `TIMEOUT`, not as a client-side error.
        .arg("--request-timeout")
        .arg(client_timeout.to_string())
        .args(["--generation-database", "none"])
        .args(["--generation-with-security-parameters", "false"])
        .arg("--no-color")
        .arg("--report-dir")
        .arg(report.path())
        .args(["--report", "ndjson"])
        // schemathesis keeps a `.schemathesis/` cache in its working directory.
        .current_dir(report.path());
    let started = Instant::now();
    let output = tokio::process::Command::from(st)
        .output()
        .await
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "schemathesis took {:.0?}:\n{stdout}\n{stderr}",
        started.elapsed()
    );
    if let Ok(keep) = std::env::var("SCHEMATHESIS_REPORT_DIR") {
        // Keeps the ndjson event log (every request and response) for a closer look.
        let _ = std::fs::create_dir_all(&keep);
        for entry in std::fs::read_dir(report.path()).unwrap().flatten() {
            let _ = std::fs::copy(
                entry.path(),
                std::path::Path::new(&keep).join(entry.file_name()),
            );
        }
    }
    assert!(
        output.status.success(),
        "schemathesis found failures (report above):\n{stdout}\n{stderr}"
    );
}

/// Found by schemathesis: a NUL in a search word reached the database, which answered 500.
#[tokio::test]
async fn a_nul_in_a_text_parameter_is_a_400_not_a_500() {
    let app = App::spawn().await;
    for path in ["/api/v1/products?q=a%00b", "/api/v2/products?category=%00"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), 400, "{path}");
    }
}
