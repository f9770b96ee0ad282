//! RFC 9457 problem details: the one JSON shape every error of the course's services takes.
//!
//! What this module shows:
//! - [`Problem`], the document: `type` (an identifier clients match on), `title`, `status`,
//!   `detail`, `instance`, and extension members: `errors` for invalid input, anything else
//!   (`request_id`, `existing`) in [`Problem::extensions`];
//! - [`FieldError`], one invalid input: where it is (a JSON Pointer into the body, RFC 6901,
//!   or a query parameter's name) and what is wrong, so a form can mark every wrong field after
//!   one round trip ([`FieldErrors`] collects them);
//! - [`problem_details`], a middleware that adds what only the request knows (`instance`, the
//!   request id) and turns the bare error responses of other layers (the router's 405, the
//!   timeout's 503, the body limit's plain-text 413) into the same shape.
//!
//! Lesson 03 teaches it; lessons 04-06 and the capstone render their errors through it. Each
//! service keeps its own error enum (what can go wrong there) and maps it to a `Problem`.

use std::fmt::Display;

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The `type` of a problem that means no more than its status code (RFC 9457 §4.2.1).
pub const ABOUT_BLANK: &str = "about:blank";

/// The header that carries a request's id, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

// ANCHOR: problem
/// A problem details document (RFC 9457 §3).
///
/// `type` identifies the kind of problem, `title` is its fixed human-readable summary, `status`
/// repeats the status code (a proxy may change the code; the body keeps the original), `detail`
/// explains this occurrence, and `instance` names it. Any other member is an *extension*:
/// `errors` (the invalid inputs) has a type of its own; the rest live in `extensions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type", default = "about_blank")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}
// ANCHOR_END: problem

fn about_blank() -> String {
    ABOUT_BLANK.to_owned()
}

impl Problem {
    /// A problem of one of the service's own types.
    pub fn new(type_uri: &str, title: &str, status: StatusCode) -> Problem {
        Problem {
            type_uri: type_uri.to_owned(),
            title: title.to_owned(),
            ..Problem::for_status(status)
        }
    }

    /// A problem that means exactly its status code: type `about:blank`, and the status's
    /// standard phrase as title, as the RFC asks.
    pub fn for_status(status: StatusCode) -> Problem {
        Problem {
            type_uri: about_blank(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            errors: Vec::new(),
            extensions: Map::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Problem {
        self.errors = errors;
        self
    }

    /// Adds an extension member. `errors` and the standard members are fields of their own;
    /// a value that does not serialize is left out rather than sent half-made.
    pub fn with_extension(mut self, name: &str, value: impl Serialize) -> Problem {
        if let Ok(value) = serde_json::to_value(value) {
            self.extensions.insert(name.to_owned(), value);
        }
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    /// The document as a complete response. A copy rides along in the response's extensions,
    /// where [`problem_details`] finds it to add the request's details without parsing JSON.
    fn into_response(self) -> Response {
        let mut response = (self.status_code(), Json(&self)).into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response.extensions_mut().insert(self);
        response
    }
}

// ANCHOR: field_error
/// One invalid input, as RFC 9457's example extension has it: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    #[serde(flatten)]
    pub location: Location,
    pub detail: String,
}

/// Where an invalid value is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    /// A JSON Pointer (RFC 6901) into the body, as a URI fragment: `#/price/amount_minor`.
    Pointer(String),
    /// A query (or path) parameter's name: `limit`.
    Parameter(String),
}
// ANCHOR_END: field_error

impl FieldError {
    /// An error in the body member at `path`, its segments separated by `/`:
    /// `FieldError::body("price/currency", ..)` points at `#/price/currency`. A segment
    /// holding `~` or `/` itself must be escaped first ([`FieldError::body_segments`] does it).
    pub fn body(path: &str, detail: impl Into<String>) -> FieldError {
        FieldError {
            location: Location::Pointer(format!("#/{path}")),
            detail: detail.into(),
        }
    }

    /// An error in the body member reached through `segments` (names or array indexes), each
    /// escaped as RFC 6901 says: `~` as `~0`, `/` as `~1`.
    pub fn body_segments<S: AsRef<str>>(segments: &[S], detail: impl Into<String>) -> FieldError {
        let path: Vec<String> = segments
            .iter()
            .map(|segment| segment.as_ref().replace('~', "~0").replace('/', "~1"))
            .collect();
        FieldError::body(&path.join("/"), detail)
    }

    /// An error in the query or path parameter `name`.
    pub fn parameter(name: &str, detail: impl Into<String>) -> FieldError {
        FieldError {
            location: Location::Parameter(name.to_owned()),
            detail: detail.into(),
        }
    }

    /// The JSON Pointer, for an error in the body; `None` for a parameter.
    pub fn pointer(&self) -> Option<&str> {
        match &self.location {
            Location::Pointer(pointer) => Some(pointer),
            Location::Parameter(_) => None,
        }
    }

    /// The pointer or the parameter's name, for a summary line.
    pub fn place(&self) -> &str {
        match &self.location {
            Location::Pointer(pointer) => pointer.strip_prefix("#/").unwrap_or(pointer),
            Location::Parameter(name) => name,
        }
    }

    /// "`name` is invalid" or "3 inputs are invalid: name, price, sku", for a `detail`.
    pub fn summary(errors: &[FieldError]) -> String {
        let mut places: Vec<&str> = errors.iter().map(FieldError::place).collect();
        places.dedup();
        match places.as_slice() {
            [] => "the input is invalid".to_owned(),
            [one] => format!("`{one}` is invalid; see `errors`"),
            many => format!(
                "{} inputs are invalid: {}; see `errors`",
                many.len(),
                many.join(", ")
            ),
        }
    }
}

/// Collects every [`FieldError`] of one input, so that validation reports all of them at once
/// instead of stopping at the first.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> FieldErrors {
        FieldErrors::default()
    }

    /// The value of `result`, or `None` after recording its error against the body member at
    /// `path`.
    pub fn check<T, E: Display>(&mut self, path: &str, result: Result<T, E>) -> Option<T> {
        result
            .map_err(|error| self.push(FieldError::body(path, error.to_string())))
            .ok()
    }

    /// [`FieldErrors::check`] for a query or path parameter.
    pub fn check_parameter<T, E: Display>(
        &mut self,
        name: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        result
            .map_err(|error| self.push(FieldError::parameter(name, error.to_string())))
            .ok()
    }

    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded, or every error found.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}

// ANCHOR: middleware
/// Middleware: completes every error response as a problem document.
///
/// A response carrying a [`Problem`] gets `instance` and `request_id` and is rendered again.
/// An error response from elsewhere with no document of its own (the timeout's empty 503, the
/// body limit's plain-text 413, the router's empty 405) becomes the problem for its status
/// code. Either way the original headers stay (`allow` on a 405, `retry-after`), and an error
/// response that carries a document of another type (a JSON health report) is left alone.
pub async fn problem_details(request: Request, next: Next) -> Response {
    let instance = request.uri().path().to_owned();
    let request_id = request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|id| id.to_str().ok())
        .map(str::to_owned);

    let response = next.run(request).await;

    let (mut parts, body) = response.into_parts();
    let mut problem = match parts.extensions.remove::<Problem>() {
        Some(problem) => problem,
        None if is_error(parts.status) && !has_own_document(&parts.headers) => {
            let problem = Problem::for_status(parts.status);
            match detail_for_status(parts.status) {
                Some(detail) => problem.with_detail(detail),
                None => problem,
            }
        }
        None => return Response::from_parts(parts, body),
    };
    problem.instance = Some(instance);
    if let Some(id) = request_id {
        problem.extensions.insert("request_id".into(), id.into());
    }
    let mut rendered = problem.into_response();
    // Keep the original headers except those describing the old body.
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(CONTENT_TYPE);
    rendered.headers_mut().extend(parts.headers);
    rendered
}
// ANCHOR_END: middleware

/// What the bare error responses of the layers below mean.
fn detail_for_status(status: StatusCode) -> Option<&'static str> {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Some("the body is larger than the server accepts"),
        StatusCode::METHOD_NOT_ALLOWED => {
            Some("this resource does not support the method; `allow` lists those it does")
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            Some("the server did not finish the request in time; try again later")
        }
        StatusCode::REQUEST_TIMEOUT => Some("the request took too long to arrive"),
        _ => None,
    }
}

fn is_error(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

/// Does this error response carry a document of its own (a JSON report, or a problem made
/// without this module's type)? Plain text (what tower-http's body limit sends) and no content
/// type at all (an empty body) do not count.
fn has_own_document(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| !value.starts_with("text/plain"))
}

/// The response for a handler that panicked (give it to tower-http's `CatchPanicLayer`): the
/// panic message goes to the log, the client gets a 500 that says nothing about it.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    panic_response_with(
        panic,
        Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR),
    )
}

/// [`panic_response`] answering with a service's own 500 document, so that a panic and any
/// other internal error look the same to a client.
pub fn panic_response_with(
    panic: Box<dyn std::any::Any + Send + 'static>,
    problem: Problem,
) -> Response<Body> {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    tracing::error!(panic = %message, "handler panicked");
    problem.into_response()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::to_bytes;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn body_of(response: Response) -> Value {
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_problem_serializes_with_rfc_9457_member_names() {
        let problem = Problem::new("tag:example,2026:x", "X", StatusCode::CONFLICT)
            .with_detail("d")
            .with_extension("existing", "/products/1");
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "tag:example,2026:x", "title": "X", "status": 409,
                "detail": "d", "existing": "/products/1"
            })
        );
    }

    #[test]
    fn a_problem_round_trips_with_errors_and_extensions() {
        let problem = Problem::for_status(StatusCode::UNPROCESSABLE_ENTITY)
            .with_errors(vec![
                FieldError::body("price/currency", "unknown currency"),
                FieldError::parameter("limit", "at most 100"),
            ])
            .with_extension("request_id", "abc");
        let json = serde_json::to_string(&problem).unwrap();
        assert_eq!(serde_json::from_str::<Problem>(&json).unwrap(), problem);
        assert!(json.contains(r##""pointer":"#/price/currency""##), "{json}");
        assert!(json.contains(r#""parameter":"limit""#), "{json}");
    }

    #[test]
    fn a_document_without_a_type_is_about_blank() {
        let problem: Problem =
            serde_json::from_str(r#"{"title":"Not Found","status":404}"#).unwrap();
        assert_eq!(problem.type_uri, ABOUT_BLANK);
    }

    #[test]
    fn pointer_segments_are_escaped() {
        let error = FieldError::body_segments(&["attributes", "a/b~c", "0"], "bad");
        assert_eq!(
            error.location,
            Location::Pointer("#/attributes/a~1b~0c/0".into())
        );
    }

    #[test]
    fn a_summary_names_each_place_once() {
        let errors = [
            FieldError::body("name", "empty"),
            FieldError::body("name", "too long"),
            FieldError::parameter("limit", "too big"),
        ];
        assert_eq!(
            FieldError::summary(&errors),
            "2 inputs are invalid: name, limit; see `errors`"
        );
        assert_eq!(
            FieldError::summary(&errors[..1]),
            "`name` is invalid; see `errors`"
        );
    }

    #[test]
    fn field_errors_collect_every_failure() {
        let mut errors = FieldErrors::new();
        assert_eq!(errors.check("a", Ok::<_, String>(1)), Some(1));
        assert_eq!(errors.check("b", Err::<u8, _>("no")), None);
        assert_eq!(errors.check_parameter("c", Err::<u8, _>("nope")), None);
        let errors = errors.finish().unwrap_err();
        assert_eq!(
            errors,
            [
                FieldError::body("b", "no"),
                FieldError::parameter("c", "nope")
            ]
        );
        assert_eq!(FieldErrors::new().finish(), Ok(()));
    }

    fn app() -> Router {
        Router::new()
            .route(
                "/conflict",
                get(|| async { Problem::new("tag:x", "Conflict", StatusCode::CONFLICT) }),
            )
            .route(
                "/text-413",
                get(|| async { (StatusCode::PAYLOAD_TOO_LARGE, "too big") }),
            )
            .route(
                "/report",
                get(|| async {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(serde_json::json!({"db": "down"})),
                    )
                }),
            )
            .layer(axum::middleware::from_fn(problem_details))
    }

    async fn call(method: &str, uri: &str) -> Response {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(X_REQUEST_ID, "req-1")
            .body(Body::empty())
            .unwrap();
        app().oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn a_handlers_problem_gets_instance_and_request_id() {
        let response = call("GET", "/conflict").await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        let body = body_of(response).await;
        assert_eq!(body["instance"], "/conflict");
        assert_eq!(body["request_id"], "req-1");
    }

    #[tokio::test]
    async fn bare_error_responses_become_problems_and_keep_their_headers() {
        let response = call("POST", "/conflict").await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(response.headers().contains_key("allow"));
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        let body = body_of(response).await;
        assert_eq!(body["type"], ABOUT_BLANK);
        assert_eq!(body["title"], "Method Not Allowed");

        let body = body_of(call("GET", "/text-413").await).await;
        assert_eq!(body["status"], 413);
        let body = body_of(call("GET", "/nowhere").await).await;
        assert_eq!(body["title"], "Not Found");
    }

    #[tokio::test]
    async fn an_error_with_a_document_of_its_own_is_left_alone() {
        let body = body_of(call("GET", "/report").await).await;
        assert_eq!(body, serde_json::json!({"db": "down"}));
    }

    #[tokio::test]
    async fn a_panic_is_a_500_that_says_nothing_about_it() {
        let response = panic_response(Box::new("secret at 10.0.0.7"));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(response).await;
        assert!(!body.to_string().contains("10.0.0.7"), "{body}");
    }
}
