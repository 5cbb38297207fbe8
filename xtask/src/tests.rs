//! Argument parsing: every command and its options, as a user types them.

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use crate::cmd::services::Action;
use crate::{Cli, Command};

fn parse(args: &[&str]) -> Result<Command, clap::Error> {
    let mut argv = vec!["cargo xtask"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).map(|cli| cli.command)
}

#[test]
fn the_cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn step_takes_a_number_and_passes_everything_after_the_double_dash_to_nextest() {
    let Command::Step(step) = parse(&["step", "0", "--", "-E", "test(=orders::x)"]).unwrap() else {
        panic!("not step")
    };
    assert_eq!(step.number, 0);
    assert_eq!(step.json, None);
    assert_eq!(step.runner_args, ["-E", "test(=orders::x)"]);
}

#[test]
fn step_json_goes_to_stdout_alone_or_to_a_file_with_equals() {
    let json = |args: &[&str]| match parse(args).unwrap() {
        Command::Step(step) => step.json,
        _ => panic!("not step"),
    };
    assert_eq!(json(&["step", "0", "--json"]), Some(PathBuf::from("-")));
    assert_eq!(
        json(&["step", "0", "--json=out/report.json"]),
        Some(PathBuf::from("out/report.json"))
    );
    // `--json` never swallows the step number.
    assert_eq!(json(&["step", "--json", "0"]), Some(PathBuf::from("-")));
}

#[test]
fn step_refuses_a_missing_or_non_numeric_step() {
    assert!(parse(&["step"]).is_err());
    assert!(parse(&["step", "one"]).is_err());
    assert!(parse(&["step", "300"]).is_err());
}

#[test]
fn run_has_default_ports_that_can_be_changed() {
    let Command::Run(run) = parse(&["run", "0"]).unwrap() else {
        panic!("not run")
    };
    assert_eq!((run.port, run.payments_port), (8080, 4242));
    let Command::Run(run) = parse(&["run", "0", "--port", "3000"]).unwrap() else {
        panic!("not run")
    };
    assert_eq!(run.port, 3000);
}

#[test]
fn test_passes_runner_arguments_through() {
    let Command::Test(test) = parse(&["test", "--", "--test-threads", "1"]).unwrap() else {
        panic!("not test")
    };
    assert_eq!(test.runner_args, ["--test-threads", "1"]);
    assert!(parse(&["test", "--bogus"]).is_err());
}

#[test]
fn diff_takes_two_steps() {
    let Command::Diff(diff) = parse(&["diff", "0", "1"]).unwrap() else {
        panic!("not diff")
    };
    assert_eq!((diff.from, diff.to), (0, 1));
    assert!(parse(&["diff", "0"]).is_err());
}

#[test]
fn services_has_up_down_and_status() {
    let action = |args: &[&str]| match parse(args).unwrap() {
        Command::Services(s) => s.action,
        _ => panic!("not services"),
    };
    assert!(matches!(action(&["services", "up"]), Action::Up(up) if up.step.is_none()));
    assert!(matches!(
        action(&["services", "up", "--step", "0"]),
        Action::Up(up) if up.step == Some(0)
    ));
    assert!(matches!(action(&["services", "down"]), Action::Down));
    assert!(matches!(
        action(&["services", "status", "--env"]),
        Action::Status(s) if s.env
    ));
    assert!(parse(&["services"]).is_err());
    assert!(parse(&["services", "restart"]).is_err());
}

#[test]
fn images_can_be_forced_and_limited_to_one() {
    use crate::cmd::images::Only;
    let Command::Images(images) = parse(&["images", "--force", "--only", "postgres"]).unwrap()
    else {
        panic!("not images")
    };
    assert!(images.force);
    assert_eq!(images.only, Some(Only::Postgres));
    assert!(parse(&["images", "--only", "oracle"]).is_err());
}

#[test]
fn sqlx_prepares_or_checks_and_nothing_else() {
    use crate::cmd::sqlx::Action;
    let action = |args: &[&str]| match parse(args).unwrap() {
        Command::Sqlx(sqlx) => sqlx.action,
        _ => panic!("not sqlx"),
    };
    assert_eq!(action(&["sqlx", "prepare"]), Action::Prepare);
    assert_eq!(action(&["sqlx", "check"]), Action::Check);
    assert!(parse(&["sqlx"]).is_err());
    assert!(parse(&["sqlx", "migrate"]).is_err());
}

#[test]
fn doctor_takes_no_arguments() {
    assert!(matches!(parse(&["doctor"]).unwrap(), Command::Doctor(_)));
    assert!(parse(&["doctor", "now"]).is_err());
}

#[test]
fn help_explains_every_command_with_an_example() {
    for help in [
        Cli::command().render_help().to_string(),
        Cli::command().render_long_help().to_string(),
    ] {
        assert!(help.starts_with("Run, validate"), "{help}");
        assert!(help.contains("Usage: cargo xtask <COMMAND>"), "{help}");
        for command in [
            "step", "run", "test", "diff", "services", "doctor", "images", "sqlx",
        ] {
            assert!(
                help.contains(&format!("\n  {command} ")),
                "{command} listed in {help}"
            );
            assert!(
                help.contains(&format!("\n  cargo xtask {command} ")),
                "an example of {command} in {help}"
            );
        }
    }
}

#[test]
fn each_command_help_has_its_own_example() {
    let mut cli = Cli::command();
    for command in [
        "step", "run", "test", "diff", "services", "doctor", "images", "sqlx",
    ] {
        let help = cli
            .find_subcommand_mut(command)
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(help.contains("cargo xtask "), "{command}: {help}");
    }
}

#[test]
fn load_passes_env_pairs_to_the_server_it_starts_and_refuses_them_for_another() {
    let Command::Load(load) = parse(&[
        "load",
        "4",
        "--env",
        "APP__OPTIMIZE__CREATE_INDEXES=false",
        "--env",
        "APP__LOG__FORMAT=",
        "--no-cache",
    ])
    .unwrap() else {
        panic!("not load")
    };
    let env = load.server_env();
    assert!(env.contains(&("APP__OPTIMIZE__CREATE_INDEXES".into(), "false".into())));
    assert!(env.contains(&("APP__LOG__FORMAT".into(), String::new())));
    assert!(env.contains(&("APP__CACHE__ENABLED".into(), "false".into())));
    for bad in ["NO_EQUALS_SIGN", "=value", "TWO WORDS=x"] {
        assert!(parse(&["load", "4", "--env", bad]).is_err(), "{bad}");
    }

    let Command::Load(external) = parse(&[
        "load",
        "4",
        "--base-url",
        "http://127.0.0.1:1",
        "--env",
        "A=b",
    ])
    .unwrap() else {
        panic!("not load")
    };
    let refused = external.target(&[]).err().expect("refused");
    assert!(refused.to_string().contains("--env"), "{refused}");
}

#[test]
fn load_and_profile_pass_their_options_to_loadgen() {
    let Command::Load(load) = parse(&[
        "load",
        "4",
        "--scenario",
        "detail",
        "--rate",
        "800",
        "--duration",
        "30",
        "--release",
        "--out",
        "/tmp/reports",
    ])
    .unwrap() else {
        panic!("not load")
    };
    let args = load.loadgen_args("http://127.0.0.1:9000");
    let value = |flag: &str| {
        let at = args.iter().position(|a| a == flag).expect(flag);
        args[at + 1].as_str()
    };
    assert_eq!(value("--base-url"), "http://127.0.0.1:9000");
    assert_eq!(value("--step"), "4");
    assert_eq!(value("--scenario"), "detail");
    assert_eq!(value("--rate"), "800");
    assert_eq!(value("--duration"), "30");
    assert_eq!(value("--max-in-flight"), "64");
    assert_eq!(value("--server-build"), "release");
    assert_eq!(value("--out"), "/tmp/reports");
    assert!(parse(&["load", "4", "--scenario", "checkout"]).is_err());

    let Command::Profile(profile) = parse(&["profile", "4", "--base-url", "http://x"]).unwrap()
    else {
        panic!("not profile")
    };
    let args = profile.load.loadgen_args("http://x");
    assert!(
        !args.contains(&"--rate".to_owned()),
        "max throughput: {args:?}"
    );
    assert!(args.windows(2).any(|w| w == ["--server-build", "external"]));
}
