//! The table's stream as Lambda would deliver it. DynamoDB Local serves the
//! DynamoDB Streams API on its own endpoint; this reads it shard by shard and turns its
//! records into the `aws_lambda_events::dynamodb::Event` a stream-triggered function
//! receives, so the local stack and the tests invoke `publish-events` with real events.

use aws_lambda_events::dynamodb::{Event, EventRecord, StreamRecord, UserIdentity};
use aws_sdk_dynamodbstreams::types::{Record, Shard, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;

use anyhow::{bail, Context, Result};

use crate::dynamodb_local::local_sdk_config;

/// Where a new reader begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest record still kept: for a table made by a test, everything since.
    TrimHorizon,
    /// Only what is written after the reader opens.
    Latest,
}

impl StartAt {
    fn iterator_type(self) -> ShardIteratorType {
        match self {
            StartAt::TrimHorizon => ShardIteratorType::TrimHorizon,
            StartAt::Latest => ShardIteratorType::Latest,
        }
    }
}

/// One table's stream, read in order: a shard's records in sequence, a child shard
/// only once its parent is read to its end, each batch from a single shard, as
/// Lambda's event source mapping delivers them.
pub struct StreamReader {
    client: Client,
    stream_arn: String,
    shards: Vec<ShardCursor>,
    last_batch: Option<DeliveredBatch>,
    /// The event source mapping's filter, when the reader stands in for one.
    filter: Option<MappingFilter>,
}

/// The filter of `template.yaml`'s event source mapping on the table's stream
/// (`PublishEventsStream`): which records Lambda hands `publish-events` at all, by the
/// item's sort key. The local stack and the tests apply the same pattern, read from
/// the template, so a record the deployed mapping would drop never reaches the
/// function here either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingFilter {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl MappingFilter {
    pub fn from_template() -> Result<Self> {
        let path = crate::paths::template();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Self::from_template_text(&text)
    }

    /// The pattern must be `{"dynamodb":{"Keys":{"sk":{"S":[…]}}}}` with strings and
    /// `{"prefix": …}` objects: anything else is refused rather than half understood.
    pub fn from_template_text(text: &str) -> Result<Self> {
        let template: serde_yaml::Value =
            serde_yaml::from_str(text).context("template is not YAML")?;
        let filters = template["Resources"]["PublishEventsStream"]["Properties"]["FilterCriteria"]
            ["Filters"]
            .as_sequence()
            .context("PublishEventsStream has no FilterCriteria.Filters")?;
        let [filter] = filters.as_slice() else {
            bail!("PublishEventsStream must have exactly one filter");
        };
        let pattern: serde_json::Value = serde_json::from_str(
            filter["Pattern"]
                .as_str()
                .context("the filter's Pattern is not a string")?,
        )
        .context("the filter's Pattern is not JSON")?;
        let values = pattern["dynamodb"]["Keys"]["sk"]["S"]
            .as_array()
            .context("the filter is not on dynamodb.Keys.sk.S")?;
        let mut filter = MappingFilter {
            exact: Vec::new(),
            prefixes: Vec::new(),
        };
        for value in values {
            match (value.as_str(), value["prefix"].as_str()) {
                (Some(exact), _) => filter.exact.push(exact.to_owned()),
                (None, Some(prefix)) => filter.prefixes.push(prefix.to_owned()),
                _ => bail!("the filter holds `{value}`, neither a string nor a prefix"),
            }
        }
        Ok(filter)
    }

    pub fn admits(&self, record: &EventRecord) -> bool {
        let Some(serde_dynamo::AttributeValue::S(sk)) = record.change.keys.get("sk") else {
            return false;
        };
        self.exact.iter().any(|exact| exact == sk)
            || self
                .prefixes
                .iter()
                .any(|prefix| sk.starts_with(prefix.as_str()))
    }
}

/// Which shard the last batch came from and which records it held, so a failure a
/// function reports can be read again from the right place.
struct DeliveredBatch {
    shard: usize,
    sequence_numbers: Vec<String>,
}

struct ShardCursor {
    shard_id: String,
    parent_shard_id: Option<String>,
    position: Position,
    /// How to get an iterator for the current position again once the one held has
    /// expired (they last 15 minutes).
    resume: (ShardIteratorType, Option<String>),
}

enum Position {
    /// No iterator asked for yet.
    Unopened,
    Iterator(String),
    /// A closed shard read to its end.
    Finished,
}

impl StreamReader {
    /// Opens `table`'s stream on the DynamoDB Local at `endpoint`; every shard there
    /// now starts at `start`, shards that appear later at their beginning.
    pub async fn open(endpoint: &str, table: &str, start: StartAt) -> Result<Self> {
        let config = local_sdk_config(endpoint).await;
        let stream_arn = latest_stream_arn(&aws_sdk_dynamodb::Client::new(&config), table).await?;
        let mut reader = StreamReader {
            client: Client::new(&config),
            stream_arn,
            shards: Vec::new(),
            last_batch: None,
            filter: None,
        };
        reader.discover_shards(start.iterator_type()).await?;
        // LATEST means "from now": fixed at once, not when a shard is first read.
        for index in 0..reader.shards.len() {
            reader.open_iterator(index).await?;
        }
        Ok(reader)
    }

    /// Delivers only what `filter` admits, as the event source mapping does.
    pub fn filtered(mut self, filter: MappingFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    /// Up to `max` records, the next ones in stream order, all from one shard; an event
    /// with no records when nothing new has been written.
    pub async fn next_batch(&mut self, max: usize) -> Result<Event> {
        self.discover_shards(ShardIteratorType::TrimHorizon).await?;
        for index in 0..self.shards.len() {
            if !self.is_readable(index) {
                continue;
            }
            let records = loop {
                let mut records = self.read_shard(index, max).await?;
                if records.is_empty() {
                    break records;
                }
                if let Some(filter) = &self.filter {
                    records.retain(|record| filter.admits(record));
                }
                // A read the filter emptied is not the shard's end: read on.
                if !records.is_empty() {
                    break records;
                }
            };
            if !records.is_empty() {
                self.last_batch = Some(DeliveredBatch {
                    shard: index,
                    sequence_numbers: records
                        .iter()
                        .filter_map(|record| record.change.sequence_number.clone())
                        .collect(),
                });
                let mut event = Event::default();
                event.records = records;
                return Ok(event);
            }
        }
        Ok(Event::default())
    }

    /// Reads the last batch's shard again from `sequence_number` on, as Lambda does
    /// with the first `batchItemFailures` entry a function answers (or the batch's
    /// first record when the invocation failed as a whole).
    pub async fn rewind_to(&mut self, sequence_number: &str) -> Result<()> {
        let Some(batch) = &self.last_batch else {
            bail!("no batch has been read yet to rewind");
        };
        if !batch.sequence_numbers.iter().any(|s| s == sequence_number) {
            bail!("sequence number {sequence_number} is not one of the last batch");
        }
        let cursor = &mut self.shards[batch.shard];
        cursor.resume = (
            ShardIteratorType::AtSequenceNumber,
            Some(sequence_number.to_owned()),
        );
        cursor.position = Position::Unopened;
        self.last_batch = None;
        Ok(())
    }

    /// Adds the shards not known yet, in the order DescribeStream lists them (parents
    /// before their children), each to start at `start`.
    async fn discover_shards(&mut self, start: ShardIteratorType) -> Result<()> {
        for shard in self.list_shards().await? {
            let Some(shard_id) = shard.shard_id else {
                continue;
            };
            if self.shards.iter().any(|known| known.shard_id == shard_id) {
                continue;
            }
            self.shards.push(ShardCursor {
                shard_id,
                parent_shard_id: shard.parent_shard_id,
                position: Position::Unopened,
                resume: (start.clone(), None),
            });
        }
        Ok(())
    }

    async fn list_shards(&self) -> Result<Vec<Shard>> {
        let mut shards = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let described = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(after.take())
                .send()
                .await
                .map_err(|err| sdk_error(format!("describing {}", self.stream_arn), err))?;
            let Some(description) = described.stream_description else {
                bail!("DescribeStream of {} returned nothing", self.stream_arn);
            };
            shards.extend(description.shards.unwrap_or_default());
            match description.last_evaluated_shard_id {
                Some(last) => after = Some(last),
                None => return Ok(shards),
            }
        }
    }

    /// Not finished, and its parent (when this reader knows it) read to its end.
    fn is_readable(&self, index: usize) -> bool {
        let cursor = &self.shards[index];
        if matches!(cursor.position, Position::Finished) {
            return false;
        }
        let parent = cursor
            .parent_shard_id
            .as_ref()
            .and_then(|parent| self.shards.iter().find(|s| &s.shard_id == parent));
        parent.is_none_or(|parent| matches!(parent.position, Position::Finished))
    }

    async fn open_iterator(&mut self, index: usize) -> Result<()> {
        let cursor = &self.shards[index];
        let (kind, sequence_number) = cursor.resume.clone();
        let answer = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(&cursor.shard_id)
            .shard_iterator_type(kind)
            .set_sequence_number(sequence_number)
            .send()
            .await
            .map_err(|err| sdk_error(format!("an iterator for {}", cursor.shard_id), err))?;
        self.shards[index].position = match answer.shard_iterator {
            Some(iterator) => Position::Iterator(iterator),
            None => Position::Finished,
        };
        Ok(())
    }

    async fn read_shard(&mut self, index: usize, max: usize) -> Result<Vec<EventRecord>> {
        if matches!(self.shards[index].position, Position::Unopened) {
            self.open_iterator(index).await?;
        }
        let Position::Iterator(iterator) = &self.shards[index].position else {
            return Ok(Vec::new());
        };
        let limit = i32::try_from(max.clamp(1, 1000)).unwrap_or(1000);
        let answer = match self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(limit)
            .send()
            .await
        {
            Ok(answer) => answer,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_expired_iterator_exception()) =>
            {
                // Picked up again where it stood, on the next call.
                self.shards[index].position = Position::Unopened;
                return Ok(Vec::new());
            }
            Err(err) => {
                let shard = &self.shards[index].shard_id;
                return Err(sdk_error(format!("reading shard {shard}"), err));
            }
        };
        let cursor = &mut self.shards[index];
        cursor.position = match answer.next_shard_iterator {
            Some(next) => Position::Iterator(next),
            None => Position::Finished,
        };
        let records = answer.records.unwrap_or_default();
        let last_sequence = records
            .last()
            .and_then(|record| record.dynamodb.as_ref()?.sequence_number.clone());
        if let Some(last) = last_sequence {
            cursor.resume = (ShardIteratorType::AfterSequenceNumber, Some(last));
        }
        records
            .into_iter()
            .map(|record| lambda_record(record, &self.stream_arn))
            .collect()
    }
}

async fn latest_stream_arn(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<String> {
    let described = dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|err| sdk_error(format!("describing table {table}"), err))?;
    described
        .table
        .and_then(|table| table.latest_stream_arn)
        .with_context(|| {
            format!("table {table} has no stream: is StreamSpecification in template.yaml?")
        })
}

fn sdk_error<E: std::error::Error + Send + Sync + 'static>(what: String, err: E) -> anyhow::Error {
    anyhow::anyhow!(
        "{what}: {}",
        aws_sdk_dynamodbstreams::error::DisplayErrorContext(err)
    )
}

/// A stream record as the Lambda service hands it to a function: the same fields, with
/// `eventSourceARN` naming the stream.
pub fn lambda_record(record: Record, stream_arn: &str) -> Result<EventRecord> {
    let change = record
        .dynamodb
        .context("a stream record without its `dynamodb` part")?;
    let mut converted = EventRecord::default();
    converted.aws_region = record.aws_region.unwrap_or_default();
    converted.event_id = record.event_id.unwrap_or_default();
    converted.event_name = record
        .event_name
        .map(|name| name.as_str().to_owned())
        .context("a stream record without its eventName")?;
    converted.event_source = record.event_source;
    converted.event_version = record.event_version;
    converted.event_source_arn = Some(stream_arn.to_owned());
    converted.user_identity = record.user_identity.map(|identity| {
        let mut user = UserIdentity::default();
        user.type_ = identity.r#type.unwrap_or_default();
        user.principal_id = identity.principal_id.unwrap_or_default();
        user
    });
    converted.change = lambda_stream_record(change)?;
    Ok(converted)
}

fn lambda_stream_record(
    change: aws_sdk_dynamodbstreams::types::StreamRecord,
) -> Result<StreamRecord> {
    let mut converted = StreamRecord::default();
    if let Some(created) = change.approximate_creation_date_time {
        converted.approximate_creation_date_time =
            chrono::DateTime::from_timestamp(created.secs(), created.subsec_nanos())
                .context("a stream record's ApproximateCreationDateTime is out of range")?;
    }
    converted.keys = change.keys.unwrap_or_default().into();
    converted.new_image = change.new_image.unwrap_or_default().into();
    converted.old_image = change.old_image.unwrap_or_default().into();
    converted.sequence_number = change.sequence_number;
    converted.size_bytes = change.size_bytes.unwrap_or_default();
    converted.stream_view_type = change
        .stream_view_type
        .map(|view| serde_json::from_value(serde_json::Value::from(view.as_str())))
        .transpose()
        .context("a stream record's StreamViewType")?;
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sk: &str) -> EventRecord {
        let mut record = EventRecord::default();
        record.change.keys.insert(
            "sk".to_owned(),
            serde_dynamo::AttributeValue::S(sk.to_owned()),
        );
        record
    }

    #[test]
    fn the_template_filter_lets_through_what_becomes_an_event_and_nothing_else() {
        let filter = MappingFilter::from_template().unwrap();
        for sk in [
            "PAYOUT",
            "ACCOUNT",
            "PAYOUT_ACCOUNT",
            "ORDER",
            "EARNING#bonus-1",
        ] {
            assert!(filter.admits(&record(sk)), "{sk}");
        }
        for sk in [
            "SCOUT",
            "SUMMARY",
            "COUNTERS",
            "EARNING",
            "ORDERS",
            "REV#00000000000000000001",
        ] {
            assert!(!filter.admits(&record(sk)), "{sk}");
        }
        assert!(!filter.admits(&EventRecord::default()));
    }
}
