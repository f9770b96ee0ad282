//! testkit's promise, checked against real servers: every test gets a slice of the service
//! that no other test can see, and the slice is gone when the test is done.
//!
//! Each module is named `needs_<service>`, the marker `cargo xtask test` skips by when that
//! service is down.

mod needs_postgres {
    use sqlx::Row;

    #[tokio::test]
    async fn two_tests_never_share_a_database() {
        let first = testkit::postgres().await;
        let second = testkit::postgres().await;
        assert_ne!(first.name(), second.name());

        sqlx::query("CREATE TABLE orders (id int)")
            .execute(first.pool())
            .await
            .unwrap();
        let visible_in_second: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'orders'",
        )
        .fetch_one(second.pool())
        .await
        .unwrap();
        assert_eq!(
            visible_in_second, 0,
            "a table leaked into another test's database"
        );
    }

    #[tokio::test]
    async fn the_database_is_dropped_with_its_handle() {
        let db = testkit::postgres().await;
        let name = db.name().to_owned();
        let server = db.connect_options().database("postgres");
        drop(db);

        let pool = sqlx::PgPool::connect_with(server).await.unwrap();
        let still_there = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_optional(&pool)
            .await
            .unwrap();
        assert!(still_there.is_none(), "database {name} outlived its test");
    }

    #[tokio::test]
    async fn the_pool_talks_to_the_test_database() {
        let db = testkit::postgres().await;
        let row = sqlx::query("SELECT current_database() AS name")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(row.get::<String, _>("name"), db.name());
    }
}

mod needs_redis {
    use redis::AsyncCommands;

    #[tokio::test]
    async fn keys_are_private_to_a_test_and_removed_after_it() {
        let first = testkit::redis().await;
        let second = testkit::redis().await;
        assert_ne!(first.key("cart"), second.key("cart"));

        let mut conn = first.connection();
        let _: () = conn.set(first.key("cart"), "3 items").await.unwrap();
        let _: () = conn.set(second.key("cart"), "1 item").await.unwrap();

        let key = first.key("cart");
        drop(first);
        let left: Option<String> = conn.get(&key).await.unwrap();
        assert_eq!(left, None, "key {key} outlived its namespace");
        // Clean-up deletes by prefix; it must not reach into a namespace that is still in use.
        let kept: Option<String> = conn.get(second.key("cart")).await.unwrap();
        assert_eq!(kept.as_deref(), Some("1 item"));
    }
}

mod needs_rabbitmq {
    use futures::StreamExt;
    use lapin::BasicProperties;
    use lapin::options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
    };
    use lapin::types::FieldTable;

    #[tokio::test]
    async fn a_message_goes_round_trip_on_a_private_queue_that_is_deleted_after() {
        let scope = testkit::rabbitmq().await;
        let queue = scope.name("orders");
        assert!(queue.ends_with(".orders") && queue.starts_with("testkit_"));

        let channel = scope.connection().create_channel().await.unwrap();
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                b"order 42 placed",
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "testkit".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let delivery = consumer.next().await.unwrap().unwrap();
        assert_eq!(delivery.data, b"order 42 placed");
        delivery.ack(BasicAckOptions::default()).await.unwrap();

        let url = scope.url().to_owned();
        drop(consumer);
        drop(scope);

        let connection = lapin::Connection::connect(&url, Default::default())
            .await
            .unwrap();
        let probe = connection.create_channel().await.unwrap();
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let exists = probe
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await;
        assert!(exists.is_err(), "queue {queue} outlived its scope");
    }
}

mod needs_mongodb {
    use mongodb::bson::{Document, doc};
    use testkit::standin::{MARKER_FIELD, MongoFlavor, mongodb_flavor_at};

    #[tokio::test]
    async fn each_test_writes_to_its_own_database() {
        let first = testkit::mongodb().await;
        let second = testkit::mongodb().await;
        assert_ne!(first.database().name(), second.database().name());

        first
            .database()
            .collection::<Document>("reviews")
            .insert_one(doc! { "stars": 5 })
            .await
            .unwrap();
        let seen = second
            .database()
            .collection::<Document>("reviews")
            .count_documents(doc! {})
            .await
            .unwrap();
        assert_eq!(seen, 0);
    }

    #[tokio::test]
    async fn the_database_is_dropped_with_its_handle() {
        let db = testkit::mongodb().await;
        let name = db.database().name().to_owned();
        // MongoDB creates a database on its first write; write so there is one to drop.
        db.database()
            .collection::<Document>("reviews")
            .insert_one(doc! { "stars": 4 })
            .await
            .unwrap();
        let client = mongodb::Client::with_uri_str(db.url()).await.unwrap();
        let listed = client.list_database_names().await.unwrap();
        assert!(listed.contains(&name), "{name} was never created");

        drop(db);
        let listed = client.list_database_names().await.unwrap();
        assert!(!listed.contains(&name), "database {name} outlived its test");
    }

    /// The hand-written hello of `testkit::standin` must agree with the driver's own `hello`:
    /// the runner decides which tests to skip by it.
    #[tokio::test]
    async fn the_raw_hello_agrees_with_the_driver() {
        let db = testkit::mongodb().await;
        let reply = db
            .client()
            .database("admin")
            .run_command(doc! { "hello": 1 })
            .await
            .unwrap();
        let flavor = mongodb_flavor_at(db.url()).unwrap();
        match reply.get_str(MARKER_FIELD) {
            Ok(what) => assert_eq!(flavor, MongoFlavor::StandIn(what.to_owned())),
            Err(_) => assert_eq!(flavor, MongoFlavor::Server),
        }
    }
}
