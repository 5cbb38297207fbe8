//! Unit tests of the cursor: it round-trips for every sort, and refuses garbage, tampering
//! and a cursor made for another sort, always naming `cursor`.

use super::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::domain::{Currency, Money, ProductId, Sku};
use time::OffsetDateTime;

fn product(name: &str, price: i64, rating_sum: i64, rating_count: i64) -> Product {
    Product {
        id: ProductId::new(),
        sku: Sku::parse("SKU-1").unwrap(),
        name: name.to_owned(),
        description: String::new(),
        price: Money::price(price, Currency::parse("EUR").unwrap()).unwrap(),
        stock: 1,
        category: "c".to_owned(),
        tags: vec![],
        rating_sum,
        rating_count,
        created_at: OffsetDateTime::UNIX_EPOCH,
        updated_at: OffsetDateTime::UNIX_EPOCH,
    }
}

fn rejected_cursor(result: Result<Cursor>) -> String {
    match result {
        Err(Error::InvalidParameter { name, reason }) => {
            assert_eq!(name, "cursor");
            reason
        }
        other => panic!("expected a 400 naming cursor, got {other:?}"),
    }
}

#[test]
fn a_cursor_round_trips_for_every_sort() {
    // A name holding the payload's separator must survive too.
    let p = product("line one\nline two", 1999, 7, 3);
    for sort in SortKey::ALL {
        let cursor = Cursor::after(&p, sort);
        let parsed = Cursor::parse(cursor.as_str(), sort).expect("its own cursor parses");
        let position = parsed.position(sort).unwrap();
        assert_eq!(position.id, p.id.object_id());
        assert_eq!(position.value, sort.value_of(&p), "{sort:?}");
    }
}

#[test]
fn a_cursor_made_for_another_sort_is_refused() {
    let p = product("a", 100, 0, 0);
    let cursor = Cursor::after(&p, SortKey::PriceAsc);
    let reason = rejected_cursor(Cursor::parse(cursor.as_str(), SortKey::PriceDesc));
    assert!(reason.contains("price"), "{reason}");
}

#[test]
fn garbage_and_tampered_cursors_are_refused() {
    let p = product("a", 100, 0, 0);
    let good = Cursor::after(&p, SortKey::Oldest).as_str().to_owned();
    let mut bytes = URL_SAFE_NO_PAD.decode(&good).unwrap();
    bytes[5] ^= 1;
    let tampered = URL_SAFE_NO_PAD.encode(bytes);
    for raw in [
        "",
        "x",
        "!!!!",
        "bm90IGEgY3Vyc29y",
        &good[..good.len() - 2],
        &tampered,
    ] {
        rejected_cursor(Cursor::parse(raw, SortKey::Oldest));
    }
}

#[test]
fn sort_names_round_trip_and_unknown_names_are_none() {
    for sort in SortKey::ALL {
        assert_eq!(SortKey::parse(sort.as_str()), Some(sort));
    }
    assert_eq!(SortKey::parse("price_desc"), None);
    assert_eq!(SortKey::parse(""), None);
}

#[test]
fn the_keyset_of_a_descending_sort_looks_below_the_value() {
    let p = product("a", 500, 0, 0);
    let position = Cursor::after(&p, SortKey::PriceDesc)
        .position(SortKey::PriceDesc)
        .unwrap();
    let keyset = position.keyset().to_string();
    assert!(keyset.contains("$lt"), "{keyset}");
    assert!(
        keyset.contains("$gt"),
        "ties continue by ascending id: {keyset}"
    );
}
