//! The library against a real PostgreSQL: the loaders' statement counts, no oversold stock
//! under concurrency, the lost update and write skew happening where the lesson says they do,
//! SERIALIZABLE retries, the SKIP LOCKED queue, the column rename, and reading plans. Each
//! test has a fresh database of its own (testkit), dropped afterwards.
//!
//! `cargo test -p lesson-11 --test live`

mod needs_postgres {
    use std::num::NonZeroU32;
    use std::time::Duration;

    use futures::future::join_all;
    use lesson_11::counter::Counted;
    use lesson_11::jobs::{self, Claim};
    use lesson_11::loaders;
    use lesson_11::rename::{self, App, CONTRACT, EXPAND};
    use lesson_11::retry::{self, is_serialization_failure};
    use lesson_11::stock::{self, StockError};
    use sqlx::{Connection, PgConnection, PgPool};
    use tokio_util::sync::CancellationToken;

    fn n(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("a test's attempt count is not zero")
    }

    async fn connection(db: &testkit::PgDatabase) -> PgConnection {
        PgConnection::connect_with(&db.connect_options())
            .await
            .expect("the test database accepts another connection")
    }

    async fn quantity(pool: &PgPool) -> i32 {
        sqlx::query_scalar("SELECT quantity FROM stock WHERE item = 'lamp'")
            .fetch_one(pool)
            .await
            .expect("the lamp is stocked")
    }

    #[tokio::test]
    async fn every_loader_returns_the_same_page_and_only_the_loop_grows_with_it() {
        let db = testkit::postgres().await;
        loaders::seed(db.pool(), 200, 3_000).await.unwrap();
        let counted = Counted::new(db.pool().clone());
        let by_loop = loaders::n_plus_one(&counted, "region-4").await.unwrap();
        assert_eq!(counted.take(), 1 + by_loop.len());
        assert_eq!(by_loop.len(), 20);
        assert!(by_loop.iter().map(|c| c.purchases.len()).sum::<usize>() > 0);

        let by_join = loaders::join(&counted, "region-4").await.unwrap();
        assert_eq!(counted.take(), 1);
        let by_any = loaders::any(&counted, "region-4").await.unwrap();
        assert_eq!(counted.take(), 2);
        let batched = loaders::batched(&counted, "region-4").await.unwrap();
        assert_eq!(counted.take(), 2);
        assert_eq!(by_join, by_loop);
        assert_eq!(by_any, by_loop);
        assert_eq!(batched, by_loop);
    }

    #[tokio::test]
    async fn a_region_with_no_customers_is_an_empty_page_from_every_loader() {
        let db = testkit::postgres().await;
        loaders::seed(db.pool(), 30, 100).await.unwrap();
        let counted = Counted::new(db.pool().clone());
        assert!(loaders::join(&counted, "nowhere").await.unwrap().is_empty());
        assert!(loaders::any(&counted, "nowhere").await.unwrap().is_empty());
        assert!(
            loaders::batched(&counted, "nowhere")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn read_then_write_at_read_committed_loses_an_update() {
        let db = testkit::postgres().await;
        stock::create(db.pool()).await.unwrap();
        stock::restock(db.pool(), "lamp", 10).await.unwrap();
        let (mut a, mut b) = (connection(&db).await, connection(&db).await);
        sqlx::raw_sql("BEGIN").execute(&mut a).await.unwrap();
        sqlx::raw_sql("BEGIN").execute(&mut b).await.unwrap();
        let seen_a = stock::level(&mut a, "lamp").await.unwrap().quantity;
        let seen_b = stock::level(&mut b, "lamp").await.unwrap().quantity;
        stock::set(&mut a, "lamp", seen_a - 1).await.unwrap();
        sqlx::raw_sql("COMMIT").execute(&mut a).await.unwrap();
        stock::set(&mut b, "lamp", seen_b - 1).await.unwrap();
        sqlx::raw_sql("COMMIT").execute(&mut b).await.unwrap();
        assert_eq!(quantity(db.pool()).await, 9, "two sales, one decrement");
    }

    #[tokio::test]
    async fn concurrent_atomic_decrements_never_oversell() {
        let db = testkit::postgres().await;
        stock::create(db.pool()).await.unwrap();
        stock::restock(db.pool(), "lamp", 15).await.unwrap();
        let sales = (0..20).map(|_| async {
            let mut conn = db.pool().acquire().await.unwrap();
            stock::take_one_atomically(&mut conn, "lamp").await.unwrap()
        });
        let sold = join_all(sales).await;
        assert_eq!(sold.iter().filter(|s| s.is_some()).count(), 15);
        assert_eq!(quantity(db.pool()).await, 0);
    }

    #[tokio::test]
    async fn optimistic_writers_retry_until_each_sale_counts_once() {
        let db = testkit::postgres().await;
        stock::create(db.pool()).await.unwrap();
        stock::restock(db.pool(), "lamp", 15).await.unwrap();
        let sales = (0..20).map(|_| stock::take_one_optimistically(db.pool(), "lamp", n(50)));
        let results = join_all(sales).await;
        let sold = results.iter().filter(|r| r.is_ok()).count();
        let sold_out = results
            .iter()
            .filter(|r| matches!(r, Err(StockError::SoldOut)))
            .count();
        assert_eq!((sold, sold_out), (15, 5), "{results:?}");
        let mut conn = db.pool().acquire().await.unwrap();
        let end = stock::level(&mut conn, "lamp").await.unwrap();
        assert_eq!((end.quantity, end.version), (0, 16), "one version per sale");
    }

    #[tokio::test]
    async fn a_stale_version_updates_nothing() {
        let db = testkit::postgres().await;
        stock::create(db.pool()).await.unwrap();
        stock::restock(db.pool(), "lamp", 10).await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        let seen = stock::level(&mut conn, "lamp").await.unwrap();
        assert!(
            stock::write_if_unchanged(&mut conn, "lamp", seen, 9)
                .await
                .unwrap()
        );
        assert!(
            !stock::write_if_unchanged(&mut conn, "lamp", seen, 8)
                .await
                .unwrap()
        );
        assert_eq!(quantity(db.pool()).await, 9);
    }

    #[tokio::test]
    async fn serializable_decrements_retry_and_all_count() {
        let db = testkit::postgres().await;
        stock::create(db.pool()).await.unwrap();
        stock::restock(db.pool(), "lamp", 100).await.unwrap();
        let sales = (0..10).map(|_| {
            retry::serializable(db.pool(), n(20), |conn, _attempt| {
                Box::pin(async move {
                    let seen = stock::level(conn, "lamp").await?;
                    stock::set(conn, "lamp", seen.quantity - 1).await
                })
            })
        });
        let results: Vec<_> = join_all(sales).await;
        for result in &results {
            assert!(result.is_ok(), "{result:?}");
        }
        assert_eq!(
            quantity(db.pool()).await,
            90,
            "no lost update at SERIALIZABLE"
        );
    }

    #[tokio::test]
    async fn write_skew_commits_at_repeatable_read_and_fails_at_serializable() {
        let db = testkit::postgres().await;
        sqlx::raw_sql("CREATE TABLE doctors (name text PRIMARY KEY, on_call boolean NOT NULL)")
            .execute(db.pool())
            .await
            .unwrap();
        for (level, expect_failure) in [("REPEATABLE READ", false), ("SERIALIZABLE", true)] {
            sqlx::raw_sql(
                "DELETE FROM doctors; INSERT INTO doctors VALUES ('a', true), ('b', true)",
            )
            .execute(db.pool())
            .await
            .unwrap();
            let mut conns = [connection(&db).await, connection(&db).await];
            let begin = format!("BEGIN ISOLATION LEVEL {level}");
            for conn in &mut conns {
                sqlx::raw_sql(sqlx::AssertSqlSafe(begin.clone()))
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                let on_call: i64 = sqlx::query_scalar("SELECT count(*) FROM doctors WHERE on_call")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                assert_eq!(on_call, 2);
            }
            // A transaction aborted at its UPDATE or at its COMMIT counts once.
            let mut failed = [false; 2];
            for ((conn, name), failed) in conns.iter_mut().zip(["a", "b"]).zip(&mut failed) {
                let update = sqlx::query("UPDATE doctors SET on_call = false WHERE name = $1")
                    .bind(name)
                    .execute(&mut *conn)
                    .await;
                if let Err(error) = update {
                    assert!(is_serialization_failure(&error), "{error}");
                    *failed = true;
                }
            }
            for (conn, failed) in conns.iter_mut().zip(&mut failed) {
                let end = if *failed { "ROLLBACK" } else { "COMMIT" };
                if let Err(error) = sqlx::raw_sql(end).execute(&mut *conn).await {
                    assert!(is_serialization_failure(&error), "{error}");
                    *failed = true;
                }
            }
            let failures = failed.iter().filter(|&&f| f).count();
            assert_eq!(failures, usize::from(expect_failure), "{level}");
        }
    }

    #[tokio::test]
    async fn only_serialization_failures_are_retried() {
        let db = testkit::postgres().await;
        let mut calls = 0;
        let result = retry::serializable(db.pool(), n(5), |conn, _| {
            calls += 1;
            Box::pin(async move {
                sqlx::query("SELECT 1 / 0").execute(conn).await?;
                Ok(())
            })
        })
        .await;
        let error = result.unwrap_err();
        assert!(!is_serialization_failure(&error));
        assert_eq!(calls, 1, "a division by zero is not worth a second try");
    }

    #[tokio::test]
    async fn skip_locked_and_waiting_workers_both_run_every_job_once() {
        let db = testkit::postgres().await;
        jobs::create(db.pool()).await.unwrap();
        for how in [Claim::SkipLocked, Claim::Wait] {
            jobs::enqueue(db.pool(), 60).await.unwrap();
            let stop = CancellationToken::new();
            let workers = (1..=3)
                .map(|worker| jobs::work(db.pool(), worker, how, Duration::from_millis(1), &stop));
            let done: Vec<Vec<i64>> = join_all(workers)
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
            let mut all: Vec<i64> = done.concat();
            all.sort_unstable();
            assert_eq!(all, (1..=60).collect::<Vec<_>>(), "{how:?}");
            assert_eq!(jobs::runs(db.pool()).await.unwrap(), [(1, 60)], "{how:?}");
            assert_eq!(jobs::queued(db.pool()).await.unwrap(), 0);
        }
    }

    #[tokio::test]
    async fn a_locked_job_is_skipped_and_claimed_once_released() {
        let db = testkit::postgres().await;
        jobs::create(db.pool()).await.unwrap();
        jobs::enqueue(db.pool(), 2).await.unwrap();
        let (mut a, mut b) = (connection(&db).await, connection(&db).await);
        let mut ta = a.begin().await.unwrap();
        let mut tb = b.begin().await.unwrap();
        assert_eq!(
            jobs::claim(&mut ta, Claim::SkipLocked).await.unwrap(),
            Some(1)
        );
        assert_eq!(
            jobs::claim(&mut tb, Claim::SkipLocked).await.unwrap(),
            Some(2)
        );
        let mut c = connection(&db).await;
        let mut tc = c.begin().await.unwrap();
        assert_eq!(jobs::claim(&mut tc, Claim::SkipLocked).await.unwrap(), None);
        ta.rollback().await.unwrap(); // a crashed worker: job 1 is free again
        assert_eq!(
            jobs::claim(&mut tc, Claim::SkipLocked).await.unwrap(),
            Some(1)
        );
    }

    #[tokio::test]
    async fn expand_keeps_both_columns_in_step_and_contract_retires_the_old_one() {
        let db = testkit::postgres().await;
        let pool = db.pool();
        rename::create(pool, 50).await.unwrap();
        rename::migrate(pool, EXPAND).await.unwrap();
        let by_old = App::Old.insert(pool, "from old").await.unwrap();
        let by_new = App::New.insert(pool, "from new").await.unwrap();
        assert_eq!(
            App::New.read(pool, by_old).await.unwrap(),
            Some(Some("from old".into()))
        );
        assert_eq!(
            App::Old.read(pool, by_new).await.unwrap(),
            Some(Some("from new".into()))
        );
        App::Old.edit(pool, by_new, "edited by old").await.unwrap();
        assert_eq!(
            App::New.read(pool, by_new).await.unwrap(),
            Some(Some("edited by old".into()))
        );
        // Rows from before the expand have no comment until the backfill reaches them.
        assert_eq!(App::New.read(pool, 1).await.unwrap(), Some(None));
        let mut backfilled = 0;
        loop {
            match rename::backfill(pool, 20).await.unwrap() {
                0 => break,
                rows => backfilled += rows,
            }
        }
        assert_eq!(backfilled, 50);
        assert_eq!(
            App::New.read(pool, 1).await.unwrap(),
            Some(Some("leave at door 1".into()))
        );

        rename::migrate(pool, CONTRACT).await.unwrap();
        assert_eq!(
            App::New.read(pool, by_old).await.unwrap(),
            Some(Some("from old".into()))
        );
        App::New.insert(pool, "after contract").await.unwrap();
        assert!(
            App::Old.read(pool, by_old).await.is_err(),
            "the old version breaks once note is gone: retire it first"
        );
    }

    #[tokio::test]
    async fn a_covering_index_gives_an_index_only_scan_after_vacuum() {
        let db = testkit::postgres().await;
        let pool = db.pool();
        sqlx::raw_sql(
            "CREATE TABLE t (id int, a int, b int) WITH (autovacuum_enabled = off);
             INSERT INTO t SELECT i, i % 1000, i FROM generate_series(1, 50000) AS i;
             CREATE INDEX t_a ON t (a) INCLUDE (b);",
        )
        .execute(pool)
        .await
        .unwrap();
        // On its own: VACUUM refuses to run inside the transaction a multi-statement string is.
        sqlx::raw_sql("VACUUM ANALYZE t")
            .execute(pool)
            .await
            .unwrap();
        let plan = lesson_11::steps::explain(pool, "SELECT a, b FROM t WHERE a = 7")
            .await
            .unwrap();
        assert!(plan.uses("Index Only Scan"), "{plan:?}");
        assert_eq!(plan.index.as_deref(), Some("t_a"));
        assert_eq!(plan.rows, 50);
        assert_eq!(plan.heap_fetches, Some(0));
    }
}
