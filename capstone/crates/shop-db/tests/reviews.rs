//! The reviews store against a real MongoDB (or the workspace's wire-protocol stand-in): typed
//! round trips, newest-first listing, one review per user per product, rating summaries.
//!
//! `cargo test -p shop-db --test reviews` (needs MongoDB; skipped by the runner when it is down)

use mongodb::bson::DateTime;
use shop_db::reviews::{Author, Rating, Review, ReviewError, ReviewStore};
use shop_domain::{ProductId, UserId};

fn author(name: &str) -> Author {
    Author {
        user_id: UserId::generate(),
        display_name: name.to_owned(),
    }
}

/// A review of `product` by a new author, `minutes` after a fixed instant.
fn review(product: ProductId, stars: u8, minutes: i64) -> Review {
    let mut review = Review::new(
        product,
        author("Grace Hopper"),
        Rating::new(stars).expect("tests use 1 to 5 stars"),
        format!("{stars} stars"),
        "Long enough to be useful.",
    );
    review.created_at = DateTime::from_millis(1_790_000_000_000 + minutes * 60_000);
    review
}

async fn store(db: &testkit::MongoDatabase) -> ReviewStore {
    let store = ReviewStore::new(db.database());
    store
        .ensure_indexes()
        .await
        .expect("indexes can be created in a fresh database");
    store
}

#[tokio::test]
async fn needs_mongodb_reviews_round_trip_and_list_newest_first() {
    let db = testkit::mongodb().await;
    let store = store(&db).await;
    let product = ProductId::generate();
    let other = ProductId::generate();
    for (stars, minutes) in [(5, 1), (3, 3), (4, 2)] {
        store
            .insert(&review(product, stars, minutes))
            .await
            .unwrap();
    }
    store.insert(&review(other, 1, 9)).await.unwrap();

    let listed = store.list_for_product(product, 2).await.unwrap();

    let stars: Vec<u8> = listed.iter().map(|r| r.rating.stars()).collect();
    assert_eq!(
        stars,
        [3, 4],
        "newest two, newest first, other product left out"
    );
    assert_eq!(listed[0].author.display_name, "Grace Hopper");
    assert!(listed.iter().all(|r| r.product_id == product));
}

#[tokio::test]
async fn needs_mongodb_a_second_review_by_the_same_user_is_a_typed_error() {
    let db = testkit::mongodb().await;
    let store = store(&db).await;
    let product = ProductId::generate();
    let first = review(product, 4, 0);
    store.insert(&first).await.unwrap();

    let mut again = review(product, 1, 5);
    again.author = first.author.clone();
    let error = store.insert(&again).await.unwrap_err();

    assert!(
        matches!(error, ReviewError::AlreadyReviewed { product_id, user_id }
            if product_id == product && user_id == first.author.user_id),
        "{error:?}"
    );
    assert_eq!(store.list_for_product(product, 10).await.unwrap().len(), 1);
    // The same user may still review another product.
    let mut elsewhere = review(ProductId::generate(), 2, 0);
    elsewhere.author = first.author.clone();
    store.insert(&elsewhere).await.unwrap();
}

#[tokio::test]
async fn needs_mongodb_insert_many_names_the_duplicate() {
    let db = testkit::mongodb().await;
    let store = store(&db).await;
    let product = ProductId::generate();
    let first = review(product, 5, 0);
    let mut copy = review(product, 2, 1);
    copy.author = first.author.clone();

    let error = store.insert_many(&[first.clone(), copy]).await.unwrap_err();

    assert!(
        matches!(error, ReviewError::AlreadyReviewed { user_id, .. } if user_id == first.author.user_id),
        "{error:?}"
    );
}

#[tokio::test]
async fn needs_mongodb_rating_summaries_count_average_and_histogram() {
    let db = testkit::mongodb().await;
    let store = store(&db).await;
    let popular = ProductId::generate();
    let niche = ProductId::generate();
    let mut reviews: Vec<Review> = [5, 5, 4, 1]
        .iter()
        .enumerate()
        .map(|(i, &stars)| review(popular, stars, i as i64))
        .collect();
    reviews.push(review(niche, 3, 0));
    assert_eq!(store.insert_many(&reviews).await.unwrap(), 5);

    let one = store.rating_summary(popular).await.unwrap();
    assert_eq!(one.count, 4);
    assert!((one.average - 3.75).abs() < 1e-9, "{}", one.average);
    assert_eq!(one.histogram, [1, 0, 0, 1, 2]);

    let top = store.rating_summaries(1).await.unwrap();
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].product_id, popular, "most reviews first");

    let unknown = ProductId::generate();
    let none = store.rating_summary(unknown).await.unwrap();
    assert_eq!((none.product_id, none.count), (unknown, 0));
}

#[tokio::test]
async fn nothing_listening_is_reported_as_unreachable_without_needing_mongodb() {
    // Port 1 on loopback: nothing listens there, so server selection fails fast.
    let error = ReviewStore::connect("mongodb://127.0.0.1:1", "shop")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ReviewError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("cargo xtask services up"),
        "{error}"
    );
}
