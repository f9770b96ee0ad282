//! The typed query: what a client may ask the catalog, parsed before any SQL exists.
//!
//! Every value a request carries becomes a type here ([`SearchText`], [`CategorySlug`],
//! [`PriceRange`], the [`SearchSort`] allow-list), and [`ProductSearch::new`] checks the rules
//! that span fields, reporting every broken one.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shop_domain::Currency;
use thiserror::Error;

use crate::catalog::attributes::{AttributeValue, FilterAttribute};
use crate::catalog::cursor::Cursor;
use crate::products::PageSize;

// ANCHOR: sort
/// The orders a client may ask for; `?sort=` names one of these or the request is a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchSort {
    /// Best match first; needs a text query.
    Relevance,
    PriceAsc,
    PriceDesc,
    /// Most recently added first.
    Newest,
    /// A to Z.
    Name,
}

impl SearchSort {
    pub const ALL: [SearchSort; 5] = [
        SearchSort::Relevance,
        SearchSort::PriceAsc,
        SearchSort::PriceDesc,
        SearchSort::Newest,
        SearchSort::Name,
    ];

    /// The name in `?sort=`.
    pub const fn name(self) -> &'static str {
        match self {
            SearchSort::Relevance => "relevance",
            SearchSort::PriceAsc => "price_asc",
            SearchSort::PriceDesc => "price_desc",
            SearchSort::Newest => "newest",
            SearchSort::Name => "name",
        }
    }

    /// The ORDER BY clause. Both columns run the same direction, so that the row comparison
    /// `(key, id) < (...)` describes "after" exactly and one index serves the sort (read
    /// backwards for the descending ones).
    pub(super) const fn order_by(self) -> &'static str {
        match self {
            SearchSort::Relevance => " ORDER BY rank DESC, p.id DESC",
            SearchSort::PriceAsc => " ORDER BY p.price_minor, p.id",
            SearchSort::PriceDesc => " ORDER BY p.price_minor DESC, p.id DESC",
            SearchSort::Newest => " ORDER BY p.created_at DESC, p.id DESC",
            SearchSort::Name => " ORDER BY p.name, p.id",
        }
    }
}
// ANCHOR_END: sort

/// `?sort=` named no allowed sort.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown sort; use one of: relevance, price_asc, price_desc, newest, name")]
pub struct UnknownSort;

impl FromStr for SearchSort {
    type Err = UnknownSort;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|sort| sort.name() == name)
            .ok_or(UnknownSort)
    }
}

/// What a shopper typed: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchText(String);

/// Why a value is not a valid filter. The messages are for the client.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FilterError {
    #[error("search text is 1 to 200 characters without control characters")]
    Text,
    #[error("a category is named by its slug: lower-case words joined by -")]
    CategorySlug,
    #[error("a price is a whole number of minor units (cents), 0 or more")]
    Price,
    #[error("price_min is above price_max")]
    PriceOrder,
}

impl SearchText {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let text = text.trim();
        let chars = text.chars().count();
        // NUL in particular: PostgreSQL's text type cannot hold it, and binding it would fail
        // as a server error. Control characters are never part of a real search.
        if (1..=Self::MAX_CHARS).contains(&chars) && !text.chars().any(char::is_control) {
            Ok(Self(text.to_owned()))
        } else {
            Err(FilterError::Text)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A category slug, shaped as the schema's CHECK requires (`outdoor-lighting`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategorySlug(String);

impl CategorySlug {
    pub fn parse(slug: &str) -> Result<Self, FilterError> {
        let valid = (1..=100).contains(&slug.len())
            && slug.split('-').all(|word| {
                !word.is_empty()
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if valid {
            Ok(Self(slug.to_owned()))
        } else {
            Err(FilterError::CategorySlug)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Inclusive bounds on `price_minor`, either or both open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PriceRange {
    pub(super) min: Option<i64>,
    pub(super) max: Option<i64>,
}

impl PriceRange {
    pub fn new(min: Option<i64>, max: Option<i64>) -> Result<Self, FilterError> {
        if min.is_some_and(|p| p < 0) || max.is_some_and(|p| p < 0) {
            return Err(FilterError::Price);
        }
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(FilterError::PriceOrder);
        }
        Ok(Self { min, max })
    }

    pub fn is_open(&self) -> bool {
        self.min.is_none() && self.max.is_none()
    }
}

// ANCHOR: filters
/// What narrows a search. Every field is already valid; an empty value means "no filter".
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchFilters {
    /// Full text over name, attributes and description.
    pub text: Option<SearchText>,
    /// This category and everything below it in the tree.
    pub category: Option<CategorySlug>,
    pub currency: Option<Currency>,
    /// In minor units of `currency`, which must then be given.
    pub price: PriceRange,
    /// `brand=Norda,Kestrel&colour=green`: any of an attribute's values (OR), all of the
    /// attributes (AND). A `BTreeMap`, so the fingerprint does not depend on parameter order.
    pub attributes: BTreeMap<FilterAttribute, Vec<AttributeValue>>,
    /// Only products with at least one unit in some warehouse.
    pub in_stock: bool,
}
// ANCHOR_END: filters

impl SearchFilters {
    /// A digest of the filters, stored in every cursor so that a cursor is only accepted by
    /// the search that issued it. SHA-256 over the JSON form (stable: fields in declaration
    /// order, maps sorted), cut to 64 bits: this guards against mix-ups, not against forgery.
    pub fn fingerprint(&self) -> u64 {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&json);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }

    pub(super) fn attribute(&self, attribute: FilterAttribute) -> Option<&[AttributeValue]> {
        self.attributes
            .get(&attribute)
            .map(Vec::as_slice)
            .filter(|values| !values.is_empty())
    }
}

/// A search that cannot be run as asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SearchError {
    #[error("sorting by relevance needs a search text (q)")]
    RelevanceNeedsText,
    #[error("a price filter needs a currency: minor units of which currency?")]
    PriceNeedsCurrency,
    #[error("this cursor belongs to sort={}; keep the sort or start again from the first page", .0.name())]
    CursorForAnotherSort(SearchSort),
    #[error("this cursor belongs to a search with other filters; start again from the first page")]
    CursorForAnotherSearch,
}

impl SearchError {
    /// The query parameter the problem is about.
    pub fn field(&self) -> &'static str {
        match self {
            SearchError::RelevanceNeedsText => "sort",
            SearchError::PriceNeedsCurrency => "currency",
            SearchError::CursorForAnotherSort(_) | SearchError::CursorForAnotherSearch => "cursor",
        }
    }
}

// ANCHOR: product_search
/// One page of a search, ready to run: filters, sort, where the previous page ended, size.
#[derive(Debug, Clone)]
pub struct ProductSearch {
    pub(super) filters: SearchFilters,
    pub(super) sort: SearchSort,
    pub(super) after: Option<Cursor>,
    pub(super) limit: PageSize,
}

impl ProductSearch {
    /// Checks what no single field can check alone. Without a `sort`, a search with text is
    /// ordered by relevance and one without by newest.
    pub fn new(
        filters: SearchFilters,
        sort: Option<SearchSort>,
        after: Option<Cursor>,
        limit: PageSize,
    ) -> Result<Self, Vec<SearchError>> {
        let sort = sort.unwrap_or(if filters.text.is_some() {
            SearchSort::Relevance
        } else {
            SearchSort::Newest
        });
        let mut errors = Vec::new();
        if sort == SearchSort::Relevance && filters.text.is_none() {
            errors.push(SearchError::RelevanceNeedsText);
        }
        if !filters.price.is_open() && filters.currency.is_none() {
            errors.push(SearchError::PriceNeedsCurrency);
        }
        if let Some(cursor) = &after {
            if cursor.sort() != sort {
                errors.push(SearchError::CursorForAnotherSort(cursor.sort()));
            } else if cursor.search() != filters.fingerprint() {
                errors.push(SearchError::CursorForAnotherSearch);
            }
        }
        if errors.is_empty() {
            Ok(Self {
                filters,
                sort,
                after,
                limit,
            })
        } else {
            Err(errors)
        }
    }

    pub fn sort(&self) -> SearchSort {
        self.sort
    }

    pub fn filters(&self) -> &SearchFilters {
        &self.filters
    }
}
// ANCHOR_END: product_search

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::cursor::SortKey;
    use crate::catalog::search::test_support::some_id;

    #[test]
    fn sorts_are_an_allow_list() {
        for sort in SearchSort::ALL {
            assert_eq!(sort.name().parse::<SearchSort>(), Ok(sort));
        }
        for bad in [
            "",
            "price",
            "PRICE_ASC",
            "price_asc; DROP TABLE products",
            "id",
        ] {
            assert_eq!(bad.parse::<SearchSort>(), Err(UnknownSort), "{bad}");
        }
    }

    #[test]
    fn text_and_slugs_are_checked_before_any_sql() {
        assert!(SearchText::parse("  red kettle ").is_ok());
        assert!(SearchText::parse("").is_err());
        assert!(SearchText::parse("nul\0byte").is_err());
        assert!(SearchText::parse(&"x".repeat(201)).is_err());
        assert!(CategorySlug::parse("outdoor-lighting").is_ok());
        for bad in ["", "Audio", "a--b", "-a", "a-", "' OR 1=1 --", "audio;drop"] {
            assert!(CategorySlug::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            PriceRange::new(Some(10), Some(5)),
            Err(FilterError::PriceOrder)
        );
        assert_eq!(PriceRange::new(Some(-1), None), Err(FilterError::Price));
    }

    #[test]
    fn cross_field_rules_are_all_reported() {
        let filters = SearchFilters {
            price: PriceRange::new(Some(100), None).unwrap(),
            ..SearchFilters::default()
        };
        let errors = ProductSearch::new(
            filters,
            Some(SearchSort::Relevance),
            None,
            PageSize::DEFAULT,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                SearchError::RelevanceNeedsText,
                SearchError::PriceNeedsCurrency
            ]
        );
    }

    #[test]
    fn a_cursor_only_works_for_its_own_sort_and_filters() {
        let filters = SearchFilters::default();
        let cursor = Cursor::new(
            SearchSort::PriceAsc,
            SortKey::Price(5),
            some_id(),
            filters.fingerprint(),
        );
        let other_sort = ProductSearch::new(
            filters.clone(),
            Some(SearchSort::PriceDesc),
            Some(cursor.clone()),
            PageSize::DEFAULT,
        );
        assert_eq!(
            other_sort.unwrap_err(),
            [SearchError::CursorForAnotherSort(SearchSort::PriceAsc)]
        );
        let narrower = SearchFilters {
            in_stock: true,
            ..filters.clone()
        };
        let other_search = ProductSearch::new(
            narrower,
            Some(SearchSort::PriceAsc),
            Some(cursor.clone()),
            PageSize::DEFAULT,
        );
        assert_eq!(
            other_search.unwrap_err(),
            [SearchError::CursorForAnotherSearch]
        );
        assert!(
            ProductSearch::new(
                filters,
                Some(SearchSort::PriceAsc),
                Some(cursor),
                PageSize::DEFAULT
            )
            .is_ok()
        );
    }
}
