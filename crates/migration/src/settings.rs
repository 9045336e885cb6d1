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
    /// How soon the first check looks again when it finds no paid plan right after the
    /// join (AWS's plan reactivation gap).
    pub support_join_recheck: Duration,
    /// How often the watcher looks at an open invitation.
    pub handshake_poll_interval: Duration,
    /// How long a hardening job is leased to one scan.
    pub hardening_lease: Duration,
    /// How long to wait before retrying a hardening job whose checks failed.
    pub hardening_retry: Duration,
    /// Attempts after which a job that keeps failing or waiting stops with
    /// `Migration.HardeningStalled`: 48, two days of hourly waits, or half a day of errors
    /// retried at every 15-minute scan.
    pub hardening_max_attempts: u32,
    pub idempotency_ttl: Duration,
    /// Invitations the partner organization may send per 24 hours: AWS allows 20 or the
    /// organization's account quota, whichever is greater (`InvitationsPer24Hours`). The
    /// invite step reserves a slot of it in the store before it invites, and defers the
    /// invitation when none is free ([`crate::quota`]).
    pub invitations_per_24_hours: u32,
    /// How long a migration waits for an invitation slot, from its first deferral, before it
    /// stops with `Migration.InvitationRefused` (`HANDSHAKE_RATE_LIMIT_EXCEEDED`). The
    /// execution's timeout leaves room for exactly this wait (tests/infra).
    pub invitation_wait_limit: Duration,
    /// The AWS Billing Conductor pricing plan of a billing transfer's pro forma billing group
    /// (`BILLING_PRICING_PLAN_ARN`, the template's `BillingPricingPlanArn`). Empty: this
    /// deployment does not offer billing transfers, and confirm-transfer says so.
    pub billing_pricing_plan_arn: String,
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
            support_join_recheck: Duration::minutes(10),
            handshake_poll_interval: Duration::minutes(10),
            hardening_lease: Duration::minutes(5),
            hardening_retry: Duration::hours(1),
            hardening_max_attempts: 48,
            billing_pricing_plan_arn: String::new(),
            idempotency_ttl: Duration::hours(24),
            invitations_per_24_hours: DEFAULT_INVITATIONS_PER_24_HOURS,
            invitation_wait_limit: Duration::days(MAX_INVITATION_WAIT_DAYS),
        }
    }
}

/// A missing or malformed setting, named so the operator can fix the function's environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Settings {
    /// Reads the settings from the function's environment (through `lookup`, so tests need
    /// not touch the process environment). Durations are whole numbers of the unit named in
    /// the variable; unset optional ones take the design's defaults.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty()).ok_or(ConfigError::Missing(name));
        let partner = required("PARTNER_ACCOUNT_ID")?;
        let partner_account_id =
            partner.parse().map_err(|e: crate::ids::InvalidId| ConfigError::Invalid { name: "PARTNER_ACCOUNT_ID", reason: e.reason })?;
        let scps = required("HARDENING_SCP_IDS")?;
        let scp_ids: Vec<&str> = scps.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let mut settings = Settings::new(
            partner_account_id,
            &required("ONBOARDING_OU_ID")?,
            &required("GUARDRAIL_SCP_ID")?,
            &required("HARDENED_OU_ID")?,
            &scp_ids,
        );
        let number = |name: &'static str| -> Result<Option<i64>, ConfigError> {
            lookup(name)
                .map(|v| match v.trim().parse::<i64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(ConfigError::Invalid { name, reason: format!("`{v}` is not a positive whole number") }),
                })
                .transpose()
        };
        if let Some(days) = number("SUPPORT_DEADLINE_DAYS")? {
            if days > MAX_SUPPORT_DEADLINE_DAYS {
                return Err(ConfigError::Invalid {
                    name: "SUPPORT_DEADLINE_DAYS",
                    reason: format!("{days} days would outlast the execution's timeout; at most {MAX_SUPPORT_DEADLINE_DAYS}"),
                });
            }
            settings.support_deadline = Duration::days(days);
        }
        if let Some(minutes) = number("HANDSHAKE_POLL_MINUTES")? {
            settings.handshake_poll_interval = Duration::minutes(minutes);
        }
        if let Some(quota) = number("INVITATIONS_PER_24_HOURS")? {
            settings.invitations_per_24_hours =
                u32::try_from(quota).ok().filter(|q| *q <= MAX_INVITATIONS_PER_24_HOURS).ok_or_else(|| ConfigError::Invalid {
                    name: "INVITATIONS_PER_24_HOURS",
                    reason: format!("{quota} slots would not fit the quota's one DynamoDB item; at most {MAX_INVITATIONS_PER_24_HOURS}"),
                })?;
        }
        if let Some(arn) = lookup("BILLING_PRICING_PLAN_ARN").filter(|v| !v.trim().is_empty()) {
            settings.billing_pricing_plan_arn = arn.trim().to_owned();
        }
        Ok(settings)
    }
}

/// The longest support deadline: the execution's `TimeoutSeconds` (160 days) must outlast,
/// on a join's path, the wait for an invitation slot (14 days), the invitation wait (15 days
/// 2 hours), this deadline and every step's retries, and on a billing transfer's path the
/// acceptance wait (132 days), the day to the start, this deadline and the retries, or the
/// execution times out with the record still holding the account. The template's `SupportDeadlineDays`
/// has the same maximum; tests/infra holds the bound over its whole range.
pub const MAX_SUPPORT_DEADLINE_DAYS: i64 = 21;

/// AWS's floor of the daily invitation quota, and the template's default.
pub const DEFAULT_INVITATIONS_PER_24_HOURS: u32 = 20;

/// The largest quota the ledger holds: its slots and its line (`quota::MAX_WAITING`) live in
/// one DynamoDB item (at most 400 KB; about 60 bytes a slot, 110 a waiter). The template's
/// `InvitationsPer24Hours` has the same maximum.
pub const MAX_INVITATIONS_PER_24_HOURS: u32 = 2000;

/// The longest a migration waits for an invitation slot ([`Settings::invitation_wait_limit`]).
/// The execution's `TimeoutSeconds` (54 days) covers it on top of the invitation wait, the
/// longest support deadline and every retry.
pub const MAX_INVITATION_WAIT_DAYS: i64 = 14;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| map.get(k).cloned()
    }

    const FULL: &[(&str, &str)] = &[
        ("PARTNER_ACCOUNT_ID", "999999999999"),
        ("ONBOARDING_OU_ID", "ou-ab12-onboard"),
        ("GUARDRAIL_SCP_ID", "p-guard"),
        ("HARDENED_OU_ID", "ou-ab12-hardened"),
        ("HARDENING_SCP_IDS", "p-one, p-two"),
    ];

    #[test]
    fn reads_required_settings_and_defaults() {
        let s = Settings::from_env(env(FULL)).unwrap();
        assert_eq!(s.hardening_scp_ids, vec!["p-one", "p-two"]);
        assert_eq!(s.support_deadline, Duration::days(14));
        let mut with_deadline = FULL.to_vec();
        with_deadline.push(("SUPPORT_DEADLINE_DAYS", "7"));
        assert_eq!(Settings::from_env(env(&with_deadline)).unwrap().support_deadline, Duration::days(7));
        assert_eq!(s.invitations_per_24_hours, 20);
        let mut with_quota = FULL.to_vec();
        with_quota.push(("INVITATIONS_PER_24_HOURS", "350"));
        assert_eq!(Settings::from_env(env(&with_quota)).unwrap().invitations_per_24_hours, 350);
    }

    #[test]
    fn the_invitation_quota_is_positive_and_fits_its_item() {
        for bad in ["0", "-1", "twenty", "2001"] {
            let mut with_quota = FULL.to_vec();
            with_quota.push(("INVITATIONS_PER_24_HOURS", bad));
            assert!(
                matches!(Settings::from_env(env(&with_quota)).unwrap_err(), ConfigError::Invalid { name: "INVITATIONS_PER_24_HOURS", .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_the_missing_or_malformed_variable() {
        let missing: Vec<_> = FULL.iter().copied().filter(|(k, _)| *k != "GUARDRAIL_SCP_ID").collect();
        assert_eq!(Settings::from_env(env(&missing)).unwrap_err(), ConfigError::Missing("GUARDRAIL_SCP_ID"));
        let mut bad = FULL.to_vec();
        bad[0] = ("PARTNER_ACCOUNT_ID", "12345");
        assert!(matches!(Settings::from_env(env(&bad)).unwrap_err(), ConfigError::Invalid { name: "PARTNER_ACCOUNT_ID", .. }));
        let mut bad = FULL.to_vec();
        let mut too_long = FULL.to_vec();
        too_long.push(("SUPPORT_DEADLINE_DAYS", "22"));
        assert!(matches!(Settings::from_env(env(&too_long)).unwrap_err(), ConfigError::Invalid { name: "SUPPORT_DEADLINE_DAYS", .. }));
        bad.push(("SUPPORT_DEADLINE_DAYS", "-3"));
        assert!(matches!(Settings::from_env(env(&bad)).unwrap_err(), ConfigError::Invalid { name: "SUPPORT_DEADLINE_DAYS", .. }));
    }
}
