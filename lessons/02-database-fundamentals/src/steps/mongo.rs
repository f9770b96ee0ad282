//! Step 8: MongoDB.

use std::collections::HashMap;
use std::time::Instant;

use shop_db::reviews::{ReviewError, ReviewStore};
use shop_domain::ProductId;
use sqlx::PgPool;

use super::{MongoOutcome, Settings, StepError};
use crate::database::{DEMO_DATABASE, redact};
use crate::reviews::{self as demo, Headline};
use narrate::{Table, duration, heading, say, show, sparkline, thousands, truncate};
use testkit::standin::MARKER_FIELD;

/// Roughly one delivered purchase in this many gets a review.
const ONE_REVIEW_IN: u64 = 12;

pub async fn reviews_in_mongodb(
    pool: &PgPool,
    settings: &Settings,
) -> Result<MongoOutcome, StepError> {
    heading(8, "Reviews as documents in MongoDB");
    if settings.skip_mongo {
        say("Skipped (--skip-mongo).");
        return Ok(MongoOutcome::Skipped);
    }
    say(format_args!(
        "Server: {} (set MONGODB_URL to change it)",
        redact(&settings.mongodb_url)
    ));
    let store = match ReviewStore::connect(&settings.mongodb_url, DEMO_DATABASE).await {
        Ok(store) => store,
        Err(unreachable @ ReviewError::Unreachable { .. }) => {
            mongodb_unavailable(&unreachable);
            return Ok(MongoOutcome::Unreachable(unreachable));
        }
        Err(other) => return Err(other.into()),
    };
    if let Some(what) = stand_in(&store).await {
        say(format_args!(
            "It is the workspace's MongoDB stand-in ({what}), not MongoDB:"
        ));
        say(
            "enough for this step, though it scans where MongoDB would use an index (book: set-up).",
        );
    }

    // A fresh collection each run; dropping it drops its indexes too.
    store.collection().drop().await?;
    let reviews = write_and_store(pool, &store).await?;

    // Bulk load first, index second: one index build is cheaper than updating the indexes
    // document by document, and building the unique index checks the rule over everything.
    let started = Instant::now();
    store.ensure_indexes().await?;
    let indexes: Vec<String> = store.collection().list_index_names().await?;
    say(format_args!(
        "Then the indexes, built over the loaded collection in {}:",
        duration(started.elapsed()),
    ));
    show(indexes.join(", "));
    operators(&store).await?;
    summaries(pool, &store).await?;
    one_review_per_user(&store).await?;

    if !settings.keep {
        store.collection().drop().await?;
    }
    Ok(MongoOutcome::Done { reviews })
}

fn mongodb_unavailable(error: &ReviewError) {
    say("Skipping the MongoDB half: no MongoDB server answered.");
    show(error);
    if let Some(cause) = std::error::Error::source(error) {
        // The driver's message describes the whole topology; its start is what matters.
        show(format_args!(
            "caused by: {}",
            truncate(&cause.to_string(), 90)
        ));
    }
    say("What it would show: reviews stored as typed documents, query operators, a rating");
    say("summary computed by an aggregation pipeline, and a unique index at work. Start MongoDB");
    say("with `cargo xtask services up` and run `cargo run -p lesson-02` again.");
}

async fn write_and_store(pool: &PgPool, store: &ReviewStore) -> Result<u64, StepError> {
    let purchases = demo::delivered_purchases(pool).await?;
    let reviews = demo::write_reviews(&purchases, ONE_REVIEW_IN);
    let started = Instant::now();
    let stored = store.insert_many(&reviews).await?;
    say(format_args!(
        "{} reviews by customers who bought the product ({} delivered purchases in PostgreSQL),",
        thousands(stored as i64),
        thousands(purchases.len() as i64)
    ));
    say(format_args!(
        "stored in the collection `{}` of database `{DEMO_DATABASE}` with insert_many in {}.",
        ReviewStore::COLLECTION,
        duration(started.elapsed())
    ));
    say("Each embeds its author's name and references its product by id (a BSON UUID). One of");
    say("them, as MongoDB stores it:");
    if let Some(first) = reviews.first() {
        let document = mongodb::bson::serialize_to_document(first)?;
        for line in format!("{document:#}").lines() {
            show(truncate(line, 100));
        }
    }
    Ok(stored)
}

async fn operators(store: &ReviewStore) -> Result<(), StepError> {
    say("Query operators: a filter is a document, and operators are keys that start with $.");
    let top = store.rating_summaries(3).await?;
    let products: Vec<ProductId> = top.iter().map(|s| s.product_id).collect();
    let found = demo::query_operators(store, &products).await?;
    show(format_args!(
        "{{ rating: {{ $gte: 4 }}, helpful_votes: {{ $exists: true }} }}  → {} reviews",
        thousands(found.positive_with_votes as i64)
    ));
    show("{ $and: [ { rating: { $lte: 2 } }, { helpful_votes: { $gte: 30 } } ] }, top 3 by votes:");
    print_headlines(&found.critical_and_helpful);
    show("{ product_id: { $in: [the three most-reviewed products] } }, best first:");
    print_headlines(&found.best_of_three);
    Ok(())
}

fn print_headlines(headlines: &[Headline]) {
    for h in headlines {
        show(format_args!(
            "  {}  {:<22} {:<20} {} votes",
            "★".repeat(h.rating.stars().into()) + &"☆".repeat(5 - usize::from(h.rating.stars())),
            h.title,
            h.author.display_name,
            h.helpful_votes.unwrap_or(0)
        ));
    }
}

async fn summaries(pool: &PgPool, store: &ReviewStore) -> Result<(), StepError> {
    say("The rating-summary pipeline ($match → $group → $sort → $limit → $project), run by the");
    say("server; product names come from PostgreSQL in one query (MongoDB cannot join across):");
    let started = Instant::now();
    let summaries = store.rating_summaries(8).await?;
    let took = started.elapsed();
    let ids: Vec<ProductId> = summaries.iter().map(|s| s.product_id).collect();
    let names = names(pool, &ids).await?;
    let mut table = Table::new([
        "product",
        "reviews>",
        "average>",
        "1★..5★",
        "1>",
        "2>",
        "3>",
        "4>",
        "5>",
    ]);
    for s in &summaries {
        let h = s.histogram;
        table.row([
            truncate(names.get(&s.product_id).map_or("?", String::as_str), 38),
            thousands(s.count as i64),
            format!("{:.2}", s.average),
            sparkline(&h),
            h[0].to_string(),
            h[1].to_string(),
            h[2].to_string(),
            h[3].to_string(),
            h[4].to_string(),
        ]);
    }
    print!("{table}");
    show(format_args!("aggregated in {}", duration(took)));

    if let Some(first) = summaries.first() {
        let latest = store.list_for_product(first.product_id, 2).await?;
        say("list_for_product: the newest reviews of the first one, served by the compound index:");
        for review in latest {
            show(format_args!(
                "{}  {}★  {} ({})",
                review
                    .created_at
                    .try_to_rfc3339_string()
                    .unwrap_or_default()
                    .get(..10)
                    .unwrap_or_default(),
                review.rating.stars(),
                review.title,
                review.author.display_name
            ));
        }
    }
    Ok(())
}

async fn one_review_per_user(store: &ReviewStore) -> Result<(), StepError> {
    say("The unique index (product_id, author.user_id): a second review by the same customer");
    let Some(existing) = store.collection().find_one(mongodb::bson::doc! {}).await? else {
        return Err(StepError::MissingData("a stored review"));
    };
    match demo::review_twice(store, &existing).await {
        Err(refused @ ReviewError::AlreadyReviewed { .. }) => {
            say(
                "comes back from the server as E11000 duplicate key, and from the store as a type:",
            );
            show("ReviewError::AlreadyReviewed");
            show(refused);
        }
        Err(other) => return Err(other.into()),
        Ok(()) => return Err(StepError::MissingData("the unique index on reviews")),
    }
    Ok(())
}

async fn names(pool: &PgPool, ids: &[ProductId]) -> Result<HashMap<ProductId, String>, StepError> {
    let rows = demo::product_names(pool, ids).await?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| (ProductId::from_uuid(id), name))
        .collect())
}

/// What the server says it is, when it is the workspace's MongoDB stand-in: that one adds a
/// [`MARKER_FIELD`] to its `hello` reply (see `testkit::standin`). The test runner asks the
/// same question with a hand-written message; the demo already has a client, so it uses it.
async fn stand_in(store: &ReviewStore) -> Option<String> {
    let hello = store
        .collection()
        .client()
        .database("admin")
        .run_command(mongodb::bson::doc! { "hello": 1 })
        .await
        .ok()?;
    hello.get_str(MARKER_FIELD).ok().map(str::to_owned)
}
