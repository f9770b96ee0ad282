//! Steps 2 to 4: the resource, its errors, and its query parameters.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shop_http::Problem;

use super::{Demo, StepError, draft, expect};
use crate::client::Exchange;
use crate::product::{Product, ProductDraft};
use crate::store::Page;
use narrate::{heading, say, show};

const JSON: &str = "application/json";

/// A request to `/products` the server must refuse: method, content type and body, status.
type Refusal = (Method, Option<(&'static str, String)>, StatusCode);

/// Sends a draft to `POST /products` and expects 201.
async fn create(demo: &Demo, draft: &ProductDraft) -> Result<(Exchange, Product), StepError> {
    let exchange = demo
        .client
        .request(Method::POST, "/products")
        .json(draft)
        .send()
        .await?;
    expect(&exchange, StatusCode::CREATED)?;
    let product = exchange.json()?;
    Ok((exchange, product))
}

pub async fn crud(demo: &Demo) -> Result<(), StepError> {
    heading(2, "Create, read, update, delete");
    say("POST to the collection creates a member: 201 Created, and `location` names it.");
    let (exchange, mug) = create(demo, &draft("mug-red-01", "Red mug", 1250, 12)).await?;
    exchange.print(&[]);
    let path = format!("/products/{}", mug.id);

    say("GET reads it back, by the URL the server gave us:");
    let exchange = demo.client.get(&path).send().await?;
    expect(&exchange, StatusCode::OK)?;
    exchange.print(&[]);

    say("PUT replaces the whole product: every field must be sent, and sending it twice is");
    say("the same as once (idempotent), so a client may safely retry it.");
    let exchange = demo
        .client
        .request(Method::PUT, &path)
        .json(&draft("MUG-RED-01", "Red mug, 350 ml", 1290, 12))
        .send()
        .await?;
    expect(&exchange, StatusCode::OK)?;
    exchange.print_brief();

    say("PATCH changes only the fields it carries (a JSON merge patch, RFC 7396):");
    let exchange = demo
        .client
        .request(Method::PATCH, &path)
        .header(CONTENT_TYPE, "application/merge-patch+json")
        .body(r#"{"stock": 0}"#)
        .send()
        .await?;
    expect(&exchange, StatusCode::OK)?;
    exchange.print(&[]);

    say("DELETE answers 204 No Content; afterwards the URL is a 404, and so is a second DELETE");
    say("(the state is the same as after the first: DELETE is idempotent, its answer is not).");
    for (method, expected) in [
        (Method::DELETE, StatusCode::NO_CONTENT),
        (Method::GET, StatusCode::NOT_FOUND),
        (Method::DELETE, StatusCode::NOT_FOUND),
    ] {
        let exchange = demo.client.request(method, &path).send().await?;
        expect(&exchange, expected)?;
        exchange.print_brief();
    }
    Ok(())
}

pub async fn errors(demo: &Demo) -> Result<(), StepError> {
    heading(3, "One error format: application/problem+json (RFC 9457)");
    let (_, cup) = create(demo, &draft("CUP-ESP-01", "Espresso cup", 690, 40)).await?;
    say("Every error is a problem document: type, title, status, detail, instance, plus");
    say("extension members. A duplicate SKU is a conflict with the current state: 409.");
    let exchange = demo
        .client
        .request(Method::POST, "/products")
        .json(&draft("cup-esp-01", "Another cup", 500, 1))
        .send()
        .await?;
    expect(&exchange, StatusCode::CONFLICT)?;
    exchange.print(&[]);
    show(format_args!(
        "(`existing` points at the product that owns the SKU: /products/{})",
        cup.id
    ));

    say("Well-formed JSON whose values break the rules: 422, with every bad field listed.");
    let exchange = demo
        .client
        .request(Method::POST, "/products")
        .json(&json!({
            "sku": "cup esp",
            "name": " ",
            "price": { "amount_minor": -5, "currency": "EUR" },
            "stock": 3
        }))
        .send()
        .await?;
    expect(&exchange, StatusCode::UNPROCESSABLE_ENTITY)?;
    exchange.print(&[]);

    say("The same document for every other way a request can be wrong:");
    let too_big = format!(r#"{{"name": "{}"}}"#, "x".repeat(demo.config.body_limit));
    let refusals: [Refusal; 5] = [
        (
            Method::POST,
            Some((JSON, r#"{"sku": "CUP-1", "stock": -1}"#.into())),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            Some((JSON, r#"{"sku": "CUP-1","#.into())),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            Some(("text/plain", "sku=CUP-1".into())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Method::POST,
            Some((JSON, too_big)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (Method::DELETE, None, StatusCode::METHOD_NOT_ALLOWED),
    ];
    for (method, body, expected) in refusals {
        attempt(demo, method, "/products", body, expected).await?;
    }
    let last = attempt(demo, Method::GET, "/produce", None, StatusCode::NOT_FOUND).await?;
    if let Some(problem) = last.problem() {
        say("In full, the last one; `instance` and `request_id` identify this occurrence:");
        print_problem(&problem);
    }
    say("413 and 405 come from tower-http's body limit and axum's router, not from our code;");
    say("the problem middleware rewrote their plain answers into the same format.");
    Ok(())
}

/// Sends a request that the server must refuse with `expected`, and prints it briefly.
async fn attempt(
    demo: &Demo,
    method: Method,
    path: &str,
    body: Option<(&'static str, String)>,
    expected: StatusCode,
) -> Result<Exchange, StepError> {
    let mut call = demo.client.request(method, path);
    if let Some((content_type, body)) = body {
        call = call.header(CONTENT_TYPE, content_type).body(body);
    }
    let exchange = call.send().await?;
    expect(&exchange, expected)?;
    exchange.print_brief();
    Ok(exchange)
}

fn print_problem(problem: &Problem) {
    let text = serde_json::to_string_pretty(problem).unwrap_or_default();
    for line in text.lines() {
        show(format_args!("  {line}"));
    }
}

pub async fn queries(demo: &Demo) -> Result<(), StepError> {
    heading(4, "Query extractors: keyset pagination and filters");
    let names = [
        ("MUG-BLUE-01", "Blue mug", 1250, 8),
        ("MUG-GREEN-01", "Green mug", 1250, 0),
        ("PLATE-WHT-01", "White plate", 1890, 25),
        ("PLATE-BLK-01", "Black plate", 1890, 3),
        ("BOWL-WHT-01", "White bowl", 1490, 11),
        ("MUG-TRAVEL-01", "Travel mug", 2490, 6),
        ("JUG-MILK-01", "Milk jug", 1590, 2),
    ];
    for (sku, name, cents, stock) in names {
        create(demo, &draft(sku, name, cents, stock)).await?;
    }
    say(format_args!(
        "Added {} more products without printing the exchanges.",
        names.len()
    ));
    say("`?limit=3` asks for a page; `next_after` is the id to continue after (keyset");
    say("pagination: no page shifts when products are added, and deep pages cost the same).");
    let mut path = "/products?limit=3".to_owned();
    for number in 1.. {
        let exchange = demo.client.get(&path).send().await?;
        expect(&exchange, StatusCode::OK)?;
        let page: Page = exchange.json()?;
        show(format_args!("GET {path}"));
        show(format_args!(
            "  page {number}: {}",
            product_names(&page.items)
        ));
        match page.next_after {
            Some(after) => path = format!("/products?limit=3&after={after}"),
            None => break,
        }
    }

    say("Filters are another extractor reading the same query string:");
    let path = "/products?q=MUG&in_stock=true";
    let exchange = demo.client.get(path).send().await?;
    expect(&exchange, StatusCode::OK)?;
    let page: Page = exchange.json()?;
    show(format_args!("GET {path}"));
    show(format_args!("  {}", product_names(&page.items)));

    say("The `Pagination` extractor checks its parameters and names each bad one:");
    let exchange = demo
        .client
        .get("/products?limit=500&after=yesterday")
        .send()
        .await?;
    expect(&exchange, StatusCode::BAD_REQUEST)?;
    exchange.print(&[]);
    Ok(())
}

fn product_names(products: &[Product]) -> String {
    let names: Vec<&str> = products.iter().map(|p| p.name.as_str()).collect();
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}
