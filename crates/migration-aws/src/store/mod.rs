//! The DynamoDB store: one table, conditional transactions for the invariants (one lock per
//! account, all-or-nothing writes, optimistic versions), GSI1 for listings and GSI2 as the
//! work queue. No Scan anywhere.
//!
//! The key layout is `crate::keys`; here: `items` (records as items and back), `cursor`
//! (listing cursors bound to their organization), `transactions` (conditional
//! transactions, their cancellation reasons and retries), `quota` (the invitation ledger,
//! one item on a version condition) and `port` (the
//! [`MigrationStore`](migration::ports::MigrationStore) implementation).

mod cursor;
mod items;
mod port;
mod quota;
mod transactions;

use aws_sdk_dynamodb::Client;
use serde::Serialize;
use serde::de::DeserializeOwned;

use migration::error::StoreError;

use crate::keys::Key;
pub use crate::store::items::{Item, event_item};
pub(crate) use crate::store::items::{entity_of, read_record};
use crate::store::items::{key_map, record_item, store_error};

/// The DynamoDB adapter of [`MigrationStore`](migration::ports::MigrationStore).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    async fn get_item(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&e))?;
        Ok(out.item)
    }

    async fn get_record<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        self.get_item(key).await?.map(read_record).transpose()
    }

    async fn put_record<T: Serialize>(&self, key: &Key, kind: &str, value: &T) -> Result<(), StoreError> {
        let item = record_item(key, kind, value)?;
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(|e| store_error(&e))?;
        Ok(())
    }
}
