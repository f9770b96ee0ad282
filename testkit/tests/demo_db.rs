//! The demo database of lessons 02, 05 and 06 against a real server: each run starts from an
//! empty database, `--keep` leaves it in place, and otherwise it is gone at the end.
//!
//! `cargo test -p testkit --test demo_db`

use testkit::demo_db::{DatabaseName, DemoDatabase, ServerUrl, SetupError};

mod needs_postgres {
    use super::*;

    /// Where discovery finds PostgreSQL (`DATABASE_URL` or the default port).
    fn server() -> ServerUrl {
        let endpoint = testkit::discover::locate(testkit::Service::Postgres)
            .unwrap_or_else(|why| panic!("{why:?}"));
        ServerUrl {
            url: endpoint.url,
            from_env: true,
        }
    }

    /// A name of this process and test, so concurrent runs never drop each other's database.
    fn name(test: &str) -> DatabaseName {
        let name = format!("testkit_demo_{test}_{}", std::process::id());
        DatabaseName::with_prefix("testkit_demo", &name).expect("a plain name")
    }

    async fn exists(server: &ServerUrl, name: &DatabaseName) -> bool {
        let pool = sqlx::PgPool::connect(&server.url)
            .await
            .expect("the server that created the database answers");
        let found = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(name.as_str())
            .fetch_optional(&pool)
            .await
            .expect("pg_database can be read");
        pool.close().await;
        found.is_some()
    }

    #[tokio::test]
    async fn every_run_starts_empty_and_the_end_drops_it() {
        let server = server();
        let name = name("recreate");
        let first = DemoDatabase::create(&server, &name).await.unwrap();
        sqlx::query("CREATE TABLE leftovers (id int)")
            .execute(first.pool())
            .await
            .unwrap();
        // Left open on purpose, like an interrupted run: WITH (FORCE) must end its connections.
        let second = DemoDatabase::create(&server, &name).await.unwrap();
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'leftovers'",
        )
        .fetch_one(second.pool())
        .await
        .unwrap();
        assert_eq!(tables, 0, "a second run saw the first run's table");
        drop(first);

        second.finish(false).await.unwrap();
        assert!(!exists(&server, &name).await, "{name} outlived the demo");
    }

    #[tokio::test]
    async fn keep_leaves_the_database_for_psql() {
        let server = server();
        let name = name("keep");
        let db = DemoDatabase::create(&server, &name).await.unwrap();
        assert_eq!(db.name(), &name);
        db.finish(true).await.unwrap();
        assert!(exists(&server, &name).await, "--keep dropped {name}");

        DemoDatabase::create(&server, &name)
            .await
            .unwrap()
            .drop_database()
            .await
            .unwrap();
        assert!(!exists(&server, &name).await);
    }
}

/// No server needed: the refusal itself is what is checked.
#[tokio::test]
async fn a_closed_port_is_unreachable_and_says_how_to_start_postgres() {
    let server = ServerUrl {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        url: "postgres://shop:hunter2@127.0.0.1:1/x".into(),
        from_env: true,
    };
    let name = DatabaseName::with_prefix("testkit_demo", "testkit_demo_closed").unwrap();
    let error = DemoDatabase::create(&server, &name).await.unwrap_err();
    assert!(matches!(error, SetupError::Unreachable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("cargo xtask services up"), "{message}");
    assert!(message.contains("shop:***@127.0.0.1:1"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}
