//! Steps 3 to 6: the catalog API on a loopback port, driven by a real HTTP client.

use narrate::{Table, heading, say, show, truncate};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use super::{StepError, show_sql};
use crate::api::{self, RunningApi};
use crate::cursor::{self, Cursor};
use crate::listing::{ListParams, ListQuery};

/// The running API and a client for it.
#[derive(Debug)]
pub struct Demo {
    pub api: RunningApi,
    pub client: reqwest::Client,
    pub pool: PgPool,
}

/// Starts the API on port 0 (step 3 begins with it).
pub async fn start_api(pool: PgPool) -> Result<Demo, StepError> {
    let api = api::start(pool.clone()).await?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    Ok(Demo { api, client, pool })
}

impl Demo {
    /// Sends one request, prints it and the status, and checks the status.
    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Result<Value, StepError> {
        self.exchange(method, path_and_query, body, expected, true)
            .await
    }

    /// [`Demo::send`] without printing, for requests a table summarises.
    async fn send_quietly(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Result<Value, StepError> {
        self.exchange(method, path_and_query, body, expected, false)
            .await
    }

    async fn exchange(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
        expected: StatusCode,
        print: bool,
    ) -> Result<Value, StepError> {
        let url = format!("{}{path_and_query}", self.api.base_url());
        let mut request = self.client.request(method.clone(), &url);
        let shown_body = body.as_ref().map(Value::to_string);
        if let Some(body) = body {
            let content_type = if method == Method::PATCH {
                "application/merge-patch+json"
            } else {
                "application/json"
            };
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.to_string());
        }
        let response = request.send().await?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await?;
        if !print {
            return if status == expected {
                Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
            } else {
                Err(StepError::Unexpected {
                    request: format!("{method} {path_and_query}"),
                    expected,
                    got: status,
                })
            };
        }
        show(format_args!(
            "→ {method} {}",
            truncate(&decode_query(path_and_query), 110)
        ));
        if let Some(body) = shown_body {
            show(format_args!("  {}", truncate(&body, 110)));
        }
        match location {
            Some(location) => show(format_args!("← {status}, location: {location}")),
            None => show(format_args!("← {status}")),
        }
        if status != expected {
            return Err(StepError::Unexpected {
                request: format!("{method} {path_and_query}"),
                expected,
                got: status,
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Percent-decoding for display only, so the printed request reads as it was meant.
fn decode_query(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query string with every value percent-encoded, the way a browser would send it.
fn query(pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let mut value = String::new();
            for byte in v.bytes() {
                if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                    value.push(char::from(byte));
                } else {
                    value.push_str(&format!("%{byte:02X}"));
                }
            }
            format!("{k}={value}")
        })
        .collect();
    format!("/products?{}", encoded.join("&"))
}

/// Items of a page as a small table.
fn print_items(page: &Value) {
    let mut table = Table::new(["name", "category", "price €>"]);
    for item in page["items"].as_array().into_iter().flatten() {
        let cents = item["price"]["amount_minor"].as_i64().unwrap_or_default();
        table.row([
            truncate(item["name"].as_str().unwrap_or_default(), 40),
            item["category"].as_str().unwrap_or_default().to_owned(),
            format!("{}.{:02}", cents / 100, cents % 100),
        ]);
    }
    print!("{table}");
}

fn next_cursor(page: &Value) -> Result<String, StepError> {
    page["next"]
        .as_str()
        .map(str::to_owned)
        .ok_or(StepError::Expected(
            "a next cursor on a page that is not the last",
        ))
}

// ANCHOR: step_cursors
pub async fn cursors(demo: &Demo) -> Result<(), StepError> {
    heading(3, "Opaque cursors");
    say(format_args!(
        "The catalog API now runs at {} (port 0: the OS chose a free one).",
        demo.api.base_url()
    ));
    let first = demo
        .send(
            Method::GET,
            "/products?sort=price&limit=3",
            None,
            StatusCode::OK,
        )
        .await?;
    print_items(&first);
    let next = next_cursor(&first)?;
    show(format_args!("next: {next}"));
    say("The cursor is base64url of a small JSON document: the last row's sort key and its id,");
    say("the sort it belongs to, and a version number so the format can change later:");
    show(cursor::peek(&next).unwrap_or_default());
    say("\"Opaque\" is a promise about the API, not secrecy: clients pass it back untouched and");
    say("never build one, so the server may change what is inside. The next page:");
    let second = demo
        .send(
            Method::GET,
            &query(&[("sort", "price"), ("limit", "3"), ("after", &next)]),
            None,
            StatusCode::OK,
        )
        .await?;
    print_items(&second);

    say("A cursor damaged in transit (one character changed) does not decode: 400, not a 500.");
    let mut damaged = next.clone().into_bytes();
    damaged[5] = if damaged[5] == b'A' { b'*' } else { b'A' };
    let damaged = String::from_utf8_lossy(&damaged).into_owned();
    let problem = demo
        .send(
            Method::GET,
            &query(&[("sort", "price"), ("after", &damaged)]),
            None,
            StatusCode::BAD_REQUEST,
        )
        .await?;
    show_errors(&problem);
    say("A cursor from a price listing sent with sort=name: its key is a price, not a name.");
    let problem = demo
        .send(
            Method::GET,
            &query(&[("sort", "name"), ("after", &next)]),
            None,
            StatusCode::BAD_REQUEST,
        )
        .await?;
    show_errors(&problem);
    say(
        "A cursor re-encoded with another price is accepted: it is a position in a list the client",
    );
    say("may read anyway, not a permission, so there is nothing to sign. (A cursor that carried");
    say("a tenant, a snapshot or filters the server chose would need an HMAC.)");
    let edited = Cursor::after_price(50_000, uuid::Uuid::nil()).encode();
    let page = demo
        .send(
            Method::GET,
            &query(&[("sort", "price"), ("limit", "2"), ("after", &edited)]),
            None,
            StatusCode::OK,
        )
        .await?;
    print_items(&page);
    Ok(())
}
// ANCHOR_END: step_cursors

fn show_errors(problem: &Value) {
    if let Some(detail) = problem["detail"].as_str() {
        show(format_args!("  detail: {detail}"));
    }
    for error in problem["errors"].as_array().into_iter().flatten() {
        let at = error["pointer"]
            .as_str()
            .or(error["parameter"].as_str())
            .unwrap_or("?");
        show(format_args!(
            "  {at}: {}",
            error["detail"].as_str().unwrap_or_default()
        ));
    }
}

// ANCHOR: step_filters
pub async fn filters(demo: &Demo) -> Result<(), StepError> {
    heading(
        4,
        "Allow-listed sorting, typed filters, bind parameters only",
    );
    let (category, word): (String, String) = sqlx::query_as(
        "SELECT c.slug, split_part(min(p.name), ' ', 3)
         FROM products p JOIN categories c ON c.id = p.category_id
         GROUP BY c.slug ORDER BY count(*) DESC, c.slug LIMIT 1",
    )
    .fetch_one(&demo.pool)
    .await?;
    let pairs = [
        ("category", category.as_str()),
        ("min_price", "1000"),
        ("max_price", "50000"),
        ("q", word.as_str()),
        ("sort", "-price"),
        ("limit", "4"),
    ];
    say("The query string is parsed into types first (the sort from an allow-list, prices as");
    say("integers, the search text trimmed), then turned into SQL. The SQL for this request:");
    print_sql(&pairs);
    say("(LIMIT binds one more than the page: the extra row, if any, proves a next page exists.)");
    let page = demo
        .send(Method::GET, &query(&pairs), None, StatusCode::OK)
        .await?;
    print_items(&page);

    let payload = "x%' OR 1=1; DROP TABLE products; --";
    say("An injection attempt in the search text. The SQL text is the same as for any search;");
    say("the payload travels as a bind value, which PostgreSQL never parses as SQL:");
    let pairs = [("q", payload), ("limit", "4")];
    print_sql(&pairs);
    let page = demo
        .send(Method::GET, &query(&pairs), None, StatusCode::OK)
        .await?;
    let (products,): (i64,) = sqlx::query_as("SELECT count(*) FROM products")
        .fetch_one(&demo.pool)
        .await?;
    show(format_args!(
        "{} matches (no name contains that text); the products table still has {} rows",
        page["items"].as_array().map_or(0, Vec::len),
        narrate::thousands(products)
    ));
    say("The % in the payload was escaped too: a bind stops ' from ending the string, but LIKE");
    say("would still read % and _ as wildcards. That escaping is sanitisation for meaning.");

    say("Identifiers cannot be binds, so the sort is an enum: anything else is refused, and every");
    say("bad parameter is reported at once:");
    let problem = demo
        .send(
            Method::GET,
            &query(&[
                ("sort", "price; DROP TABLE products"),
                ("limit", "1000"),
                ("min_price", "-5"),
            ]),
            None,
            StatusCode::BAD_REQUEST,
        )
        .await?;
    show_errors(&problem);
    Ok(())
}
// ANCHOR_END: step_filters

/// The SQL and binds the API builds for these parameters (the handler runs the same code).
fn print_sql(pairs: &[(&str, &str)]) {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    let params = ListParams {
        sort: get("sort"),
        after: get("after"),
        limit: get("limit"),
        category: get("category"),
        min_price: get("min_price"),
        max_price: get("max_price"),
        q: get("q"),
    };
    let Ok(query) = ListQuery::try_from(params) else {
        show("(the parameters do not parse)");
        return;
    };
    let sql = query.to_sql();
    show_sql(&sql.text());
    let binds: Vec<String> = sql
        .binds()
        .iter()
        .enumerate()
        .map(|(i, bind)| format!("${} = {bind}", i + 1))
        .collect();
    show(format_args!("binds: {}", binds.join(", ")));
}

// ANCHOR: step_validation
pub async fn validation(demo: &Demo) -> Result<(), StepError> {
    heading(5, "Validation at the boundary");
    say("A create request with five mistakes gets one 422 problem listing all five, each with a");
    say("JSON Pointer to its field. Nothing reached the database:");
    let problem = demo
        .send(
            Method::POST,
            "/products",
            Some(json!({
                "sku": "desk oak",
                "name": "   ",
                "category": "Home Office",
                "price_minor": 0,
                "currency": "USD",
            })),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await?;
    show_errors(&problem);
    say("A valid one, typed carelessly. Parsing sanitises (trims, collapses spaces, upper-cases");
    say("the SKU) and then validates; the DTO becomes domain types via TryFrom, and the row");
    say("comes back from INSERT ... RETURNING through From<Product> for ProductView:");
    let category: String = sqlx::query_scalar(
        "SELECT slug FROM categories WHERE parent_id IS NOT NULL ORDER BY slug LIMIT 1",
    )
    .fetch_one(&demo.pool)
    .await?;
    let body = json!({
        "sku": "  desk-oak-140 ",
        "name": "  Oak   desk\t140 cm ",
        "description": "Solid oak.",
        "category": category,
        "price_minor": 34_900,
        "currency": "EUR",
    });
    let created = demo
        .send(
            Method::POST,
            "/products",
            Some(body.clone()),
            StatusCode::CREATED,
        )
        .await?;
    show(format_args!(
        "  stored: sku {}, name {:?}",
        created["sku"],
        created["name"].as_str().unwrap_or_default()
    ));
    say("The same SKU again is a conflict with the stored data, not a validation error:");
    demo.send(Method::POST, "/products", Some(body), StatusCode::CONFLICT)
        .await?;
    Ok(())
}
// ANCHOR_END: step_validation

// ANCHOR: step_patch
pub async fn patch(demo: &Demo) -> Result<(), StepError> {
    heading(6, "PATCH: absent, null, or a value");
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM products WHERE sku = 'DESK-OAK-140'")
        .fetch_one(&demo.pool)
        .await?;
    let path = format!("/products/{id}");
    say("A merge patch (RFC 7396) says three things per field: absent keeps it, null removes it,");
    say(
        "a value replaces it. Option<T> has two states, so the body uses Patch<T>, which has three:",
    );
    say(format_args!(
        "Five requests to PATCH {path}, each read back with GET:"
    ));
    let mut table = Table::new(["patch", "status>", "name", "description", "price €>"]);
    let mut refused = Value::Null;
    for (body, expected) in [
        (json!({}), StatusCode::OK),
        (json!({ "description": null }), StatusCode::OK),
        (
            json!({ "description": "Oiled oak, 140 × 70 cm." }),
            StatusCode::OK,
        ),
        (
            json!({ "price_minor": 32_900, "name": "Oak desk 140" }),
            StatusCode::OK,
        ),
        (json!({ "name": null }), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let shown = body.to_string();
        let answer = demo
            .send_quietly(Method::PATCH, &path, Some(body), expected)
            .await?;
        let row = demo
            .send_quietly(Method::GET, &path, None, StatusCode::OK)
            .await?;
        let cents = row["price"]["amount_minor"].as_i64().unwrap_or_default();
        table.row([
            shown,
            expected.as_u16().to_string(),
            row["name"].as_str().unwrap_or_default().to_owned(),
            format!("{:?}", row["description"].as_str().unwrap_or_default()),
            format!("{}.{:02}", cents / 100, cents % 100),
        ]);
        if expected != StatusCode::OK {
            refused = answer;
        }
    }
    print!("{table}");
    show_errors(&refused);
    say(
        "{} wrote nothing; null cleared the description (the column's default, ''); a name cannot be",
    );
    say("removed, so null for it is a 422 rather than a silent no-op. Each write was one");
    say("UPDATE ... SET <only the fields present> ... RETURNING, built with bind parameters.");
    Ok(())
}
// ANCHOR_END: step_patch
