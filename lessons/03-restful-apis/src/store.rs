//! The product store: an in-memory catalogue behind a lock, shared by every request.
//!
//! What this module shows: shared state for a web server, and why this one uses a
//! `std::sync::RwLock` (the comment on [`ProductStore`] explains). Lesson 02's PostgreSQL
//! repository will take its place in the capstone; the handlers would not notice, because they
//! only see these methods and [`StoreError`].
//!
//! Run the tests with `cargo test -p lesson-03 store`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};
use shop_domain::{ProductId, Sku};
use thiserror::Error;

use crate::product::{NewProduct, Product, ProductChanges};

/// What the store can refuse. The API turns each into a status code; the store knows nothing
/// about HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    #[error("no product with id {0}")]
    NotFound(ProductId),
    #[error("SKU {sku} already belongs to product {existing}")]
    DuplicateSku { sku: Sku, existing: ProductId },
}

// ANCHOR: store
/// The catalogue, cheap to clone: every clone shares the same products.
///
/// Why a `std::sync::RwLock` and not `tokio::sync::RwLock`? Every method takes the lock, does a
/// few map operations and releases it before returning: no guard ever lives across an
/// `.await`, so nothing can wait for I/O while holding it. For short critical sections like
/// these the `std` lock is faster, and the compiler enforces the rule: its guard is not `Send`,
/// so a handler that kept one across an `.await` would not compile. (mini-redis's `db.rs`
/// makes the same choice with a `Mutex`.) An `RwLock` rather than a `Mutex` because a catalogue
/// is read far more often than it is written, and readers do not queue behind each other.
#[derive(Debug, Clone, Default)]
pub struct ProductStore {
    inner: Arc<RwLock<Catalogue>>,
}

/// The data behind the lock. Products are kept in id order: ids are UUID v7, which start with
/// a timestamp, so id order is creation order and a page can start "after" any id.
#[derive(Debug, Default)]
struct Catalogue {
    products: BTreeMap<ProductId, Product>,
    /// A unique index: which product owns each SKU.
    by_sku: HashMap<Sku, ProductId>,
}
// ANCHOR_END: store

/// Which products a listing returns: a filter and a keyset page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only products whose name contains this, ignoring case.
    pub name_contains: Option<String>,
    /// Only products with stock.
    pub in_stock: bool,
    /// Start after this id (the previous page's last).
    pub after: Option<ProductId>,
    /// At most this many products.
    pub limit: usize,
}

/// One page of a listing, as `GET /products` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<Product>,
    /// The id to pass as `after` for the next page, if there is one.
    pub next_after: Option<ProductId>,
}

impl ProductStore {
    // A panic while a guard is held "poisons" the lock. Every write below is finished before
    // anything that could panic, so the data is never half-updated and we take it back.
    fn read(&self) -> RwLockReadGuard<'_, Catalogue> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Catalogue> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    // ANCHOR: insert
    /// Adds a product with a new id; fails if its SKU is taken.
    pub fn insert(&self, new: NewProduct) -> Result<Product, StoreError> {
        let mut catalogue = self.write();
        // Check and insert under one write guard: with a read lock for the check and a write
        // lock for the insert, two requests could both see the SKU free and both insert it.
        if let Some(&existing) = catalogue.by_sku.get(&new.sku) {
            return Err(StoreError::DuplicateSku {
                sku: new.sku,
                existing,
            });
        }
        let product = new.with_id(ProductId::generate());
        catalogue.by_sku.insert(product.sku.clone(), product.id);
        catalogue.products.insert(product.id, product.clone());
        Ok(product)
    }
    // ANCHOR_END: insert

    pub fn get(&self, id: ProductId) -> Result<Product, StoreError> {
        self.read()
            .products
            .get(&id)
            .cloned()
            .ok_or(StoreError::NotFound(id))
    }

    /// Replaces every field of an existing product (the id stays).
    pub fn replace(&self, id: ProductId, new: NewProduct) -> Result<Product, StoreError> {
        let mut catalogue = self.write();
        let old_sku = match catalogue.products.get(&id) {
            Some(product) => product.sku.clone(),
            None => return Err(StoreError::NotFound(id)),
        };
        if let Some(&existing) = catalogue.by_sku.get(&new.sku)
            && existing != id
        {
            return Err(StoreError::DuplicateSku {
                sku: new.sku,
                existing,
            });
        }
        let product = new.with_id(id);
        catalogue.by_sku.remove(&old_sku);
        catalogue.by_sku.insert(product.sku.clone(), id);
        catalogue.products.insert(id, product.clone());
        Ok(product)
    }

    /// Applies validated changes to an existing product.
    pub fn update(&self, id: ProductId, changes: ProductChanges) -> Result<Product, StoreError> {
        let mut catalogue = self.write();
        let product = catalogue
            .products
            .get_mut(&id)
            .ok_or(StoreError::NotFound(id))?;
        // Read, change and write under one guard: no other request can slip in between.
        changes.apply(product);
        Ok(product.clone())
    }

    pub fn remove(&self, id: ProductId) -> Result<Product, StoreError> {
        let mut catalogue = self.write();
        let product = catalogue
            .products
            .remove(&id)
            .ok_or(StoreError::NotFound(id))?;
        catalogue.by_sku.remove(&product.sku);
        Ok(product)
    }

    // ANCHOR: list
    /// One page of the products that match, in id (creation) order.
    ///
    /// Keyset pagination: the page starts after an id rather than at an offset. A product
    /// added or removed while a client pages through cannot shift the pages under it, and the
    /// cost of a page does not grow with its depth (a B-tree range; in SQL, `WHERE id > $1`).
    pub fn list(&self, query: &ListQuery) -> Page {
        use std::ops::Bound::{Excluded, Unbounded};

        let needle = query.name_contains.as_deref().map(str::to_lowercase);
        let start = query.after.map_or(Unbounded, Excluded);
        let catalogue = self.read();
        // Take one more than asked for: if it exists, there is a next page.
        let mut items: Vec<Product> = catalogue
            .products
            .range((start, Unbounded))
            .map(|(_, product)| product)
            .filter(|p| !query.in_stock || p.stock > 0)
            .filter(|p| {
                needle
                    .as_deref()
                    .is_none_or(|needle| p.name.to_lowercase().contains(needle))
            })
            .take(query.limit + 1)
            .cloned()
            .collect();
        let next_after = if items.len() > query.limit {
            items.truncate(query.limit);
            items.last().map(|p| p.id)
        } else {
            None
        };
        Page { items, next_after }
    }
    // ANCHOR_END: list

    pub fn len(&self) -> usize {
        self.read().products.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::eur;

    fn new(sku: &str, name: &str, stock: u32) -> NewProduct {
        NewProduct {
            sku: Sku::parse(sku).unwrap(),
            name: name.into(),
            price: eur(1000),
            stock,
        }
    }

    #[test]
    fn a_sku_belongs_to_one_product() {
        let store = ProductStore::default();
        let mug = store.insert(new("MUG-1", "Mug", 1)).unwrap();
        assert_eq!(
            store.insert(new("mug-1", "Other mug", 1)),
            Err(StoreError::DuplicateSku {
                sku: mug.sku.clone(),
                existing: mug.id
            })
        );
        // Replacing keeps the index right: the old SKU is free again, the new one is taken.
        let cup = store.insert(new("CUP-1", "Cup", 1)).unwrap();
        store.replace(mug.id, new("MUG-2", "Mug", 1)).unwrap();
        assert!(store.insert(new("MUG-1", "Mug again", 1)).is_ok());
        assert!(matches!(
            store.replace(cup.id, new("MUG-2", "Cup", 1)),
            Err(StoreError::DuplicateSku { .. })
        ));
        // A product may keep its own SKU when replaced.
        assert!(store.replace(cup.id, new("CUP-1", "Big cup", 1)).is_ok());
    }

    #[test]
    fn removing_frees_the_sku() {
        let store = ProductStore::default();
        let mug = store.insert(new("MUG-1", "Mug", 1)).unwrap();
        store.remove(mug.id).unwrap();
        assert_eq!(store.get(mug.id), Err(StoreError::NotFound(mug.id)));
        assert_eq!(store.remove(mug.id), Err(StoreError::NotFound(mug.id)));
        assert!(store.insert(new("MUG-1", "Mug", 1)).is_ok());
    }

    #[test]
    fn pages_follow_each_other_without_gaps_or_repeats() {
        let store = ProductStore::default();
        let ids: Vec<ProductId> = (1..=5)
            .map(|n| {
                store
                    .insert(new(&format!("SKU-{n}"), "Thing", 1))
                    .unwrap()
                    .id
            })
            .collect();
        let mut query = ListQuery {
            limit: 2,
            ..ListQuery::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = store.list(&query);
            seen.extend(page.items.iter().map(|p| p.id));
            match page.next_after {
                Some(after) => query.after = Some(after),
                None => break,
            }
        }
        assert_eq!(seen, ids);
    }

    #[test]
    fn filters_apply_before_the_page_is_cut() {
        let store = ProductStore::default();
        store.insert(new("MUG-1", "Red mug", 0)).unwrap();
        store.insert(new("CUP-1", "Cup", 4)).unwrap();
        let blue = store.insert(new("MUG-2", "Blue MUG", 2)).unwrap();
        let page = store.list(&ListQuery {
            name_contains: Some("mug".into()),
            in_stock: true,
            after: None,
            limit: 1,
        });
        assert_eq!(page.items, [blue]);
        assert_eq!(page.next_after, None);
    }
}
