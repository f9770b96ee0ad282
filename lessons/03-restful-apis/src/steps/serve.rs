//! `--serve`: the server without the demo, for curl and a browser.

use std::net::SocketAddr;

use shop_domain::ProductId;
use tokio_util::sync::CancellationToken;

use super::{StepError, draft};
use crate::api::AppState;
use crate::server::{self, Served, ServerConfig};

/// Serves the API on `addr` with a few products until `shutdown` is cancelled (Ctrl-C).
pub async fn serve(
    addr: SocketAddr,
    config: ServerConfig,
    shutdown: CancellationToken,
) -> Result<(), StepError> {
    let state = AppState::default();
    let seeded = seed(&state);
    let Served { server, requests } = server::start(addr, config, state, shutdown.clone()).await?;
    let base = server.base_url();
    println!("Lesson 03 · the product API is listening on {base}. Try:");
    println!();
    println!("  curl -i {base}/products");
    if let Some(id) = seeded.first() {
        println!("  curl -i {base}/products/{id}");
        println!(
            "  curl -i -X PATCH {base}/products/{id} -H 'content-type: application/merge-patch+json' -d '{{\"stock\": 0}}'"
        );
    }
    println!(
        "  curl -i {base}/products -H 'content-type: application/json' \\\n       -d '{{\"sku\": \"MUG-NEW-01\", \"name\": \"New mug\", \"price\": {{\"amount_minor\": 990, \"currency\": \"EUR\"}}, \"stock\": 5}}'"
    );
    println!(
        "  curl -i {base}/products -H 'content-type: application/json' -d '{{\"sku\": \"x\"}}'"
    );
    println!("  curl -i --http2-prior-knowledge '{base}/products?limit=1'");
    println!(
        "  curl -sS -o /dev/null -w '%{{size_download}} bytes\\n' -H 'accept-encoding: gzip' {base}/products"
    );
    println!("  curl -i '{base}/slow?delay_ms=5000'");
    println!();
    println!(
        "Request logs go to stderr (RUST_LOG=debug for more). Ctrl-C stops the server gracefully."
    );

    shutdown.cancelled().await;
    let in_flight = requests.in_flight();
    println!("Shutting down: waiting for {in_flight} request(s) in flight...");
    server.stopped().await?;
    println!("Stopped.");
    Ok(())
}

/// Adds three products to the store and returns their ids.
fn seed(state: &AppState) -> Vec<ProductId> {
    let drafts = [
        ("MUG-RED-01", "Red mug", 1250, 12),
        ("CUP-ESP-01", "Espresso cup", 690, 40),
        ("PLATE-WHT-01", "White plate", 1890, 25),
    ];
    drafts
        .into_iter()
        .map(|(sku, name, cents, stock)| {
            // Fixed data written for this file: a failure is a bug here, not a user's mistake.
            let new = draft(sku, name, cents, stock)
                .validate()
                .expect("the seed products follow the catalogue's rules");
            let product = state.products.insert(new);
            product.expect("the seed SKUs are distinct").id
        })
        .collect()
}
