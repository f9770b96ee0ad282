//! The storefront continues its caller's trace: the `traceparent` it sends the stock service
//! carries the caller's trace id, with its own client span as the parent.
//!
//! A test binary of its own, on purpose. `tracing` caches, per call site, whether any
//! subscriber wants it; tests running side by side in one process, some with a scoped
//! subscriber and some with none, race on that cache, and a span can come out disabled (no
//! trace id to propagate) for reasons that have nothing to do with the code under test.

use std::sync::{Arc, Mutex};

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use lesson_07::services::{ServiceMetrics, StockClient, StockLevel, loopback, storefront_app};
use shop_http::Server;
use shop_telemetry::logs::Format;
use shop_telemetry::setup::{self, Settings};
use tokio_util::sync::CancellationToken;

/// A stand-in stock service that remembers the `traceparent` of every request.
fn recording_stub(seen: Arc<Mutex<Vec<String>>>) -> Router {
    Router::new().route(
        "/stock/{sku}",
        get(move |Path(sku): Path<String>, headers: HeaderMap| {
            let seen = Arc::clone(&seen);
            async move {
                let traceparent = headers
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_owned();
                seen.lock()
                    .expect("no test panicked holding it")
                    .push(traceparent);
                Json(StockLevel { sku, available: 1 })
            }
        }),
    )
}

// A current-thread runtime: the servers' tasks run on this thread, where the scoped
// subscriber (with its OpenTelemetry layer, which gives spans their ids) is the default.
#[tokio::test(flavor = "current_thread")]
async fn the_storefront_passes_the_callers_trace_on_to_stock_with_its_own_span_as_parent() {
    let settings = Settings {
        service: "storefront".into(),
        format: Format::Json,
        default_filter: "info".into(),
        otlp_endpoint: None,
    };
    let (subscriber, _telemetry) = setup::subscriber(&settings, std::io::sink).unwrap();
    let _default = tracing::subscriber::set_default(subscriber);

    let shutdown = CancellationToken::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stub = Server::bind(loopback())
        .await
        .unwrap()
        .spawn(recording_stub(Arc::clone(&seen)), shutdown.clone());
    let storefront = Server::bind(loopback()).await.unwrap().spawn(
        storefront_app(
            StockClient::new(stub.base_url()).unwrap(),
            &ServiceMetrics::new(),
        ),
        shutdown.clone(),
    );

    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/products/7", storefront.base_url()))
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let parts: Vec<&str> = seen[0].split('-').collect();
    assert_eq!(parts.len(), 4, "{seen:?}");
    assert_eq!(parts[1], caller_trace, "the same trace");
    assert_ne!(
        parts[2], caller_span,
        "the storefront's own client span is the parent"
    );
    assert_eq!(parts[2].len(), 16);

    shutdown.cancel();
    storefront.stopped().await.unwrap();
    stub.stopped().await.unwrap();
}
