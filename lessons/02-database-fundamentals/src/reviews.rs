//! Step 8: product reviews in MongoDB, through the capstone's `shop_db::reviews` store.
//!
//! The reviews are written by customers who really bought the product (read from PostgreSQL),
//! with a deterministic generator, so every run stores the same few thousand documents. Then:
//! query operators (`$gte`, `$in`, `$and`, `$exists`), a projection into a smaller typed
//! struct, the rating-summary aggregation, and the unique index at work.

use futures::TryStreamExt;
use mongodb::bson::{DateTime, doc, oid::ObjectId};
use serde::Deserialize;
use shop_db::reviews::{Author, Rating, Review, ReviewError, ReviewStore, uuid_bson};
use shop_db::seed::{ANCHOR, SplitMix64};
use shop_domain::{ProductId, UserId};
use sqlx::PgPool;
use testkit::Service;
use time::OffsetDateTime;
use uuid::Uuid;

/// `MONGODB_URL` if set and not blank, else the server `cargo xtask services up` starts (the
/// default the test runner uses too, from `testkit`).
pub fn mongodb_url() -> String {
    std::env::var("MONGODB_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| Service::MongoDb.default_url().to_owned())
}

/// A delivered purchase: who bought what, and when. Only buyers review.
#[derive(Debug, Clone)]
pub struct Purchase {
    pub product_id: Uuid,
    pub user_id: Uuid,
    pub display_name: String,
    pub placed_at: OffsetDateTime,
}

/// Each customer's first delivered purchase of each product, in a stable order.
#[tracing::instrument(skip(pool), err)]
pub async fn delivered_purchases(pool: &PgPool) -> Result<Vec<Purchase>, sqlx::Error> {
    // DISTINCT ON keeps the first row of each (product, customer) group in ORDER BY order:
    // a PostgreSQL extension that answers "the first X per Y" without a window function.
    sqlx::query_as!(
        Purchase,
        r#"
        SELECT DISTINCT ON (i.product_id, o.user_id)
               i.product_id, o.user_id, u.display_name, o.placed_at
        FROM order_items i
        JOIN orders o ON o.id = i.order_id
        JOIN users u  ON u.id = o.user_id
        WHERE o.status = 'delivered'
        ORDER BY i.product_id, o.user_id, o.placed_at
        "#
    )
    .fetch_all(pool)
    .await
}

const PRAISE: &[&str] = &[
    "Exactly as described",
    "Worth every cent",
    "Better than expected",
    "Would buy again",
    "Great quality",
];
const MIXED: &[&str] = &[
    "Does the job",
    "Fine for the price",
    "Good, not great",
    "Some rough edges",
];
const CRITICISM: &[&str] = &[
    "Disappointing",
    "Broke after a month",
    "Not as pictured",
    "Returned it",
];

// ANCHOR: write_reviews
/// Turns roughly one purchase in `one_in` into a review. Each product gets a hidden "quality"
/// from its id, and its ratings scatter around it, so averages differ between products the way
/// they do in a real shop. Deterministic: the same purchases give the same reviews.
pub fn write_reviews(purchases: &[Purchase], one_in: u64) -> Vec<Review> {
    let mut rng = SplitMix64::new(0x0002_4E71_E005);
    let mut reviews = Vec::new();
    for purchase in purchases {
        if rng.below(one_in.max(1)) != 0 {
            continue;
        }
        // 2.0 to 4.9 stars of quality, always the same for one product.
        let (high, low) = purchase.product_id.as_u64_pair();
        let quality = 2.0 + SplitMix64::new(high ^ low).unit() * 2.9;
        let noise = (rng.unit() + rng.unit() - 1.0) * 2.0;
        let stars = (quality + noise).round().clamp(1.0, 5.0) as u8;
        let rating = Rating::new(stars).expect("stars are clamped to 1..=5");
        let title = match stars {
            4..=5 => rng.pick(PRAISE),
            3 => rng.pick(MIXED),
            _ => rng.pick(CRITICISM),
        };
        // Written 5 to 40 days after the purchase, and not after the seed's "now".
        let written = rng.time_between(
            purchase.placed_at + time::Duration::days(5),
            (purchase.placed_at + time::Duration::days(40)).min(ANCHOR),
        );
        let millis = (written.unix_timestamp_nanos() / 1_000_000) as i64;
        reviews.push(Review {
            id: ObjectId::new(),
            product_id: ProductId::from_uuid(purchase.product_id),
            author: Author {
                user_id: UserId::from_uuid(purchase.user_id),
                display_name: purchase.display_name.clone(),
            },
            rating,
            title: (*title).to_owned(),
            body: format!("{title}. {stars} stars from me after a few weeks of use."),
            created_at: DateTime::from_millis(millis),
            // Most reviews never get a vote; the field is absent on those.
            helpful_votes: rng.percent(35).then(|| rng.between(1, 60) as u32),
        });
    }
    reviews
}
// ANCHOR_END: write_reviews

/// What the operator queries found.
#[derive(Debug, Clone)]
pub struct OperatorResults {
    pub positive_with_votes: u64,
    pub critical_and_helpful: Vec<Headline>,
    pub best_of_three: Vec<Headline>,
}

// ANCHOR: headline
/// A projection: only the fields a list of headlines shows. Deserializing into a smaller
/// struct works because the projection asked the server for just these fields.
#[derive(Debug, Clone, Deserialize)]
pub struct Headline {
    pub title: String,
    pub rating: Rating,
    pub author: AuthorName,
    pub helpful_votes: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthorName {
    pub display_name: String,
}
// ANCHOR_END: headline

// ANCHOR: operators
/// Three queries with MongoDB's operators. A filter is itself a document: a field name maps to
/// a value (equality) or to an operator document such as `{ "$gte": 4 }`.
#[tracing::instrument(skip_all, err)]
pub async fn query_operators(
    store: &ReviewStore,
    products: &[ProductId],
) -> Result<OperatorResults, mongodb::error::Error> {
    let reviews = store.collection();

    // Comparison and element operators: four or five stars, and someone voted on it.
    let positive_with_votes = reviews
        .count_documents(doc! {
            "rating": { "$gte": 4 },
            "helpful_votes": { "$exists": true },
        })
        .await?;

    // $and of two conditions (fields in one document are ANDed anyway; $and is needed when
    // you combine conditions programmatically or on the same field), projected and sorted.
    let headlines = reviews.clone_with_type::<Headline>();
    let projection = doc! {
        "_id": 0, "title": 1, "rating": 1, "author.display_name": 1, "helpful_votes": 1,
    };
    let critical_and_helpful = headlines
        .find(doc! { "$and": [
            { "rating": { "$lte": 2 } },
            { "helpful_votes": { "$gte": 30 } },
        ]})
        .projection(projection.clone())
        .sort(doc! { "helpful_votes": -1, "title": 1 })
        .limit(3)
        .await?
        .try_collect()
        .await?;

    // $in: any of several values. Ids are BSON UUIDs, so the list is too.
    let ids: Vec<_> = products.iter().map(|p| uuid_bson(p.as_uuid())).collect();
    let best_of_three = headlines
        .find(doc! { "product_id": { "$in": ids } })
        .projection(projection)
        .sort(doc! { "rating": -1, "helpful_votes": -1, "title": 1 })
        .limit(4)
        .await?
        .try_collect()
        .await?;

    Ok(OperatorResults {
        positive_with_votes,
        critical_and_helpful,
        best_of_three,
    })
}
// ANCHOR_END: operators

/// Product names for ids, from PostgreSQL: the join MongoDB cannot do across databases
/// happens in the application, one query for the whole list.
pub async fn product_names(
    pool: &PgPool,
    ids: &[ProductId],
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(ProductId::as_uuid).collect();
    let rows = sqlx::query!("SELECT id, name FROM products WHERE id = ANY($1)", &ids)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row.name)).collect())
}

/// Tries to store a second review of `existing.product_id` by the same author: the unique
/// index answers with a duplicate-key error, which the store turns into
/// [`ReviewError::AlreadyReviewed`].
pub async fn review_twice(store: &ReviewStore, existing: &Review) -> Result<(), ReviewError> {
    let mut again = existing.clone();
    again.id = ObjectId::new();
    again.title = "Changed my mind".to_owned();
    store.insert(&again).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purchases(n: u128) -> Vec<Purchase> {
        (0..n)
            .map(|i| Purchase {
                product_id: Uuid::from_u128(i % 7),
                user_id: Uuid::from_u128(1_000 + i),
                display_name: format!("Customer {i}"),
                placed_at: ANCHOR - time::Duration::days(60),
            })
            .collect()
    }

    #[test]
    fn reviews_are_deterministic_and_about_one_in_n() {
        let purchases = purchases(2_000);
        let first = write_reviews(&purchases, 4);
        let second = write_reviews(&purchases, 4);
        assert!((400..600).contains(&first.len()), "{}", first.len());
        let key = |r: &Review| (r.product_id, r.author.user_id, r.rating, r.title.clone());
        assert_eq!(
            first.iter().map(key).collect::<Vec<_>>(),
            second.iter().map(key).collect::<Vec<_>>()
        );
    }

    #[test]
    fn reviews_come_after_the_purchase_and_use_every_star() {
        let purchases = purchases(3_000);
        let reviews = write_reviews(&purchases, 1);
        let bought = purchases[0].placed_at.unix_timestamp() * 1_000;
        let anchor = ANCHOR.unix_timestamp() * 1_000;
        assert!(reviews.iter().all(|r| {
            let at = r.created_at.timestamp_millis();
            bought < at && at <= anchor
        }));
        for stars in 1..=5 {
            assert!(reviews.iter().any(|r| r.rating.stars() == stars), "{stars}");
        }
        assert!(reviews.iter().any(|r| r.helpful_votes.is_none()));
    }
}
