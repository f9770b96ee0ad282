//! API keys against a real PostgreSQL: ownership is part of every query.
//!
//! Run with `cargo test -p shop-db --test api_keys` (PostgreSQL must be up:
//! `cargo xtask services up`).

mod needs_postgres {
    use shop_db::{ApiKeyRepo, DisplayName, NewApiKey, NewUser, Scope, UserRepo};
    use shop_domain::{Email, UserId};

    async fn setup() -> (testkit::PgDatabase, ApiKeyRepo, UserRepo) {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR
            .run(db.pool())
            .await
            .expect("the shop migrations apply to a fresh database");
        let keys = ApiKeyRepo::new(db.pool().clone());
        let users = UserRepo::new(db.pool().clone());
        (db, keys, users)
    }

    async fn user(users: &UserRepo, email: &str) -> UserId {
        users
            .create(NewUser {
                email: Email::parse(email).expect("tests use valid addresses"),
                display_name: DisplayName::parse("Someone").expect("a valid name"),
                password_hash: None,
            })
            .await
            .expect("the user inserts")
            .id
    }

    fn new_key(owner: UserId, prefix: &str) -> NewApiKey {
        NewApiKey {
            user_id: owner,
            prefix: prefix.to_owned(),
            secret_hash: vec![7; 32],
            name: "erp".to_owned(),
            scopes: vec![Scope::OrdersRead],
        }
    }

    #[tokio::test]
    async fn a_key_is_found_by_prefix_until_revoked_by_its_owner() {
        let (_db, keys, users) = setup().await;
        let ada = user(&users, "ada@example.com").await;
        let mallory = user(&users, "mallory@example.com").await;
        let key = keys.create(new_key(ada, "0123456789ab")).await.unwrap();

        let found = keys
            .find_active("0123456789ab")
            .await
            .unwrap()
            .expect("live");
        assert_eq!(found.key.id, key.id);
        assert_eq!(found.secret_hash, vec![7; 32]);
        assert!(keys.list(mallory).await.unwrap().is_empty());

        assert!(
            !keys.revoke(mallory, key.id).await.unwrap(),
            "not hers to revoke"
        );
        assert!(keys.find_active("0123456789ab").await.unwrap().is_some());
        assert!(keys.revoke(ada, key.id).await.unwrap());
        assert!(keys.find_active("0123456789ab").await.unwrap().is_none());
        assert!(keys.list(ada).await.unwrap()[0].revoked_at.is_some());
    }

    #[tokio::test]
    async fn the_schema_refuses_malformed_prefixes() {
        let (_db, keys, users) = setup().await;
        let ada = user(&users, "ada@example.com").await;

        assert!(keys.create(new_key(ada, "NOT-HEX")).await.is_err());
    }

    #[tokio::test]
    async fn touch_records_use() {
        let (_db, keys, users) = setup().await;
        let ada = user(&users, "ada@example.com").await;
        let key = keys.create(new_key(ada, "aaaaaaaaaaaa")).await.unwrap();
        assert!(key.last_used_at.is_none());

        keys.touch(key.id).await.unwrap();

        assert!(keys.list(ada).await.unwrap()[0].last_used_at.is_some());
    }
}
