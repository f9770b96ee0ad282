//! Stored cross-site scripting (XSS): one list of comments, rendered into HTML twice, once by
//! pasting the text in and once escaped, with a Content-Security-Policy as a second wall.
//!
//! Both pages read the same stored comments: the attack is in the data, and the defence is in
//! how the data is written into the page. `tests/web.rs` posts payloads and reads both pages.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::lab::LabState;
use crate::problem::refusal;

/// A comment as a visitor submitted it, stored exactly as typed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Comment {
    pub author: String,
    pub text: String,
}

/// The shared comment list. A `std` mutex: nothing awaits while holding it.
#[derive(Debug, Clone, Default)]
pub struct Comments(Arc<Mutex<Vec<Comment>>>);

impl Comments {
    pub fn push(&self, comment: Comment) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(comment);
    }

    pub fn all(&self) -> Vec<Comment> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// `POST /{vulnerable,fixed}/comments`: stores a comment (both sides share this handler).
///
/// Storing the text as typed is right: escaping belongs to the output, because only the output
/// knows its context (HTML, an attribute, JSON, SQL, a shell). Input validation still bounds
/// the size.
pub async fn post_comment(State(state): State<LabState>, Form(comment): Form<Comment>) -> Response {
    if comment.author.chars().count() > 80 || comment.text.chars().count() > 2_000 {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "author is at most 80 characters and text at most 2,000",
        )
        .into_response();
    }
    state.comments.push(comment);
    StatusCode::SEE_OTHER.into_response()
}

// ANCHOR: vulnerable
/// `GET /vulnerable/comments`: the page is built by pasting stored text into HTML.
///
/// `<script>...</script>` in a comment becomes a script in every visitor's browser, running
/// with the shop's origin: it can read the page, call the API with the visitor's cookies, or
/// rewrite the checkout form.
pub async fn page_vulnerable(State(state): State<LabState>) -> Html<String> {
    let mut items = String::new();
    for comment in state.comments.all() {
        // Both the attribute and the element content are injection points here.
        let _ = write!(
            items,
            r#"<li title="{}"><b>{}</b>: {}</li>"#,
            comment.author, comment.author, comment.text
        );
    }
    Html(page(&items))
}
// ANCHOR_END: vulnerable

// ANCHOR: fixed
/// The policy of the fixed page: scripts and styles only from our origin, no inline script, no
/// plugins, no framing, forms post only to us. Even if escaping were forgotten somewhere, an
/// injected `<script>` or `onerror=` handler would not run.
pub const COMMENTS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `GET /fixed/comments`: every stored string is escaped for the context it lands in, and the
/// response carries a Content-Security-Policy.
pub async fn page_fixed(State(state): State<LabState>) -> Response {
    let mut items = String::new();
    for comment in state.comments.all() {
        let author = escape_html(&comment.author);
        let _ = write!(
            items,
            r#"<li title="{author}"><b>{author}</b>: {}</li>"#,
            escape_html(&comment.text)
        );
    }
    let mut response = Html(page(&items)).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(COMMENTS_CSP),
    );
    response
}

/// Escapes text for HTML element content and for quoted attribute values.
///
/// Five characters carry meaning there: `<` and `>` open and close tags, `&` starts an entity,
/// and `"` and `'` end an attribute value. Replacing them with entities makes the browser show
/// them instead of parsing them. (Unquoted attributes, URLs, `<script>` and `<style>` blocks
/// are other contexts with other rules: do not put untrusted text there at all.)
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}
// ANCHOR_END: fixed

fn page(items: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Comments</title></head>\
         <body><h1>What customers say</h1><ul>{items}</ul></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::escape_html;

    #[test]
    fn escaping_neutralises_every_character_that_can_open_markup() {
        assert_eq!(
            escape_html(r#"<img src=x onerror="alert('1')"> & co"#),
            "&lt;img src=x onerror=&quot;alert(&#x27;1&#x27;)&quot;&gt; &amp; co"
        );
        assert_eq!(escape_html("Zoë's mug"), "Zoë&#x27;s mug");
    }
}
