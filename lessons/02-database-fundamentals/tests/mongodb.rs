//! The lesson's MongoDB queries against a real server (or the workspace's stand-in): reviews
//! written from purchases, then the operator queries checked against the same data in Rust.
//!
//! `cargo test -p lesson-02 --test mongodb` (needs MongoDB; skipped by the runner when it is
//! down)

use lesson_02::reviews::{Purchase, query_operators, write_reviews};
use shop_db::reviews::{ReviewError, ReviewStore};
use shop_db::seed::ANCHOR;
use shop_domain::ProductId;
use uuid::Uuid;

fn purchases() -> Vec<Purchase> {
    (0..600u128)
        .map(|i| Purchase {
            product_id: Uuid::from_u128(1 + i % 9),
            user_id: Uuid::from_u128(1_000 + i),
            display_name: format!("Customer {i}"),
            placed_at: ANCHOR - time::Duration::days(90),
        })
        .collect()
}

#[tokio::test]
async fn needs_mongodb_operator_queries_find_what_the_filters_say() {
    let db = testkit::mongodb().await;
    let store = ReviewStore::new(db.database());
    let reviews = write_reviews(&purchases(), 2);
    store.insert_many(&reviews).await.unwrap();
    store.ensure_indexes().await.unwrap();
    let chosen = [
        ProductId::from_uuid(Uuid::from_u128(1)),
        ProductId::from_uuid(Uuid::from_u128(2)),
    ];

    let found = query_operators(&store, &chosen).await.unwrap();

    let expected = reviews
        .iter()
        .filter(|r| r.rating.stars() >= 4 && r.helpful_votes.is_some())
        .count() as u64;
    assert_eq!(found.positive_with_votes, expected);
    // The fixture has such reviews, so the checks below are not over an empty list.
    assert!((1..=3).contains(&found.critical_and_helpful.len()));
    assert!(
        found
            .critical_and_helpful
            .iter()
            .all(|h| { h.rating.stars() <= 2 && h.helpful_votes.is_some_and(|v| v >= 30) })
    );
    assert!(
        found
            .critical_and_helpful
            .windows(2)
            .all(|w| w[0].helpful_votes >= w[1].helpful_votes)
    );
    // $in over two products: the best rating among their reviews comes first.
    let best = reviews
        .iter()
        .filter(|r| chosen.contains(&r.product_id))
        .map(|r| r.rating)
        .max()
        .unwrap();
    assert_eq!(found.best_of_three[0].rating, best);
}

#[tokio::test]
async fn needs_mongodb_a_repeated_review_is_refused_after_a_bulk_load() {
    let db = testkit::mongodb().await;
    let store = ReviewStore::new(db.database());
    let reviews = write_reviews(&purchases(), 3);
    store.insert_many(&reviews).await.unwrap();
    store.ensure_indexes().await.unwrap();

    let error = lesson_02::reviews::review_twice(&store, &reviews[0])
        .await
        .unwrap_err();

    assert!(
        matches!(error, ReviewError::AlreadyReviewed { .. }),
        "{error:?}"
    );
    let summary = store.rating_summary(reviews[0].product_id).await.unwrap();
    let expected = reviews
        .iter()
        .filter(|r| r.product_id == reviews[0].product_id)
        .count();
    assert_eq!(
        summary.count, expected as u64,
        "the refused review was not stored"
    );
}
