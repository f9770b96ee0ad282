//! Part (b): a stock transfer in one transaction, against a live PostgreSQL.
//!
//! Every test migrates a fresh database with one product and three warehouses, PAR1, LYS1 and
//! MRS1; PAR1 holds 10 units and the others have no stock row yet.
//!
//! The last three tests are about concurrency. Two of them are deterministic: the test itself
//! holds a row lock in its own transaction (as an order being placed would), starts your
//! transfer, waits until PostgreSQL reports the transfer waiting for that lock, and only then
//! commits. The third runs many transfers at once, back and forth.
//!
//! Run with `cargo test -p exercise-02 part_b` (PostgreSQL must be up).

mod needs_postgres {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use exercise_02::{Transfer, TransferError, transfer_stock};
    use shop_domain::ProductId;
    use sqlx::PgPool;
    use sqlx::postgres::PgPoolOptions;
    use sqlx::types::Uuid;
    use tokio::sync::Barrier;

    const WAREHOUSES: [&str; 3] = ["PAR1", "LYS1", "MRS1"];

    struct Shop {
        db: testkit::PgDatabase,
        product: ProductId,
    }

    impl Shop {
        fn pool(&self) -> &PgPool {
            self.db.pool()
        }

        /// Every stock row of the product: warehouse code → on hand. A missing row is absent.
        async fn stock(&self) -> BTreeMap<String, i32> {
            sqlx::query_as::<_, (String, i32)>(
                "SELECT w.code, s.on_hand FROM stock_levels AS s
                 JOIN warehouses AS w ON w.id = s.warehouse_id
                 WHERE s.product_id = $1",
            )
            .bind(self.product.as_uuid())
            .fetch_all(self.pool())
            .await
            .expect("the stock levels can be read")
            .into_iter()
            .collect()
        }
    }

    fn stock(levels: &[(&str, i32)]) -> BTreeMap<String, i32> {
        levels
            .iter()
            .map(|&(code, on_hand)| (code.to_owned(), on_hand))
            .collect()
    }

    async fn shop() -> Shop {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR
            .run(db.pool())
            .await
            .expect("the shop migrations apply to a fresh database");
        let category = Uuid::now_v7();
        sqlx::query("INSERT INTO categories (id, slug, name) VALUES ($1, 'games', 'Games')")
            .bind(category)
            .execute(db.pool())
            .await
            .expect("the fixture inserts");
        let product = ProductId::generate();
        sqlx::query(
            "INSERT INTO products (id, sku, name, category_id, price_minor, currency)
             VALUES ($1, 'BOARD-GAME-1', 'Board game', $2, 5000, 'EUR')",
        )
        .bind(product.as_uuid())
        .bind(category)
        .execute(db.pool())
        .await
        .expect("the fixture inserts");
        for code in WAREHOUSES {
            sqlx::query("INSERT INTO warehouses (id, code, name) VALUES ($1, $2, $2)")
                .bind(Uuid::now_v7())
                .bind(code)
                .execute(db.pool())
                .await
                .expect("the fixture inserts");
        }
        sqlx::query(
            "INSERT INTO stock_levels (warehouse_id, product_id, on_hand)
             SELECT id, $1, 10 FROM warehouses WHERE code = 'PAR1'",
        )
        .bind(product.as_uuid())
        .execute(db.pool())
        .await
        .expect("the fixture inserts");
        Shop { db, product }
    }

    #[tokio::test]
    async fn moves_stock_and_creates_the_destination_row() {
        let shop = shop().await;

        let first = transfer_stock(shop.pool(), shop.product, "PAR1", "LYS1", 4)
            .await
            .expect("PAR1 holds 10 units: moving 4 to LYS1 succeeds");
        assert_eq!(
            first,
            Transfer {
                from_on_hand: 6,
                to_on_hand: 4
            },
            "the Transfer reports both levels after the move"
        );
        assert_eq!(
            shop.stock().await,
            stock(&[("PAR1", 6), ("LYS1", 4)]),
            "LYS1 had no stock row: the transfer creates it"
        );

        // The rest, into the row the first transfer created; the source keeps its row at 0.
        let second = transfer_stock(shop.pool(), shop.product, "PAR1", "LYS1", 6)
            .await
            .expect("PAR1 holds 6 units: moving all 6 succeeds");
        assert_eq!(
            second,
            Transfer {
                from_on_hand: 0,
                to_on_hand: 10
            },
            "the second transfer adds to LYS1's existing row"
        );
        assert_eq!(
            shop.stock().await,
            stock(&[("PAR1", 0), ("LYS1", 10)]),
            "the source keeps its row at 0 units"
        );
    }

    #[tokio::test]
    async fn updates_the_timestamps_of_both_rows() {
        let shop = shop().await;
        // A first transfer creates LYS1's row, so the second one below updates two rows that
        // both existed, and both must be stamped.
        transfer_stock(shop.pool(), shop.product, "PAR1", "LYS1", 1)
            .await
            .expect("PAR1 holds 10 units: moving 1 to LYS1 succeeds");
        sqlx::query("UPDATE stock_levels SET updated_at = '2000-01-01T00:00:00Z'")
            .execute(shop.pool())
            .await
            .expect("the timestamps can be aged");

        transfer_stock(shop.pool(), shop.product, "PAR1", "LYS1", 1)
            .await
            .expect("PAR1 holds 9 units: moving 1 more to LYS1 succeeds");

        let stale: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM stock_levels WHERE updated_at < '2001-01-01T00:00:00Z'",
        )
        .fetch_one(shop.pool())
        .await
        .expect("the timestamps can be read");
        assert_eq!(
            stale, 0,
            "a transfer sets updated_at = now() on both rows, the source's and the destination's"
        );
    }

    #[tokio::test]
    async fn not_enough_stock_is_an_error_that_changes_nothing() {
        let shop = shop().await;

        let outcome = transfer_stock(shop.pool(), shop.product, "PAR1", "LYS1", 11).await;

        match outcome {
            Err(TransferError::InsufficientStock {
                warehouse,
                product,
                on_hand,
                requested,
            }) => {
                assert_eq!(
                    (warehouse.as_str(), product, on_hand, requested),
                    ("PAR1", shop.product, 10, 11),
                    "InsufficientStock names the source, the product, what it holds and what \
                     was asked for"
                );
            }
            other => panic!("11 units from PAR1's 10: expected InsufficientStock, got {other:?}"),
        }
        assert_eq!(
            shop.stock().await,
            stock(&[("PAR1", 10)]),
            "a failed transfer must not create the destination row nor touch the source"
        );
    }

    #[tokio::test]
    async fn a_warehouse_without_a_stock_row_holds_nothing() {
        let shop = shop().await;

        let outcome = transfer_stock(shop.pool(), shop.product, "MRS1", "PAR1", 1).await;

        assert!(
            matches!(
                outcome,
                Err(TransferError::InsufficientStock {
                    on_hand: 0,
                    requested: 1,
                    ..
                })
            ),
            "MRS1 has no stock row, which means 0 units: expected InsufficientStock with \
             on_hand 0, got {outcome:?}"
        );
        assert_eq!(
            shop.stock().await,
            stock(&[("PAR1", 10)]),
            "a refused transfer changes nothing"
        );
    }

    #[tokio::test]
    async fn a_quantity_beyond_any_stock_level_is_insufficient_stock() {
        let shop = shop().await;

        let outcome = transfer_stock(shop.pool(), shop.product, "PAR1", "LYS1", u32::MAX).await;

        assert!(
            matches!(
                outcome,
                Err(TransferError::InsufficientStock {
                    on_hand: 10,
                    requested: u32::MAX,
                    ..
                })
            ),
            "u32::MAX units is more than any i32 stock level holds (compare in a type where both \
             fit; `as i32` makes it -1): expected InsufficientStock, got {outcome:?}"
        );
        assert_eq!(
            shop.stock().await,
            stock(&[("PAR1", 10)]),
            "a refused transfer changes nothing"
        );
    }

    #[tokio::test]
    async fn invalid_requests_are_typed_errors_that_change_nothing() {
        let shop = shop().await;
        let stranger = ProductId::generate();
        let pool = shop.pool();

        let zero = transfer_stock(pool, shop.product, "PAR1", "LYS1", 0).await;
        assert!(
            matches!(zero, Err(TransferError::ZeroQuantity)),
            "a transfer of 0 units is the ZeroQuantity error, not a no-op: got {zero:?}"
        );

        let same = transfer_stock(pool, shop.product, "PAR1", "PAR1", 1).await;
        assert!(
            matches!(&same, Err(TransferError::SameWarehouse(code)) if code == "PAR1"),
            "PAR1 to PAR1 is SameWarehouse(\"PAR1\"): got {same:?}"
        );

        // (from, to, the code the error names): when both are unknown, the source is checked
        // first.
        for (from, to, unknown) in [
            ("XXX9", "LYS1", "XXX9"),
            ("PAR1", "NOPE", "NOPE"),
            ("AAA1", "BBB2", "AAA1"),
        ] {
            let outcome = transfer_stock(pool, shop.product, from, to, 1).await;
            assert!(
                matches!(&outcome, Err(TransferError::UnknownWarehouse(code)) if code == unknown),
                "{from} -> {to}: expected UnknownWarehouse({unknown}), got {outcome:?}"
            );
        }

        let product = transfer_stock(pool, stranger, "PAR1", "LYS1", 1).await;
        assert!(
            matches!(product, Err(TransferError::UnknownProduct(id)) if id == stranger),
            "a product id no product has is UnknownProduct with that id: got {product:?}"
        );

        assert_eq!(
            shop.stock().await,
            stock(&[("PAR1", 10)]),
            "refused transfers change nothing and create no row"
        );
    }

    /// Runs a transfer of `quantity` units from PAR1 to LYS1 while the test's own transaction
    /// holds PAR1's row, having taken `sold` units from it (an order being placed). The
    /// transaction commits only once PostgreSQL shows a session of this database waiting for a
    /// lock, that is once the transfer has reached PAR1's row, or when the transfer finished
    /// without ever waiting.
    async fn transfer_during_a_sale(
        shop: &Shop,
        sold: i32,
        quantity: u32,
    ) -> Result<Transfer, TransferError> {
        let mut sale = shop
            .pool()
            .begin()
            .await
            .expect("the sale's transaction begins");
        sqlx::query(
            "UPDATE stock_levels SET on_hand = on_hand - $1
             WHERE product_id = $2 AND warehouse_id = (SELECT id FROM warehouses WHERE code = 'PAR1')",
        )
        .bind(sold)
        .bind(shop.product.as_uuid())
        .execute(&mut *sale)
        .await
        .expect("the sale takes its units");

        let pool = shop.pool().clone();
        let product = shop.product;
        let transfer =
            tokio::spawn(
                async move { transfer_stock(&pool, product, "PAR1", "LYS1", quantity).await },
            );

        while !transfer.is_finished() && !someone_waits_for_a_lock(shop.pool()).await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sale.commit().await.expect("the sale commits");
        match transfer.await {
            Ok(outcome) => outcome,
            // The transfer's own panic (a todo!(), say) was printed where it happened; carry it
            // on rather than wrap it in a second message.
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }

    async fn someone_waits_for_a_lock(pool: &PgPool) -> bool {
        sqlx::query_scalar(
            "SELECT EXISTS (
                 SELECT 1 FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'
             )",
        )
        .fetch_one(pool)
        .await
        .expect("pg_stat_activity can be read")
    }

    #[tokio::test]
    async fn a_concurrent_sale_is_not_overwritten() {
        let shop = shop().await;

        // The sale takes 5 of the 10 while the transfer runs. Reading on_hand (10) without a
        // lock, then writing back 10 - 1 = 9, would erase the sale: a lost update.
        let transfer = transfer_during_a_sale(&shop, 5, 1)
            .await
            .expect("PAR1 holds 5 units after the sale: moving 1 succeeds");

        assert_eq!(
            transfer,
            Transfer {
                from_on_hand: 4,
                to_on_hand: 1
            },
            "a sale took 5 of PAR1's 10 units while the transfer ran: a level read before the \
             sale committed must not be written back"
        );
        assert_eq!(
            shop.stock().await,
            stock(&[("PAR1", 4), ("LYS1", 1)]),
            "the sale's 5 units and the transfer's 1 both leave PAR1: no update is lost"
        );
    }

    #[tokio::test]
    async fn stock_taken_by_a_concurrent_sale_is_not_transferred() {
        let shop = shop().await;

        // The sale takes 8 of the 10, so a transfer of 5 must be refused, reporting the 2 units
        // left. Deciding on the 10 seen before the sale committed would either write a stale
        // level or drive on_hand below zero.
        let outcome = transfer_during_a_sale(&shop, 8, 5).await;

        assert!(
            matches!(
                outcome,
                Err(TransferError::InsufficientStock {
                    on_hand: 2,
                    requested: 5,
                    ..
                })
            ),
            "a sale took 8 of PAR1's 10 units while the transfer ran: expected InsufficientStock \
             with the 2 units left, got {outcome:?}"
        );
        assert_eq!(
            shop.stock().await,
            stock(&[("PAR1", 2)]),
            "a refused transfer changes nothing and creates no row"
        );
    }

    #[tokio::test]
    async fn concurrent_transfers_conserve_stock_and_never_deadlock() {
        const ROUNDS: usize = 4;
        const TASKS: usize = 50;
        let shop = shop().await;
        // A larger pool than testkit's, so that many transactions really overlap.
        let pool = PgPoolOptions::new()
            .max_connections(12)
            .connect_with(shop.db.connect_options())
            .await
            .expect("a second pool connects to the test's database");
        // One transfer alone first: if transfers fail at all, this says so once, instead of
        // fifty times from the tasks below. It leaves PAR1 9 and LYS1 1.
        transfer_stock(&pool, shop.product, "PAR1", "LYS1", 1)
            .await
            .expect("PAR1 holds 10 units: moving 1 to LYS1 succeeds");
        // 30 more units in LYS1; MRS1 starts without a row, so its row is created under load.
        sqlx::query(
            "UPDATE stock_levels SET on_hand = on_hand + 30
             WHERE product_id = $1
               AND warehouse_id = (SELECT id FROM warehouses WHERE code = 'LYS1')",
        )
        .bind(shop.product.as_uuid())
        .execute(&pool)
        .await
        .expect("the fixture updates");
        let mut expected = stock(&[("PAR1", 9), ("LYS1", 31), ("MRS1", 0)]);

        for round in 0..ROUNDS {
            // Every task waits at the barrier, so the transfers start together and overlap.
            let barrier = Arc::new(Barrier::new(TASKS));
            let mut tasks = Vec::new();
            for task in 0..TASKS {
                let (pool, barrier, product) = (pool.clone(), barrier.clone(), shop.product);
                // Each pair of warehouses in both directions, with varying quantities.
                let from = WAREHOUSES[(task + round) % 3];
                let to = WAREHOUSES[(task + round + 1 + task % 2) % 3];
                let quantity = u32::try_from(1 + (task * 7 + round) % 5).expect("at most 5");
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    let outcome = transfer_stock(&pool, product, from, to, quantity).await;
                    (from, to, quantity, outcome)
                }));
            }
            for task in tasks {
                let (from, to, quantity, outcome) = match task.await {
                    Ok(finished) => finished,
                    Err(error) => std::panic::resume_unwind(error.into_panic()),
                };
                match outcome {
                    Ok(transfer) => {
                        let moved = i32::try_from(quantity).expect("at most 5 units");
                        *expected.get_mut(from).expect("a known warehouse") -= moved;
                        *expected.get_mut(to).expect("a known warehouse") += moved;
                        assert!(
                            transfer.from_on_hand >= 0 && transfer.to_on_hand >= moved,
                            "{from} -> {to} x{quantity} returned {transfer:?}"
                        );
                    }
                    Err(TransferError::InsufficientStock { on_hand, .. }) => {
                        assert!(
                            on_hand >= 0 && i64::from(on_hand) < i64::from(quantity),
                            "{from} -> {to} x{quantity} refused with on_hand {on_hand}"
                        );
                    }
                    Err(other) => panic!(
                        "under concurrency every transfer either completes or is refused with \
                         InsufficientStock; a deadlock (locks taken in different orders) or a \
                         negative stock level is a bug. {from} -> {to} x{quantity} failed: \
                         {other:?}"
                    ),
                }
            }
        }

        // The stock rows are exactly the initial levels plus every successful transfer: a lost
        // update would leave one of them off, whatever the total says.
        let mut actual = shop.stock().await;
        actual.entry("MRS1".to_owned()).or_insert(0);
        assert_eq!(
            actual, expected,
            "each warehouse must hold its initial stock plus what the successful transfers moved \
             in minus what they moved out; a difference means an update was lost"
        );
        assert_eq!(
            actual.values().sum::<i32>(),
            40,
            "stock is conserved: transfers move units, they never make or lose any"
        );
        pool.close().await;
    }
}
