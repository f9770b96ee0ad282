//! Telemetry (chapter 07): `/metrics` with the RED series of every route and the business
//! counters, read the way Prometheus reads them; with Prometheus installed, scraped by a real
//! one that evaluates the repository's recording and alerting rules; and the binary's OTLP
//! export, received by a local collector, continuing the caller's trace.

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

mod needs_postgres {
    use std::time::Duration;

    use testkit::otlp::{Receiver, SpanKind};

    use super::*;

    /// The real binary with `[telemetry] otlp_endpoint` set exports its spans over OTLP/HTTP;
    /// a request carrying a `traceparent` is answered inside the caller's trace, its span named
    /// by route template, and the spans still queued are sent on SIGTERM.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_binary_exports_its_spans_inside_the_callers_trace() {
        use sqlx::ConnectOptions;

        let receiver = Receiver::start().await.expect("the OTLP receiver starts");
        let database = testkit::postgres().await;
        shop_db::MIGRATOR.run(database.pool()).await.unwrap();
        let url = database.connect_options().to_url_lossy().to_string();
        let mut service = crate::startup::Service::start(
            crate::startup::shop_api()
                .env("SHOP_DATABASE_URL", &url)
                .env("SHOP_MONGODB_URL", crate::helpers::UNREACHABLE_MONGODB)
                .env("SHOP_TELEMETRY__OTLP_ENDPOINT", receiver.endpoint()),
        )
        .await;

        let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let caller_span = "00f067aa0ba902b7";
        let response = reqwest::Client::new()
            .get(format!(
                "http://{}/products/{}",
                service.addr,
                uuid::Uuid::nil()
            ))
            .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        // The request's span ends when its response body has gone out.
        response.text().await.unwrap();
        service.terminate().await;

        let spans = receiver
            .wait_for_spans(1, Duration::from_secs(30))
            .await
            .expect("the service exports its request's span");
        let server = spans
            .iter()
            .find(|span| span.kind == SpanKind::Server)
            .unwrap_or_else(|| {
                panic!(
                    "no server span in {:?}",
                    spans.iter().map(|s| (&s.name, s.kind)).collect::<Vec<_>>()
                )
            });
        assert_eq!(server.service, "shop-api");
        assert_eq!(server.name, "GET /products/{id}");
        assert_eq!(server.trace_id, caller_trace);
        assert_eq!(server.parent_span_id.as_deref(), Some(caller_span));
        assert_eq!(server.attribute("http.response.status_code"), Some("404"));
    }

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

    /// A new account is counted; a sign-up with a taken address, which answers the same, is not.
    #[tokio::test]
    async fn new_accounts_are_counted_and_taken_addresses_are_not() {
        let app = TestApp::spawn().await;
        let sign_up = json!({
            "email": "new.customer@example.com",
            "display_name": "New Customer",
            "password": "a long enough passphrase",
        });
        for _ in 0..2 {
            let status = app
                .post_json("/auth/register", &sign_up, None)
                .await
                .status();
            assert_eq!(status, StatusCode::ACCEPTED);
        }
        let text = exposition(&app).await;
        assert_eq!(
            series(&text, "shop_accounts_registered_total"),
            Some(1.0),
            "{text}"
        );
    }
}

mod needs_prometheus {
    use std::time::Duration;

    use testkit::prometheus::{Config, Prometheus, Target};

    use super::*;

    /// The whole path, for real: the service counts, Prometheus scrapes every second, the
    /// repository's rules turn the counts into an error ratio, and with every request failing
    /// (no database, so `/readyz` is 503) the availability fast-burn alert starts pending.
    #[tokio::test]
    async fn a_real_prometheus_scrapes_the_service_and_its_slo_alert_fires() {
        let app = TestApp::spawn_without_postgres().await;
        let prometheus = Prometheus::start(
            Config::new()
                .scrape(Target::new("shop-api", app.addr.to_string()))
                .with_repository_rules(),
        )
        .await
        .expect("a private Prometheus starts");
        let traffic = tokio::spawn({
            let client = app.client.clone();
            let url = format!("{}/readyz", app.base_url);
            async move {
                // Bounded: at most a minute of requests, ten per second.
                for _ in 0..600 {
                    let _ = client.get(&url).send().await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });

        let wait = Duration::from_secs(45);
        let rate = prometheus
            .wait_for(
                r#"sum(rate(http_server_requests_total{job="shop-api",route="/readyz"}[1m]))"#,
                |samples| samples.first().is_some_and(|s| s.value > 0.0),
                wait,
            )
            .await
            .expect("Prometheus computes a request rate");
        assert!(
            rate[0].value < 100.0,
            "at most ten requests a second were sent: {rate:?}"
        );
        let ratio = prometheus
            .wait_for(
                r#"job:http_server_request_error_ratio:rate5m{job="shop-api"}"#,
                |samples| samples.first().is_some_and(|s| s.value > 0.99),
                wait,
            )
            .await
            .expect("the recording rule sees every request failing");
        assert!(ratio[0].value <= 1.0, "{ratio:?}");
        prometheus
            .wait_for(
                r#"ALERTS{alertname="AvailabilityFastBurn",job="shop-api"}"#,
                |samples| !samples.is_empty(),
                wait,
            )
            .await
            .expect("the fast-burn alert is pending or firing");
        traffic.abort();
    }
}
