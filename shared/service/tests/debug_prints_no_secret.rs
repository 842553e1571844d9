//! `Debug` of any configuration or of the app a function builds never prints a
//! secret, whatever a panic message or a careless `{:?}` log line would show.

use api::auth::AuthConfig;
use api::auth::TokenVerifier;
use devkit::api::Api;
use devkit::testing::fresh_store;
use gateway::{Gateway, RazorpayX};
use service::config::{Config, RazorpayXConfig, WebhookSecrets, LOCAL_STAGE};

const PLANTED: [&str; 5] = [
    "planted-jwt-secret-0123456789abcdef",
    "planted-key-secret-0123456789",
    "planted-webhook-secret-0123456789",
    "planted-previous-secret-0123456789",
    "rzp_test_plantedkeyid",
];

fn assert_clean(what: &str, printed: &str) {
    for secret in PLANTED {
        assert!(
            !printed.contains(secret),
            "{what} prints {secret}: {printed}"
        );
    }
}

#[tokio::test]
async fn no_config_or_app_prints_a_secret() {
    let lookup = |name: &str| {
        match name {
            "STAGE" => Some(LOCAL_STAGE),
            "JWT_SECRET" => Some(PLANTED[0]),
            "PAYMENT_GATEWAY" => Some("razorpayx"),
            "RAZORPAYX_KEY_ID" => Some(PLANTED[4]),
            "RAZORPAYX_KEY_SECRET" => Some(PLANTED[1]),
            "RAZORPAYX_WEBHOOK_SECRET" => Some(PLANTED[2]),
            "RAZORPAYX_WEBHOOK_SECRET_PREVIOUS" => Some(PLANTED[3]),
            _ => None,
        }
        .map(str::to_owned)
    };
    let config = Config::from_lookup(lookup).unwrap();
    assert_clean("Config", &format!("{config:?} {config:#?}"));
    let gateway = config.gateway_from_lookup(lookup).unwrap();
    assert_clean("GatewayConfig", &format!("{gateway:?} {gateway:#?}"));
    let auth = AuthConfig::from_lookup(lookup).unwrap();
    assert_clean("AuthConfig", &format!("{auth:?}"));
    let webhook = WebhookSecrets::from_lookup(lookup).unwrap();
    assert_clean("WebhookSecrets", &format!("{webhook:?}"));
    // The secrets are there, only never printed.
    assert!(webhook
        .all()
        .await
        .unwrap()
        .contains(&PLANTED[2].to_owned()));

    let store = fresh_store().await;
    let mut api = Api::new(store);
    api.app.tokens = Some(TokenVerifier::from_config(&auth).unwrap());
    api.app.webhook_secrets = Some(webhook);
    api.app.gateway = Some(Gateway::RazorpayX(
        RazorpayX::new(&RazorpayXConfig::local(
            "http://127.0.0.1:9".to_owned(),
            PLANTED[1],
            1_000,
        ))
        .unwrap(),
    ));
    assert_clean("App", &format!("{:?} {:#?}", api.app, api.app));
}
