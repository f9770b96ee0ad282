//! Step 1: structured, redacted logs.

use narrate::{heading, say, show};
use shop_telemetry::logs::{Format, REDACTED};
use shop_telemetry::setup::{self, Settings};
use tracing::{info, info_span, warn};

use super::{StepError, expect};
use narrate::demo::Unexpected;
use shop_telemetry::capture::Captured;

/// The secrets the logged event carries; none may reach a log line.
const SECRETS: [&str; 4] = [
    "hunter2",
    "ada.lovelace@example.com",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "4242 4242 4242 4242",
];

/// An order's journey, logged inside nested spans; the last event carries secrets.
fn log_an_order() {
    let request = info_span!(
        "request",
        request_id = "7f3a9c2e",
        user_id = tracing::field::Empty
    );
    let _request = request.enter();
    info!(route = "/orders", "order received");
    // Known only once the session is checked: recorded on the span later.
    request.record("user_id", 1042);
    let order = info_span!("order", order_id = "ord-2291");
    let _order = order.enter();
    info!(items = 3, total_cents = 4_599, "order placed");
    warn!(
        password = SECRETS[0],
        "payment retried for {} with Authorization: Bearer {} and card {}",
        SECRETS[1],
        SECRETS[2],
        SECRETS[3]
    );
}

pub fn logs() -> Result<(), StepError> {
    heading(1, "Structured logs: JSON lines, span context, redaction");
    say("The shop's subscriber (shop_telemetry::setup::subscriber), writing into memory, set");
    say("as the default for this step only (tracing::subscriber::with_default), logs an order:");
    let captured = Captured::new();
    let settings = Settings {
        service: "storefront".into(),
        format: Format::Json,
        default_filter: "info".into(),
        otlp_endpoint: None,
    };
    let (subscriber, _telemetry) = setup::subscriber(&settings, captured.clone())?;
    tracing::subscriber::with_default(subscriber, log_an_order);

    let lines = captured.lines();
    expect(
        lines.len() == 3,
        "three log lines (RUST_LOG, if set, must let INFO through)",
        format!("{} lines", lines.len()),
    )?;
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| Unexpected {
            expected: "one JSON object per line",
            got: format!("{e}: {line}"),
        })?;
        println!();
        for pretty in serde_json::to_string_pretty(&value)
            .unwrap_or_else(|_| line.clone())
            .lines()
        {
            show(pretty);
        }
    }
    let all = lines.join("\n");
    for secret in SECRETS {
        expect(!all.contains(secret), "no secret in any log line", secret)?;
    }
    expect(
        all.contains(REDACTED)
            && all.contains("[card ending 4242]")
            && all.contains("a***@example.com"),
        "the redactions to show",
        all.clone(),
    )?;
    expect(
        lines
            .iter()
            .skip(1)
            .all(|l| l.contains("\"order_id\"") || l.contains("\"user_id\"")),
        "span fields on the lines logged inside the spans",
        all.clone(),
    )?;
    println!();
    say("Each line is one JSON object: a log search can filter on any field. The fields of");
    say("the spans around an event (request_id, user_id, order_id) are on every line logged");
    say("inside them, without each event repeating them; user_id was recorded on the span");
    say("after the first line, so only the later lines carry it.");
    say("The last event carried four secrets, and the redacting layer caught each before");
    say("anything was written:");
    show(format_args!(
        "password field     withheld whole ({REDACTED}): its name says secret"
    ));
    show("email address      a***@example.com: enough to tell users apart, not to mail one");
    show(format_args!(
        "bearer token       Bearer {REDACTED}: a token in a log index is a stolen session"
    ));
    show("card number        [card ending 4242]: PCI DSS forbids storing the full number");
    say("The message text was scrubbed too: redaction looks at values, not only field names.");
    Ok(())
}
