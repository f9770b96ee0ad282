//! The replica module against a real primary and its streaming standby (`cargo xtask services
//! up` makes one on 127.0.0.1:5433; `DATABASE_REPLICA_URL` names another): the replica catches
//! up with a commit's LSN, the LSN-waiting router never misses one's own write, the window
//! router reads from the primary right after a write, and the replica refuses writes.
//!
//! `cargo test -p lesson-11 --test replica`

mod needs_postgres {
    mod needs_pg_replica {
        use std::str::FromStr;
        use std::time::{Duration, Instant};

        use lesson_11::replica::{
            Policy, Router, Session, Target, is_read_only_refusal, primary_lsn, replay_lsn,
            wait_for_replay,
        };
        use sqlx::PgPool;
        use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
        use testkit::discover::{self, Service};

        /// The test's own database (made on the primary by testkit) as the replica sees it,
        /// once it has replayed its creation.
        async fn replica_of(db: &testkit::PgDatabase) -> PgPool {
            discover::check_marker(Service::PgReplica);
            let endpoint = match discover::locate(Service::PgReplica) {
                Ok(endpoint) => endpoint,
                Err(why) => discover::unavailable_panic(&why),
            };
            let options = PgConnectOptions::from_str(&endpoint.url)
                .expect("the replica's URL parses")
                .database(db.name());
            let started = Instant::now();
            loop {
                match PgPoolOptions::new()
                    .max_connections(2)
                    .connect_with(options.clone())
                    .await
                {
                    Ok(pool) => return pool,
                    // "database does not exist" until the replica has replayed its creation.
                    Err(e) if started.elapsed() < Duration::from_secs(30) => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => panic!("the replica never showed database {}: {e}", db.name()),
                }
            }
        }

        async fn setup() -> (testkit::PgDatabase, PgPool) {
            let db = testkit::postgres().await;
            sqlx::query("CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)")
                .execute(db.pool())
                .await
                .expect("the primary creates the table");
            let replica = replica_of(&db).await;
            let made = primary_lsn(db.pool())
                .await
                .expect("the primary says its WAL position");
            let caught_up = wait_for_replay(
                &replica,
                made,
                Duration::from_secs(30),
                Duration::from_millis(5),
            )
            .await
            .expect("the replica says its replay position");
            assert!(caught_up.is_some(), "the replica never replayed {made}");
            (db, replica)
        }

        async fn insert(pool: &PgPool, body: &str) -> i64 {
            sqlx::query_scalar("INSERT INTO notes (body) VALUES ($1) RETURNING id")
                .bind(body)
                .fetch_one(pool)
                .await
                .expect("the primary takes the insert")
        }

        async fn has(pool: &PgPool, id: i64) -> bool {
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM notes WHERE id = $1)")
                .bind(id)
                .fetch_one(pool)
                .await
                .expect("the read is answered")
        }

        #[tokio::test]
        async fn the_lsn_router_always_reads_its_own_write() {
            let (db, replica) = setup().await;
            let router = Router {
                primary: db.pool().clone(),
                replica: replica.clone(),
                policy: Policy::WaitForLsn(Duration::from_secs(5)),
            };
            let mut session = Session::default();
            for n in 0..30 {
                let id = insert(&router.primary, &format!("note {n}")).await;
                router.wrote(&mut session).await.unwrap();
                let (_, pool) = router.reader(&session).await.unwrap();
                assert!(has(pool, id).await, "write {n} (id {id}) missed");
            }
            // After the wait, the replica itself has every row.
            let last = primary_lsn(db.pool()).await.unwrap();
            assert!(
                wait_for_replay(
                    &replica,
                    last,
                    Duration::from_secs(30),
                    Duration::from_millis(5)
                )
                .await
                .unwrap()
                .is_some()
            );
            assert!(replay_lsn(&replica).await.unwrap() >= last);
            let on_replica: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
                .fetch_one(&replica)
                .await
                .unwrap();
            assert_eq!(on_replica, 30);
            replica.close().await;
        }

        #[tokio::test]
        async fn the_window_router_reads_from_the_primary_right_after_a_write() {
            let (db, replica) = setup().await;
            let router = Router {
                primary: db.pool().clone(),
                replica: replica.clone(),
                policy: Policy::PrimaryWindow(Duration::from_secs(600)),
            };
            let mut session = Session::default();
            // No write yet: the replica.
            assert_eq!(router.reader(&session).await.unwrap().0, Target::Replica);
            let id = insert(&router.primary, "mine").await;
            router.wrote(&mut session).await.unwrap();
            let (target, pool) = router.reader(&session).await.unwrap();
            assert_eq!(target, Target::Primary);
            assert!(has(pool, id).await);
            replica.close().await;
        }

        #[tokio::test]
        async fn the_replica_refuses_a_write_with_sqlstate_25006() {
            let (_db, replica) = setup().await;
            let error = sqlx::query("INSERT INTO notes (body) VALUES ('x')")
                .execute(&replica)
                .await
                .unwrap_err();
            assert!(is_read_only_refusal(&error), "{error:?}");
            let standby: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                .fetch_one(&replica)
                .await
                .unwrap();
            assert!(standby);
            replica.close().await;
        }
    }
}
