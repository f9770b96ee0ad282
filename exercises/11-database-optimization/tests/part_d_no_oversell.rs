//! Part (d): a stock reservation that cannot oversell, against a live PostgreSQL.
//!
//! Every test creates the stock table in a fresh database. The concurrency tests are of two
//! kinds. Many reservations at once through a pool of 10 connections, for several stock levels
//! and crowd sizes: exactly as many succeed as there are units. And two deterministic ones: the
//! test itself holds a sale open in its own transaction, starts your reservation, waits until
//! PostgreSQL reports it waiting for the sale's row lock, and only then commits the sale.
//!
//! Run with `cargo test -p exercise-11 part_d` (PostgreSQL must be up).

mod needs_postgres {
    use std::sync::Arc;
    use std::time::Duration;

    use exercise_11::{ReserveError, Reserved, STOCK_SCHEMA, reserve};
    use sqlx::PgPool;
    use sqlx::postgres::PgPoolOptions;
    use tokio::sync::Barrier;

    async fn stock(levels: &[(&str, i32)]) -> testkit::PgDatabase {
        let db = testkit::postgres().await;
        sqlx::raw_sql(STOCK_SCHEMA)
            .execute(db.pool())
            .await
            .expect("the stock schema applies to a fresh database");
        for &(sku, on_hand) in levels {
            sqlx::query("INSERT INTO stock (sku, on_hand) VALUES ($1, $2)")
                .bind(sku)
                .bind(on_hand)
                .execute(db.pool())
                .await
                .expect("the fixture inserts stock");
        }
        db
    }

    async fn on_hand(pool: &PgPool, sku: &str) -> i32 {
        sqlx::query_scalar("SELECT on_hand FROM stock WHERE sku = $1")
            .bind(sku)
            .fetch_one(pool)
            .await
            .expect("the stock row can be read")
    }

    fn reserved(sku: &str, quantity: i32, left: i32) -> Reserved {
        Reserved {
            sku: sku.to_owned(),
            quantity,
            left,
        }
    }

    #[tokio::test]
    async fn reservations_of_several_units_take_them_and_say_what_is_left() {
        let db = stock(&[("MUG", 10), ("CUP", 4)]).await;
        let pool = db.pool();

        for left in [7, 4, 1] {
            let outcome = reserve(pool, "MUG", 3)
                .await
                .expect("enough MUGs are on hand");
            assert_eq!(outcome, reserved("MUG", 3, left));
        }
        let refused = reserve(pool, "MUG", 3).await;
        assert!(
            matches!(&refused, Err(ReserveError::OutOfStock { sku, requested: 3 }) if sku == "MUG"),
            "1 MUG left and 3 asked for: expected OutOfStock, got {refused:?}"
        );
        assert_eq!(
            on_hand(pool, "MUG").await,
            1,
            "a refused reservation takes nothing"
        );
        let last = reserve(pool, "MUG", 1)
            .await
            .expect("the last MUG can be reserved");
        assert_eq!(last, reserved("MUG", 1, 0));
        assert_eq!(
            on_hand(pool, "CUP").await,
            4,
            "reserving MUGs leaves the CUPs alone"
        );
    }

    #[tokio::test]
    async fn exactly_what_is_on_hand_can_be_reserved_and_no_more() {
        let db = stock(&[("LAMP", 4)]).await;
        let pool = db.pool();

        let all = reserve(pool, "LAMP", 4)
            .await
            .expect("4 of 4 can be reserved");
        assert_eq!(all, reserved("LAMP", 4, 0));
        let none = reserve(pool, "LAMP", 1).await;
        assert!(
            matches!(none, Err(ReserveError::OutOfStock { requested: 1, .. })),
            "no LAMP left: expected OutOfStock, got {none:?}"
        );
        let huge = reserve(pool, "LAMP", i32::MAX).await;
        assert!(
            matches!(huge, Err(ReserveError::OutOfStock { .. })),
            "expected OutOfStock, got {huge:?}"
        );
        assert_eq!(on_hand(pool, "LAMP").await, 0);
    }

    #[tokio::test]
    async fn zero_or_negative_quantities_are_refused() {
        let db = stock(&[("PEN", 5)]).await;
        let pool = db.pool();

        for quantity in [0, -1, -5, i32::MIN] {
            let outcome = reserve(pool, "PEN", quantity).await;
            assert!(
                matches!(outcome, Err(ReserveError::InvalidQuantity(q)) if q == quantity),
                "a quantity of {quantity}: expected InvalidQuantity({quantity}), got {outcome:?}"
            );
            let unknown = reserve(pool, "GHOST", quantity).await;
            assert!(
                matches!(unknown, Err(ReserveError::InvalidQuantity(_))),
                "the quantity is checked first, whatever the SKU: got {unknown:?}"
            );
        }
        assert_eq!(on_hand(pool, "PEN").await, 5, "nothing was reserved");
    }

    #[tokio::test]
    async fn an_unknown_sku_is_not_out_of_stock() {
        let db = stock(&[("PEN", 5)]).await;
        let pool = db.pool();

        let outcome = reserve(pool, "GHOST", 1).await;
        assert!(
            matches!(&outcome, Err(ReserveError::UnknownSku(sku)) if sku == "GHOST"),
            "no stock row for GHOST: expected UnknownSku, got {outcome:?}"
        );
        let empty = stock(&[("PEN", 0)]).await;
        let outcome = reserve(empty.pool(), "PEN", 1).await;
        assert!(
            matches!(outcome, Err(ReserveError::OutOfStock { .. })),
            "PEN has a row with 0 on hand: expected OutOfStock, got {outcome:?}"
        );
    }

    #[tokio::test]
    async fn concurrent_reservations_never_sell_more_than_there_is() {
        // (reservations at once, units each, stock): exactly stock / units succeed.
        for (crowd, quantity, units) in [(20, 1, 5), (50, 1, 17), (8, 1, 8), (12, 3, 20)] {
            let db = stock(&[("TICKET", units)]).await;
            // A larger pool than testkit's, so that many reservations really overlap.
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .connect_with(db.connect_options())
                .await
                .expect("a second pool connects to the test's database");
            let start = Arc::new(Barrier::new(crowd));
            let mut tasks = Vec::new();
            for _ in 0..crowd {
                let pool = pool.clone();
                let start = Arc::clone(&start);
                tasks.push(tokio::spawn(async move {
                    start.wait().await;
                    reserve(&pool, "TICKET", quantity).await
                }));
            }
            let mut succeeded = 0;
            let mut refused = 0;
            for task in tasks {
                match task.await {
                    Ok(Ok(reservation)) => {
                        assert!(reservation.left >= 0, "{reservation:?}: stock below zero");
                        succeeded += 1;
                    }
                    Ok(Err(ReserveError::OutOfStock { .. })) => refused += 1,
                    Ok(Err(other)) => panic!("a reservation failed: {other}"),
                    Err(error) => std::panic::resume_unwind(error.into_panic()),
                }
            }
            let expected = (units / quantity).min(i32::try_from(crowd).expect("a small crowd"));
            assert_eq!(
                succeeded, expected,
                "{crowd} reservations of {quantity} at once on {units} units: exactly {expected} \
                 succeed ({refused} were refused)"
            );
            assert_eq!(
                on_hand(&pool, "TICKET").await,
                units - expected * quantity,
                "{crowd} reservations of {quantity} on {units} units: what is left is what was \
                 not reserved, never below zero"
            );
        }
    }

    /// Takes `sale` units in a transaction of the test's own, starts `reserve(quantity)`, and
    /// commits the sale once the reservation waits for its lock (or has finished).
    async fn reserve_during_a_sale(
        db: &testkit::PgDatabase,
        sale: i32,
        quantity: i32,
    ) -> Result<Reserved, ReserveError> {
        let mut open = db.pool().begin().await.expect("the sale begins");
        sqlx::query("UPDATE stock SET on_hand = on_hand - $1 WHERE sku = 'BIKE'")
            .bind(sale)
            .execute(&mut *open)
            .await
            .expect("the sale takes its units");
        let pool = db.pool().clone();
        let reservation = tokio::spawn(async move { reserve(&pool, "BIKE", quantity).await });
        while !reservation.is_finished() && !someone_waits_for_a_lock(db.pool()).await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        open.commit().await.expect("the sale commits");
        match reservation.await {
            Ok(outcome) => outcome,
            // The reservation's own panic (a todo!(), say) was printed where it happened.
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
    async fn units_taken_by_a_concurrent_sale_are_not_reserved_again() {
        let db = stock(&[("BIKE", 5)]).await;

        // The sale takes 3 of the 5 while the reservation of 4 runs: deciding on the 5 read
        // before the sale committed would oversell (or overwrite the sale).
        let outcome = reserve_during_a_sale(&db, 3, 4).await;

        assert!(
            matches!(outcome, Err(ReserveError::OutOfStock { requested: 4, .. })),
            "a sale took 3 of 5 BIKEs while 4 were being reserved: expected OutOfStock, got \
             {outcome:?}"
        );
        assert_eq!(
            on_hand(db.pool(), "BIKE").await,
            2,
            "the sale's 3 are gone, no more"
        );
    }

    #[tokio::test]
    async fn a_reservation_during_a_sale_takes_what_the_sale_left() {
        let db = stock(&[("BIKE", 5)]).await;

        let outcome = reserve_during_a_sale(&db, 3, 2)
            .await
            .expect("2 BIKEs are left after the sale: reserving 2 succeeds");

        assert_eq!(
            outcome,
            reserved("BIKE", 2, 0),
            "the sale's 3 and the reservation's 2 both leave: 0 left, no update lost"
        );
        assert_eq!(on_hand(db.pool(), "BIKE").await, 0);
    }
}
