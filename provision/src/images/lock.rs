//! The cross-process lock on image builds: a directory that names its owner, taken over
//! when that owner is gone.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::docker;

/// A lock across processes on the image builds (with nextest every test is a process of its
/// own, and three tests needing `stepwise/redis:7` would build it three times): a directory,
/// since creating one is atomic, holding its owner's pid and start time, so a lock left by a
/// process that died is taken over. Two processes taking over the same stale lock at the same
/// moment could both proceed; the cost is a duplicate build, never a broken image
/// (`docker build -t` and `docker tag` replace tags atomically).
pub(super) struct BuildLock {
    path: PathBuf,
}

impl BuildLock {
    const NAME: &'static str = "build.lock";

    /// How old an owner-less lock (its creator died before writing the owner) must be to be
    /// taken over.
    const OWNERLESS_GRACE: Duration = Duration::from_secs(10);

    pub(super) fn acquire(dir: &Path) -> Result<BuildLock> {
        let path = dir.join(Self::NAME);
        let me = docker::Owner::current()?;
        let mut announced = false;
        loop {
            match fs::create_dir(&path) {
                Ok(()) => {
                    fs::write(path.join("owner"), format!("{} {}", me.pid, me.start))
                        .context("writing the image build lock")?;
                    return Ok(BuildLock { path });
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Self::is_stale(&path) {
                        let _ = fs::remove_dir_all(&path);
                        continue;
                    }
                    if !announced {
                        say!(
                            "images: waiting for another process that is building images (lock: \
                             {})",
                            path.display()
                        );
                        announced = true;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
    }

    fn is_stale(path: &Path) -> bool {
        match fs::read_to_string(path.join("owner")) {
            Ok(owner) => {
                let mut fields = owner.split_whitespace().map(str::parse::<u64>);
                match (fields.next(), fields.next()) {
                    (Some(Ok(pid)), Some(Ok(start))) => u32::try_from(pid)
                        .map_or(true, |pid| docker::start_time(pid) != Some(start)),
                    _ => true,
                }
            }
            Err(_) => fs::metadata(path)
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > Self::OWNERLESS_GRACE),
        }
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
