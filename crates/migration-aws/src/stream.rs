//! Status-change events from the table's stream. The history items are the outbox: the
//! stream carries each new history item, and this turns one into the domain's
//! [`StatusChanged`], the `detail` of the `Migration Status Changed` event.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use migration::record::{HistoryEvent, StatusChanged};

use crate::keys::entity;
use crate::store::{entity_of, read_record};

/// The event of a history item as it appears in a stream record's `NewImage`. `None` for
/// any other item (a migration, a lock, ...) and for progress entries, which are not
/// published.
pub fn status_changed_from_stream_image(new_image: &HashMap<String, AttributeValue>) -> Option<StatusChanged> {
    if entity_of(new_image) != Some(entity::EVENT) {
        return None;
    }
    match read_record::<HistoryEvent>(new_image.clone()) {
        Ok(event) => event.status_changed(),
        Err(error) => {
            tracing::warn!(%error, "a history item in the stream does not read as an event");
            None
        }
    }
}
