//! Every write a recorder saw, billed: each applied write paired with the stream
//! record of the change it made, which holds the item before and after it
//! (`NEW_AND_OLD_IMAGES`), and each transaction's condition check with the item as it
//! stood. Exact, or an error: a write without its record, or a record without its
//! write, fails the ledger instead of leaving a guess in the figure.
//!
//! Pairing: DynamoDB's stream holds one record per applied write of an item, in the
//! order they were applied ("DynamoDB Streams", each stream record "appears exactly
//! once", and records for an item appear in the order of its modifications:
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html>).
//! The recorder's writes of one item, in the order DynamoDB answered them, are paired
//! with that item's records in stream order. Two requests on the same item in flight
//! at once could be applied in the other order than they were answered; that changes
//! nothing when both are the same kind of write (their records are billed alike), and
//! is counted as `ambiguous_keys` when it could (a transactional write beside a plain
//! one, or a condition check beside a write).
//!
//! DynamoDB writes no record for a put or update that changes nothing (Streams.html,
//! above), and still bills it; DynamoDB Local writes one. Either way such a write cannot
//! go missing unseen here: without its record it fails the ledger.

use std::collections::{BTreeMap, HashMap, VecDeque};

use anyhow::{bail, Context, Result};

use super::billing::{self, Attributes, Charge, KeyMap, TableShape};
use super::recorder::{ActionKind, RecordedRequest};
use crate::streams::{StartAt, StreamReader};

/// One record of the table's stream: an item's key, and the item before and after.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamChange {
    pub key: KeyMap,
    pub before: Option<Attributes>,
    pub after: Option<Attributes>,
    /// DynamoDB Local's size of the record: its keys and both images.
    pub size_bytes: i64,
}

/// One charge of one item of one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Billed {
    pub request: u64,
    pub phase: String,
    pub kind: ActionKind,
    pub transactional: bool,
    pub charge: Charge,
}

/// What the pairing found besides the charges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checks {
    pub stream_records: usize,
    /// Records whose keys and images, sized by [`billing::item_size`], add up to
    /// DynamoDB Local's `SizeBytes`.
    pub sizes_agreeing: usize,
    /// The first few that do not, described.
    pub size_disagreements: Vec<String>,
    /// Requests DynamoDB refused (a condition, a cancelled transaction), by phase.
    /// DynamoDB bills a refused conditional write too; these are not billed here.
    pub refused: BTreeMap<String, usize>,
    /// Items whose pairing could depend on the order of two requests in flight at once.
    pub ambiguous_keys: usize,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ledger {
    pub billed: Vec<Billed>,
    pub checks: Checks,
}

/// Every record of `table`'s stream on the DynamoDB Local at `endpoint`, from the
/// table's creation on.
pub async fn read_stream(
    endpoint: &str,
    table: &str,
    shape: &TableShape,
) -> Result<Vec<StreamChange>> {
    let mut reader = StreamReader::open(endpoint, table, StartAt::TrimHorizon).await?;
    let mut changes = Vec::new();
    loop {
        let batch = reader.next_batch(1000).await?;
        if batch.records.is_empty() {
            return Ok(changes);
        }
        for record in batch.records {
            let change = record.change;
            let image = |item: serde_dynamo::Item| {
                let attributes = item.into_inner();
                (!attributes.is_empty()).then_some(attributes)
            };
            let keys = change.keys.into_inner();
            let key = billing::primary_key(shape, &keys).with_context(|| {
                format!("a stream record of {table} without the table's key: {keys:?}")
            })?;
            changes.push(StreamChange {
                key,
                before: image(change.old_image),
                after: image(change.new_image),
                size_bytes: change.size_bytes,
            });
        }
    }
}

/// `key` reduced to the table's key attributes (a put's recorded key holds every
/// attribute that could be one).
fn table_key(shape: &TableShape, key: &KeyMap) -> KeyMap {
    key.iter()
        .filter(|(name, _)| **name == shape.hash || shape.range.as_ref() == Some(*name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// One item's action, where it sits among the recorder's answers.
struct Step<'a> {
    request: &'a RecordedRequest,
    kind: ActionKind,
    transactional: bool,
}

/// Bills every write of `requests` to `table` against the stream's `changes` (in
/// stream order). Fails when the two do not pair up one to one.
pub fn bill(
    shape: &TableShape,
    table: &str,
    requests: &[RecordedRequest],
    changes: Vec<StreamChange>,
) -> Result<Ledger> {
    let mut checks = Checks {
        stream_records: changes.len(),
        ..Checks::default()
    };
    for change in &changes {
        let sized = [
            Some(&change.key_attributes()),
            change.before.as_ref(),
            change.after.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(billing::item_size)
        .sum::<usize>();
        if i64::try_from(sized).ok() == Some(change.size_bytes) {
            checks.sizes_agreeing += 1;
        } else if checks.size_disagreements.len() < 5 {
            checks.size_disagreements.push(format!(
                "{}: sized {sized} bytes, DynamoDB Local {}",
                describe(&change.key),
                change.size_bytes
            ));
        }
    }
    let mut records: HashMap<KeyMap, VecDeque<StreamChange>> = HashMap::new();
    for change in changes {
        records
            .entry(change.key.clone())
            .or_default()
            .push_back(change);
    }

    let mut ordered: Vec<&RecordedRequest> = requests.iter().collect();
    ordered.sort_by_key(|request| request.answer_order);
    let mut steps: HashMap<KeyMap, Vec<Step>> = HashMap::new();
    for request in ordered {
        if request.unattributed {
            bail!(
                "a {} request (PartiQL) wrote in phase `{}`: its items are not known, so it cannot be billed",
                request.operation,
                request.phase
            );
        }
        if !request.applied {
            *checks.refused.entry(request.phase.clone()).or_default() += 1;
            continue;
        }
        for action in request
            .actions
            .iter()
            .filter(|action| action.table == table)
        {
            steps
                .entry(table_key(shape, &action.key))
                .or_default()
                .push(Step {
                    request,
                    kind: action.kind,
                    transactional: action.transactional,
                });
        }
    }

    let mut billed = Vec::new();
    let mut problems = Vec::new();
    let mut keys: Vec<&KeyMap> = steps.keys().collect();
    keys.sort();
    for key in keys {
        let item_steps = &steps[key];
        if item_steps.windows(2).any(|pair| {
            let (first, second) = (&pair[0], &pair[1]);
            let overlapping = second.request.began < first.request.answered;
            let billed_alike = first.transactional == second.transactional
                && (first.kind == ActionKind::ConditionCheck)
                    == (second.kind == ActionKind::ConditionCheck);
            overlapping && !billed_alike
        }) {
            checks.ambiguous_keys += 1;
        }
        let mut queue = records.remove(key).unwrap_or_default();
        // The item as it stands between writes: what a condition check reads.
        let mut standing: Option<Option<Attributes>> = None;
        for step in item_steps {
            let charges = if step.kind == ActionKind::ConditionCheck {
                let stored = match &standing {
                    Some(item) => item.clone(),
                    None => queue.front().and_then(|next| next.before.clone()),
                };
                billing::condition_check_charge(shape, key, stored.as_ref())
                    .into_iter()
                    .collect()
            } else {
                let Some(change) = queue.pop_front() else {
                    problems.push(format!(
                        "{} of {} (request {}, phase `{}`) was answered as applied and is not in the stream",
                        step.request.operation,
                        describe(key),
                        step.request.id,
                        step.request.phase
                    ));
                    continue;
                };
                let charges = billing::write_charges(
                    shape,
                    change.before.as_ref(),
                    change.after.as_ref(),
                    step.transactional,
                );
                standing = Some(change.after);
                charges
            };
            billed.extend(charges.into_iter().map(|charge| Billed {
                request: step.request.id,
                phase: step.request.phase.clone(),
                kind: step.kind,
                transactional: step.transactional,
                charge,
            }));
        }
        if !queue.is_empty() {
            problems.push(format!(
                "{} has {} stream record(s) beyond the writes recorded for it",
                describe(key),
                queue.len()
            ));
        }
    }
    let mut unwritten: Vec<String> = records
        .iter()
        .filter(|(_, queue)| !queue.is_empty())
        .map(|(key, queue)| {
            format!(
                "{} has {} stream record(s) and no recorded write",
                describe(key),
                queue.len()
            )
        })
        .collect();
    unwritten.sort();
    problems.extend(unwritten);
    if !problems.is_empty() {
        let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
        bail!(
            "the recorded writes and the stream do not pair up ({} problems): {}",
            problems.len(),
            shown.join("; ")
        );
    }
    Ok(Ledger { billed, checks })
}

impl StreamChange {
    /// The key as attributes, to size it as the record's `Keys`.
    fn key_attributes(&self) -> Attributes {
        self.key
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    billing::KeyValue::S(text) => serde_dynamo::AttributeValue::S(text.clone()),
                    billing::KeyValue::N(number) => serde_dynamo::AttributeValue::N(number.clone()),
                    billing::KeyValue::B(bytes) => serde_dynamo::AttributeValue::B(bytes.clone()),
                };
                (name.clone(), value)
            })
            .collect()
    }
}

fn describe(key: &KeyMap) -> String {
    key.values()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" / ")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_dynamo::AttributeValue;

    use super::*;
    use crate::heat::billing::{IndexShape, KeyValue, Projection, Target};
    use crate::heat::recorder::WriteAction;

    const TABLE: &str = "payouts";

    fn shape() -> TableShape {
        TableShape {
            hash: "pk".to_owned(),
            range: Some("sk".to_owned()),
            indexes: vec![IndexShape {
                name: "by_status".to_owned(),
                hash: "status_pk".to_owned(),
                range: None,
                projection: Projection::KeysOnly,
            }],
        }
    }

    fn key(pk: &str) -> KeyMap {
        [
            ("pk".to_owned(), KeyValue::S(pk.to_owned())),
            ("sk".to_owned(), KeyValue::S("X".to_owned())),
        ]
        .into_iter()
        .collect()
    }

    fn item(pk: &str, status: &str) -> Attributes {
        [
            ("pk", AttributeValue::S(pk.to_owned())),
            ("sk", AttributeValue::S("X".to_owned())),
            ("status_pk", AttributeValue::S(status.to_owned())),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    fn change(pk: &str, before: Option<&str>, after: Option<&str>) -> StreamChange {
        let before = before.map(|status| item(pk, status));
        let after = after.map(|status| item(pk, status));
        let mut change = StreamChange {
            key: key(pk),
            before,
            after,
            size_bytes: 0,
        };
        change.size_bytes = [
            Some(change.key_attributes()),
            change.before.clone(),
            change.after.clone(),
        ]
        .iter()
        .flatten()
        .map(billing::item_size)
        .sum::<usize>() as i64;
        change
    }

    /// A request answered `order`-th, begun `began_ms` and answered `answered_ms`
    /// after a common start.
    fn request(
        id: u64,
        actions: &[(&str, ActionKind, bool)],
        order: u64,
        (began_ms, answered_ms): (u64, u64),
    ) -> RecordedRequest {
        let start = Instant::now();
        RecordedRequest {
            id,
            phase: "lifecycle".to_owned(),
            operation: "TransactWriteItems",
            actions: actions
                .iter()
                .map(|(pk, kind, transactional)| WriteAction {
                    table: TABLE.to_owned(),
                    key: key(pk),
                    kind: *kind,
                    transactional: *transactional,
                })
                .collect(),
            applied: true,
            unattributed: false,
            began: start + Duration::from_millis(began_ms),
            answered: start + Duration::from_millis(answered_ms),
            answer_order: order,
            reported: Vec::new(),
        }
    }

    fn units(ledger: &Ledger, request: u64, target: &Target) -> u64 {
        ledger
            .billed
            .iter()
            .filter(|billed| billed.request == request && &billed.charge.target == target)
            .map(|billed| billed.charge.units)
            .sum()
    }

    #[test]
    fn each_applied_write_is_billed_on_its_own_record_in_order() {
        let requests = [
            request(1, &[("A", ActionKind::Put, false)], 1, (0, 1)),
            request(2, &[("A", ActionKind::Update, true)], 2, (2, 3)),
        ];
        let changes = vec![
            change("A", None, Some("STATUS#pending")),
            change("A", Some("STATUS#pending"), Some("STATUS#processing")),
        ];
        let ledger = bill(&shape(), TABLE, &requests, changes).unwrap();
        assert_eq!(units(&ledger, 1, &Target::Table), 1);
        assert_eq!(units(&ledger, 2, &Target::Table), 2, "transactional");
        let index = Target::Index("by_status".to_owned());
        assert_eq!(units(&ledger, 1, &index), 1);
        assert_eq!(units(&ledger, 2, &index), 2, "moved: a delete and a put");
        assert_eq!(ledger.checks.sizes_agreeing, 2);
        assert_eq!(ledger.checks.ambiguous_keys, 0);
    }

    #[test]
    fn a_condition_check_is_billed_on_the_item_as_the_last_write_left_it() {
        let requests = [
            request(1, &[("ACC", ActionKind::Put, false)], 1, (0, 1)),
            request(
                2,
                &[
                    ("P", ActionKind::Put, true),
                    ("ACC", ActionKind::ConditionCheck, true),
                ],
                2,
                (2, 3),
            ),
        ];
        let changes = vec![
            change("ACC", None, Some("x")),
            change("P", None, Some("STATUS#pending")),
        ];
        let ledger = bill(&shape(), TABLE, &requests, changes).unwrap();
        let check = ledger
            .billed
            .iter()
            .find(|billed| billed.kind == ActionKind::ConditionCheck)
            .unwrap();
        assert_eq!(
            (check.charge.partition.to_string(), check.charge.units),
            ("ACC".to_owned(), 2)
        );
    }

    #[test]
    fn refused_requests_are_counted_not_billed() {
        let mut refused = request(2, &[("A", ActionKind::Update, false)], 2, (2, 3));
        refused.applied = false;
        let requests = [
            request(1, &[("A", ActionKind::Put, false)], 1, (0, 1)),
            refused,
        ];
        let ledger = bill(
            &shape(),
            TABLE,
            &requests,
            vec![change("A", None, Some("s"))],
        )
        .unwrap();
        assert_eq!(ledger.checks.refused.get("lifecycle"), Some(&1));
        assert!(ledger.billed.iter().all(|billed| billed.request == 1));
    }

    #[test]
    fn a_write_without_its_record_or_a_record_without_its_write_fails() {
        let requests = [request(1, &[("A", ActionKind::Put, false)], 1, (0, 1))];
        assert!(bill(&shape(), TABLE, &requests, Vec::new()).is_err());
        let changes = vec![change("A", None, Some("s")), change("B", None, Some("s"))];
        assert!(bill(&shape(), TABLE, &requests, changes).is_err());
    }

    #[test]
    fn overlapping_writes_of_different_kinds_on_one_item_are_counted_ambiguous() {
        let requests = [
            request(1, &[("A", ActionKind::Update, false)], 1, (0, 5)),
            request(2, &[("A", ActionKind::Update, true)], 2, (1, 6)),
        ];
        let changes = vec![
            change("A", None, Some("s")),
            change("A", Some("s"), Some("t")),
        ];
        let ledger = bill(&shape(), TABLE, &requests, changes).unwrap();
        assert_eq!(ledger.checks.ambiguous_keys, 1);
    }

    #[test]
    fn a_record_that_dynamodb_local_sizes_otherwise_is_reported() {
        let mut odd = change("A", None, Some("s"));
        odd.size_bytes += 1;
        let requests = [request(1, &[("A", ActionKind::Put, false)], 1, (0, 1))];
        let ledger = bill(&shape(), TABLE, &requests, vec![odd]).unwrap();
        assert_eq!(ledger.checks.sizes_agreeing, 0);
        assert_eq!(ledger.checks.size_disagreements.len(), 1);
    }
}
