//! Secrets, held on template.yaml as deployed: no secret value (or a reference that
//! CloudFormation would resolve into one) in any function's environment, each
//! function given exactly the secrets its job needs and read access to those alone,
//! its logs kept for a bounded time, and production refusing the simulated gateway.

use std::collections::{BTreeMap, BTreeSet};

use devkit::paths;
use serde_yaml::Value;

const API_SECRET: &str = "RazorpayXApiSecret";
const WEBHOOK_SECRET: &str = "RazorpayXWebhookSecret";

/// What each function may read from Secrets Manager; every function not named reads nothing.
fn expected_secrets() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut expected = BTreeMap::new();
    for paying in [
        "process-pending",
        "process-payout",
        "retry-payout",
        "cancel-payout",
        "bulk-payouts",
        // Lists the gateway's payouts to reconcile them with ours.
        "reconcile",
    ] {
        expected.insert(paying, BTreeSet::from([API_SECRET]));
    }
    expected.insert("razorpayx-webhook", BTreeSet::from([WEBHOOK_SECRET]));
    expected
}

fn template() -> Value {
    let text = std::fs::read_to_string(paths::template()).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// `!Ref X` as serde_yaml reads it: the name X.
fn reference(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => tagged.value.as_str(),
        _ => None,
    }
}

/// Every string anywhere in `value`, tags included.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Sequence(items) => items.iter().for_each(|item| strings(item, out)),
        Value::Mapping(map) => map.iter().for_each(|(key, value)| {
            strings(key, out);
            strings(value, out);
        }),
        Value::Tagged(tagged) => strings(&tagged.value, out),
        _ => {}
    }
}

/// (function name, resource) for every function in the template.
fn functions(template: &Value) -> Vec<(String, Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|resource| resource["Type"] == "AWS::Serverless::Function")
        .map(|resource| {
            let mut names = Vec::new();
            strings(&resource["Properties"]["FunctionName"], &mut names);
            let name = names[0].trim_start_matches("payouts-${Stage}-").to_owned();
            (name, resource.clone())
        })
        .collect()
}

#[test]
fn no_environment_holds_a_secret_or_a_reference_that_resolves_to_one() {
    let template = template();
    let mut environments = vec![(
        "Globals".to_owned(),
        template["Globals"]["Function"]["Environment"].clone(),
    )];
    for (name, resource) in functions(&template) {
        environments.push((name, resource["Properties"]["Environment"].clone()));
    }
    for (name, environment) in environments {
        // An `Environment` left with no variables is null, which CloudFormation refuses
        // (and SAM would let override the Globals' variables).
        if !environment.is_null() {
            assert!(
                environment["Variables"].is_mapping(),
                "{name}: Environment without a mapping of Variables"
            );
        }
        let variables = environment["Variables"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        for (key, value) in variables {
            let key = key.as_str().unwrap_or_default().to_owned();
            assert!(
                ![
                    "JWT_SECRET",
                    "RAZORPAYX_KEY_ID",
                    "RAZORPAYX_KEY_SECRET",
                    "RAZORPAYX_WEBHOOK_SECRET",
                    "RAZORPAYX_WEBHOOK_SECRET_PREVIOUS"
                ]
                .contains(&key.as_str()),
                "{name}: {key} would carry a secret value"
            );
            let mut texts = Vec::new();
            strings(&value, &mut texts);
            for text in texts {
                assert!(
                    !text.contains("{{resolve:secretsmanager")
                        && !text.contains("{{resolve:ssm-secure"),
                    "{name}: {key} resolves a secret into the environment"
                );
            }
        }
    }
    // Nowhere else in the template either: a resolved secret would show in the
    // function's configuration or the stack's outputs.
    let text = std::fs::read_to_string(paths::template()).unwrap();
    assert!(!text.contains("{{resolve:secretsmanager"));
}

#[test]
fn each_function_is_given_and_may_read_exactly_its_own_secrets() {
    let template = template();
    let expected = expected_secrets();
    let all = functions(&template);
    assert!(all.len() >= 20, "the template has {} functions", all.len());
    for (name, resource) in all {
        let properties = &resource["Properties"];
        let given: BTreeSet<String> = properties["Environment"]["Variables"]
            .as_mapping()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|(key, _)| key.as_str().is_some_and(|key| key.ends_with("_SECRET_ID")))
            .filter_map(|(_, value)| reference(&value).map(str::to_owned))
            .collect();
        let mut readable = BTreeSet::new();
        for policy in properties["Policies"]
            .as_sequence()
            .cloned()
            .unwrap_or_default()
        {
            for statement in policy["Statement"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
            {
                let mut actions = Vec::new();
                strings(&statement["Action"], &mut actions);
                if actions
                    .iter()
                    .any(|action| action.starts_with("secretsmanager:"))
                {
                    assert_eq!(
                        actions,
                        ["secretsmanager:GetSecretValue"],
                        "{name}: read-only access to secrets"
                    );
                    let resource = reference(&statement["Resource"])
                        .unwrap_or_else(|| panic!("{name}: secret access names one secret"));
                    readable.insert(resource.to_owned());
                }
            }
        }
        let want: BTreeSet<String> = expected
            .get(name.as_str())
            .map(|secrets| secrets.iter().map(|s| (*s).to_owned()).collect())
            .unwrap_or_default();
        assert_eq!(given, want, "{name}: the secrets in its environment");
        assert_eq!(readable, want, "{name}: the secrets it may read");
    }
    // Nobody has a wildcard into Secrets Manager.
    let mut texts = Vec::new();
    strings(&template["Resources"], &mut texts);
    assert!(!texts.iter().any(|text| text.contains("secretsmanager:*")));
    for secret in [API_SECRET, WEBHOOK_SECRET] {
        assert_eq!(
            template["Resources"][secret]["Type"], "AWS::SecretsManager::Secret",
            "{secret}"
        );
    }
}

#[test]
fn every_function_logs_to_a_group_with_a_retention() {
    let template = template();
    let resources = &template["Resources"];
    for (name, resource) in functions(&template) {
        let group = reference(&resource["Properties"]["LoggingConfig"]["LogGroup"])
            .unwrap_or_else(|| panic!("{name} has no log group of its own"));
        assert_eq!(resources[group]["Type"], "AWS::Logs::LogGroup", "{name}");
        assert_eq!(
            reference(&resources[group]["Properties"]["RetentionInDays"]),
            Some("LogRetentionDays"),
            "{name}"
        );
        assert_eq!(
            resources[group]["Condition"], resource["Condition"],
            "{name}: the group exists exactly when its function does"
        );
    }
    assert_eq!(template["Parameters"]["LogRetentionDays"]["Default"], 90);
}

#[test]
fn production_refuses_the_simulated_gateway_and_tokens_are_verified_with_public_keys() {
    let template = template();
    let rule = &template["Rules"]["SimulatedGatewayOnlyInDev"];
    let mut texts = Vec::new();
    strings(rule, &mut texts);
    assert!(texts.iter().any(|t| t == "PaymentGateway"), "{rule:?}");
    assert!(texts.iter().any(|t| t == "simulated"), "{rule:?}");
    assert!(texts.iter().any(|t| t == "dev"), "{rule:?}");
    // samconfig's production profile pays for real.
    let samconfig =
        std::fs::read_to_string(paths::workspace_root().join("samconfig.toml")).unwrap();
    let prod = samconfig
        .split("[prod.deploy.parameters]")
        .nth(1)
        .expect("samconfig has a prod profile");
    assert!(prod.contains(r#"PaymentGateway=\"razorpayx\""#), "{prod}");
    // The token settings are public and required; no parameter names a signing secret.
    let parameters = template["Parameters"].as_mapping().unwrap();
    for required in ["JwtJwksUrl", "JwtIssuer", "JwtAudience"] {
        let parameter = &template["Parameters"][required];
        assert!(parameter.is_mapping(), "{required}");
        assert!(
            parameter.get("Default").is_none(),
            "{required} has no default"
        );
    }
    assert!(!parameters
        .keys()
        .any(|key| key.as_str().is_some_and(|key| key.contains("JwtSecret"))));
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(reference(&globals["JWT_JWKS_URL"]), Some("JwtJwksUrl"));
    assert_eq!(reference(&globals["JWT_AUDIENCE"]), Some("JwtAudience"));
}
