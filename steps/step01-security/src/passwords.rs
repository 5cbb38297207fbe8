//! argon2id password hashes (OWASP password storage cheat sheet: m=19456 KiB, t=2, p=1), with
//! step 0's bcrypt hashes still verifying and upgraded on the next successful login.
//!
//! It plugs into step 0 through [`PasswordScheme`]: `Accounts::authenticate` calls
//! [`PasswordScheme::needs_rehash`] after a successful verification, while the plain password
//! is at hand, and stores a fresh argon2id hash. Hashing runs on the blocking pool: 19 MiB and
//! two passes take tens of milliseconds of CPU that must not stall the async workers.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use common::auth::{Bcrypt, PasswordScheme};

use crate::config::PasswordConfig;

#[derive(Clone, Debug)]
pub struct Argon2id {
    params: Params,
    /// Verifies step-0 hashes (`$2b$...`); never used to make new ones.
    legacy: Bcrypt,
}

impl Argon2id {
    pub fn new(config: &PasswordConfig) -> anyhow::Result<Self> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        Ok(Self {
            params,
            // The cost only matters for hashing, which this scheme never does with bcrypt.
            legacy: Bcrypt::new(4),
        })
    }

    fn hasher(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|prefix| hash.starts_with(prefix))
}

#[async_trait::async_trait]
impl PasswordScheme for Argon2id {
    async fn hash(&self, password: String) -> anyhow::Result<String> {
        let hasher = self.hasher();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
                .map_err(|e| anyhow::anyhow!("argon2 salt: {e}"))?;
            hasher
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
        })
        .await?
    }

    /// argon2 hashes are verified with the parameters they carry, so raising the parameters
    /// later does not lock anyone out; bcrypt hashes go to step 0's verifier; anything else
    /// (a Google-only account's placeholder, garbage) is simply "no".
    async fn verify(&self, password: String, hash: String) -> anyhow::Result<bool> {
        if is_bcrypt(&hash) {
            return self.legacy.verify(password, hash).await;
        }
        let hasher = self.hasher();
        Ok(tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    parsed.algorithm == Algorithm::Argon2id.ident()
                        && hasher.verify_password(password.as_bytes(), &parsed).is_ok()
                })
                .unwrap_or(false)
        })
        .await?)
    }

    /// Anything that is not argon2id with at least the configured cost: bcrypt from step 0,
    /// argon2i/argon2d, or argon2id made with weaker parameters before they were raised.
    fn needs_rehash(&self, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return is_bcrypt(hash);
        };
        if parsed.algorithm != Algorithm::Argon2id.ident() {
            return true;
        }
        match Params::try_from(&parsed) {
            Ok(params) => {
                params.m_cost() < self.params.m_cost()
                    || params.t_cost() < self.params.t_cost()
                    || params.p_cost() < self.params.p_cost()
            }
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owasp() -> Argon2id {
        Argon2id::new(&PasswordConfig::default()).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_owasp_parameters() {
        let hash = owasp().hash("correct horse".to_owned()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "got {hash}"
        );
        assert!(
            owasp()
                .verify("correct horse".to_owned(), hash.clone())
                .await
                .unwrap()
        );
        assert!(
            !owasp()
                .verify("wrong horse".to_owned(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!owasp().needs_rehash(&hash));
    }

    #[tokio::test]
    async fn bcrypt_hashes_verify_and_ask_for_an_upgrade() {
        let bcrypt = Bcrypt::new(4).hash("legacy pass".to_owned()).await.unwrap();
        assert!(
            owasp()
                .verify("legacy pass".to_owned(), bcrypt.clone())
                .await
                .unwrap()
        );
        assert!(
            !owasp()
                .verify("other pass".to_owned(), bcrypt.clone())
                .await
                .unwrap()
        );
        assert!(owasp().needs_rehash(&bcrypt));
    }

    #[tokio::test]
    async fn weaker_argon2id_hashes_ask_for_an_upgrade_and_garbage_never_verifies() {
        let weak = Argon2id::new(&PasswordConfig {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let hash = weak.hash("pw-123456".to_owned()).await.unwrap();
        assert!(
            owasp()
                .verify("pw-123456".to_owned(), hash.clone())
                .await
                .unwrap()
        );
        assert!(owasp().needs_rehash(&hash));
        for garbage in ["", "!google-only", "$argon2id$v=19$m=1", "$2b$04$short"] {
            assert!(
                !owasp()
                    .verify("pw".to_owned(), garbage.to_owned())
                    .await
                    .unwrap()
            );
            assert!(!owasp().needs_rehash("!google-only"));
        }
    }
}
