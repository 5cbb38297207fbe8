//! The precedence rule and its settings, as pure functions: environment URL, then container,
//! then local binaries; `STEPWISE_SERVICES` and `STEPWISE_IMAGES`; what happens when Docker
//! or an image is missing; and which containers the reaper may remove.

use std::collections::HashMap;

use provision::docker::{
    OWNER_HOST_LABEL, OWNER_PID_LABEL, OWNER_START_LABEL, SERVICE_LABEL, is_orphan,
};
use provision::policy::{Fallback, Plan, Probe, fallback, may_pull, plan, use_local_image};
use provision::{ImageFlavor, ServiceKind, ServiceSource, ServicesMode, SourcePolicy};

#[test]
fn a_non_blank_env_url_wins_in_every_mode() {
    for mode in [
        ServicesMode::Auto,
        ServicesMode::Container,
        ServicesMode::Local,
    ] {
        assert_eq!(
            plan(Some(" postgres://db/app\n"), mode),
            Plan::Env("postgres://db/app".into()),
            "{mode:?}"
        );
    }
}

#[test]
fn without_an_env_url_auto_tries_a_container_and_may_fall_back() {
    assert_eq!(
        plan(None, ServicesMode::Auto),
        Plan::Container { required: false }
    );
    assert_eq!(
        plan(Some("   "), ServicesMode::Auto),
        Plan::Container { required: false },
        "a blank URL counts as unset"
    );
}

#[test]
fn container_mode_requires_a_container_and_local_mode_skips_docker() {
    assert_eq!(
        plan(None, ServicesMode::Container),
        Plan::Container { required: true }
    );
    assert_eq!(plan(Some(""), ServicesMode::Local), Plan::Local);
}

#[test]
fn a_ready_image_means_a_container_in_both_modes() {
    for required in [false, true] {
        assert_eq!(
            fallback(
                required,
                ImageFlavor::Official,
                "redis:7",
                &Probe::ImageReady
            ),
            Fallback::Container
        );
    }
}

/// What `auto` mode says when it falls back to local binaries for `probe`; fails the test
/// when it falls back silently or does not fall back.
fn notice(flavor: ImageFlavor, image: &str, probe: &Probe) -> String {
    match fallback(false, flavor, image, probe) {
        Fallback::Local {
            notice: Some(notice),
        } => notice,
        other => panic!("auto mode must fall back with a notice, not {other:?}"),
    }
}

/// Why `container` mode fails for `probe`; fails the test when it does not.
fn failure(flavor: ImageFlavor, image: &str, probe: &Probe) -> String {
    match fallback(true, flavor, image, probe) {
        Fallback::Fail(message) => message,
        other => panic!("container mode must fail, not {other:?}"),
    }
}

#[test]
fn without_docker_auto_falls_back_to_local_binaries_silently() {
    let probe = Probe::NoEngine {
        reason: "connection refused".into(),
    };
    assert_eq!(
        fallback(false, ImageFlavor::Official, "redis:7", &probe),
        Fallback::Local { notice: None }
    );
}

#[test]
fn without_docker_container_mode_fails_saying_what_to_do() {
    let probe = Probe::NoEngine {
        reason: "connection refused".into(),
    };
    let message = failure(ImageFlavor::Official, "redis:7", &probe);
    assert!(message.contains("STEPWISE_SERVICES=container"), "{message}");
    assert!(message.contains("connection refused"), "{message}");
    assert!(message.contains("Start Docker"), "{message}");
    assert!(message.contains("STEPWISE_SERVICES=local"), "{message}");
}

#[test]
fn an_official_image_that_cannot_be_pulled_falls_back_with_one_short_line_on_how_to_build_images() {
    let reason = "lookup registry-1.docker.io: no such host";
    let probe = Probe::ImageMissing {
        reason: reason.into(),
    };
    let notice = notice(ImageFlavor::Official, "postgres:15", &probe);
    assert!(!notice.contains('\n'), "one line: {notice}");
    assert!(
        notice.len() - reason.len() < 110,
        "short: every command prints it: {notice}"
    );
    assert!(notice.contains("postgres:15"), "{notice}");
    assert!(notice.contains("no such host"), "says why: {notice}");
    assert!(notice.contains("cargo xtask images"), "{notice}");
}

#[test]
fn without_a_chosen_flavor_a_built_local_image_stands_in_for_an_official_one_that_cannot_be_had() {
    let missing = Probe::ImageMissing {
        reason: "no such host".into(),
    };
    let ready = Probe::ImageReady;
    assert!(use_local_image(
        false,
        ImageFlavor::Official,
        &missing,
        &ready
    ));
    assert!(
        !use_local_image(false, ImageFlavor::Official, &ready, &ready),
        "the official image wins when it is here"
    );
    assert!(
        !use_local_image(false, ImageFlavor::Official, &missing, &missing),
        "not built: local binaries, with the notice"
    );
    assert!(
        !use_local_image(true, ImageFlavor::Official, &missing, &ready),
        "STEPWISE_IMAGES=official keeps its word"
    );
    let no_engine = Probe::NoEngine {
        reason: "no socket".into(),
    };
    assert!(!use_local_image(
        false,
        ImageFlavor::Official,
        &no_engine,
        &ready
    ));
}

#[test]
fn the_flavor_counts_as_chosen_only_when_stepwise_images_is_set() {
    assert!(!SourcePolicy::from_values(None, None).images_chosen());
    assert!(!SourcePolicy::from_values(Some("auto"), Some(" ")).images_chosen());
    assert!(SourcePolicy::from_values(None, Some("official")).images_chosen());
    assert!(!SourcePolicy::default().images_chosen());
    assert!(SourcePolicy::new(ServicesMode::Auto, ImageFlavor::Official).images_chosen());
}

#[test]
fn a_missing_image_in_container_mode_is_an_error_naming_the_fix_for_each_flavor() {
    let probe = Probe::ImageMissing {
        reason: "no such image".into(),
    };
    let official = failure(ImageFlavor::Official, "postgres:15", &probe);
    assert!(official.contains("docker pull postgres:15"), "{official}");
    assert!(official.contains("cargo xtask images"), "{official}");

    let local = failure(ImageFlavor::Local, "stepwise/postgres:15", &probe);
    assert!(local.contains("stepwise/postgres:15"), "{local}");
    assert!(local.contains("cargo xtask images"), "{local}");
}

#[test]
fn a_missing_local_image_in_auto_mode_falls_back_and_says_to_build_it() {
    let probe = Probe::ImageMissing {
        reason: "no such image".into(),
    };
    let notice = notice(ImageFlavor::Local, "stepwise/redis:7", &probe);
    assert!(notice.contains("stepwise/redis:7"), "{notice}");
    assert!(notice.contains("cargo xtask images"), "{notice}");
}

#[test]
fn only_official_images_are_pulled() {
    assert!(may_pull(ImageFlavor::Official));
    assert!(!may_pull(ImageFlavor::Local), "ours are in no registry");
}

#[test]
fn each_service_has_an_official_and_a_local_image() {
    let expected = [
        (
            ServiceKind::Mongo,
            "mongo:7",
            "stepwise/mongo-standin:local",
        ),
        (ServiceKind::Postgres, "postgres:15", "stepwise/postgres:15"),
        (ServiceKind::Redis, "redis:7", "stepwise/redis:7"),
    ];
    for (kind, official, local) in expected {
        assert_eq!(kind.image(ImageFlavor::Official), official);
        assert_eq!(kind.image(ImageFlavor::Local), local);
    }
    assert_eq!(ServiceKind::Postgres.env_var(), "DATABASE_URL");
    assert_eq!(ServiceKind::Redis.env_var(), "REDIS_URL");
    assert_eq!(ServiceKind::Mongo.env_var(), "MONGODB_URI");
}

#[test]
fn the_settings_default_to_auto_and_official_images() {
    assert_eq!(
        SourcePolicy::from_values(None, None).resolve().unwrap(),
        (ServicesMode::Auto, ImageFlavor::Official)
    );
    assert_eq!(
        SourcePolicy::from_values(Some(""), Some("  "))
            .resolve()
            .unwrap(),
        (ServicesMode::Auto, ImageFlavor::Official),
        "blank values count as unset"
    );
    assert_eq!(
        SourcePolicy::default(),
        SourcePolicy::from_values(None, None)
    );
}

#[test]
fn the_settings_are_read_case_insensitively() {
    assert_eq!(
        SourcePolicy::from_values(Some("Container"), Some("LOCAL"))
            .resolve()
            .unwrap(),
        (ServicesMode::Container, ImageFlavor::Local)
    );
    assert_eq!(
        SourcePolicy::from_values(Some(" local "), Some("official"))
            .resolve()
            .unwrap(),
        (ServicesMode::Local, ImageFlavor::Official)
    );
}

#[test]
fn a_misspelt_setting_is_an_error_when_a_service_starts_not_a_silent_default() {
    let policy = SourcePolicy::from_values(Some("contianer"), None);
    let message = format!("{:#}", policy.resolve().expect_err("a typo"));
    assert!(message.contains("STEPWISE_SERVICES"), "{message}");
    assert!(message.contains("contianer"), "{message}");
    assert!(message.contains("auto, container or local"), "{message}");

    let policy = SourcePolicy::from_values(None, Some("mine"));
    let message = format!("{:#}", policy.resolve().expect_err("a typo"));
    assert!(message.contains("STEPWISE_IMAGES"), "{message}");
    assert!(message.contains("official or local"), "{message}");
}

#[test]
fn a_misspelt_setting_stops_a_service_from_starting() {
    let settings = provision::redis::RedisSettings {
        env_url: None,
        search_path: None,
        policy: SourcePolicy::from_values(Some("dockr"), None),
    };
    let err = provision::RedisServer::start_with(&settings).expect_err("bad setting");
    assert!(format!("{err:#}").contains("STEPWISE_SERVICES"), "{err:#}");
}

#[test]
fn a_container_source_reads_as_its_image() {
    let source = ServiceSource::Container {
        image: "stepwise/redis:7".into(),
        port: 32768,
    };
    assert_eq!(source.to_string(), "container stepwise/redis:7");
    assert!(source.is_container() && source.is_owned() && !source.is_local());
    assert!(!ServiceSource::FromEnv { var: "REDIS_URL" }.is_owned());
}

fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn a_container_whose_owner_process_is_gone_is_an_orphan() {
    let container = labels(&[
        (OWNER_PID_LABEL, "4242"),
        (OWNER_START_LABEL, "1000"),
        (OWNER_HOST_LABEL, "ci-1"),
        (SERVICE_LABEL, "redis"),
    ]);
    assert!(is_orphan(&container, "ci-1", |_| None), "owner gone");
    assert!(
        is_orphan(&container, "ci-1", |_| Some(2000)),
        "the pid now names a younger process"
    );
    assert!(
        !is_orphan(&container, "ci-1", |_| Some(1000)),
        "the owner still runs"
    );
}

#[test]
fn containers_of_other_hosts_or_without_labels_are_never_reaped() {
    let other_host = labels(&[
        (OWNER_PID_LABEL, "4242"),
        (OWNER_START_LABEL, "1000"),
        (OWNER_HOST_LABEL, "laptop"),
    ]);
    assert!(
        !is_orphan(&other_host, "ci-1", |_| None),
        "pids of another host mean nothing here"
    );
    let unlabelled = labels(&[(OWNER_HOST_LABEL, "ci-1")]);
    assert!(!is_orphan(&unlabelled, "ci-1", |_| None));
    let no_start = labels(&[(OWNER_PID_LABEL, "4242"), (OWNER_HOST_LABEL, "ci-1")]);
    assert!(
        !is_orphan(&no_start, "ci-1", |_| Some(5)),
        "without a start time a live pid is trusted"
    );
    assert!(is_orphan(&no_start, "ci-1", |_| None));
}
