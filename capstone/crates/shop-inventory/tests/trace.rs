//! One checkout, one trace: a call made inside a span carries it as `traceparent`, and the
//! server's span for the call joins that trace.
//!
//! A test binary of its own: it installs a subscriber for its thread, and `tracing` caches per
//! call site whether anyone listens, a cache that other tests hitting the same call sites on
//! other threads at the same moment can leave stale. Alone in its process, it cannot race them.

#[path = "inventory/helpers.rs"]
#[allow(dead_code, reason = "this binary uses a few of the shared helpers")]
mod helpers;

mod needs_postgres {
    use shop_inventory::proto;
    use shop_telemetry::capture::{Captured, capture_thread};
    use shop_telemetry::propagation;
    use tracing::Instrument;

    use crate::helpers::{TestInventory, soon};

    /// The trace ids of the server's "answered" lines, in order.
    fn served_trace_ids(captured: &Captured) -> Vec<String> {
        captured.trace_ids("answered", &["grpc"])
    }

    // The default current-thread runtime runs the server's tasks on this thread too, so the
    // subscriber set for this thread sees the client's and the server's spans.
    #[tokio::test]
    async fn the_server_span_joins_the_callers_trace() {
        let (captured, _capture) = capture_thread("info").expect("a valid filter");

        let inventory = TestInventory::start().await;
        let checkout = tracing::info_span!("checkout");
        let trace_id = propagation::trace_id(&checkout).expect("spans have trace ids");
        inventory
            .client
            .stock(&[], soon())
            .instrument(checkout)
            .await
            .expect("the probe answers");

        // A call from outside any span starts a trace of its own.
        let mut raw = inventory.raw().await;
        raw.get_stock(proto::GetStockRequest::default())
            .await
            .expect("the probe answers");

        let served = served_trace_ids(&captured);
        assert_eq!(served.len(), 2, "{:#?}", captured.lines());
        assert_eq!(served[0], trace_id, "the call joined the checkout's trace");
        assert_ne!(served[1], trace_id, "an unrelated call is another trace");
    }
}
