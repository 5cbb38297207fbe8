//! Missing prerequisites are errors that say what is missing and how to get it; and the
//! nx-27017 venv, the one prerequisite the harness builds itself, is built safely.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::thread;

use provision::cache::cache_dir_from;
use provision::mongo::MongoSettings;
use provision::nx27017::{self, NxMissing};
use provision::{MongoServer, SourcePolicy};

#[test]
fn the_missing_python3_message_names_it_and_the_install_command() {
    let message = NxMissing::Python3.to_string();
    assert!(message.contains("`mongod` is not on PATH"), "{message}");
    assert!(message.contains("needs python3"), "{message}");
    assert!(
        message.contains("apt-get install -y python3 python3-venv"),
        "{message}"
    );
    assert!(message.contains("MONGODB_URI="), "{message}");
}

#[test]
fn the_missing_venv_module_message_names_the_package_and_shows_the_failure() {
    let message = NxMissing::VenvModule {
        detail: "ensurepip is not available".into(),
    }
    .to_string();
    assert!(
        message.contains("apt-get install -y python3-venv"),
        "{message}"
    );
    assert!(message.contains("ensurepip is not available"), "{message}");

    let message = NxMissing::PipInstall {
        detail: "No matching distribution".into(),
    }
    .to_string();
    assert!(message.contains("pip install nx-27017"), "{message}");
    assert!(message.contains("No matching distribution"), "{message}");
    assert!(message.contains("PIP_INDEX_URL"), "{message}");
}

#[test]
fn without_mongod_or_python3_starting_mongo_fails_with_the_python3_message() {
    let empty_path = tempfile::tempdir().unwrap();
    let empty_cache = tempfile::tempdir().unwrap();
    let settings = MongoSettings {
        env_uri: None,
        search_path: Some(empty_path.path().into()),
        cache_dir: Some(empty_cache.path().into()),
        policy: SourcePolicy::local(),
    };

    let err = MongoServer::start_with(&settings).expect_err("nothing to start");

    assert_eq!(
        err.downcast_ref::<NxMissing>(),
        Some(&NxMissing::Python3),
        "{err:#}"
    );
}

#[test]
fn without_a_cache_dir_starting_nx_27017_fails_saying_which_variable_to_set() {
    let settings = MongoSettings {
        env_uri: None,
        search_path: Some(OsString::new()),
        cache_dir: None,
        policy: SourcePolicy::local(),
    };
    let err = MongoServer::start_with(&settings).expect_err("no cache dir");
    assert_eq!(err.downcast_ref::<NxMissing>(), Some(&NxMissing::CacheDir));
    assert!(format!("{err}").contains("STEPWISE_CACHE_DIR"));
}

#[test]
fn a_python3_without_the_venv_module_gives_the_python3_venv_message() {
    // What Debian's python3 says without python3-venv.
    let bin = tempfile::tempdir().unwrap();
    let python3 = bin.path().join("python3");
    fs::write(
        &python3,
        "#!/bin/sh\necho 'The virtual environment was not created successfully because \
         ensurepip is not available.' >&2\nexit 1\n",
    )
    .unwrap();
    fs::set_permissions(&python3, fs::Permissions::from_mode(0o755)).unwrap();
    let cache = tempfile::tempdir().unwrap();

    let err =
        nx27017::ensure_venv(cache.path(), Some(bin.path().as_os_str())).expect_err("venv fails");

    let missing = err.downcast_ref::<NxMissing>().expect("an NxMissing");
    assert!(matches!(missing, NxMissing::VenvModule { detail } if detail.contains("ensurepip")));
    assert!(err.to_string().contains("apt-get install -y python3-venv"));
    assert_eq!(
        leftovers(cache.path()),
        Vec::<String>::new(),
        "build dir left behind"
    );
}

#[test]
fn the_cache_dir_follows_stepwise_cache_dir_then_xdg_then_home() {
    let some = |s: &str| Some(OsString::from(s));
    assert_eq!(
        cache_dir_from(some("/c"), some("/x"), some("/h")),
        Some(PathBuf::from("/c"))
    );
    assert_eq!(
        cache_dir_from(None, some("/x"), some("/h")),
        Some(PathBuf::from("/x/stepwise-shop"))
    );
    assert_eq!(
        cache_dir_from(some(""), some("relative"), some("/h")),
        Some(PathBuf::from("/h/.cache/stepwise-shop")),
        "empty and relative values are ignored"
    );
    assert_eq!(cache_dir_from(None, None, None), None);
}

/// Names in `dir`, sorted.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn racing_venv_builds_over_a_broken_cache_leave_one_venv_and_no_temp_dirs() {
    // A stand-in python3 whose `-m venv DIR` is slow enough for the racers to overlap and
    // whose venv python accepts anything (pip install, the import check). The real build,
    // from PyPI, is what every nx-27017 test runs from; this one stays offline and fast.
    let bin = tempfile::tempdir().unwrap();
    let builds = bin.path().join("builds");
    let python3 = bin.path().join("python3");
    fs::write(
        &python3,
        format!(
            "#!/bin/sh\n\
             [ \"$1\" = -m ] && [ \"$2\" = venv ] || exit 2\n\
             echo \"$3\" >> '{builds}'\n\
             mkdir -p \"$3/bin\"\n\
             printf '#!/bin/sh\\nexit 0\\n' > \"$3/bin/python\"\n\
             chmod +x \"$3/bin/python\"\n\
             sleep 0.3\n",
            builds = builds.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&python3, fs::Permissions::from_mode(0o755)).unwrap();
    // A broken leftover: the venv dir exists but was never completed.
    let cache = tempfile::tempdir().unwrap();
    fs::create_dir_all(cache.path().join(nx27017::VENV_DIR).join("bin")).unwrap();

    let pythons: Vec<PathBuf> = thread::scope(|scope| {
        let racers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| nx27017::ensure_venv(cache.path(), Some(bin.path().as_os_str())))
            })
            .collect();
        racers
            .into_iter()
            .map(|racer| racer.join().unwrap().expect("venv"))
            .collect()
    });

    let venv = cache.path().join(nx27017::VENV_DIR);
    assert!(
        pythons
            .iter()
            .all(|p| p == &venv.join("bin").join("python")),
        "{pythons:?}"
    );
    assert_eq!(leftovers(cache.path()), vec![nx27017::VENV_DIR.to_owned()]);
    let mut inside = leftovers(&venv);
    inside.retain(|name| name != "bin");
    assert_eq!(
        inside,
        vec!["stepwise-ready".to_owned()],
        "one complete venv, nothing mixed in"
    );
    let built = fs::read_to_string(&builds).unwrap().lines().count();
    assert!(built >= 1, "no build happened");

    // Once a venv is in place, nobody builds again.
    nx27017::ensure_venv(cache.path(), Some(bin.path().as_os_str())).unwrap();
    assert_eq!(fs::read_to_string(&builds).unwrap().lines().count(), built);
}
