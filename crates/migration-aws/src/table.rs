//! The table's definition, stated once: the tests create the table in the emulator from it,
//! and an infrastructure test checks `infra/template.yaml` against it.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};

use crate::keys;

/// One global secondary index; every index projects all attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// The single table (docs/architecture.md, "Data"). Every key attribute is a String.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub indexes: Vec<IndexDefinition>,
    /// The TTL attribute (epoch seconds).
    pub ttl_attribute: &'static str,
    /// The stream feeds the EventBridge Pipe that publishes status changes.
    pub stream_view_type: &'static str,
}

pub fn table_definition() -> TableDefinition {
    TableDefinition {
        partition_key: keys::PK,
        sort_key: keys::SK,
        indexes: vec![
            IndexDefinition { name: keys::GSI1, partition_key: keys::GSI1PK, sort_key: keys::GSI1SK },
            IndexDefinition { name: keys::GSI2, partition_key: keys::GSI2PK, sort_key: keys::GSI2SK },
            IndexDefinition { name: keys::GSI3, partition_key: keys::GSI3PK, sort_key: keys::GSI3SK },
        ],
        ttl_attribute: keys::TTL,
        stream_view_type: "NEW_IMAGE",
    }
}

fn key_schema(partition: &str, sort: &str) -> Vec<KeySchemaElement> {
    vec![
        KeySchemaElement::builder().attribute_name(partition).key_type(KeyType::Hash).build().expect("complete key element"),
        KeySchemaElement::builder().attribute_name(sort).key_type(KeyType::Range).build().expect("complete key element"),
    ]
}

impl TableDefinition {
    /// Every key attribute of the table and its indexes, each a String.
    pub fn attribute_names(&self) -> Vec<&'static str> {
        let mut names = vec![self.partition_key, self.sort_key];
        for index in &self.indexes {
            names.extend([index.partition_key, index.sort_key]);
        }
        names
    }

    pub fn key_schema(&self) -> Vec<KeySchemaElement> {
        key_schema(self.partition_key, self.sort_key)
    }

    pub fn attribute_definitions(&self) -> Vec<AttributeDefinition> {
        self.attribute_names()
            .into_iter()
            .map(|name| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("complete definition")
            })
            .collect()
    }

    pub fn global_secondary_indexes(&self) -> Vec<GlobalSecondaryIndex> {
        self.indexes
            .iter()
            .map(|index| {
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .set_key_schema(Some(key_schema(index.partition_key, index.sort_key)))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .expect("complete index")
            })
            .collect()
    }

    /// Creates the table (on demand, with its stream) and turns on TTL. For tests and the
    /// local runner; production tables come from the template.
    pub async fn create(&self, client: &Client, table_name: &str) -> Result<(), aws_sdk_dynamodb::Error> {
        client
            .create_table()
            .table_name(table_name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(self.key_schema()))
            .set_attribute_definitions(Some(self.attribute_definitions()))
            .set_global_secondary_indexes(Some(self.global_secondary_indexes()))
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(self.stream_view_type))
                    .build()
                    .expect("complete stream specification"),
            )
            .send()
            .await?;
        client
            .update_time_to_live()
            .table_name(table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().enabled(true).attribute_name(self.ttl_attribute).build().expect("complete TTL"),
            )
            .send()
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_names_every_key_once() {
        let def = table_definition();
        let names = def.attribute_names();
        assert_eq!(names, vec!["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"]);
        assert_eq!(def.global_secondary_indexes().len(), 3);
        assert_eq!(def.ttl_attribute, "expires_at");
        assert_eq!(StreamViewType::from(def.stream_view_type), StreamViewType::NewImage);
    }
}
