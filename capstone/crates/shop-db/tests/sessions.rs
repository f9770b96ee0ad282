//! Sessions and rotating refresh tokens against a real PostgreSQL.
//!
//! Run with `cargo test -p shop-db --test sessions` (PostgreSQL must be up:
//! `cargo xtask services up`).

mod needs_postgres {
    use std::time::Duration;

    use shop_db::{
        DisplayName, NewUser, Refresh, RevokeReason, SessionLifetimes, SessionRepo, UserRepo,
    };
    use shop_domain::{Email, Role, UserId};

    const LIFETIMES: SessionLifetimes = SessionLifetimes {
        refresh: Duration::from_secs(3600),
        absolute: Duration::from_secs(86_400),
    };

    async fn setup() -> (testkit::PgDatabase, SessionRepo, UserId) {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR
            .run(db.pool())
            .await
            .expect("the shop migrations apply to a fresh database");
        let user = UserRepo::new(db.pool().clone())
            .create(NewUser {
                email: Email::parse("ada@example.com").expect("a valid address"),
                display_name: DisplayName::parse("Ada").expect("a valid name"),
                password_hash: None,
            })
            .await
            .expect("the user inserts");
        let repo = SessionRepo::new(db.pool().clone());
        (db, repo, user.id)
    }

    // ANCHOR: reuse_test
    #[tokio::test]
    async fn rotation_hands_out_a_chain_and_a_replay_ends_it() {
        let (_db, repo, user) = setup().await;
        let session = repo.start(user, &[1; 32], LIFETIMES).await.unwrap();

        let first = repo.rotate(&[1; 32], &[2; 32], LIFETIMES).await.unwrap();
        assert_eq!(
            first,
            Refresh::Rotated {
                session,
                user,
                role: Role::Customer
            }
        );
        let replay = repo.rotate(&[1; 32], &[3; 32], LIFETIMES).await.unwrap();
        assert_eq!(replay, Refresh::ReuseDetected { session, user });

        assert_eq!(
            repo.rotate(&[2; 32], &[4; 32], LIFETIMES).await.unwrap(),
            Refresh::Rejected
        );
        assert_eq!(repo.active_role(session, user).await.unwrap(), None);
        let listed = repo.list(user).await.unwrap();
        assert_eq!(listed[0].revoked_reason.as_deref(), Some("refresh_reuse"));
    }
    // ANCHOR_END: reuse_test

    #[tokio::test]
    async fn concurrent_refreshes_with_one_token_do_not_both_succeed() {
        let (_db, repo, user) = setup().await;
        repo.start(user, &[1; 32], LIFETIMES).await.unwrap();

        let (a, b) = tokio::join!(
            repo.rotate(&[1; 32], &[2; 32], LIFETIMES),
            repo.rotate(&[1; 32], &[3; 32], LIFETIMES),
        );

        let outcomes = [a.unwrap(), b.unwrap()];
        let rotated = outcomes
            .iter()
            .filter(|o| matches!(o, Refresh::Rotated { .. }))
            .count();
        assert_eq!(rotated, 1, "{outcomes:?}");
    }

    #[tokio::test]
    async fn revoking_by_any_token_of_the_family_ends_the_session() {
        let (_db, repo, user) = setup().await;
        let session = repo.start(user, &[1; 32], LIFETIMES).await.unwrap();
        repo.rotate(&[1; 32], &[2; 32], LIFETIMES).await.unwrap();

        assert_eq!(
            repo.revoke_by_token(&[1; 32], RevokeReason::Logout)
                .await
                .unwrap(),
            Some(user),
            "the ended session's user, for the session check to forget"
        );

        assert_eq!(
            repo.revoke_by_token(&[2; 32], RevokeReason::Logout)
                .await
                .unwrap(),
            None
        );
        assert_eq!(repo.active_role(session, user).await.unwrap(), None);
        assert_eq!(
            repo.rotate(&[2; 32], &[5; 32], LIFETIMES).await.unwrap(),
            Refresh::Rejected
        );
    }

    #[tokio::test]
    async fn an_expired_refresh_token_is_rejected() {
        let (_db, repo, user) = setup().await;
        let short = SessionLifetimes {
            refresh: Duration::ZERO,
            ..LIFETIMES
        };
        repo.start(user, &[1; 32], short).await.unwrap();

        assert_eq!(
            repo.rotate(&[1; 32], &[2; 32], short).await.unwrap(),
            Refresh::Rejected
        );

        // The control: a session with the usual lifetime rotates, so the rejection above is
        // the expiry talking.
        repo.start(user, &[3; 32], LIFETIMES).await.unwrap();
        assert!(matches!(
            repo.rotate(&[3; 32], &[4; 32], LIFETIMES).await.unwrap(),
            Refresh::Rotated { .. }
        ));
    }

    #[tokio::test]
    async fn a_session_belongs_to_its_user_only() {
        let (_db, repo, user) = setup().await;
        let session = repo.start(user, &[1; 32], LIFETIMES).await.unwrap();

        assert_eq!(
            repo.active_role(session, user).await.unwrap(),
            Some(Role::Customer)
        );
        assert_eq!(
            repo.active_role(session, UserId::generate()).await.unwrap(),
            None
        );
    }
}
