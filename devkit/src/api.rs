//! An in-process API Gateway for tests: it routes a method and path the way the HTTP
//! API does (`api::Endpoint` is the route table), builds the HTTP API v2
//! event API Gateway would send — `pathParameters` included — and hands it to the
//! same `App::handle` the Lambda runs. Storage is the real DynamoDB Local.

use std::net::SocketAddr;
use std::sync::Arc;

use api::auth::TokenVerifier;
use api::auth::DEV_JWT_SECRET;
use api::{App, Endpoint};
use lambda_http::http::HeaderMap;
use serde_json::{json, Value};
use service::config::{Config, GatewayConfig};
use store::Store;

pub struct Api {
    pub app: App,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    /// The JSON body; `null` for a page or a CSV file (`text`).
    pub body: Value,
    /// The body as sent.
    pub text: String,
}

impl Reply {
    /// The `error.code` of an error reply.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

/// A request as a client writes it.
#[derive(Clone, Debug, Default)]
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub token: Option<&'a str>,
    pub body: Option<&'a str>,
    pub headers: Vec<(&'a str, &'a str)>,
}

/// The tests' payout account keys, named by alias.
fn test_vault() -> platform::vault::Vault {
    platform::vault::Vault::new(
        crate::moto::LOCAL_ACCOUNT_KEY_ALIAS,
        crate::moto::LOCAL_ACCOUNT_MAC_KEY_ALIAS,
    )
}

impl Api {
    /// The API over `store`, configured as the dev stack is, with an instant gateway
    /// that pays everything (tests that need declines set their own `config`).
    pub fn new(store: Store) -> Self {
        Self::with_settings(store, &[])
    }

    /// [`Api::new`] with these settings on top (`PAYOUT_ACCOUNT_HOLD_SECS`, say): the
    /// gateway still pays everything at once, so the test depends only on what it sets.
    pub fn with_settings(store: Store, settings: &[(&str, &str)]) -> Self {
        let paying = [
            ("GATEWAY_SIM_LATENCY_MS", "0"),
            ("GATEWAY_SIM_SUCCESS_RATE", "1.0"),
            ("GATEWAY_SIM_SEED", "7"),
        ];
        let overrides: Vec<(&str, &str)> = settings.iter().copied().chain(paying).collect();
        let (mut config, gateway) =
            crate::testing::local_parts(&overrides).expect("the test configuration is valid");
        config.table_name = store.table().to_owned();
        // By alias: the keys are made on the tests' moto at the first save.
        config.vault = Some(test_vault());
        Self::with_config(config, &gateway, store)
    }

    /// The API over `store` with these parts (a test's own gateway, declining say).
    pub fn with_config(config: Config, gateway: &GatewayConfig, store: Store) -> Self {
        Api {
            app: App::new(config, gateway, store, TokenVerifier::local(DEV_JWT_SECRET))
                .expect("the test configuration builds an app"),
        }
    }

    pub async fn call(&self, call: Call<'_>) -> Reply {
        let Some((endpoint, params)) = route(call.method, call.path) else {
            // What API Gateway answers for a route it does not have.
            let body = json!({"message": "Not Found"});
            return Reply {
                status: 404,
                headers: HeaderMap::new(),
                text: body.to_string(),
                body,
            };
        };
        let request = lambda_http::request::from_str(&event(endpoint, &params, &call).to_string())
            .expect("the harness builds valid HTTP API events");
        self.send(endpoint, request).await
    }

    /// Sends an already-built request (a sample event, say) to one function.
    pub async fn send(&self, endpoint: Endpoint, request: lambda_http::Request) -> Reply {
        // Only a save seals; the keys are made on the tests' moto for it (the chaos
        // harness's webhooks, which run where no test moto is named, never need them).
        if endpoint == Endpoint::PutPayoutAccount && self.app.config.vault == Some(test_vault()) {
            crate::testing::account_keys().await;
        }
        let response = self.app.handle(endpoint, request).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = match response.body() {
            lambda_http::Body::Text(text) => text.clone(),
            lambda_http::Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        };
        let json = headers
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value == "application/json");
        let body = if json {
            serde_json::from_str(&text).expect("an answer that says it is JSON is JSON")
        } else {
            Value::Null
        };
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, query: &str, token: &str) -> Reply {
        self.call(Call {
            method: "GET",
            path,
            query,
            token: Some(token),
            ..Call::default()
        })
        .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Option<&str>) -> Reply {
        self.call(Call {
            method: "POST",
            path,
            token: Some(token),
            body,
            ..Call::default()
        })
        .await
    }

    pub async fn put(&self, path: &str, token: &str, body: &str) -> Reply {
        self.call(Call {
            method: "PUT",
            path,
            token: Some(token),
            body: Some(body),
            ..Call::default()
        })
        .await
    }

    pub async fn patch(&self, path: &str, token: &str) -> Reply {
        self.call(Call {
            method: "PATCH",
            path,
            token: Some(token),
            ..Call::default()
        })
        .await
    }
}

/// The route of `method path`, with its path parameters, as API Gateway matches it.
pub fn route(method: &str, path: &str) -> Option<(Endpoint, Vec<(String, String)>)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    Endpoint::ALL.into_iter().find_map(|endpoint| {
        if endpoint.method().as_str() != method {
            return None;
        }
        let template: Vec<&str> = endpoint.path().trim_matches('/').split('/').collect();
        if template.len() != segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (part, actual) in template.iter().zip(&segments) {
            match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !actual.is_empty() => {
                    params.push((name.to_owned(), (*actual).to_owned()))
                }
                Some(_) => return None,
                None if part == actual => {}
                None => return None,
            }
        }
        Some((endpoint, params))
    })
}

fn event(endpoint: Endpoint, params: &[(String, String)], call: &Call<'_>) -> Value {
    let mut headers = serde_json::Map::new();
    headers.insert("content-type".into(), json!("application/json"));
    if let Some(token) = call.token {
        headers.insert("authorization".into(), json!(format!("Bearer {token}")));
    }
    for (name, value) in &call.headers {
        headers.insert(name.to_ascii_lowercase(), json!(value));
    }
    let query: serde_json::Map<String, Value> = call
        .query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_owned(), json!(value))
        })
        .fold(serde_json::Map::new(), |mut map, (name, value)| {
            // API Gateway joins repeated parameters with commas.
            let joined = match map.get(&name).and_then(Value::as_str) {
                Some(existing) => {
                    json!(format!("{existing},{}", value.as_str().unwrap_or_default()))
                }
                None => value,
            };
            map.insert(name, joined);
            map
        });
    json!({
        "version": "2.0",
        "routeKey": format!("{} {}", endpoint.method(), endpoint.path()),
        "rawPath": call.path,
        "rawQueryString": call.query,
        "headers": headers,
        "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
        "pathParameters": if params.is_empty() { Value::Null } else {
            Value::Object(params.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "local",
            "domainPrefix": "local",
            "http": {
                "method": call.method,
                "path": call.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "devkit"
            },
            "requestId": "devkit-request",
            "routeKey": format!("{} {}", endpoint.method(), endpoint.path()),
            "stage": "$default",
            "time": "24/Nov/2026:02:00:00 +0000",
            "timeEpoch": 1795485600000u64
        },
        "body": call.body,
        "isBase64Encoded": false
    })
}

/// Serves `api` over real HTTP on a free loopback port, as API Gateway fronts the
/// functions: for callers that only speak HTTP (the local RazorpayX's webhooks). Text
/// bodies only; stops when the returned task is aborted or dropped with the runtime.
pub async fn serve_http(
    api: Arc<Api>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use axum::body::Bytes;
    use axum::http::{HeaderMap as Headers, Method, Uri};
    use axum::response::IntoResponse;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: Headers, body: Bytes| {
            let api = api.clone();
            async move {
                let body = String::from_utf8_lossy(&body).into_owned();
                let headers = text_headers(&headers);
                let reply = api
                    .call(Call {
                        method: method.as_str(),
                        path: uri.path(),
                        query: uri.query().unwrap_or_default(),
                        token: None,
                        body: Some(&body),
                        headers: headers
                            .iter()
                            .map(|(name, value)| (name.as_str(), value.as_str()))
                            .collect(),
                    })
                    .await;
                let status = axum::http::StatusCode::from_u16(reply.status)
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                // As API Gateway passes them on: the function's headers and body as sent.
                let mut response = (status, reply.text).into_response();
                for (name, value) in &reply.headers {
                    if let (Ok(name), Ok(value)) = (
                        axum::http::HeaderName::from_bytes(name.as_str().as_bytes()),
                        axum::http::HeaderValue::from_bytes(value.as_bytes()),
                    ) {
                        response.headers_mut().insert(name, value);
                    }
                }
                response
            }
        },
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

/// The headers of an HTTP request that are text, as owned pairs for a [`Call`].
pub fn text_headers(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}
