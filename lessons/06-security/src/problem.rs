//! Errors as RFC 9457 problem documents (`application/problem+json`): shop-http's [`Problem`],
//! the format lesson 03 teaches and every service of the course renders.
//!
//! A fixed endpoint's refusal is a problem document that says what was refused and never why
//! the server itself failed: a 5xx detail goes to the log, not to the client.

use axum::http::StatusCode;
use shop_http::Problem;

/// A refusal: type `about:blank`, the status's reason phrase as the title, and a sentence
/// saying what was refused.
pub fn refusal(status: StatusCode, detail: impl Into<String>) -> Problem {
    Problem::for_status(status).with_detail(detail)
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use axum::http::header::CONTENT_TYPE;
    use axum::response::IntoResponse;
    use shop_http::PROBLEM_JSON;

    use super::*;

    #[tokio::test]
    async fn a_refusal_is_a_problem_document_with_its_status() {
        let response =
            refusal(StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        let body = to_bytes(response.into_body(), 4096).await.unwrap();
        let problem: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem.title, "Forbidden");
        assert_eq!(
            problem.detail.as_deref(),
            Some("missing or wrong CSRF token")
        );
    }
}
