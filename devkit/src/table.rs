//! The table definition lives once, in `template.yaml`; local and test tables are
//! created from it, so they cannot drift from what is deployed.

use std::path::Path;

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_dynamodb::Client;
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDefinition {
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDef>,
    pub billing_mode: String,
    #[serde(default)]
    pub time_to_live_specification: Option<TimeToLiveDef>,
    #[serde(default)]
    pub stream_specification: Option<StreamSpecificationDef>,
}

/// CloudFormation's form: a view type turns the stream on, no `StreamEnabled` key.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpecificationDef {
    pub stream_view_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLiveDef {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: ProjectionDef,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionDef {
    pub projection_type: String,
}

impl TableDefinition {
    /// Reads the one `AWS::DynamoDB::Table` resource of a SAM/CloudFormation template.
    pub fn from_template(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_template_text(&text)
    }

    pub fn from_template_text(text: &str) -> Result<Self> {
        let template: serde_yaml::Value =
            serde_yaml::from_str(text).context("template is not YAML")?;
        let resources = template
            .get("Resources")
            .and_then(serde_yaml::Value::as_mapping)
            .context("template has no Resources")?;
        let tables: Vec<&serde_yaml::Value> = resources
            .values()
            .filter(|resource| {
                resource.get("Type").and_then(serde_yaml::Value::as_str)
                    == Some("AWS::DynamoDB::Table")
            })
            .collect();
        let [table] = tables.as_slice() else {
            bail!(
                "template must define exactly one AWS::DynamoDB::Table, found {}",
                tables.len()
            );
        };
        let properties = table
            .get("Properties")
            .cloned()
            .context("the table has no Properties")?;
        serde_yaml::from_value(every_branch_taken(properties)).context("the table's Properties")
    }

    /// Creates `name` with this definition; an existing table is left as it is, except
    /// that it gets the stream if it lacks one (a table made before the stream was).
    pub async fn create(&self, client: &Client, name: &str) -> Result<()> {
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::from(self.billing_mode.as_str()))
            .set_stream_specification(self.stream()?);
        for attribute in &self.attribute_definitions {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(&attribute.attribute_name)
                    .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                    .build()?,
            );
        }
        request = request.set_key_schema(Some(key_schema(&self.key_schema)?));
        for index in &self.global_secondary_indexes {
            request = request.global_secondary_indexes(index.definition()?);
        }
        match request.send().await {
            Ok(_) => {
                self.enable_time_to_live(client, name).await?;
                // A new table has nothing to move to the sharded indexes.
                store::Store::new(client.clone(), name)
                    .mark_sharded(domain::time::Timestamp::now())
                    .await
                    .map_err(|err| anyhow::anyhow!("marking {name} sharded: {err}"))?;
                Ok(())
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                self.add_missing_stream(client, name).await?;
                self.add_missing_indexes(client, name).await
            }
            Err(err) => Err(anyhow::anyhow!(
                "creating table {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(err)
            )),
        }
    }
}

/// The template with every `!If [condition, then, else]` read as its `then`: a local
/// table has every index a stage may be given (a live stage gets the sharded indexes
/// one deploy at a time, `ShardedIndexes` in template.yaml). Other tags are left as
/// they are: none of them is in what is read of the table.
fn every_branch_taken(value: serde_yaml::Value) -> serde_yaml::Value {
    use serde_yaml::Value;
    match value {
        Value::Tagged(tagged) if tagged.tag == "If" => match tagged.value {
            Value::Sequence(mut branches) if branches.len() == 3 => {
                every_branch_taken(branches.swap_remove(1))
            }
            other => Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
                tag: tagged.tag,
                value: other,
            })),
        },
        Value::Sequence(values) => {
            Value::Sequence(values.into_iter().map(every_branch_taken).collect())
        }
        Value::Mapping(entries) => Value::Mapping(
            entries
                .into_iter()
                .map(|(key, value)| (key, every_branch_taken(value)))
                .collect(),
        ),
        other => other,
    }
}

impl TableDefinition {
    fn stream(&self) -> Result<Option<StreamSpecification>> {
        let Some(stream) = &self.stream_specification else {
            return Ok(None);
        };
        Ok(Some(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                .build()?,
        ))
    }

    async fn add_missing_stream(&self, client: &Client, name: &str) -> Result<()> {
        let Some(stream) = self.stream()? else {
            return Ok(());
        };
        let described = describe(client, name).await?;
        let streaming = described
            .table
            .and_then(|table| table.stream_specification)
            .is_some_and(|existing| existing.stream_enabled);
        if streaming {
            return Ok(());
        }
        client
            .update_table()
            .table_name(name)
            .stream_specification(stream)
            .send()
            .await
            .map_err(|err| {
                anyhow::anyhow!(
                    "enabling the stream on {name}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(err)
                )
            })?;
        Ok(())
    }

    /// A table made before an index of the template gets it (DynamoDB Local builds it
    /// at once; one index per update, as DynamoDB requires).
    async fn add_missing_indexes(&self, client: &Client, name: &str) -> Result<()> {
        let described = describe(client, name).await?;
        let existing: Vec<String> = described
            .table
            .and_then(|table| table.global_secondary_indexes)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|index| index.index_name)
            .collect();
        for index in &self.global_secondary_indexes {
            if existing.contains(&index.index_name) {
                continue;
            }
            let definition = index.definition()?;
            let mut request = client
                .update_table()
                .table_name(name)
                .global_secondary_index_updates(
                    aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                        .create(
                            aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
                                .index_name(&index.index_name)
                                .set_key_schema(Some(definition.key_schema))
                                .set_projection(definition.projection)
                                .build()?,
                        )
                        .build(),
                );
            for key in &index.key_schema {
                let attribute = self
                    .attribute_definitions
                    .iter()
                    .find(|attribute| attribute.attribute_name == key.attribute_name)
                    .with_context(|| {
                        format!("index {} keys an undefined attribute", index.index_name)
                    })?;
                request = request.attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(&attribute.attribute_name)
                        .attribute_type(ScalarAttributeType::from(
                            attribute.attribute_type.as_str(),
                        ))
                        .build()?,
                );
            }
            request.send().await.map_err(|err| {
                anyhow::anyhow!(
                    "adding index {} to {name}: {}",
                    index.index_name,
                    aws_sdk_dynamodb::error::DisplayErrorContext(err)
                )
            })?;
        }
        Ok(())
    }

    async fn enable_time_to_live(&self, client: &Client, name: &str) -> Result<()> {
        let Some(ttl) = self
            .time_to_live_specification
            .as_ref()
            .filter(|ttl| ttl.enabled)
        else {
            return Ok(());
        };
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                    .attribute_name(&ttl.attribute_name)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(|err| {
                anyhow::anyhow!(
                    "enabling TTL on {name}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(err)
                )
            })?;
        Ok(())
    }
}

impl IndexDef {
    fn definition(&self) -> Result<GlobalSecondaryIndex> {
        Ok(GlobalSecondaryIndex::builder()
            .index_name(&self.index_name)
            .set_key_schema(Some(key_schema(&self.key_schema)?))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::from(
                        self.projection.projection_type.as_str(),
                    ))
                    .build(),
            )
            .build()?)
    }
}

/// The table as DynamoDB describes it.
async fn describe(
    client: &Client,
    name: &str,
) -> Result<aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput> {
    client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .map_err(|err| {
            anyhow::anyhow!(
                "describing table {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(err)
            )
        })
}

fn key_schema(elements: &[KeyElement]) -> Result<Vec<KeySchemaElement>> {
    elements
        .iter()
        .map(|element| {
            Ok(KeySchemaElement::builder()
                .attribute_name(&element.attribute_name)
                .key_type(KeyType::from(element.key_type.as_str()))
                .build()?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_defines_the_keys_and_indexes_the_code_uses() {
        use store::keys;
        let table = TableDefinition::from_template(&crate::paths::template()).unwrap();
        let key_names = |schema: &[KeyElement]| -> Vec<String> {
            schema.iter().map(|e| e.attribute_name.clone()).collect()
        };
        assert_eq!(key_names(&table.key_schema), [keys::PK, keys::SK]);
        let index = |name: &str| {
            table
                .global_secondary_indexes
                .iter()
                .find(|index| index.index_name == name)
                .map(|index| key_names(&index.key_schema))
        };
        assert_eq!(
            index(keys::INDEX_BY_STATUS).unwrap(),
            [keys::STATUS_PK, keys::CREATED_SK]
        );
        assert_eq!(
            index(keys::INDEX_BY_USER).unwrap(),
            [keys::USER_PK, keys::CREATED_SK]
        );
        assert_eq!(
            index(keys::INDEX_BY_CREATED).unwrap(),
            [keys::FEED_PK, keys::CREATED_SK]
        );
        assert_eq!(
            index(keys::INDEX_BY_DUE).unwrap(),
            [keys::DUE_PK, keys::DUE_SK]
        );
        assert_eq!(
            index(keys::INDEX_BY_DAY).unwrap(),
            [keys::DAY_PK, keys::DAY_SK]
        );
        assert_eq!(
            index(keys::INDEX_BY_STATUS_SHARD).unwrap(),
            [keys::STATUS_SHARD_PK, keys::CREATED_SK]
        );
        assert_eq!(
            index(keys::INDEX_BY_CREATED_SHARD).unwrap(),
            [keys::FEED_SHARD_PK, keys::CREATED_SK]
        );
        assert_eq!(
            index(keys::INDEX_BY_DUE_SHARD).unwrap(),
            [keys::DUE_SHARD_PK, keys::DUE_SK]
        );
        for sharded in [
            keys::INDEX_BY_STATUS_SHARD,
            keys::INDEX_BY_CREATED_SHARD,
            keys::INDEX_BY_DUE_SHARD,
        ] {
            let index = table
                .global_secondary_indexes
                .iter()
                .find(|index| index.index_name == sharded)
                .unwrap();
            assert_eq!(index.projection.projection_type, "KEYS_ONLY", "{sharded}");
        }
        assert_eq!(table.global_secondary_indexes.len(), 8);
        assert_eq!(table.attribute_definitions.len(), 13);
        assert_eq!(table.billing_mode, "PAY_PER_REQUEST");
        assert_eq!(
            table.time_to_live_specification,
            Some(TimeToLiveDef {
                attribute_name: keys::EXPIRES_AT.to_owned(),
                enabled: true
            })
        );
    }

    #[test]
    fn the_template_streams_new_and_old_images() {
        let table = TableDefinition::from_template(&crate::paths::template()).unwrap();
        assert_eq!(
            table.stream_specification,
            Some(StreamSpecificationDef {
                stream_view_type: "NEW_AND_OLD_IMAGES".to_owned()
            }),
            "the outbox publisher needs both images of every change"
        );
    }

    #[test]
    fn a_stream_specification_turns_the_stream_on_in_its_view() {
        let template = "Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n    \
            Properties:\n      BillingMode: PAY_PER_REQUEST\n      \
            AttributeDefinitions: []\n      KeySchema: []\n      \
            StreamSpecification:\n        StreamViewType: NEW_IMAGE\n";
        let table = TableDefinition::from_template_text(template).unwrap();
        let stream = table.stream().unwrap().unwrap();
        assert!(stream.stream_enabled);
        assert_eq!(stream.stream_view_type, Some(StreamViewType::NewImage));

        let without = template.replace("StreamSpecification", "Unrelated");
        let table = TableDefinition::from_template_text(&without).unwrap();
        assert_eq!(table.stream_specification, None);
        assert_eq!(table.stream().unwrap(), None);
    }

    #[test]
    fn a_template_without_exactly_one_table_is_refused() {
        let none = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n";
        assert!(TableDefinition::from_template_text(none).is_err());
    }
}
