//! Listing cursors: the index key of the last item returned, accepted back only when it is
//! well-formed, of the same listing (organization or status) and inside its window.

use std::collections::BTreeMap;
use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use migration::MigrationId;
use migration::error::StoreError;
use migration::ports::{ListQuery, Listing};
use migration::record::Migration;

use crate::keys;
use crate::store::items::{Item, s};

pub(crate) const MAX_CURSOR_LEN: usize = 512;

/// The index a listing reads: its name, key attributes and the partition of the query.
pub(crate) struct ListIndex {
    pub name: &'static str,
    pub pk: &'static str,
    pub sk: &'static str,
    pub partition: String,
}

impl ListIndex {
    pub(crate) fn of(query: &ListQuery) -> Self {
        match &query.listing {
            Listing::Org { org, .. } => Self { name: keys::GSI1, pk: keys::GSI1PK, sk: keys::GSI1SK, partition: keys::org_partition(org) },
            Listing::Status(status) => {
                Self { name: keys::GSI3, pk: keys::GSI3PK, sk: keys::GSI3SK, partition: keys::status_partition(*status) }
            }
        }
    }
}

/// The cursor: the index key of the last item (its partition, its id, the table key), as
/// a JSON object, base64url.
pub(crate) fn encode_cursor(index: &ListIndex, last: &Migration) -> String {
    let key = keys::migration(last.id);
    let cursor =
        BTreeMap::from([(index.pk, index.partition.clone()), (index.sk, keys::gsi1_sort(last.id)), (keys::PK, key.pk), (keys::SK, key.sk)]);
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).expect("a cursor serializes"))
}

/// The exclusive start key of a cursor, if it is well-formed, of `query`'s listing and
/// inside its window (DynamoDB refuses a start key outside the key condition).
pub(crate) fn decode_cursor(query: &ListQuery, cursor: &str) -> Result<Item, StoreError> {
    if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
        return Err(StoreError::InvalidCursor);
    }
    let index = ListIndex::of(query);
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::InvalidCursor)?;
    let mut key: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let mut take = |name: &str| key.remove(name).ok_or(StoreError::InvalidCursor);
    let (partition, sort, pk, sk) = (take(index.pk)?, take(index.sk)?, take(keys::PK)?, take(keys::SK)?);
    if !key.is_empty() {
        return Err(StoreError::InvalidCursor);
    }
    let id: MigrationId = sort.parse().map_err(|_| StoreError::InvalidCursor)?;
    let expected = keys::migration(id);
    let in_window = query.id_bounds().is_some_and(|(low, high)| (low..=high).contains(&id));
    if partition != index.partition || pk != expected.pk || sk != expected.sk || !in_window {
        return Err(StoreError::InvalidCursor);
    }
    Ok(HashMap::from([
        (index.pk.to_owned(), s(partition)),
        (index.sk.to_owned(), s(sort)),
        (keys::PK.to_owned(), s(pk)),
        (keys::SK.to_owned(), s(sk)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::items::attribute_string;
    use chrono::Duration;
    use migration::{OrgId, Status};
    use migration_sim::contract::{sample_record, t0};

    fn acme() -> ListQuery {
        ListQuery::org("acme".parse().unwrap(), None)
    }

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_listing() {
        let record = sample_record("acme", "000123456789", t0());
        let cursor = encode_cursor(&ListIndex::of(&acme()), &record);
        let key = decode_cursor(&acme(), &cursor).expect("valid");
        assert_eq!(attribute_string(&key, keys::GSI1SK), Some(record.id.to_string().as_str()));
        // A status filter reads the same index and partition: the cursor stays valid.
        assert!(decode_cursor(&ListQuery::org("acme".parse().unwrap(), Some(Status::Invited)), &cursor).is_ok());
        assert_eq!(decode_cursor(&ListQuery::org("globex".parse().unwrap(), None), &cursor).unwrap_err(), StoreError::InvalidCursor);
        let invited = ListQuery { listing: Listing::Status(Status::Invited), created_after: None, created_before: None };
        assert_eq!(decode_cursor(&invited, &cursor).unwrap_err(), StoreError::InvalidCursor, "an organization's cursor is no status's");

        let by_status = encode_cursor(&ListIndex::of(&invited), &record);
        let key = decode_cursor(&invited, &by_status).expect("valid");
        assert_eq!(attribute_string(&key, keys::GSI3PK), Some("STATUS#INVITED"));
        let failed = ListQuery { listing: Listing::Status(Status::Failed), ..invited.clone() };
        assert_eq!(decode_cursor(&failed, &by_status).unwrap_err(), StoreError::InvalidCursor);
        assert_eq!(decode_cursor(&acme(), &by_status).unwrap_err(), StoreError::InvalidCursor);

        // Outside the window, DynamoDB would refuse the start key: the cursor is refused first.
        let later = ListQuery { created_after: Some(t0() + Duration::minutes(1)), ..invited.clone() };
        assert_eq!(decode_cursor(&later, &by_status).unwrap_err(), StoreError::InvalidCursor);
        let around =
            ListQuery { created_after: Some(t0() - Duration::minutes(1)), created_before: Some(t0() + Duration::minutes(1)), ..invited };
        assert!(decode_cursor(&around, &by_status).is_ok());
    }

    #[test]
    fn forged_cursors_are_refused() {
        let _: OrgId = "acme".parse().unwrap();
        let id = MigrationId::new_at(t0());
        let forge = |json: serde_json::Value| URL_SAFE_NO_PAD.encode(json.to_string());
        let cases = [
            "".to_owned(),
            "!!!".to_owned(),
            URL_SAFE_NO_PAD.encode("not json"),
            forge(serde_json::json!({"GSI1PK": "ORG#acme", "GSI1SK": "x", "PK": "MIGRATION#x", "SK": "META"})),
            forge(serde_json::json!({"GSI1PK": "ORG#acme", "GSI1SK": id.to_string(), "PK": format!("MIGRATION#{id}"), "SK": "LOCK"})),
            forge(serde_json::json!({"GSI1PK": "ORG#acme", "GSI1SK": id.to_string(), "PK": "ACCOUNT#000123456789", "SK": "META"})),
            forge(
                serde_json::json!({"GSI1PK": "ORG#acme", "GSI1SK": id.to_string(), "PK": format!("MIGRATION#{id}"), "SK": "META", "X": "1"}),
            ),
            forge(serde_json::json!({"GSI3PK": "ORG#acme", "GSI3SK": id.to_string(), "PK": format!("MIGRATION#{id}"), "SK": "META"})),
            "A".repeat(MAX_CURSOR_LEN + 1),
        ];
        for cursor in cases {
            assert_eq!(decode_cursor(&acme(), &cursor).unwrap_err(), StoreError::InvalidCursor, "{cursor:?}");
        }
        let good =
            forge(serde_json::json!({"GSI1PK": "ORG#acme", "GSI1SK": id.to_string(), "PK": format!("MIGRATION#{id}"), "SK": "META"}));
        assert!(decode_cursor(&acme(), &good).is_ok());
    }
}
