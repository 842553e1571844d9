//! The table's stream read from DynamoDB Local as the Lambda event a stream-triggered
//! function receives: the right records, in order, and the same ones again
//! for a reader that starts over.

use std::time::{Duration, Instant};

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use devkit::paths;
use devkit::streams::{StartAt, StreamReader};
use devkit::table::TableDefinition;
use devkit::testing;
use store::keys;

async fn fresh_table(client: &Client) -> String {
    let name = format!("stream-test-{}", uuid::Uuid::new_v4().simple());
    TableDefinition::from_template(&paths::template())
        .unwrap()
        .create(client, &name)
        .await
        .unwrap();
    name
}

async fn put_then_update(client: &Client, table: &str) {
    client
        .put_item()
        .table_name(table)
        .item(keys::PK, AttributeValue::S("T#1".to_owned()))
        .item(keys::SK, AttributeValue::S("ITEM".to_owned()))
        .item("version", AttributeValue::N("1".to_owned()))
        .send()
        .await
        .unwrap();
    client
        .update_item()
        .table_name(table)
        .key(keys::PK, AttributeValue::S("T#1".to_owned()))
        .key(keys::SK, AttributeValue::S("ITEM".to_owned()))
        .update_expression("SET version = :two")
        .expression_attribute_values(":two", AttributeValue::N("2".to_owned()))
        .send()
        .await
        .unwrap();
}

/// Everything the reader has to give, batch by batch, until `count` records or 10 s.
/// The test's own records: a new table's first record is the layout marker devkit
/// writes when it makes one (`store::keys::LAYOUT_PK`), which is not the test's.
async fn read_records(reader: &mut StreamReader, count: usize) -> Vec<EventRecord> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut records = Vec::new();
    while records.len() < count && Instant::now() < deadline {
        let batch = reader.next_batch(100).await.unwrap();
        if batch.records.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        records.extend(
            batch
                .records
                .into_iter()
                .filter(|record| !is_layout_marker(record)),
        );
    }
    records
}

fn is_layout_marker(record: &EventRecord) -> bool {
    matches!(
        record.change.keys.get(keys::PK),
        Some(serde_dynamo::AttributeValue::S(pk)) if pk == keys::LAYOUT_PK
    )
}

fn sequence_numbers(records: &[EventRecord]) -> Vec<String> {
    records
        .iter()
        .map(|record| record.change.sequence_number.clone().unwrap())
        .collect()
}

/// Sequence numbers are decimal strings of any length: longer is later.
fn is_increasing(sequence_numbers: &[String]) -> bool {
    sequence_numbers
        .windows(2)
        .all(|pair| (pair[0].len(), &pair[0]) < (pair[1].len(), &pair[1]))
}

#[tokio::test]
async fn a_put_and_an_update_arrive_as_the_lambda_event_and_replay_the_same() {
    let client = testing::client().await;
    let table = fresh_table(&client).await;
    put_then_update(&client, &table).await;

    let mut reader = StreamReader::open(&testing::endpoint(), &table, StartAt::TrimHorizon)
        .await
        .unwrap();
    let records = read_records(&mut reader, 2).await;
    let names: Vec<&str> = records.iter().map(|r| r.event_name.as_str()).collect();
    assert_eq!(names, ["INSERT", "MODIFY"]);
    let sequence = sequence_numbers(&records);
    assert!(is_increasing(&sequence), "{sequence:?}");

    let mut event = Event::default();
    event.records = records;
    let json = serde_json::to_value(&event).unwrap();
    let [insert, modify] = json["Records"].as_array().unwrap().as_slice() else {
        panic!("two records: {json}");
    };
    for record in [insert, modify] {
        assert_eq!(record["eventSource"], "aws:dynamodb", "{record}");
        assert_eq!(record["eventVersion"], "1.1", "{record}");
        assert_eq!(record["eventSourceARN"], reader.stream_arn(), "{record}");
        assert!(record["eventID"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(record["awsRegion"].is_string(), "{record}");
        let change = &record["dynamodb"];
        assert_eq!(change["StreamViewType"], "NEW_AND_OLD_IMAGES");
        assert_eq!(change["Keys"][keys::PK]["S"], "T#1");
        assert_eq!(change["Keys"][keys::SK]["S"], "ITEM");
        assert!(change["SizeBytes"].as_i64().is_some_and(|size| size > 0));
        assert!(change["ApproximateCreationDateTime"].as_f64().is_some());
    }
    assert_eq!(insert["dynamodb"]["NewImage"]["version"]["N"], "1");
    assert!(insert["dynamodb"]["OldImage"]
        .as_object()
        .is_none_or(|image| image.is_empty()));
    assert_eq!(modify["dynamodb"]["OldImage"]["version"]["N"], "1");
    assert_eq!(modify["dynamodb"]["NewImage"]["version"]["N"], "2");
    // What Lambda hands the function parses back into the same event.
    let reparsed: Event = serde_json::from_value(json).unwrap();
    assert_eq!(reparsed, event);

    assert!(reader.next_batch(100).await.unwrap().records.is_empty());

    let mut replay = StreamReader::open(&testing::endpoint(), &table, StartAt::TrimHorizon)
        .await
        .unwrap();
    assert_eq!(
        sequence_numbers(&read_records(&mut replay, 2).await),
        sequence
    );
}

#[tokio::test]
async fn a_reader_from_latest_sees_only_later_writes() {
    let client = testing::client().await;
    let table = fresh_table(&client).await;
    put_then_update(&client, &table).await;

    let mut reader = StreamReader::open(&testing::endpoint(), &table, StartAt::Latest)
        .await
        .unwrap();
    assert!(reader.next_batch(100).await.unwrap().records.is_empty());
    client
        .delete_item()
        .table_name(&table)
        .key(keys::PK, AttributeValue::S("T#1".to_owned()))
        .key(keys::SK, AttributeValue::S("ITEM".to_owned()))
        .send()
        .await
        .unwrap();
    let records = read_records(&mut reader, 1).await;
    let [remove] = records.as_slice() else {
        panic!("one record: {records:?}");
    };
    assert_eq!(remove.event_name, "REMOVE");
    assert_eq!(
        serde_json::to_value(&remove.change.old_image).unwrap()["version"]["N"],
        "2"
    );
}

#[tokio::test]
async fn a_rewound_reader_delivers_again_from_the_failed_record() {
    let client = testing::client().await;
    let table = fresh_table(&client).await;
    put_then_update(&client, &table).await;

    let mut reader = StreamReader::open(&testing::endpoint(), &table, StartAt::TrimHorizon)
        .await
        .unwrap();
    let first = read_records(&mut reader, 2).await;
    let sequence = sequence_numbers(&first);
    assert_eq!(sequence.len(), 2, "{first:?}");

    reader.rewind_to(&sequence[1]).await.unwrap();
    let again = read_records(&mut reader, 1).await;
    assert_eq!(sequence_numbers(&again), [sequence[1].clone()]);
    assert!(reader.next_batch(100).await.unwrap().records.is_empty());
    assert!(
        reader.rewind_to("1").await.is_err(),
        "only a record of the last batch can be read again"
    );
}
