//! Where the harness keeps what is expensive to rebuild and safe to share between runs
//! (the Python venvs of nx-27017 and schemathesis).
//!
//! `STEPWISE_CACHE_DIR` wins, then the XDG base-directory rule: `$XDG_CACHE_HOME/stepwise-shop`,
//! else `~/.cache/stepwise-shop`.

use std::ffi::OsString;
use std::path::PathBuf;

/// The cache dir from the environment of this process, if one can be decided.
pub fn cache_dir() -> Option<PathBuf> {
    cache_dir_from(
        std::env::var_os("STEPWISE_CACHE_DIR"),
        std::env::var_os("XDG_CACHE_HOME"),
        std::env::var_os("HOME"),
    )
}

/// The rule behind [`cache_dir`], as a pure function of the three variables.
///
/// Empty values count as unset; a relative `XDG_CACHE_HOME` is ignored, as the XDG spec says.
pub fn cache_dir_from(
    stepwise_cache_dir: Option<OsString>,
    xdg_cache_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let set = |value: Option<OsString>| value.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(stepwise_cache_dir) {
        return Some(dir);
    }
    if let Some(xdg) = set(xdg_cache_home).filter(|dir| dir.is_absolute()) {
        return Some(xdg.join("stepwise-shop"));
    }
    set(home).map(|home| home.join(".cache").join("stepwise-shop"))
}
