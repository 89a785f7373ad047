//! Refusals as RFC 9457 problem details (`application/problem+json`), each with a stable
//! machine-readable `code`: what every 4xx and 503 of both listeners answers.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The media type of a refusal (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One refusal's body. `type` is `urn:trestle:problem:<code>` (stable, not dereferenced; the
/// codes are listed in docs/api.md), `title` is the same for every refusal of a code, `detail`
/// says what is wrong with this request and what to do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable and machine-readable (`invalid_field`, `company_not_provisioned`, …).
    pub code: String,
}

impl Problem {
    /// The problem `code` with `status` and `detail`.
    pub fn new(status: StatusCode, code: &str, detail: String) -> Self {
        Problem {
            type_uri: format!("urn:trestle:problem:{code}"),
            title: title(code),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// `invalid_field` → `Invalid field`: the same for every refusal of a code.
fn title(code: &str) -> String {
    let words = code.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_names_its_code_in_type_title_and_code() {
        let p = Problem::new(StatusCode::CONFLICT, "company_not_provisioned", "x".into());
        assert_eq!(p.type_uri, "urn:trestle:problem:company_not_provisioned");
        assert_eq!(p.title, "Company not provisioned");
        assert_eq!(
            (p.status, p.code.as_str()),
            (409, "company_not_provisioned")
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["type"], "urn:trestle:problem:company_not_provisioned");
    }

    #[test]
    fn a_problem_is_served_as_problem_json_with_its_status() {
        let response =
            Problem::new(StatusCode::NOT_FOUND, "no_such_route", "x".into()).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
