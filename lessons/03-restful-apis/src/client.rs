//! The narrating client: sends real HTTP requests with `reqwest` and prints each exchange.
//!
//! What this module shows: an API seen from the outside, the way `curl -i` shows it. Every
//! [`Exchange`] keeps the status, protocol version, headers and raw body bytes, so the demo can
//! print them and check them; [`Exchange::print`] writes the request line, the status, a few
//! headers worth seeing and the body, pretty-printed and cut to a readable length.
//!
//! Run the tests with `cargo test -p lesson-03 client`.

use std::fmt::Write as _;
use std::time::Duration;

use axum::body::Bytes;
use narrate::truncate;
use reqwest::header::{
    ALLOW, CONNECTION, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION,
};
use reqwest::{Method, StatusCode, Version};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shop_http::{PROBLEM_JSON, Problem};
use thiserror::Error;

/// Body lines printed before the rest is cut.
const MAX_BODY_LINES: usize = 24;
/// Characters of a request body printed (it is shown on one line).
const MAX_REQUEST_CHARS: usize = 100;
/// Headers printed whenever a response has them: each tells a step of the demo's story.
const ALWAYS_SHOWN: [HeaderName; 4] = [LOCATION, ALLOW, CONTENT_ENCODING, CONNECTION];

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
    #[error("the body for {path} could not be encoded as JSON")]
    Encode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("could not build the HTTP client")]
    Build(#[source] reqwest::Error),
}

/// A base URL and a `reqwest::Client`, whose connection pool is what keep-alive reuses.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base_url: String,
}

// ANCHOR: protocols
/// The kinds of client the demo compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1, idle connections kept for reuse (keep-alive).
    Http1KeepAlive,
    /// HTTP/1.1, a new connection for every request.
    Http1NoReuse,
    /// HTTP/2 over cleartext TCP, "prior knowledge": no upgrade dance, the client opens with
    /// the HTTP/2 preface because it knows the server speaks it.
    Http2PriorKnowledge,
}

impl ApiClient {
    pub fn new(base_url: impl Into<String>, protocol: Protocol) -> Result<Self, ClientError> {
        let builder = reqwest::Client::builder()
            // Loopback must never go through an HTTP proxy set in the environment.
            .no_proxy()
            .timeout(Duration::from_secs(30));
        let builder = match protocol {
            Protocol::Http1KeepAlive => builder.http1_only(),
            Protocol::Http1NoReuse => builder.http1_only().pool_max_idle_per_host(0),
            Protocol::Http2PriorKnowledge => builder.http2_prior_knowledge(),
        };
        Ok(Self {
            http: builder.build().map_err(ClientError::Build)?,
            base_url: base_url.into(),
        })
    }

    // ANCHOR_END: protocols

    /// Starts a request to `path` (and query) on the server.
    pub fn request(&self, method: Method, path: impl Into<String>) -> Call<'_> {
        Call {
            client: self,
            method,
            path: path.into(),
            headers: HeaderMap::new(),
            body: None,
        }
    }

    pub fn get(&self, path: impl Into<String>) -> Call<'_> {
        self.request(Method::GET, path)
    }
}

/// A request being put together; `send` sends it.
#[derive(Debug)]
pub struct Call<'a> {
    client: &'a ApiClient,
    method: Method,
    path: String,
    headers: HeaderMap,
    /// The body, or why it could not be encoded (reported by `send`, which returns errors).
    body: Option<Result<Vec<u8>, serde_json::Error>>,
}

impl Call<'_> {
    /// A JSON body, with `content-type: application/json`.
    pub fn json(mut self, body: &impl Serialize) -> Self {
        self.body = Some(serde_json::to_vec(body));
        self.header(CONTENT_TYPE, "application/json")
    }

    /// Raw body bytes, sent as they are.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some(Ok(bytes.into()));
        self
    }

    pub fn header(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.insert(name, HeaderValue::from_static(value));
        self
    }

    pub async fn send(self) -> Result<Exchange, ClientError> {
        let url = format!("{}{}", self.client.base_url, self.path);
        let mut request = self
            .client
            .http
            .request(self.method.clone(), url)
            .headers(self.headers);
        let request_body = self
            .body
            .transpose()
            .map_err(|source| ClientError::Encode {
                path: self.path.clone(),
                source,
            })?;
        if let Some(body) = &request_body {
            request = request.body(body.clone());
        }
        let failed = |source| ClientError::Request {
            method: self.method.clone(),
            path: self.path.clone(),
            source,
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        let version = response.version();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(failed)?;
        Ok(Exchange {
            method: self.method,
            path: self.path,
            request_body,
            status,
            version,
            headers,
            body,
        })
    }
}

/// One request and its response.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: Method,
    pub path: String,
    pub request_body: Option<Vec<u8>>,
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// The body as it came over the wire (still compressed if `content-encoding` says so).
    pub body: Bytes,
}

impl Exchange {
    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|source| ClientError::Decode {
            path: self.path.clone(),
            source,
        })
    }

    /// The body as a problem document, if it is one.
    pub fn problem(&self) -> Option<Problem> {
        let content_type = self.header(CONTENT_TYPE)?;
        content_type
            .starts_with(PROBLEM_JSON)
            .then(|| self.json().ok())
            .flatten()
    }

    /// A header's value as text.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// Prints the exchange with the headers always worth seeing plus `extra`.
    pub fn print(&self, extra: &[HeaderName]) {
        print!("{}", self.render(extra));
    }

    /// Prints the request line and the status, and a problem's `detail`, on two lines.
    pub fn print_brief(&self) {
        print!("{}", self.render_brief());
    }

    /// The printed form, indented for the demo's output.
    pub fn render(&self, extra: &[HeaderName]) -> String {
        let mut out = self.request_line();
        let _ = writeln!(
            out,
            "    ← {} ({:?}, {} bytes)",
            self.status_text(),
            self.version,
            self.body.len()
        );
        for name in self.headers_to_show(extra) {
            self.render_header(&mut out, &name);
        }
        for line in body_lines(&self.body, self.header(CONTENT_ENCODING).is_some()) {
            let _ = writeln!(out, "      {line}");
        }
        out
    }

    /// The brief form: request line, status and a problem's detail, and the headers always
    /// worth seeing.
    pub fn render_brief(&self) -> String {
        let mut out = self.request_line();
        let _ = write!(out, "    ← {}", self.status_text());
        if let Some(detail) = self.problem().and_then(|problem| problem.detail) {
            let _ = write!(out, ": {}", truncate(&detail, 100));
        }
        out.push('\n');
        for name in &ALWAYS_SHOWN {
            self.render_header(&mut out, name);
        }
        out
    }

    /// Prints the request line, the status and the headers, but not the body.
    pub fn print_head(&self, extra: &[HeaderName]) {
        let mut out = self.request_line();
        let _ = writeln!(out, "    ← {} ({:?})", self.status_text(), self.version);
        for name in self.headers_to_show(extra) {
            self.render_header(&mut out, &name);
        }
        print!("{out}");
    }

    fn render_header(&self, out: &mut String, name: &HeaderName) {
        for value in self.headers.get_all(name) {
            let _ = writeln!(
                out,
                "      {name}: {}",
                value.to_str().unwrap_or("<not text>")
            );
        }
    }

    fn request_line(&self) -> String {
        let mut line = format!("    → {} {}", self.method, self.path);
        if let Some(body) = &self.request_body {
            let _ = write!(line, "  {}", one_line(body, MAX_REQUEST_CHARS));
        }
        line.push('\n');
        line
    }

    fn status_text(&self) -> String {
        let reason = self.status.canonical_reason().unwrap_or_default();
        format!("{} {reason}", self.status.as_str())
    }

    fn headers_to_show(&self, extra: &[HeaderName]) -> Vec<HeaderName> {
        let mut names = ALWAYS_SHOWN.to_vec();
        // `application/json` is the norm here; any other content type is news.
        if self
            .header(CONTENT_TYPE)
            .is_some_and(|t| t != "application/json")
        {
            names.insert(0, CONTENT_TYPE);
        }
        names.extend(extra.iter().cloned());
        names
    }
}

/// A request body on one line, cut to `max` characters.
fn one_line(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&text, max)
}

/// A response body as lines to print: JSON pretty-printed, text as is, binary summarised,
/// and no more than [`MAX_BODY_LINES`].
fn body_lines(body: &[u8], encoded: bool) -> Vec<String> {
    if body.is_empty() {
        return Vec::new();
    }
    if encoded {
        let magic = body
            .iter()
            .take(2)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        return vec![format!(
            "<{} compressed bytes, starting {magic}>",
            body.len()
        )];
    }
    let text = String::from_utf8_lossy(body);
    let text = pretty_json(&text).unwrap_or_else(|| text.into_owned());
    let lines: Vec<&str> = text.lines().collect();
    let mut shown: Vec<String> = lines
        .iter()
        .take(MAX_BODY_LINES)
        .map(|line| truncate(line, 110))
        .collect();
    if lines.len() > MAX_BODY_LINES {
        shown.push(format!("… ({} more lines)", lines.len() - MAX_BODY_LINES));
    }
    shown
}

/// Indents JSON text, keeping its members in the order the server wrote them (parsing into a
/// `serde_json::Value` would sort them). `None` if the text is not JSON.
fn pretty_json(text: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0_usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // An empty object or array stays on one line.
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.extend(chars.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_and_say_how_much_is_missing() {
        let items: Vec<u32> = (0..40).collect();
        let body = serde_json::to_vec(&items).unwrap();
        let lines = body_lines(&body, false);
        assert_eq!(lines.len(), MAX_BODY_LINES + 1);
        // 40 numbers and the two brackets: 42 lines in all.
        let hidden = 42 - MAX_BODY_LINES;
        assert_eq!(lines.last().unwrap(), &format!("… ({hidden} more lines)"));
    }

    #[test]
    fn json_is_indented_in_the_order_it_was_written() {
        let text = r#"{"type":"about:blank","title":"Not Found","a":[],"b":{"c":"x,\"{y"}}"#;
        let expected = "{\n  \"type\": \"about:blank\",\n  \"title\": \"Not Found\",\n  \"a\": [],\n  \"b\": {\n    \"c\": \"x,\\\"{y\"\n  }\n}";
        assert_eq!(pretty_json(text).unwrap(), expected);
        assert_eq!(pretty_json("not json"), None);
    }

    #[test]
    fn compressed_bodies_are_summarised_not_printed() {
        let lines = body_lines(&[0x1f, 0x8b, 8, 0, 0], true);
        assert_eq!(lines, ["<5 compressed bytes, starting 1f 8b>"]);
    }

    #[test]
    fn request_bodies_fit_on_one_line() {
        let body = br#"{ "name":
            "Red mug" }"#;
        assert_eq!(one_line(body, 100), r#"{ "name": "Red mug" }"#);
        assert_eq!(one_line(b"abcdef", 3), "ab…");
    }
}
