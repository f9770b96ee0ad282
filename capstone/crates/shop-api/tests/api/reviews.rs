//! Reviews: served from MongoDB when it answers, a 503 problem when it does not.

mod needs_postgres {
    use reqwest::StatusCode;
    use shop_domain::ProductId;

    use crate::helpers::TestApp;
    use crate::{PROBLEM_JSON, parts};

    // ANCHOR: degradation_test
    #[tokio::test]
    async fn reviews_are_a_503_problem_while_mongodb_is_unreachable() {
        let app = TestApp::spawn().await; // MongoDB configured at 127.0.0.1:1
        let id = app.fixtures().headphones.to_string();

        for response in [app.reviews(&id).await, app.rating(&id).await] {
            assert!(response.headers().contains_key("retry-after"));
            let (status, content_type, body) = parts(response).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(content_type, PROBLEM_JSON);
            assert_eq!(body["title"], "Reviews are temporarily unavailable");
            // Nothing about where MongoDB lives leaks to the client.
            assert!(!body.to_string().contains("127.0.0.1"), "{body}");
        }
        // The rest of the shop still works.
        assert_eq!(app.product(&id).await.status(), StatusCode::OK);
    }
    // ANCHOR_END: degradation_test

    #[tokio::test]
    async fn reviews_of_an_unknown_product_are_404_even_while_mongodb_is_down() {
        let app = TestApp::spawn().await;

        let response = app.reviews(&ProductId::generate().to_string()).await;

        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    mod needs_mongodb {
        use shop_db::reviews::{Author, Rating, Review, ReviewStore};
        use shop_domain::UserId;

        use super::*;

        fn review(product: ProductId, stars: u8, title: &str) -> Review {
            let author = Author {
                user_id: UserId::generate(),
                display_name: format!("Reviewer {stars}"),
            };
            Review::new(
                product,
                author,
                Rating::new(stars).expect("tests rate 1 to 5 stars"),
                title,
                "Body text.",
            )
        }

        #[tokio::test]
        async fn reviews_and_rating_come_from_mongodb() {
            let mongo = testkit::mongodb().await;
            let app = TestApp::spawn_with_mongodb(mongo.url(), mongo.database().name()).await;
            let f = app.fixtures();
            let store = ReviewStore::new(mongo.database());
            store.ensure_indexes().await.unwrap();
            for (stars, title) in [(5, "Great"), (3, "Fine"), (4, "Good")] {
                store
                    .insert(&review(f.headphones, stars, title))
                    .await
                    .unwrap();
            }
            store
                .insert(&review(f.speaker, 1, "Other product"))
                .await
                .unwrap();

            let (status, _, body) = parts(app.reviews(&f.headphones.to_string()).await).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let titles: Vec<_> = body["reviews"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["title"].as_str().unwrap())
                .collect();
            assert_eq!(titles.len(), 3);
            assert!(!titles.contains(&"Other product"));

            let (status, _, rating) = parts(app.rating(&f.headphones.to_string()).await).await;
            assert_eq!(status, StatusCode::OK, "{rating}");
            assert_eq!(rating["count"], 3);
            assert_eq!(rating["average"], 4.0);
            assert_eq!(rating["histogram"], serde_json::json!([0, 0, 1, 1, 1]));
        }

        #[tokio::test]
        async fn a_product_without_reviews_has_no_average() {
            let mongo = testkit::mongodb().await;
            let app = TestApp::spawn_with_mongodb(mongo.url(), mongo.database().name()).await;

            let (status, _, rating) =
                parts(app.rating(&app.fixtures().hose.to_string()).await).await;

            assert_eq!(status, StatusCode::OK, "{rating}");
            assert_eq!(rating["count"], 0);
            assert_eq!(rating["average"], serde_json::Value::Null);
        }
    }
}
