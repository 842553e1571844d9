//! The HTTP side of the API functions, the service's edge: routes, tokens, input,
//! replies and the dashboard, over the use cases in `service`. A function's `main` is
//! one call to [`run`]; everything a request goes through — method, token, input, the
//! operation, the response and its log line — happens here, the same way for every
//! route. Scheduled and event-driven functions do not depend on this crate.

pub mod auth;
mod dashboard;
mod endpoints;
pub mod input;
mod marketplace;
pub mod reply;
pub mod routes;
mod webhook;

use std::time::Instant;

use lambda_http::http::header::AUTHORIZATION;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::{error, info, warn};

use crate::auth::AuthConfig;
use crate::auth::{Caller, TokenVerifier};
use domain::error::{Error, Result};
use gateway::Gateway;
use platform::metrics::{self, Unit};
use service::config::{Config, GatewayConfig, WebhookSecrets};
use store::Store;

pub use routes::Endpoint;

/// What an API function builds once per process, at init: only the parts its route
/// uses, so a function that does not pay holds no gateway client and
/// no key, and the webhook and the dashboard page hold no token verifier.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub store: Store,
    /// The routes that pay ([`Endpoint::pays`]).
    pub gateway: Option<Gateway>,
    /// The routes behind a token ([`Endpoint::takes_token`]).
    pub tokens: Option<TokenVerifier>,
    /// The webhook alone (see [`run`]).
    pub webhook_secrets: Option<WebhookSecrets>,
}

impl App {
    /// Every part, for serving every route in one process (the tests' in-process API).
    pub fn new(
        config: Config,
        gateway: &GatewayConfig,
        store: Store,
        tokens: TokenVerifier,
    ) -> Result<Self> {
        Ok(App {
            gateway: Some(Self::gateway_of(gateway, &store)?),
            tokens: Some(tokens),
            config,
            store,
            webhook_secrets: None,
        })
    }

    /// The parts `endpoint` uses, from the function's environment.
    pub fn for_endpoint(endpoint: Endpoint, config: Config, store: Store) -> Result<Self> {
        Ok(App {
            gateway: endpoint
                .pays()
                .then(|| Self::gateway_of(&config.gateway_from_env()?, &store))
                .transpose()?,
            tokens: endpoint
                .takes_token()
                .then(|| TokenVerifier::from_config(&AuthConfig::from_env()?))
                .transpose()?,
            webhook_secrets: (endpoint == Endpoint::RazorpayXWebhook)
                .then(WebhookSecrets::from_env)
                .transpose()?,
            config,
            store,
        })
    }

    fn gateway_of(config: &GatewayConfig, store: &Store) -> Result<Gateway> {
        Gateway::from_config(config, store).map_err(|err| Error::Config(err.to_string()))
    }

    /// The gateway, for the routes that pay.
    pub fn gateway(&self) -> Result<&Gateway> {
        self.gateway.as_ref().ok_or_else(|| {
            Error::Config("this function was not built to call the gateway".to_owned())
        })
    }

    /// Serves one request. Never fails: every error, the client's or ours, becomes a
    /// JSON response here (an `Err` to the runtime would be an opaque 502 behind
    /// API Gateway).
    pub async fn handle(&self, endpoint: Endpoint, request: Request) -> Response<Body> {
        let started = Instant::now();
        let request_id = request
            .lambda_context_ref()
            .map(|context| context.request_id.clone())
            .unwrap_or_default();
        let (response, caller, failure) = if request.method() != endpoint.method() {
            (
                reply::method_not_allowed(endpoint.method().as_str()),
                None,
                None,
            )
        } else if endpoint == Endpoint::AdminDashboard {
            (dashboard::serve(), None, None)
        } else if endpoint == Endpoint::RazorpayXWebhook {
            match webhook::serve(self, &request).await {
                Ok(response) => (response, None, None),
                Err(err) => (reply::error(&err), None, Some(err)),
            }
        } else {
            match self.authenticate(&request).await {
                Err(err) => (reply::error(&err), None, Some(err)),
                Ok(caller) => {
                    let served = match &caller {
                        Caller::Person(actor) if !endpoint.for_service() => {
                            endpoints::serve(self, endpoint, actor, &request).await
                        }
                        Caller::Service(service) if endpoint.for_service() => {
                            marketplace::serve(self, endpoint, service, &request).await
                        }
                        Caller::Person(_) => Err(Error::Forbidden(
                            "this route is for the marketplace's backend: it takes a token \
                             with the service scope, not a user's or an admin's"
                                .to_owned(),
                        )),
                        Caller::Service(_) => Err(Error::Forbidden(
                            "a service token acts for no user: this route takes a user's or \
                             an admin's token"
                                .to_owned(),
                        )),
                    };
                    match served {
                        Ok(response) => (response, Some(caller), None),
                        Err(err) => (reply::error(&err), Some(caller), Some(err)),
                    }
                }
            }
        };
        let status = response.status().as_u16();
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (user_id, client_id) = match &caller {
            Some(Caller::Person(actor)) => (Some(actor.user_id), None),
            Some(Caller::Service(service)) => (None, Some(service.client_id.as_str())),
            None => (None, None),
        };
        metrics::emit(
            &[
                ("Requests", Unit::Count, 1),
                (
                    "Errors4xx",
                    Unit::Count,
                    u64::from((400..500).contains(&status)),
                ),
                ("Errors5xx", Unit::Count, u64::from(status >= 500)),
                ("LatencyMs", Unit::Milliseconds, duration_ms),
            ],
            &[
                ("request_id", request_id.clone().into()),
                ("status", status.into()),
            ],
        );
        match &failure {
            Some(err) if status >= 500 => error!(
                event = "request", function = endpoint.function(), request_id, status,
                duration_ms, user_id, client_id, error_code = err.code(), error = %err,
                "request failed"
            ),
            Some(err) => warn!(
                event = "request", function = endpoint.function(), request_id, status,
                duration_ms, user_id, client_id, error_code = err.code(),
                detail = %err.public_message(),
                "request refused"
            ),
            None => info!(
                event = "request",
                function = endpoint.function(),
                request_id,
                status,
                duration_ms,
                user_id,
                client_id,
                "request served"
            ),
        }
        response
    }

    async fn authenticate(&self, request: &Request) -> Result<Caller> {
        let header = match request.headers().get(AUTHORIZATION) {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| {
                Error::Unauthenticated("Authorization must be `Bearer <token>`".to_owned())
            })?),
        };
        let tokens = self.tokens.as_ref().ok_or_else(|| {
            Error::Config("this function was not built to verify tokens".to_owned())
        })?;
        tokens.caller(header).await
    }
}

/// The whole `main` of an API function: build the [`App`] once, then serve `endpoint`.
pub async fn run(endpoint: Endpoint) -> std::result::Result<(), lambda_http::Error> {
    let config = Config::from_env()?;
    platform::telemetry::init(&config.stage, endpoint.function());
    let store = Store::from_env(&config.table_name).await;
    let app = &App::for_endpoint(endpoint, config, store)?;
    lambda_http::run(lambda_http::service_fn(
        move |request: Request| async move {
            Ok::<_, std::convert::Infallible>(app.handle(endpoint, request).await)
        },
    ))
    .await
}
