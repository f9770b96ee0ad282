//! `--seed`: demo data for trying the service by hand.
//!
//! PostgreSQL gets `shop_db::seed`'s deterministic demo shop. MongoDB gets reviews written by
//! customers who bought the product (derived from the same generated orders, so the ids
//! match what PostgreSQL holds). Review work runs in the background: the server starts at once
//! whether MongoDB is up or not.

use std::collections::{HashMap, HashSet};

use mongodb::bson;
use mongodb::bson::oid::ObjectId;
use shop_db::reviews::{Author, Rating, Review, ReviewStore};
use shop_db::seed::{self, Dataset, SeedError, SeedSize};
use shop_domain::{ProductId, UserId};
use sqlx::PgPool;

use crate::error::CauseChain;

/// One review for every this-many order lines: about 900 reviews for the demo data, enough
/// for every rating endpoint to have something to say about the popular products.
const REVIEW_EVERY: usize = 50;

/// Seeds an empty database with the demo data; a database that already has data is left
/// alone, so `--seed` can stay on the command line across restarts. (`seed::seed` refuses a
/// non-empty database too, but as an error; asking first keeps the log free of it.)
pub async fn seed_demo(pool: &PgPool) -> Result<(), SeedError> {
    let has_data = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM categories) AS "exists!""#)
        .fetch_one(pool)
        .await?;
    if has_data {
        tracing::info!("the database already has data; not seeding it");
        return Ok(());
    }
    let report = seed::seed(pool, &SeedSize::demo()).await?;
    tracing::info!(
        rows = report.total_rows(),
        elapsed = ?report.inserted_in,
        "seeded PostgreSQL with the demo data"
    );
    Ok(())
}

/// In the background: create the review indexes and, when `seed` is set and the collection is
/// empty, insert the demo reviews. Failures are logged, never fatal: reviews are optional.
pub fn prepare_reviews(store: ReviewStore, seed: bool) {
    tokio::spawn(async move {
        if let Err(error) = store.ensure_indexes().await {
            tracing::warn!(error = %CauseChain(&error), "MongoDB: review indexes not created");
            return;
        }
        if !seed {
            return;
        }
        match store.collection().estimated_document_count().await {
            Ok(0) => {}
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(error = %CauseChain(&error), "MongoDB: cannot count reviews; not seeding them");
                return;
            }
        }
        let reviews = match seed::generate(&SeedSize::demo()) {
            Ok(data) => demo_reviews(&data),
            Err(error) => {
                tracing::warn!(%error, "cannot generate the demo data for reviews");
                return;
            }
        };
        match store.insert_many(&reviews).await {
            Ok(count) => tracing::info!(count, "seeded MongoDB with demo reviews"),
            Err(error) => {
                tracing::warn!(error = %CauseChain(&error), "MongoDB: demo reviews not inserted");
            }
        }
    });
}

/// Reviews for a sample of the order lines, by the customer who placed the order, a few days
/// after it. Deterministic apart from the ObjectIds.
pub fn demo_reviews(data: &Dataset) -> Vec<Review> {
    let users: HashMap<_, _> = data
        .users
        .iter()
        .map(|user| (user.id, user.display_name.as_str()))
        .collect();
    let orders: HashMap<_, _> = data.orders.iter().map(|order| (order.id, order)).collect();
    let mut seen = HashSet::new();
    let mut reviews = Vec::new();
    for (n, item) in data.order_items.iter().enumerate().step_by(REVIEW_EVERY) {
        let Some(order) = orders.get(&item.order_id) else {
            continue;
        };
        // One review per customer per product, as the collection's unique index demands.
        if !seen.insert((item.product_id, order.user_id)) {
            continue;
        }
        let Some(name) = users.get(&order.user_id) else {
            continue;
        };
        let (stars, title, body) = SAMPLES[n % SAMPLES.len()];
        let Ok(rating) = Rating::new(stars) else {
            continue;
        };
        let written = order.placed_at + time::Duration::days(3 + (n % 11) as i64);
        reviews.push(Review {
            id: ObjectId::new(),
            product_id: ProductId::from_uuid(item.product_id),
            author: Author {
                user_id: UserId::from_uuid(order.user_id),
                display_name: (*name).to_owned(),
            },
            rating,
            title: title.to_owned(),
            body: body.to_owned(),
            created_at: bson::DateTime::from_millis(
                (written.unix_timestamp_nanos() / 1_000_000) as i64,
            ),
            helpful_votes: (n % 3 == 0).then_some((n % 17) as u32),
        });
    }
    reviews
}

/// Ratings lean positive, as real shop reviews do.
const SAMPLES: [(u8, &str, &str); 8] = [
    (
        5,
        "Exactly as described",
        "Arrived quickly and works perfectly.",
    ),
    (
        4,
        "Good value",
        "Does the job; the finish could be a little better.",
    ),
    (
        5,
        "Would buy again",
        "Second one I have bought, and just as good as the first.",
    ),
    (
        3,
        "It is fine",
        "Nothing wrong with it, nothing special either.",
    ),
    (
        4,
        "Happy with it",
        "Solid and well made. Instructions were thin.",
    ),
    (2, "Not for me", "Smaller than I expected from the photos."),
    (
        5,
        "Excellent",
        "Better than the more expensive one I had before.",
    ),
    (
        1,
        "Broke within a week",
        "Stopped working after a few days; returned it.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_reviews_are_by_buyers_and_unique_per_buyer_and_product() {
        let data = seed::generate(&SeedSize::small()).unwrap();
        let reviews = demo_reviews(&data);
        assert!(!reviews.is_empty());

        let bought: HashSet<_> = data
            .order_items
            .iter()
            .filter_map(|item| {
                let order = data.orders.iter().find(|o| o.id == item.order_id)?;
                Some((item.product_id, order.user_id))
            })
            .collect();
        let mut pairs = HashSet::new();
        for review in &reviews {
            let pair = (review.product_id.as_uuid(), review.author.user_id.as_uuid());
            assert!(
                bought.contains(&pair),
                "a review by someone who never bought it"
            );
            assert!(
                pairs.insert(pair),
                "two reviews by one customer for one product"
            );
        }
    }
}
