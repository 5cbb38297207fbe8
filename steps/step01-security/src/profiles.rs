//! Customer profiles: phone number, shipping addresses and a stored payment-method reference,
//! the fields a database dump must not give away. Each is sealed with [`FieldCipher`] before
//! it is stored and opened after it is read; nothing else in the application sees ciphertext.
//!
//! Key rotation ([`rotate_keys`], the `rotate-keys` command) re-seals, in batches, every
//! profile not yet under the active key. It is:
//! - *resumable*: progress is the data itself (documents whose `kid` is not the active key),
//!   so a stopped run just starts again;
//! - *safe while serving*: each re-sealed document is written only if its `version` is still
//!   the one read (compare-and-set), so a concurrent profile update is never overwritten with
//!   older values; the update itself was sealed with the active key anyway.

use std::sync::Arc;

use common::domain::UserId;
use common::store::mongo::now;
use serde::{Deserialize, Serialize};

use crate::crypto::{CryptoError, FieldCipher, Place};
use crate::error::Result;
use crate::store::{ProfileStore, Sealed, StoredProfile};

/// A shipping address. Validated at the edge (`routes::profile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
}

/// A profile in the clear, as the owner sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Profile {
    pub phone: Option<String>,
    pub shipping_addresses: Vec<Address>,
    /// The payment provider's reference to a saved card (`pm_...`), never a card number.
    pub payment_method: Option<String>,
}

const COLLECTION: &str = "profiles";

#[derive(Clone)]
pub struct Profiles {
    store: Arc<dyn ProfileStore>,
    cipher: FieldCipher,
}

/// How a rotation run went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RotationReport {
    /// Profiles looked at (not under the active key when read).
    pub scanned: u64,
    pub rotated: u64,
    /// Written by someone else between read and write; picked up by the next run if needed.
    pub skipped: u64,
    /// Did not open (unknown key, tampered): left as they are, and logged by id.
    pub failed: u64,
    /// False when the run stopped at its batch limit with work possibly left.
    pub complete: bool,
}

impl Profiles {
    pub fn new(store: Arc<dyn ProfileStore>, cipher: FieldCipher) -> Self {
        Self { store, cipher }
    }

    pub fn cipher(&self) -> &FieldCipher {
        &self.cipher
    }

    /// The user's profile, opened; empty when they never saved one.
    pub async fn get(&self, user: UserId) -> Result<Profile> {
        match self.store.get(user).await? {
            Some(stored) => Ok(self.open(&stored)?),
            None => Ok(Profile::default()),
        }
    }

    /// Replaces the user's profile, sealed under the active key.
    pub async fn put(&self, user: UserId, profile: Profile) -> Result<Profile> {
        // Compare-and-set in a short loop: two saves of one profile at once both land, in
        // some order, instead of one failing.
        for _ in 0..5 {
            let current = self.store.get(user).await?;
            let expected = current.as_ref().map(|p| p.version);
            let sealed = self.seal(user, &profile, expected.map_or(1, |v| v + 1))?;
            if self.store.put(&sealed, expected).await? {
                return Ok(profile);
            }
        }
        Err(common::Error::conflict(
            "CONCURRENT_UPDATE",
            "the profile is being changed by another request; try again",
        )
        .into())
    }

    fn seal(&self, user: UserId, profile: &Profile, version: i64) -> Result<StoredProfile> {
        let id = user.to_string();
        let seal = |field: &str, plain: Option<Vec<u8>>| -> Result<Option<Sealed>, CryptoError> {
            plain
                .map(|bytes| {
                    self.cipher.seal(
                        Place {
                            collection: COLLECTION,
                            document_id: &id,
                            field,
                        },
                        &bytes,
                    )
                })
                .transpose()
        };
        let addresses = (!profile.shipping_addresses.is_empty())
            .then(|| serde_json::to_vec(&profile.shipping_addresses))
            .transpose()
            .map_err(anyhow::Error::from)?;
        Ok(StoredProfile {
            user_id: user,
            kid: self.cipher.active_kid().to_owned(),
            version,
            phone: seal("phone", profile.phone.clone().map(String::into_bytes))?,
            shipping_addresses: seal("shipping_addresses", addresses)?,
            payment_method: seal(
                "payment_method",
                profile.payment_method.clone().map(String::into_bytes),
            )?,
            updated_at: now(),
        })
    }

    fn open(&self, stored: &StoredProfile) -> Result<Profile, CryptoError> {
        let id = stored.user_id.to_string();
        let open = |field: &'static str, sealed: &Option<Sealed>| {
            let place = Place {
                collection: COLLECTION,
                document_id: &id,
                field,
            };
            sealed
                .as_ref()
                .map(|s| self.cipher.open(place, s))
                .transpose()
        };
        let text = |bytes: Option<Vec<u8>>, field: &'static str| {
            bytes
                .map(|b| {
                    String::from_utf8(b).map_err(|_| CryptoError::Malformed {
                        place: format!("{COLLECTION}/{id}/{field}"),
                        reason: "the plaintext is not UTF-8",
                    })
                })
                .transpose()
        };
        let addresses = match open("shipping_addresses", &stored.shipping_addresses)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| CryptoError::Malformed {
                place: format!("{COLLECTION}/{id}/shipping_addresses"),
                reason: "the plaintext is not a list of addresses",
            })?,
            None => Vec::new(),
        };
        Ok(Profile {
            phone: text(open("phone", &stored.phone)?, "phone")?,
            shipping_addresses: addresses,
            payment_method: text(
                open("payment_method", &stored.payment_method)?,
                "payment_method",
            )?,
        })
    }
}

/// Re-seals every profile not under the active key, `batch_size` at a time, stopping after
/// `max_batches` batches when given (then `complete` is false and a new run continues).
pub async fn rotate_keys(
    profiles: &Profiles,
    batch_size: u32,
    max_batches: Option<u32>,
) -> Result<RotationReport> {
    let active = profiles.cipher.active_kid().to_owned();
    let mut report = RotationReport::default();
    let mut after = None;
    let mut batches = 0;
    loop {
        if max_batches.is_some_and(|max| batches >= max) {
            return Ok(report);
        }
        let batch = profiles
            .store
            .not_sealed_with(&active, after, batch_size.max(1))
            .await?;
        let Some(last) = batch.last() else {
            report.complete = true;
            return Ok(report);
        };
        after = Some(last.user_id);
        batches += 1;
        for stored in batch {
            report.scanned += 1;
            let plain = match profiles.open(&stored) {
                Ok(plain) => plain,
                Err(error) => {
                    tracing::error!(%error, "key rotation: profile left as it is");
                    report.failed += 1;
                    continue;
                }
            };
            let resealed = profiles.seal(stored.user_id, &plain, stored.version + 1)?;
            if profiles.store.put(&resealed, Some(stored.version)).await? {
                report.rotated += 1;
            } else {
                report.skipped += 1;
            }
        }
        tracing::info!(?report, "key rotation: batch done");
    }
}
