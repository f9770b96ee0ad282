//! `/metrics` (chapter 07): the RED series of every route and the business counters, read the
//! way Prometheus reads them; and, with Prometheus installed, scraped by a real one.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

/// The value of one series in a text exposition, by its full name and labels as written.
fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
}

async fn exposition(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("an ASCII content type")
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.text().await.expect("the exposition is text")
}

/// Without a database the service still counts what it answers: metrics matter most when
/// things are failing.
#[tokio::test]
async fn failures_are_counted_by_route_template_and_status() {
    let app = TestApp::spawn_without_postgres().await;
    for _ in 0..3 {
        assert_eq!(app.readyz().await.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    app.get("/no/such/route").await;

    let text = exposition(&app).await;
    assert_eq!(
        series(
            &text,
            r#"http_server_requests_total{method="GET",route="/readyz",status="503"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        series(
            &text,
            r#"http_server_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series(
            &text,
            r#"http_server_request_duration_seconds_count{method="GET",route="/readyz"}"#
        ),
        Some(3.0),
        "{text}"
    );
    // The path a client sent never becomes a label.
    assert!(!text.contains("/no/such/route"), "{text}");
}

#[tokio::test]
async fn a_request_carrying_a_traceparent_is_answered_normally() {
    let app = TestApp::spawn_without_postgres().await;
    let response = app
        .send(app.client.get(format!("{}/healthz", app.base_url)).header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

mod needs_postgres {
    use super::*;

    #[tokio::test]
    async fn sign_ins_are_counted_by_outcome() {
        let app = TestApp::spawn().await;
        let login = |password: &'static str| {
            let app = &app;
            async move {
                app.post_json(
                    "/auth/login",
                    &json!({"email": "nobody@example.com", "password": password}),
                    None,
                )
                .await
                .status()
            }
        };
        assert_eq!(login("wrong-one").await, StatusCode::UNAUTHORIZED);
        assert_eq!(login("wrong-two").await, StatusCode::UNAUTHORIZED);

        let text = exposition(&app).await;
        assert_eq!(
            series(&text, r#"shop_sign_ins_total{outcome="failure"}"#),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            series(&text, r#"shop_sign_ins_total{outcome="success"}"#),
            None
        );
    }
}
