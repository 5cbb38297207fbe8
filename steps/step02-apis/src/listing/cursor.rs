//! The keyset cursor: an opaque, tamper-evident position in a listing (the sort value and id
//! of the last item seen, bound to its sort key), its wire form (URL-safe base64 with a
//! truncated SHA-256), and the MongoDB filter that means "strictly after this position".

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::domain::{Product, ProductId};
use common::error::{Error, Result};
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};
use sha2::{Digest, Sha256};

use super::query::{ID_TEXT_FIELD, SortKey};

/// An opaque position in a listing: the sort value and id of the last item seen, bound to
/// the sort key it was made for. The wire form is URL-safe base64.
///
/// Tamper-evident, not secret: the payload carries a truncated SHA-256 of itself, so garbage,
/// a truncated copy or a cursor made for another sort is refused with a 400 naming `cursor`.
/// Someone who forges a well-formed cursor only chooses where their own listing starts
/// (every filter still applies), so no key is needed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(String);

/// What a cursor holds.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Position {
    sort: SortKey,
    pub(super) id: ObjectId,
    pub(super) value: SortValue,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum SortValue {
    None,
    Int(i64),
    Text(String),
    /// Kept as its bits, so it round-trips exactly.
    Float(f64),
}

impl SortValue {
    fn to_bson(&self) -> Bson {
        match self {
            SortValue::None => Bson::Null,
            SortValue::Int(v) => Bson::Int64(*v),
            SortValue::Text(v) => Bson::String(v.clone()),
            SortValue::Float(v) => Bson::Double(*v),
        }
    }
}

const CURSOR_VERSION: &str = "c1";
const CHECKSUM_LEN: usize = 8;

fn checksum(payload: &[u8]) -> [u8; CHECKSUM_LEN] {
    let digest = Sha256::new()
        .chain_update(b"stepwise-shop listing cursor\0")
        .chain_update(payload)
        .finalize();
    let mut out = [0; CHECKSUM_LEN];
    out.copy_from_slice(&digest[..CHECKSUM_LEN]);
    out
}

fn invalid_cursor(reason: &str) -> Error {
    Error::InvalidParameter {
        name: "cursor".to_owned(),
        reason: reason.to_owned(),
    }
}

impl Cursor {
    /// The raw text, as clients send it back.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A cursor from a client's text, checked: well formed, untampered, and made for `sort`.
    /// Every failure is 400 `INVALID_PARAMETER` naming `cursor`.
    pub fn parse(raw: &str, sort: SortKey) -> Result<Self> {
        let cursor = Self(raw.to_owned());
        cursor.position(sort)?;
        Ok(cursor)
    }

    fn encode(position: &Position) -> Self {
        let value = match &position.value {
            SortValue::None => String::new(),
            SortValue::Int(v) => v.to_string(),
            SortValue::Text(v) => v.clone(),
            SortValue::Float(v) => format!("{:016x}", v.to_bits()),
        };
        // The value goes last: it is the only part that may contain the separator.
        let payload = format!(
            "{CURSOR_VERSION}\n{}\n{}\n{value}",
            position.sort.as_str(),
            position.id.to_hex()
        );
        let mut bytes = payload.into_bytes();
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub(super) fn position(&self, expected: SortKey) -> Result<Position> {
        let bytes = URL_SAFE_NO_PAD
            .decode(self.0.as_bytes())
            .map_err(|_| invalid_cursor("is not a cursor this API issued"))?;
        if bytes.len() <= CHECKSUM_LEN {
            return Err(invalid_cursor("is not a cursor this API issued"));
        }
        let (payload, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if checksum(payload) != sum {
            return Err(invalid_cursor("is not a cursor this API issued"));
        }
        let payload =
            std::str::from_utf8(payload).map_err(|_| invalid_cursor("is not valid UTF-8"))?;
        let mut parts = payload.splitn(4, '\n');
        let (Some(CURSOR_VERSION), Some(sort), Some(id), Some(value)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid_cursor("has an unknown format"));
        };
        let sort = SortKey::parse(sort).ok_or_else(|| invalid_cursor("names an unknown sort"))?;
        if sort != expected {
            return Err(invalid_cursor(&format!(
                "was made for sort `{}`, not `{}`: start again without a cursor",
                sort.as_str(),
                expected.as_str()
            )));
        }
        let id = ObjectId::parse_str(id).map_err(|_| invalid_cursor("holds a malformed id"))?;
        let bad_value = |_| invalid_cursor("holds a malformed value");
        let value = match sort {
            SortKey::Oldest | SortKey::Newest => SortValue::None,
            SortKey::PriceAsc | SortKey::PriceDesc => {
                SortValue::Int(value.parse().map_err(bad_value)?)
            }
            SortKey::NameAsc => SortValue::Text(value.to_owned()),
            SortKey::RatingDesc => SortValue::Float(f64::from_bits(
                u64::from_str_radix(value, 16).map_err(bad_value)?,
            )),
        };
        Ok(Position { sort, id, value })
    }

    /// The cursor that points just after `product` in a listing sorted by `sort`.
    pub fn after(product: &Product, sort: SortKey) -> Self {
        Self::encode(&Position {
            sort,
            id: product.id.object_id(),
            value: sort.value_of(product),
        })
    }

    /// The id of the product the cursor points after, whatever its sort.
    pub fn product_id(&self, sort: SortKey) -> Result<ProductId> {
        Ok(ProductId::from_object_id(self.position(sort)?.id))
    }
}

impl Position {
    /// The keyset of the `-rating` sort over a stored average `field` (step 4): present only
    /// on rated products (an average is at least 1), missing on unrated ones, which sort last
    /// (a descending sort puts a missing field after every number) as their 0 does in the
    /// computed sort. Comparisons never match a missing field, hence its own branch.
    pub(super) fn stored_rating_keyset(&self, field: &str) -> Document {
        let id = Bson::ObjectId(self.id);
        match self.value {
            SortValue::Float(value) if value > 0.0 => doc! { "$or": [
                { field: { "$lt": value } },
                { field: value, "_id": { "$gt": id } },
                { field: Bson::Null },
            ] },
            _ => doc! { field: Bson::Null, "_id": { "$gt": id } },
        }
    }

    /// "Strictly after this position" in the sort's order, as a filter.
    pub(super) fn keyset(&self) -> Document {
        let id_op = if self.sort.id_descends() {
            "$lt"
        } else {
            "$gt"
        };
        let (id_field, id) = if self.sort == SortKey::RatingDesc {
            (ID_TEXT_FIELD, Bson::String(self.id.to_hex()))
        } else {
            ("_id", Bson::ObjectId(self.id))
        };
        match self.sort.field() {
            None => doc! { id_field: { id_op: id } },
            Some((field, descends)) => {
                let op = if descends { "$lt" } else { "$gt" };
                let value = self.value.to_bson();
                doc! { "$or": [
                    { field: { op: value.clone() } },
                    { field: value, id_field: { id_op: id } },
                ] }
            }
        }
    }
}
