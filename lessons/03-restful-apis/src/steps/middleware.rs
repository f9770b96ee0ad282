//! Step 5: what the middleware adds to every exchange.

use std::time::Instant;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING};

use super::{Demo, StepError, expect};
use crate::layer::SERVER_TIMING;
use crate::server::X_REQUEST_ID;
use narrate::{duration, heading, say, show};

pub async fn middleware(demo: &Demo) -> Result<(), StepError> {
    heading(5, "Middleware: request id, timing, compression, timeout");
    say("Every response carries an `x-request-id` (made up by the server if the client sent");
    say("none) and our layer's `server-timing`, the time the inner service took:");
    let exchange = demo.client.get("/products?limit=1").send().await?;
    expect(&exchange, StatusCode::OK)?;
    exchange.print_head(&[X_REQUEST_ID, SERVER_TIMING]);

    say("A client that sends its own id gets it back, so both sides' logs share it:");
    let exchange = demo
        .client
        .get("/products?limit=1")
        .header(X_REQUEST_ID, "checkout-7f3a")
        .send()
        .await?;
    expect(&exchange, StatusCode::OK)?;
    show(format_args!(
        "sent x-request-id: checkout-7f3a, got back x-request-id: {}",
        exchange.header(X_REQUEST_ID).unwrap_or("(none)")
    ));

    say("Compression happens only when the client says it can decompress (accept-encoding).");
    let path = "/products?limit=100";
    let plain = demo.client.get(path).send().await?;
    expect(&plain, StatusCode::OK)?;
    let gzipped = demo
        .client
        .get(path)
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await?;
    expect(&gzipped, StatusCode::OK)?;
    gzipped.print(&[]);
    let saved = 100.0 * (1.0 - gzipped.body.len() as f64 / plain.body.len().max(1) as f64);
    show(format_args!(
        "without accept-encoding: {} bytes; with gzip: {} bytes on the wire ({saved:.0}% less, \
         content-encoding: {})",
        plain.body.len(),
        gzipped.body.len(),
        gzipped.header(CONTENT_ENCODING).unwrap_or("none"),
    ));
    say("(`1f 8b` is gzip's magic number; our reqwest has no gzip feature, so it shows the");
    say("bytes as they came instead of inflating them.)");

    say(format_args!(
        "The timeout layer answers 503 when a handler runs past {}; the handler's future is",
        duration(demo.config.request_timeout)
    ));
    say("dropped, which cancels it at its next .await.");
    let timeout_ms = demo.config.request_timeout.as_millis();
    for (delay_ms, expected) in [
        (timeout_ms.min(400) / 2, StatusCode::OK),
        (timeout_ms + 500, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let started = Instant::now();
        let exchange = demo
            .client
            .get(format!("/slow?delay_ms={delay_ms}"))
            .send()
            .await?;
        expect(&exchange, expected)?;
        exchange.print_brief();
        show(format_args!(
            "  (answered after {})",
            duration(started.elapsed())
        ));
    }
    say("503 rather than 408: 408 Request Timeout means the *client* was too slow sending its");
    say("request; here the server was too slow, and 503 tells the client to try again later.");
    Ok(())
}
