//! The local stand-in for what API Gateway does in front of the functions besides
//! routing: CORS. A deployed stage's HTTP API answers a browser's preflight itself and
//! sets the CORS headers on every answer, for the origins of the template's
//! `CorsAllowedOrigins` only (none by default); the functions know nothing of it.
//! Locally, `cargo lambda watch` runs with its own (allow-everything) CORS turned off,
//! behind this front, which does the same for `CORS_ALLOWED_ORIGINS`, so a web app on
//! an origin not listed fails locally as it would deployed.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::body::{to_bytes, Body};
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The largest body passed on: the RazorpayX webhook's limit, the largest any route has.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the template's `CorsConfiguration` allows, origins aside (template.yaml).
pub fn cors(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH])
        .allow_headers([
            HeaderName::from_static("authorization"),
            HeaderName::from_static("content-type"),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            HeaderName::from_static("idempotent-replayed"),
            HeaderName::from_static("link"),
            HeaderName::from_static("content-disposition"),
        ])
        .max_age(Duration::from_secs(600))
}

/// `CORS_ALLOWED_ORIGINS`: comma-separated `scheme://host[:port]`, as the template's
/// parameter takes them; unset or empty allows none.
pub fn origins_from_env() -> Result<Vec<HeaderValue>> {
    parse_origins(&std::env::var("CORS_ALLOWED_ORIGINS").unwrap_or_default())
}

pub fn parse_origins(text: &str) -> Result<Vec<HeaderValue>> {
    text.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let (scheme, rest) = origin.split_once("://").unwrap_or_default();
            if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
                bail!("CORS_ALLOWED_ORIGINS: `{origin}` is not scheme://host[:port]");
            }
            HeaderValue::from_str(origin)
                .with_context(|| format!("CORS_ALLOWED_ORIGINS: `{origin}`"))
        })
        .collect()
}

/// Serves on 127.0.0.1:`port`, passing every request to the `cargo lambda watch` on
/// 127.0.0.1:`upstream` and its answer back, under [`cors`] for `origins`. Stops when
/// the returned task is aborted or dropped with the runtime.
pub async fn serve(
    port: u16,
    upstream: u16,
    origins: &[HeaderValue],
) -> Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(600))
        .build()?;
    let app = axum::Router::new()
        .fallback(move |request: Request<Body>| {
            let client = client.clone();
            async move {
                forward(&client, upstream, request)
                    .await
                    .unwrap_or_else(|error| {
                        // API Gateway's own answer when it cannot reach a function.
                        eprintln!("front: {error:#}");
                        let mut response =
                            Response::new(Body::from(r#"{"message":"Internal Server Error"}"#));
                        *response.status_mut() = StatusCode::BAD_GATEWAY;
                        response
                    })
            }
        })
        .layer(cors(origins));
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }))
}

async fn forward(
    client: &reqwest::Client,
    upstream: u16,
    request: Request<Body>,
) -> Result<Response<Body>> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let mut outgoing = client.request(
        parts.method.clone(),
        format!("http://127.0.0.1:{upstream}{path}"),
    );
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let body = to_bytes(body, MAX_BODY_BYTES).await?;
    let answer = outgoing.body(body).send().await?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !is_hop_by_hop(name) {
            response = response.header(name, value);
        }
    }
    Ok(response.body(Body::from(answer.bytes().await?))?)
}

/// Headers about one connection, not the request: never passed on.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "te"
            | "upgrade"
            | "content-length"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that answers every request with what it was asked, as JSON.
    async fn echo() -> u16 {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().fallback(|request: Request<Body>| async move {
            let (parts, body) = request.into_parts();
            let body = to_bytes(body, 1024).await.unwrap();
            let answer = serde_json::json!({
                "method": parts.method.as_str(),
                "path": parts.uri.to_string(),
                "authorization": parts.headers.get("authorization").and_then(|v| v.to_str().ok()),
                "body": String::from_utf8_lossy(&body),
            });
            Response::builder()
                .status(StatusCode::CREATED)
                .header("content-type", "application/json")
                .header("idempotent-replayed", "true")
                .body(Body::from(answer.to_string()))
                .unwrap()
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        port
    }

    #[tokio::test]
    async fn the_front_passes_requests_on_and_answers_cors_for_its_origins_only() {
        let upstream = echo().await;
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let origins = parse_origins("http://localhost:5173").unwrap();
        let front = serve(port, upstream, &origins).await.unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://127.0.0.1:{port}/scouts/s-1/request-payout?x=1");

        let preflight = |origin: &'static str| {
            client
                .request(Method::OPTIONS, &url)
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization,idempotency-key",
                )
                .send()
        };
        let allowed = preflight("http://localhost:5173").await.unwrap();
        let headers = allowed.headers();
        assert_eq!(
            headers["access-control-allow-origin"],
            "http://localhost:5173"
        );
        assert!(headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST"));
        assert_eq!(headers["access-control-max-age"], "600");
        let other = preflight("http://localhost:5174").await.unwrap();
        assert!(other.headers().get("access-control-allow-origin").is_none());

        let answer = client
            .post(&url)
            .header("origin", "http://localhost:5173")
            .header("authorization", "Bearer t")
            .body(r#"{"amount_paise": 100}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::CREATED);
        assert_eq!(
            answer.headers()["access-control-allow-origin"],
            "http://localhost:5173"
        );
        assert_eq!(
            answer.headers()["access-control-expose-headers"],
            "idempotent-replayed,link,content-disposition"
        );
        let echoed: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(echoed["method"], "POST");
        assert_eq!(echoed["path"], "/scouts/s-1/request-payout?x=1");
        assert_eq!(echoed["authorization"], "Bearer t");
        assert_eq!(echoed["body"], r#"{"amount_paise": 100}"#);
        front.abort();
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert!(parse_origins("").unwrap().is_empty());
        assert_eq!(
            parse_origins("http://localhost:5173, https://shop.example").unwrap(),
            ["http://localhost:5173", "https://shop.example"]
        );
        for bad in [
            "localhost:5173",
            "ftp://x",
            "https://shop.example/app",
            "https://",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad}");
        }
    }
}
