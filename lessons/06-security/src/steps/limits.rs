//! Steps 5 and 6: a token bucket per client; login throttling per account and per address.

use std::time::Duration;

use narrate::{Table, heading, say, show};
use reqwest::StatusCode;
use shop_http::TokenBucket;
use tokio::time::Instant;

use super::{API_BURST, API_PER_SECOND, Demo, StepError, demo_throttle_policy, expect};
use crate::client_ip::X_FORWARDED_FOR;
use crate::lab::DEMO_PASSWORD;
use crate::ratelimit::{FixedWindow, SlidingWindow};

pub async fn rate_limits(demo: &Demo) -> Result<(), StepError> {
    heading(5, "Rate limiting: a token bucket per client");
    say(format_args!(
        "GET /api/orders allows a burst of {API_BURST}, then {API_PER_SECOND} request a second, per \
         client address."
    ));
    say("The demo's client plays a load balancer (loopback is a trusted proxy), so it can send");
    say("requests on behalf of several addresses with x-forwarded-for.");
    let client = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("{}/api/orders", demo.lab.base_url());
    let mut table = Table::new([
        "#>",
        "client",
        "status",
        "ratelimit-remaining",
        "retry-after",
    ]);
    let mut limited = 0;
    let plan = (1..=8).map(|_| "203.0.113.50").chain(["198.51.100.7"]);
    for (n, ip) in plan.enumerate() {
        let response = client.get(&url).header(X_FORWARDED_FOR, ip).send().await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
        table.row([
            (n + 1).to_string(),
            ip.to_owned(),
            response.status().to_string(),
            header("ratelimit-remaining"),
            header("retry-after"),
        ]);
    }
    print!("{table}");
    expect(
        limited == 3,
        "requests 6 to 8 are refused",
        format!("{limited} refused"),
    )?;
    say("The ninth request comes from another address, whose bucket is full: limits are per key.");

    say("Why not count requests per minute? Ten allowed a minute, twenty requests around 1:00:");
    window_comparison();
    Ok(())
}

/// Ten requests at 0:59.5 and ten at 1:00.5, against three limiters of "10 a minute".
fn window_comparison() {
    let start = Instant::now();
    let minute = Duration::from_secs(60);
    let times: Vec<Instant> = (0..20)
        .map(|i| {
            let at = if i < 10 {
                59_500 + i * 10
            } else {
                60_500 + (i - 10) * 10
            };
            start + Duration::from_millis(at)
        })
        .collect();
    let mut fixed = FixedWindow::new(10, minute, start);
    let mut sliding = SlidingWindow::new(10, minute, start);
    // A bucket of 10 refilled at 10 a minute, full at the start like the others' empty windows.
    let mut bucket = TokenBucket::new(10, 10.0 / 60.0, start);
    let allowed =
        |hits: &mut dyn FnMut(Instant) -> bool| times.iter().filter(|&&t| hits(t)).count();
    let rows = [
        ("fixed window", allowed(&mut |t| fixed.try_hit(t))),
        (
            "sliding window counter",
            allowed(&mut |t| sliding.try_hit(t).is_ok()),
        ),
        ("token bucket", allowed(&mut |t| bucket.try_take(t).is_ok())),
    ];
    let mut table = Table::new(["limiter", "allowed of 20 within 1.1 s>"]);
    for (name, n) in rows {
        table.row([name.to_owned(), n.to_string()]);
    }
    print!("{table}");
    say("The fixed window resets at 1:00 and lets the second ten through: twice the limit in a");
    say("second. The sliding counter still counts the first ten (weighted by how much of the");
    say("last minute they cover), and so does the bucket, which had no time to refill.");
}

pub async fn login_throttling(demo: &Demo) -> Result<(), StepError> {
    heading(
        6,
        "Brute-force protection: login throttling per account and per address",
    );
    let policy = demo_throttle_policy();
    say(format_args!(
        "Per account: {} free failures, then a wait of {} ms doubling each time. Per address: {} \
         failures in {} min.",
        policy.free_failures,
        policy.base_delay.as_millis(),
        policy.ip_failures,
        policy.ip_window.as_secs() / 60
    ));
    let client = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("{}/login", demo.lab.base_url());
    let attempt = |ip: &'static str, user: String, password: &'static str| {
        let request = client
            .post(&url)
            .header(X_FORWARDED_FOR, ip)
            .json(&serde_json::json!({ "user": user, "password": password }));
        async move {
            let response = request.send().await?;
            let retry = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(|s| format!("retry-after {s}s"))
                .unwrap_or_default();
            let status = response.status();
            let detail = response.text().await?;
            let why = if detail.contains("this account") {
                "account locked"
            } else if detail.contains("your address") {
                "address throttled"
            } else {
                ""
            };
            Ok::<_, reqwest::Error>((status, format!("{why} {retry}").trim().to_owned()))
        }
    };

    say("Brute force: one address guesses ada's password as fast as it can.");
    let mut table = Table::new(["#>", "from", "account", "status", "why"]);
    let mut statuses = Vec::new();
    for n in 1..=7 {
        let (status, why) = attempt("203.0.113.7", "ada".into(), "guess").await?;
        statuses.push(status);
        table.row([
            n.to_string(),
            "203.0.113.7".into(),
            "ada".into(),
            status.to_string(),
            why,
        ]);
    }
    print!("{table}");
    expect(
        statuses[..4].iter().all(|s| *s == StatusCode::UNAUTHORIZED)
            && statuses[4..]
                .iter()
                .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "four wrong guesses, then the account is locked",
        format!("{statuses:?}"),
    )?;
    say("Locked attempts are refused before the password is checked, so guesses 5 to 7 learn");
    say("nothing. After the wait, ada (from her own address) signs in, which resets the count:");
    tokio::time::sleep(policy.base_delay + Duration::from_millis(50)).await;
    let (status, _) = attempt("192.0.2.44", "ada".into(), DEMO_PASSWORD).await?;
    show(format_args!(
        "ada, right password, from 192.0.2.44 → {status}"
    ));
    expect(
        status == StatusCode::OK,
        "the real user gets in after the wait",
        status.to_string(),
    )?;

    say("Credential stuffing: one address tries a leaked password once per account.");
    let mut table = Table::new(["#>", "from", "account", "status", "why"]);
    let mut throttled_at = None;
    for n in 1..=12 {
        let user = format!("customer{n:02}");
        let (status, why) = attempt("198.51.100.23", user.clone(), "Summer2024!").await?;
        if status == StatusCode::TOO_MANY_REQUESTS && throttled_at.is_none() {
            throttled_at = Some(n);
        }
        table.row([
            n.to_string(),
            "198.51.100.23".into(),
            user,
            status.to_string(),
            why,
        ]);
    }
    print!("{table}");
    expect(
        throttled_at == Some(policy.ip_failures as usize + 1),
        "the per-address window stops the spray",
        format!("{throttled_at:?}"),
    )?;
    say("No account failed twice, so no account brake fired; the per-address window did. An");
    say("attacker with a botnet spreads over thousands of addresses, which is why real systems");
    say("add signals (leaked-password checks, device fingerprints, CAPTCHAs, MFA) on top.");
    Ok(())
}
