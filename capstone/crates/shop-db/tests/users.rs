//! The user repository against a real PostgreSQL.
//!
//! Run with `cargo test -p shop-db --test users` (PostgreSQL must be up:
//! `cargo xtask services up`).

mod needs_postgres {
    use shop_db::{DbError, DisplayName, NewUser, UserRepo};
    use shop_domain::{Email, UserId};

    async fn repo() -> (testkit::PgDatabase, UserRepo) {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR
            .run(db.pool())
            .await
            .expect("the shop migrations apply to a fresh database");
        let repo = UserRepo::new(db.pool().clone());
        (db, repo)
    }

    fn new_user(email: &str, name: &str) -> NewUser {
        NewUser {
            email: Email::parse(email).expect("the test uses valid addresses"),
            display_name: DisplayName::parse(name).expect("the test uses valid names"),
        }
    }

    #[tokio::test]
    async fn a_created_user_can_be_read_back_by_id_and_by_email() {
        let (_db, repo) = repo().await;

        let created = repo
            .create(new_user("ada@example.com", "Ada"))
            .await
            .unwrap();

        let by_id = repo.get(created.id).await.unwrap().expect("found by id");
        assert_eq!(by_id, created);
        let by_email = repo
            .find_by_email(&Email::parse("ada@example.com").unwrap())
            .await
            .unwrap()
            .expect("found by email");
        assert_eq!(by_email.id, created.id);
        assert!(repo.get(UserId::generate()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn email_lookup_ignores_case() {
        let (_db, repo) = repo().await;
        let created = repo
            .create(new_user("Ada@Example.com", "Ada"))
            .await
            .unwrap();

        let found = repo
            .find_by_email(&Email::parse("ADA@example.COM").unwrap())
            .await
            .unwrap();

        assert_eq!(found.map(|u| u.id), Some(created.id));
    }

    #[tokio::test]
    async fn a_duplicate_email_in_any_case_is_email_taken() {
        let (_db, repo) = repo().await;
        repo.create(new_user("ada@example.com", "Ada"))
            .await
            .unwrap();

        let error = repo
            .create(new_user("ADA@example.com", "Another Ada"))
            .await
            .unwrap_err();

        match error {
            DbError::EmailTaken(email) => assert_eq!(email.as_str(), "ADA@example.com"),
            other => panic!("expected EmailTaken, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_address_the_domain_rejects_is_a_typed_error() {
        let (db, repo) = repo().await;
        let id = UserId::generate();
        // Written behind the repository's back: the schema only checks the length.
        sqlx::query(
            "INSERT INTO users (id, email, display_name) VALUES ($1, 'not an address', 'X')",
        )
        .bind(id.as_uuid())
        .execute(db.pool())
        .await
        .unwrap();

        let error = repo.get(id).await.unwrap_err();

        assert!(
            matches!(
                error,
                DbError::InvalidRow {
                    table: "users",
                    column: "email",
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
