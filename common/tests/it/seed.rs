//! The demo catalog's content, checked as data.

use std::collections::HashSet;

#[test]
fn the_demo_catalog_has_dozens_of_unique_products_across_categories() {
    let catalog = common::seed::demo_catalog();
    assert!(catalog.len() >= 30);
    let skus: HashSet<_> = catalog.iter().map(|p| p.sku.as_str().to_owned()).collect();
    assert_eq!(skus.len(), catalog.len(), "SKUs are unique");
    let categories: HashSet<_> = catalog.iter().map(|p| p.category.clone()).collect();
    assert!(categories.len() >= 5);
    assert!(catalog.iter().all(|p| p.stock > 0 && p.price.minor > 0));
}
