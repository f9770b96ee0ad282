//! The user repository against a real PostgreSQL.
//!
//! Run with `cargo test -p shop-db --test users` (PostgreSQL must be up:
//! `cargo xtask services up`).

mod needs_postgres {
    use shop_db::{DbError, DisplayName, NewUser, PasswordHash, ProfileChange, UserRepo};
    use shop_domain::{Email, Role, UserId};

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
            password_hash: None,
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

    #[tokio::test]
    async fn a_new_user_is_an_unverified_customer_and_credentials_carry_the_hash() {
        let (_db, repo) = repo().await;
        let hash = PasswordHash::new("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".to_owned());
        let mut new = new_user("ada@example.com", "Ada");
        new.password_hash = Some(hash.clone());

        let created = repo.create(new).await.unwrap();

        assert_eq!(created.role, Role::Customer);
        assert!(created.email_verified_at.is_none());
        let credentials = repo
            .credentials_by_email(&created.email)
            .await
            .unwrap()
            .expect("found");
        assert_eq!(credentials.password_hash, Some(hash));
        assert_eq!(
            repo.active_role(created.id).await.unwrap(),
            Some(Role::Customer)
        );
    }

    #[tokio::test]
    async fn the_schema_refuses_a_password_hash_that_is_not_argon2id() {
        let (_db, repo) = repo().await;
        let mut new = new_user("ada@example.com", "Ada");
        new.password_hash = Some(PasswordHash::new(
            "5f4dcc3b5aa765d61d8327deb882cf99".to_owned(),
        ));

        assert!(matches!(repo.create(new).await, Err(DbError::Sqlx(_))));
    }

    #[tokio::test]
    async fn a_verification_token_verifies_only_the_address_it_was_sent_to() {
        let (_db, repo) = repo().await;
        let user = repo
            .create(new_user("ada@example.com", "Ada"))
            .await
            .unwrap();
        let tomorrow = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        repo.add_verification_token(user.id, &user.email, &[1; 32], tomorrow)
            .await
            .unwrap();
        // The address changes before the mail is read: the old token proves nothing now.
        let change = ProfileChange {
            email: Some(Email::parse("ada@lovelace.example").unwrap()),
            ..ProfileChange::default()
        };
        repo.update_profile(user.id, &change).await.unwrap();

        assert_eq!(
            repo.redeem_verification_token(&[1; 32]).await.unwrap(),
            None
        );
        assert!(
            repo.get(user.id)
                .await
                .unwrap()
                .unwrap()
                .email_verified_at
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_expired_verification_token_verifies_nothing() {
        let (_db, repo) = repo().await;
        let user = repo
            .create(new_user("ada@example.com", "Ada"))
            .await
            .unwrap();
        let yesterday = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        repo.add_verification_token(user.id, &user.email, &[2; 32], yesterday)
            .await
            .unwrap();

        assert_eq!(
            repo.redeem_verification_token(&[2; 32]).await.unwrap(),
            None
        );

        // The control: the same user's unexpired token does verify, so the `None` above is
        // the expiry talking, not a redeem that never works.
        let tomorrow = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        repo.add_verification_token(user.id, &user.email, &[3; 32], tomorrow)
            .await
            .unwrap();
        assert!(
            repo.redeem_verification_token(&[3; 32])
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn erasure_anonymises_the_row_and_frees_the_address() {
        let (_db, repo) = repo().await;
        let user = repo
            .create(new_user("ada@example.com", "Ada"))
            .await
            .unwrap();

        assert!(repo.erase(user.id).await.unwrap());

        assert!(repo.get(user.id).await.unwrap().is_none());
        assert!(repo.find_by_email(&user.email).await.unwrap().is_none());
        assert_eq!(repo.active_role(user.id).await.unwrap(), None);
        assert!(!repo.erase(user.id).await.unwrap(), "only once");
        repo.create(new_user("ada@example.com", "Ada again"))
            .await
            .expect("the address is free");
    }
}
