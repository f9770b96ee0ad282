//! The API called in-process with `tower::ServiceExt::oneshot`: sessions, roles, ownership and
//! API keys, as a client sees them.
//!
//! `cargo test -p lesson-04 --test api`

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use lesson_04::accounts::TokenPair;
use lesson_04::api::{self, AppState, CreatedApiKey};
use lesson_04::config::AuthConfig;
use lesson_04::password::{HashParams, Password};
use lesson_04::rbac::Role;
use lesson_04::store::{Note, PublicUser};
use serde_json::{Value, json};
use shop_http::PROBLEM_JSON;
use tower::ServiceExt;

/// argon2's cheapest parameters: these tests are about the flows, not the cost.
const CHEAP: HashParams = HashParams {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

// ANCHOR: test_app
/// The application and one helper per kind of request.
struct TestApp {
    state: AppState,
    router: Router,
}

impl TestApp {
    fn new() -> Self {
        let config = AuthConfig {
            hash_params: CHEAP,
            ..AuthConfig::for_tests()
        };
        let state = AppState::new(&config).expect("the test configuration is valid");
        Self {
            router: api::router(state.clone()),
            state,
        }
    }
    // ANCHOR_END: test_app

    async fn send(
        &self,
        method: Method,
        uri: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(json) => request
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(json.to_string())),
            None => request.body(Body::empty()),
        }
        .expect("the test builds a valid request");
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a Router never fails: its errors are responses");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn register(&self, email: &str, password: &str) -> Reply {
        let body = json!({ "email": email, "password": password });
        self.send(Method::POST, "/auth/register", None, Some(body))
            .await
    }

    async fn login(&self, email: &str, password: &str) -> Reply {
        let body = json!({ "email": email, "password": password });
        self.send(Method::POST, "/auth/login", None, Some(body))
            .await
    }

    /// Registers (or creates with a role) and logs in; returns the token pair.
    async fn user(&self, email: &str, role: Role) -> TokenPair {
        let password = "a long enough passphrase";
        self.state
            .accounts
            .add_user(email, Password::new(password), role)
            .await
            .expect("the account is new");
        let reply = self.login(email, password).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        serde_json::from_value(reply.body).expect("the body is a token pair")
    }

    async fn refresh(&self, refresh_token: &str) -> Reply {
        let body = json!({ "refresh_token": refresh_token });
        self.send(Method::POST, "/auth/refresh", None, Some(body))
            .await
    }

    async fn get(&self, uri: &str, bearer: &str) -> Reply {
        self.send(Method::GET, uri, Some(bearer), None).await
    }
}

fn assert_problem(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.headers[CONTENT_TYPE], PROBLEM_JSON);
    assert_eq!(reply.body["status"], status.as_u16());
    if status == StatusCode::UNAUTHORIZED {
        assert!(
            reply.headers.contains_key(WWW_AUTHENTICATE),
            "401 needs a challenge"
        );
    }
}

#[tokio::test]
async fn register_login_and_read_me() {
    let app = TestApp::new();
    let reply = app
        .register(" Alice@Shop.TEST", "alice's long passphrase")
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert!(
        reply.body.get("password_hash").is_none(),
        "never show a hash"
    );
    let reply = app
        .login("alice@shop.test", "alice's long passphrase")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let pair: TokenPair = serde_json::from_value(reply.body).unwrap();
    assert_eq!(pair.token_type, "Bearer");
    let me = app.get("/me", &pair.access_token).await;
    let me: PublicUser = serde_json::from_value(me.body).unwrap();
    assert_eq!(
        (me.email.as_str(), me.role),
        ("alice@shop.test", Role::Customer)
    );
}

#[tokio::test]
async fn registration_rules_and_duplicates() {
    let app = TestApp::new();
    assert_problem(
        &app.register("alice@shop.test", "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_problem(
        &app.register("not-an-email", "long enough password").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(
        app.register("a@shop.test", "long enough password")
            .await
            .status,
        StatusCode::CREATED
    );
    assert_problem(
        &app.register("A@shop.test", "another long password").await,
        StatusCode::CONFLICT,
    );
    let broken = app
        .send(
            Method::POST,
            "/auth/register",
            None,
            Some(json!({ "email": "x@y.test" })),
        )
        .await;
    assert_problem(&broken, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = TestApp::new();
    app.register("alice@shop.test", "alice's long passphrase")
        .await;
    let wrong = app.login("alice@shop.test", "not alice's passphrase").await;
    let unknown = app
        .login("nobody@shop.test", "not alice's passphrase")
        .await;
    assert_problem(&wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body, "nothing tells the two apart");
}

#[tokio::test]
async fn missing_or_malformed_credentials_are_401_with_a_challenge() {
    let app = TestApp::new();
    assert_problem(
        &app.send(Method::GET, "/me", None, None).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(&app.get("/me", "not-a-jwt").await, StatusCode::UNAUTHORIZED);
}

// ANCHOR: reuse_test
#[tokio::test]
async fn a_replayed_refresh_token_revokes_the_whole_session() {
    let app = TestApp::new();
    let first = app.user("alice@shop.test", Role::Customer).await;
    let reply = app.refresh(&first.refresh_token).await;
    assert_eq!(reply.status, StatusCode::OK);
    let second: TokenPair = serde_json::from_value(reply.body).unwrap();
    assert_ne!(second.refresh_token, first.refresh_token, "rotated");
    assert_eq!(
        app.get("/me", &second.access_token).await.status,
        StatusCode::OK
    );

    // The attacker replays the first token: refused, and the family is revoked...
    assert_problem(
        &app.refresh(&first.refresh_token).await,
        StatusCode::UNAUTHORIZED,
    );
    // ...so the legitimate user's newer tokens stop working too.
    assert_problem(
        &app.refresh(&second.refresh_token).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(
        &app.get("/me", &second.access_token).await,
        StatusCode::UNAUTHORIZED,
    );

    // A new login starts a new, healthy family.
    let again = app
        .login("alice@shop.test", "a long enough passphrase")
        .await;
    assert_eq!(again.status, StatusCode::OK);
}
// ANCHOR_END: reuse_test

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let app = TestApp::new();
    let pair = app.user("alice@shop.test", Role::Customer).await;
    let other_device = app
        .login("alice@shop.test", "a long enough passphrase")
        .await;
    let other_device: TokenPair = serde_json::from_value(other_device.body).unwrap();
    let reply = app
        .send(Method::POST, "/auth/logout", Some(&pair.access_token), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_problem(
        &app.get("/me", &pair.access_token).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(
        &app.refresh(&pair.refresh_token).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_eq!(
        app.get("/me", &other_device.access_token).await.status,
        StatusCode::OK,
        "one session only"
    );
}

#[tokio::test]
async fn the_admin_route_needs_the_permission() {
    let app = TestApp::new();
    let customer = app.user("c@shop.test", Role::Customer).await;
    let support = app.user("s@shop.test", Role::Support).await;
    let admin = app.user("a@shop.test", Role::Admin).await;
    assert_problem(
        &app.get("/admin/users", &customer.access_token).await,
        StatusCode::FORBIDDEN,
    );
    assert_eq!(
        app.get("/admin/users", &support.access_token).await.status,
        StatusCode::OK
    );
    let users = app.get("/admin/users", &admin.access_token).await;
    assert_eq!(users.body.as_array().unwrap().len(), 3);
    assert!(
        !users.body.to_string().contains("argon2"),
        "no hashes in the list"
    );
}

// ANCHOR: idor_test
#[tokio::test]
async fn other_peoples_notes_are_invisible_unless_a_role_allows() {
    let app = TestApp::new();
    let alice = app
        .user("alice@shop.test", Role::Customer)
        .await
        .access_token;
    let bob = app.user("bob@shop.test", Role::Customer).await.access_token;
    let support = app.user("sam@shop.test", Role::Support).await.access_token;
    let admin = app.user("root@shop.test", Role::Admin).await.access_token;
    let body = json!({ "text": "private" });
    let created = app
        .send(Method::POST, "/notes", Some(&alice), Some(body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let note: Note = serde_json::from_value(created.body).unwrap();
    let path = format!("/notes/{}", note.id);

    // Bob cannot tell Alice's note from a note that does not exist.
    let theirs = app.get(&path, &bob).await;
    let nobodys = app
        .get(&format!("/notes/{}", lesson_04::store::NoteId::new()), &bob)
        .await;
    assert_problem(&theirs, StatusCode::NOT_FOUND);
    assert_eq!(nobodys.status, StatusCode::NOT_FOUND);
    assert_problem(
        &app.send(Method::DELETE, &path, Some(&bob), None).await,
        StatusCode::NOT_FOUND,
    );
    // Support reads but may not delete; admin may.
    assert_eq!(app.get(&path, &support).await.status, StatusCode::OK);
    assert_problem(
        &app.send(Method::DELETE, &path, Some(&support), None).await,
        StatusCode::FORBIDDEN,
    );
    assert_eq!(app.get(&path, &alice).await.status, StatusCode::OK);
    let deleted = app.send(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, &alice).await.status, StatusCode::NOT_FOUND);
}
// ANCHOR_END: idor_test

#[tokio::test]
async fn a_bad_note_id_is_a_problem_document() {
    let app = TestApp::new();
    let alice = app
        .user("alice@shop.test", Role::Customer)
        .await
        .access_token;
    assert_problem(
        &app.get("/notes/not-a-uuid", &alice).await,
        StatusCode::BAD_REQUEST,
    );
}

#[tokio::test]
async fn api_keys_authenticate_integrations_within_their_scopes() {
    let app = TestApp::new();
    let alice = app
        .user("alice@shop.test", Role::Customer)
        .await
        .access_token;
    let bob = app.user("bob@shop.test", Role::Customer).await.access_token;
    app.send(
        Method::POST,
        "/notes",
        Some(&bob),
        Some(json!({ "text": "bob's" })),
    )
    .await;
    let body = json!({ "name": "erp", "scopes": ["notes:read"] });
    let reply = app
        .send(Method::POST, "/api-keys", Some(&alice), Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let created: CreatedApiKey = serde_json::from_value(reply.body).unwrap();
    assert!(created.key.starts_with("sk_live_"));

    app.send(
        Method::POST,
        "/notes",
        Some(&alice),
        Some(json!({ "text": "alice's" })),
    )
    .await;
    let listed = app.get("/integrations/notes", &created.key).await;
    assert_eq!(listed.status, StatusCode::OK);
    let notes: Vec<Note> = serde_json::from_value(listed.body).unwrap();
    assert_eq!(notes.len(), 1, "only the key owner's notes");
    assert_eq!(notes[0].text, "alice's");

    let write = app
        .send(
            Method::POST,
            "/integrations/notes",
            Some(&created.key),
            Some(json!({ "text": "x" })),
        )
        .await;
    assert_problem(&write, StatusCode::FORBIDDEN);
    // An access token is not an API key, nor the other way round.
    assert_problem(
        &app.get("/integrations/notes", &alice).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(
        &app.get("/me", &created.key).await,
        StatusCode::UNAUTHORIZED,
    );
    let empty = json!({ "name": "none", "scopes": [] });
    assert_problem(
        &app.send(Method::POST, "/api-keys", Some(&alice), Some(empty))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
}

#[tokio::test]
async fn rotating_a_key_ends_the_old_one_and_only_the_owner_may() {
    let app = TestApp::new();
    let alice = app
        .user("alice@shop.test", Role::Customer)
        .await
        .access_token;
    let bob = app.user("bob@shop.test", Role::Customer).await.access_token;
    let body = json!({ "name": "erp", "scopes": ["notes:read", "notes:write"] });
    let reply = app
        .send(Method::POST, "/api-keys", Some(&alice), Some(body))
        .await;
    let old: CreatedApiKey = serde_json::from_value(reply.body).unwrap();
    let path = format!("/api-keys/{}/rotate", old.id);
    assert_problem(
        &app.send(Method::POST, &path, Some(&bob), None).await,
        StatusCode::NOT_FOUND,
    );
    let reply = app.send(Method::POST, &path, Some(&alice), None).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let new: CreatedApiKey = serde_json::from_value(reply.body).unwrap();
    assert_eq!(new.scopes, old.scopes);
    assert_problem(
        &app.get("/integrations/notes", &old.key).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_eq!(
        app.get("/integrations/notes", &new.key).await.status,
        StatusCode::OK
    );
    assert_problem(
        &app.send(Method::POST, &path, Some(&alice), None).await,
        StatusCode::NOT_FOUND,
    );
}
