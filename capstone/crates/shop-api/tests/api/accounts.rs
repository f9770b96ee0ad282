//! Accounts over HTTP (chapter 04): sign-up to erasure, and the attacks each step must stop.
//!
//! The test names are the evidence column of the ASVS table in
//! `book/src/capstone-steps/04-accounts.md`.

mod needs_postgres {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};
    use shop_domain::Role;

    use crate::helpers::{PASSWORD, TEST_JWT_SECRET, TestApp};
    use crate::{PROBLEM_JSON, parts};

    const NEW_PASSWORD: &str = "a brand new passphrase, 2026";

    /// The claims inside a token, decoded without checking anything (as an attacker would).
    fn claims_of(token: &str) -> Value {
        let payload = token.split('.').nth(1).expect("a JWT has three parts");
        let json = URL_SAFE_NO_PAD.decode(payload).expect("base64url");
        serde_json::from_slice(&json).expect("a JSON payload")
    }

    fn sign(claims: &Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("the claims sign")
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    // ANCHOR: end_to_end
    #[tokio::test]
    async fn register_verify_sign_in_and_read_the_profile() {
        let app = TestApp::spawn().await;

        let response = app.register("ada@example.com", "Ada", PASSWORD).await;
        assert_eq!(response.headers()["location"], "/me");
        let (status, _, created) = parts(response).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["role"], "customer");
        assert_eq!(created["email_verified"], false);
        assert!(created.get("password_hash").is_none(), "{created}");

        let token = app.verification_token("ada@example.com");
        assert_eq!(
            app.verify_email(&token).await.status(),
            StatusCode::NO_CONTENT
        );

        let (status, _, tokens) = parts(app.login("ADA@example.com", PASSWORD).await).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 900);
        let access = tokens["access_token"].as_str().unwrap();

        let (status, _, me) = parts(app.me(access).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["id"], created["id"]);
        assert_eq!(me["email_verified"], true);
    }
    // ANCHOR_END: end_to_end

    #[tokio::test]
    async fn weak_passwords_and_taken_addresses_are_refused() {
        let app = TestApp::spawn().await;

        for weak in [
            "short",
            "passwordpassword",
            "ada@example.com is me",
            "ééééééééééééééé",
        ] {
            let (status, content_type, body) =
                parts(app.register("ada@example.com", "Ada", weak).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{weak}: {body}");
            assert_eq!(content_type, PROBLEM_JSON);
        }
        // 64 characters of anything, spaces and all, are fine: no composition rules.
        let long = "all lower case and spaces, no digits at all, sixty-four chars ok";
        assert_eq!(long.chars().count(), 64);
        assert_eq!(
            app.register("ada@example.com", "Ada", long).await.status(),
            StatusCode::CREATED
        );
        let (status, _, body) =
            parts(app.register("ADA@Example.com", "Ada 2", PASSWORD).await).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    }

    #[tokio::test]
    async fn a_verification_token_works_once() {
        let app = TestApp::spawn().await;
        app.register("ada@example.com", "Ada", PASSWORD).await;
        let token = app.verification_token("ada@example.com");

        assert_eq!(
            app.verify_email(&token).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.verify_email(&token).await.status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            app.verify_email("made-up-token").await.status(),
            StatusCode::BAD_REQUEST
        );
    }

    // ANCHOR: same_answer
    #[tokio::test]
    async fn a_wrong_password_and_an_unknown_address_get_the_same_401() {
        let app = TestApp::spawn().await;
        app.signed_up("ada@example.com").await;

        let (status, _, wrong_password) =
            parts(app.login("ada@example.com", "not the right password").await).await;
        let (status2, _, unknown) = parts(app.login("nobody@example.com", PASSWORD).await).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(status2, StatusCode::UNAUTHORIZED);
        // Identical documents apart from nothing at all: the response tells no secrets.
        assert_eq!(wrong_password, unknown);
    }
    // ANCHOR_END: same_answer

    #[tokio::test]
    async fn an_unverified_account_signs_in_but_cannot_create_api_keys() {
        let app = TestApp::spawn().await;
        app.register("ada@example.com", "Ada", PASSWORD).await;
        let (status, _, tokens) = parts(app.login("ada@example.com", PASSWORD).await).await;
        assert_eq!(status, StatusCode::OK);
        let access = tokens["access_token"].as_str().unwrap();

        let (status, _, body) =
            parts(app.create_api_key(access, "erp", &["orders:read"]).await).await;

        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("Verify"));
    }

    // ANCHOR: refresh_reuse
    #[tokio::test]
    async fn refresh_rotates_and_reusing_a_token_ends_the_whole_family() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;

        // The legitimate client refreshes: a new pair, and the first refresh token is used up.
        let (status, _, rotated) = parts(app.refresh(&ada.refresh).await).await;
        assert_eq!(status, StatusCode::OK);
        let second_refresh = rotated["refresh_token"].as_str().unwrap();
        let second_access = rotated["access_token"].as_str().unwrap();
        assert_ne!(second_refresh, ada.refresh);
        assert_eq!(app.me(second_access).await.status(), StatusCode::OK);

        // A thief replays the stolen first token: refused, and the session ends.
        assert_eq!(
            app.refresh(&ada.refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );

        // So the newest token of the family is dead too, and so are its access tokens.
        assert_eq!(
            app.refresh(second_refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.me(second_access).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(app.me(&ada.access).await.status(), StatusCode::UNAUTHORIZED);
    }
    // ANCHOR_END: refresh_reuse

    #[tokio::test]
    async fn logout_revokes_the_refresh_and_the_access_token() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;
        let (_, _, other) = parts(app.login("ada@example.com", PASSWORD).await).await;

        assert_eq!(
            app.logout(&ada.refresh).await.status(),
            StatusCode::NO_CONTENT
        );

        assert_eq!(
            app.refresh(&ada.refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(app.me(&ada.access).await.status(), StatusCode::UNAUTHORIZED);
        // Another device's session is not affected.
        let other_access = other["access_token"].as_str().unwrap();
        assert_eq!(app.me(other_access).await.status(), StatusCode::OK);
        // Logging out twice, or with garbage, says nothing either way.
        assert_eq!(
            app.logout(&ada.refresh).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(app.logout("garbage").await.status(), StatusCode::NO_CONTENT);
    }

    // ANCHOR: password_change
    #[tokio::test]
    async fn a_password_change_needs_the_current_password_and_ends_other_sessions() {
        let app = TestApp::spawn().await;
        let laptop = app.signed_up("ada@example.com").await;
        let (_, _, phone) = parts(app.login("ada@example.com", PASSWORD).await).await;
        let phone_access = phone["access_token"].as_str().unwrap();
        let phone_refresh = phone["refresh_token"].as_str().unwrap();

        let wrong = app
            .change_password(&laptop.access, "not my password at all", NEW_PASSWORD)
            .await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let weak = app.change_password(&laptop.access, PASSWORD, "short").await;
        assert_eq!(weak.status(), StatusCode::BAD_REQUEST);

        let changed = app
            .change_password(&laptop.access, PASSWORD, NEW_PASSWORD)
            .await;
        assert_eq!(changed.status(), StatusCode::NO_CONTENT);

        assert_eq!(
            app.me(&laptop.access).await.status(),
            StatusCode::OK,
            "this session stays"
        );
        assert_eq!(
            app.me(phone_access).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.refresh(phone_refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.login("ada@example.com", PASSWORD).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.login("ada@example.com", NEW_PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    // ANCHOR_END: password_change

    #[tokio::test]
    async fn an_email_change_needs_the_password_and_a_new_verification() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;

        let renamed = app
            .update_me(&ada.access, &json!({ "display_name": "Countess Ada" }))
            .await;
        let (status, _, body) = parts(renamed).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["display_name"], "Countess Ada");
        assert_eq!(
            body["email_verified"], true,
            "a name change keeps the verification"
        );

        let no_password = app
            .update_me(&ada.access, &json!({ "email": "ada@lovelace.example" }))
            .await;
        assert_eq!(no_password.status(), StatusCode::BAD_REQUEST);

        let moved = app
            .update_me(
                &ada.access,
                &json!({ "email": "ada@lovelace.example", "current_password": PASSWORD }),
            )
            .await;
        let (status, _, body) = parts(moved).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["email"], "ada@lovelace.example");
        assert_eq!(body["email_verified"], false);

        let token = app.verification_token("ada@lovelace.example");
        assert_eq!(
            app.verify_email(&token).await.status(),
            StatusCode::NO_CONTENT
        );
        let (_, _, me) = parts(app.me(&ada.access).await).await;
        assert_eq!(me["email_verified"], true);
        assert_eq!(
            app.login("ada@lovelace.example", PASSWORD).await.status(),
            StatusCode::OK
        );
    }

    // ANCHOR: forged_tokens
    #[tokio::test]
    async fn a_token_whose_payload_was_edited_is_refused() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;
        let [header, _, signature]: [&str; 3] = ada
            .access
            .split('.')
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        let mut claims = claims_of(&ada.access);
        claims["role"] = json!("admin");
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let tampered = format!("{header}.{payload}.{signature}");

        assert_eq!(app.me(&tampered).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.get_as("/admin/users", &tampered).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn a_token_signed_with_another_key_is_refused() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;
        let forged = sign(
            &claims_of(&ada.access),
            "some-other-secret-also-32-bytes-long!",
        );

        let response = app.me(&forged).await;

        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn an_unsigned_alg_none_token_is_refused() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims_of(&ada.access)).unwrap());

        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert_eq!(
                app.me(&token).await.status(),
                StatusCode::UNAUTHORIZED,
                "{token}"
            );
        }
    }

    #[tokio::test]
    async fn an_expired_token_is_refused_even_with_a_valid_signature() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;
        let mut claims = claims_of(&ada.access);
        // An hour ago: well past the 5 s leeway for clock skew.
        claims["iat"] = json!(now() - 7200);
        claims["exp"] = json!(now() - 3600);
        let expired = sign(&claims, TEST_JWT_SECRET);
        // The control: the same claims, unexpired, signed the same way, are accepted.
        claims["exp"] = json!(now() + 600);
        let fresh = sign(&claims, TEST_JWT_SECRET);

        assert_eq!(app.me(&expired).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me(&fresh).await.status(), StatusCode::OK);
    }
    // ANCHOR_END: forged_tokens

    // ANCHOR: idor
    #[tokio::test]
    async fn one_user_cannot_see_or_revoke_another_users_api_keys() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;
        let mallory = app.signed_up("mallory@example.com").await;
        let (status, _, key) = parts(
            app.create_api_key(&ada.access, "erp", &["orders:read"])
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        let key_id = key["id"].as_str().unwrap();

        let (_, _, listed) = parts(app.api_keys(&mallory.access).await).await;
        assert_eq!(
            listed["api_keys"],
            json!([]),
            "mallory sees only her own keys"
        );
        let (status, _, body) = parts(app.revoke_api_key(&mallory.access, key_id).await).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "not 403: the key's existence stays hidden"
        );
        assert_eq!(body["type"], "tag:backend-rs,2026:shop/not-found");

        let full_key = key["key"].as_str().unwrap();
        assert_eq!(
            app.integration_orders(full_key).await.status(),
            StatusCode::OK
        );
        // Support pages are not for customers either.
        let ada_page = format!("/admin/users/{}", ada.id);
        assert_eq!(
            app.get_as(&ada_page, &mallory.access).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    // ANCHOR_END: idor

    // ANCHOR: escalation
    #[tokio::test]
    async fn a_customer_cannot_reach_admin_routes_or_grant_themselves_a_role() {
        let app = TestApp::spawn().await;
        let eve = app.signed_up("eve@example.com").await;

        assert_eq!(
            app.get_as("/admin/users", &eve.access).await.status(),
            StatusCode::FORBIDDEN
        );
        let promote = app
            .request(
                Method::PATCH,
                &format!("/admin/users/{}/role", eve.id),
                Some(&eve.access),
            )
            .json(&json!({ "role": "admin" }));
        assert_eq!(app.send(promote).await.status(), StatusCode::FORBIDDEN);
        let anonymous = app.request(Method::GET, "/admin/users", None);
        assert_eq!(app.send(anonymous).await.status(), StatusCode::UNAUTHORIZED);

        // Mass assignment: `role` is not a field of these bodies, so it is refused outright.
        let (status, _, body) = parts(
            app.update_me(&eve.access, &json!({ "role": "admin" }))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let sign_up = json!({
            "email": "eve2@example.com", "display_name": "Eve", "password": PASSWORD,
            "role": "admin"
        });
        assert_eq!(
            app.post_json("/auth/register", &sign_up, None)
                .await
                .status(),
            StatusCode::BAD_REQUEST
        );

        let (_, _, me) = parts(app.me(&eve.access).await).await;
        assert_eq!(me["role"], "customer");
    }
    // ANCHOR_END: escalation

    #[tokio::test]
    async fn token_for_mints_a_token_that_carries_its_role() {
        let app = TestApp::spawn().await;
        let (_, admin) = app.token_for(Role::Admin).await;
        let (_, customer) = app.token_for(Role::Customer).await;

        assert_eq!(
            app.get_as("/admin/users", &admin).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            app.get_as("/admin/users", &customer).await.status(),
            StatusCode::FORBIDDEN
        );
    }

    #[tokio::test]
    async fn an_admin_changes_roles_and_the_change_applies_at_once() {
        let app = TestApp::spawn().await;
        let admin = app.signed_up("admin@example.com").await;
        app.set_role(&admin.id, Role::Admin).await;
        let sam = app.signed_up("sam@example.com").await;
        let sam_page = format!("/admin/users/{}", sam.id);
        assert_eq!(
            app.get_as(&sam_page, &sam.access).await.status(),
            StatusCode::FORBIDDEN
        );

        let (status, _, listed) =
            parts(app.get_as("/admin/users?limit=10", &admin.access).await).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        assert_eq!(listed["users"].as_array().unwrap().len(), 2);

        let promote = app
            .request(
                Method::PATCH,
                &format!("/admin/users/{}/role", sam.id),
                Some(&admin.access),
            )
            .json(&json!({ "role": "support" }));
        let (status, _, body) = parts(app.send(promote).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["role"], "support");

        // Sam's token was issued while he was a customer; the role is read per request.
        assert_eq!(
            app.get_as(&sam_page, &sam.access).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            app.get_as("/admin/users", &sam.access).await.status(),
            StatusCode::FORBIDDEN,
            "support reads accounts, only admins list them"
        );
    }

    // ANCHOR: api_keys
    #[tokio::test]
    async fn api_keys_are_shown_once_scoped_and_revocable() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;
        app.place_order(&ada.id, 2).await;

        let (status, _, created) = parts(
            app.create_api_key(&ada.access, "warehouse", &["orders:read"])
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let key = created["key"].as_str().unwrap();
        let prefix = created["prefix"].as_str().unwrap();
        assert!(key.starts_with(&format!("shop_{prefix}_")), "{key}");

        let (_, _, listed) = parts(app.api_keys(&ada.access).await).await;
        assert_eq!(listed["api_keys"][0]["prefix"], prefix);
        assert!(
            !listed.to_string().contains(key),
            "the secret is never shown again"
        );

        let (status, _, orders) = parts(app.integration_orders(key).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(orders["orders"][0]["lines"][0]["quantity"], 2);

        let (_, _, catalog_only) = parts(
            app.create_api_key(&ada.access, "feed", &["catalog:read"])
                .await,
        )
        .await;
        let (status, _, body) = parts(
            app.integration_orders(catalog_only["key"].as_str().unwrap())
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

        let wrong_secret = format!("shop_{prefix}_{}", "A".repeat(43));
        assert_eq!(
            app.integration_orders(&wrong_secret).await.status(),
            StatusCode::UNAUTHORIZED
        );
        let nonsense = app.integration_orders("nonsense").await;
        assert_eq!(nonsense.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            nonsense.headers()["www-authenticate"],
            r#"ApiKey header="X-API-Key""#,
            "the challenge names the header a key goes in, not Bearer"
        );

        let id = created["id"].as_str().unwrap();
        assert_eq!(
            app.revoke_api_key(&ada.access, id).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.integration_orders(key).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.revoke_api_key(&ada.access, id).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    // ANCHOR_END: api_keys

    #[tokio::test]
    async fn unknown_scopes_and_empty_names_are_400() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;

        for (name, scopes) in [
            ("erp", vec!["orders:write"]),
            ("", vec!["orders:read"]),
            ("erp", vec![]),
        ] {
            let (status, content_type, body) =
                parts(app.create_api_key(&ada.access, name, &scopes).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{name} {scopes:?}: {body}");
            assert_eq!(content_type, PROBLEM_JSON);
        }
    }

    // ANCHOR: throttle
    #[tokio::test]
    async fn brute_force_on_one_account_is_throttled_with_retry_after() {
        let app = TestApp::spawn().await; // 5 failures per account
        app.signed_up("ada@example.com").await;
        for attempt in 1..=5 {
            let guess = format!("guess number {attempt} for ada");
            assert_eq!(
                app.login("ada@example.com", &guess).await.status(),
                StatusCode::UNAUTHORIZED,
                "attempt {attempt}"
            );
        }

        let throttled = app.login("ada@example.com", PASSWORD).await;

        let retry_after: u64 = throttled.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry_after), "{retry_after}");
        let (status, content_type, body) = parts(throttled).await;
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "even the right password waits"
        );
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(body["instance"], "/auth/login");
        // Other accounts are unaffected.
        app.signed_up("bob@example.com").await;
    }
    // ANCHOR_END: throttle

    #[tokio::test]
    async fn a_successful_sign_in_resets_the_account_counter() {
        let app = TestApp::spawn().await;
        app.signed_up("ada@example.com").await;
        for round in 0..2 {
            for _ in 0..4 {
                let response = app.login("ada@example.com", "typo in my password").await;
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "round {round}");
            }
            assert_eq!(
                app.login("ada@example.com", PASSWORD).await.status(),
                StatusCode::OK
            );
        }
    }

    #[tokio::test]
    async fn a_password_spray_from_one_address_is_throttled_per_ip() {
        let app = TestApp::spawn_with(|config| config.security.login_max_failures_per_ip = 5).await;
        for n in 0..5 {
            let response = app.login(&format!("user{n}@example.com"), PASSWORD).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }

        let response = app.login("user99@example.com", PASSWORD).await;

        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    // ANCHOR: export
    #[tokio::test]
    async fn the_export_holds_profile_sessions_keys_and_orders() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;
        let order = app.place_order(&ada.id, 1).await;
        app.create_api_key(&ada.access, "erp", &["orders:read"])
            .await;

        let response = app.export(&ada.access).await;
        assert!(
            response.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
        let (status, _, export) = parts(response).await;

        assert_eq!(status, StatusCode::OK, "{export}");
        assert_eq!(export["profile"]["email"], ada.email.as_str());
        assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
        assert_eq!(export["api_keys"][0]["name"], "erp");
        assert_eq!(export["orders"][0]["id"], order);
        // MongoDB is down in this test: the export says so instead of failing.
        assert_eq!(export["reviews"], Value::Null);
        assert!(export["reviews_note"].is_string());
        let text = export.to_string();
        assert!(
            !text.contains("argon2") && !text.contains(&ada.refresh),
            "no secrets"
        );
    }
    // ANCHOR_END: export

    // ANCHOR: erasure
    #[tokio::test]
    async fn after_erasure_nothing_of_the_account_works() {
        let app = TestApp::spawn().await;
        let admin = app.signed_up("admin@example.com").await;
        app.set_role(&admin.id, Role::Admin).await;
        let ada = app.signed_up("ada@example.com").await;
        app.place_order(&ada.id, 1).await;
        let (_, _, key) = parts(
            app.create_api_key(&ada.access, "erp", &["orders:read"])
                .await,
        )
        .await;
        let key = key["key"].as_str().unwrap().to_owned();

        assert_eq!(
            app.erase(&ada.access, "not my password at all")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        let (status, _, body) = parts(app.erase(&ada.access, PASSWORD).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["erased"], true);
        assert_eq!(
            body["reviews_anonymised"], false,
            "MongoDB is down in this test"
        );

        assert_eq!(
            app.login("ada@example.com", PASSWORD).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(app.me(&ada.access).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.export(&ada.access).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.refresh(&ada.refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.integration_orders(&key).await.status(),
            StatusCode::UNAUTHORIZED
        );
        let page = format!("/admin/users/{}", ada.id);
        assert_eq!(
            app.get_as(&page, &admin.access).await.status(),
            StatusCode::NOT_FOUND
        );
        // The address is free again: erasure kept nothing that identifies the person.
        assert_eq!(
            app.register("ada@example.com", "Ada again", PASSWORD)
                .await
                .status(),
            StatusCode::CREATED
        );
    }
    // ANCHOR_END: erasure

    mod needs_mongodb {
        use shop_db::reviews::{Author, Rating, Review, ReviewStore};
        use shop_domain::UserId;

        use super::*;

        #[tokio::test]
        async fn export_lists_the_users_reviews_and_erasure_removes_their_name() {
            let mongo = testkit::mongodb().await;
            let app = TestApp::spawn_with_mongodb(mongo.url(), mongo.database().name()).await;
            let ada = app.signed_up("ada@example.com").await;
            let ada_id = UserId::from_uuid(ada.id.parse().unwrap());
            let store = ReviewStore::new(mongo.database());
            let author = Author {
                user_id: ada_id,
                display_name: "Ada".to_owned(),
            };
            let review = Review::new(
                app.fixtures().headphones,
                author,
                Rating::new(5).unwrap(),
                "Great",
                "Loud and clear.",
            );
            store.insert(&review).await.unwrap();

            let (status, _, export) = parts(app.export(&ada.access).await).await;
            assert_eq!(status, StatusCode::OK, "{export}");
            assert_eq!(export["reviews"][0]["title"], "Great");
            assert!(export.get("reviews_note").is_none(), "{export}");

            let (status, _, erased) = parts(app.erase(&ada.access, PASSWORD).await).await;
            assert_eq!(status, StatusCode::OK, "{erased}");
            assert_eq!(erased["reviews_anonymised"], true);
            let kept = store.list_by_author(ada_id).await.unwrap();
            assert_eq!(kept.len(), 1, "the review stays");
            assert_eq!(kept[0].author.display_name, "Erased user");
        }
    }
}
