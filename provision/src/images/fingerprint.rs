//! The content hash of an image's inputs, stored in its `stepwise.context` label: an image
//! whose label matches is up to date, one whose label differs is rebuilt.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};

use super::base::DEBOOTSTRAP_ARGS;
use super::cli::inspect;
use super::{BASE_TAG, ImageOptions, LocalImage};

/// The fingerprint of an image's inputs: its files (names, contents, executable bits); for
/// the base also the debootstrap arguments, for the others the base image's id. A SHA-256,
/// in hex.
pub(super) fn fingerprint(
    docker: &Path,
    image: LocalImage,
    options: &ImageOptions,
) -> Result<String> {
    let dir = options.images_dir.join(image.dir());
    let mut hash = Fields::default();
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
    Ok(hash.finish())
}

/// SHA-256 over a sequence of fields, each prefixed with its length, so ("ab", "c") and
/// ("a", "bc") differ. Unlike std's hasher it stays the same across Rust releases, so an
/// image built once is not rebuilt because the toolchain changed.
#[derive(Default)]
pub(super) struct Fields(Sha256);

impl Fields {
    pub(super) fn write(&mut self, field: &[u8]) {
        self.0.update((field.len() as u64).to_le_bytes());
        self.0.update(field);
    }

    /// 64 lowercase hex digits.
    pub(super) fn finish(self) -> String {
        format!("{:x}", self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// The base image's fingerprint for a `docker/images/` holding `files` in `base/`
    /// (the base needs no engine: its fingerprint is its files and the debootstrap arguments).
    fn base_fingerprint(files: &[(&str, &str, u32)]) -> String {
        let images = tempfile::tempdir().unwrap();
        let base = images.path().join("base");
        fs::create_dir(&base).unwrap();
        for (name, content, mode) in files {
            let path = base.join(name);
            fs::write(&path, content).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).unwrap();
        }
        let options = ImageOptions {
            images_dir: images.path().to_owned(),
            ..ImageOptions::default()
        };
        fingerprint(Path::new("docker"), LocalImage::Base, &options).unwrap()
    }

    #[test]
    fn the_fingerprint_changes_with_a_files_name_content_or_executable_bit_and_only_then() {
        let original = base_fingerprint(&[("finish-rootfs.sh", "echo slim", 0o644)]);
        assert_eq!(original.len(), 64, "{original}");
        assert!(
            original.chars().all(|c| c.is_ascii_hexdigit()),
            "{original}"
        );
        assert_eq!(
            base_fingerprint(&[("finish-rootfs.sh", "echo slim", 0o644)]),
            original
        );
        for changed in [
            [("finish-rootfs.sh", "echo slimmer", 0o644)],
            [("finish-rootfs.sh", "echo slim", 0o755)],
            [("finish.sh", "echo slim", 0o644)],
        ] {
            assert_ne!(base_fingerprint(&changed), original, "{changed:?}");
        }
    }

    #[test]
    fn moving_bytes_from_one_field_to_the_next_changes_the_hash() {
        let hash = |fields: &[&str]| {
            let mut hash = Fields::default();
            for field in fields {
                hash.write(field.as_bytes());
            }
            hash.finish()
        };
        assert_ne!(hash(&["ab", "c"]), hash(&["a", "bc"]));
        assert_eq!(hash(&["ab", "c"]), hash(&["ab", "c"]));
    }
}
