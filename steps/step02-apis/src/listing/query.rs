//! What a listing asks for: a [`ProductFilter`] (turned into a MongoDB filter document), a
//! [`SortKey`] from a whitelist (each with its sort document and tie-break), and a [`Window`]
//! of offset paging or a cursor, together a [`ListingQuery`].

use common::domain::{Page, Product};
use mongodb::bson::{Document, doc};

use super::cursor::{Cursor, SortValue};
use super::text::{CategoryText, SearchText, TagText};

/// What may narrow a listing. Every field is optional; all given ones must hold. Its text
/// can only have come through [`FilterText::parse`](super::FilterText::parse).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProductFilter {
    /// Exact category name.
    pub category: Option<CategoryText>,
    /// Inclusive bounds, in minor units.
    pub min_price_minor: Option<i64>,
    pub max_price_minor: Option<i64>,
    /// Products carrying every one of these tags (at most [`ProductFilter::MAX_TAGS`]).
    pub tags: Vec<TagText>,
    /// `Some(true)`: stock above zero only; `Some(false)`: sold out only.
    pub in_stock: Option<bool>,
    /// Words searched in name, description and tags (MongoDB text search).
    pub text: Option<SearchText>,
}

impl ProductFilter {
    /// As many as a product may carry: asking for more matches nothing, at the cost of a
    /// larger `$all`.
    pub const MAX_TAGS: usize = 20;

    /// The MongoDB filter document. Every condition sits at the top level, where `$text` must,
    /// and `$text` comes first: the local stand-in server (nx-27017) ignores conditions that
    /// precede it.
    pub(super) fn to_document(&self) -> Document {
        let mut filter = doc! {};
        if let Some(text) = &self.text {
            filter.insert("$text", doc! { "$search": text.as_str() });
        }
        if let Some(category) = &self.category {
            filter.insert("category", category.as_str());
        }
        let mut price = doc! {};
        if let Some(min) = self.min_price_minor {
            price.insert("$gte", min);
        }
        if let Some(max) = self.max_price_minor {
            price.insert("$lte", max);
        }
        if !price.is_empty() {
            filter.insert("price_minor", price);
        }
        if !self.tags.is_empty() {
            let tags: Vec<&str> = self.tags.iter().map(TagText::as_str).collect();
            filter.insert("tags", doc! { "$all": tags });
        }
        match self.in_stock {
            Some(true) => {
                filter.insert("stock", doc! { "$gt": 0_i64 });
            }
            Some(false) => {
                filter.insert("stock", doc! { "$lte": 0_i64 });
            }
            None => {}
        }
        filter
    }
}

/// The orders a listing may be sorted in: a whitelist, because each needs an index (step 4)
/// and a stable tie-break (`_id`) for cursors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// Oldest first, by id (ids grow with creation time): the v1 order.
    #[default]
    Oldest,
    Newest,
    PriceAsc,
    PriceDesc,
    NameAsc,
    RatingDesc,
}

/// The field a rating sort uses: computed per query (the average is not stored, so this sort
/// cannot use an index). Step 4 keeps the average on the product instead
/// ([`MongoSearch::with_stored_rating`](super::MongoSearch::with_stored_rating)).
pub(super) const RATING_FIELD: &str = "_rating";
/// The id as hex text, computed beside the rating: the stand-in server (nx-27017) cannot
/// compare ObjectIds inside an aggregation, and hex text orders exactly as ObjectIds do.
pub(super) const ID_TEXT_FIELD: &str = "_id_hex";

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Oldest,
        SortKey::Newest,
        SortKey::PriceAsc,
        SortKey::PriceDesc,
        SortKey::NameAsc,
        SortKey::RatingDesc,
    ];

    /// The wire name (`?sort=-price`): a leading `-` means descending.
    pub fn as_str(&self) -> &'static str {
        match self {
            SortKey::Oldest => "oldest",
            SortKey::Newest => "newest",
            SortKey::PriceAsc => "price",
            SortKey::PriceDesc => "-price",
            SortKey::NameAsc => "name",
            SortKey::RatingDesc => "-rating",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|key| key.as_str() == name)
    }

    /// The sorted field besides `_id`, and whether it descends.
    pub(super) fn field(&self) -> Option<(&'static str, bool)> {
        match self {
            SortKey::Oldest | SortKey::Newest => None,
            SortKey::PriceAsc => Some(("price_minor", false)),
            SortKey::PriceDesc => Some(("price_minor", true)),
            SortKey::NameAsc => Some(("name", false)),
            SortKey::RatingDesc => Some((RATING_FIELD, true)),
        }
    }

    /// `_id` breaks ties oldest first, except in `newest`, whose only key is `_id` descending.
    pub(super) fn id_descends(&self) -> bool {
        *self == SortKey::Newest
    }

    pub(super) fn sort_document(&self) -> Document {
        let id = if self.id_descends() { -1 } else { 1 };
        match self.field() {
            Some((field, descends)) => doc! { field: if descends { -1 } else { 1 }, "_id": id },
            None => doc! { "_id": id },
        }
    }

    /// The value this sort orders `product` by, as a cursor records it.
    pub(super) fn value_of(&self, product: &Product) -> SortValue {
        match self {
            SortKey::Oldest | SortKey::Newest => SortValue::None,
            SortKey::PriceAsc | SortKey::PriceDesc => SortValue::Int(product.price.minor),
            SortKey::NameAsc => SortValue::Text(product.name.clone()),
            // The same IEEE division MongoDB's `$divide` makes, so the cursor's value equals
            // the computed field bit for bit.
            SortKey::RatingDesc => SortValue::Float(if product.rating_count > 0 {
                product.rating_sum as f64 / product.rating_count as f64
            } else {
                0.0
            }),
        }
    }
}

/// How much of the listing to return.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Window {
    /// Offset paging, with a total (v1).
    Page(Page),
    /// The first `limit` items after `after` (from the start when `None`).
    Cursor { after: Option<Cursor>, limit: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListingQuery {
    pub filter: ProductFilter,
    pub sort: SortKey,
    pub window: Window,
}
