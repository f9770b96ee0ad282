//! Steps 5 and 6: roles and ownership, then API keys.

use narrate::{heading, say, show};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::sessions::login;
use super::{ALICE, BOB, Demo, ROOT, SAM, StepError, check, ensure_account};
use crate::api::CreatedApiKey;
use crate::api_keys::KeyId;
use crate::client::short;
use crate::store::Note;

pub async fn authorization(demo: &Demo) -> Result<(), StepError> {
    heading(
        5,
        "Authorization: roles for kinds of action, ownership for objects",
    );
    say("Roles are granted, not chosen: an administrator (here, the demo) creates staff accounts.");
    for person in [ALICE, BOB, SAM, ROOT] {
        ensure_account(demo, person).await?;
    }
    let alice = login(demo, ALICE).await?.access_token;
    let bob = login(demo, BOB).await?.access_token;
    let sam = login(demo, SAM).await?.access_token;
    let root = login(demo, ROOT).await?.access_token;

    say("GET /admin/users requires the ListUsers permission, checked by the `Require<ListUsers>`");
    say("extractor: a customer is known (not 401) but not allowed (403); support and admin are.");
    demo.call(
        Method::GET,
        "/admin/users",
        Some(&alice),
        None,
        StatusCode::FORBIDDEN,
    )
    .await?
    .print_brief();
    demo.call(
        Method::GET,
        "/admin/users",
        Some(&sam),
        None,
        StatusCode::OK,
    )
    .await?
    .print_brief();
    let exchange = demo
        .call(
            Method::GET,
            "/admin/users",
            Some(&root),
            None,
            StatusCode::OK,
        )
        .await?;
    exchange.print();

    say("Alice writes a note. Its id is in the URL, and URLs travel: what stops Bob?");
    let body = json!({ "text": "my shipping address is 12 Rue des Lilas" });
    let exchange = demo
        .call(
            Method::POST,
            "/notes",
            Some(&alice),
            Some(body),
            StatusCode::CREATED,
        )
        .await?;
    exchange.print();
    let note: Note = exchange.json()?;
    let path = format!("/notes/{}", note.id);
    say("Only the ownership check in the handler. Bob gets 404, not 403: a 403 would confirm the");
    say("id exists. Support may read any note (403 to delete it: it knows the note exists).");
    for (who, token, method, expected) in [
        ("bob", &bob, Method::GET, StatusCode::NOT_FOUND),
        ("bob", &bob, Method::DELETE, StatusCode::NOT_FOUND),
        ("sam (support)", &sam, Method::GET, StatusCode::OK),
        ("sam (support)", &sam, Method::DELETE, StatusCode::FORBIDDEN),
        (
            "alice (owner)",
            &alice,
            Method::DELETE,
            StatusCode::NO_CONTENT,
        ),
    ] {
        show(format_args!("as {who}:"));
        demo.call(method, &path, Some(token), None, expected)
            .await?
            .print_brief();
    }
    Ok(())
}

pub async fn api_keys(demo: &Demo) -> Result<(), StepError> {
    heading(6, "API keys: prefix, id, hashed secret, scopes, rotation");
    for person in [ALICE, BOB] {
        ensure_account(demo, person).await?;
    }
    let alice = login(demo, ALICE).await?.access_token;
    say("Alice connects her ERP with a key that may only read her notes. The whole key is in");
    say("this response and nowhere else, ever:");
    let body = json!({ "name": "erp", "scopes": ["notes:read"] });
    let exchange = demo
        .call(
            Method::POST,
            "/api-keys",
            Some(&alice),
            Some(body),
            StatusCode::CREATED,
        )
        .await?;
    exchange.print();
    let created: CreatedApiKey = exchange.json()?;
    let stored = demo.state.api_keys.get(&created.id);
    say("What the server keeps: the id to find it, SHA-256 of the secret, the scopes.");
    let record = serde_json::to_string(&stored).unwrap_or_default();
    show(narrate::truncate(&record, 110));
    check(
        !record.contains(&created.key[25..]),
        "the stored record to hold no secret",
        "the secret",
    )?;

    let key = created.key.clone();
    demo.call(
        Method::POST,
        "/notes",
        Some(&alice),
        Some(json!({ "text": "order 1042 shipped" })),
        StatusCode::CREATED,
    )
    .await?;
    say("The key reads (scope notes:read), cannot write (403), and a changed secret is 401:");
    demo.call(
        Method::GET,
        "/integrations/notes",
        Some(&key),
        None,
        StatusCode::OK,
    )
    .await?
    .print();
    demo.call(
        Method::POST,
        "/integrations/notes",
        Some(&key),
        Some(json!({ "text": "from the ERP" })),
        StatusCode::FORBIDDEN,
    )
    .await?
    .print_brief();
    // Change the last character, to something it is not: replacing it with a fixed letter
    // would leave one key in 64 unchanged.
    let (head, last) = key.split_at(key.len() - 1);
    let tampered = format!("{head}{}", if last == "A" { "B" } else { "A" });
    demo.call(
        Method::GET,
        "/integrations/notes",
        Some(&tampered),
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await?
    .print_brief();
    say("The secrets are compared as SHA-256 digests with subtle's constant-time equality.");

    say("Rotation: a new key with the same scopes; the old one stops at once (the library");
    say("also supports a grace period). Bob cannot rotate Alice's key: 404, as for no key.");
    let bob = login(demo, BOB).await?.access_token;
    let rotate = format!("/api-keys/{}/rotate", created.id);
    demo.call(
        Method::POST,
        &rotate,
        Some(&bob),
        None,
        StatusCode::NOT_FOUND,
    )
    .await?
    .print_brief();
    let exchange = demo
        .call(
            Method::POST,
            &rotate,
            Some(&alice),
            None,
            StatusCode::CREATED,
        )
        .await?;
    exchange.print_brief();
    let rotated: CreatedApiKey = exchange.json()?;
    show(format_args!(
        "old key {}  → {}",
        short(&key),
        status(demo, &key).await?
    ));
    show(format_args!(
        "new key {}  → {}",
        short(&rotated.key),
        status(demo, &rotated.key).await?
    ));
    check(
        KeyId::parse(rotated.id.as_str()).is_some() && rotated.id != created.id,
        "a new key id",
        &rotated.id,
    )?;
    Ok(())
}

/// The status of GET /integrations/notes with `key`.
async fn status(demo: &Demo, key: &str) -> Result<StatusCode, StepError> {
    Ok(demo
        .client
        .send(Method::GET, "/integrations/notes", Some(key), None)
        .await?
        .status)
}
