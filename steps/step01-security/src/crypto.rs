//! Field encryption at rest: AES-256-GCM with a fresh random 96-bit nonce per value, the key id
//! stored with every value, and associated data that binds a ciphertext to the document and
//! field it was written for.
//!
//! Why associated data: without it, someone who can write to the database (but has no key)
//! could copy user A's encrypted phone number into user B's document and have the application
//! decrypt it for B. With `AAD = "<collection>/<document id>/<field>"`, the tag check fails
//! anywhere but in the place the value was sealed for.
//!
//! Several keys are loaded at once: new values use the active key; values under an older key
//! still open until `rotate-keys` has re-sealed them (see [`crate::profiles::rotate_keys`]).
//! A production system would keep these keys in a KMS and encrypt data keys with them
//! (envelope encryption); here they come from configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::store::Sealed;

/// What can go wrong opening a value. None of these carries any plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("{place}: sealed with key {kid:?}, which is not loaded")]
    UnknownKey { place: String, kid: String },
    #[error("{place}: the stored value is malformed ({reason})")]
    Malformed { place: String, reason: &'static str },
    /// Wrong key, tampered ciphertext or nonce, or a value moved from another place: GCM
    /// cannot tell these apart, and neither should an attacker.
    #[error("{place}: the value does not authenticate (wrong key, tampered, or moved)")]
    NotAuthentic { place: String },
    #[error("encryption failed")]
    Seal,
}

/// Where a value lives: what its associated data is made of.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub collection: &'a str,
    pub document_id: &'a str,
    pub field: &'a str,
}

impl Place<'_> {
    fn aad(&self) -> String {
        format!("{}/{}/{}", self.collection, self.document_id, self.field)
    }
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.aad())
    }
}

/// The loaded keys and which one seals new values. Cheap to clone.
#[derive(Clone)]
pub struct FieldCipher {
    keys: Arc<BTreeMap<String, Aes256Gcm>>,
    active: String,
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldCipher")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish()
    }
}

impl FieldCipher {
    pub fn new(keys: BTreeMap<String, [u8; 32]>, active: String) -> anyhow::Result<Self> {
        anyhow::ensure!(
            keys.contains_key(&active),
            "the active encryption key {active:?} is not loaded"
        );
        let keys = keys
            .into_iter()
            .map(|(kid, key)| (kid, Aes256Gcm::new(&key.into())))
            .collect();
        Ok(Self {
            keys: Arc::new(keys),
            active,
        })
    }

    pub fn active_kid(&self) -> &str {
        &self.active
    }

    /// Seals `plaintext` for `place` under the active key.
    pub fn seal(&self, place: Place<'_>, plaintext: &[u8]) -> Result<Sealed, CryptoError> {
        let cipher = self.keys.get(&self.active).ok_or(CryptoError::Seal)?;
        // 96 random bits per value: with one key, collisions stay negligible far beyond the
        // number of values this shop will ever write (NIST's limit is 2^32 messages per key).
        let nonce: [u8; 12] = rand::random();
        let aad = place.aad();
        let ct = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        Ok(Sealed {
            kid: self.active.clone(),
            nonce: STANDARD.encode(nonce),
            ct: STANDARD.encode(ct),
        })
    }

    /// Opens a value sealed for `place`, under whichever loaded key it names.
    pub fn open(&self, place: Place<'_>, sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
        let where_ = || place.to_string();
        let cipher = self
            .keys
            .get(&sealed.kid)
            .ok_or_else(|| CryptoError::UnknownKey {
                place: where_(),
                kid: sealed.kid.clone(),
            })?;
        let nonce: [u8; 12] = STANDARD
            .decode(&sealed.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| CryptoError::Malformed {
                place: where_(),
                reason: "the nonce is not 12 bytes of base64",
            })?;
        let ct = STANDARD
            .decode(&sealed.ct)
            .map_err(|_| CryptoError::Malformed {
                place: where_(),
                reason: "the ciphertext is not base64",
            })?;
        let aad = place.aad();
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::NotAuthentic { place: where_() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(keys: &[(&str, u8)], active: &str) -> FieldCipher {
        FieldCipher::new(
            keys.iter()
                .map(|(kid, byte)| ((*kid).to_owned(), [*byte; 32]))
                .collect(),
            active.to_owned(),
        )
        .unwrap()
    }

    const PHONE: Place<'static> = Place {
        collection: "profiles",
        document_id: "65f000000000000000000001",
        field: "phone",
    };

    #[test]
    fn a_sealed_value_opens_in_its_place_and_holds_no_plaintext() {
        let c = cipher(&[("k1", 1)], "k1");
        let sealed = c.seal(PHONE, b"+4915112345678").unwrap();
        assert_eq!(sealed.kid, "k1");
        assert!(!sealed.ct.contains("4915112345678"));
        assert_eq!(c.open(PHONE, &sealed).unwrap(), b"+4915112345678");
        // A fresh nonce every time: the same plaintext never seals the same way twice.
        assert_ne!(c.seal(PHONE, b"+4915112345678").unwrap(), sealed);
    }

    #[test]
    fn a_value_moved_to_another_document_or_field_does_not_open() {
        let c = cipher(&[("k1", 1)], "k1");
        let sealed = c.seal(PHONE, b"secret").unwrap();
        let other_doc = Place {
            document_id: "65f000000000000000000002",
            ..PHONE
        };
        let other_field = Place {
            field: "payment_method",
            ..PHONE
        };
        for place in [other_doc, other_field] {
            assert!(matches!(
                c.open(place, &sealed),
                Err(CryptoError::NotAuthentic { .. })
            ));
        }
    }

    #[test]
    fn tampering_a_wrong_key_and_an_unknown_key_id_are_clear_errors() {
        let c = cipher(&[("k1", 1)], "k1");
        let sealed = c.seal(PHONE, b"secret").unwrap();

        let mut bytes = STANDARD.decode(&sealed.ct).unwrap();
        bytes[0] ^= 1;
        let tampered = Sealed {
            ct: STANDARD.encode(bytes),
            ..sealed.clone()
        };
        assert!(matches!(
            c.open(PHONE, &tampered),
            Err(CryptoError::NotAuthentic { .. })
        ));

        let impostor = cipher(&[("k1", 2)], "k1");
        assert!(matches!(
            impostor.open(PHONE, &sealed),
            Err(CryptoError::NotAuthentic { .. })
        ));

        let unknown = Sealed {
            kid: "k9".to_owned(),
            ..sealed.clone()
        };
        let error = c.open(PHONE, &unknown).unwrap_err();
        assert!(matches!(error, CryptoError::UnknownKey { .. }));
        assert!(error.to_string().contains("k9"));

        for (nonce, ct) in [("AAAA", sealed.ct.as_str()), (sealed.nonce.as_str(), "%%%")] {
            let broken = Sealed {
                nonce: nonce.to_owned(),
                ct: ct.to_owned(),
                ..sealed.clone()
            };
            assert!(matches!(
                c.open(PHONE, &broken),
                Err(CryptoError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn values_under_an_older_key_still_open_after_the_active_key_changes() {
        let old = cipher(&[("k1", 1)], "k1");
        let sealed = old.seal(PHONE, b"kept").unwrap();
        let rotated = cipher(&[("k1", 1), ("k2", 2)], "k2");
        assert_eq!(rotated.open(PHONE, &sealed).unwrap(), b"kept");
        assert_eq!(rotated.seal(PHONE, b"new").unwrap().kid, "k2");
    }
}
