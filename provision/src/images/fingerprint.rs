//! The content hash of an image's inputs, stored in its `stepwise.context` label: an image
//! whose label matches is up to date, one whose label differs is rebuilt.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};

use super::base::DEBOOTSTRAP_ARGS;
use super::cli::inspect;
use super::{BASE_TAG, ImageOptions, LocalImage};

/// The fingerprint of an image's inputs: its files (names, contents, executable bits); for
/// the base also the debootstrap arguments, for the others the base image's id.
pub(super) fn fingerprint(
    docker: &Path,
    image: LocalImage,
    options: &ImageOptions,
) -> Result<String> {
    let dir = options.images_dir.join(image.dir());
    let mut hash = Fnv1a::new();
    hash.write(image.tag().as_bytes());
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("reading {} (the image's build files)", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for file in files.iter().filter(|f| f.is_file()) {
        hash.write(file.file_name().unwrap_or_default().as_encoded_bytes());
        let meta = fs::metadata(file)?;
        hash.write(&[u8::from(meta.mode() & 0o111 != 0)]);
        hash.write(&fs::read(file).with_context(|| format!("reading {}", file.display()))?);
    }
    match image {
        LocalImage::Base => {
            for arg in DEBOOTSTRAP_ARGS {
                hash.write(arg.as_bytes());
            }
        }
        _ => {
            let base = inspect(docker, BASE_TAG)?
                .ok_or_else(|| anyhow!("{BASE_TAG} is missing; it is built first"))?;
            hash.write(base.id.as_bytes());
        }
    }
    Ok(format!("{:016x}", hash.finish()))
}

/// FNV-1a, 64 bits: a fingerprint that stays the same across Rust releases (std's hasher
/// may change), without a dependency for it.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // Separates consecutive writes: ("ab", "c") and ("a", "bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
