//! Identifier newtypes. Each parses in `FromStr`, deserializes through `TryFrom<String>`,
//! and so cannot hold an invalid value past the edge of the system.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a value is not a valid identifier. `field` names the identifier kind so an API
/// can point at the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidId {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidId {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $parse:path) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $parse(s).map(|()| Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $parse(&s).map(|()| Self(s))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

fn parse_account_id(s: &str) -> Result<(), InvalidId> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(InvalidId::new("aws_account_id", "must be exactly 12 digits (leading zeros are part of the id)"))
    }
}

string_newtype!(
    /// A 12-digit AWS account id. Leading zeros are significant and kept.
    AwsAccountId,
    parse_account_id
);

/// IAM name characters: `[\w+=,.@-]`.
fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

fn parse_role_arn(s: &str) -> Result<(), InvalidId> {
    const FIELD: &str = "role_arn";
    let mut parts = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(InvalidId::new(FIELD, "must look like arn:aws:iam::<account id>:role/<name>"));
    };
    if partition != "aws" {
        return Err(InvalidId::new(
            FIELD,
            format!("partition `{partition}` is not supported; only the commercial `aws` partition can join the partner organization"),
        ));
    }
    if service != "iam" || !region.is_empty() {
        return Err(InvalidId::new(FIELD, "must be an IAM role ARN (arn:aws:iam::<account id>:role/<name>)"));
    }
    parse_account_id(account).map_err(|_| InvalidId::new(FIELD, "the account id in the ARN must be exactly 12 digits"))?;
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return Err(InvalidId::new(FIELD, "the resource must be `role/<optional path/><name>`"));
    };
    let (path, name) = match path_and_name.rfind('/') {
        Some(i) => (&path_and_name[..=i], &path_and_name[i + 1..]),
        None => ("", path_and_name),
    };
    if name.is_empty() || name.chars().count() > 64 || !name.chars().all(is_iam_name_char) {
        return Err(InvalidId::new(FIELD, "the role name must be 1 to 64 characters of letters, digits and +=,.@_-"));
    }
    // The path is `/` + segments + `/`; role/ already consumed the leading slash.
    if path.len() + 1 > 512 || !path.chars().all(|c| c == '/' || is_iam_name_char(c)) || path.contains("//") {
        return Err(InvalidId::new(FIELD, "the role path must be at most 512 characters of letters, digits, +=,.@_- and single slashes"));
    }
    Ok(())
}

string_newtype!(
    /// `arn:aws:iam::<12 digits>:role/<optional path/><name>`, commercial partition only.
    RoleArn,
    parse_role_arn
);

impl RoleArn {
    /// The account the role lives in.
    pub fn account_id(&self) -> AwsAccountId {
        let account = self.0.split(':').nth(4).expect("validated at parse");
        AwsAccountId(account.to_owned())
    }

    /// The role's name, without its path.
    pub fn role_name(&self) -> &str {
        self.0.rsplit('/').next().expect("validated at parse")
    }
}

fn parse_org_id(s: &str) -> Result<(), InvalidId> {
    let ok = (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(InvalidId::new("org_id", "must be 1 to 64 characters of letters, digits, - and _")) }
}

string_newtype!(
    /// A Cloud Application Manager organization.
    OrgId,
    parse_org_id
);

fn parse_external_id(s: &str) -> Result<(), InvalidId> {
    let count = s.chars().count();
    let ok = (2..=1224).contains(&count)
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | ':' | '/' | '-'));
    if ok { Ok(()) } else { Err(InvalidId::new("external_id", "must be 2 to 1224 characters of letters, digits and +=,.@:/_-")) }
}

string_newtype!(
    /// The `sts:ExternalId` this system issues per CAM organization. It is not a secret in
    /// the cryptographic sense, but it is only ever shown to its own organization.
    ExternalId,
    parse_external_id
);

fn parse_handshake_id(s: &str) -> Result<(), InvalidId> {
    let ok = s
        .strip_prefix("h-")
        .is_some_and(|rest| (8..=32).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
    if ok { Ok(()) } else { Err(InvalidId::new("handshake_id", "must match h-[0-9a-z]{8,32}")) }
}

string_newtype!(
    /// An AWS Organizations handshake id.
    HandshakeId,
    parse_handshake_id
);

fn parse_transfer_id(s: &str) -> Result<(), InvalidId> {
    let ok = s
        .strip_prefix("rt-")
        .is_some_and(|rest| (8..=32).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
    if ok { Ok(()) } else { Err(InvalidId::new("transfer_id", "must match rt-[0-9a-z]{8,32}")) }
}

string_newtype!(
    /// An AWS Organizations responsibility transfer id (a billing transfer).
    TransferId,
    parse_transfer_id
);

fn parse_territory(s: &str) -> Result<(), InvalidId> {
    let ok = (2..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
    if ok { Ok(()) } else { Err(InvalidId::new("territory", "must be 2 to 16 upper-case letters or -, e.g. US")) }
}

string_newtype!(
    /// The territory whose terms and conditions apply (e.g. `US`).
    Territory,
    parse_territory
);

fn parse_user_id(s: &str) -> Result<(), InvalidId> {
    let ok = (1..=256).contains(&s.len()) && !s.chars().any(char::is_control);
    if ok { Ok(()) } else { Err(InvalidId::new("user_id", "must be 1 to 256 characters without control characters")) }
}

string_newtype!(
    /// The CAM user (JWT subject) who acted.
    UserId,
    parse_user_id
);

/// A migration id: a ULID, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MigrationId(ulid::Ulid);

impl MigrationId {
    /// A new id whose time component is `at`.
    pub fn new_at(at: chrono::DateTime<chrono::Utc>) -> Self {
        let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        Self(ulid::Ulid::from_parts(ms, rand_bits()))
    }

    /// The smallest and the largest id there can be.
    pub const MIN: Self = Self(ulid::Ulid(0));
    pub const MAX: Self = Self(ulid::Ulid(u128::MAX));

    /// When the id was made, to the millisecond.
    pub fn created_at(self) -> chrono::DateTime<chrono::Utc> {
        let ms = i64::try_from(self.0.timestamp_ms()).unwrap_or(i64::MAX);
        chrono::DateTime::from_timestamp_millis(ms).unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
    }

    /// The smallest id made after the millisecond `at` falls in. Ids keep milliseconds only,
    /// so that millisecond is left out of both bounds: a window is exact to the millisecond.
    /// A ULID keeps 48 bits of milliseconds since 1970: times outside clamp to the ends.
    pub fn first_after(at: chrono::DateTime<chrono::Utc>) -> Self {
        match Self::ms_of(at) {
            Some(ms) if ms < ULID_MAX_MS => Self(ulid::Ulid::from_parts(ms + 1, 0)),
            Some(_) => Self::MAX,
            None => Self::MIN,
        }
    }

    /// The largest id made before the millisecond `at` falls in.
    pub fn last_before(at: chrono::DateTime<chrono::Utc>) -> Self {
        match Self::ms_of(at) {
            Some(0) | None => Self::MIN,
            Some(ms) if ms > ULID_MAX_MS => Self::MAX,
            Some(ms) => Self(ulid::Ulid::from_parts(ms - 1, u128::MAX)),
        }
    }

    /// Milliseconds since 1970, `None` before it.
    fn ms_of(at: chrono::DateTime<chrono::Utc>) -> Option<u64> {
        u64::try_from(at.timestamp_millis()).ok()
    }
}

/// The largest millisecond a ULID's 48-bit time holds.
const ULID_MAX_MS: u64 = (1 << 48) - 1;

fn rand_bits() -> u128 {
    ulid::Ulid::new().random()
}

impl FromStr for MigrationId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the canonical upper-case form is accepted, so one id has one spelling.
        if s.len() != 26 || s.bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(InvalidId::new("migration_id", "must be a 26-character ULID"));
        }
        ulid::Ulid::from_string(s).map(Self).map_err(|_| InvalidId::new("migration_id", "must be a 26-character ULID"))
    }
}

impl TryFrom<String> for MigrationId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<MigrationId> for String {
    fn from(v: MigrationId) -> String {
        v.0.to_string()
    }
}

impl fmt::Display for MigrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for MigrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MigrationId({})", self.0)
    }
}

/// A Step Functions task token. Stored with the migration so the watcher can resolve it,
/// never logged, never returned by the API: `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskToken(String);

impl TaskToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The raw token, for the one call that needs it (SendTaskSuccess/Failure).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TaskToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_id_cases() {
        let cases: &[(&str, bool)] = &[
            ("000123456789", true),
            ("123456789012", true),
            ("12345678901", false),
            ("1234567890123", false),
            ("12345678901a", false),
            ("1234 5678901", false),
            (" 123456789012", false),
            ("", false),
            ("١٢٣٤٥٦٧٨٩٠١٢", false), // Arabic-Indic digits are not ASCII digits
        ];
        for (input, ok) in cases {
            assert_eq!(input.parse::<AwsAccountId>().is_ok(), *ok, "{input:?}");
        }
        assert_eq!("000123456789".parse::<AwsAccountId>().unwrap().as_str(), "000123456789");
    }

    #[test]
    fn role_arn_cases() {
        let cases: &[(&str, bool)] = &[
            ("arn:aws:iam::123456789012:role/CenturyLinkFullHardening", true),
            ("arn:aws:iam::000123456789:role/path/to/My.Role@x+y=z,w-1_2", true),
            ("arn:aws-cn:iam::123456789012:role/R", false),
            ("arn:aws-us-gov:iam::123456789012:role/R", false),
            ("arn:aws:iam::123456789012:user/R", false),
            ("arn:aws:sts::123456789012:role/R", false),
            ("arn:aws:iam:us-east-1:123456789012:role/R", false),
            ("arn:aws:iam::12345678901:role/R", false),
            ("arn:aws:iam::123456789012:role/", false),
            ("arn:aws:iam::123456789012:role/a//b", false),
            ("arn:aws:iam::123456789012:role/bad name", false),
            ("arn:aws:iam::123456789012:role/ünïcode", false),
            ("arn:aws:iam::123456789012", false),
        ];
        for (input, ok) in cases {
            assert_eq!(input.parse::<RoleArn>().is_ok(), *ok, "{input:?}");
        }
        let long_name = format!("arn:aws:iam::123456789012:role/{}", "a".repeat(65));
        assert!(long_name.parse::<RoleArn>().is_err());
        let max_name = format!("arn:aws:iam::123456789012:role/{}", "a".repeat(64));
        assert!(max_name.parse::<RoleArn>().is_ok());
        let long_path = format!("arn:aws:iam::123456789012:role/{}/r", "p".repeat(511));
        assert!(long_path.parse::<RoleArn>().is_err());
    }

    #[test]
    fn role_arn_exposes_its_account_and_name() {
        let arn: RoleArn = "arn:aws:iam::000123456789:role/ops/CamReadOnly".parse().unwrap();
        assert_eq!(arn.account_id().as_str(), "000123456789");
        assert_eq!(arn.role_name(), "CamReadOnly");
    }

    #[test]
    fn handshake_and_external_ids() {
        assert!("h-examplehandshakeid111".parse::<HandshakeId>().is_ok());
        assert!("h-1234567".parse::<HandshakeId>().is_err());
        assert!("h-ABCDEFGH1".parse::<HandshakeId>().is_err());
        assert!("x-12345678".parse::<HandshakeId>().is_err());
        assert!("rt-1a2b3c4d".parse::<TransferId>().is_ok());
        assert!("rt-1a2b3c4".parse::<TransferId>().is_err());
        assert!("rt-ABCDEFGH".parse::<TransferId>().is_err());
        assert!("h-1a2b3c4d".parse::<TransferId>().is_err());
        assert!("ab".parse::<ExternalId>().is_ok());
        assert!("a".parse::<ExternalId>().is_err());
        assert!("cam:org/acme=1".parse::<ExternalId>().is_ok());
        assert!("has space".parse::<ExternalId>().is_err());
        assert!("x".repeat(1225).parse::<ExternalId>().is_err());
    }

    #[test]
    fn window_bounds_keep_to_the_millisecond_and_clamp_at_the_ends() {
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
        let at = t("2026-03-02T10:00:00.500Z");
        let id = MigrationId::new_at(at);
        assert_eq!(id.created_at(), at);
        // The millisecond the bound falls in is out of both bounds.
        assert!(MigrationId::first_after(at) > id && MigrationId::last_before(at) < id);
        let just_before = t("2026-03-02T10:00:00.499Z");
        let just_after = t("2026-03-02T10:00:00.501Z");
        assert!(MigrationId::first_after(just_before) <= id && id <= MigrationId::last_before(just_after));
        // Sub-millisecond bounds round away from the id's millisecond as well.
        assert!(MigrationId::first_after(t("2026-03-02T10:00:00.5004Z")) > id);
        assert!(MigrationId::last_before(t("2026-03-02T10:00:00.5004Z")) < id);
        // Before 1970 and past a ULID's 48 bits of milliseconds.
        assert_eq!(MigrationId::first_after(t("1969-12-31T23:59:59Z")), MigrationId::MIN);
        assert_eq!(MigrationId::last_before(t("1970-01-01T00:00:00Z")), MigrationId::MIN);
        assert_eq!(MigrationId::first_after(chrono::DateTime::<chrono::Utc>::MAX_UTC), MigrationId::MAX);
        assert_eq!(MigrationId::last_before(chrono::DateTime::<chrono::Utc>::MAX_UTC), MigrationId::MAX);
    }

    #[test]
    fn migration_ids_sort_by_time_and_reject_other_spellings() {
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let a = MigrationId::new_at(t0);
        let b = MigrationId::new_at(t0 + chrono::Duration::milliseconds(1));
        assert!(a < b);
        assert_eq!(a.to_string().parse::<MigrationId>().unwrap(), a);
        assert!(a.to_string().to_lowercase().parse::<MigrationId>().is_err());
        assert!("not-a-ulid".parse::<MigrationId>().is_err());
    }

    #[test]
    fn deserializing_an_invalid_id_fails() {
        let err = serde_json::from_str::<AwsAccountId>("\"12345\"").unwrap_err();
        assert!(err.to_string().contains("12 digits"));
    }

    #[test]
    fn task_tokens_never_print() {
        let t = TaskToken::new("AQCEAAAAKgAAAAMAAAAAAAAAAbcd");
        assert!(!format!("{t:?}").contains("AQCE"));
    }
}
