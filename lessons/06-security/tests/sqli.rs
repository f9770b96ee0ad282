//! SQL injection against PostgreSQL: the vulnerable search leaks, the fixed one does not and
//! still finds real products.
//!
//! `cargo test -p lesson-06 --test sqli` (needs PostgreSQL; skipped by the runner when down)

mod common;

mod needs_postgres {
    use lesson_06::attack::{AttackScript, Verdict};
    use lesson_06::sqli::{self, SearchResult};

    use super::common::{TestLab, client};

    async fn lab() -> (testkit::PgDatabase, TestLab) {
        let db = testkit::postgres().await;
        sqli::create_tables(db.pool())
            .await
            .expect("the lesson's tables fit an empty database");
        let lab = TestLab::start(Some(db.pool().clone())).await;
        (db, lab)
    }

    #[tokio::test]
    async fn every_injection_leaks_from_the_vulnerable_search_and_none_from_the_fixed() {
        let (_db, lab) = lab().await;
        let rows = AttackScript::new(lab.server.base_url())
            .unwrap()
            .sql_injection()
            .await
            .unwrap();
        assert_eq!(rows.len(), 4);
        let (control, attacks) = rows.split_first().unwrap();
        assert_eq!(control.vulnerable.verdict, Verdict::Served);
        assert_eq!(control.fixed.verdict, Verdict::Served);
        assert_eq!(control.fixed.evidence, "1 row");
        for row in attacks {
            assert_eq!(row.vulnerable.verdict, Verdict::GotThrough, "{row:?}");
            assert_eq!(row.fixed.verdict, Verdict::Blocked, "{row:?}");
        }
    }

    #[tokio::test]
    async fn the_union_payload_returns_the_staff_table_through_the_product_search() {
        let (_db, lab) = lab().await;
        let payload = "x' UNION SELECT 0, email || ' ' || password_hash, 0 FROM staff_accounts --";
        let leaked: SearchResult = client()
            .get(lab.url("/vulnerable/products"))
            .query(&[("name", payload)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let names: Vec<&str> = leaked.rows.iter().map(|p| p.name.as_str()).collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("root@shop.test $argon2id$")),
            "{names:?}"
        );
    }

    #[tokio::test]
    async fn the_fixed_search_treats_quotes_as_text_and_validates_length() {
        let (db, lab) = lab().await;
        sqlx::query("INSERT INTO products VALUES (6, 'O''Brien''s mug', 1500, true)")
            .execute(db.pool())
            .await
            .unwrap();
        let found: SearchResult = client()
            .get(lab.url("/fixed/products"))
            .query(&[("name", "O'Brien's mug")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            found.rows.len(),
            1,
            "a quote in real data is found, not refused"
        );

        let too_long = "x".repeat(101);
        let response = client()
            .get(lab.url("/fixed/products"))
            .query(&[("name", too_long.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}
