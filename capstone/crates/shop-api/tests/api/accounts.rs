//! Accounts over HTTP (chapter 04): sign-up to erasure, and the attacks each step must stop.
//!
//! The test names are the evidence column of the ASVS table in
//! `book/src/capstone-steps/04-accounts.md`.

mod needs_postgres {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use reqwest::{Method, StatusCode};
    use secrecy::ExposeSecret;
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

        let (status, _, accepted) =
            parts(app.register("ada@example.com", "Ada", PASSWORD).await).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        assert_eq!(accepted["email"], "ada@example.com");

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
        assert_eq!(me["email"], "ada@example.com");
        assert_eq!(me["role"], "customer");
        assert_eq!(me["email_verified"], true);
        assert!(me.get("password_hash").is_none(), "{me}");
    }
    // ANCHOR_END: end_to_end

    /// Status, headers (minus the two that differ on every response) and body of a response.
    async fn answer(response: reqwest::Response) -> (StatusCode, Vec<(String, String)>, Value) {
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
            .map(|(name, value)| {
                let value = value.to_str().expect("the service sends ASCII headers");
                (name.to_string(), value.to_owned())
            })
            .collect();
        (status, headers, response.json().await.expect("a JSON body"))
    }

    // ANCHOR: sign_up_enumeration
    #[tokio::test]
    async fn a_taken_address_is_answered_like_a_new_one_and_its_owner_is_told() {
        let app = TestApp::spawn().await;
        let new = answer(app.register("ada@example.com", "Ada", PASSWORD).await).await;
        let first_mail = app.verification_token("ada@example.com");

        // Someone else tries the address, in another case and with a password of their own.
        let taken = answer(
            app.register(
                "ada@example.com",
                "Mallory",
                "an entirely different passphrase",
            )
            .await,
        )
        .await;

        assert_eq!(new.0, StatusCode::ACCEPTED);
        assert_eq!(taken, new, "same status, same headers, same body");
        let mails = app.mails_to("ada@example.com");
        assert_eq!(mails.len(), 2, "one mail per sign-up, both to the address");
        assert_eq!(
            mails[1].subject,
            "Someone tried to register with your address"
        );
        let told = mails[1].body.expose_secret();
        assert!(
            told.contains("Hello Ada,"),
            "the owner's name, not the sign-up's: {told}"
        );
        assert!(
            !told.contains("token") && !told.contains("Mallory"),
            "{told}"
        );
        // Nothing about the account changed: the first token verifies, the old password works.
        assert_eq!(
            app.verify_email(&first_mail).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.login("ada@example.com", "an entirely different passphrase")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.login("ada@example.com", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    // ANCHOR_END: sign_up_enumeration

    #[tokio::test]
    async fn a_sign_up_whose_mail_fails_leaves_no_account_behind() {
        let app = TestApp::spawn().await;
        app.mail_fails.store(true, Ordering::SeqCst);

        let (status, _, body) = parts(app.register("ada@example.com", "Ada", PASSWORD).await).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");

        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(app.pool())
            .await
            .unwrap();
        let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM email_verification_tokens")
            .fetch_one(app.pool())
            .await
            .unwrap();
        assert_eq!((rows, tokens), (0, 0), "no account, no token");
        // So the next try is a sign-up like any other, with a verification mail.
        app.mail_fails.store(false, Ordering::SeqCst);
        app.signed_up("ada@example.com").await;
    }

    // ANCHOR: every_field
    #[tokio::test]
    async fn a_sign_up_reports_every_invalid_field_in_one_422() {
        let app = TestApp::spawn().await;
        let sign_up = json!({ "email": "ada@", "display_name": "\u{7}", "password": "short" });

        let (status, content_type, body) =
            parts(app.post_json("/auth/register", &sign_up, None).await).await;

        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(
            pointers_of(&body),
            ["#/email", "#/display_name", "#/password"]
        );
        assert!(app.mails_to("ada@example.com").is_empty());
    }
    // ANCHOR_END: every_field

    /// The JSON Pointer (`#/email`) of every entry in a problem's `errors`. An entry that
    /// names a parameter instead has none, and so fails the comparison.
    fn pointers_of(problem: &Value) -> Vec<&str> {
        problem["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["pointer"].as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn weak_passwords_are_refused_with_a_422_naming_the_field() {
        let app = TestApp::spawn().await;

        for weak in [
            "short",
            "passwordpassword",
            "ada@example.com is me",
            "ééééééééééééééé",
        ] {
            let (status, content_type, body) =
                parts(app.register("ada@example.com", "Ada", weak).await).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}: {body}");
            assert_eq!(content_type, PROBLEM_JSON);
            assert_eq!(pointers_of(&body), ["#/password"], "{weak}");
        }
        // 64 characters of anything, spaces and all, are fine: no composition rules.
        let long = "all lower case and spaces, no digits at all, sixty-four chars ok";
        assert_eq!(long.chars().count(), 64);
        assert_eq!(
            app.register("ada@example.com", "Ada", long).await.status(),
            StatusCode::ACCEPTED
        );
        assert_eq!(
            app.login("ada@example.com", long).await.status(),
            StatusCode::OK
        );
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

        let (status, _, mut wrong_password) =
            parts(app.login("ada@example.com", "not the right password").await).await;
        let (status2, _, mut unknown) =
            parts(app.login("nobody@example.com", PASSWORD).await).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(status2, StatusCode::UNAUTHORIZED);
        // Identical documents apart from the request id, which names the request, not the
        // account: the response tells no secrets.
        for problem in [&mut wrong_password, &mut unknown] {
            let request_id = problem.as_object_mut().and_then(|p| p.remove("request_id"));
            assert!(request_id.is_some_and(|id| id.is_string()), "{problem}");
        }
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
        let (status, _, weak) =
            parts(app.change_password(&laptop.access, PASSWORD, "short").await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
        assert_eq!(pointers_of(&weak), ["#/new_password"]);

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
        let (status, _, body) = parts(no_password).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(pointers_of(&body), ["#/current_password"]);
        // Re-sending the address it already has needs no password.
        let same = app
            .update_me(&ada.access, &json!({ "email": "ADA@example.com" }))
            .await;
        assert_eq!(same.status(), StatusCode::OK);

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
    async fn a_profile_edit_reports_every_invalid_field_in_one_422() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;

        for (edit, pointers) in [
            (
                json!({ "display_name": " ", "email": "not an address" }),
                vec!["#/display_name", "#/email"],
            ),
            (
                json!({ "display_name": "\u{0}", "email": "ada@lovelace.example" }),
                vec!["#/display_name", "#/current_password"],
            ),
        ] {
            let (status, content_type, body) = parts(app.update_me(&ada.access, &edit).await).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{edit}: {body}");
            assert_eq!(content_type, PROBLEM_JSON);
            assert_eq!(pointers_of(&body), pointers, "{edit}");
        }
        let (_, _, me) = parts(app.me(&ada.access).await).await;
        assert_eq!(me["display_name"], "Test Customer", "nothing was changed");
    }

    #[tokio::test]
    async fn an_api_key_request_reports_every_invalid_field_in_one_422() {
        let app = TestApp::spawn().await;
        let ada = app.signed_up("ada@example.com").await;

        for (name, scopes, pointers) in [
            ("erp", vec!["orders:write"], vec!["#/scopes/0"]),
            ("", vec!["orders:read"], vec!["#/name"]),
            ("erp", vec![], vec!["#/scopes"]),
            (
                "",
                vec!["orders:read", "everything", "admin"],
                vec!["#/name", "#/scopes/1", "#/scopes/2"],
            ),
        ] {
            let (status, content_type, body) =
                parts(app.create_api_key(&ada.access, name, &scopes).await).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{name} {scopes:?}: {body}"
            );
            assert_eq!(content_type, PROBLEM_JSON);
            assert_eq!(pointers_of(&body), pointers, "{name} {scopes:?}");
        }
        let (_, _, listed) = parts(app.api_keys(&ada.access).await).await;
        assert_eq!(listed["api_keys"], json!([]), "no key was created");
    }

    /// The `Retry-After` of a 429, in seconds.
    fn retry_after(response: &reqwest::Response) -> u64 {
        response.headers()["retry-after"]
            .to_str()
            .ok()
            .and_then(|seconds| seconds.parse().ok())
            .expect("Retry-After is a number of seconds")
    }

    /// An app that believes `X-Forwarded-For`, so one test can sign in from many addresses.
    async fn spawn_behind_a_proxy() -> TestApp {
        TestApp::spawn_with(|config| config.security.trust_x_forwarded_for = true).await
    }

    // ANCHOR: throttle
    #[tokio::test]
    async fn brute_force_on_one_account_waits_twice_as_long_after_each_failure_up_to_a_cap() {
        let app = spawn_behind_a_proxy().await; // 5 failures, then 1 s doubling up to 15 min
        app.signed_up("ada@example.com").await;
        let guesser = "203.0.113.7";
        for attempt in 1..=5 {
            let guess = format!("guess number {attempt} for ada");
            let response = app.login_from(guesser, "ada@example.com", &guess).await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "attempt {attempt}"
            );
        }

        let mut wait = 1;
        for round in 0..12 {
            let throttled = app.login_from(guesser, "ada@example.com", PASSWORD).await;
            assert_eq!(retry_after(&throttled), wait, "round {round}");
            let (status, content_type, body) = parts(throttled).await;
            assert_eq!(
                status,
                StatusCode::TOO_MANY_REQUESTS,
                "even the right password waits"
            );
            assert_eq!(content_type, PROBLEM_JSON);
            assert_eq!(body["instance"], "/auth/login");

            app.clock.advance(Duration::from_secs(wait));
            let guess = app
                .login_from(guesser, "ada@example.com", "one more guess")
                .await;
            assert_eq!(guess.status(), StatusCode::UNAUTHORIZED, "round {round}");
            wait = (wait * 2).min(900);
        }
        assert_eq!(wait, 900, "at the cap: four guesses an hour");
        // Other accounts are unaffected.
        app.signed_up("bob@example.com").await;
    }
    // ANCHOR_END: throttle

    // ANCHOR: known_address
    #[tokio::test]
    async fn strangers_failures_never_lock_the_owner_out_of_an_address_that_signed_in_before() {
        let app = spawn_behind_a_proxy().await;
        let home = "198.51.100.20";
        app.signed_up("ada@example.com").await;
        assert_eq!(
            app.login_from(home, "ada@example.com", PASSWORD)
                .await
                .status(),
            StatusCode::OK
        );
        // A botnet guesses from many addresses, one guess each; then it keeps the account at
        // the cap with one guess every time the wait ends.
        for n in 1..=5 {
            let bot = format!("203.0.113.{n}");
            let response = app.login_from(&bot, "ada@example.com", "a guess").await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        for _ in 0..12 {
            let wait = retry_after(&app.login_from("203.0.113.99", "ada@example.com", "x").await);
            app.clock.advance(Duration::from_secs(wait));
            app.login_from("203.0.113.99", "ada@example.com", "another guess")
                .await;
        }

        let new_device = app
            .login_from("192.0.2.33", "ada@example.com", PASSWORD)
            .await;
        assert_eq!(new_device.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry_after(&new_device), 900, "strangers wait out the cap");
        let at_home = app.login_from(home, "ada@example.com", PASSWORD).await;
        assert_eq!(
            at_home.status(),
            StatusCode::OK,
            "the owner's address never waits for them"
        );
        // The owner's success does not wipe the strangers' count.
        let stranger = app
            .login_from("192.0.2.34", "ada@example.com", PASSWORD)
            .await;
        assert_eq!(stranger.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    // ANCHOR_END: known_address

    #[tokio::test]
    async fn the_owners_own_typos_are_throttled_and_a_success_starts_them_over() {
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
        for _ in 0..5 {
            app.login("ada@example.com", "typo in my password").await;
        }
        let throttled = app.login("ada@example.com", PASSWORD).await;
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        app.clock
            .advance(Duration::from_secs(retry_after(&throttled)));
        assert_eq!(
            app.login("ada@example.com", PASSWORD).await.status(),
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn a_password_spray_from_one_address_is_throttled_per_ip_in_a_sliding_window() {
        let app = TestApp::spawn_with(|config| config.security.login_max_failures_per_ip = 5).await;
        for n in 0..5 {
            let response = app.login(&format!("user{n}@example.com"), PASSWORD).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }

        let response = app.login("user99@example.com", PASSWORD).await;

        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        // Fifteen minutes later the spray's failures are still mostly inside the last fifteen
        // minutes' window; only as they slide out does the address get to try again.
        app.clock.advance(Duration::from_secs(15 * 60));
        let still = app.login("user99@example.com", PASSWORD).await;
        assert_eq!(still.status(), StatusCode::TOO_MANY_REQUESTS);
        app.clock.advance(Duration::from_secs(retry_after(&still)));
        assert_eq!(
            app.login("user99@example.com", PASSWORD).await.status(),
            StatusCode::UNAUTHORIZED
        );
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
        // The address is free again: erasure kept nothing that identifies the person. (The
        // sign-up answers the same either way; the new account shows in its mail and sign-in.)
        app.signed_up("ada@example.com").await;
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
