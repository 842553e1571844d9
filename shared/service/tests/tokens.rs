//! Tokens as deployed stages verify them: asymmetric signatures by the
//! identity provider's keys, fetched from its JWKS, through `App::handle` against
//! DynamoDB Local. Every refusal is a 401 (or a 503 when the keys cannot be had) and
//! leaves the data as it was.

use std::time::Duration;

use api::auth::{AuthConfig, DEV_JWT_SECRET};
use api::auth::{TokenVerifier, JWKS_MIN_REFRESH};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use devkit::api::{Api, Call, Reply};
use devkit::testing::{fresh_store, Snapshot};
use devkit::token::{TestIssuer, EC_KID, RSA_KID};
use domain::money::Paise;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use service::scout::Scout;
use store::Store;

const USER: u64 = 7;
const ADMIN: u64 = 1;

/// An API whose tokens come from a fresh test issuer, with scout s-1 of user 7 holding
/// ₹500.00, so a request that got through would change something.
async fn world(min_refresh: Duration) -> (Api, Store, TestIssuer) {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", USER, Paise(50_000)))
        .await
        .unwrap();
    let issuer = TestIssuer::start("payouts-test").await.unwrap();
    let mut api = Api::new(store.clone());
    api.app.tokens = Some(TokenVerifier::issuer(&issuer.config(), min_refresh).unwrap());
    (api, store, issuer)
}

async fn request_payout(api: &Api, token: &str) -> Reply {
    api.call(Call {
        method: "POST",
        path: "/scouts/s-1/request-payout",
        token: Some(token),
        body: Some(r#"{"amount_paise": 10000}"#),
        ..Call::default()
    })
    .await
}

async fn snapshot(store: &Store) -> Snapshot {
    Snapshot::take(store, &["s-1"], &[], &[USER]).await
}

/// `request` is refused with `status` and `code`, and the data is untouched.
async fn assert_refused(api: &Api, store: &Store, token: &str, status: u16, what: &str) {
    let before = snapshot(store).await;
    let reply = request_payout(api, token).await;
    assert_eq!(reply.status, status, "{what}: {}", reply.text);
    let code = match status {
        401 => "unauthorized",
        403 => "forbidden",
        _ => "service_unavailable",
    };
    assert_eq!(reply.code(), code, "{what}");
    assert_eq!(snapshot(store).await, before, "{what} changed the data");
}

#[tokio::test]
async fn rs256_and_es256_tokens_of_the_issuer_are_accepted_and_roles_hold() {
    let (api, _store, issuer) = world(JWKS_MIN_REFRESH).await;
    let user_rs = issuer
        .sign_rs256(&issuer.claims(USER, false), RSA_KID)
        .unwrap();
    let user_es = issuer
        .sign_es256(&issuer.claims(USER, false), EC_KID)
        .unwrap();
    let admin_es = issuer
        .sign_es256(&issuer.claims(ADMIN, true), EC_KID)
        .unwrap();
    let created = request_payout(&api, &user_rs).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let mine = api.get("/payouts/my-payouts", "", &user_es).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert_eq!(mine.body["payouts"].as_array().map(Vec::len), Some(1));
    // A user is not an admin, whatever key signed the token.
    assert_eq!(api.get("/payouts", "", &user_es).await.status, 403);
    assert_eq!(api.get("/payouts", "", &admin_es).await.status, 200);
    // One fetch served every token.
    assert_eq!(issuer.fetches(), 1);
}

#[tokio::test]
async fn tokens_of_another_issuer_audience_or_lifetime_are_refused() {
    let (api, store, issuer) = world(JWKS_MIN_REFRESH).await;
    let claims = issuer.claims(USER, false);
    let now = jsonwebtoken::get_current_timestamp();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = claims.clone();
        change(&mut claims);
        issuer.sign_rs256(&claims, RSA_KID).unwrap()
    };
    let cases = [
        (
            "wrong iss",
            with(&|c| c["iss"] = json!("https://evil.example/")),
        ),
        ("wrong aud", with(&|c| c["aud"] = json!("payouts-dev"))),
        (
            "no aud",
            with(&|c| drop(c.as_object_mut().unwrap().remove("aud"))),
        ),
        (
            "no iss",
            with(&|c| drop(c.as_object_mut().unwrap().remove("iss"))),
        ),
        (
            "no exp",
            with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        (
            "expired",
            with(&|c| {
                c["iat"] = json!(now - 120);
                c["exp"] = json!(now - 60);
            }),
        ),
        ("not yet valid", with(&|c| c["nbf"] = json!(now + 300))),
        ("lives a day", with(&|c| c["exp"] = json!(now + 86_400))),
        (
            "issued in the future",
            with(&|c| c["iat"] = json!(now + 300)),
        ),
        (
            "subject not a user id",
            with(&|c| c["sub"] = json!("alice")),
        ),
    ];
    for (what, token) in &cases {
        assert_refused(&api, &store, token, 401, what).await;
    }
    // A token for another stage's audience is refused even with this stage's keys.
    let dev_token = with(&|c| c["aud"] = json!(["payouts-dev", "payouts-staging"]));
    assert_refused(&api, &store, &dev_token, 401, "another stage").await;
    let both = with(&|c| c["aud"] = json!(["payouts-dev", "payouts-test"]));
    assert_eq!(request_payout(&api, &both).await.status, 201);
}

#[tokio::test]
async fn forged_and_confused_algorithms_are_refused() {
    let (api, store, issuer) = world(JWKS_MIN_REFRESH).await;
    let claims = issuer.claims(ADMIN, true);
    // HS256 with the local development secret: what anyone with the repository can mint.
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(RSA_KID.to_owned());
    let forged = encode(
        &header,
        &claims,
        &EncodingKey::from_secret(DEV_JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_refused(&api, &store, &forged, 401, "HS256 with the dev secret").await;
    // The RS256 key confusion: HS256 keyed with the RSA public key, in every form an
    // attacker might try.
    for public in issuer.rsa_public_key_bytes() {
        let confused = encode(&header, &claims, &EncodingKey::from_secret(&public)).unwrap();
        assert_refused(
            &api,
            &store,
            &confused,
            401,
            "HS256 keyed with the public key",
        )
        .await;
    }
    // `alg: none`, unsigned.
    let none_header =
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{RSA_KID}"}}"#));
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    for token in [
        format!("{none_header}.{body}."),
        format!("{none_header}.{body}"),
    ] {
        assert_refused(&api, &store, &token, 401, "alg none").await;
    }
    // An EC signature presented as RS256, and an RSA key asked to check ES256.
    let es = issuer.sign_es256(&claims, EC_KID).unwrap();
    let (_, rest) = es.split_once('.').unwrap();
    let relabelled = format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{EC_KID}"}}"#))
    );
    assert_refused(&api, &store, &relabelled, 401, "EC key as RS256").await;
    let wrong_key = issuer.sign_es256(&claims, RSA_KID).unwrap();
    assert_refused(&api, &store, &wrong_key, 401, "ES256 under the RSA kid").await;
    // A tampered payload under a real signature.
    let good = issuer
        .sign_rs256(&issuer.claims(USER, false), RSA_KID)
        .unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let promoted = URL_SAFE_NO_PAD.encode(issuer.claims(USER, true).to_string());
    let tampered = format!("{}.{promoted}.{}", parts[0], parts[2]);
    assert_refused(&api, &store, &tampered, 401, "tampered claims").await;
    // No kid: the key cannot be chosen.
    let token = issuer.sign_es256(&claims, "").unwrap();
    assert_refused(&api, &store, &token, 401, "empty kid").await;
}

#[tokio::test]
async fn an_unknown_kid_refreshes_the_keys_once_a_minute_at_most_then_is_refused() {
    let (api, store, issuer) = world(JWKS_MIN_REFRESH).await;
    let good = issuer
        .sign_rs256(&issuer.claims(USER, false), RSA_KID)
        .unwrap();
    assert_eq!(request_payout(&api, &good).await.status, 201);
    assert_eq!(issuer.fetches(), 1);
    // The first unknown kid is looked for again at the issuer, which still does not
    // list it; the flood after it costs the issuer nothing within the minute.
    for attempt in 0..20 {
        let forged = issuer
            .sign_rs256(&issuer.claims(USER, false), &format!("made-up-{attempt}"))
            .unwrap();
        assert_refused(&api, &store, &forged, 401, "unknown kid").await;
    }
    assert_eq!(
        issuer.fetches(),
        1,
        "the first unknown kid came within the minute of the first fetch"
    );
    // Known keys keep working meanwhile.
    assert_eq!(request_payout(&api, &good).await.status, 201);
}

#[tokio::test]
async fn an_unknown_kid_is_looked_up_again_when_the_refresh_limit_allows() {
    let (api, store, issuer) = world(Duration::ZERO).await;
    let good = issuer
        .sign_es256(&issuer.claims(USER, false), EC_KID)
        .unwrap();
    assert_eq!(request_payout(&api, &good).await.status, 201);
    let forged = issuer
        .sign_rs256(&issuer.claims(USER, false), "rotated-in-later")
        .unwrap();
    assert_refused(&api, &store, &forged, 401, "unknown kid").await;
    assert_eq!(issuer.fetches(), 2, "the unknown kid made one refresh");
}

#[tokio::test]
async fn a_jwks_that_cannot_be_fetched_fails_closed() {
    let (api, store, issuer) = world(JWKS_MIN_REFRESH).await;
    issuer.set_failing(true);
    let good = issuer
        .sign_rs256(&issuer.claims(USER, false), RSA_KID)
        .unwrap();
    assert_refused(&api, &store, &good, 503, "issuer down at first use").await;
    // Within the minute nothing is fetched again and nothing gets through.
    assert_refused(&api, &store, &good, 503, "issuer still down").await;
    assert_eq!(issuer.fetches(), 1);

    // With the refresh limit lifted, the issuer coming back lets the same token in.
    let (api, store, issuer) = world(Duration::ZERO).await;
    issuer.set_failing(true);
    let good = issuer
        .sign_rs256(&issuer.claims(USER, false), RSA_KID)
        .unwrap();
    assert_refused(&api, &store, &good, 503, "issuer down").await;
    issuer.set_failing(false);
    assert_eq!(request_payout(&api, &good).await.status, 201);
}

#[tokio::test]
async fn a_deployed_stage_accepts_no_hs256_token_at_all() {
    // The configuration itself refuses a shared secret outside local runs...
    let deployed = AuthConfig::from_lookup(|name| match name {
        "STAGE" => Some("prod".to_owned()),
        "JWT_SECRET" => Some(DEV_JWT_SECRET.to_owned()),
        _ => None,
    });
    assert!(deployed.is_err());
    // ...and what a local-secret verifier would take, the issuer's refuses.
    let (api, store, _issuer) = world(JWKS_MIN_REFRESH).await;
    let local =
        devkit::token::mint(DEV_JWT_SECRET, ADMIN, domain::actor::Role::Admin, 600).unwrap();
    assert_refused(&api, &store, &local, 401, "a local token").await;
}

/// The marketplace's backend as a deployed stage takes it: a listed client's
/// client-credentials token with the service scope, with the stage's `aud` or (as
/// Cognito issues them) an access token without one. Any other client with the scope,
/// a user's token without `aud`, and an ID token without `aud` are refused, and
/// nothing is written.
#[tokio::test]
async fn only_a_listed_clients_service_token_opens_the_marketplace_door() {
    let (api, store, issuer) = world(JWKS_MIN_REFRESH).await;
    let put_scout = |token: String| {
        let api = &api;
        async move {
            api.call(Call {
                method: "PUT",
                path: "/scouts/s-new",
                token: Some(&token),
                body: Some(r#"{"user_id": 7, "active": true}"#),
                ..Call::default()
            })
            .await
        }
    };
    let service = issuer.service_claims(devkit::token::TEST_SERVICE_CLIENT);
    let mut with_audience = service.clone();
    with_audience["aud"] = json!(issuer.audience);
    let mut other_client = service.clone();
    other_client["client_id"] = json!("shop-web");
    let mut id_token = service.clone();
    id_token["token_use"] = json!("id");
    let mut wrong_audience = service.clone();
    wrong_audience["aud"] = json!("payouts-other-stage");
    let mut user_without_audience = issuer.claims(USER, false);
    user_without_audience.as_object_mut().unwrap().remove("aud");

    for (claims, status) in [
        (&other_client, 403),
        (&id_token, 401),
        (&wrong_audience, 401),
    ] {
        let reply = put_scout(issuer.sign_rs256(claims, RSA_KID).unwrap()).await;
        assert_eq!(reply.status, status, "{claims}: {}", reply.text);
        assert_eq!(store.scout("s-new").await.unwrap(), None);
    }
    let user = issuer.sign_rs256(&user_without_audience, RSA_KID).unwrap();
    assert_refused(&api, &store, &user, 401, "a user's token without aud").await;

    let created = put_scout(issuer.sign_rs256(&service, RSA_KID).unwrap()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let again = put_scout(issuer.sign_rs256(&with_audience, RSA_KID).unwrap()).await;
    assert_eq!(again.status, 200, "{}", again.text);
    // The same token is no user's: it is refused on a user's route.
    let service_token = issuer.sign_rs256(&with_audience, RSA_KID).unwrap();
    assert_refused(
        &api,
        &store,
        &service_token,
        403,
        "a service token on a user route",
    )
    .await;
}
