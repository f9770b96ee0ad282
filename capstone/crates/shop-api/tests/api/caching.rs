//! Chapter 09's caches, over HTTP: two instances of the service share one database and one
//! Redis (under the test's own key prefix), as two replicas behind a load balancer would.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use shop_api::Config;
use shop_domain::Role;
use testkit::RedisNamespace;

use crate::helpers::{PASSWORD, TestApp};
use crate::parts;

/// Redis under the test's prefix, and memory entries that would outlive the test: whatever
/// changes within it, changed through an invalidation, never through a TTL.
pub(crate) fn with_redis(redis: &RedisNamespace) -> impl Fn(&mut Config) + Clone {
    let prefix = redis.prefix().to_owned();
    move |config: &mut Config| {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        config.cache.redis_url = Some(url.into());
        config.cache.key_prefix = prefix.clone();
        config.cache.product_memory_ttl = Duration::from_secs(3_600);
        config.cache.session_check_ttl = Duration::from_secs(60);
    }
}

/// Asks until `check` holds, for at most five seconds (an invalidation crosses Redis in
/// milliseconds; the bound only keeps a broken build from hanging).
async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not after 5 s");
}

async fn name_of(app: &TestApp, id: &str) -> Value {
    let (status, _, body) = parts(app.product(id).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["name"].clone()
}

#[tokio::test]
async fn needs_redis_needs_postgres_an_admin_write_on_one_instance_reaches_the_other_s_cache() {
    let redis = testkit::redis().await;
    let a = TestApp::spawn_with(with_redis(&redis)).await;
    let b = a.another_instance(with_redis(&redis)).await;
    let id = a.fixtures().headphones.to_string();
    let (_, admin) = a.token_for(Role::Admin).await;

    // B reads the product and keeps it in memory (for an hour, by these settings).
    assert_eq!(name_of(&b, &id).await, "Headphones");
    assert_eq!(name_of(&b, &id).await, "Headphones");

    // A changes it: B must not go on answering the old name.
    let changed = a
        .patch_product(&id, Some(&admin), &json!({"name": "Studio headphones"}))
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    eventually("B sees the new name", async || {
        name_of(&b, &id).await == "Studio headphones"
    })
    .await;

    // Archiving on A: B answers 404 (and remembers it) without waiting for a TTL.
    let archived = a.archive_product(&id, Some(&admin)).await;
    assert_eq!(archived.status(), StatusCode::NO_CONTENT);
    eventually("B sees it archived", async || {
        b.product(&id).await.status() == StatusCode::NOT_FOUND
    })
    .await;
}

#[tokio::test]
async fn needs_redis_needs_postgres_an_import_on_one_instance_reaches_the_other_s_cache() {
    let redis = testkit::redis().await;
    let a = TestApp::spawn_with(with_redis(&redis)).await;
    let b = a.another_instance(with_redis(&redis)).await;
    let (_, admin) = a.token_for(Role::Admin).await;
    let id = a.fixtures().headphones.to_string();
    // B holds the product in memory before the import changes it.
    assert_eq!(name_of(&b, &id).await, "Headphones");

    // The import updates HP-100 by its SKU; its report names the product, so A can tell
    // every instance to forget it.
    let imported = a
        .import_products(
            Some(&admin),
            &json!({"products": [{
                "sku": "HP-100", "name": "Headphones II", "description": "Newer.",
                "category": "audio", "price": {"amount_minor": 5999, "currency": "EUR"}
            }]}),
        )
        .await;
    let (status, _, report) = parts(imported).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["updated"], 1, "{report}");
    eventually("B sees the imported name", async || {
        name_of(&b, &id).await == "Headphones II"
    })
    .await;
}

#[tokio::test]
async fn needs_postgres_without_redis_an_instance_still_forgets_what_it_changed() {
    let app = TestApp::spawn().await;
    let id = app.fixtures().hose.to_string();
    let (_, admin) = app.token_for(Role::Admin).await;
    assert_eq!(name_of(&app, &id).await, "Garden hose");
    let changed = app
        .patch_product(&id, Some(&admin), &json!({"name": "Hose, 25 m"}))
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(name_of(&app, &id).await, "Hose, 25 m");
}

#[tokio::test]
async fn needs_redis_needs_postgres_a_logout_on_one_instance_ends_the_session_on_the_other() {
    let redis = testkit::redis().await;
    let a = TestApp::spawn_with(with_redis(&redis)).await;
    let b = a.another_instance(with_redis(&redis)).await;
    let ada = a.signed_up("ada@example.com").await;
    // B checks the session once and remembers the answer for a minute.
    assert_eq!(b.me(&ada.access).await.status(), StatusCode::OK);
    assert_eq!(b.me(&ada.access).await.status(), StatusCode::OK);

    assert_eq!(
        a.logout(&ada.refresh).await.status(),
        StatusCode::NO_CONTENT
    );
    eventually("B refuses the ended session", async || {
        b.me(&ada.access).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
}

#[tokio::test]
async fn needs_redis_needs_postgres_a_demotion_reaches_every_instance() {
    let redis = testkit::redis().await;
    let a = TestApp::spawn_with(with_redis(&redis)).await;
    let b = a.another_instance(with_redis(&redis)).await;
    let (editor, editor_token) = a.token_for(Role::Admin).await;
    let (_, admin) = a.token_for(Role::Admin).await;
    let stock = format!("/admin/products/{}/stock", a.fixtures().hose);
    // Any admin route will do: what matters is 403 once the role is gone. The inventory is
    // not running, so an admin's request gets past the permission check and fails later.
    assert_ne!(
        b.get_as(&stock, &editor_token).await.status(),
        StatusCode::FORBIDDEN
    );

    let demoted = a
        .send(
            a.request(
                reqwest::Method::PATCH,
                &format!("/admin/users/{editor}/role"),
                Some(&admin),
            )
            .json(&json!({"role": "customer"})),
        )
        .await;
    assert_eq!(demoted.status(), StatusCode::OK);
    eventually("B knows the new role", async || {
        b.get_as(&stock, &editor_token).await.status() == StatusCode::FORBIDDEN
    })
    .await;
}

#[tokio::test]
async fn needs_postgres_a_logout_ends_a_session_whose_check_is_remembered() {
    let app = TestApp::spawn_with(|config| {
        config.cache.session_check_ttl = Duration::from_secs(60);
    })
    .await;
    let ada = app.signed_up("ada@example.com").await;
    assert_eq!(app.me(&ada.access).await.status(), StatusCode::OK);
    assert_eq!(
        app.logout(&ada.refresh).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.me(&ada.access).await.status(), StatusCode::UNAUTHORIZED);
    // And a password change ends the other sessions as promptly.
    let bob = app.signed_up("bob@example.com").await;
    let (_, _, other) = parts(app.login("bob@example.com", PASSWORD).await).await;
    let other_access = other["access_token"].as_str().unwrap();
    assert_eq!(app.me(other_access).await.status(), StatusCode::OK);
    let changed = app
        .change_password(&bob.access, PASSWORD, "a much longer new passphrase 42")
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.me(other_access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.me(&bob.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn needs_redis_needs_postgres_trending_ranks_the_most_viewed_products() {
    let redis = testkit::redis().await;
    let app = TestApp::spawn_with(with_redis(&redis)).await;
    let fixtures = app.fixtures();
    let (speaker, hose) = (fixtures.speaker.to_string(), fixtures.hose.to_string());
    for _ in 0..3 {
        assert_eq!(app.product(&speaker).await.status(), StatusCode::OK);
    }
    assert_eq!(app.product(&hose).await.status(), StatusCode::OK);
    // Views are counted in a task of their own: wait until all four are.
    eventually("four views counted", async || {
        let (_, _, body) = parts(app.get("/products/trending").await).await;
        let scores: Vec<f64> = body["products"]
            .as_array()
            .map(|p| p.iter().filter_map(|p| p["score"].as_f64()).collect())
            .unwrap_or_default();
        scores == [3.0, 1.0]
    })
    .await;
    let (status, _, body) = parts(app.get("/products/trending?limit=1").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["products"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["products"][0]["product"]["id"], speaker.as_str());
    assert_eq!(body["products"][0]["product"]["name"], "Speaker");
    let (status, _, _) = parts(app.get("/products/trending?limit=0").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn needs_postgres_trending_without_redis_is_empty_not_an_error() {
    let app = TestApp::spawn().await;
    let (status, _, body) = parts(app.get("/products/trending").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"products": []}));
}
