//! What a search returns: a page of products, the cursor of the next one, the total, and the
//! facet counts, read from the rows the two statements return.

use std::collections::BTreeMap;

use shop_domain::Currency;

use super::query::{ProductSearch, SearchSort};
use crate::catalog::attributes::FilterAttribute;
use crate::catalog::cursor::{Cursor, SortKey};
use crate::products::{Product, ProductRow};

/// A page of results, the cursor of the next one, how many products match in all, and the
/// facet counts.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub products: Vec<Product>,
    /// `None` on the last page.
    pub next: Option<Cursor>,
    pub total: u64,
    pub facets: Facets,
}

/// How many matching products each refinement would leave. Each facet is counted with every
/// filter *except its own*, the way shops show them: with `brand=Norda` chosen, the brand
/// facet still lists Kestrel with its count, so the shopper can see what switching (or
/// adding it) would give; counting it under its own filter would leave one useless line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    /// Per category slug (the product's own category, a leaf of the tree).
    pub categories: Vec<FacetCount>,
    /// Per value of each attribute in [`FilterAttribute::FACETED`].
    pub attributes: BTreeMap<FilterAttribute, Vec<FacetCount>>,
    /// Per price band and currency.
    pub prices: Vec<PriceBucket>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// `min_minor <= price < max_minor` (no upper bound on the last band).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBucket {
    pub currency: Currency,
    pub min_minor: i64,
    pub max_minor: Option<i64>,
    pub count: u64,
}

/// The price bands' boundaries in major units (euros, dollars): under 10, 10 to 25, ...,
/// 500 and more. Multiplied per currency by its minor units, in SQL, so yen and dinar prices
/// land in the same bands as euro prices.
pub(super) const PRICE_BOUNDS_MAJOR: [i64; 6] = [10, 25, 50, 100, 250, 500];

#[derive(sqlx::FromRow)]
pub(super) struct SearchRow {
    #[sqlx(flatten)]
    pub(super) product: ProductRow,
    pub(super) rank: f32,
}

#[derive(sqlx::FromRow)]
pub(super) struct FacetRow {
    facet: String,
    value: Option<String>,
    bucket: Option<i32>,
    count: i64,
}

impl ProductSearch {
    /// The cursor that resumes after `product` (whose rank was `rank`) under this search.
    pub(super) fn cursor_after(&self, product: &Product, rank: f32) -> Cursor {
        let key = match self.sort {
            SearchSort::Relevance => SortKey::Rank(rank),
            SearchSort::PriceAsc | SearchSort::PriceDesc => {
                SortKey::Price(product.price.amount_minor())
            }
            SearchSort::Newest => SortKey::Created(product.created_at),
            SearchSort::Name => SortKey::Name(product.name.clone()),
        };
        Cursor::new(self.sort, key, product.id, self.filters.fingerprint())
    }
}

pub(super) fn facets_from_rows(rows: Vec<FacetRow>) -> (u64, Facets) {
    let mut total = 0;
    let mut facets = Facets::default();
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    for row in rows {
        match (row.facet.as_str(), row.value) {
            ("total", _) => total = count(row.count),
            ("category", Some(slug)) => facets.categories.push(FacetCount {
                value: slug,
                count: count(row.count),
            }),
            ("price", Some(code)) => {
                let (Ok(currency), Some(bucket)) = (code.parse::<Currency>(), row.bucket) else {
                    continue;
                };
                let unit = i64::try_from(currency.minor_per_major()).unwrap_or(i64::MAX);
                let bucket = usize::try_from(bucket).unwrap_or(0);
                facets.prices.push(PriceBucket {
                    currency,
                    min_minor: bucket
                        .checked_sub(1)
                        .map_or(0, |i| PRICE_BOUNDS_MAJOR[i] * unit),
                    max_minor: PRICE_BOUNDS_MAJOR.get(bucket).map(|b| b * unit),
                    count: count(row.count),
                });
            }
            (name, Some(value)) => {
                if let Some(attribute) = FilterAttribute::FACETED
                    .into_iter()
                    .find(|a| a.name() == name)
                {
                    facets
                        .attributes
                        .entry(attribute)
                        .or_default()
                        .push(FacetCount {
                            value,
                            count: count(row.count),
                        });
                }
            }
            _ => {}
        }
    }
    // Most products first, then alphabetically, so the order is stable between requests.
    let order = |a: &FacetCount, b: &FacetCount| b.count.cmp(&a.count).then(a.value.cmp(&b.value));
    facets.categories.sort_by(order);
    for counts in facets.attributes.values_mut() {
        counts.sort_by(order);
    }
    facets.prices.sort_by_key(|b| (b.currency, b.min_minor));
    (total, facets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_buckets_become_bands_in_minor_units() {
        let rows = vec![
            FacetRow {
                facet: "total".into(),
                value: None,
                bucket: None,
                count: 7,
            },
            FacetRow {
                facet: "price".into(),
                value: Some("EUR".into()),
                bucket: Some(0),
                count: 3,
            },
            FacetRow {
                facet: "price".into(),
                value: Some("EUR".into()),
                bucket: Some(6),
                count: 1,
            },
            FacetRow {
                facet: "price".into(),
                value: Some("JPY".into()),
                bucket: Some(2),
                count: 2,
            },
            FacetRow {
                facet: "brand".into(),
                value: Some("B".into()),
                bucket: None,
                count: 1,
            },
            FacetRow {
                facet: "brand".into(),
                value: Some("A".into()),
                bucket: None,
                count: 1,
            },
            FacetRow {
                facet: "brand".into(),
                value: Some("C".into()),
                bucket: None,
                count: 5,
            },
        ];
        let (total, facets) = facets_from_rows(rows);
        assert_eq!(total, 7);
        let bands: Vec<_> = facets
            .prices
            .iter()
            .map(|b| (b.currency, b.min_minor, b.max_minor))
            .collect();
        assert_eq!(
            bands,
            [
                (Currency::Eur, 0, Some(1_000)),
                (Currency::Eur, 50_000, None),
                (Currency::Jpy, 25, Some(50)),
            ]
        );
        let brands: Vec<_> = facets.attributes[&FilterAttribute::Brand]
            .iter()
            .map(|c| c.value.as_str())
            .collect();
        assert_eq!(brands, ["C", "A", "B"], "by count, then by name");
    }
}
