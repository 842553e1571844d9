//! The gateway's part: its settings and the handle of its keys, built only by the
//! functions that pay, and checked against the settings every function reads (the
//! stage, the lease).

use super::{
    secret_cache_ttl, Config, GatewayConfig, GatewayKind, LargeTransferMode, RazorpayXConfig,
    RazorpayXKeys, SimulatedGatewayConfig, DEV_RAZORPAYX_ACCOUNT_NUMBER, DEV_RAZORPAYX_BASE_URL,
    DEV_RAZORPAYX_KEY_ID, DEV_RAZORPAYX_KEY_SECRET, IMPS_LIMIT_PAISE, LOCAL_STAGE,
    MAX_SIM_LATENCY_MS, RAZORPAYX_MIN_PAYOUT_PAISE, RTGS_MIN_PAISE,
};
use domain::error::{Error, Result};
use domain::settings::{parse, parse_value, trimmed, within};
use platform::secrets::Secret;

impl Config {
    /// The gateway's part, from the environment: only the functions that pay build it.
    pub fn gateway_from_env(&self) -> Result<GatewayConfig> {
        self.gateway_from_lookup(|name| std::env::var(name).ok())
    }

    /// The gateway's settings and the handle of its credentials (a Secrets Manager
    /// secret, read at first use), checked against the rest of this configuration.
    pub fn gateway_from_lookup(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<GatewayConfig> {
        let var = trimmed(lookup);
        let local = self.stage == LOCAL_STAGE;
        let lease_secs = self.processor.lease_secs;
        let secret_cache_ttl = secret_cache_ttl(&var)?;
        let vault = &self.vault;
        let gateway = match self.gateway_kind {
            GatewayKind::Simulated => {
                let defaults = SimulatedGatewayConfig::default();
                let success_rate = parse(&var, "GATEWAY_SIM_SUCCESS_RATE", defaults.success_rate)?;
                if !(0.0..=1.0).contains(&success_rate) {
                    return Err(Error::Config(format!(
                        "GATEWAY_SIM_SUCCESS_RATE must be within 0.0..=1.0, got {success_rate}"
                    )));
                }
                let latency_ms = within(
                    parse(&var, "GATEWAY_SIM_LATENCY_MS", defaults.latency_ms)?,
                    "GATEWAY_SIM_LATENCY_MS",
                    0,
                    MAX_SIM_LATENCY_MS,
                )?;
                // A transfer still sleeping when its lease runs out would land after a
                // cancel had already been told that nothing was sent.
                if latency_ms >= lease_secs.saturating_mul(1000) {
                    return Err(Error::Config(format!(
                        "GATEWAY_SIM_LATENCY_MS ({latency_ms}) must be shorter than LEASE_SECS \
                             ({lease_secs} s)"
                    )));
                }
                GatewayConfig::Simulated(SimulatedGatewayConfig {
                    success_rate,
                    latency_ms,
                    seed: var("GATEWAY_SIM_SEED")
                        .map(|text| parse_value("GATEWAY_SIM_SEED", &text))
                        .transpose()?,
                })
            }
            GatewayKind::RazorpayX => {
                let credentials = match var("RAZORPAYX_API_SECRET_ID") {
                    Some(id) => Some(Secret::managed(id, secret_cache_ttl)),
                    None if local => Some(Secret::fixed(
                        RazorpayXKeys {
                            key_id: var("RAZORPAYX_KEY_ID")
                                .unwrap_or_else(|| DEV_RAZORPAYX_KEY_ID.to_owned()),
                            key_secret: var("RAZORPAYX_KEY_SECRET")
                                .unwrap_or_else(|| DEV_RAZORPAYX_KEY_SECRET.to_owned()),
                        }
                        .to_secret_string(),
                    )),
                    // Only the functions that pay are given the secret; the others never
                    // build a RazorpayX client ([`gateway::Gateway::from_config`]).
                    None => None,
                };
                let base_url = var("RAZORPAYX_BASE_URL").unwrap_or_else(|| {
                    if local {
                        DEV_RAZORPAYX_BASE_URL
                    } else {
                        "https://api.razorpay.com"
                    }
                    .to_owned()
                });
                if !local && !base_url.starts_with("https://") {
                    return Err(Error::Config(format!(
                            "RAZORPAYX_BASE_URL must be https outside local development, got `{base_url}`"
                        )));
                }
                let account_number =
                    match var("RAZORPAYX_ACCOUNT_NUMBER") {
                        None if local => DEV_RAZORPAYX_ACCOUNT_NUMBER.to_owned(),
                        Some(number) => number,
                        None => return Err(Error::Config(
                            "RAZORPAYX_ACCOUNT_NUMBER is missing: the RazorpayX business account \
                                 payouts are made from"
                                .to_owned(),
                        )),
                    };
                GatewayConfig::RazorpayX(RazorpayXConfig {
                    base_url,
                    credentials,
                    account_number,
                    timeout_ms: within(
                        parse(&var, "RAZORPAYX_TIMEOUT_MS", 10_000u64)?,
                        "RAZORPAYX_TIMEOUT_MS",
                        100,
                        60_000,
                    )?,
                    local,
                    imps_max_paise: within(
                        parse(&var, "RAZORPAYX_IMPS_MAX_PAISE", IMPS_LIMIT_PAISE)?,
                        "RAZORPAYX_IMPS_MAX_PAISE",
                        RAZORPAYX_MIN_PAYOUT_PAISE,
                        IMPS_LIMIT_PAISE,
                    )?,
                    above_imps_mode: match var("RAZORPAYX_ABOVE_IMPS_MODE").as_deref() {
                        None | Some("NEFT") => LargeTransferMode::Neft,
                        Some("RTGS") => LargeTransferMode::Rtgs,
                        Some(other) => {
                            return Err(Error::Config(format!(
                                "RAZORPAYX_ABOVE_IMPS_MODE must be NEFT or RTGS, got `{other}`"
                            )))
                        }
                    },
                    vault: vault.clone(),
                    max_tps: match var("GATEWAY_MAX_TPS").filter(|text| !text.trim().is_empty()) {
                        None => None,
                        Some(text) => Some(
                            text.trim()
                                .parse::<f64>()
                                .ok()
                                .filter(|tps| tps.is_finite() && (0.1..=1_000.0).contains(tps))
                                .ok_or_else(|| {
                                    Error::Config(format!(
                                        "GATEWAY_MAX_TPS must be a number of calls a second from \
                                         0.1 to 1000, got `{text}`"
                                    ))
                                })?,
                        ),
                    },
                })
            }
        };
        // RTGS takes ₹2,00,000 and more: everything above the IMPS limit must be.
        if let GatewayConfig::RazorpayX(razorpayx) = &gateway {
            if razorpayx.above_imps_mode == LargeTransferMode::Rtgs
                && razorpayx.imps_max_paise < RTGS_MIN_PAISE
            {
                return Err(Error::Config(format!(
                    "RAZORPAYX_ABOVE_IMPS_MODE=RTGS needs RAZORPAYX_IMPS_MAX_PAISE of at least \
                     {RTGS_MIN_PAISE} (RTGS's smallest transfer)"
                )));
            }
        }
        Ok(gateway)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{config, deployed, deployed_gateway, gateway};
    use super::*;

    #[test]
    fn a_production_stage_refuses_the_simulated_gateway() {
        for stage in ["prod", "staging", "unnamed"] {
            let err = deployed(&[("STAGE", stage), ("FUNCTION_TIMEOUT_SECS", "29")])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("PAYMENT_GATEWAY") && err.contains("PaymentGateway"),
                "{stage}: {err}"
            );
        }
        assert!(deployed(&[("STAGE", "dev"), ("FUNCTION_TIMEOUT_SECS", "29")]).is_ok());
        let prod = deployed_gateway(&[
            ("STAGE", "prod"),
            ("FUNCTION_TIMEOUT_SECS", "29"),
            ("PAYMENT_GATEWAY", "razorpayx"),
            ("RAZORPAYX_ACCOUNT_NUMBER", "7878780080316316"),
            ("RAZORPAYX_API_SECRET_ID", "payouts/prod/razorpayx-api"),
        ])
        .unwrap();
        let GatewayConfig::RazorpayX(razorpayx) = prod else {
            panic!("razorpayx was asked for");
        };
        assert!(razorpayx
            .credentials
            .is_some_and(|secret| secret.is_managed()));
        // A function that is not given the secret builds no credentials at all.
        let reader = deployed_gateway(&[
            ("STAGE", "prod"),
            ("FUNCTION_TIMEOUT_SECS", "29"),
            ("PAYMENT_GATEWAY", "razorpayx"),
            ("RAZORPAYX_ACCOUNT_NUMBER", "7878780080316316"),
        ])
        .unwrap();
        let GatewayConfig::RazorpayX(razorpayx) = reader else {
            panic!("razorpayx was asked for");
        };
        assert_eq!(razorpayx.credentials, None);
        // A function that does not pay builds no gateway part: without the business
        // account it still starts, and only the part refuses.
        let settings = [
            ("STAGE", "prod"),
            ("FUNCTION_TIMEOUT_SECS", "29"),
            ("PAYMENT_GATEWAY", "razorpayx"),
        ];
        let config = deployed(&settings).unwrap();
        assert_eq!(config.gateway_kind, GatewayKind::RazorpayX);
        let err = deployed_gateway(&settings).unwrap_err().to_string();
        assert!(err.contains("RAZORPAYX_ACCOUNT_NUMBER"), "{err}");
    }

    #[test]
    fn razorpayx_is_paced_only_when_asked_and_at_a_sensible_rate() {
        let razorpayx = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("PAYMENT_GATEWAY", "razorpayx")];
            pairs.extend_from_slice(extra);
            gateway(&pairs)
        };
        for (setting, expected) in [(None, None), (Some(""), None), (Some("8"), Some(8.0))] {
            let extra: Vec<(&'static str, &'static str)> = setting
                .map(|tps| ("GATEWAY_MAX_TPS", tps))
                .into_iter()
                .collect();
            let GatewayConfig::RazorpayX(config) = razorpayx(&extra).unwrap() else {
                panic!("razorpayx was asked for");
            };
            assert_eq!(config.max_tps, expected, "{setting:?}");
        }
        for bad in ["0", "-3", "fast", "NaN", "5000"] {
            let err = razorpayx(&[("GATEWAY_MAX_TPS", bad)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("GATEWAY_MAX_TPS"), "{bad}: {err}");
        }
    }

    #[test]
    fn razorpayx_needs_a_minimum_of_a_rupee_and_a_mode_above_imps_that_fits() {
        let razorpayx = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("PAYMENT_GATEWAY", "razorpayx")];
            pairs.extend_from_slice(extra);
            gateway(&pairs)
        };
        let err = razorpayx(&[("PAYOUT_MIN_PAISE", "99")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("PAYOUT_MIN_PAISE"), "{err}");
        // The simulated gateway has no such floor.
        assert!(config(&[("PAYOUT_MIN_PAISE", "1")]).is_ok());
        let GatewayConfig::RazorpayX(defaults) = razorpayx(&[]).unwrap() else {
            panic!("razorpayx was asked for");
        };
        assert_eq!(defaults.imps_max_paise, IMPS_LIMIT_PAISE);
        assert_eq!(defaults.above_imps_mode, LargeTransferMode::Neft);
        let GatewayConfig::RazorpayX(rtgs) =
            razorpayx(&[("RAZORPAYX_ABOVE_IMPS_MODE", "RTGS")]).unwrap()
        else {
            panic!("razorpayx was asked for");
        };
        assert_eq!(rtgs.above_imps_mode, LargeTransferMode::Rtgs);
        for bad in [
            &[("RAZORPAYX_ABOVE_IMPS_MODE", "IMPS")][..],
            &[("RAZORPAYX_IMPS_MAX_PAISE", "60000000")],
            &[("RAZORPAYX_IMPS_MAX_PAISE", "50")],
            // RTGS starts at ₹2,00,000: smaller transfers above the IMPS bound could not go.
            &[
                ("RAZORPAYX_ABOVE_IMPS_MODE", "RTGS"),
                ("RAZORPAYX_IMPS_MAX_PAISE", "10000000"),
            ],
        ] {
            assert!(razorpayx(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn razorpayx_keys_from_a_secret_refuse_the_local_ones_outside_local_runs() {
        let dev = RazorpayXKeys::dev().to_secret_string();
        assert!(RazorpayXKeys::from_secret_string(&dev, true).is_ok());
        assert!(RazorpayXKeys::from_secret_string(&dev, false).is_err());
        let real = RazorpayXKeys {
            key_id: "rzp_live_0123456789".to_owned(),
            key_secret: "a-live-secret-of-24-char".to_owned(),
        };
        assert_eq!(
            RazorpayXKeys::from_secret_string(&real.to_secret_string(), false).unwrap(),
            real
        );
        for bad in [
            "",
            "not json",
            r#"{"key_id":"rzp_live_1"}"#,
            r#"{"key_id":"a","key_secret":"short"}"#,
        ] {
            assert!(
                RazorpayXKeys::from_secret_string(bad, false).is_err(),
                "{bad}"
            );
        }
        assert!(!format!("{real:?}").contains("a-live-secret"));
    }

    #[test]
    fn values_that_would_overflow_or_stall_refuse_to_start() {
        for (name, value) in [
            ("BATCH_SIZE", "0"),
            ("PROCESS_CONCURRENCY", "0"),
            ("LEASE_SECS", "0"),
            ("BATCH_SIZE", "18446744073709551615"),
            ("PROCESS_CONCURRENCY", "1001"),
            ("LEASE_SECS", "18446744073709551615"),
            ("LEASE_SECS", "9223372036854775807"),
            ("GATEWAY_SIM_LATENCY_MS", "18446744073709551615"),
            ("BATCH_SIZE", "-1"),
        ] {
            let err = gateway(&[(name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }
}
