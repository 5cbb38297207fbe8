//! The whole stage under compose (`docker/compose/compose.yaml`), on the images this machine
//! builds (`cargo xtask images --apps`: the local MongoDB stand-in, PostgreSQL, Redis and nginx
//! images, and the project's own three from host-built binaries): `up --wait` brings it up in
//! its start order; the contract suites of steps 0 to 7 (the hostile-client ones among them)
//! pass through nginx against the two containers of step 7; with one instance killed, nginx sends the traffic to the other; and
//! `down -v` leaves no container, volume or network of the project behind.
//! Chapter: docs/07-devops.md, "Compose".

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::Duration;

use futures::FutureExt;
use testkit::services::compose::{Compose, Project};
use testkit::services::images::app::{self, APP_BINARIES, AppImageOptions};
use testkit::services::images::{self, ImageOptions, LocalImage};
use testkit::services::{ImageFlavor, SourcePolicy};

use crate::image::{require_docker, step07};

const ADMIN_EMAIL: &str = "admin@compose.example";
const ADMIN_PASSWORD: &str = "compose-admin-password-1";
/// How long nginx keeps an instance out after a failed attempt (`fail_timeout=5s` in the
/// compose file's upstream servers).
const NGINX_FAIL_TIMEOUT: Duration = Duration::from_secs(5);
/// What the payments service in the file waits for the provider: its default, 5 s.
const PROVIDER_TIMEOUT: Duration = Duration::from_millis(5_000);

fn compose_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docker/compose/compose.yaml")
}

/// The variables that point the file at the images to run, and publish nginx and the
/// simulator on free loopback ports (several runs may share the machine). The stores and
/// nginx: the local images `cargo xtask images` builds, unless `STEPWISE_IMAGES=official`
/// asks for the file's own defaults (a machine that can pull, such as CI's runners). The
/// project's three: always built from this checkout's binaries.
fn images() -> Vec<(&'static str, String)> {
    let policy = SourcePolicy::from_env();
    let official =
        policy.images_chosen() && matches!(policy.resolve(), Ok((_, ImageFlavor::Official)));
    let mut env = vec![
        ("SHOP_ADDRESS", "127.0.0.1:".to_owned()),
        ("PAYMENT_SIM_ADDRESS", "127.0.0.1:".to_owned()),
        // A /24 of its own, in 10.199.0.0/16: beside other runs of this test and whatever
        // the machine's Docker networks use.
        (
            "SHOP_NETWORK",
            format!("10.199.{}", std::process::id() % 250 + 1),
        ),
        // Nine containers, debug binaries among them, on a test machine's few cores: a Redis
        // answer can take longer than the 250 ms the file defaults to, and then the instance
        // refuses tokens it has not checked yet with 503, as step 3's fail-safe should (its
        // own tests prove that). What this test is about is the stage, not that bound.
        ("REDIS_RESPONSE_TIMEOUT_MS", "3000".to_owned()),
        ("REDIS_CONNECT_TIMEOUT_MS", "3000".to_owned()),
    ];
    if !official {
        images::ensure_local_images(&ImageOptions::default()).unwrap_or_else(|e| panic!("{e:#}"));
        let local = |image: LocalImage| image.tag().to_owned();
        env.extend([
            ("MONGO_IMAGE", local(LocalImage::MongoStandin)),
            ("POSTGRES_IMAGE", local(LocalImage::Postgres)),
            ("REDIS_IMAGE", local(LocalImage::Redis)),
            ("NGINX_IMAGE", local(LocalImage::Nginx)),
        ]);
    }
    for (var, binary) in [
        ("APP_IMAGE", "step07-devops"),
        ("PAYMENTS_IMAGE", "step02-payments"),
        ("PAYMENT_SIM_IMAGE", "payment-sim"),
    ] {
        let app = *APP_BINARIES
            .iter()
            .find(|app| app.binary == binary)
            .unwrap_or_else(|| panic!("{binary} ships as an image"));
        let executable = if app == step07() {
            PathBuf::from(env!("CARGO_BIN_EXE_step07-devops"))
        } else {
            app.cargo_build(false).unwrap_or_else(|e| panic!("{e:#}"))
        };
        let report = app::ensure_app_image(app, &executable, &AppImageOptions::default())
            .unwrap_or_else(|e| panic!("{e:#}"));
        eprintln!("{report}");
        env.push((var, report.tag));
    }
    env
}

fn logs(project: &Project) -> String {
    project
        .run(&["logs", "--no-color", "--tail", "40"])
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_else(|e| format!("(no logs: {e:#})"))
}

#[tokio::test]
async fn the_stage_comes_up_passes_the_suites_through_nginx_outlives_an_instance_and_leaves_nothing()
 {
    require_docker();
    let compose = Compose::ensure().unwrap_or_else(|e| panic!("{e:#}"));
    let env = images();
    let name = format!("stepwise-test-{}", std::process::id());
    let mut project = compose.project(&compose_file(), &name, &env);
    if let Err(e) = project.up(Duration::from_secs(180)) {
        panic!("{e:#}\n{}", logs(&project));
    }
    let health = project.health().expect("the containers' health");
    assert_eq!(health.len(), 9, "{health:?}");
    assert!(health.iter().all(|(_, h)| h == "healthy"), "{health:?}");

    let shop = format!(
        "http://{}",
        project.port("nginx", 80).expect("nginx's port")
    );
    let provider = format!(
        "http://{}",
        project
            .port("payment-sim", 4242)
            .expect("the simulator's port")
    );
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("{shop}/readyz"))
        .send()
        .await
        .expect("/readyz");
    assert_eq!(ready.status(), 200, "{}", logs(&project));
    let ready: serde_json::Value = ready.json().await.expect("/readyz's JSON");
    let checks = ready["checks"].as_object().expect("/readyz's checks");
    assert!(checks.contains_key("postgresql-replica"), "{ready}");
    assert!(checks.values().all(|v| v == "ok"), "{ready}");

    project
        .run(&[
            "exec",
            "-T",
            "app1",
            "/usr/local/bin/app",
            "create-admin",
            "--email",
            ADMIN_EMAIL,
            "--password",
            ADMIN_PASSWORD,
        ])
        .unwrap_or_else(|e| panic!("{e:#}"));
    let target_at = |base: String| {
        contract::Target::new(base, ADMIN_EMAIL, ADMIN_PASSWORD).with_provider(
            contract::Provider::new(provider.clone(), payment_sim_key(), PROVIDER_TIMEOUT),
        )
    };
    let through_nginx = target_at(shop.clone());
    // The hostile clients speak to an instance itself: what they test (header timeouts,
    // malformed requests, forged forwarding headers) is the app's own server, which nginx
    // would otherwise answer for. From the host, outside nginx, the instance trusts no
    // X-Forwarded-For.
    let direct = target_at(format!(
        "http://{}",
        project.address("app2", 8080).expect("app2's address")
    ));
    let (hostile, others): (Vec<&str>, Vec<&str>) = contract::suites_up_to(7)
        .into_iter()
        .partition(|suite| suite.starts_with("hostile"));
    for suite in hostile {
        run_suite(&project, suite, &direct).await;
    }
    // The other suites through nginx, with app2 stopped: their listings expect products in
    // the order they were created, and ids made by two processes within the same second do
    // not sort that way (the chapter, "Compose", says why). nginx finds app2 gone and sends
    // everything, POSTs included (nothing was sent), to app1.
    project.run(&["stop", "app2"]).expect("compose stop app2");
    for suite in others {
        run_suite(&project, suite, &through_nginx).await;
    }
    project.run(&["start", "app2"]).expect("compose start app2");
    project
        .wait_healthy(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e:#}\n{}", logs(&project)));

    // nginx's checks are passive: it took app2 out when a request to the stopped container
    // failed, and puts it back only once `fail_timeout` (5 s in the file's server lines) has
    // passed since. Before that, with app1 killed, it would have no instance left to try.
    tokio::time::sleep(NGINX_FAIL_TIMEOUT + Duration::from_secs(1)).await;

    // One instance gone: every request still answered, by the other, writes included.
    project.run(&["kill", "app1"]).expect("compose kill app1");
    for i in 0..20 {
        let products = http
            .get(format!("{shop}/api/v1/products"))
            .send()
            .await
            .expect("nginx answers");
        assert_eq!(
            products.status(),
            200,
            "read {i} with app1 killed\n{}",
            logs(&project)
        );
        let registered = http
            .post(format!("{shop}/api/v1/auth/register"))
            .json(&serde_json::json!({
                "email": format!("after-the-kill-{i}@compose.example"),
                "password": ADMIN_PASSWORD,
                "name": "Survivor",
            }))
            .send()
            .await
            .expect("nginx answers");
        assert_eq!(
            registered.status(),
            201,
            "write {i} with app1 killed\n{}",
            logs(&project)
        );
    }
    let ready = http
        .get(format!("{shop}/readyz"))
        .send()
        .await
        .expect("/readyz");
    assert_eq!(ready.status(), 200, "app2 is ready");

    project.down().unwrap_or_else(|e| panic!("{e:#}"));
    let left = project.leftovers().expect("listing the project's objects");
    assert!(left.is_empty(), "down -v left {left:?}");
}

/// Runs one contract suite against `target`; a failure names, before the failing cases, what
/// the instances logged at WARN and above and the data stores' last lines: a 503 from a
/// backing service says which one only there, and a long failure report is read from its top.
async fn run_suite(project: &Project, suite: &'static str, target: &contract::Target) {
    let passed = AssertUnwindSafe(contract::assert_suite_passes(suite, target))
        .catch_unwind()
        .await;
    if let Err(panic) = passed {
        let report = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        panic!(
            "{suite} failed.\nThe instances' warnings and errors:\n{}\nThe data stores' last \
             lines:\n{}\n{report}",
            warnings(project),
            store_logs(project)
        );
    }
}

/// The instances' log lines at WARN and above, the last 40.
fn warnings(project: &Project) -> String {
    project
        .run(&["logs", "--no-color", "app1", "app2"])
        .map(|out| {
            let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|line| line.contains("WARN") || line.contains("ERROR"))
                .map(str::to_owned)
                .collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        })
        .unwrap_or_else(|e| format!("(no logs: {e:#})"))
}

/// The last lines of MongoDB, PostgreSQL (both) and Redis.
fn store_logs(project: &Project) -> String {
    project
        .run(&[
            "logs",
            "--no-color",
            "--tail",
            "8",
            "mongodb",
            "postgres",
            "postgres-replica",
            "redis",
        ])
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_else(|e| format!("(no logs: {e:#})"))
}

fn payment_sim_key() -> &'static str {
    "sk_test_simulator"
}
