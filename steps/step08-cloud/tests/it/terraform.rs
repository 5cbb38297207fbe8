//! The Terraform in `deploy/terraform/aws`, checked as far as this machine allows: Terraform
//! itself is not installed here and nothing can reach AWS, so `terraform validate`, `plan` and
//! `apply` were never run. What runs instead: every `.tf`, `.tfvars` and `.tfbackend` file
//! parses with HashiCorp's own HCL library (PyPI's pygohcl binds it), and each variable's
//! `validation` conditions are evaluated by that library against both environments' values;
//! checkov's Terraform checks (offline) find nothing with either environment's values beyond
//! the skips written beside their resources, each with its reason and each still needed; and
//! the project's own rules hold: typed, described variables that the tfvars files set and do
//! not misspell, everything encryptable encrypted and TLS forced, no IAM wildcard, an app role
//! that can do what the app does and nothing else, outputs for every configuration key the
//! app reads, and a prod that is highly available and protected. Each rule is also shown to
//! refuse a broken copy, so none of them passes by reading nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Value, json};
use testkit::services::hcl::{self, Kind, Validation, Verdict};
use testkit::services::kube_tools;

/// The environments, each with `environments/<name>.tfvars` and `.s3.tfbackend`.
const ENVIRONMENTS: [&str; 2] = ["dev", "prod"];

// ---------------------------------------------------------------------------------------
// The tests on the real configuration.

#[test]
fn every_terraform_file_parses_with_hashicorps_hcl_parser() {
    let mut parsed = BTreeMap::new();
    for (path, kind) in terraform_files() {
        let result = hcl::parse_file(pygohcl(), &path, kind).unwrap_or_else(|e| panic!("{e:#}"));
        parsed.insert(relative(&path), result);
    }
    let refused: Vec<String> = parsed
        .iter()
        .filter_map(|(path, result)| result.as_ref().err().map(|e| format!("{path}: {e}")))
        .collect();
    assert_clean("deploy/terraform", &refused);
    let count = |suffix: &str| parsed.keys().filter(|p| p.ends_with(suffix)).count();
    assert!(
        count(".tf") >= 10,
        "only {} .tf files: {parsed:?}",
        count(".tf")
    );
    assert_eq!(count(".tfvars"), ENVIRONMENTS.len(), "{:?}", parsed.keys());
    assert_eq!(
        count(".tfbackend"),
        ENVIRONMENTS.len(),
        "{:?}",
        parsed.keys()
    );
}

#[test]
fn checkov_finds_nothing_with_either_environments_values_beyond_the_justified_skips() {
    let aws = terraform_dir();
    let mut listed = BTreeSet::new();
    for environment in ENVIRONMENTS {
        let report = checkov_report(&aws, environment, &[]);
        assert_clean(environment, &checkov_problems(&report));
        let skips = skipped_checks(&report);
        assert!(
            !skips.is_empty(),
            "{environment}: nothing skipped: is the report read?"
        );
        let unexplained: Vec<String> = skips
            .iter()
            .filter(|skip| skip.reason.split_whitespace().count() < 6)
            .map(|skip| {
                format!(
                    "{} on {} is skipped without a reason",
                    skip.id, skip.resource
                )
            })
            .collect();
        assert_clean(environment, &unexplained);
        listed.extend(
            skips
                .into_iter()
                .map(|s| format!("{} on {}: {}", s.id, s.resource, s.reason)),
        );
    }
    // The skips and their reasons, for whoever runs this with --no-capture.
    println!("checkov skips, each with its reason:");
    for skip in listed {
        println!("  {skip}");
    }
}

#[test]
fn every_skipped_checkov_check_still_fails_on_its_resource_without_the_skip() {
    let aws = terraform_dir();
    let skipped: BTreeSet<(String, String)> = ENVIRONMENTS
        .iter()
        .flat_map(|environment| skipped_checks(&checkov_report(&aws, environment, &[])))
        .map(|skip| (skip.id, skip.resource))
        .collect();
    assert!(!skipped.is_empty());
    let copy = EditedCopy::of(&aws, |text| {
        text.lines()
            .filter(|line| !line.trim_start().starts_with("#checkov:skip="))
            .map(|line| format!("{line}\n"))
            .collect()
    });
    let ids: BTreeSet<&str> = skipped.iter().map(|(id, _)| id.as_str()).collect();
    let only = ids.into_iter().collect::<Vec<_>>().join(",");
    let failing: BTreeSet<(String, String)> = ENVIRONMENTS
        .iter()
        .flat_map(|environment| {
            failed_checks(&checkov_report(
                copy.path(),
                environment,
                &["--check".as_ref(), only.as_ref()],
            ))
        })
        .map(|(id, _, resource)| (id, resource))
        .collect();
    let stale: Vec<String> = skipped
        .difference(&failing)
        .map(|(id, resource)| {
            format!("{id} is skipped on {resource}, which no environment fails: remove the skip")
        })
        .collect();
    assert_clean("deploy/terraform/aws", &stale);
}

#[test]
fn every_variable_is_typed_and_described_and_the_tfvars_set_exactly_what_they_must() {
    let terraform = Terraform::load();
    assert!(
        terraform.config["variable"]
            .as_object()
            .is_some_and(|v| v.len() > 20)
    );
    assert_clean(
        "variables",
        &variable_problems(&terraform.config, &terraform.tfvars),
    );
}

#[test]
fn every_validation_holds_for_both_environments_and_the_defaults() {
    let terraform = Terraform::load();
    let (problems, evaluated) = validation_problems(&terraform.config, &terraform.tfvars);
    assert_clean("validations", &problems);
    // Every variable but the booleans is validated, in both environments.
    assert!(
        evaluated >= 2 * 20,
        "only {evaluated} validations evaluated"
    );
}

#[test]
fn everything_that_can_be_encrypted_is_and_every_data_store_forces_tls() {
    let terraform = Terraform::load();
    assert_clean("encryption", &encryption_problems(&terraform.config));
}

#[test]
fn no_iam_policy_allows_a_wildcard_action_or_resource_or_is_written_where_it_is_not_checked() {
    let terraform = Terraform::load();
    assert_clean("iam", &iam_problems(&terraform.config));
}

#[test]
fn the_apps_role_may_do_exactly_what_the_app_does_and_only_its_service_account_may_assume_it() {
    let terraform = Terraform::load();
    assert_clean("app role", &app_role_problems(&terraform.config));
}

#[test]
fn the_outputs_and_the_secret_give_every_configuration_key_the_app_reads_on_aws() {
    let terraform = Terraform::load();
    assert_clean("outputs", &output_problems(&terraform.config));
}

#[test]
fn prod_is_highly_available_protected_private_and_inside_the_range_its_network_policy_allows() {
    let terraform = Terraform::load();
    assert_clean("prod", &prod_problems(&terraform.tfvars["prod"]));
}

// ---------------------------------------------------------------------------------------
// Each rule refuses a broken copy.

#[test]
fn a_file_hcl_cannot_parse_is_refused_naming_the_file_and_line() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let broken = dir.path().join("broken.tf");
    std::fs::write(
        &broken,
        "resource \"aws_s3_bucket\" \"images\" {\n  bucket = \n}\n",
    )
    .expect("writing the broken file");
    let refused = hcl::parse_file(pygohcl(), &broken, Kind::Config)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .expect_err("a missing expression parses");
    assert!(
        refused.contains("broken.tf") || refused.contains(":2,"),
        "the diagnostic names neither the file nor the line: {refused}"
    );

    // A tfvars file holds attributes only: a block there is refused too.
    let tfvars = dir.path().join("broken.tfvars");
    std::fs::write(&tfvars, "environment = \"dev\"\nvariable \"x\" {}\n").expect("writing");
    let refused =
        hcl::parse_file(pygohcl(), &tfvars, Kind::Attributes).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        refused.is_err(),
        "a block in a tfvars file parses: {refused:?}"
    );
}

#[test]
fn checkov_refuses_an_unencrypted_database_in_an_otherwise_unchanged_configuration() {
    let copy = EditedCopy::of(&terraform_dir(), |text| {
        text.replacen(
            "storage_encrypted     = true",
            "storage_encrypted     = false",
            1,
        )
    });
    let rds = std::fs::read_to_string(copy.path().join("rds.tf")).expect("rds.tf");
    assert!(
        rds.contains("storage_encrypted     = false"),
        "the copy was not changed"
    );
    let problems = checkov_problems(&checkov_report(copy.path(), "prod", &[]));
    // CKV_AWS_16: "Ensure all data stored in the RDS is securely encrypted at rest".
    assert_refused(&problems, "CKV_AWS_16");
    assert_refused(&problems, "aws_db_instance.primary");
}

#[test]
fn a_misspelt_or_unset_variable_an_undescribed_one_and_bad_node_sizes_are_refused() {
    let terraform = Terraform::load();
    let mut config = terraform.config.clone();
    config["variable"]["region"]
        .as_object_mut()
        .unwrap()
        .remove("description");
    let mut tfvars = terraform.tfvars.clone();
    let dev = tfvars.get_mut("dev").unwrap().as_object_mut().unwrap();
    dev.insert("postgres_multiaz".into(), json!(true));
    dev.remove("docdb_instances");
    dev.insert("node_min_size".into(), json!(5));
    let problems = variable_problems(&config, &tfvars);
    assert_refused(&problems, "variable region has no description");
    assert_refused(
        &problems,
        "dev.tfvars sets postgres_multiaz, which no variable declares",
    );
    assert_refused(&problems, "dev.tfvars does not set docdb_instances");
    assert_refused(&problems, "dev: node_min_size 5 > node_desired_size 2");
}

#[test]
fn a_value_its_validation_refuses_and_a_condition_hcl_cannot_evaluate_are_refused() {
    let terraform = Terraform::load();
    let mut tfvars = terraform.tfvars.clone();
    let prod = tfvars.get_mut("prod").unwrap();
    prod["environment"] = json!("staging");
    prod["vpc_cidr"] = json!("192.168.0.0/16");
    prod["eks_public_access_cidrs"] = json!(["0.0.0.0/0"]);
    prod["az_count"] = json!(4);
    let mut config = terraform.config.clone();
    config["variable"]["node_max_size"]["validation"]["condition"] =
        json!("length(var.node_max_size) > 0");
    let (problems, _) = validation_problems(&config, &tfvars);
    assert_refused(
        &problems,
        "prod: environment = \"staging\": The environment must be",
    );
    assert_refused(
        &problems,
        "prod: vpc_cidr = \"192.168.0.0/16\": The VPC CIDR must be",
    );
    assert_refused(&problems, "prod: eks_public_access_cidrs = [\"0.0.0.0/0\"]");
    assert_refused(&problems, "prod: az_count = 4: The subnets span 2 or 3");
    assert_refused(&problems, "node_max_size's condition cannot be evaluated");
}

#[test]
fn an_unencrypted_store_a_bucket_open_to_the_public_and_a_database_without_forced_tls_are_refused()
{
    let terraform = Terraform::load();
    let mut config = terraform.config.clone();
    let resources = &mut config["resource"];
    resources["aws_db_instance"]["replica"]["storage_encrypted"] = json!(false);
    resources["aws_elasticache_replication_group"]["redis"]
        .as_object_mut()
        .unwrap()
        .remove("auth_token");
    resources["aws_s3_bucket_public_access_block"]["images"]["block_public_policy"] = json!(false);
    resources["aws_db_parameter_group"]["postgres"]["parameter"][0]["value"] = json!("0");
    resources["aws_docdb_cluster_parameter_group"]["main"]["parameter"][0]["value"] =
        json!("disabled");
    resources["aws_sqs_queue"] = json!({ "orders": { "name": "orders" } });
    let problems = encryption_problems(&config);
    assert_refused(
        &problems,
        "aws_db_instance.replica: storage_encrypted must be true",
    );
    assert_refused(
        &problems,
        "aws_elasticache_replication_group.redis: auth_token is not set",
    );
    assert_refused(
        &problems,
        "aws_s3_bucket.images: block_public_policy is not true",
    );
    assert_refused(
        &problems,
        "aws_db_instance.primary: its parameter group does not set rds.force_ssl = 1",
    );
    assert_refused(
        &problems,
        "aws_docdb_cluster.main: its cluster parameter group does not set tls",
    );
    assert_refused(&problems, "aws_sqs_queue.orders can be encrypted");
}

#[test]
fn a_wildcard_a_policy_written_inline_and_a_long_lived_user_are_refused() {
    let terraform = Terraform::load();
    let mut config = terraform.config.clone();
    config["data"]["aws_iam_policy_document"]["app"]["statement"][0]["actions"] = json!(["s3:*"]);
    config["data"]["aws_iam_policy_document"]["app"]["statement"][1]["resources"] = json!(["*"]);
    config["resource"]["aws_iam_role_policy"]["app"]["policy"] =
        json!("${jsonencode({Statement = []})}");
    config["resource"]["aws_iam_user"] = json!({ "ci": { "name": "ci" } });
    let problems = iam_problems(&config);
    assert_refused(
        &problems,
        "data.aws_iam_policy_document.app allows the action s3:*",
    );
    assert_refused(
        &problems,
        "data.aws_iam_policy_document.app allows secretsmanager:GetSecretValue on *",
    );
    assert_refused(
        &problems,
        "aws_iam_role_policy.app's policy is not an aws_iam_policy_document",
    );
    assert_refused(&problems, "aws_iam_user.ci");
}

#[test]
fn an_app_role_that_lists_the_bucket_or_trusts_another_service_account_is_refused() {
    let terraform = Terraform::load();
    let mut config = terraform.config.clone();
    let app = &mut config["data"]["aws_iam_policy_document"]["app"]["statement"];
    app[0]["actions"] = json!([
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject"
    ]);
    app[1]["resources"] = json!(["${aws_secretsmanager_secret.redis_auth.arn}"]);
    config["data"]["aws_iam_policy_document"]["app_trust"]["statement"]["condition"][0]["values"] =
        json!(["system:serviceaccount:${var.k8s_namespace}:default"]);
    config["variable"]["k8s_service_account"]["default"] = json!("payments");
    let problems = app_role_problems(&config);
    assert_refused(&problems, "s3:ListBucket");
    assert_refused(&problems, "aws_secretsmanager_secret.redis_auth.arn");
    assert_refused(
        &problems,
        "may be assumed by system:serviceaccount:${var.k8s_namespace}:default",
    );
    assert_refused(&problems, "k8s_service_account defaults to payments");
}

#[test]
fn a_missing_configuration_key_a_plain_redis_url_and_a_secret_in_an_output_are_refused() {
    let terraform = Terraform::load();
    let mut config = terraform.config.clone();
    config["locals"]["app_settings"]
        .as_object_mut()
        .unwrap()
        .remove("storage.bucket");
    config["locals"]["app_secret"]["redis.url"] =
        json!("redis://${aws_elasticache_replication_group.redis.primary_endpoint_address}:6379");
    config["output"]["leak"] = json!({
        "description": "the database password",
        "value": "random_password.postgres.result",
    });
    let problems = output_problems(&config);
    assert_refused(&problems, "app_settings lacks storage.bucket");
    assert_refused(&problems, "redis.url must be rediss://");
    assert_refused(&problems, "output leak gives away random_password.postgres");
}

#[test]
fn a_prod_without_a_standby_or_with_a_public_api_or_another_range_is_refused() {
    let terraform = Terraform::load();
    let mut prod = terraform.tfvars["prod"].clone();
    prod["postgres_multi_az"] = json!(false);
    prod["redis_replicas"] = json!(0);
    prod["eks_public_access_cidrs"] = json!(["203.0.113.0/24"]);
    prod["vpc_cidr"] = json!("10.21.0.0/16");
    let problems = prod_problems(&prod);
    assert_refused(&problems, "postgres_multi_az must be true");
    assert_refused(&problems, "redis_replicas must be at least 1");
    assert_refused(&problems, "eks_public_access_cidrs must be empty");
    assert_refused(&problems, "vpc_cidr 10.21.0.0/16 is not the 10.20.0.0/16");
}

#[test]
fn every_key_the_outputs_and_the_secret_set_is_one_step_8s_configuration_reads() {
    let terraform = Terraform::load();
    assert_clean(
        "configuration keys",
        &config_key_problems(&terraform.config),
    );
}

#[test]
fn the_managed_settings_in_the_outputs_are_the_aws_profiles_own() {
    let terraform = Terraform::load();
    assert_clean("the aws profile", &profile_problems(&terraform.config));
}

#[test]
fn a_key_step_8_does_not_read_and_a_setting_the_profile_contradicts_are_refused() {
    let terraform = Terraform::load();
    let mut config = terraform.config.clone();
    let settings = config["locals"]["app_settings"].as_object_mut().unwrap();
    settings.insert("managed.postgres.ca_file".into(), json!("/etc/ca.pem"));
    let problems = config_key_problems(&config);
    assert_refused(&problems, "ca_file");
    let mut config = terraform.config.clone();
    config["locals"]["app_secret"]
        .as_object_mut()
        .unwrap()
        .insert("replica_url".into(), json!("postgres://x"));
    assert_refused(
        &config_key_problems(&config),
        "replica_url is not a key step 8's configuration reads",
    );
    let mut config = terraform.config.clone();
    config["variable"]["ca_bundle_path"]["default"] = json!("/etc/ssl/rds.pem");
    assert_refused(
        &profile_problems(&config),
        "managed.postgres.ca_bundle: the aws profile says",
    );
}

// ---------------------------------------------------------------------------------------
// The files.

fn root() -> PathBuf {
    testkit::cargo::workspace_root()
}

fn terraform_dir() -> PathBuf {
    root().join("deploy/terraform/aws")
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every HCL file under deploy/terraform, with how it is read.
fn terraform_files() -> Vec<(PathBuf, Kind)> {
    fn walk(dir: &Path, found: &mut Vec<(PathBuf, Kind)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().and_then(OsStr::to_str).unwrap_or_default();
            if path.is_dir() {
                // Terraform's own cache, if someone ran `terraform init` here.
                if name != ".terraform" {
                    walk(&path, found);
                }
            } else if name.ends_with(".tf") {
                found.push((path, Kind::Config));
            } else if name.ends_with(".tfvars") || name.ends_with(".tfbackend") {
                found.push((path, Kind::Attributes));
            }
        }
    }
    let mut found = Vec::new();
    walk(&root().join("deploy/terraform"), &mut found);
    found
}

/// pygohcl's venv python: built once per machine, found once per test process.
fn pygohcl() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| hcl::ensure().unwrap_or_else(|error| panic!("{error:#}")))
}

fn checkov_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| kube_tools::ensure_checkov().unwrap_or_else(|error| panic!("{error:#}")))
}

/// The configuration of `aws/` as one JSON document (every .tf file's blocks merged, as
/// Terraform reads a directory), and each environment's tfvars.
struct Terraform {
    config: Value,
    tfvars: BTreeMap<String, Value>,
}

impl Terraform {
    fn load() -> Terraform {
        let mut config = json!({});
        let mut duplicates = Vec::new();
        for (path, kind) in terraform_files() {
            if kind != Kind::Config || !path.starts_with(terraform_dir()) {
                continue;
            }
            let file = parse(&path, kind);
            for (block, body) in file.as_object().into_iter().flatten() {
                merge(&mut config[block], body, block, &mut duplicates);
            }
        }
        assert_clean("deploy/terraform/aws (defined twice)", &duplicates);
        let tfvars = ENVIRONMENTS
            .iter()
            .map(|environment| {
                let path = terraform_dir().join(format!("environments/{environment}.tfvars"));
                (environment.to_string(), parse(&path, Kind::Attributes))
            })
            .collect();
        Terraform { config, tfvars }
    }
}

fn parse(path: &Path, kind: Kind) -> Value {
    hcl::parse_file(pygohcl(), path, kind)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .unwrap_or_else(|refused| panic!("{}: {refused}", relative(path)))
}

/// Merges one file's top-level block into the configuration's: `resource` and `data` two
/// levels deep (type, name), `variable` and `output` one, `locals` by name; `terraform` and
/// `provider` whole. A name defined twice is a duplicate, as Terraform says.
fn merge(into: &mut Value, body: &Value, block: &str, duplicates: &mut Vec<String>) {
    if into.is_null() {
        *into = json!({});
    }
    let depth = match block {
        "resource" | "data" => 2,
        "variable" | "output" | "locals" | "module" => 1,
        _ => 0,
    };
    // `locals` blocks repeat: a list of objects when a file has several.
    for body in each(body) {
        merge_at(into, body, depth, block, duplicates);
    }
}

fn merge_at(into: &mut Value, body: &Value, depth: usize, at: &str, duplicates: &mut Vec<String>) {
    for (key, value) in body.as_object().into_iter().flatten() {
        let here = format!("{at}.{key}");
        match into.get_mut(key) {
            Some(existing) if depth > 1 => merge_at(existing, value, depth - 1, &here, duplicates),
            Some(_) => duplicates.push(here),
            None => {
                into[key] = value.clone();
            }
        }
    }
}

/// A block that may appear once (an object) or several times (a list of objects).
fn each(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// The resources of one type, by name.
fn resources<'a>(config: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    config["resource"][kind]
        .as_object()
        .into_iter()
        .flatten()
        .collect()
}

/// A copy of a Terraform directory (environments included) whose files went through `edit`,
/// removed when dropped.
struct EditedCopy {
    dir: tempfile::TempDir,
}

impl EditedCopy {
    fn of(source: &Path, edit: impl Fn(&str) -> String) -> EditedCopy {
        fn copy(from: &Path, to: &Path, edit: &dyn Fn(&str) -> String) {
            std::fs::create_dir_all(to).expect("creating the copy");
            for entry in std::fs::read_dir(from).expect("reading the configuration") {
                let path = entry.expect("an entry").path();
                let target = to.join(path.file_name().expect("a file name"));
                if path.is_dir() {
                    copy(&path, &target, edit);
                } else {
                    let text = std::fs::read_to_string(&path).expect("a text file");
                    std::fs::write(&target, edit(&text)).expect("writing the copy");
                }
            }
        }
        let dir = tempfile::tempdir().expect("a temp dir");
        copy(source, dir.path(), &edit);
        EditedCopy { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn assert_clean(what: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

fn assert_refused(problems: &[String], expected: &str) {
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "no problem mentions {expected:?}; found:\n  {}",
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------
// Rule: checkov.

/// checkov's JSON report on the directory `dir` with the values of `environment`, offline.
fn checkov_report(dir: &Path, environment: &str, options: &[&OsStr]) -> Value {
    let config = root().join("deploy/terraform/.checkov.yaml");
    let mut command = kube_tools::checkov(checkov_python());
    command
        .arg("--config-file")
        .arg(&config)
        .args(options)
        .args([
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
        ])
        .arg("--directory")
        .arg(dir)
        .arg("--var-file")
        .arg(dir.join(format!("environments/{environment}.tfvars")));
    kube_tools::checkov_report(&mut command).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The reports of one run: one object, or a list of them (one per framework).
fn reports(report: &Value) -> Vec<&Value> {
    each(report)
}

/// Every failed check: id, name, resource.
fn failed_checks(report: &Value) -> Vec<(String, String, String)> {
    reports(report)
        .into_iter()
        .flat_map(|r| each(&r["results"]["failed_checks"]))
        .map(|check| {
            let text = |field: &str| check[field].as_str().unwrap_or_default().to_owned();
            (text("check_id"), text("check_name"), text("resource"))
        })
        .collect()
}

/// A check skipped by a `#checkov:skip=ID:reason` comment on its resource.
struct Skip {
    id: String,
    resource: String,
    reason: String,
}

fn skipped_checks(report: &Value) -> Vec<Skip> {
    reports(report)
        .into_iter()
        .flat_map(|r| each(&r["results"]["skipped_checks"]))
        .map(|check| Skip {
            id: check["check_id"].as_str().unwrap_or_default().to_owned(),
            resource: check["resource"].as_str().unwrap_or_default().to_owned(),
            reason: check["check_result"]["suppress_comment"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
        .collect()
}

/// What checkov found: failed checks and files it could not parse. A report that saw few
/// resources is a problem too (a scan of nothing passes everything).
fn checkov_problems(report: &Value) -> Vec<String> {
    let mut problems: Vec<String> = failed_checks(report)
        .into_iter()
        .map(|(id, name, resource)| format!("{id} ({name}) fails on {resource}"))
        .collect();
    let mut resources = 0;
    for r in reports(report) {
        resources += r["summary"]["resource_count"].as_i64().unwrap_or(0);
        for file in each(&r["results"]["parsing_errors"]) {
            problems.push(format!("checkov could not parse {file}"));
        }
    }
    if resources < 50 {
        problems.push(format!(
            "checkov scanned only {resources} resources: {report}"
        ));
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Rule: variables and the tfvars files.

fn variables(config: &Value) -> Vec<(&String, &Value)> {
    config["variable"]
        .as_object()
        .into_iter()
        .flatten()
        .collect()
}

/// Every variable has a type and a description (a sentence, not a word); each tfvars file
/// sets only declared variables, every variable without a default, and its own environment's
/// name; the node group's sizes are ordered (a rule across variables, which Terraform 1.6's
/// validations cannot state).
fn variable_problems(config: &Value, tfvars: &BTreeMap<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    let declared: BTreeSet<&str> = variables(config).iter().map(|(n, _)| n.as_str()).collect();
    for (name, variable) in variables(config) {
        if variable["type"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("variable {name} has no type"));
        }
        let description = variable["description"].as_str().unwrap_or_default();
        if description.split_whitespace().count() < 4 {
            problems.push(format!("variable {name} has no description (a sentence)"));
        }
    }
    for (environment, values) in tfvars {
        let file = format!("{environment}.tfvars");
        let values = values.as_object().expect("a tfvars file is an object");
        for key in values.keys() {
            if !declared.contains(key.as_str()) {
                problems.push(format!("{file} sets {key}, which no variable declares"));
            }
        }
        for (name, variable) in variables(config) {
            if variable.get("default").is_none() && !values.contains_key(name) {
                problems.push(format!("{file} does not set {name}, which has no default"));
            }
        }
        if values.get("environment") != Some(&json!(environment)) {
            problems.push(format!(
                "{file} does not set environment = \"{environment}\""
            ));
        }
        let size = |key: &str| values.get(key).and_then(Value::as_i64).unwrap_or_default();
        let (min, desired, max) = (
            size("node_min_size"),
            size("node_desired_size"),
            size("node_max_size"),
        );
        if min > desired {
            problems.push(format!(
                "{environment}: node_min_size {min} > node_desired_size {desired}"
            ));
        }
        if desired > max {
            problems.push(format!(
                "{environment}: node_desired_size {desired} > node_max_size {max}"
            ));
        }
    }
    problems
}

/// Evaluates every validation of every variable, with HCL's library, against each
/// environment's value (the default where the tfvars file sets none). A condition the
/// library cannot evaluate is a problem too: it would go unchecked here. Returns the problems
/// and how many validations were evaluated.
fn validation_problems(config: &Value, tfvars: &BTreeMap<String, Value>) -> (Vec<String>, usize) {
    let mut requests = Vec::new();
    let mut labels = Vec::new();
    for (environment, values) in tfvars {
        for (name, variable) in variables(config) {
            let Some(value) = values.get(name.as_str()).or(variable.get("default")) else {
                continue;
            };
            for validation in each(&variable["validation"]) {
                requests.push(Validation {
                    condition: validation["condition"].as_str().unwrap_or_default(),
                    error_message: validation["error_message"].as_str().unwrap_or_default(),
                    variable: name,
                    value: value.to_string(),
                });
                labels.push(format!("{environment}: {name} = {value}"));
            }
        }
    }
    let verdicts = hcl::evaluate(pygohcl(), &requests).unwrap_or_else(|e| panic!("{e:#}"));
    let mut problems = Vec::new();
    for ((verdict, label), request) in verdicts.iter().zip(&labels).zip(&requests) {
        match verdict {
            Verdict::Holds => {}
            Verdict::Fails(message) => problems.push(format!("{label}: {message}")),
            Verdict::Unknown(why) => problems.push(format!(
                "{label}: {}'s condition cannot be evaluated by HCL's library ({why}); use the \
                 functions it has (contains, regex, can, min, max, ...)",
                request.variable
            )),
        }
    }
    (problems, requests.len())
}

// ---------------------------------------------------------------------------------------
// Rule: encryption and TLS.

/// Resource types that hold data and can be encrypted but have no rule below: adding one
/// means adding its rule.
const ENCRYPTABLE_WITHOUT_RULE: &[&str] = &[
    "aws_backup_vault",
    "aws_dynamodb_table",
    "aws_ebs_volume",
    "aws_ecr_repository",
    "aws_efs_file_system",
    "aws_elasticache_cluster",
    "aws_elasticache_serverless_cache",
    "aws_instance",
    "aws_kinesis_stream",
    "aws_msk_cluster",
    "aws_opensearch_domain",
    "aws_rds_cluster",
    "aws_redshift_cluster",
    "aws_sns_topic",
    "aws_sqs_queue",
];

/// Whether `value` refers to a customer-managed key of this configuration.
fn is_own_key(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|v| v.trim_start_matches("${").starts_with("aws_kms_key."))
}

/// The name `reference` (`aws_db_parameter_group.postgres.name`) points at, if it points at
/// a resource of type `kind`.
fn referenced<'a>(reference: &'a Value, kind: &str) -> Option<&'a str> {
    let reference = reference.as_str()?.trim_start_matches("${");
    let rest = reference.strip_prefix(kind)?.strip_prefix('.')?;
    rest.split(['.', '[', '}']).next()
}

/// At rest: every store, secret, log group, node volume and the EKS secrets with a key of
/// this configuration, keys rotated; in transit: PostgreSQL's parameter group forces TLS,
/// DocumentDB's requires it, Redis requires it and an AUTH token; the images bucket has SSE-KMS,
/// versioning, a lifecycle and every public access blocked.
fn encryption_problems(config: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut need = |ok: bool, problem: String| {
        if !ok {
            problems.push(problem);
        }
    };
    for (name, db) in resources(config, "aws_db_instance") {
        let at = format!("aws_db_instance.{name}");
        need(
            db["storage_encrypted"] == json!(true),
            format!("{at}: storage_encrypted must be true"),
        );
        need(
            is_own_key(&db["kms_key_id"]),
            format!("{at}: kms_key_id is not a key of this configuration"),
        );
        let forced = referenced(&db["parameter_group_name"], "aws_db_parameter_group")
            .map(|group| &config["resource"]["aws_db_parameter_group"][group])
            .is_some_and(|group| {
                each(&group["parameter"])
                    .iter()
                    .any(|p| p["name"] == "rds.force_ssl" && p["value"] == "1")
            });
        need(
            forced,
            format!("{at}: its parameter group does not set rds.force_ssl = 1"),
        );
        need(
            db["publicly_accessible"] == json!(false),
            format!("{at}: publicly_accessible must be false"),
        );
    }
    for (name, cluster) in resources(config, "aws_docdb_cluster") {
        let at = format!("aws_docdb_cluster.{name}");
        need(
            cluster["storage_encrypted"] == json!(true),
            format!("{at}: storage_encrypted must be true"),
        );
        need(
            is_own_key(&cluster["kms_key_id"]),
            format!("{at}: kms_key_id is not a key of this configuration"),
        );
        let tls = referenced(
            &cluster["db_cluster_parameter_group_name"],
            "aws_docdb_cluster_parameter_group",
        )
        .map(|group| &config["resource"]["aws_docdb_cluster_parameter_group"][group])
        .is_some_and(|group| {
            each(&group["parameter"])
                .iter()
                .any(|p| p["name"] == "tls" && p["value"].as_str().is_some_and(|v| v != "disabled"))
        });
        need(
            tls,
            format!("{at}: its cluster parameter group does not set tls (enabled)"),
        );
    }
    for (name, redis) in resources(config, "aws_elasticache_replication_group") {
        let at = format!("aws_elasticache_replication_group.{name}");
        need(
            redis["at_rest_encryption_enabled"] == json!(true),
            format!("{at}: at_rest_encryption_enabled must be true"),
        );
        need(
            redis["transit_encryption_enabled"] == json!(true),
            format!("{at}: transit_encryption_enabled must be true"),
        );
        need(
            is_own_key(&redis["kms_key_id"]),
            format!("{at}: kms_key_id is not a key of this configuration"),
        );
        need(
            redis["auth_token"]
                .as_str()
                .is_some_and(|t| t.contains("aws_secretsmanager_secret_version.")),
            format!("{at}: auth_token is not set from a Secrets Manager secret"),
        );
    }
    for kind in ["aws_secretsmanager_secret", "aws_cloudwatch_log_group"] {
        for (name, resource) in resources(config, kind) {
            need(
                is_own_key(&resource["kms_key_id"]),
                format!("{kind}.{name}: kms_key_id is not a key of this configuration"),
            );
        }
    }
    for (name, key) in resources(config, "aws_kms_key") {
        need(
            key["enable_key_rotation"] == json!(true),
            format!("aws_kms_key.{name}: enable_key_rotation must be true"),
        );
    }
    for (name, cluster) in resources(config, "aws_eks_cluster") {
        let secrets = each(&cluster["encryption_config"]).iter().any(|c| {
            each(&c["resources"]).contains(&&json!("secrets"))
                && is_own_key(&c["provider"]["key_arn"])
        });
        need(
            secrets,
            format!(
                "aws_eks_cluster.{name}: Kubernetes secrets are not encrypted with a key of this \
                 configuration"
            ),
        );
    }
    for (name, template) in resources(config, "aws_launch_template") {
        let volumes = each(&template["block_device_mappings"]);
        need(
            !volumes.is_empty() && volumes.iter().all(|v| v["ebs"]["encrypted"] == json!(true)),
            format!("aws_launch_template.{name}: every volume must be encrypted"),
        );
    }
    for (name, _) in resources(config, "aws_s3_bucket") {
        let at = format!("aws_s3_bucket.{name}");
        let of_bucket = |kind: &str| -> Vec<&Value> {
            resources(config, kind)
                .into_iter()
                .filter(|(_, r)| referenced(&r["bucket"], "aws_s3_bucket") == Some(name.as_str()))
                .map(|(_, r)| r)
                .collect()
        };
        let sse = of_bucket("aws_s3_bucket_server_side_encryption_configuration");
        need(
            sse.iter().any(|c| {
                let default = &c["rule"]["apply_server_side_encryption_by_default"];
                default["sse_algorithm"] == "aws:kms" && is_own_key(&default["kms_master_key_id"])
            }),
            format!("{at}: no SSE-KMS with a key of this configuration"),
        );
        let blocks = of_bucket("aws_s3_bucket_public_access_block");
        for setting in [
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        ] {
            need(
                blocks.iter().any(|b| b[setting] == json!(true)),
                format!("{at}: {setting} is not true"),
            );
        }
        need(
            of_bucket("aws_s3_bucket_versioning")
                .iter()
                .any(|v| v["versioning_configuration"]["status"] == "Enabled"),
            format!("{at}: versioning is not enabled"),
        );
        need(
            !of_bucket("aws_s3_bucket_lifecycle_configuration").is_empty(),
            format!("{at}: no lifecycle configuration"),
        );
    }
    for kind in ENCRYPTABLE_WITHOUT_RULE {
        for (name, _) in resources(config, kind) {
            need(
                false,
                format!(
                    "{kind}.{name} can be encrypted, and this test has no rule for it yet: add one"
                ),
            );
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Rule: IAM.

/// Every statement that allows: no action with a wildcard, no `*` resource, no
/// `not_actions`/`not_resources` (an allow of everything but). Every policy of a role is an
/// `aws_iam_policy_document` (inline JSON would escape this rule; key policies are the KMS
/// keys' own and name the key as `*`). No IAM user, so no long-lived access key.
fn iam_problems(config: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let documents = config["data"]["aws_iam_policy_document"].as_object();
    for (name, document) in documents.into_iter().flatten() {
        let at = format!("data.aws_iam_policy_document.{name}");
        for statement in each(&document["statement"]) {
            if statement["effect"] == "Deny" {
                continue;
            }
            for action in each(&statement["actions"]) {
                if action.as_str().is_none_or(|a| a.contains('*')) {
                    problems.push(format!(
                        "{at} allows the action {}",
                        action.as_str().unwrap_or("?")
                    ));
                }
            }
            for resource in each(&statement["resources"]) {
                if resource == "*" {
                    let actions: Vec<&str> = each(&statement["actions"])
                        .iter()
                        .filter_map(|a| a.as_str())
                        .collect();
                    problems.push(format!("{at} allows {} on *", actions.join(", ")));
                }
            }
            for negated in ["not_actions", "not_resources"] {
                if !statement[negated].is_null() {
                    problems.push(format!("{at} allows with {negated}"));
                }
            }
        }
    }
    for kind in ["aws_iam_role_policy", "aws_iam_policy"] {
        for (name, policy) in resources(config, kind) {
            if referenced(&policy["policy"], "data.aws_iam_policy_document").is_none() {
                problems.push(format!(
                    "{kind}.{name}'s policy is not an aws_iam_policy_document, so it is not checked"
                ));
            }
        }
    }
    for kind in ["aws_iam_user", "aws_iam_access_key"] {
        for (name, _) in resources(config, kind) {
            problems.push(format!(
                "{kind}.{name}: no IAM users or access keys; roles only"
            ));
        }
    }
    problems
}

/// The shop's role: exactly the statements the app needs (objects under the images prefix,
/// its secret, the app key through S3 and Secrets Manager), attached to the role that only
/// the shop's service account may assume, whose defaults are step 7's namespace and service
/// account.
fn app_role_problems(config: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let expected: BTreeSet<(Vec<&str>, Vec<&str>)> = [
        (
            vec!["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            vec!["${aws_s3_bucket.images.arn}/${var.images_prefix}*"],
        ),
        (
            vec!["secretsmanager:GetSecretValue"],
            vec!["aws_secretsmanager_secret.app.arn"],
        ),
        (vec!["kms:Decrypt"], vec!["aws_kms_key.app.arn"]),
        (vec!["kms:GenerateDataKey"], vec!["aws_kms_key.app.arn"]),
    ]
    .into_iter()
    .collect();
    let strings = |value: &Value| -> Vec<String> {
        let mut items: Vec<String> = each(value)
            .iter()
            .filter_map(|v| v.as_str())
            .map(|v| v.to_owned())
            .collect();
        items.sort();
        items
    };
    let app = &config["data"]["aws_iam_policy_document"]["app"];
    let found: BTreeSet<(Vec<String>, Vec<String>)> = each(&app["statement"])
        .iter()
        .map(|s| (strings(&s["actions"]), strings(&s["resources"])))
        .collect();
    let expected: BTreeSet<(Vec<String>, Vec<String>)> = expected
        .into_iter()
        .map(|(a, r)| {
            let owned = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
            (owned(a), owned(r))
        })
        .collect();
    for extra in found.difference(&expected) {
        problems.push(format!(
            "the app's role allows {:?} on {:?}, which the app does not need",
            extra.0, extra.1
        ));
    }
    for missing in expected.difference(&found) {
        problems.push(format!(
            "the app's role lacks {:?} on {:?}",
            missing.0, missing.1
        ));
    }
    for statement in each(&app["statement"]) {
        let kms = strings(&statement["actions"])
            .iter()
            .any(|a| a.starts_with("kms:"));
        let via = each(&statement["condition"])
            .iter()
            .any(|c| c["variable"] == "kms:ViaService");
        if kms && !via {
            problems.push(
                "the app's key may be used outside S3 and Secrets Manager (no kms:ViaService)"
                    .to_owned(),
            );
        }
    }
    if referenced(
        &config["resource"]["aws_iam_role_policy"]["app"]["role"],
        "aws_iam_role",
    ) != Some("app")
        || referenced(
            &config["resource"]["aws_iam_role_policy"]["app"]["policy"],
            "data.aws_iam_policy_document",
        ) != Some("app")
    {
        problems.push(
            "aws_iam_role_policy.app does not attach data.aws_iam_policy_document.app to \
             aws_iam_role.app"
                .to_owned(),
        );
    }
    let trust = &config["data"]["aws_iam_policy_document"]["app_trust"];
    let subjects: Vec<String> = each(&trust["statement"])
        .iter()
        .flat_map(|s| each(&s["condition"]))
        .filter(|c| {
            c["test"] == "StringEquals"
                && c["variable"].as_str().is_some_and(|v| v.ends_with(":sub"))
        })
        .flat_map(|c| strings(&c["values"]))
        .collect();
    let own = "system:serviceaccount:${var.k8s_namespace}:${var.k8s_service_account}";
    for subject in &subjects {
        if subject != own {
            problems.push(format!("the app's role may be assumed by {subject}"));
        }
    }
    if subjects.is_empty() {
        problems
            .push("the app's role names no service account: any pod could assume it".to_owned());
    }
    let k8s = |path: &str, key: &str| -> String {
        let text =
            std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines()
            .find_map(|line| line.trim().strip_prefix(key))
            .unwrap_or_else(|| panic!("{path} has no {key}"))
            .trim()
            .to_owned()
    };
    for (variable, value) in [
        (
            "k8s_namespace",
            k8s("k8s/overlays/prod/kustomization.yaml", "namespace:"),
        ),
        (
            "k8s_service_account",
            k8s("k8s/base/app/serviceaccount.yaml", "name:"),
        ),
    ] {
        let default = config["variable"][variable]["default"]
            .as_str()
            .unwrap_or_default();
        if default != value {
            problems.push(format!(
                "{variable} defaults to {default}, but step 7's manifests name {value}"
            ));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Rule: what the app's configuration gets.

/// The non-secret configuration keys the outputs give the app, with the values (as JSON) that
/// are the same in every environment (None: the environment's own).
const APP_SETTINGS: &[(&str, Option<&str>)] = &[
    ("cloud.profile", Some("\"aws\"")),
    ("managed.postgres.tls", Some("\"verify-full\"")),
    ("managed.postgres.ca_bundle", None),
    ("managed.redis.tls", Some("true")),
    ("managed.mongodb.flavour", Some("\"documentdb\"")),
    ("managed.mongodb.ca_bundle", None),
    ("storage.backend", Some("\"s3\"")),
    ("storage.bucket", None),
    ("storage.region", None),
    ("secrets.aws_secret_id", None),
    ("secrets.aws_region", None),
];

/// The secret configuration keys the app's secret holds.
const APP_SECRET_KEYS: &[&str] = &[
    "auth.jwt_secret",
    "mongodb.uri",
    "postgres.url",
    "redis.url",
    "replica.url",
    "security.encryption.keys.k1",
];

/// The outputs give every non-secret key (`app_settings`) and the secret holds every secret
/// one, TLS where it matters (rediss://, no `sslmode` weaker than the managed setting); every
/// output is described and none gives away a generated secret.
fn output_problems(config: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let settings = config["locals"]["app_settings"].as_object();
    for (key, value) in APP_SETTINGS {
        match settings.and_then(|s| s.get(*key)) {
            None => problems.push(format!("app_settings lacks {key}")),
            Some(found) => {
                if let Some(value) = value
                    && *found
                        != serde_json::from_str::<Value>(value).expect("APP_SETTINGS holds JSON")
                {
                    problems.push(format!("app_settings sets {key} = {found}, not {value}"));
                }
            }
        }
    }
    for key in settings.into_iter().flatten().map(|(k, _)| k) {
        if !APP_SETTINGS.iter().any(|(known, _)| known == key) {
            problems.push(format!(
                "app_settings sets {key}, which the app's AWS profile does not read"
            ));
        }
    }
    if config["output"]["app_settings"]["value"] != "local.app_settings" {
        problems.push("output app_settings is not local.app_settings".to_owned());
    }
    let secret = config["locals"]["app_secret"].as_object();
    for key in APP_SECRET_KEYS {
        if secret.is_none_or(|s| !s.contains_key(*key)) {
            problems.push(format!("the app's secret lacks {key}"));
        }
    }
    let url = |key: &str| {
        config["locals"]["app_secret"][key]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    if !url("redis.url").starts_with("rediss://") {
        problems.push(format!(
            "redis.url must be rediss:// (TLS), not {}",
            url("redis.url")
        ));
    }
    for key in ["postgres.url", "replica.url", "mongodb.uri"] {
        let value = url(key);
        if value.contains("sslmode=disable")
            || value.contains("tls=false")
            || value.contains("ssl=false")
        {
            problems.push(format!("{key} turns TLS off: {value}"));
        }
    }
    let version = &config["resource"]["aws_secretsmanager_secret_version"]["app"];
    if !version["secret_string"]
        .as_str()
        .is_some_and(|s| s.contains("jsonencode(local.app_secret)"))
    {
        problems.push(
            "aws_secretsmanager_secret_version.app does not store local.app_secret".to_owned(),
        );
    }
    for (name, output) in config["output"].as_object().into_iter().flatten() {
        if output["description"]
            .as_str()
            .is_none_or(|d| d.split_whitespace().count() < 3)
        {
            problems.push(format!("output {name} has no description"));
        }
        let value = output["value"].to_string();
        for secret in [
            "random_password.",
            "random_bytes.",
            "local.app_secret",
            "secret_string",
        ] {
            if value.contains(secret) {
                let what: String = value
                    .split(secret)
                    .nth(1)
                    .unwrap_or_default()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                problems.push(format!("output {name} gives away {secret}{what}"));
            }
        }
    }
    problems
}

/// A value of the outputs or the secret as the app would get it: a variable's default, or a
/// stand-in of the right shape where Terraform computes it at apply time.
fn resolve(config: &Value, key: &str, value: &Value) -> Value {
    let Some(text) = value.as_str() else {
        return value.clone();
    };
    if let Some(variable) = text.strip_prefix("var.") {
        return config["variable"][variable]["default"].clone();
    }
    let computed = text.contains("${")
        || text
            .split('.')
            .next()
            .is_some_and(|first| first.starts_with("aws_") || first.starts_with("random_"));
    if !computed {
        return value.clone();
    }
    json!(match key {
        "postgres.url" | "replica.url" => "postgres://shop:password@db.example.com:5432/shop",
        "redis.url" => "rediss://:token@redis.example.com:6379",
        "mongodb.uri" => "mongodb://shop:password@docdb.example.com:27017/?replicaSet=rs0",
        "auth.jwt_secret" => "a-jwt-secret-of-sixty-four-characters-made-up-for-this-test-only",
        "security.encryption.keys.k1" => "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        _ => "computed-at-apply",
    })
}

/// Every key of `app_settings` and of the app's secret, with its value resolved.
fn app_keys(config: &Value) -> BTreeMap<String, Value> {
    ["app_settings", "app_secret"]
        .iter()
        .flat_map(|local| config["locals"][*local].as_object().into_iter().flatten())
        .map(|(key, value)| (key.clone(), resolve(config, key, value)))
        .collect()
}

/// Dotted keys (`managed.postgres.tls`) as nested objects, the way the configuration layers
/// read a secret's keys.
fn nest(flat: &BTreeMap<String, Value>) -> Value {
    let mut nested = json!({});
    for (key, value) in flat {
        let mut at = &mut nested;
        for part in key.split('.') {
            at = &mut at[part];
        }
        *at = value.clone();
    }
    nested
}

/// Step 8's real configuration type takes every key the outputs and the secret set (its
/// sections refuse unknown keys), and each lands at its own path: a key no section declares
/// would otherwise be dropped without a word by the flattened top level.
fn config_key_problems(config: &Value) -> Vec<String> {
    let keys = app_keys(config);
    let figment = figment::Figment::from(figment::providers::Serialized::defaults(nest(&keys)));
    let extracted: step08_cloud::config::Config = match figment.extract() {
        Ok(extracted) => extracted,
        Err(error) => {
            return vec![format!(
                "step 8's configuration refuses these keys: {error}"
            )];
        }
    };
    let read = serde_json::to_value(&extracted).expect("the configuration serializes");
    let mut problems = Vec::new();
    for key in keys.keys() {
        let mut at = &read;
        for part in key.split('.') {
            // A secret map is serialized as one redacted string: its own keys are not shown.
            if at == common::config::REDACTED {
                break;
            }
            at = &at[part];
        }
        if at.is_null() {
            problems.push(format!("{key} is not a key step 8's configuration reads"));
        }
    }
    problems
}

/// Each setting of step 8's `aws` profile has the same value in `app_settings`.
fn profile_problems(config: &Value) -> Vec<String> {
    fn flatten(prefix: &str, value: &Value, into: &mut BTreeMap<String, Value>) {
        match value.as_object() {
            Some(table) => {
                for (key, value) in table {
                    let key = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    flatten(&key, value, into);
                }
            }
            None => {
                into.insert(prefix.to_owned(), value.clone());
            }
        }
    }
    let path = root().join("steps/step08-cloud/profiles/aws.toml");
    let text = std::fs::read_to_string(&path).expect("steps/step08-cloud/profiles/aws.toml");
    let profile: toml::Value = toml::from_str(&text).expect("the aws profile is TOML");
    let mut settings = BTreeMap::new();
    flatten(
        "",
        &serde_json::to_value(profile).expect("TOML as JSON"),
        &mut settings,
    );
    assert!(!settings.is_empty(), "the aws profile sets nothing");
    let ours = app_keys(config);
    let mut problems = Vec::new();
    for (key, value) in settings {
        match ours.get(&key) {
            Some(found) if *found == value => {}
            found => problems.push(format!(
                "{key}: the aws profile says {value}, the outputs {}",
                found.map_or("nothing".to_owned(), Value::to_string)
            )),
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Rule: prod.

/// What the checkov skips on availability and protection rely on: prod sets them. Its VPC
/// is the range step 7's prod NetworkPolicy lets the shop reach the data stores in.
fn prod_problems(prod: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut need = |ok: bool, problem: &str| {
        if !ok {
            problems.push(problem.to_owned());
        }
    };
    need(
        prod["postgres_multi_az"] == json!(true),
        "postgres_multi_az must be true",
    );
    need(
        prod["redis_replicas"].as_i64().unwrap_or(0) >= 1,
        "redis_replicas must be at least 1",
    );
    need(
        prod["docdb_instances"].as_i64().unwrap_or(0) >= 2,
        "docdb_instances must be at least 2",
    );
    need(prod["az_count"] == json!(3), "az_count must be 3");
    need(
        prod["single_nat_gateway"] == json!(false),
        "single_nat_gateway must be false",
    );
    need(
        prod["deletion_protection"] == json!(true),
        "deletion_protection must be true",
    );
    need(
        prod["eks_public_access_cidrs"] == json!([]),
        "eks_public_access_cidrs must be empty (a private API endpoint)",
    );
    // Step 7's prod overlay: at least three shop replicas, spread over the zones.
    need(
        prod["node_min_size"].as_i64().unwrap_or(0) >= 3,
        "node_min_size must be at least 3",
    );
    let policy = std::fs::read_to_string(root().join("k8s/overlays/prod/network-policies.yaml"))
        .expect("k8s/overlays/prod/network-policies.yaml");
    // The first ipBlock is the shop's way to the managed data stores.
    let allowed = policy
        .lines()
        .find_map(|line| line.trim().strip_prefix("cidr:"))
        .map(str::trim)
        .unwrap_or_default();
    let vpc = prod["vpc_cidr"].as_str().unwrap_or_default();
    if vpc != allowed {
        problems.push(format!(
            "vpc_cidr {vpc} is not the {allowed} that k8s/overlays/prod/network-policies.yaml \
             lets the shop reach the data stores in"
        ));
    }
    problems
}
