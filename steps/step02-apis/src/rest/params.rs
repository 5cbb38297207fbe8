//! Query parameters, parsed by hand: serde_urlencoded can neither collect a repeated key
//! (`?tag=a&tag=b`) nor name an unknown one, and both matter here. Every parameter is
//! whitelisted per route; an unknown one, a repeated single-valued one or a malformed value
//! is a 400 `INVALID_PARAMETER` naming it, so a typo (`?catgory=`) is never silently ignored.

use std::collections::BTreeMap;

use common::domain::{Money, Page};
use common::error::{Error, Result};
use common::routes::PageQuery;
use utoipa::IntoParams;

use crate::listing::{
    CategoryText, Cursor, FilterText, ListingQuery, ProductFilter, SearchText, SortKey, TagText,
    Window,
};

fn invalid(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidParameter {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// The query string as `name -> values`, refusing names outside `allowed`.
struct Raw(BTreeMap<String, Vec<String>>);

impl Raw {
    fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                return Err(invalid(
                    &name,
                    format!(
                        "is not a parameter of this route (expected one of: {})",
                        allowed.join(", ")
                    ),
                ));
            }
            map.entry(name.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        Ok(Self(map))
    }

    fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    fn one(&self, name: &str) -> Result<Option<&str>> {
        match self.all(name) {
            [] => Ok(None),
            [value] => Ok(Some(value.as_str())),
            _ => Err(invalid(name, "may be given only once")),
        }
    }

    fn number<T: std::str::FromStr>(&self, name: &str, what: &str) -> Result<Option<T>> {
        self.one(name)?
            .map(|v| {
                v.parse()
                    .map_err(|_| invalid(name, format!("must be {what}")))
            })
            .transpose()
    }

    /// A filter's text, by the listing's one rule ([`FilterText::parse`]).
    fn text<const MAX: usize>(&self, name: &str) -> Result<Option<FilterText<MAX>>> {
        self.one(name)?.map(|v| filter_text(name, v)).transpose()
    }
}

fn filter_text<const MAX: usize>(name: &str, value: &str) -> Result<FilterText<MAX>> {
    FilterText::parse(value).map_err(|reason| invalid(name, reason))
}

/// The product listing's parameters. v1 pages with `page`; v2 with `cursor`; both take
/// `limit` (1-100, default 20) and every filter.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListingParams {
    /// Exact category name.
    #[param(value_type = Option<String>)]
    pub category: Option<CategoryText>,
    /// Lowest price, inclusive, in minor units (cents).
    #[param(minimum = 0, maximum = 10_000_000_000_i64)]
    pub min_price: Option<i64>,
    /// Highest price, inclusive, in minor units (cents); not below `min_price`.
    #[param(minimum = 0, maximum = 10_000_000_000_i64)]
    pub max_price: Option<i64>,
    /// A tag the product must carry; repeat it to require several (`tag=a&tag=b`).
    // Optional: utoipa would document a `Vec` as required.
    #[param(required = false, value_type = Vec<String>)]
    pub tag: Vec<TagText>,
    /// `true`: only products in stock; `false`: only sold-out ones.
    pub in_stock: Option<bool>,
    /// Words searched in name, description and tags.
    #[param(value_type = Option<String>)]
    pub q: Option<SearchText>,
    /// One of `oldest` (default), `newest`, `price`, `-price`, `name`, `-rating`.
    #[param(pattern = "^(oldest|newest|price|-price|name|-rating)$")]
    pub sort: Option<String>,
    /// The 1-based page number (v1's listing).
    #[param(minimum = 1, maximum = 92_233_720_368_547_758_i64)]
    pub page: Option<u64>,
    /// The `next_cursor` of the previous page (v2's listing).
    pub cursor: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

const FILTERS: [&str; 8] = [
    "category",
    "min_price",
    "max_price",
    "tag",
    "in_stock",
    "q",
    "sort",
    "limit",
];

impl ListingParams {
    /// v1: the filters, `sort`, `page` and `limit`.
    pub fn parse_v1(query: Option<&str>) -> Result<ListingQuery> {
        let allowed: Vec<&str> = FILTERS.iter().copied().chain(["page"]).collect();
        Self::parse(query, &allowed)?.into_query(false)
    }

    /// v2: the filters, `sort`, `cursor` and `limit`.
    pub fn parse_v2(query: Option<&str>) -> Result<ListingQuery> {
        let allowed: Vec<&str> = FILTERS.iter().copied().chain(["cursor"]).collect();
        Self::parse(query, &allowed)?.into_query(true)
    }

    fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self> {
        let raw = Raw::parse(query, allowed)?;
        let price = "an integer amount in minor units";
        let in_stock = match raw.one("in_stock")? {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(invalid("in_stock", "must be `true` or `false`")),
        };
        Ok(Self {
            category: raw.text("category")?,
            min_price: raw.number("min_price", price)?,
            max_price: raw.number("max_price", price)?,
            tag: raw
                .all("tag")
                .iter()
                .map(|t| filter_text("tag", t))
                .collect::<Result<_>>()?,
            in_stock,
            q: raw.text("q")?,
            sort: raw.one("sort")?.map(str::to_owned),
            page: raw.number("page", "a positive integer")?,
            cursor: raw.one("cursor")?.map(str::to_owned),
            limit: raw.number("limit", "a positive integer")?,
        })
    }

    fn into_query(self, cursor_paging: bool) -> Result<ListingQuery> {
        for (name, value) in [("min_price", self.min_price), ("max_price", self.max_price)] {
            if let Some(v) = value
                && !(0..=Money::MAX_PRICE_MINOR).contains(&v)
            {
                return Err(invalid(
                    name,
                    format!("must be between 0 and {}", Money::MAX_PRICE_MINOR),
                ));
            }
        }
        if let (Some(min), Some(max)) = (self.min_price, self.max_price)
            && min > max
        {
            return Err(invalid("max_price", "must not be below min_price"));
        }
        if self.tag.len() > ProductFilter::MAX_TAGS {
            return Err(invalid(
                "tag",
                format!("may be given at most {} times", ProductFilter::MAX_TAGS),
            ));
        }
        let sort = match self.sort.as_deref() {
            None => SortKey::default(),
            Some(name) => SortKey::parse(name).ok_or_else(|| {
                let names: Vec<&str> = SortKey::ALL.iter().map(SortKey::as_str).collect();
                invalid("sort", format!("must be one of: {}", names.join(", ")))
            })?,
        };
        // Step 0's rules and messages for `page` and `limit`, in one place.
        let page = PageQuery {
            page: self.page,
            limit: self.limit,
        }
        .parse()?;
        let window = if cursor_paging {
            Window::Cursor {
                after: self
                    .cursor
                    .as_deref()
                    .map(|raw| Cursor::parse(raw, sort))
                    .transpose()?,
                limit: page.limit,
            }
        } else {
            Window::Page(page)
        };
        Ok(ListingQuery {
            filter: ProductFilter {
                category: self.category,
                min_price_minor: self.min_price,
                max_price_minor: self.max_price,
                tags: self.tag,
                in_stock: self.in_stock,
                text: self.q,
            },
            sort,
            window,
        })
    }
}

/// `page` and `limit`, and nothing else, for v2's offset-paged lists (reviews, orders).
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The 1-based page number (default 1).
    #[param(minimum = 1, maximum = 92_233_720_368_547_758_i64)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

impl PageParams {
    pub fn parse(query: Option<&str>) -> Result<Page> {
        let raw = Raw::parse(query, &["page", "limit"])?;
        PageQuery {
            page: raw.number("page", "a positive integer")?,
            limit: raw.number("limit", "a positive integer")?,
        }
        .parse()
    }
}
