//! XSS, SSRF and CSRF: each vulnerable endpoint really is vulnerable, each fixed one really
//! blocks, and the legitimate request still works on both.
//!
//! `cargo test -p lesson-06 --test web`

mod common;

use common::{TestLab, client};
use lesson_06::attack::{AttackRow, AttackScript, Verdict};
use lesson_06::ssrf::{FetchRefused, Resolver, SafeFetcher};

fn assert_pairs(rows: &[AttackRow], expected: usize) {
    assert_eq!(rows.len(), expected);
    for row in rows {
        if row.attack.starts_with("(control)") {
            assert_eq!(row.vulnerable.verdict, Verdict::Served, "{row:?}");
            assert_eq!(row.fixed.verdict, Verdict::Served, "{row:?}");
        } else {
            assert_eq!(row.vulnerable.verdict, Verdict::GotThrough, "{row:?}");
            assert_eq!(row.fixed.verdict, Verdict::Blocked, "{row:?}");
        }
    }
}

#[tokio::test]
async fn stored_xss_runs_on_the_raw_page_and_is_inert_on_the_escaped_one() {
    let lab = TestLab::start(None).await;
    let rows = AttackScript::new(lab.server.base_url())
        .unwrap()
        .xss()
        .await
        .unwrap();
    assert_pairs(&rows, 3);

    let fixed = client()
        .get(lab.url("/fixed/comments"))
        .send()
        .await
        .unwrap();
    let csp = fixed.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let page = fixed.text().await.unwrap();
    assert!(
        page.contains("&lt;script&gt;fetch("),
        "the text is shown, not dropped"
    );
}

#[tokio::test]
async fn ssrf_reaches_the_secret_four_ways_and_the_safe_fetcher_refuses_each() {
    let lab = TestLab::start(None).await;
    let rows = AttackScript::new(lab.server.base_url())
        .unwrap()
        .ssrf(&lab.services)
        .await
        .unwrap();
    assert_pairs(&rows, 5);
    let reasons: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r.fixed.evidence.as_str())
        .collect();
    assert!(reasons[0].contains("not on the allow-list"), "{reasons:?}");
    assert!(reasons[1].contains("user name or password"), "{reasons:?}");
    assert!(reasons[2].contains("redirect"), "{reasons:?}");
    assert!(reasons[3].contains("loopback"), "{reasons:?}");
}

#[tokio::test]
async fn the_safe_fetcher_refuses_other_schemes_and_ip_literals() {
    let fetcher = SafeFetcher {
        allowed_hosts: vec!["images.shop.test".into()],
        internal_exceptions: vec![],
        resolver: Resolver::Static(Default::default()),
    };
    for (url, expected) in [
        ("file:///etc/passwd", "scheme file"),
        ("gopher://images.shop.test/", "scheme gopher"),
        ("http://[::1]/", "[::1] is not on the allow-list"),
        (
            "http://169.254.169.254/latest/",
            "169.254.169.254 is not on",
        ),
        ("http://images.shop.test/", "did not resolve"),
    ] {
        let refused = fetcher.fetch(url).await.unwrap_err();
        assert!(refused.to_string().contains(expected), "{url}: {refused}");
        assert_ne!(
            refused.status(),
            502,
            "{url}: a refusal, not an upstream failure"
        );
    }
    assert!(matches!(
        fetcher.fetch("not a url").await,
        Err(FetchRefused::BadUrl(_))
    ));
}

#[tokio::test]
async fn csrf_forgeries_change_the_email_only_on_the_vulnerable_form() {
    let lab = TestLab::start(None).await;
    let rows = AttackScript::new(lab.server.base_url())
        .unwrap()
        .csrf()
        .await
        .unwrap();
    assert_pairs(&rows, 3);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site() {
    let lab = TestLab::start(None).await;
    let response = client()
        .post(lab.url("/session"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=ada")
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
}

#[tokio::test]
async fn without_postgres_the_sql_routes_say_so_with_503() {
    let lab = TestLab::start(None).await;
    for side in ["vulnerable", "fixed"] {
        let response = client()
            .get(lab.url(&format!("/{side}/products?name=mug")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("cargo xtask services up")
        );
    }
}
