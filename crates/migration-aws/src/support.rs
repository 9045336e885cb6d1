//! The customer's support plan, read through their role with
//! `support:DescribeSeverityLevels` at the us-east-1 endpoint.

use async_trait::async_trait;
use aws_config::SdkConfig;
use migration::ports::{CustomerSession, SupportAnswer, SupportProbe};
use migration::record::SupportPlan;
use tracing::{info, instrument, warn};

use crate::clients::{ClientHooks, Signer, session_config};
use crate::errors::{error_code, error_message, is_subscription_required};

/// The AWS adapter of [`SupportProbe`].
#[derive(Clone, Debug)]
pub struct AwsSupportProbe {
    base: SdkConfig,
    hooks: ClientHooks,
}

/// The plan a successful `DescribeSeverityLevels` shows: its class, from the highest level
/// offered ([`SupportPlan::from_severity_levels`]), and in words the class and the levels seen.
pub fn classify(codes: &[&str]) -> SupportAnswer {
    let plan = SupportPlan::from_severity_levels(codes.iter().copied());
    let class = match plan {
        SupportPlan::EnterpriseClass => "Enterprise-class support",
        SupportPlan::BusinessClass => "Business-class support",
        _ => "paid support",
    };
    let levels = if codes.is_empty() { "none".to_owned() } else { codes.join(", ") };
    SupportAnswer { plan, detail: Some(format!("{class} (severity levels: {levels})")) }
}

/// The plan a failed `DescribeSeverityLevels` shows: `SubscriptionRequiredException` is
/// Basic or Developer; anything else (access denied, throttling, ...) cannot tell.
fn from_error(code: Option<&str>, detail: String) -> SupportAnswer {
    if is_subscription_required(code) {
        SupportAnswer { plan: SupportPlan::BasicOrDeveloper, detail: Some("SubscriptionRequiredException".into()) }
    } else {
        SupportAnswer { plan: SupportPlan::Unknown, detail: Some(detail) }
    }
}

impl AwsSupportProbe {
    pub fn new(base: SdkConfig) -> Self {
        Self::with_hooks(base, ClientHooks::default())
    }

    /// The clients it builds with the customer's credentials go through `hooks`.
    pub fn with_hooks(base: SdkConfig, hooks: ClientHooks) -> Self {
        Self { base, hooks }
    }

    /// With a client already built (tests).
    pub async fn probe(client: &aws_sdk_support::Client) -> SupportAnswer {
        match client.describe_severity_levels().language("en").send().await {
            Ok(out) => {
                let codes: Vec<&str> = out.severity_levels().iter().filter_map(|l| l.code()).collect();
                let answer = classify(&codes);
                info!(plan = ?answer.plan, detail = answer.detail.as_deref(), "paid support plan");
                answer
            }
            Err(err) => {
                let answer = from_error(error_code(&err), error_message(&err));
                match answer.plan {
                    SupportPlan::BasicOrDeveloper => info!("no paid support plan"),
                    // Access denied, throttling, anything else: cannot tell, never Basic.
                    _ => warn!(detail = answer.detail.as_deref(), "support plan unknown"),
                }
                answer
            }
        }
    }
}

#[async_trait]
impl SupportProbe for AwsSupportProbe {
    #[instrument(skip(self, session), fields(account = %session.account_id))]
    async fn support_plan(&self, session: &CustomerSession) -> SupportAnswer {
        let client = self.hooks.support(&session_config(&self.base, session), Signer::CustomerRole);
        Self::probe(&client).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every support plan AWS sells or still runs in 2026, with what `DescribeSeverityLevels`
    /// answers for it: its severity levels, or `None` for `SubscriptionRequiredException`.
    const PLANS_2026: &[(&str, Option<&[&str]>, SupportPlan)] = &[
        ("Basic", None, SupportPlan::BasicOrDeveloper),
        ("Developer (legacy)", None, SupportPlan::BasicOrDeveloper),
        ("Business (legacy)", Some(&["low", "normal", "high", "urgent"]), SupportPlan::BusinessClass),
        ("Business Support+", Some(&["low", "normal", "high", "urgent"]), SupportPlan::BusinessClass),
        ("Enterprise On-Ramp (legacy)", Some(&["low", "normal", "high", "urgent", "critical"]), SupportPlan::EnterpriseClass),
        ("Enterprise (legacy)", Some(&["low", "normal", "high", "urgent", "critical"]), SupportPlan::EnterpriseClass),
        ("Enterprise Support", Some(&["low", "normal", "high", "urgent", "critical"]), SupportPlan::EnterpriseClass),
        ("Unified Operations", Some(&["low", "normal", "high", "urgent", "critical"]), SupportPlan::EnterpriseClass),
    ];

    #[test]
    fn every_2026_plan_legacy_and_new_is_classified() {
        for (name, levels, expected) in PLANS_2026 {
            let answer = match levels {
                Some(codes) => classify(codes),
                None => from_error(Some("SubscriptionRequiredException"), "SubscriptionRequiredException: no plan".into()),
            };
            assert_eq!(answer.plan, *expected, "{name}");
            let detail = answer.detail.unwrap_or_default();
            match expected {
                SupportPlan::EnterpriseClass => {
                    assert_eq!(detail, "Enterprise-class support (severity levels: low, normal, high, urgent, critical)", "{name}")
                }
                SupportPlan::BusinessClass => {
                    assert_eq!(detail, "Business-class support (severity levels: low, normal, high, urgent)", "{name}")
                }
                _ => assert_eq!(detail, "SubscriptionRequiredException", "{name}"),
            }
        }
    }

    #[test]
    fn levels_that_name_no_class_are_paid_and_errors_that_say_nothing_are_unknown() {
        let answer = classify(&["low", "normal"]);
        assert_eq!(answer.plan, SupportPlan::Paid);
        assert_eq!(answer.detail.as_deref(), Some("paid support (severity levels: low, normal)"));
        assert_eq!(classify(&[]).plan, SupportPlan::Paid, "the API answered: a paid plan");
        for code in [Some("AccessDeniedException"), Some("ThrottlingException"), None] {
            let answer = from_error(code, "the message".into());
            assert_eq!(answer.plan, SupportPlan::Unknown, "{code:?}");
            assert_eq!(answer.detail.as_deref(), Some("the message"));
        }
    }
}
