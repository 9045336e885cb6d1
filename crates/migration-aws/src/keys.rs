//! Every DynamoDB key format of the single table, and nothing else (docs/architecture.md, "Data").
//!
//! | item | PK | SK |
//! | --- | --- | --- |
//! | migration | `MIGRATION#<id>` | `META` |
//! | history event | `MIGRATION#<id>` | `EVENT#<time>#<seq>` |
//! | account lock | `ACCOUNT#<aws id>` | `LOCK` |
//! | AWS approval | `ACCOUNT#<aws id>` | `APPROVAL` |
//! | organization profile | `ORG#<org>` | `PROFILE` |
//! | terms | `TERMS#<territory>` | `CURRENT` |
//! | idempotency key | `IDEMPOTENCY#<org>#<key>` | `KEY` |
//! | invitation quota ledger | `QUOTA#INVITATIONS` | `LEDGER` |
//!
//! GSI1 (`GSI1PK = ORG#<org>`, `GSI1SK = <migration id>`) lists an organization's
//! migrations; ULIDs sort by creation time, so a descending query is newest first.
//! GSI2 (`GSI2PK = QUEUE#<queue>`, `GSI2SK = <due time>#<migration id>`) is the sparse work
//! queue: only records with a [`WorkQueue`] carry its attributes.
//! GSI3 (`GSI3PK = STATUS#<status>`, `GSI3SK = <migration id>`) lists migrations of a status
//! across organizations, for operators, newest first.

use chrono::{DateTime, SecondsFormat, Utc};
use migration::record::WorkQueue;
use migration::{AwsAccountId, MigrationId, OrgId, Status, Territory};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const GSI3: &str = "GSI3";
pub const GSI3PK: &str = "GSI3PK";
pub const GSI3SK: &str = "GSI3SK";
/// The kind of item (`MIGRATION`, `EVENT`, ...), so a stream consumer can tell items apart.
pub const ENTITY: &str = "entity";
/// The TTL attribute (epoch seconds, a Number) of idempotency keys.
pub const TTL: &str = "expires_at";
/// The nested record of an idempotency key (its own `expires_at` keeps full precision).
pub const IDEMPOTENCY_RECORD: &str = "record";

/// Attributes that belong to the table layout rather than to a domain record. They are
/// removed before an item is read back into its record.
pub const LAYOUT_ATTRIBUTES: &[&str] = &[PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, ENTITY];

pub mod entity {
    pub const MIGRATION: &str = "MIGRATION";
    pub const EVENT: &str = "EVENT";
    pub const LOCK: &str = "LOCK";
    pub const APPROVAL: &str = "APPROVAL";
    pub const PROFILE: &str = "PROFILE";
    pub const TERMS: &str = "TERMS";
    pub const IDEMPOTENCY: &str = "IDEMPOTENCY";
    pub const QUOTA: &str = "QUOTA";
}

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

pub fn migration_pk(id: MigrationId) -> String {
    format!("MIGRATION#{id}")
}

pub const META: &str = "META";
pub const EVENT_PREFIX: &str = "EVENT#";

pub fn migration(id: MigrationId) -> Key {
    Key { pk: migration_pk(id), sk: META.into() }
}

/// Fixed-width UTC time with nanoseconds, so strings sort as times do.
pub fn sortable_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// `EVENT#<time>#<seq>` with the sequence zero-padded to the width of `u64::MAX`.
pub fn event(id: MigrationId, at: DateTime<Utc>, seq: u64) -> Key {
    Key { pk: migration_pk(id), sk: format!("{EVENT_PREFIX}{}#{seq:020}", sortable_time(at)) }
}

pub fn lock(account: &AwsAccountId) -> Key {
    Key { pk: format!("ACCOUNT#{account}"), sk: "LOCK".into() }
}

pub fn approval(account: &AwsAccountId) -> Key {
    Key { pk: format!("ACCOUNT#{account}"), sk: "APPROVAL".into() }
}

pub fn org_profile(org: &OrgId) -> Key {
    Key { pk: org_partition(org), sk: "PROFILE".into() }
}

pub fn terms(territory: &Territory) -> Key {
    Key { pk: format!("TERMS#{territory}"), sk: "CURRENT".into() }
}

/// Organization ids cannot contain `#`, so the key after it is unambiguous.
pub fn idempotency(org: &OrgId, key: &str) -> Key {
    Key { pk: format!("IDEMPOTENCY#{org}#{key}"), sk: "KEY".into() }
}

/// The one item of the partner's invitation quota (`migration::quota`).
pub fn invitation_quota() -> Key {
    Key { pk: "QUOTA#INVITATIONS".into(), sk: "LEDGER".into() }
}

/// `ORG#<org>`: the partition of an organization's profile and of its GSI1 listing.
pub fn org_partition(org: &OrgId) -> String {
    format!("ORG#{org}")
}

/// GSI1 and GSI3 sort key: the migration id (a ULID sorts by creation time).
pub fn gsi1_sort(id: MigrationId) -> String {
    id.to_string()
}

/// `STATUS#<status>`: the GSI3 partition of the migrations in a status.
pub fn status_partition(status: Status) -> String {
    format!("STATUS#{}", status.as_str())
}

pub fn queue_partition(queue: WorkQueue) -> String {
    format!("QUEUE#{}", queue.as_str())
}

pub fn queue_sort(due: DateTime<Utc>, id: MigrationId) -> String {
    format!("{}#{id}", sortable_time(due))
}

/// The greatest GSI2 sort key due at `now`: `~` sorts after every ULID character, so a
/// record due exactly at `now` is included.
pub fn queue_sort_upper_bound(now: DateTime<Utc>) -> String {
    format!("{}#~", sortable_time(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn event_keys_sort_by_time_then_sequence() {
        let id = MigrationId::new_at(t("2026-03-02T09:00:00Z"));
        let keys = [
            event(id, t("2026-03-02T09:00:00Z"), 10),
            event(id, t("2026-03-02T09:00:00.5Z"), 9),
            event(id, t("2026-03-02T09:00:01Z"), 20),
            event(id, t("2026-03-02T09:00:01Z"), 100),
            event(id, t("2026-03-02T10:00:00Z"), 21),
        ];
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| a.sk.cmp(&b.sk));
        assert_eq!(sorted, keys);
        assert_eq!(keys[0].sk, "EVENT#2026-03-02T09:00:00.000000000Z#00000000000000000010");
        assert!(keys.iter().all(|k| k.pk == migration(id).pk));
    }

    #[test]
    fn queue_keys_sort_by_due_time_and_the_bound_includes_now() {
        let now = t("2026-03-02T09:05:00Z");
        let a = MigrationId::new_at(now);
        let due_now = queue_sort(now, a);
        let due_later = queue_sort(now + Duration::nanoseconds(1), a);
        let bound = queue_sort_upper_bound(now);
        assert!(due_now <= bound);
        assert!(due_later > bound);
        assert!(queue_sort(now - Duration::days(400), a) < due_now);
    }

    #[test]
    fn key_formats_are_the_documented_ones() {
        let account: AwsAccountId = "000123456789".parse().unwrap();
        let org: OrgId = "acme".parse().unwrap();
        assert_eq!(lock(&account), Key { pk: "ACCOUNT#000123456789".into(), sk: "LOCK".into() });
        assert_eq!(approval(&account).sk, "APPROVAL");
        assert_eq!(org_profile(&org), Key { pk: "ORG#acme".into(), sk: "PROFILE".into() });
        assert_eq!(terms(&"US".parse().unwrap()).pk, "TERMS#US");
        assert_eq!(idempotency(&org, "k#1").pk, "IDEMPOTENCY#acme#k#1");
        assert_eq!(queue_partition(WorkQueue::Hardening), "QUEUE#HARDENING");
        assert_eq!(invitation_quota(), Key { pk: "QUOTA#INVITATIONS".into(), sk: "LEDGER".into() });
    }
}
