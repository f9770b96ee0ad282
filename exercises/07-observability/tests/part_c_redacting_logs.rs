//! Part (c): the redacting JSON log layer.
//!
//! Run with `cargo test -p exercise-07 part_c`. Each test installs the layer for the length
//! of a closure (`tracing::subscriber::with_default`), logs into a `MemoryWriter`, and reads
//! the lines back with serde_json. The last tests call `redact_text` and `is_secret_name`
//! directly, rule by rule, then on generated text.

use exercise_07::{
    MemoryWriter, REDACTED, RedactingJsonLayer, SECRET_NAMES, is_secret_name, redact_text,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use tracing::field::Empty;
use tracing::{debug, error, info, info_span, trace, warn};
use tracing_subscriber::layer::SubscriberExt;

/// Runs `body` with the layer installed; returns every line it wrote, parsed, and the raw text.
fn log_text(body: impl FnOnce()) -> (Vec<Value>, String) {
    let writer = MemoryWriter::new();
    let subscriber = tracing_subscriber::registry().with(RedactingJsonLayer::new(writer.clone()));
    tracing::subscriber::with_default(subscriber, body);
    let text = writer.contents();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "every line ends with a newline: {text:?}"
    );
    let lines = text
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"))
        })
        .collect();
    (lines, text)
}

fn log(body: impl FnOnce()) -> Vec<Value> {
    log_text(body).0
}

// ---- the shape of a line ----

#[test]
fn an_event_is_one_line_of_json_with_level_target_message_and_fields() {
    let lines = log(|| {
        info!(target: "shop::orders", order_id = "o-7", items = 3, "order placed");
    });
    assert_eq!(
        lines,
        [json!({
            "level": "INFO",
            "target": "shop::orders",
            "message": "order placed",
            "fields": {"order_id": "o-7", "items": 3},
        })],
        "outside any span there is no `span` and no `spans`"
    );
}

#[test]
fn every_event_is_its_own_line_at_its_own_level() {
    let lines = log(|| {
        error!(target: "t", "one");
        warn!(target: "t", "two");
        info!(target: "t", "three");
        debug!(target: "t", "four");
        trace!(target: "t", "five");
    });
    let levels: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["level"].as_str().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        levels,
        [
            ("ERROR", "one"),
            ("WARN", "two"),
            ("INFO", "three"),
            ("DEBUG", "four"),
            ("TRACE", "five"),
        ]
    );
    assert!(
        lines
            .iter()
            .all(|l| l["target"] == "t" && l.get("fields").is_none())
    );
}

#[test]
fn values_keep_their_json_types() {
    let lines = log(|| {
        let failure = std::io::Error::other("the database went away");
        info!(
            target: "t",
            delta = -4,
            stock = 18_u64,
            price = 12.5,
            in_stock = true,
            name = "mug",
            owned = String::from("kept"),
            skus = ?vec!["A-1", "B-2"],
            shown = %"as displayed",
            error = &failure as &(dyn std::error::Error + 'static),
            "typed"
        );
    });
    assert_eq!(
        lines[0]["fields"],
        json!({
            "delta": -4,
            "stock": 18,
            "price": 12.5,
            "in_stock": true,
            "name": "mug",
            "owned": "kept",
            "skus": "[\"A-1\", \"B-2\"]",
            "shown": "as displayed",
            "error": "the database went away",
        })
    );
    assert_eq!(lines[0]["message"], "typed");
}

#[test]
fn an_event_without_a_message_has_no_message_key() {
    let lines = log(|| info!(target: "t", order_id = "o-1"));
    assert_eq!(
        lines,
        [json!({"level": "INFO", "target": "t", "fields": {"order_id": "o-1"}})]
    );
}

#[test]
fn a_message_with_arguments_is_the_formatted_text() {
    let lines = log(|| {
        let n = 3;
        info!(target: "t", "placed {n} orders in {} ms", 12);
    });
    assert_eq!(lines[0]["message"], "placed 3 orders in 12 ms");
}

// ---- spans ----

#[test]
fn a_line_has_the_fields_and_names_of_its_spans_outermost_first() {
    let lines = log(|| {
        let request = info_span!("request", request_id = "r-1");
        let _request = request.enter();
        let checkout = info_span!("checkout", user_id = "u-42");
        let _checkout = checkout.enter();
        info!(target: "t", order_id = "o-7", "order placed");
    });
    assert_eq!(
        lines,
        [json!({
            "level": "INFO",
            "target": "t",
            "message": "order placed",
            "fields": {"order_id": "o-7"},
            "span": {"request_id": "r-1", "user_id": "u-42"},
            "spans": ["request", "checkout"],
        })]
    );
}

#[test]
fn a_grandparent_spans_field_is_there_and_a_closed_spans_is_not() {
    let lines = log(|| {
        let request = info_span!("request", request_id = "r-9");
        let _request = request.enter();
        {
            let checkout = info_span!("checkout", user_id = "u-1");
            let _checkout = checkout.enter();
            let payment = info_span!("payment", order_id = "o-3");
            let _payment = payment.enter();
            info!(target: "t", "charging");
        }
        info!(target: "t", "done");
    });
    assert_eq!(
        lines[0]["span"],
        json!({"request_id": "r-9", "user_id": "u-1", "order_id": "o-3"})
    );
    assert_eq!(lines[0]["spans"], json!(["request", "checkout", "payment"]));
    assert_eq!(lines[1]["span"], json!({"request_id": "r-9"}));
    assert_eq!(lines[1]["spans"], json!(["request"]));
}

#[test]
fn an_inner_spans_field_wins_over_an_outer_ones() {
    let lines = log(|| {
        let outer = info_span!("request", user_id = "anonymous", request_id = "r-2");
        let _outer = outer.enter();
        let inner = info_span!("signed_in", user_id = "u-42");
        let _inner = inner.enter();
        info!(target: "t", "hello");
    });
    assert_eq!(
        lines[0]["span"],
        json!({"user_id": "u-42", "request_id": "r-2"})
    );
}

#[test]
fn a_span_without_fields_is_named_but_adds_none() {
    let lines = log(|| {
        let span = info_span!("background");
        let _span = span.enter();
        info!(target: "t", "tick");
    });
    assert_eq!(
        lines,
        [json!({"level": "INFO", "target": "t", "message": "tick", "spans": ["background"]})]
    );
}

#[test]
fn fields_recorded_after_the_span_was_made_appear_and_are_redacted() {
    let lines = log(|| {
        let span = info_span!(
            "request",
            request_id = "r-5",
            user_id = Empty,
            session_token = Empty
        );
        let _span = span.enter();
        info!(target: "t", "before");
        span.record("user_id", "ada@example.com");
        span.record("session_token", "s-123");
        info!(target: "t", "after");
        span.record("user_id", "u-7");
        info!(target: "t", "changed");
    });
    assert_eq!(
        lines[0]["span"],
        json!({"request_id": "r-5"}),
        "an Empty field has no value yet"
    );
    assert_eq!(
        lines[1]["span"],
        json!({"request_id": "r-5", "user_id": "a***@example.com", "session_token": REDACTED})
    );
    assert_eq!(
        lines[2]["span"]["user_id"], "u-7",
        "recorded again, replaced"
    );
}

// ---- redaction in the log ----

#[test]
fn a_field_named_for_a_secret_is_redacted_whatever_its_case_and_type() {
    let (lines, text) = log_text(|| {
        info!(
            target: "t",
            Password = "hunter2",
            new_password = "hunter3",
            API_KEY = "k-123",
            authorization = "Basic dXNlcjpwYXNz",
            Session_Token = "st-9",
            cookie = "sid=abc",
            card_number = 4_111_111_111_111_111_u64,
            client_secret = true,
            user_id = "u-1",
            "signing in"
        );
    });
    assert_eq!(
        lines[0]["fields"],
        json!({
            "Password": REDACTED,
            "new_password": REDACTED,
            "API_KEY": REDACTED,
            "authorization": REDACTED,
            "Session_Token": REDACTED,
            "cookie": REDACTED,
            "card_number": REDACTED,
            "client_secret": REDACTED,
            "user_id": "u-1",
        })
    );
    for leak in [
        "hunter",
        "k-123",
        "dXNlcjpwYXNz",
        "st-9",
        "sid=abc",
        "4111111111111111",
    ] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
}

#[test]
fn a_secret_in_a_span_field_is_redacted_too() {
    let (lines, text) = log_text(|| {
        let request = info_span!(
            "request",
            Authorization = "Bearer abc.def",
            request_id = "r-1"
        );
        let _request = request.enter();
        let call = info_span!("call", api_key = "k-777", peer = "inventory");
        let _call = call.enter();
        info!(target: "t", "calling");
    });
    assert_eq!(
        lines[0]["span"],
        json!({
            "Authorization": REDACTED,
            "request_id": "r-1",
            "api_key": REDACTED,
            "peer": "inventory",
        })
    );
    assert!(
        !text.contains("abc.def") && !text.contains("k-777"),
        "{text}"
    );
}

#[test]
fn a_secret_in_the_message_text_is_masked() {
    let (lines, text) = log_text(|| {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3In0.c2ln";
        warn!(
            target: "t",
            "upstream refused Bearer {token} for grace.hopper@navy.mil, card 4111 1111 1111 1111"
        );
    });
    assert_eq!(
        lines[0]["message"],
        "upstream refused Bearer [redacted] for g***@navy.mil, card **** **** **** 1111"
    );
    for leak in ["eyJhbGciOiJIUzI1NiJ9", "grace.hopper", "4111 1111 1111"] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
}

#[test]
fn values_are_scrubbed_in_event_and_span_fields_however_recorded() {
    let lines = log(|| {
        let span = info_span!(
            "request",
            user = "ada@example.com",
            header = "bearer abc123"
        );
        let _span = span.enter();
        info!(
            target: "t",
            note = format!("paid with 5500-0000-0000-0004 by ada@example.com"),
            contact = ?Some("ada@example.com"),
            shown = %"card 4111111111111111",
            "paid"
        );
    });
    assert_eq!(
        lines[0]["fields"],
        json!({
            "note": "paid with ****-****-****-0004 by a***@example.com",
            "contact": "Some(\"a***@example.com\")",
            "shown": "card ************1111",
        })
    );
    assert_eq!(
        lines[0]["span"],
        json!({"user": "a***@example.com", "header": "bearer [redacted]"})
    );
}

#[test]
fn an_error_value_is_scrubbed() {
    let lines = log(|| {
        let failure = std::io::Error::other("no account for ada@example.com");
        error!(target: "t", error = &failure as &(dyn std::error::Error + 'static), "lookup");
    });
    assert_eq!(
        lines[0]["fields"]["error"],
        "no account for a***@example.com"
    );
}

// ---- the rules, one at a time ----

#[test]
fn secret_names_are_matched_inside_names_and_in_any_case() {
    for name in SECRET_NAMES {
        assert!(is_secret_name(name), "{name}");
        assert!(is_secret_name(&name.to_uppercase()), "{name} in upper case");
        assert!(
            is_secret_name(&format!("x_{name}_2")),
            "{name} inside a name"
        );
    }
    for name in [
        "Password",
        "new_password",
        "X_API_KEY",
        "refresh_Token",
        "Set_Cookie",
    ] {
        assert!(is_secret_name(name), "{name}");
    }
    for name in [
        "user_id",
        "order_id",
        "message",
        "email",
        "request_id",
        "pass",
        "key",
        "api",
        "card",
    ] {
        assert!(!is_secret_name(name), "{name} is not a secret's name");
    }
}

#[test]
fn bearer_tokens_are_replaced_whatever_the_case_of_bearer() {
    for (text, expected) in [
        ("Bearer abc", "Bearer [redacted]"),
        ("bearer abc def", "bearer [redacted] def"),
        ("BEARER\tabc", "BEARER\t[redacted]"),
        (
            "Authorization: Bearer eyJ.x.y done",
            "Authorization: Bearer [redacted] done",
        ),
        ("Bearer  two-spaces", "Bearer  [redacted]"),
        (
            "Bearer a, then Bearer b",
            "Bearer [redacted] then Bearer [redacted]",
        ),
        ("Bearer", "Bearer"),
        ("Bearer ", "Bearer "),
        ("a Bearer\n", "a Bearer\n"),
        (
            "Bearer:abc and bearerish talk",
            "Bearer:abc and bearerish talk",
        ),
    ] {
        assert_eq!(redact_text(text), expected, "{text:?}");
    }
}

#[test]
fn sixteen_digit_card_numbers_keep_their_last_four() {
    for (text, expected) in [
        ("4111 1111 1111 1111", "**** **** **** 1111"),
        ("4111-1111-1111-1234", "****-****-****-1234"),
        ("5500000000000004", "************0004"),
        (
            "paid with 4111 1111-1111 1111.",
            "paid with **** ****-**** 1111.",
        ),
        (
            "a 4111111111111111 b 5500 0000 0000 0004",
            "a ************1111 b **** **** **** 0004",
        ),
        ("x4111111111111111y", "x************1111y"),
        ("4111111111111111 and 17", "************1111 and 17"),
    ] {
        assert_eq!(redact_text(text), expected, "{text:?}");
    }
}

#[test]
fn digit_runs_of_other_lengths_are_left_alone() {
    for text in [
        "411111111111111",
        "41111111111111111",
        "1234 5678 9012 3456 7890",
        "4111  1111 1111 1111",
        "4111 -1111 1111 1111",
        "order 1234567890 placed at 2024-06-01 12:30",
        "4111 1111 1111 111-",
    ] {
        assert_eq!(redact_text(text), text, "{text:?}");
    }
}

#[test]
fn emails_keep_their_first_character_and_domain() {
    for (text, expected) in [
        ("ada@example.com", "a***@example.com"),
        ("grace.hopper@navy.mil", "g***@navy.mil"),
        (
            "mailto:ada.l+shop@mail.example.co.uk,",
            "mailto:a***@mail.example.co.uk,",
        ),
        ("\"ada@example.com\"", "\"a***@example.com\""),
        (
            "from ada@example.com to bob_2@shop-1.example",
            "from a***@example.com to b***@shop-1.example",
        ),
        ("write to ada@example.com.", "write to a***@example.com."),
        ("x@y.z", "x***@y.z"),
        ("a@b.io@c.io", "a***@b.io@c.io"),
        ("a@b.io_c@d.io", "a***@b.io_***@d.io"),
        ("x@a.io.@b.io", "x***@a.io.***@b.io"),
    ] {
        assert_eq!(redact_text(text), expected, "{text:?}");
    }
}

#[test]
fn what_is_not_an_email_is_left_alone() {
    for text in [
        "user@localhost",
        "an @ sign alone",
        "@example.com",
        "ada@",
        "ada@.com",
        "ada@example.",
        "@@",
        "a@b",
        "x@y@a.b",
    ] {
        assert_eq!(redact_text(text), text, "{text:?}");
    }
}

#[test]
fn ordinary_text_is_left_alone() {
    for text in [
        "GET /products/42 answered 200 in 3 ms",
        "version 1.2.3, build 20240601",
        "",
        "naïve café ☕ 123",
    ] {
        assert_eq!(redact_text(text), text, "{text:?}");
    }
}

// ---- properties ----

fn card_with_separators() -> impl Strategy<Value = (String, String)> {
    (
        prop::collection::vec(0u8..10, 16),
        prop::collection::vec(prop::sample::select(vec!["", "", " ", "-"]), 15),
    )
        .prop_map(|(digits, separators)| {
            let mut card = String::new();
            let mut masked = String::new();
            for (i, digit) in digits.iter().enumerate() {
                card.push(char::from(b'0' + digit));
                masked.push(if i < 12 {
                    '*'
                } else {
                    char::from(b'0' + digit)
                });
                if let Some(separator) = separators.get(i) {
                    card.push_str(separator);
                    masked.push_str(separator);
                }
            }
            (card, masked)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn redact_text_never_panics_and_masking_twice_changes_nothing(text in any::<String>()) {
        let once = redact_text(&text);
        prop_assert_eq!(redact_text(&once), once);
    }

    #[test]
    fn masking_twice_changes_nothing_on_text_full_of_near_misses(
        text in "([a-z0-9]{1,4}|@|@|\\.|_|-| |Bearer |[0-9]{4}[ -]?){0,14}"
    ) {
        let once = redact_text(&text);
        prop_assert_eq!(redact_text(&once), once);
    }

    #[test]
    fn text_with_nothing_to_mask_is_unchanged(text in "[A-Za-z .,:;!?'()/_é-]{0,40}") {
        prop_assume!(!text.to_lowercase().contains("bearer"));
        prop_assert_eq!(redact_text(&text), text);
    }

    #[test]
    fn a_card_number_anywhere_in_text_is_masked_to_its_last_four(
        before in "[a-z:,]{0,8} ?",
        (card, masked) in card_with_separators(),
        after in " ?[a-z.,]{0,8}",
    ) {
        prop_assume!(!format!("{before}{after}").contains("bearer"));
        let text = format!("{before}{card}{after}");
        prop_assert_eq!(redact_text(&text), format!("{before}{masked}{after}"));
    }
}
