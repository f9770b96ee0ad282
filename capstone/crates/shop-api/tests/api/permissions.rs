//! Authorization over HTTP (chapter 04): every role against every protected route family.
//!
//! The expected answers are the table in `book/src/capstone-steps/04-accounts.md`, written out
//! once more by hand: the test fails if `auth::permissions` grants a role more, or less, than
//! the book says.

mod needs_postgres {
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};
    use shop_domain::Role;

    use crate::helpers::TestApp;

    /// One request of a route family, with a body that an allowed caller's request succeeds with.
    struct Call {
        method: Method,
        path: String,
        body: Option<Value>,
    }

    fn call(method: Method, path: impl Into<String>, body: Option<Value>) -> Call {
        Call {
            method,
            path: path.into(),
            body,
        }
    }

    fn new_product(sku: &str) -> Value {
        json!({
            "sku": sku, "name": "Headphones", "category": "audio",
            "price": { "amount_minor": 4999, "currency": "EUR" },
        })
    }

    // ANCHOR: permission_matrix
    #[tokio::test]
    async fn each_role_reaches_exactly_the_route_families_its_permissions_allow() {
        let app = TestApp::spawn().await;
        let user = app.signed_up("someone@example.com").await.id;
        let product = app.fixtures().speaker;
        let order = shop_domain::OrderId::generate();
        sqlx::query(
            "INSERT INTO orders (id, user_id, status, currency) VALUES ($1, $2::uuid, 'paid', 'EUR')",
        )
        .bind(order.as_uuid())
        .bind(&user)
            .execute(app.pool())
            .await
            .expect("an order to move");
        let families = [
            (
                "catalog:write",
                vec![
                    call(Method::POST, "/admin/products", Some(new_product("NEW-1"))),
                    call(
                        Method::PATCH,
                        format!("/admin/products/{product}"),
                        Some(json!({ "name": "Speaker, renamed" })),
                    ),
                    call(
                        Method::POST,
                        "/admin/products/import",
                        Some(json!({ "products": [new_product("NEW-2")] })),
                    ),
                    call(Method::DELETE, format!("/admin/products/{product}"), None),
                ],
            ),
            ("users:list", vec![call(Method::GET, "/admin/users", None)]),
            (
                "users:read",
                vec![call(Method::GET, format!("/admin/users/{user}"), None)],
            ),
            (
                "roles:assign",
                vec![call(
                    Method::PATCH,
                    format!("/admin/users/{user}/role"),
                    Some(json!({ "role": "customer" })),
                )],
            ),
            (
                "orders:list",
                vec![
                    call(Method::GET, "/admin/orders", None),
                    call(Method::GET, format!("/admin/orders/{order}"), None),
                ],
            ),
            (
                "orders:manage",
                vec![call(
                    Method::POST,
                    format!("/admin/orders/{order}/transitions"),
                    Some(json!({ "action": "fulfil" })),
                )],
            ),
        ];
        // Who may: the book's table. Everyone else signed in gets 403, nobody signed in 401.
        let allowed = |role: Role, family: &str| match role {
            Role::Customer => false,
            Role::Support => ["users:read", "orders:list"].contains(&family),
            Role::Admin => true,
        };

        // Admins last: their requests are the ones that change something.
        for role in [
            None,
            Some(Role::Customer),
            Some(Role::Support),
            Some(Role::Admin),
        ] {
            let token = match role {
                Some(role) => Some(app.token_for(role).await.1),
                None => None,
            };
            for (family, calls) in &families {
                for Call { method, path, body } in calls {
                    let mut request = app.request(method.clone(), path, token.as_deref());
                    if let Some(body) = body {
                        request = request.json(body);
                    }
                    let status = app.send(request).await.status();
                    let expected = match role {
                        None => "401",
                        Some(role) if allowed(role, family) => "2xx",
                        Some(_) => "403",
                    };
                    let got = if status.is_success() {
                        "2xx"
                    } else {
                        status.as_str()
                    };
                    assert_eq!(
                        got, expected,
                        "{role:?} {method} {path} ({family}): {status}"
                    );
                }
            }
        }
    }
    // ANCHOR_END: permission_matrix

    #[tokio::test]
    async fn a_403_names_the_missing_permission_and_not_a_role() {
        let app = TestApp::spawn().await;
        let (_, support) = app.token_for(Role::Support).await;

        let response = app.get_as("/admin/users", &support).await;

        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"], "This needs the `users:list` permission.");
    }
}
