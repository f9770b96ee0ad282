//! Part (c): a MongoDB aggregation pipeline builder.
//!
//! The first tests check the pipeline's shape without a server: which stages, in which order,
//! with which fields. The tests in `needs_mongodb` run it on a live MongoDB over a small set of
//! reviews, described above `reviews()`.
//!
//! Run with `cargo test -p exercise-02 --test part_c_pipeline` (the live half needs MongoDB).

use std::num::NonZeroU32;

use exercise_02::RatingReport;
use mongodb::bson::{Bson, DateTime, Document, doc};
use shop_domain::ProductId;

/// The pipeline with every integer as an Int64, so that `1_i32` and `1_i64` compare equal:
/// the brief leaves the integer width to you.
fn normalized(stages: Vec<Document>) -> Vec<Document> {
    stages.into_iter().map(normalized_document).collect()
}

fn normalized_document(document: Document) -> Document {
    document
        .into_iter()
        .map(|(key, value)| (key, normalized_value(value)))
        .collect()
}

fn normalized_value(value: Bson) -> Bson {
    match value {
        Bson::Int32(n) => Bson::Int64(n.into()),
        Bson::Document(document) => Bson::Document(normalized_document(document)),
        Bson::Array(items) => Bson::Array(items.into_iter().map(normalized_value).collect()),
        other => other,
    }
}

fn group() -> Document {
    doc! {
        "$group": {
            "_id": "$product_id",
            "reviews": { "$sum": 1_i64 },
            "average": { "$avg": "$rating" },
        }
    }
}

fn sort() -> Document {
    doc! { "$sort": { "average": -1_i64, "reviews": -1_i64, "_id": 1_i64 } }
}

fn project() -> Document {
    doc! { "$project": { "_id": 0_i64, "product_id": "$_id", "reviews": 1_i64, "average": 1_i64 } }
}

fn date(year: i32, month: u8, day: u8) -> DateTime {
    DateTime::builder()
        .year(year)
        .month(month)
        .day(day)
        .build()
        .expect("a valid calendar date")
}

#[test]
fn the_default_report_groups_sorts_and_projects() {
    let pipeline = RatingReport::new().build();

    assert_eq!(normalized(pipeline), vec![group(), sort(), project()]);
}

#[test]
fn every_option_adds_its_stage_in_place() {
    let (first, second) = (ProductId::generate(), ProductId::generate());
    let since = date(2025, 2, 10);

    let pipeline = RatingReport::new()
        .for_products([second, first])
        .since(since)
        .min_reviews(3)
        .top(NonZeroU32::new(5).unwrap())
        .build();

    let expected = vec![
        doc! {
            "$match": {
                "product_id": { "$in": [second.to_string(), first.to_string()] },
                "created_at": { "$gte": since },
            }
        },
        group(),
        doc! { "$match": { "reviews": { "$gte": 3_i64 } } },
        sort(),
        doc! { "$limit": 5_i64 },
        project(),
    ];
    assert_eq!(normalized(pipeline), expected);
}

#[test]
fn only_the_conditions_that_were_set_are_matched() {
    let product = ProductId::generate();
    let since = date(2025, 1, 1);

    let by_date = RatingReport::new().since(since).build();
    let by_product = RatingReport::new().for_products([product]).build();
    let by_count = RatingReport::new().min_reviews(2).build();

    assert_eq!(
        normalized(by_date),
        vec![
            doc! { "$match": { "created_at": { "$gte": since } } },
            group(),
            sort(),
            project()
        ]
    );
    assert_eq!(
        normalized(by_product),
        vec![
            doc! { "$match": { "product_id": { "$in": [product.to_string()] } } },
            group(),
            sort(),
            project()
        ]
    );
    assert_eq!(
        normalized(by_count),
        vec![
            group(),
            doc! { "$match": { "reviews": { "$gte": 2_i64 } } },
            sort(),
            project()
        ]
    );
}

#[test]
fn sort_keys_come_in_order_of_precedence() {
    // Documents compare equal whatever the order of their keys, but $sort's order matters.
    let pipeline = RatingReport::new().build();

    let sort = pipeline
        .iter()
        .find_map(|stage| stage.get_document("$sort").ok())
        .expect("the pipeline has a $sort stage");
    let keys: Vec<&str> = sort.keys().map(String::as_str).collect();
    assert_eq!(keys, ["average", "reviews", "_id"]);
}

mod needs_mongodb {
    use std::num::NonZeroU32;

    use exercise_02::{ProductRating, RatingReport, Review};
    use mongodb::Collection;
    use mongodb::bson::DateTime;
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

    #[tokio::test]
    async fn ranks_by_average_then_review_count_then_id() {
        let mongo = testkit::mongodb().await;
        let (reviews, p) = reviews(&mongo).await;

        let report = RatingReport::new().run(&reviews).await.unwrap();

        assert_eq!(
            report,
            vec![
                rating(p[3], 5.0, 1),
                rating(p[1], 4.5, 4),
                rating(p[0], 4.5, 2),
                rating(p[5], 4.5, 2),
                rating(p[2], 3.0, 4),
                rating(p[4], 1.5, 2),
            ]
        );
    }

    #[tokio::test]
    async fn min_reviews_and_top_keep_the_best_products_with_enough_reviews() {
        let mongo = testkit::mongodb().await;
        let (reviews, p) = reviews(&mongo).await;

        let report = RatingReport::new()
            .min_reviews(2)
            .top(NonZeroU32::new(3).unwrap())
            .run(&reviews)
            .await
            .unwrap();

        // p[3]'s single 5-star review no longer beats the others.
        assert_eq!(
            report,
            vec![
                rating(p[1], 4.5, 4),
                rating(p[0], 4.5, 2),
                rating(p[5], 4.5, 2),
            ]
        );
    }

    #[tokio::test]
    async fn since_counts_only_reviews_from_that_instant_on() {
        let mongo = testkit::mongodb().await;
        let (reviews, p) = reviews(&mongo).await;

        let report = RatingReport::new()
            .since(feb())
            .run(&reviews)
            .await
            .unwrap();

        assert_eq!(
            report,
            vec![
                rating(p[0], 5.0, 1),
                rating(p[3], 5.0, 1),
                rating(p[1], 4.5, 2),
                rating(p[5], 4.5, 2),
                rating(p[2], 3.0, 3),
                rating(p[4], 2.0, 1),
            ]
        );
    }

    #[tokio::test]
    async fn for_products_reports_on_those_products_only() {
        let mongo = testkit::mongodb().await;
        let (reviews, p) = reviews(&mongo).await;

        let two = RatingReport::new()
            .for_products([p[4], p[2]])
            .run(&reviews)
            .await
            .unwrap();
        let none = RatingReport::new()
            .for_products([])
            .run(&reviews)
            .await
            .unwrap();

        assert_eq!(two, vec![rating(p[2], 3.0, 4), rating(p[4], 1.5, 2)]);
        assert_eq!(none, vec![], "an empty product list selects nothing");
    }

    #[tokio::test]
    async fn filters_combine() {
        let mongo = testkit::mongodb().await;
        let (reviews, p) = reviews(&mongo).await;

        let report = RatingReport::new()
            .for_products([p[0], p[1], p[2]])
            .since(feb())
            .min_reviews(2)
            .run(&reviews)
            .await
            .unwrap();

        // p[0] has a single review since February: below the minimum.
        assert_eq!(report, vec![rating(p[1], 4.5, 2), rating(p[2], 3.0, 3)]);
    }
}
