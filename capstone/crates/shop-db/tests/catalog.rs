//! The catalog search and writes against a real PostgreSQL, over the small seed (60 products
//! with attributes): every sort pages through exactly the rows a plain `ORDER BY` returns, the
//! facet counts agree with counting by hand, and an import reports what it did.
//!
//! `cargo test -p shop-db --test catalog` (needs PostgreSQL: `cargo xtask services up`)

mod needs_postgres {
    use std::collections::{BTreeMap, HashSet};

    use shop_db::PageSize;
    use shop_db::ProductRepo;
    use shop_db::catalog::{
        AttributeValue, Attributes, CategorySlug, Description, FilterAttribute, NewProduct,
        PriceRange, ProductName, ProductSearch, SearchFilters, SearchPage, SearchSort, SearchText,
    };
    use shop_db::seed::{self, SeedSize};
    use shop_domain::{Currency, Money, ProductId, Sku};
    use sqlx::PgPool;

    async fn seeded() -> testkit::PgDatabase {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR
            .run(db.pool())
            .await
            .expect("migrations apply");
        seed::seed(db.pool(), &SeedSize::small())
            .await
            .expect("the small seed fits the schema");
        db
    }

    /// Every page of `filters` under `sort`, following the cursors to the end.
    async fn all_pages(
        repo: &ProductRepo,
        filters: &SearchFilters,
        sort: SearchSort,
        size: u32,
    ) -> (Vec<ProductId>, Vec<SearchPage>) {
        let mut ids = Vec::new();
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let search = ProductSearch::new(
                filters.clone(),
                Some(sort),
                after,
                PageSize::new(size).expect("a valid page size"),
            )
            .expect("a valid search");
            let page = repo.search(&search).await.expect("the search runs");
            ids.extend(page.products.iter().map(|p| p.id));
            after = page.next.clone();
            pages.push(page);
            if after.is_none() {
                break;
            }
        }
        (ids, pages)
    }

    /// The same order, straight from SQL, to compare against.
    async fn expected(pool: &PgPool, order_by: &'static str) -> Vec<ProductId> {
        let sql = match order_by {
            "price" => "SELECT id FROM products ORDER BY price_minor, id",
            "price desc" => "SELECT id FROM products ORDER BY price_minor DESC, id DESC",
            "newest" => "SELECT id FROM products ORDER BY created_at DESC, id DESC",
            _ => "SELECT id FROM products ORDER BY name, id",
        };
        sqlx::query_scalar::<_, uuid::Uuid>(sql)
            .fetch_all(pool)
            .await
            .expect("the reference query runs")
            .into_iter()
            .map(ProductId::from_uuid)
            .collect()
    }

    #[tokio::test]
    async fn every_sort_pages_through_everything_in_order_once() {
        let db = seeded().await;
        let repo = ProductRepo::new(db.pool().clone());
        let filters = SearchFilters::default();
        for (sort, order) in [
            (SearchSort::PriceAsc, "price"),
            (SearchSort::PriceDesc, "price desc"),
            (SearchSort::Newest, "newest"),
            (SearchSort::Name, "name"),
        ] {
            // 7 does not divide 60: the last page is a short one.
            let (ids, pages) = all_pages(&repo, &filters, sort, 7).await;
            assert_eq!(ids, expected(db.pool(), order).await, "{sort:?}");
            assert_eq!(pages.len(), 9, "{sort:?}: 8 full pages and 4 left over");
            assert!(pages.iter().all(|p| p.total == 60));
        }
    }

    #[tokio::test]
    async fn relevance_pages_are_complete_and_ranked() {
        let db = seeded().await;
        let repo = ProductRepo::new(db.pool().clone());
        // A word in every seeded description (weight C) and in some names (weight A).
        let filters = SearchFilters {
            text: Some(SearchText::parse("the").unwrap()),
            ..SearchFilters::default()
        };
        let (stop_word, _) = all_pages(&repo, &filters, SearchSort::Relevance, 10).await;
        assert!(stop_word.is_empty(), "a stop word alone matches nothing");

        let filters = SearchFilters {
            text: Some(SearchText::parse("gift").unwrap()),
            ..SearchFilters::default()
        };
        let (ids, pages) = all_pages(&repo, &filters, SearchSort::Relevance, 3).await;
        let matching: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM products WHERE search @@ websearch_to_tsquery('english', 'gift')",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert!(matching > 3, "the seed has several gifts");
        assert_eq!(ids.len() as i64, matching);
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            ids.len(),
            "no repeats"
        );
        assert_eq!(pages[0].total as i64, matching);
    }

    #[tokio::test]
    async fn facets_count_each_refinement_without_their_own_filter() {
        let db = seeded().await;
        let repo = ProductRepo::new(db.pool().clone());
        let first = repo
            .search(
                &ProductSearch::new(SearchFilters::default(), None, None, PageSize::MAX).unwrap(),
            )
            .await
            .unwrap();
        // Count brands by hand from the products themselves.
        let mut by_brand = BTreeMap::<String, u64>::new();
        for product in &first.products {
            *by_brand
                .entry(product.attributes.get("brand").unwrap().to_owned())
                .or_default() += 1;
        }
        let faceted: BTreeMap<String, u64> = first.facets.attributes[&FilterAttribute::Brand]
            .iter()
            .map(|c| (c.value.clone(), c.count))
            .collect();
        assert_eq!(faceted, by_brand);
        let price_total: u64 = first.facets.prices.iter().map(|b| b.count).sum();
        assert_eq!(price_total, 60);

        // Choose the most common brand: the page narrows, the brand facet does not.
        let brand = &first.facets.attributes[&FilterAttribute::Brand][0];
        let filters = SearchFilters {
            attributes: [(
                FilterAttribute::Brand,
                vec![AttributeValue::parse(&brand.value).unwrap()],
            )]
            .into(),
            ..SearchFilters::default()
        };
        let narrowed = repo
            .search(&ProductSearch::new(filters, None, None, PageSize::MAX).unwrap())
            .await
            .unwrap();
        assert_eq!(narrowed.total, brand.count);
        assert_eq!(narrowed.products.len() as u64, brand.count);
        assert_eq!(
            narrowed.facets.attributes[&FilterAttribute::Brand],
            first.facets.attributes[&FilterAttribute::Brand],
            "the brand facet ignores the brand filter"
        );
        let categories: u64 = narrowed.facets.categories.iter().map(|c| c.count).sum();
        assert_eq!(categories, brand.count, "other facets honour it");
    }

    #[tokio::test]
    async fn category_price_and_stock_filters_narrow() {
        let db = seeded().await;
        let repo = ProductRepo::new(db.pool().clone());
        let department = repo.categories().await.unwrap();
        let electronics = department.iter().find(|c| c.slug == "electronics").unwrap();
        let filters = SearchFilters {
            category: Some(CategorySlug::parse("electronics").unwrap()),
            currency: Some(Currency::Eur),
            price: PriceRange::new(Some(2_000), Some(20_000)).unwrap(),
            in_stock: true,
            ..SearchFilters::default()
        };
        let page = repo
            .search(&ProductSearch::new(filters, None, None, PageSize::MAX).unwrap())
            .await
            .unwrap();
        let expected: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM products p JOIN categories c ON c.id = p.category_id
             WHERE c.parent_id = $1 AND p.price_minor BETWEEN 2000 AND 20000
               AND EXISTS (SELECT 1 FROM stock_levels s WHERE s.product_id = p.id AND s.on_hand > 0)",
        )
        .bind(electronics.id.as_uuid())
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert!(expected > 0);
        assert_eq!(page.total as i64, expected);
        assert!(
            page.products
                .iter()
                .all(|p| (2_000..=20_000).contains(&p.price.amount_minor()))
        );
    }

    fn new_product(sku: &str, name: &str, price: i64) -> NewProduct {
        NewProduct {
            sku: Sku::parse(sku).expect("a valid SKU"),
            name: ProductName::parse(name).expect("a valid name"),
            description: Description::parse("Imported.").expect("a valid description"),
            category: CategorySlug::parse("headphones").expect("a valid slug"),
            price: Money::from_minor(price, Currency::Eur),
            attributes: Attributes::from_json(serde_json::json!({ "brand": "Importa" }))
                .expect("valid attributes"),
        }
    }

    #[tokio::test]
    async fn import_upserts_by_sku_and_counts_what_it_did() {
        let db = seeded().await;
        let repo = ProductRepo::new(db.pool().clone());
        let batch = vec![
            new_product("IMP-1", "One", 100),
            new_product("IMP-2", "Two", 200),
        ];
        let first = repo.import(&batch).await.unwrap();
        assert_eq!((first.inserted, first.updated, first.unchanged), (2, 0, 0));

        let again = vec![
            new_product("IMP-1", "One", 100),
            new_product("IMP-2", "Two, cheaper", 150),
            new_product("IMP-3", "Three", 300),
        ];
        let second = repo.import(&again).await.unwrap();
        assert_eq!(
            (second.inserted, second.updated, second.unchanged),
            (1, 1, 1)
        );

        let price: i64 = sqlx::query_scalar("SELECT price_minor FROM products WHERE sku = 'IMP-2'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(price, 150);
    }

    #[tokio::test]
    async fn an_archived_product_leaves_search_and_get_and_import_restores_it() {
        let db = seeded().await;
        let repo = ProductRepo::new(db.pool().clone());
        let created = repo
            .create(&new_product("ARC-1", "Archivable", 999))
            .await
            .unwrap();
        assert!(repo.archive(created.id).await.unwrap());
        assert!(!repo.archive(created.id).await.unwrap(), "only once");
        assert!(repo.get(created.id).await.unwrap().is_none());
        let all = repo
            .search(
                &ProductSearch::new(SearchFilters::default(), None, None, PageSize::MAX).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(all.total, 60, "the archived product is not counted");

        let report = repo
            .import(&[new_product("ARC-1", "Archivable", 999)])
            .await
            .unwrap();
        assert_eq!(report.updated, 1, "importing it puts it back on sale");
        assert!(repo.get(created.id).await.unwrap().is_some());
    }
}
