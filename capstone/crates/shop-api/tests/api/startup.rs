//! What the binary checks before it serves: the database is reachable, exists, and has the
//! schema this build expects.

use secrecy::SecretString;
use shop_api::Config;
use shop_api::db::{self, DbStartupError};

fn config_for(url: &str) -> Config {
    Config {
        database_url: SecretString::from(url),
        ..Config::default()
    }
}

#[tokio::test]
async fn an_unreachable_postgres_is_one_line_that_says_how_to_start_it() {
    let error = db::connect(&config_for("postgres://postgres@127.0.0.1:1/shop"), false)
        .await
        .unwrap_err();

    assert!(
        matches!(error, DbStartupError::Unreachable { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with("PostgreSQL at 127.0.0.1:1/shop is not reachable"),
        "{message}"
    );
    assert!(message.contains("cargo xtask services up"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

mod needs_postgres {
    use sqlx::ConnectOptions;

    use super::*;

    #[tokio::test]
    async fn a_fresh_database_is_refused_until_migrated() {
        let database = testkit::postgres().await;

        let error = db::check_migrations(database.pool()).await.unwrap_err();
        assert!(
            matches!(error, DbStartupError::PendingMigrations { count, .. } if count == shop_db::MIGRATOR.iter().count()),
            "{error:?}"
        );
        assert!(error.to_string().contains("--migrate"));

        db::migrate(database.pool()).await.unwrap();
        db::check_migrations(database.pool()).await.unwrap();
    }

    #[tokio::test]
    async fn a_missing_database_is_created_only_with_migrate() {
        let server = testkit::postgres().await;
        let name = format!("{}_created", server.name());
        let url = server
            .connect_options()
            .database(&name)
            .to_url_lossy()
            .to_string();
        let config = config_for(&url);

        let error = db::connect(&config, false).await.unwrap_err();
        assert!(
            matches!(error, DbStartupError::MissingDatabase { .. }),
            "{error:?}"
        );

        let pool = db::connect(&config, true).await.unwrap();
        db::migrate(&pool).await.unwrap();
        db::check_migrations(&pool).await.unwrap();
        pool.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            r#"DROP DATABASE "{name}" WITH (FORCE)"#
        )))
        .execute(server.pool())
        .await
        .unwrap();
    }
}
