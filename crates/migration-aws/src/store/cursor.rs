//! Listing cursors: the GSI1 key of the last item returned, accepted back only when it is
//! well-formed and belongs to the caller's organization.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use migration::error::StoreError;
use migration::record::Migration;
use migration::{MigrationId, OrgId};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::store::items::{Item, s};

/// The listing cursor: the GSI1 key of the last item returned, as JSON, base64url.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CursorKey {
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
}

pub(crate) const MAX_CURSOR_LEN: usize = 512;

pub(crate) fn encode_cursor(last: &Migration) -> String {
    let key = keys::migration(last.id);
    let cursor = CursorKey { gsi1pk: keys::org_partition(&last.org_id), gsi1sk: keys::gsi1_sort(last.id), pk: key.pk, sk: key.sk };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).expect("a cursor serializes"))
}

/// The exclusive start key of a cursor, if it is well-formed and belongs to `org`.
pub(crate) fn decode_cursor(org: &OrgId, cursor: &str) -> Result<Item, StoreError> {
    if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
        return Err(StoreError::InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::InvalidCursor)?;
    let key: CursorKey = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let id: MigrationId = key.gsi1sk.parse().map_err(|_| StoreError::InvalidCursor)?;
    let expected = keys::migration(id);
    if key.gsi1pk != keys::org_partition(org) || key.pk != expected.pk || key.sk != expected.sk {
        return Err(StoreError::InvalidCursor);
    }
    Ok(HashMap::from([
        (keys::GSI1PK.to_owned(), s(key.gsi1pk)),
        (keys::GSI1SK.to_owned(), s(key.gsi1sk)),
        (keys::PK.to_owned(), s(key.pk)),
        (keys::SK.to_owned(), s(key.sk)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::items::attribute_string;
    use migration_sim::contract::{sample_record, t0};

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_organization() {
        let record = sample_record("acme", "000123456789", t0());
        let cursor = encode_cursor(&record);
        let key = decode_cursor(&"acme".parse().unwrap(), &cursor).expect("valid");
        assert_eq!(attribute_string(&key, keys::GSI1SK), Some(record.id.to_string().as_str()));
        assert_eq!(decode_cursor(&"globex".parse().unwrap(), &cursor).unwrap_err(), StoreError::InvalidCursor);
    }

    #[test]
    fn forged_cursors_are_refused() {
        let org: OrgId = "acme".parse().unwrap();
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
                serde_json::json!({"GSI1PK": "ORG#acme", "GSI1SK": id.to_string(), "PK": format!("MIGRATION#{id}"), "SK": "META", "X": 1}),
            ),
            "A".repeat(MAX_CURSOR_LEN + 1),
        ];
        for cursor in cases {
            assert_eq!(decode_cursor(&org, &cursor).unwrap_err(), StoreError::InvalidCursor, "{cursor:?}");
        }
        let good =
            forge(serde_json::json!({"GSI1PK": "ORG#acme", "GSI1SK": id.to_string(), "PK": format!("MIGRATION#{id}"), "SK": "META"}));
        assert!(decode_cursor(&org, &good).is_ok());
    }
}
