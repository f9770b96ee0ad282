//! The provider interface against the sandbox, over HTTP: each test card's outcome,
//! idempotency, retries of the network-failure card, 3-D Secure, refunds, problem documents,
//! and card numbers kept out of the logs.
//!
//! The sandbox runs in-process on port 0: no external service is needed.
//! `cargo test -p shop-payments --test payments`

use std::num::NonZeroU32;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shop_domain::{Currency, Money};
use shop_payments::sandbox::{self, test_cards};
use shop_payments::{
    AuthoriseRequest, CardNumber, DeclineReason, HttpProvider, HttpProviderConfig, IntentId,
    IntentStatus, PaymentProvider, ProviderError, RunningSandbox, Sandbox, SandboxConfig,
    WebhookSecret,
};
use shop_telemetry::capture::Captured;

async fn start() -> RunningSandbox {
    Sandbox::start(SandboxConfig::new(WebhookSecret::generate()))
        .await
        .expect("the sandbox starts on a free port")
}

fn provider_with(sandbox: &RunningSandbox, config: HttpProviderConfig) -> HttpProvider {
    HttpProvider::new(sandbox.base_url(), reqwest::Client::new(), config)
        .expect("the sandbox's URL is http")
}

fn provider(sandbox: &RunningSandbox) -> HttpProvider {
    provider_with(sandbox, HttpProviderConfig::default())
}

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Eur)
}

fn request(card: &str, key: &str) -> AuthoriseRequest {
    AuthoriseRequest {
        idempotency_key: key.to_owned(),
        amount: eur(2_500),
        card: CardNumber::parse(card).expect("a test card"),
        reference: format!("order-{key}"),
    }
}

#[tokio::test]
async fn each_test_card_has_its_outcome() {
    let sandbox = start().await;
    let provider = provider(&sandbox);
    let cases = [
        (test_cards::SUCCEEDS, IntentStatus::Succeeded),
        (
            test_cards::DECLINED,
            IntentStatus::Declined {
                reason: DeclineReason::CardDeclined,
            },
        ),
        (
            test_cards::INSUFFICIENT_FUNDS,
            IntentStatus::Declined {
                reason: DeclineReason::InsufficientFunds,
            },
        ),
        // Thanks to the retries: see the network-failure tests below.
        (test_cards::NETWORK_FAILURE, IntentStatus::Succeeded),
        ("5555 5555 5555 4444", IntentStatus::Succeeded),
    ];
    for (i, (card, expected)) in cases.into_iter().enumerate() {
        let intent = provider
            .authorise(request(card, &format!("card-{i}")))
            .await
            .expect("an answer");
        assert_eq!(intent.status, expected, "card {card}");
        assert_eq!(intent.amount, eur(2_500));
        assert_eq!(intent.amount_refunded, eur(0));
        assert_eq!(intent.reference, format!("order-card-{i}"));
        assert_eq!(provider.get(&intent.id).await.expect("stored"), intent);
    }
    let action = provider
        .authorise(request(test_cards::REQUIRES_ACTION, "card-3ds"))
        .await
        .expect("an answer");
    assert!(matches!(action.status, IntentStatus::RequiresAction { .. }));
    sandbox.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn the_same_key_and_body_is_one_intent_and_another_body_is_refused() {
    let sandbox = start().await;
    let provider = provider(&sandbox);
    let first = provider
        .authorise(request(test_cards::SUCCEEDS, "once"))
        .await
        .expect("succeeds");
    let again = provider
        .authorise(request(test_cards::SUCCEEDS, "once"))
        .await
        .expect("the stored answer");
    assert_eq!(again, first);

    let mut other = request(test_cards::SUCCEEDS, "once");
    other.amount = eur(9_999);
    let refused = provider.authorise(other).await;
    assert!(
        matches!(refused, Err(ProviderError::Rejected { status: 422, .. })),
        "{refused:?}"
    );
    sandbox.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_replayed_answer_says_so() {
    let sandbox = start().await;
    let url = sandbox
        .base_url()
        .join("v1/payment_intents")
        .expect("a URL");
    let body = json!({
        "amount": {"amount_minor": 100, "currency": "EUR"},
        "card_number": test_cards::SUCCEEDS,
        "reference": "order-9",
    });
    let client = reqwest::Client::new();
    let post = || {
        client
            .post(url.clone())
            .header("idempotency-key", "k-1")
            .json(&body)
            .send()
    };
    let first = post().await.expect("an answer");
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let second = post().await.expect("an answer");
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let (first, second): (Value, Value) = (
        first.json().await.expect("JSON"),
        second.json().await.expect("JSON"),
    );
    assert_eq!(first, second);
    sandbox.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn the_network_failure_card_succeeds_thanks_to_retries() {
    let sandbox = start().await;
    let provider = provider(&sandbox);
    let intent = provider
        .authorise(request(test_cards::NETWORK_FAILURE, "flaky"))
        .await
        .expect("the third attempt succeeds");
    assert_eq!(intent.status, IntentStatus::Succeeded);
    // Three attempts, one intent: the key made the retries safe.
    let again = provider
        .authorise(request(test_cards::NETWORK_FAILURE, "flaky"))
        .await
        .expect("the stored answer");
    assert_eq!(again.id, intent.id);
    sandbox.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn without_retries_the_network_failure_card_is_unavailable() {
    let sandbox = start().await;
    let mut config = HttpProviderConfig::default();
    config.dependency.retry.max_attempts = NonZeroU32::MIN;
    let provider = provider_with(&sandbox, config);
    for _ in 0..sandbox::NETWORK_FAILURES {
        let failed = provider
            .authorise(request(test_cards::NETWORK_FAILURE, "once-only"))
            .await;
        assert!(
            matches!(&failed, Err(ProviderError::Unavailable(message)) if message.contains("503")),
            "{failed:?}"
        );
    }
    // The caller's own retry, with the same key, gets through in the end.
    let intent = provider
        .authorise(request(test_cards::NETWORK_FAILURE, "once-only"))
        .await
        .expect("the third attempt succeeds");
    assert_eq!(intent.status, IntentStatus::Succeeded);
    sandbox.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_stopped_provider_is_unavailable() {
    let sandbox = start().await;
    let provider = provider(&sandbox);
    sandbox.stop().await.expect("a clean stop");
    let failed = provider
        .authorise(request(test_cards::SUCCEEDS, "too-late"))
        .await;
    assert!(
        matches!(failed, Err(ProviderError::Unavailable(_))),
        "{failed:?}"
    );
}

#[tokio::test]
async fn three_d_secure_requires_action_then_succeeds_on_confirm() {
    let sandbox = start().await;
    let provider = provider(&sandbox);
    let intent = provider
        .authorise(request(test_cards::REQUIRES_ACTION, "3ds"))
        .await
        .expect("an answer");
    let IntentStatus::RequiresAction { redirect_url } = &intent.status else {
        panic!("expected requires_action, got {:?}", intent.status);
    };
    let page = reqwest::get(redirect_url.as_str())
        .await
        .expect("the challenge page answers");
    assert_eq!(page.status(), StatusCode::OK);

    let confirmed = provider.confirm(&intent.id).await.expect("confirmed");
    assert_eq!(confirmed.status, IntentStatus::Succeeded);
    assert_eq!(confirmed.id, intent.id);
    assert_eq!(provider.get(&intent.id).await.expect("stored"), confirmed);
    // A retried confirm is harmless.
    assert_eq!(provider.confirm(&intent.id).await, Ok(confirmed));

    let declined = provider
        .authorise(request(test_cards::DECLINED, "3ds-declined"))
        .await
        .expect("an answer");
    let refused = provider.confirm(&declined.id).await;
    assert!(
        matches!(refused, Err(ProviderError::Rejected { status: 409, .. })),
        "{refused:?}"
    );
    sandbox.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn refunds_stop_at_the_amount_captured() {
    let sandbox = start().await;
    let provider = provider(&sandbox);
    let intent = provider
        .authorise(request(test_cards::SUCCEEDS, "refunds"))
        .await
        .expect("succeeds");

    let part = provider
        .refund(&intent.id, eur(1_000), "refund-1".into())
        .await
        .expect("a partial refund");
    assert_eq!((part.amount, &part.intent), (eur(1_000), &intent.id));
    let same = provider
        .refund(&intent.id, eur(1_000), "refund-1".into())
        .await
        .expect("the stored refund");
    assert_eq!(same.id, part.id);

    let too_much = provider
        .refund(&intent.id, eur(1_501), "refund-2".into())
        .await;
    assert!(
        matches!(&too_much, Err(ProviderError::Rejected { status: 422, message }) if message.contains("exceeds")),
        "{too_much:?}"
    );
    let after = provider.get(&intent.id).await.expect("stored");
    assert_eq!(after.status, IntentStatus::Succeeded);
    assert_eq!(after.amount_refunded, eur(1_000));

    provider
        .refund(&intent.id, eur(1_500), "refund-3".into())
        .await
        .expect("the rest");
    let refunded = provider.get(&intent.id).await.expect("stored");
    assert_eq!(refunded.status, IntentStatus::Refunded);
    assert_eq!(refunded.amount_refunded, eur(2_500));

    let other_currency = provider
        .refund(
            &intent.id,
            Money::from_minor(1, Currency::Usd),
            "r-4".into(),
        )
        .await;
    assert!(matches!(
        other_currency,
        Err(ProviderError::Rejected { status: 422, .. })
    ));
    sandbox.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn an_unknown_intent_is_reported_as_such() {
    let sandbox = start().await;
    let provider = provider(&sandbox);
    let nobody = IntentId::generate();
    assert_eq!(
        provider.get(&nobody).await,
        Err(ProviderError::UnknownIntent)
    );
    assert_eq!(
        provider.confirm(&nobody).await,
        Err(ProviderError::UnknownIntent)
    );
    assert_eq!(
        provider.refund(&nobody, eur(1), "r".into()).await,
        Err(ProviderError::UnknownIntent)
    );
    sandbox.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn errors_are_problem_documents_that_never_quote_a_card_number() {
    let sandbox = start().await;
    let url = sandbox
        .base_url()
        .join("v1/payment_intents")
        .expect("a URL");
    let client = reqwest::Client::new();
    let body = json!({
        "amount": {"amount_minor": 100, "currency": "EUR"},
        "card_number": "4111 1111 1111 1112",
        "reference": "order-1",
    });

    let no_key = client
        .post(url.clone())
        .json(&body)
        .send()
        .await
        .expect("an answer");
    assert_eq!(no_key.status(), StatusCode::BAD_REQUEST);
    assert_eq!(no_key.headers()["content-type"], shop_http::PROBLEM_JSON);

    let bad_card = client
        .post(url.clone())
        .header("idempotency-key", "k")
        .json(&body)
        .send()
        .await
        .expect("an answer");
    assert_eq!(bad_card.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = bad_card.text().await.expect("a body");
    assert!(!text.contains("1112"), "{text}");
    let problem: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(problem["errors"][0]["pointer"], "#/card_number");

    // A number where a string belongs: serde's message would quote it; ours does not.
    let wrong_shape = client
        .post(url)
        .header("idempotency-key", "k")
        .json(&json!({
            "amount": {"amount_minor": 100, "currency": "EUR"},
            "card_number": 4_111_111_111_111_111_u64,
            "reference": "order-1",
        }))
        .send()
        .await
        .expect("an answer");
    assert_eq!(wrong_shape.status(), StatusCode::BAD_REQUEST);
    let text = wrong_shape.text().await.expect("a body");
    assert!(!text.contains("4111111111111111"), "{text}");

    let unknown_route = reqwest::get(sandbox.base_url().join("v2/nothing").expect("a URL"))
        .await
        .expect("an answer");
    assert_eq!(unknown_route.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        unknown_route.headers()["content-type"],
        shop_http::PROBLEM_JSON
    );
    sandbox.stop().await.expect("a clean stop");
}

/// Everything logged at every level, by this crate and the HTTP stack under it, while the
/// client pays with every test card: no full card number anywhere, the last four digits yes.
///
/// A plain formatter, not shop-telemetry's redacting one: the point is that the code never
/// logs the number, not that a redactor would catch it. The test runs on a current-thread
/// runtime, so the thread-local subscriber sees the sandbox's tasks too.
#[tokio::test]
async fn card_numbers_never_reach_the_logs() {
    let captured = Captured::new();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sandbox = start().await;
    let provider = provider(&sandbox);
    let cards = [
        test_cards::SUCCEEDS,
        test_cards::DECLINED,
        test_cards::INSUFFICIENT_FUNDS,
        test_cards::REQUIRES_ACTION,
        test_cards::NETWORK_FAILURE,
    ];
    for (i, card) in cards.iter().enumerate() {
        let answer = provider.authorise(request(card, &format!("log-{i}"))).await;
        assert!(answer.is_ok(), "{answer:?}");
    }
    // The error paths log too: a key reused with another card.
    let reused = provider
        .authorise(request(test_cards::DECLINED, "log-0"))
        .await;
    assert!(reused.is_err());
    let request = request(test_cards::SUCCEEDS, "debug");
    let debug = format!("{request:?}");
    sandbox.stop().await.expect("a clean stop");

    let lines = captured.lines();
    assert!(!lines.is_empty(), "nothing was captured");
    for card in cards {
        let digits = card.replace(' ', "");
        for line in lines.iter().chain([&debug]) {
            assert!(
                !line.contains(&digits) && !line.contains(card),
                "a card number in: {line}"
            );
        }
        let masked = format!("**** {}", &digits[12..]);
        assert!(
            lines.iter().any(|line| line.contains(&masked)),
            "{masked} never logged"
        );
    }
}
