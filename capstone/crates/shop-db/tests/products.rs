//! The catalog repository against a real PostgreSQL: each test migrates a fresh database,
//! inserts a small catalog by hand, and reads it back through `ProductRepo`.
//!
//! Run with `cargo test -p shop-db --test products` (PostgreSQL must be up:
//! `cargo xtask services up`).

mod needs_postgres {
    use shop_db::{DbError, PageSize, ProductRepo};
    use shop_domain::{CategoryId, Currency, Money, ProductId};
    use sqlx::PgPool;

    /// A migrated, empty database for this test.
    async fn database() -> testkit::PgDatabase {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR
            .run(db.pool())
            .await
            .expect("the shop migrations apply to a fresh database");
        db
    }

    async fn insert_category(pool: &PgPool, slug: &str, parent: Option<CategoryId>) -> CategoryId {
        let id = CategoryId::generate();
        sqlx::query("INSERT INTO categories (id, parent_id, slug, name) VALUES ($1, $2, $3, $4)")
            .bind(id.as_uuid())
            .bind(parent.map(|p| p.as_uuid()))
            .bind(slug)
            .bind(slug.to_uppercase())
            .execute(pool)
            .await
            .expect("the fixture category inserts");
        id
    }

    async fn insert_product(
        pool: &PgPool,
        sku: &str,
        category: CategoryId,
        price_minor: i64,
        currency: &str,
    ) -> ProductId {
        let id = ProductId::generate();
        sqlx::query(
            "INSERT INTO products (id, sku, name, category_id, price_minor, currency)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_uuid())
        .bind(sku)
        .bind(format!("Product {sku}"))
        .bind(category.as_uuid())
        .bind(price_minor)
        .bind(currency)
        .execute(pool)
        .await
        .expect("the fixture product inserts");
        id
    }

    #[tokio::test]
    async fn get_maps_the_row_to_domain_types() {
        let db = database().await;
        let audio = insert_category(db.pool(), "audio", None).await;
        let id = insert_product(db.pool(), "HP-100", audio, 4_999, "EUR").await;
        let repo = ProductRepo::new(db.pool().clone());

        let product = repo.get(id).await.unwrap().expect("the product exists");

        assert_eq!(product.id, id);
        assert_eq!(product.sku.as_str(), "HP-100");
        assert_eq!(product.category_id, audio);
        assert_eq!(product.price, Money::from_minor(4_999, Currency::Eur));
        assert!(repo.get(ProductId::generate()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_currency_the_domain_rejects_is_a_typed_error_not_a_panic() {
        let db = database().await;
        let audio = insert_category(db.pool(), "audio", None).await;
        // The schema only checks "three capital letters"; the shop does not trade in XYZ.
        let id = insert_product(db.pool(), "HP-100", audio, 100, "XYZ").await;
        let repo = ProductRepo::new(db.pool().clone());

        let error = repo.get(id).await.unwrap_err();

        assert!(
            matches!(
                error,
                DbError::InvalidRow { table: "products", column: "currency", id: row, .. }
                    if row == id.as_uuid()
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn list_walks_every_product_once_in_id_order() {
        let db = database().await;
        let audio = insert_category(db.pool(), "audio", None).await;
        let mut ids = Vec::new();
        for n in 0..5 {
            ids.push(insert_product(db.pool(), &format!("SKU-{n}"), audio, 100, "EUR").await);
        }
        ids.sort();
        let repo = ProductRepo::new(db.pool().clone());
        let size = PageSize::new(2).unwrap();

        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = repo.list(after, size).await.unwrap();
            pages += 1;
            seen.extend(page.products.iter().map(|p| p.id));
            match page.next_after {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }

        assert_eq!(seen, ids);
        assert_eq!(pages, 3, "2 + 2 + 1");
    }

    #[tokio::test]
    async fn a_category_lists_its_subcategories_products_too() {
        let db = database().await;
        let electronics = insert_category(db.pool(), "electronics", None).await;
        let audio = insert_category(db.pool(), "audio", Some(electronics)).await;
        let headphones = insert_category(db.pool(), "headphones", Some(audio)).await;
        let garden = insert_category(db.pool(), "garden", None).await;
        let tv = insert_product(db.pool(), "TV-1", electronics, 100, "EUR").await;
        let speaker = insert_product(db.pool(), "SPK-1", audio, 100, "EUR").await;
        let phones = insert_product(db.pool(), "HP-1", headphones, 100, "EUR").await;
        insert_product(db.pool(), "HOSE-1", garden, 100, "EUR").await;
        let repo = ProductRepo::new(db.pool().clone());

        assert_eq!(
            listed(&repo, electronics).await,
            sorted(vec![tv, speaker, phones])
        );
        assert_eq!(listed(&repo, audio).await, sorted(vec![speaker, phones]));
        assert_eq!(listed(&repo, headphones).await, vec![phones]);
    }

    /// The ids on the first page of `category`, sorted, to compare as a set.
    async fn listed(repo: &ProductRepo, category: CategoryId) -> Vec<ProductId> {
        let page = repo
            .list_in_category(category, None, PageSize::MAX)
            .await
            .expect("the category's products can be listed");
        sorted(page.products.iter().map(|p| p.id).collect())
    }

    fn sorted(mut ids: Vec<ProductId>) -> Vec<ProductId> {
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn categories_are_listed_by_slug_and_found_by_slug() {
        let db = database().await;
        let garden = insert_category(db.pool(), "garden", None).await;
        let audio = insert_category(db.pool(), "audio", None).await;
        let repo = ProductRepo::new(db.pool().clone());

        let slugs: Vec<_> = repo
            .categories()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.slug)
            .collect();
        assert_eq!(slugs, ["audio", "garden"]);

        let found = repo.category_by_slug("garden").await.unwrap().unwrap();
        assert_eq!(found.id, garden);
        assert_ne!(found.id, audio);
        assert!(repo.category_by_slug("missing").await.unwrap().is_none());
    }
}
