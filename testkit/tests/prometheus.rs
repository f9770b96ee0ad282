//! `testkit::prometheus` against the real program: a private server scrapes a tiny service
//! that speaks the telemetry contract, evaluates the repository's rules on what it scraped,
//! and goes away with its handle.
//!
//! The module is named `needs_prometheus`, the marker `cargo xtask test` skips by where the
//! `prometheus` program is not installed (`apt-get install prometheus`).

mod needs_prometheus {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::extract::State;
    use axum::routing::get;
    use testkit::prometheus::{Config, Error, Health, Prometheus, Target};

    /// Generous: the server scrapes and evaluates every second, so answers come in seconds.
    const CEILING: Duration = Duration::from_secs(60);

    /// A service whose traffic grows by a fixed amount at every scrape: 100 successful
    /// requests to /products, 5 failing ones (503) to /orders, 50 ms each.
    async fn metrics(State(scrapes): State<Arc<AtomicU64>>) -> String {
        let n = scrapes.fetch_add(1, Ordering::SeqCst) + 1;
        let (ok, failed) = (100 * n, 5 * n);
        let mut page = String::from(
            "# TYPE http_server_requests_total counter\n\
             # TYPE http_server_request_duration_seconds histogram\n\
             # TYPE http_server_requests_in_flight gauge\n",
        );
        page.push_str(&format!(
            "http_server_requests_total{{method=\"GET\",route=\"/products\",status=\"200\"}} {ok}\n\
             http_server_requests_total{{method=\"POST\",route=\"/orders\",status=\"503\"}} {failed}\n"
        ));
        for (method, route, count) in [("GET", "/products", ok), ("POST", "/orders", failed)] {
            for le in ["0.025", "0.05", "0.25", "+Inf"] {
                let below = if le == "0.025" { 0 } else { count };
                page.push_str(&format!(
                    "http_server_request_duration_seconds_bucket{{method=\"{method}\",route=\"{route}\",le=\"{le}\"}} {below}\n"
                ));
            }
            page.push_str(&format!(
                "http_server_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\"}} {count}\n\
                 http_server_request_duration_seconds_sum{{method=\"{method}\",route=\"{route}\"}} {}\n",
                count as f64 * 0.05
            ));
        }
        page.push_str("http_server_requests_in_flight 3\n");
        page
    }

    /// Serves [`metrics`] on a free port; returns its address.
    async fn service() -> String {
        let app = Router::new()
            .route("/metrics", get(metrics))
            .with_state(Arc::new(AtomicU64::new(0)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        let address = listener
            .local_addr()
            .expect("a bound listener has an address")
            .to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        address
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scrapes_a_service_and_evaluates_the_repository_rules() {
        let address = service().await;
        let prometheus = Prometheus::start(
            Config::new()
                .scrape(Target::new("demo", &address))
                .with_repository_rules(),
        )
        .await
        .unwrap();

        let up = prometheus
            .wait_for(
                r#"up{job="demo"}"#,
                |s| s.len() == 1 && s[0].value == 1.0,
                CEILING,
            )
            .await
            .unwrap();
        assert_eq!(up[0].label("instance"), Some(address.as_str()));

        let targets = prometheus.targets().await.unwrap();
        assert_eq!(targets.len(), 1, "{targets:?}");
        assert_eq!(targets[0].job, "demo");
        assert_eq!(targets[0].health, Health::Up);
        assert_eq!(targets[0].scrape_url, format!("http://{address}/metrics"));

        // The recording rule of red.yml, on real scrapes: 5 of every 105 requests fail, all
        // of them on /orders. (Its ratio is exactly 1, /products exactly 0.)
        let ratios = prometheus
            .wait_for(
                r#"job_route:http_server_request_error_ratio:rate5m{job="demo"}"#,
                |s| s.len() == 2,
                CEILING,
            )
            .await
            .unwrap();
        let ratio_of = |route: &str| {
            ratios
                .iter()
                .find(|s| s.label("route") == Some(route))
                .map(|s| s.value)
        };
        assert_eq!(ratio_of("/orders"), Some(1.0), "{ratios:?}");
        assert_eq!(ratio_of("/products"), Some(0.0), "{ratios:?}");

        // slo.yml's job-level SLIs: 5/105 of the requests fail and none is slower than
        // 250 ms. The rates of two counters growing in step give an exact ratio.
        let errors = prometheus
            .wait_for(
                r#"job:http_server_request_error_ratio:rate1h{job="demo"}"#,
                |s| s.len() == 1,
                CEILING,
            )
            .await
            .unwrap();
        assert!(
            (errors[0].value - 5.0 / 105.0).abs() < 1e-9,
            "error ratio {}",
            errors[0].value
        );
        let slow = prometheus
            .wait_for(
                r#"job:http_server_request_slow_ratio:rate5m{job="demo"}"#,
                |s| s.len() == 1,
                CEILING,
            )
            .await
            .unwrap();
        assert_eq!(slow[0].value, 0.0);

        // A scalar answer is one sample without labels.
        let scalar = prometheus.query("scalar(vector(2.5))").await.unwrap();
        assert_eq!(scalar.len(), 1);
        assert_eq!(scalar[0].value, 2.5);
        assert!(scalar[0].labels.is_empty());
    }

    #[tokio::test]
    async fn a_query_prometheus_refuses_is_an_error_that_says_why() {
        let prometheus = Prometheus::start(Config::new()).await.unwrap();
        let err = prometheus.query("sum(").await.unwrap_err();
        assert!(matches!(err, Error::Query { .. }), "{err}");
        assert!(err.to_string().contains("sum("), "{err}");
        // wait_for does not poll a query that can never succeed.
        let err = prometheus
            .wait_for("rate(x)", |_| true, CEILING)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Query { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_target_that_does_not_answer_is_reported_down_with_the_reason() {
        // A port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let prometheus = Prometheus::start(Config::new().scrape(Target::new("gone", &closed)))
            .await
            .unwrap();
        prometheus
            .wait_for(
                r#"up{job="gone"}"#,
                |s| s.len() == 1 && s[0].value == 0.0,
                CEILING,
            )
            .await
            .unwrap();
        let target = prometheus.targets().await.unwrap().remove(0);
        assert_eq!(target.health, Health::Down);
        assert!(target.last_error.contains("refused"), "{target:?}");
    }

    #[tokio::test]
    async fn waiting_gives_up_with_the_last_answer() {
        let prometheus = Prometheus::start(Config::new()).await.unwrap();
        let err = prometheus
            .wait_for("vector(1)", |s| s.is_empty(), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("{} 1"), "{err}");
    }

    #[tokio::test]
    async fn a_configuration_prometheus_rejects_fails_the_start_with_its_log() {
        let dir = std::env::temp_dir().join(format!("testkit-bad-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rules = dir.join("broken.yml");
        std::fs::write(
            &rules,
            "groups:\n  - name: x\n    rules:\n      - record: y\n        expr: sum(\n",
        )
        .unwrap();
        let outcome = Prometheus::start(Config::new().rule_files(&rules)).await;
        std::fs::remove_dir_all(&dir).unwrap();
        let err = match outcome {
            Ok(_) => panic!("Prometheus started with a broken rule file"),
            Err(err) => err,
        };
        assert!(matches!(err, Error::Exited { .. }), "{err}");
        assert!(err.to_string().contains("broken.yml"), "{err}");
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_server() {
        let prometheus = Prometheus::start(Config::new()).await.unwrap();
        let port = prometheus.port();
        assert_eq!(testkit::discover::probe("127.0.0.1", port), Ok(()));
        drop(prometheus);
        // Drop kills and reaps the process, so nothing listens any more.
        assert!(testkit::discover::probe("127.0.0.1", port).is_err());
    }
}
