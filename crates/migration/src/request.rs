//! The migration request as the frontend sends it, and its validation into typed values.
//! Every field is checked and all problems are reported together.

use serde::{Deserialize, Serialize};

use crate::ids::{AwsAccountId, RoleArn};
use crate::rules::{TermsAcceptance, Violation, ViolationCode};
use crate::text;
use crate::transfer::{BillingMonth, MigrationKind};

/// The access the customer's role grants, which decides Full Hardening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    /// Administrative role: the partner hardens the account.
    FullHardening,
    /// Read-only plus support:Describe*: optimized, not hardened.
    Optimized,
}

impl AccessLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::FullHardening => "full_hardening",
            AccessLevel::Optimized => "optimized",
        }
    }

    /// The role the customer role template (`infra/customer-role.yaml`) creates for this access.
    pub fn role_name(self) -> &'static str {
        match self {
            AccessLevel::FullHardening => "CenturyLinkFullHardening",
            AccessLevel::Optimized => "CenturyLinkOptimized",
        }
    }

    /// The template's `AccessLevel` parameter value for this access.
    pub fn template_parameter(self) -> &'static str {
        match self {
            AccessLevel::FullHardening => "FullHardening",
            AccessLevel::Optimized => "Optimized",
        }
    }

    /// What the access means for the customer.
    pub fn description(self) -> &'static str {
        match self {
            AccessLevel::FullHardening => "Administrative access: CenturyLink optimizes and hardens the account (recommended).",
            AccessLevel::Optimized => "Read-only access plus support:Describe*: the account is optimized, not hardened.",
        }
    }

    /// Whether the partner hardens the account.
    pub fn hardens(self) -> bool {
        self == AccessLevel::FullHardening
    }
}

/// The acknowledgements the customer gives before the move (docs/architecture.md, "Rules").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgements {
    /// Cost Explorer history is lost under the new payer; the customer downloaded it.
    pub historical_usage_data: bool,
    /// Cost allocation tags become limited.
    pub cost_allocation_tags: bool,
    /// Reserved Instances stay with the account that bought them.
    pub reserved_instances: bool,
    /// What a direct transfer out of the account's current organization changes
    /// ([`crate::readiness::DIRECT_TRANSFER_CHANGES`]). Required only for an account that is
    /// a member of another organization, which only the validate step can see (through the
    /// customer role): absent means not given, and is left out of the stored record and the
    /// request fingerprint so requests from before the field still read and match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub direct_transfer: bool,
}

/// The request body, as received: strings, so every field can be checked and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationRequest {
    pub provider_name: String,
    pub aws_account_id: String,
    pub role_arn: String,
    pub access_level: String,
    pub accepted_terms: Vec<TermsAcceptance>,
    pub acknowledgements: Acknowledgements,
    /// `join_organization` (absent: the default) or `billing_transfer`. Left out of the
    /// fingerprint when absent, so requests from before the field still match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A billing transfer's first month, `YYYY-MM`; absent: the earliest the customer can
    /// accept in time ([`BillingMonth::earliest`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_month: Option<String>,
    /// Whether the migration waits for a usage snapshot: `optional` (absent: the default; a
    /// snapshot that cannot be taken is recorded and the migration goes on, since the
    /// customer acknowledged the loss of the history) or `required` (the migration waits
    /// before the invitation, retrying, until the customer's role lets it take one). Left out
    /// of the fingerprint when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_snapshot: Option<String>,
}

/// A request whose every field is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidRequest {
    pub provider_name: String,
    pub aws_account_id: AwsAccountId,
    pub role_arn: RoleArn,
    pub access_level: AccessLevel,
    pub accepted_terms: Vec<TermsAcceptance>,
    pub acknowledgements: Acknowledgements,
    pub kind: MigrationKind,
    /// Only for a billing transfer, and only when the request named it.
    pub start_month: Option<BillingMonth>,
    /// The request asked to wait for a usage snapshot (`usage_snapshot: required`).
    pub usage_snapshot_required: bool,
}

const MAX_TERMS_ACCEPTED: usize = 32;
const MAX_PROVIDER_NAME: usize = 255;

impl MigrationRequest {
    /// Checks the shape of every field; the program rules that need stored facts
    /// (terms in force, eligibility, approval) are checked by the caller.
    pub fn validate(&self) -> Result<ValidRequest, Vec<Violation>> {
        use ViolationCode::*;
        let mut violations = Vec::new();

        // Visible text (`crate::text`) throughout; only the surrounding spaces are trimmed.
        let provider_name = text::trim_spaces(&self.provider_name);
        if !text::is_visible(&self.provider_name) || provider_name.chars().count() > MAX_PROVIDER_NAME {
            violations.push(Violation::on_field(
                InvalidProviderName,
                "provider_name",
                format!("the provider name {}, after trimming surrounding spaces", text::requirement(MAX_PROVIDER_NAME)),
            ));
        }

        let account = self.aws_account_id.parse::<AwsAccountId>();
        if let Err(e) = &account {
            violations.push(Violation::on_field(InvalidAccountId, "aws_account_id", e.reason.clone()));
        }

        let role = self.role_arn.parse::<RoleArn>();
        match (&role, &account) {
            (Err(e), _) => violations.push(Violation::on_field(InvalidRoleArn, "role_arn", e.reason.clone())),
            (Ok(role), Ok(account)) if role.account_id() != *account => violations.push(Violation::on_field(
                RoleInOtherAccount,
                "role_arn",
                format!("the role is in account {}, not in {account}", role.account_id()),
            )),
            _ => {}
        }

        let access_level = match self.access_level.as_str() {
            "full_hardening" => Some(AccessLevel::FullHardening),
            "optimized" => Some(AccessLevel::Optimized),
            _ => {
                violations.push(Violation::on_field(InvalidAccessLevel, "access_level", "must be `full_hardening` or `optimized`"));
                None
            }
        };

        if self.accepted_terms.len() > MAX_TERMS_ACCEPTED
            || self.accepted_terms.iter().any(|t| !text::is_visible_line(&t.document_id, 128) || !text::is_visible_line(&t.version, 128))
        {
            violations.push(Violation::on_field(
                TermsNotAccepted,
                "accepted_terms",
                format!(
                    "each accepted document needs a document_id and version that {}, without surrounding spaces",
                    text::requirement(128)
                ),
            ));
        }

        let acks = self.acknowledgements;
        for (given, code, field) in [
            (acks.historical_usage_data, HistoricalUsageNotAcknowledged, "acknowledgements.historical_usage_data"),
            (acks.cost_allocation_tags, CostAllocationTagsNotAcknowledged, "acknowledgements.cost_allocation_tags"),
            (acks.reserved_instances, ReservedInstancesNotAcknowledged, "acknowledgements.reserved_instances"),
        ] {
            if !given {
                violations.push(Violation::on_field(code, field, "this acknowledgement is required"));
            }
        }

        let kind = match self.kind.as_deref().map(str::parse::<MigrationKind>) {
            None => Some(MigrationKind::JoinOrganization),
            Some(Ok(kind)) => Some(kind),
            Some(Err(reason)) => {
                violations.push(Violation::on_field(InvalidMigrationKind, "kind", reason));
                None
            }
        };
        let start_month = match (kind, self.start_month.as_deref()) {
            (_, None) => None,
            (Some(MigrationKind::BillingTransfer), Some(month)) => match month.parse::<BillingMonth>() {
                Ok(month) => Some(month),
                Err(e) => {
                    violations.push(Violation::on_field(InvalidStartMonth, "start_month", e.message));
                    None
                }
            },
            (_, Some(_)) => {
                violations.push(Violation::on_field(StartMonthNotApplicable, "start_month", "only a billing transfer has a start month"));
                None
            }
        };
        if kind == Some(MigrationKind::BillingTransfer) && access_level == Some(AccessLevel::FullHardening) {
            violations.push(Violation::on_field(
                FullHardeningNotWithBillingTransfer,
                "access_level",
                "a billing transfer leaves the account in the customer's own organization, where the partner cannot harden it",
            ));
        }

        let usage_snapshot_required = match self.usage_snapshot.as_deref() {
            None | Some("optional") => false,
            Some("required") => true,
            Some(_) => {
                violations.push(Violation::on_field(
                    InvalidUsageSnapshotChoice,
                    "usage_snapshot",
                    "must be `optional` (the default) or `required`",
                ));
                false
            }
        };

        match (account, role, access_level, kind) {
            (Ok(aws_account_id), Ok(role_arn), Some(access_level), Some(kind)) if violations.is_empty() => Ok(ValidRequest {
                provider_name: provider_name.to_owned(),
                aws_account_id,
                role_arn,
                access_level,
                accepted_terms: self.accepted_terms.clone(),
                acknowledgements: acks,
                kind,
                start_month,
                usage_snapshot_required,
            }),
            _ => Err(violations),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn valid_request() -> MigrationRequest {
        MigrationRequest {
            provider_name: "Production AWS".into(),
            aws_account_id: "000123456789".into(),
            role_arn: "arn:aws:iam::000123456789:role/CenturyLinkFullHardening".into(),
            access_level: "full_hardening".into(),
            accepted_terms: vec![TermsAcceptance { document_id: "aws-terms-us".into(), version: "2024-01".into() }],
            acknowledgements: Acknowledgements {
                historical_usage_data: true,
                cost_allocation_tags: true,
                reserved_instances: true,
                direct_transfer: false,
            },
            kind: None,
            start_month: None,
            usage_snapshot: None,
        }
    }

    fn codes(req: &MigrationRequest) -> Vec<ViolationCode> {
        req.validate().err().unwrap_or_default().into_iter().map(|v| v.code).collect()
    }

    #[test]
    fn a_valid_request_keeps_leading_zeros_and_trims_the_name() {
        let mut req = valid_request();
        req.provider_name = "  Production AWS \u{3000}".into();
        let valid = req.validate().unwrap();
        assert_eq!(valid.aws_account_id.as_str(), "000123456789");
        assert_eq!(valid.provider_name, "Production AWS");
        assert_eq!(valid.access_level, AccessLevel::FullHardening);
    }

    #[test]
    fn each_field_is_checked() {
        use ViolationCode::*;
        type Mutate = fn(&mut MigrationRequest);
        let cases: &[(&str, Mutate, &[ViolationCode])] = &[
            ("empty name", |r| r.provider_name = "   ".into(), &[InvalidProviderName]),
            ("name of 256 chars", |r| r.provider_name = "x".repeat(256), &[InvalidProviderName]),
            ("name of 255 chars", |r| r.provider_name = "é".repeat(255), &[]),
            ("control char in name", |r| r.provider_name = "a\u{0007}b".into(), &[InvalidProviderName]),
            ("trailing tab in name", |r| r.provider_name = "Production AWS\t".into(), &[InvalidProviderName]),
            ("bidi override in name", |r| r.provider_name = "Prod\u{202E}SWA".into(), &[InvalidProviderName]),
            ("only combining marks in name", |r| r.provider_name = " \u{301}\u{302} ".into(), &[InvalidProviderName]),
            ("name of 255 chars and spaces", |r| r.provider_name = format!("  {}  ", "x".repeat(255)), &[]),
            ("tag character in a terms version", |r| r.accepted_terms[0].version = "2024-01\u{E0041}".into(), &[TermsNotAccepted]),
            ("11 digits", |r| r.aws_account_id = "12345678901".into(), &[InvalidAccountId]),
            ("13 digits", |r| r.aws_account_id = "1234567890123".into(), &[InvalidAccountId]),
            ("letters", |r| r.aws_account_id = "00012345678a".into(), &[InvalidAccountId]),
            ("spaces", |r| r.aws_account_id = "000 23456789".into(), &[InvalidAccountId]),
            ("role from another account", |r| r.role_arn = "arn:aws:iam::111111111111:role/R".into(), &[RoleInOtherAccount]),
            ("aws-cn partition", |r| r.role_arn = "arn:aws-cn:iam::000123456789:role/R".into(), &[InvalidRoleArn]),
            ("aws-us-gov partition", |r| r.role_arn = "arn:aws-us-gov:iam::000123456789:role/R".into(), &[InvalidRoleArn]),
            ("user, not role", |r| r.role_arn = "arn:aws:iam::000123456789:user/R".into(), &[InvalidRoleArn]),
            ("unknown access level", |r| r.access_level = "admin".into(), &[InvalidAccessLevel]),
            ("optimized", |r| r.access_level = "optimized".into(), &[]),
            ("unknown kind", |r| r.kind = Some("merge".into()), &[InvalidMigrationKind]),
            ("join named", |r| r.kind = Some("join_organization".into()), &[]),
            ("start month on a join", |r| r.start_month = Some("2027-01".into()), &[StartMonthNotApplicable]),
            ("usage snapshot choice", |r| r.usage_snapshot = Some("always".into()), &[InvalidUsageSnapshotChoice]),
            ("billing transfer with full hardening", |r| r.kind = Some("billing_transfer".into()), &[FullHardeningNotWithBillingTransfer]),
            (
                "billing transfer, optimized, a month",
                |r| {
                    r.kind = Some("billing_transfer".into());
                    r.access_level = "optimized".into();
                    r.start_month = Some("2027-03".into());
                },
                &[],
            ),
            (
                "billing transfer, a bad month",
                |r| {
                    r.kind = Some("billing_transfer".into());
                    r.access_level = "optimized".into();
                    r.start_month = Some("2027-3".into());
                },
                &[InvalidStartMonth],
            ),
            ("historical usage", |r| r.acknowledgements.historical_usage_data = false, &[HistoricalUsageNotAcknowledged]),
            ("cost allocation tags", |r| r.acknowledgements.cost_allocation_tags = false, &[CostAllocationTagsNotAcknowledged]),
            ("reserved instances", |r| r.acknowledgements.reserved_instances = false, &[ReservedInstancesNotAcknowledged]),
            (
                "empty terms document id",
                |r| r.accepted_terms = vec![TermsAcceptance { document_id: String::new(), version: "1".into() }],
                &[TermsNotAccepted],
            ),
        ];
        for (name, mutate, expected) in cases {
            let mut req = valid_request();
            mutate(&mut req);
            assert_eq!(codes(&req), *expected, "{name}");
        }
    }

    #[test]
    fn several_failures_are_reported_together() {
        let mut req = valid_request();
        req.provider_name = String::new();
        req.aws_account_id = "12".into();
        req.role_arn = "nope".into();
        req.access_level = String::new();
        req.acknowledgements = Acknowledgements::default();
        let got = codes(&req);
        assert_eq!(got.len(), 7, "{got:?}");
        let fields: Vec<_> = req.validate().unwrap_err().into_iter().map(|v| v.field.unwrap()).collect();
        assert!(fields.contains(&"aws_account_id".to_owned()) && fields.contains(&"role_arn".to_owned()));
    }

    #[test]
    fn unknown_fields_are_refused_when_parsing() {
        let mut body = serde_json::to_value(valid_request()).unwrap();
        body["is_admin"] = serde_json::json!(true);
        assert!(serde_json::from_value::<MigrationRequest>(body).is_err());
    }
}
