//! What [`super::ensure_local_images`] did with each image, and how that reads in one line
//! ("stepwise/redis:7  built in 21.3 s (was missing), 95 MB").

use std::fmt;
use std::time::Duration;

use super::LocalImage;

/// What [`ensure_local_images`] did with one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageStatus {
    /// Up to date; not rebuilt.
    Cached,
    /// Built now.
    Built { reason: BuildReason, took: Duration },
}

/// Why an image was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildReason {
    Missing,
    /// Its inputs (files, base image) changed since it was built.
    Changed,
    Forced,
}

/// One image's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReport {
    pub image: LocalImage,
    pub status: ImageStatus,
    /// As `docker images` counts it (layers shared with the base included).
    pub size_bytes: u64,
}

impl fmt::Display for ImageReport {
    /// "stepwise/redis:7  built in 21.3 s (missing), 95 MB".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = self.size_bytes as f64 / 1e6;
        match &self.status {
            ImageStatus::Cached => write!(f, "{}  up to date, {size:.0} MB", self.image),
            ImageStatus::Built { reason, took } => write!(
                f,
                "{}  built in {:.1} s ({}), {size:.0} MB",
                self.image,
                took.as_secs_f64(),
                match reason {
                    BuildReason::Missing => "was missing",
                    BuildReason::Changed => "inputs changed",
                    BuildReason::Forced => "forced",
                }
            ),
        }
    }
}
