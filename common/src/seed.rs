//! The demo catalog: 36 products across six categories, so a freshly started stage has
//! something to browse. Idempotent: products whose SKU exists are left alone.

use crate::domain::{Currency, Money, NewProduct, Sku};
use crate::store::ProductStore;

/// A demo product: name, price in cents, tags.
type DemoProduct = (&'static str, i64, &'static [&'static str]);

/// Products by category.
const CATALOG: &[(&str, &[DemoProduct])] = &[
    (
        "apparel",
        &[
            ("Organic Cotton T-Shirt", 1999, &["cotton", "basics"]),
            ("Merino Wool Sweater", 8900, &["wool", "winter"]),
            ("Rain Jacket", 12900, &["outdoor", "waterproof"]),
            ("Canvas Sneakers", 5900, &["shoes"]),
            ("Linen Shirt", 4500, &["summer"]),
            ("Wool Beanie", 1900, &["winter", "accessories"]),
        ],
    ),
    (
        "kitchen",
        &[
            ("Cast Iron Skillet", 3900, &["cookware"]),
            ("Chef's Knife", 7900, &["knives"]),
            ("Pour-Over Coffee Set", 4200, &["coffee"]),
            ("Bamboo Cutting Board", 2400, &["bamboo"]),
            ("Enamel Dutch Oven", 9900, &["cookware"]),
            ("Espresso Cups (Set of 4)", 2900, &["coffee", "ceramic"]),
        ],
    ),
    (
        "books",
        &[
            (
                "The Rust Programming Language",
                3999,
                &["programming", "rust"],
            ),
            (
                "Designing Data-Intensive Applications",
                4499,
                &["programming", "databases"],
            ),
            ("Zero To Production In Rust", 3900, &["programming", "rust"]),
            ("A Field Guide to Birds", 2500, &["nature"]),
            ("Bread Baking Basics", 2200, &["cooking"]),
            ("Night Sky Atlas", 3100, &["astronomy"]),
        ],
    ),
    (
        "electronics",
        &[
            ("Mechanical Keyboard", 11900, &["keyboard", "desk"]),
            ("Noise-Cancelling Headphones", 24900, &["audio"]),
            ("USB-C Hub", 4900, &["usb", "desk"]),
            ("E-Ink Reader", 13900, &["reading"]),
            ("Portable Speaker", 6900, &["audio", "outdoor"]),
            ("Webcam 1080p", 5900, &["video", "desk"]),
        ],
    ),
    (
        "home",
        &[
            ("Ceramic Table Lamp", 6400, &["lighting"]),
            ("Linen Throw Blanket", 5400, &["textiles"]),
            ("Terracotta Planter", 1800, &["plants"]),
            ("Scented Candle", 1600, &["candles"]),
            ("Wall Clock", 3500, &["decor"]),
            ("Cotton Bath Towels (Pair)", 3200, &["textiles", "bath"]),
        ],
    ),
    (
        "outdoor",
        &[
            ("Trail Backpack 30L", 8900, &["hiking"]),
            ("Insulated Water Bottle", 2900, &["hiking", "bottles"]),
            ("Camping Hammock", 4900, &["camping"]),
            ("Headlamp", 2600, &["camping", "lighting"]),
            ("Trekking Poles", 6900, &["hiking"]),
            ("Picnic Blanket", 3400, &["picnic"]),
        ],
    ),
];

/// The demo products, deterministic: SKUs are `DEMO-<CATEGORY>-<n>`.
pub fn demo_catalog() -> Vec<NewProduct> {
    let eur = Currency::parse("EUR").expect("EUR is a currency code");
    CATALOG
        .iter()
        .flat_map(|(category, products)| {
            products
                .iter()
                .enumerate()
                .map(move |(i, (name, cents, tags))| NewProduct {
                    sku: Sku::parse(&format!("DEMO-{}-{}", category, i + 1))
                        .expect("demo SKUs are valid"),
                    name: (*name).to_owned(),
                    description: format!("{name}: a demo product of the stepwise-shop catalog."),
                    price: Money::price(*cents, eur).expect("demo prices are valid"),
                    stock: 25 + (i as i64) * 15,
                    category: (*category).to_owned(),
                    tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                })
        })
        .collect()
}

/// Inserts the demo products that are missing; returns how many were inserted.
pub async fn seed_demo_catalog(products: &dyn ProductStore) -> anyhow::Result<usize> {
    let mut inserted = 0;
    for product in demo_catalog() {
        if products.insert_if_absent(product).await? {
            inserted += 1;
        }
    }
    Ok(inserted)
}
