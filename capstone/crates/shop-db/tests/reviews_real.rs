//! What only a real MongoDB server can show: the query planner choosing the reviews index.
//!
//! The workspace's MongoDB stand-in (see `testkit::standin`) answers every query with a full
//! scan and has no planner to ask, so these tests are named `needs_mongodb_real`: the runner
//! skips them, and lists them, when the stand-in is what answers.
//!
//! `cargo test -p shop-db --test reviews_real` (needs a real MongoDB: `docker compose up -d mongodb`)

use mongodb::bson::{Document, doc};
use shop_db::reviews::{Author, Rating, Review, ReviewStore, uuid_bson};
use shop_domain::{ProductId, UserId};

/// The stages of a plan, outermost first: `LIMIT`, `FETCH`, `IXSCAN`, ...
fn stages(plan: &Document) -> Vec<String> {
    let mut found = Vec::new();
    let mut current = Some(plan);
    while let Some(stage) = current {
        if let Ok(name) = stage.get_str("stage") {
            found.push(name.to_owned());
        }
        current = stage.get_document("inputStage").ok();
    }
    found
}

#[tokio::test]
async fn needs_mongodb_real_a_products_latest_reviews_are_read_from_its_index() {
    let db = testkit::mongodb_real().await;
    let store = ReviewStore::new(db.database());
    store.ensure_indexes().await.unwrap();
    let product = ProductId::generate();
    for stars in 1..=5 {
        let author = Author {
            user_id: UserId::generate(),
            display_name: format!("Reader {stars}"),
        };
        let review = Review::new(
            product,
            author,
            Rating::new(stars).unwrap(),
            "A title",
            "A body.",
        );
        store.insert(&review).await.unwrap();
    }

    // The same filter and sort as `ReviewStore::list_for_product`, explained.
    let explained = db
        .database()
        .run_command(doc! {
            "explain": {
                "find": ReviewStore::COLLECTION,
                "filter": { "product_id": uuid_bson(product.as_uuid()) },
                "sort": { "created_at": -1 },
                "limit": 2,
            },
            "verbosity": "queryPlanner",
        })
        .await
        .unwrap();
    let winning = explained
        .get_document("queryPlanner")
        .and_then(|planner| planner.get_document("winningPlan"))
        .unwrap();
    // MongoDB 8 wraps the classic plan in a `queryPlan` for queries its new engine runs.
    let plan = winning.get_document("queryPlan").unwrap_or(winning);

    let stages = stages(plan);
    assert!(
        stages.iter().any(|s| s == "IXSCAN"),
        "expected an index scan, the plan was {stages:?}: {plan}"
    );
    assert!(
        !stages.iter().any(|s| s == "SORT" || s == "COLLSCAN"),
        "the index should give the order and the rows, the plan was {stages:?}"
    );
    assert!(
        plan.to_string().contains("product_created"),
        "the scan should use the product_created index: {plan}"
    );
}
