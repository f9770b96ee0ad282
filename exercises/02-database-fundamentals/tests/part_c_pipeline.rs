//! Part (c): a MongoDB aggregation pipeline builder.
//!
//! The pipeline is judged by what it does, not by how its BSON is spelled: `"_id": 0` or
//! `false`, `{ "$sum": 1 }` or `{ "$count": {} }`, one condition or an explicit `$and` are all
//! correct. The first tests need no server and check only what the brief fixes in words: which
//! stages, in which order, the sort's precedence and the limit. The tests in `needs_mongodb` run
//! the pipeline on a live MongoDB over a small set of reviews, described above `reviews()`.
//!
//! Run with `cargo test -p exercise-02 part_c` (the live half needs MongoDB).

use std::num::NonZeroU32;

use exercise_02::RatingReport;
use mongodb::bson::{Bson, DateTime, Document};
use shop_domain::ProductId;

fn date(year: i32, month: u8, day: u8) -> DateTime {
    DateTime::builder()
        .year(year)
        .month(month)
        .day(day)
        .build()
        .expect("a valid calendar date")
}

fn five() -> NonZeroU32 {
    NonZeroU32::new(5).expect("5 is not zero")
}

/// The operator of each stage (`$match`, `$group`, ...). A stage is a document with exactly one
/// key: `{ "$match": ..., "$group": ... }` would be one stage doing two things, which MongoDB
/// refuses.
fn stage_names(pipeline: &[Document]) -> Vec<&str> {
    pipeline
        .iter()
        .map(|stage| {
            let keys: Vec<&str> = stage.keys().map(String::as_str).collect();
            match keys[..] {
                [operator] => operator,
                _ => panic!("a stage is a document with exactly one operator, got {stage}"),
            }
        })
        .collect()
}

/// A BSON number as an `f64`, whichever integer or float type spells it.
fn number(value: &Bson) -> Option<f64> {
    match value {
        Bson::Int32(n) => Some(f64::from(*n)),
        // Every number in these tests is small enough to be exact as an f64.
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(n) => Some(*n),
        _ => None,
    }
}

#[test]
fn stages_come_in_the_order_of_the_brief() {
    let product = ProductId::generate();
    let since = date(2025, 2, 10);
    let cases = [
        (
            "the default report",
            RatingReport::new(),
            &["$group", "$sort", "$project"][..],
        ),
        (
            "for_products",
            RatingReport::new().for_products([product]),
            &["$match", "$group", "$sort", "$project"],
        ),
        (
            "since",
            RatingReport::new().since(since),
            &["$match", "$group", "$sort", "$project"],
        ),
        (
            "for_products and since (one $match for both)",
            RatingReport::new().for_products([product]).since(since),
            &["$match", "$group", "$sort", "$project"],
        ),
        (
            "min_reviews (a $match after the $group)",
            RatingReport::new().min_reviews(2),
            &["$group", "$match", "$sort", "$project"],
        ),
        (
            "top (a $limit after the $sort)",
            RatingReport::new().top(five()),
            &["$group", "$sort", "$limit", "$project"],
        ),
        (
            "every option",
            RatingReport::new()
                .for_products([product])
                .since(since)
                .min_reviews(3)
                .top(five()),
            &["$match", "$group", "$match", "$sort", "$limit", "$project"],
        ),
    ];
    for (what, report, expected) in cases {
        let pipeline = report.build();
        assert_eq!(
            stage_names(&pipeline),
            expected,
            "{what}: the stages of the brief, in its order, and only those whose option was set \
             (no empty $match)"
        );
    }
}

#[test]
fn sort_keys_come_in_order_of_precedence() {
    let pipeline = RatingReport::new().build();

    let sort = pipeline
        .iter()
        .find_map(|stage| stage.get_document("$sort").ok())
        .expect("the pipeline has a $sort stage whose value is a document");
    // Documents compare equal whatever the order of their keys, but $sort's order is its
    // precedence: look at the keys one by one.
    let keys: Vec<(&str, Option<f64>)> = sort
        .iter()
        .map(|(key, direction)| (key.as_str(), number(direction)))
        .collect();
    assert_eq!(
        keys,
        [
            ("average", Some(-1.0)),
            ("reviews", Some(-1.0)),
            ("_id", Some(1.0))
        ],
        "sort by average descending, then reviews descending, then _id ascending, in that \
         order, so that ties come out the same way every time"
    );
}

#[test]
fn the_limit_is_k() {
    let pipeline = RatingReport::new().top(five()).build();

    let limit = pipeline
        .iter()
        .find_map(|stage| stage.get("$limit"))
        .expect("top(k) adds a $limit stage");
    assert_eq!(number(limit), Some(5.0), "top(5) is {{ \"$limit\": 5 }}");
}

mod needs_mongodb {
    use std::num::NonZeroU32;

    use exercise_02::{ProductRating, RatingReport, Review};
    use futures::TryStreamExt;
    use mongodb::Collection;
    use mongodb::bson::{Bson, DateTime, Document};
    use shop_domain::ProductId;

    use super::date;

    fn jan() -> DateTime {
        date(2025, 1, 10)
    }
    fn feb() -> DateTime {
        date(2025, 2, 10)
    }
    fn mar() -> DateTime {
        date(2025, 3, 10)
    }

    /// Six products, `p[0]` to `p[5]`, whose ids sort in that order, and their reviews:
    ///
    /// | product | ratings (month)                    | all time: average, count | since Feb 10 |
    /// |---------|------------------------------------|--------------------------|--------------|
    /// | p[0]    | 5 (Mar), 4 (Jan)                   | 4.5, 2                   | 5.0, 1       |
    /// | p[1]    | 5 (Jan), 4 (Jan), 5 (Feb), 4 (Mar) | 4.5, 4                   | 4.5, 2       |
    /// | p[2]    | 3 (Jan), 2 (Feb), 4 (Feb), 3 (Mar) | 3.0, 4                   | 3.0, 3       |
    /// | p[3]    | 5 (Mar)                            | 5.0, 1                   | 5.0, 1       |
    /// | p[4]    | 1 (Jan), 2 (Mar)                   | 1.5, 2                   | 2.0, 1       |
    /// | p[5]    | 4 (Feb), 5 (Mar)                   | 4.5, 2                   | 4.5, 2       |
    ///
    /// The February reviews are dated exactly Feb 10, 00:00: `since(feb())` includes them.
    async fn reviews(mongo: &testkit::MongoDatabase) -> (Collection<Review>, Vec<ProductId>) {
        let mut p: Vec<ProductId> = (0..6).map(|_| ProductId::generate()).collect();
        p.sort_by_key(ProductId::to_string);
        let ratings = [
            (p[0], 5, mar()),
            (p[0], 4, jan()),
            (p[1], 5, jan()),
            (p[1], 4, jan()),
            (p[1], 5, feb()),
            (p[1], 4, mar()),
            (p[2], 3, jan()),
            (p[2], 2, feb()),
            (p[2], 4, feb()),
            (p[2], 3, mar()),
            (p[3], 5, mar()),
            (p[4], 1, jan()),
            (p[4], 2, mar()),
            (p[5], 4, feb()),
            (p[5], 5, mar()),
        ];
        let documents = ratings
            .iter()
            .enumerate()
            .map(|(n, &(product_id, rating, created_at))| Review {
                product_id,
                author: format!("reviewer-{n}"),
                rating,
                created_at,
            });
        let collection = mongo.database().collection::<Review>("reviews");
        collection
            .insert_many(documents)
            .await
            .expect("the fixture inserts");
        (collection, p)
    }

    fn rating(product_id: ProductId, average: f64, reviews: u32) -> ProductRating {
        ProductRating {
            product_id,
            reviews,
            average,
        }
    }

    /// Runs `report` with its own `run`; an error from the server (a stage it refuses, a
    /// document that does not read as a `ProductRating`) fails the test with its reason.
    async fn run(report: RatingReport, reviews: &Collection<Review>) -> Vec<ProductRating> {
        match report.run(reviews).await {
            Ok(ratings) => ratings,
            Err(error) => panic!("RatingReport::run must return the report, but failed: {error}"),
        }
    }

    #[tokio::test]
    async fn ranks_by_average_then_review_count_then_id() {
        let mongo = testkit::mongodb().await;
        let (reviews, p) = reviews(&mongo).await;

        let report = run(RatingReport::new(), &reviews).await;

        assert_eq!(
            report,
            vec![
                rating(p[3], 5.0, 1),
                rating(p[1], 4.5, 4),
                rating(p[0], 4.5, 2),
                rating(p[5], 4.5, 2),
                rating(p[2], 3.0, 4),
                rating(p[4], 1.5, 2),
            ],
            "every product, best average first; among equal averages more reviews first, then \
             the smaller id"
        );
    }

    #[tokio::test]
    async fn the_output_documents_have_exactly_the_fields_of_product_rating() {
        let mongo = testkit::mongodb().await;
        let (reviews, _) = reviews(&mongo).await;

        // The raw documents, not `ProductRating`s: serde would silently ignore an extra `_id`.
        let pipeline = RatingReport::new().min_reviews(2).build();
        let documents: Vec<Document> = match reviews
            .clone_with_type::<Document>()
            .aggregate(pipeline)
            .await
        {
            Ok(cursor) => cursor
                .try_collect()
                .await
                .expect("the output documents can be read"),
            Err(error) => panic!("MongoDB refused the pipeline of build(): {error}"),
        };

        assert_eq!(documents.len(), 5, "five products have at least 2 reviews");
        for document in &documents {
            let mut fields: Vec<&str> = document.keys().map(String::as_str).collect();
            fields.sort_unstable();
            assert_eq!(
                fields,
                ["average", "product_id", "reviews"],
                "the $project stage outputs product_id, reviews and average, and drops _id: \
                 got {document}"
            );
            assert!(
                matches!(document.get("product_id"), Some(Bson::String(_))),
                "product_id is the id as a string, as the reviews store it: got {document}"
            );
        }
    }

    #[tokio::test]
    async fn min_reviews_and_top_keep_the_best_products_with_enough_reviews() {
        let mongo = testkit::mongodb().await;
        let (reviews, p) = reviews(&mongo).await;

        let top = NonZeroU32::new(3).expect("3 is not zero");
        let report = run(RatingReport::new().min_reviews(2).top(top), &reviews).await;

        // p[3]'s single 5-star review no longer beats the others.
        assert_eq!(
            report,
            vec![
                rating(p[1], 4.5, 4),
                rating(p[0], 4.5, 2),
                rating(p[5], 4.5, 2),
            ],
            "min_reviews(2) keeps products with 2 reviews or more (2 counts), and top(3) keeps \
             the first three of the ranking, so the limit comes after the sort"
        );
    }

    #[tokio::test]
    async fn since_counts_only_reviews_from_that_instant_on() {
        let mongo = testkit::mongodb().await;
        let (reviews, p) = reviews(&mongo).await;

        let report = run(RatingReport::new().since(feb()), &reviews).await;

        assert_eq!(
            report,
            vec![
                rating(p[0], 5.0, 1),
                rating(p[3], 5.0, 1),
                rating(p[1], 4.5, 2),
                rating(p[5], 4.5, 2),
                rating(p[2], 3.0, 3),
                rating(p[4], 2.0, 1),
            ],
            "since(Feb 10) counts the reviews created at or after that instant: those of Feb 10, \
             00:00 exactly count"
        );
    }

    #[tokio::test]
    async fn for_products_reports_on_those_products_only() {
        let mongo = testkit::mongodb().await;
        let (reviews, p) = reviews(&mongo).await;

        let two = run(RatingReport::new().for_products([p[4], p[2]]), &reviews).await;
        let none = run(RatingReport::new().for_products([]), &reviews).await;

        assert_eq!(
            two,
            vec![rating(p[2], 3.0, 4), rating(p[4], 1.5, 2)],
            "for_products keeps the reviews of those products (their ids as strings) and no \
             others"
        );
        assert_eq!(
            none,
            vec![],
            "an empty product list selects no product at all, rather than every product"
        );
    }

    #[tokio::test]
    async fn filters_combine() {
        let mongo = testkit::mongodb().await;
        let (reviews, p) = reviews(&mongo).await;

        let report = RatingReport::new()
            .for_products([p[0], p[1], p[2]])
            .since(feb())
            .min_reviews(2);
        let report = run(report, &reviews).await;

        // p[0] has a single review since February: below the minimum.
        assert_eq!(
            report,
            vec![rating(p[1], 4.5, 2), rating(p[2], 3.0, 3)],
            "the filters apply together: these products, these dates, then the minimum count"
        );
    }
}
