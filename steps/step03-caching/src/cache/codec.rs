//! What a cache entry holds, byte for byte: a versioned JSON envelope around wire types of the
//! cache's own, converted to and from the domain types through their parsers.
//!
//! Why not serialise the domain types directly: they are not `Serialize` (on purpose: their
//! shape is the database's and the API's business, not the cache's), and a cached value must
//! outlive the code that wrote it. Two guards keep a new deploy from misreading an old entry:
//! the key carries the format (`v1:`), so a new format reads other keys, and the envelope
//! carries it too (`"v":1`), so an entry that reached a key by any other route is refused and
//! treated as a miss. Decoding also re-checks every value (SKU, currency, rating) as the
//! database store does: a corrupt entry is a miss, never a bad answer.

use common::domain::{
    Currency, Money, Page, Paged, Product, ProductId, Rating, Review, ReviewId, Sku, UserId,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use step02_apis::listing::{Cursor, ListingQuery, ProductPage, Window};
use time::OffsetDateTime;

/// The format of every entry; bump it (and the key's `v1:`) when any wire type changes.
pub const FORMAT: u32 = 1;

/// The envelope: the format, until when the entry is fresh (Unix ms), and the value.
#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    fresh_until_ms: u64,
    data: T,
}

/// A decoded entry.
pub struct Decoded<T> {
    pub fresh_until_ms: u64,
    pub value: T,
}

pub fn encode<T: Serialize>(value: &T, fresh_until_ms: u64) -> Vec<u8> {
    serde_json::to_vec(&Envelope {
        v: FORMAT,
        fresh_until_ms,
        data: value,
    })
    .expect("cache wire types always serialise")
}

/// `None` for anything but a well-formed entry of this format.
///
/// One pass over the bytes: an entry of another format either fails to parse as this one's
/// envelope or parses with another `v`, and both are refused. (Reading `v` first in a pass of
/// its own cost a second parse of every hit; step 4's flamegraph of cached reads showed it.)
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<Decoded<T>> {
    let envelope: Envelope<T> = serde_json::from_slice(bytes).ok()?;
    if envelope.v != FORMAT {
        return None;
    }
    Some(Decoded {
        fresh_until_ms: envelope.fresh_until_ms,
        value: envelope.data,
    })
}

/// A value the cache can hold: its wire form and the way back, which may refuse.
pub trait Cacheable: Sized {
    type Wire: Serialize + DeserializeOwned;
    fn to_wire(&self) -> Self::Wire;
    fn from_wire(wire: Self::Wire) -> Option<Self>;
}

/// Seconds and nanoseconds since the epoch: exact, and independent of any text format.
#[derive(Serialize, Deserialize)]
pub struct WireTime(i64, u32);

impl WireTime {
    fn of(t: OffsetDateTime) -> Self {
        Self(t.unix_timestamp(), t.nanosecond())
    }
    fn back(&self) -> Option<OffsetDateTime> {
        let t = OffsetDateTime::from_unix_timestamp(self.0).ok()?;
        t.replace_nanosecond(self.1).ok()
    }
}

#[derive(Serialize, Deserialize)]
pub struct WireProduct {
    id: String,
    sku: String,
    name: String,
    description: String,
    price_minor: i64,
    currency: String,
    stock: i64,
    category: String,
    tags: Vec<String>,
    rating_sum: i64,
    rating_count: i64,
    created_at: WireTime,
    updated_at: WireTime,
}

impl Cacheable for Product {
    type Wire = WireProduct;

    fn to_wire(&self) -> WireProduct {
        WireProduct {
            id: self.id.to_string(),
            sku: self.sku.as_str().to_owned(),
            name: self.name.clone(),
            description: self.description.clone(),
            price_minor: self.price.minor,
            currency: self.price.currency.as_str().to_owned(),
            stock: self.stock,
            category: self.category.clone(),
            tags: self.tags.clone(),
            rating_sum: self.rating_sum,
            rating_count: self.rating_count,
            created_at: WireTime::of(self.created_at),
            updated_at: WireTime::of(self.updated_at),
        }
    }

    fn from_wire(w: WireProduct) -> Option<Self> {
        Some(Product {
            id: w.id.parse::<ProductId>().ok()?,
            sku: Sku::parse(&w.sku).ok()?,
            name: w.name,
            description: w.description,
            price: Money::price(w.price_minor, Currency::parse(&w.currency).ok()?).ok()?,
            stock: w.stock,
            category: w.category,
            tags: w.tags,
            rating_sum: w.rating_sum,
            rating_count: w.rating_count,
            created_at: w.created_at.back()?,
            updated_at: w.updated_at.back()?,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub struct WireReview {
    id: String,
    product_id: String,
    user_id: String,
    author_name: String,
    rating: u8,
    comment: String,
    created_at: WireTime,
}

impl Cacheable for Review {
    type Wire = WireReview;

    fn to_wire(&self) -> WireReview {
        WireReview {
            id: self.id.to_string(),
            product_id: self.product_id.to_string(),
            user_id: self.user_id.to_string(),
            author_name: self.author_name.clone(),
            rating: self.rating.value(),
            comment: self.comment.clone(),
            created_at: WireTime::of(self.created_at),
        }
    }

    fn from_wire(w: WireReview) -> Option<Self> {
        Some(Review {
            id: w.id.parse::<ReviewId>().ok()?,
            product_id: w.product_id.parse::<ProductId>().ok()?,
            user_id: w.user_id.parse::<UserId>().ok()?,
            author_name: w.author_name,
            rating: Rating::parse(i64::from(w.rating)).ok()?,
            comment: w.comment,
            created_at: w.created_at.back()?,
        })
    }
}

impl<T: Cacheable> Cacheable for Option<T> {
    type Wire = Option<T::Wire>;

    fn to_wire(&self) -> Self::Wire {
        self.as_ref().map(T::to_wire)
    }

    fn from_wire(wire: Self::Wire) -> Option<Self> {
        match wire {
            None => Some(None),
            Some(w) => T::from_wire(w).map(Some),
        }
    }
}

impl<T: Cacheable> Cacheable for Vec<T> {
    type Wire = Vec<T::Wire>;

    fn to_wire(&self) -> Self::Wire {
        self.iter().map(T::to_wire).collect()
    }

    fn from_wire(wire: Self::Wire) -> Option<Self> {
        wire.into_iter().map(T::from_wire).collect()
    }
}

#[derive(Serialize, Deserialize)]
pub struct WirePaged<W> {
    items: Vec<W>,
    page: u64,
    limit: u64,
    total: u64,
}

impl<T: Cacheable> Cacheable for Paged<T> {
    type Wire = WirePaged<T::Wire>;

    fn to_wire(&self) -> Self::Wire {
        WirePaged {
            items: self.items.iter().map(T::to_wire).collect(),
            page: self.page.page,
            limit: self.page.limit,
            total: self.total,
        }
    }

    fn from_wire(w: Self::Wire) -> Option<Self> {
        Some(Paged {
            items: w
                .items
                .into_iter()
                .map(T::from_wire)
                .collect::<Option<_>>()?,
            page: Page {
                page: w.page,
                limit: w.limit,
            },
            total: w.total,
        })
    }
}

/// A listing page without its cursors: they are a function of the items and the query
/// ([`Cursor::after`]), so they are rebuilt on the way out ([`PageItems::into_page`]) rather
/// than stored.
#[derive(Clone)]
pub struct PageItems {
    pub items: Vec<Product>,
    pub has_next: bool,
    pub total: Option<u64>,
}

#[derive(Serialize, Deserialize)]
pub struct WirePage {
    items: Vec<WireProduct>,
    has_next: bool,
    total: Option<u64>,
}

impl Cacheable for PageItems {
    type Wire = WirePage;

    fn to_wire(&self) -> WirePage {
        WirePage {
            items: self.items.iter().map(Product::to_wire).collect(),
            has_next: self.has_next,
            total: self.total,
        }
    }

    fn from_wire(w: WirePage) -> Option<Self> {
        Some(PageItems {
            items: w
                .items
                .into_iter()
                .map(Product::from_wire)
                .collect::<Option<_>>()?,
            has_next: w.has_next,
            total: w.total,
        })
    }
}

impl PageItems {
    pub fn of(page: ProductPage) -> Self {
        Self {
            has_next: page.next_cursor.is_some(),
            items: page.items,
            total: page.total,
        }
    }

    /// The page as `query` gets it, cursors included.
    pub fn into_page(self, query: &ListingQuery) -> ProductPage {
        let cursors: Vec<Cursor> = match query.window {
            Window::Page(_) => Vec::new(),
            Window::Cursor { .. } => self
                .items
                .iter()
                .map(|p| Cursor::after(p, query.sort))
                .collect(),
        };
        let next_cursor = if self.has_next {
            cursors.last().cloned()
        } else {
            None
        };
        ProductPage {
            items: self.items,
            cursors,
            next_cursor,
            total: self.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> Product {
        let now = OffsetDateTime::now_utc();
        Product {
            id: ProductId::new(),
            sku: Sku::parse("CACHE-1").unwrap(),
            name: "Kettle".to_owned(),
            description: "Boils water".to_owned(),
            price: Money::price(2_499, Currency::parse("EUR").unwrap()).unwrap(),
            stock: 7,
            category: "kitchen".to_owned(),
            tags: vec!["steel".to_owned()],
            rating_sum: 9,
            rating_count: 2,
            created_at: now,
            updated_at: now,
        }
    }

    fn open(bytes: &[u8]) -> Option<(Product, u64)> {
        let decoded = decode::<WireProduct>(bytes)?;
        Product::from_wire(decoded.value).map(|p| (p, decoded.fresh_until_ms))
    }

    #[test]
    fn an_entry_round_trips_exactly() {
        let product = product();
        let (back, fresh_until) = open(&encode(&product.to_wire(), 42)).unwrap();
        assert_eq!(fresh_until, 42);
        assert_eq!(back.id, product.id);
        assert_eq!(back.sku, product.sku);
        assert_eq!(back.price, product.price);
        assert_eq!(back.tags, product.tags);
        assert_eq!(back.created_at, product.created_at);
        assert_eq!(back.rating_sum, 9);
    }

    #[test]
    fn an_entry_of_another_format_is_refused_even_when_its_value_would_parse() {
        let bytes = encode(&product().to_wire(), 42);
        let mut other: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        other["v"] = (FORMAT + 1).into();
        assert!(open(&serde_json::to_vec(&other).unwrap()).is_none());
        other.as_object_mut().unwrap().remove("v");
        assert!(open(&serde_json::to_vec(&other).unwrap()).is_none());
    }

    #[test]
    fn truncated_bytes_and_values_the_domain_refuses_are_misses() {
        let bytes = encode(&product().to_wire(), 42);
        assert!(open(&bytes[..bytes.len() - 1]).is_none());
        assert!(open(b"").is_none());

        let mut bad_sku: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        bad_sku["data"]["sku"] = "no spaces allowed".into();
        assert!(open(&serde_json::to_vec(&bad_sku).unwrap()).is_none());
        let mut bad_currency: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        bad_currency["data"]["currency"] = "XXXX".into();
        assert!(open(&serde_json::to_vec(&bad_currency).unwrap()).is_none());
    }
}
