//! The cart repository against a real PostgreSQL: set is an upsert, lines are priced at read
//! time, one currency per cart, the schema refuses quantities the type refuses, and erasing an
//! account empties its cart.
//!
//! `cargo test -p shop-db --test carts` (needs PostgreSQL: `cargo xtask services up`).

mod needs_postgres {
    use shop_db::{CartError, CartRepo, DisplayName, NewUser, Quantity, UserRepo};
    use shop_domain::{Email, ProductId, UserId};
    use sqlx::PgPool;

    struct Shop {
        _db: testkit::PgDatabase,
        pool: PgPool,
        carts: CartRepo,
        users: UserRepo,
    }

    async fn shop() -> Shop {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR
            .run(db.pool())
            .await
            .expect("the shop migrations apply to a fresh database");
        let pool = db.pool().clone();
        sqlx::query(
            "INSERT INTO categories (id, slug, name) VALUES (gen_random_uuid(), 'misc', 'Misc')",
        )
        .execute(&pool)
        .await
        .expect("a category inserts");
        Shop {
            carts: CartRepo::new(pool.clone()),
            users: UserRepo::new(pool.clone()),
            pool,
            _db: db,
        }
    }

    impl Shop {
        async fn product(&self, sku: &str, price_minor: i64, currency: &str) -> ProductId {
            let id = ProductId::generate();
            sqlx::query(
                "INSERT INTO products (id, sku, name, category_id, price_minor, currency)
                 SELECT $1, $2, $2, id, $3, $4 FROM categories WHERE slug = 'misc'",
            )
            .bind(id.as_uuid())
            .bind(sku)
            .bind(price_minor)
            .bind(currency)
            .execute(&self.pool)
            .await
            .expect("the product inserts");
            id
        }

        async fn user(&self) -> UserId {
            let id = UserId::generate();
            let email = format!("{}@example.test", id.as_uuid().simple());
            self.users
                .create(NewUser {
                    email: Email::parse(&email).expect("a valid address"),
                    display_name: DisplayName::parse("Cart Owner").expect("a valid name"),
                    password_hash: None,
                })
                .await
                .expect("the user inserts")
                .id
        }
    }

    fn units(n: i64) -> Quantity {
        Quantity::new(n).expect("a valid quantity")
    }

    #[tokio::test]
    async fn set_quantity_is_an_upsert_and_totals_are_computed_on_read() {
        let shop = shop().await;
        let user = shop.user().await;
        let lamp = shop.product("LAMP-1", 1_250, "EUR").await;
        let rope = shop.product("ROPE-2", 399, "EUR").await;

        shop.carts
            .set_quantity(user, lamp, units(2))
            .await
            .expect("set");
        shop.carts
            .set_quantity(user, lamp, units(2))
            .await
            .expect("set again");
        shop.carts
            .set_quantity(user, rope, units(3))
            .await
            .expect("set");
        let cart = shop.carts.get(user).await.expect("the cart reads");
        assert_eq!(cart.lines.len(), 2, "one line per product");
        assert_eq!(cart.lines[0].line_total.amount_minor(), 2_500);
        assert_eq!(cart.subtotal.map(|m| m.amount_minor()), Some(2_500 + 1_197));

        assert!(shop.carts.remove(user, lamp).await.expect("remove"));
        assert!(!shop.carts.remove(user, lamp).await.expect("remove again"));
        assert_eq!(shop.carts.clear(user).await.expect("clear"), 1);
        let empty = shop.carts.get(user).await.expect("the cart reads");
        assert!(empty.lines.is_empty());
        assert_eq!(empty.subtotal, None);
    }

    #[tokio::test]
    async fn a_merged_guest_cart_adds_up_and_keeps_the_cart_s_rules() {
        let shop = shop().await;
        let user = shop.user().await;
        let lamp = shop.product("LAMP-1", 1_250, "EUR").await;
        let rope = shop.product("ROPE-2", 399, "EUR").await;
        let dollar = shop.product("USD-1", 100, "USD").await;
        let gone = shop.product("GONE-1", 100, "EUR").await;
        sqlx::query("UPDATE products SET archived_at = now() WHERE id = $1")
            .bind(gone.as_uuid())
            .execute(&shop.pool)
            .await
            .expect("archived");
        shop.carts
            .set_quantity(user, lamp, units(98))
            .await
            .expect("set");

        let merged = shop
            .carts
            .merge(
                user,
                &[
                    (lamp, units(5)),
                    (rope, units(1)),
                    (rope, units(2)),
                    (dollar, units(1)),
                    (gone, units(1)),
                ],
            )
            .await
            .expect("merged");
        assert_eq!(
            merged, 2,
            "the lamp raised, the rope added; USD and archived left out"
        );
        let cart = shop.carts.get(user).await.expect("the cart reads");
        let lines: Vec<(ProductId, u8)> = cart
            .lines
            .iter()
            .map(|line| (line.product_id, line.quantity.get()))
            .collect();
        assert_eq!(lines, [(lamp, Quantity::MAX), (rope, 3)]);
    }

    #[tokio::test]
    async fn unknown_archived_and_foreign_currency_products_are_refused() {
        let shop = shop().await;
        let user = shop.user().await;
        let euro = shop.product("EUR-1", 100, "EUR").await;
        let dollar = shop.product("USD-1", 100, "USD").await;
        let gone = shop.product("GONE-1", 100, "EUR").await;
        sqlx::query("UPDATE products SET archived_at = now() WHERE id = $1")
            .bind(gone.as_uuid())
            .execute(&shop.pool)
            .await
            .expect("archived");

        shop.carts
            .set_quantity(user, euro, units(1))
            .await
            .expect("set");
        let refused = shop.carts.set_quantity(user, dollar, units(1)).await;
        assert!(
            matches!(&refused, Err(CartError::CurrencyMismatch { cart, product })
                if cart.code() == "EUR" && product.code() == "USD"),
            "{refused:?}"
        );
        let archived = shop.carts.set_quantity(user, gone, units(1)).await;
        assert!(matches!(archived, Err(CartError::UnknownProduct(id)) if id == gone));
        let unknown = ProductId::generate();
        let missing = shop.carts.set_quantity(user, unknown, units(1)).await;
        assert!(matches!(missing, Err(CartError::UnknownProduct(id)) if id == unknown));
        // The rule is per cart: another customer may fill a cart in dollars.
        let other = shop.user().await;
        shop.carts
            .set_quantity(other, dollar, units(1))
            .await
            .expect("a dollar cart");
        assert_eq!(shop.carts.get(user).await.expect("read").lines.len(), 1);
    }

    #[tokio::test]
    async fn the_schema_refuses_what_the_type_refuses() {
        let shop = shop().await;
        let user = shop.user().await;
        let lamp = shop.product("LAMP-1", 1_250, "EUR").await;
        for quantity in [0, 100] {
            let insert = sqlx::query(
                "INSERT INTO cart_items (user_id, product_id, quantity) VALUES ($1, $2, $3)",
            )
            .bind(user.as_uuid())
            .bind(lamp.as_uuid())
            .bind(quantity)
            .execute(&shop.pool)
            .await;
            assert!(
                insert.is_err(),
                "quantity {quantity} must be refused by the CHECK"
            );
        }
    }

    #[tokio::test]
    async fn erasing_an_account_empties_its_cart() {
        let shop = shop().await;
        let user = shop.user().await;
        let lamp = shop.product("LAMP-1", 1_250, "EUR").await;
        shop.carts
            .set_quantity(user, lamp, units(4))
            .await
            .expect("set");
        assert!(shop.users.erase(user).await.expect("erase"));
        assert!(shop.carts.get(user).await.expect("read").lines.is_empty());
    }
}
