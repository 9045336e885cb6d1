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

/// Names the plan class from the severity levels a paid plan offers.
pub fn plan_class(codes: &[&str]) -> String {
    let class = if codes.contains(&"critical") {
        "Enterprise-class support"
    } else if codes.contains(&"urgent") {
        "Business-class support"
    } else {
        "paid support"
    };
    format!("{class} (severity levels: {})", codes.join(", "))
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
                let answer = SupportAnswer { plan: SupportPlan::Paid, detail: Some(plan_class(&codes)) };
                info!(detail = answer.detail.as_deref(), "paid support plan");
                answer
            }
            Err(err) if is_subscription_required(error_code(&err)) => {
                info!("no paid support plan");
                SupportAnswer { plan: SupportPlan::BasicOrDeveloper, detail: Some("SubscriptionRequiredException".into()) }
            }
            // Access denied, throttling, anything else: cannot tell, never Basic.
            Err(err) => {
                let detail = error_message(&err);
                warn!(%detail, "support plan unknown");
                SupportAnswer { plan: SupportPlan::Unknown, detail: Some(detail) }
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

    #[test]
    fn plan_class_follows_the_highest_severity() {
        assert!(plan_class(&["low", "normal", "high", "urgent", "critical"]).starts_with("Enterprise-class"));
        assert!(plan_class(&["low", "normal", "high", "urgent"]).starts_with("Business-class"));
        assert!(plan_class(&["low", "normal"]).starts_with("paid support"));
    }
}
