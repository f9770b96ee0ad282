//! The demo's HTTP client: sends requests with `reqwest` and prints each exchange, with every
//! secret cut short.
//!
//! What this module shows: what a client sees. It also practises the rule the lesson preaches:
//! a password in a request body prints as `•••`, and tokens and keys print as their first
//! characters only, enough to tell them apart and not enough to use them.
//!
//! Run the tests with `cargo test -p lesson-04 client`.

use std::fmt::Write as _;
use std::time::Duration;

use axum::body::Bytes;
use narrate::truncate;
use reqwest::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

/// How many characters of a token or key are printed.
pub const SHOWN_CHARS: usize = 16;

/// Why an exchange did not happen or its body could not be read.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("{method} {path} failed")]
    Request {
        method: Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the body of {path} is not the JSON expected")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("could not build the HTTP client")]
    Build(#[source] reqwest::Error),
}

/// A base URL and a connection pool.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base_url: String,
}

/// One request and its response.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: Method,
    pub path: String,
    pub bearer: Option<String>,
    pub request_body: Option<Value>,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiClient {
    pub fn new(base_url: impl Into<String>) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(ClientError::Build)?;
        Ok(Self {
            http,
            base_url: base_url.into(),
        })
    }

    /// Sends `method path`, with a bearer credential and a JSON body if given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<Exchange, ClientError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url));
        if let Some(credential) = bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {credential}"));
        }
        if let Some(body) = &body {
            request = request.json(body);
        }
        let failed = |source| ClientError::Request {
            method: method.clone(),
            path: path.to_owned(),
            source,
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body_bytes = response.bytes().await.map_err(failed)?;
        Ok(Exchange {
            method,
            path: path.to_owned(),
            bearer: bearer.map(str::to_owned),
            request_body: body,
            status,
            headers,
            body: body_bytes,
        })
    }
}

impl Exchange {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|source| ClientError::Decode {
            path: self.path.clone(),
            source,
        })
    }

    /// The `detail` of a problem document, if the body is one.
    pub fn detail(&self) -> Option<String> {
        let value: Value = serde_json::from_slice(&self.body).ok()?;
        Some(value.get("detail")?.as_str()?.to_owned())
    }

    /// The exchange in full: request line, credential, body; status and body.
    pub fn render(&self) -> String {
        let mut out = self.request_line();
        let _ = writeln!(out, "    ← {}", status_text(self.status));
        if let Some(challenge) = self.headers.get(WWW_AUTHENTICATE)
            && let Ok(challenge) = challenge.to_str()
        {
            let _ = writeln!(out, "      www-authenticate: {challenge}");
        }
        if let Ok(value) = serde_json::from_slice::<Value>(&self.body) {
            let text = serde_json::to_string_pretty(&redact(value)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for line in lines.iter().take(14) {
                let _ = writeln!(out, "      {}", truncate(line, 100));
            }
            if lines.len() > 14 {
                let _ = writeln!(out, "      … ({} more lines)", lines.len() - 14);
            }
        }
        out
    }

    /// Two lines: the request, and the status with a problem's detail.
    pub fn render_brief(&self) -> String {
        let mut out = self.request_line();
        let _ = write!(out, "    ← {}", status_text(self.status));
        if let Some(detail) = self.detail() {
            let _ = write!(out, ": {}", truncate(&detail, 90));
        }
        out.push('\n');
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }

    pub fn print_brief(&self) {
        print!("{}", self.render_brief());
    }

    fn request_line(&self) -> String {
        let mut line = format!("    → {} {}", self.method, self.path);
        if let Some(credential) = &self.bearer {
            let _ = write!(line, "  [Bearer {}]", short(credential));
        }
        if let Some(body) = &self.request_body {
            let _ = write!(
                line,
                "  {}",
                truncate(&redact(body.clone()).to_string(), 90)
            );
        }
        line.push('\n');
        line
    }
}

fn status_text(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_str(),
        status.canonical_reason().unwrap_or_default()
    )
}

/// The first [`SHOWN_CHARS`] characters of a secret, and an ellipsis.
pub fn short(secret: &str) -> String {
    truncate(secret, SHOWN_CHARS + 1)
}

/// Members that hold secrets, and how they are printed.
fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = match (key.as_str(), value) {
                        ("password", _) => Value::from("•••"),
                        (
                            "access_token" | "refresh_token" | "key" | "id_token",
                            Value::String(s),
                        ) => Value::from(short(&s)),
                        (_, other) => redact(other),
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_never_printed_whole() {
        let long = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.signature";
        let exchange = Exchange {
            method: Method::POST,
            path: "/auth/login".into(),
            bearer: Some(long.into()),
            request_body: Some(json!({"email": "a@b.test", "password": "correct horse battery"})),
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from(json!({"access_token": long, "refresh_token": long}).to_string()),
        };
        let printed = exchange.render();
        assert!(!printed.contains("horse"), "{printed}");
        assert!(!printed.contains(long), "{printed}");
        assert!(printed.contains("eyJhbGciOiJIUzI1…"), "{printed}");
    }
}
