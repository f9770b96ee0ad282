//! `/healthz` and `/readyz` in each state of the dependencies.

use reqwest::StatusCode;

use crate::helpers::TestApp;
use crate::parts;

/// Liveness checks nothing: even with PostgreSQL gone, the process is alive.
#[tokio::test]
async fn healthz_is_ok_without_any_dependency() {
    let app = TestApp::spawn_without_postgres().await;

    let (status, _, body) = parts(app.healthz().await).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_is_503_unavailable_when_postgres_is_down() {
    let app = TestApp::spawn_without_postgres().await;

    let (status, content_type, body) = parts(app.readyz().await).await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // A report, not a problem: the middleware leaves error bodies of their own alone.
    assert_eq!(content_type, "application/json");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["postgres"]["status"], "down");
    assert_eq!(body["checks"]["postgres"]["required"], true);
}

mod needs_postgres {
    use super::*;

    #[tokio::test]
    async fn readyz_is_200_degraded_when_only_mongodb_is_down() {
        let app = TestApp::spawn().await;

        let (status, _, body) = parts(app.readyz().await).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["checks"]["postgres"]["status"], "up");
        assert_eq!(body["checks"]["mongodb"]["status"], "down");
        assert_eq!(body["checks"]["mongodb"]["required"], false);
    }

    #[tokio::test]
    async fn readyz_is_200_ready_when_everything_answers_needs_mongodb() {
        let mongo = testkit::mongodb().await;
        let app = TestApp::spawn_with_mongodb(mongo.url(), mongo.database().name()).await;

        let (status, _, body) = parts(app.readyz().await).await;

        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "ready");
        assert_eq!(body["checks"]["mongodb"]["status"], "up");
    }

    #[tokio::test]
    async fn every_response_carries_a_request_id() {
        let app = TestApp::spawn().await;

        let generated = app.healthz().await;
        let echoed = app
            .client
            .get(format!("{}/healthz", app.base_url))
            .header("x-request-id", "trace-me-42")
            .send()
            .await
            .unwrap();

        assert!(generated.headers().contains_key("x-request-id"));
        assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
    }

    #[tokio::test]
    async fn shutdown_stops_the_server_cleanly() {
        let app = TestApp::spawn().await;
        let client = app.client.clone();
        let url = format!("{}/healthz", app.base_url);
        assert!(client.get(&url).send().await.unwrap().status().is_success());

        app.stop().await.expect("serve returns Ok after draining");

        assert!(
            client.get(&url).send().await.is_err(),
            "nothing listens any more"
        );
    }
}
