//! `GET /admin`: the operators' dashboard, one page with its style and script inline.
//! The page itself is public and holds no data: it asks for an admin token and calls
//! the JSON API with it. Its Content-Security-Policy allows exactly the inline style
//! and script it was built with (by hash), no other script, and no other origin.
//!
//! The script is one file built from readable parts (`dashboard/script/`, one concern
//! each, in the order they run), with no bundler: the parts share one function scope,
//! and the lifecycle they show is written in from [`domain::payout::TRANSITIONS`] as the page is built.

use std::sync::OnceLock;

use aws_lc_rs::digest::{digest, SHA256};
use base64::Engine;
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, STRICT_TRANSPORT_SECURITY};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::json;

use domain::payout::{PayoutStatus, Transition};

const HTML: &str = include_str!("dashboard/dashboard.html");
const STYLE: &str = include_str!("dashboard/dashboard.css");
/// The script's parts, in the order they run: each uses only what those before it
/// declare, and the last one starts the page.
const SCRIPT_PARTS: [&str; 12] = [
    include_str!("dashboard/script/format.js"),
    include_str!("dashboard/script/state.js"),
    include_str!("dashboard/script/dom.js"),
    include_str!("dashboard/script/api.js"),
    include_str!("dashboard/script/session.js"),
    include_str!("dashboard/script/stats.js"),
    include_str!("dashboard/script/chart.js"),
    include_str!("dashboard/script/list.js"),
    include_str!("dashboard/script/actions.js"),
    include_str!("dashboard/script/detail.js"),
    include_str!("dashboard/script/reconciliation.js"),
    include_str!("dashboard/script/events.js"),
];

/// Where `state.js` takes the lifecycle from.
const LIFECYCLE_MARKER: &str = "/*LIFECYCLE*/ null";

/// A year, the subdomains included (the API's stage URLs share the host).
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The page and the policy that lets its own style and script run, built once.
pub struct Page {
    pub html: String,
    pub content_security_policy: String,
}

/// Every status in order, and the statuses each of the page's admin actions may start
/// from: "process" claims, "retry" and "cancel" are their own transitions.
fn lifecycle() -> serde_json::Value {
    let from = |transition: Transition| -> Vec<&'static str> {
        transition
            .allowed_from()
            .iter()
            .map(|status| status.as_str())
            .collect()
    };
    json!({
        "statuses": PayoutStatus::ALL.iter().map(|status| status.as_str()).collect::<Vec<_>>(),
        "actions": {
            "process": from(Transition::Claim),
            "retry": from(Transition::Retry),
            "cancel": from(Transition::Cancel),
        },
    })
}

/// The script as the page carries it: the parts in one strict-mode function scope, with
/// the lifecycle written in.
fn script() -> String {
    let body = SCRIPT_PARTS
        .join("\n")
        .replacen(LIFECYCLE_MARKER, &lifecycle().to_string(), 1);
    format!(
        "'use strict';\n\
         // Payouts admin dashboard. Plain ES2020, no libraries; served inline under a\n\
         // hash-based Content-Security-Policy, so: no inline handlers, no innerHTML with\n\
         // API data, no eval. Every API URL is relative (no leading slash) so the page\n\
         // works at /admin locally and at /<stage>/admin behind API Gateway.\n\
         (function () {{\n{body}}})();\n"
    )
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
    PAGE.get_or_init(|| {
        let script = script();
        Page {
            html: HTML
                .replacen("{{STYLE}}", STYLE, 1)
                .replacen("{{SCRIPT}}", &script, 1),
            content_security_policy: format!(
                "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
                 img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'",
                csp_hash(&script),
                csp_hash(STYLE)
            ),
        }
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
        let script = script();
        assert!(page.html.contains(&script) && page.html.contains(STYLE));
        assert!(!page.html.contains("{{"));
        assert!(page.content_security_policy.contains(&csp_hash(&script)));
        assert!(page.content_security_policy.contains(&csp_hash(STYLE)));
        assert!(!page.content_security_policy.contains("unsafe"));
        // No inline handlers or style attributes, which the policy would block.
        for forbidden in [" onclick=", " onload=", " style=", "javascript:"] {
            assert!(!page.html.contains(forbidden), "{forbidden}");
        }
    }

    #[test]
    fn the_script_shows_the_lifecycle_of_the_transitions_table() {
        let script = script();
        assert_eq!(
            SCRIPT_PARTS
                .iter()
                .filter(|part| part.contains(LIFECYCLE_MARKER))
                .count(),
            1,
            "one part takes the lifecycle"
        );
        assert!(!script.contains(LIFECYCLE_MARKER));
        let written = lifecycle();
        assert!(script.contains(&format!("const LIFECYCLE = {written};")));
        assert_eq!(
            written["statuses"],
            json!([
                "pending",
                "processing",
                "completed",
                "failed",
                "cancelled",
                "reversed"
            ])
        );
        for (action, transition) in [
            ("process", Transition::Claim),
            ("retry", Transition::Retry),
            ("cancel", Transition::Cancel),
        ] {
            let from: Vec<PayoutStatus> =
                serde_json::from_value(written["actions"][action].clone())
                    .unwrap_or_else(|err| panic!("{action}: {err}"));
            assert_eq!(from, transition.allowed_from(), "{action}");
        }
        assert_eq!(written["actions"]["process"], json!(["pending"]));
    }
}
