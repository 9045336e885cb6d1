//! Settings the steps need, read once at cold start by each function.

use chrono::Duration;

use crate::ids::AwsAccountId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The partner organization's management account.
    pub partner_account_id: AwsAccountId,
    /// Every joined account goes here first.
    pub onboarding_ou_id: String,
    /// Denies leaving the organization and touching the partner's roles.
    pub guardrail_scp_id: String,
    /// Full Hardening accounts end here.
    pub hardened_ou_id: String,
    pub hardening_scp_ids: Vec<String>,
    /// How long the customer has to upgrade the support plan after joining.
    pub support_deadline: Duration,
    /// The first wait between support checks; it doubles up to `support_max_wait`.
    pub support_first_wait: Duration,
    pub support_max_wait: Duration,
    /// How often the watcher looks at an open invitation.
    pub handshake_poll_interval: Duration,
    /// How long a hardening job is leased to one scan.
    pub hardening_lease: Duration,
    /// How long to wait before retrying a hardening job whose checks failed.
    pub hardening_retry: Duration,
    pub idempotency_ttl: Duration,
}

impl Settings {
    /// The design's defaults around the given partner setup.
    pub fn new(
        partner_account_id: AwsAccountId,
        onboarding_ou_id: &str,
        guardrail_scp_id: &str,
        hardened_ou_id: &str,
        hardening_scp_ids: &[&str],
    ) -> Self {
        Self {
            partner_account_id,
            onboarding_ou_id: onboarding_ou_id.to_owned(),
            guardrail_scp_id: guardrail_scp_id.to_owned(),
            hardened_ou_id: hardened_ou_id.to_owned(),
            hardening_scp_ids: hardening_scp_ids.iter().map(|s| (*s).to_owned()).collect(),
            support_deadline: Duration::days(14),
            support_first_wait: Duration::hours(1),
            support_max_wait: Duration::hours(24),
            handshake_poll_interval: Duration::minutes(10),
            hardening_lease: Duration::minutes(5),
            hardening_retry: Duration::hours(1),
            idempotency_ttl: Duration::hours(24),
        }
    }
}
