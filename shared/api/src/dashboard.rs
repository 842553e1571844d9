//! `GET /admin`: the operators' dashboard, one page with its style and script inline.
//! The page itself is public and holds no data: it asks for an admin token and calls
//! the JSON API with it. Its Content-Security-Policy allows exactly the inline style
//! and script it was built with (by hash), no other script, and no other origin.

use std::sync::OnceLock;

use aws_lc_rs::digest::{digest, SHA256};
use base64::Engine;
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, STRICT_TRANSPORT_SECURITY};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};

const HTML: &str = include_str!("dashboard/dashboard.html");
const STYLE: &str = include_str!("dashboard/dashboard.css");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");

/// A year, the subdomains included (the API's stage URLs share the host).
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The page and the policy that lets its own style and script run, built once.
pub struct Page {
    pub html: String,
    pub content_security_policy: String,
}

fn csp_hash(text: &str) -> String {
    let hash = digest(&SHA256, text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(hash.as_ref())
    )
}

pub fn page() -> &'static Page {
    static PAGE: OnceLock<Page> = OnceLock::new();
    PAGE.get_or_init(|| Page {
        html: HTML
            .replacen("{{STYLE}}", STYLE, 1)
            .replacen("{{SCRIPT}}", SCRIPT, 1),
        content_security_policy: format!(
            "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
            csp_hash(SCRIPT),
            csp_hash(STYLE)
        ),
    })
}

pub fn serve() -> Response<Body> {
    let page = page();
    let mut response = Response::new(Body::Text(page.html.clone()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(policy) = HeaderValue::from_str(&page.content_security_policy) {
        headers.insert("content-security-policy", policy);
    }
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    // An admin pastes a token into this page: never let a browser load it over plain
    // HTTP again, where the token could be read or the page replaced on the way.
    headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    // The page changes with each deployment; a stale copy would carry a stale policy.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_its_style_and_script_and_the_policy_names_exactly_them() {
        let page = page();
        assert!(page.html.contains(SCRIPT) && page.html.contains(STYLE));
        assert!(!page.html.contains("{{"));
        assert!(page.content_security_policy.contains(&csp_hash(SCRIPT)));
        assert!(page.content_security_policy.contains(&csp_hash(STYLE)));
        assert!(!page.content_security_policy.contains("unsafe"));
        // No inline handlers or style attributes, which the policy would block.
        for forbidden in [" onclick=", " onload=", " style=", "javascript:"] {
            assert!(!page.html.contains(forbidden), "{forbidden}");
        }
    }
}
