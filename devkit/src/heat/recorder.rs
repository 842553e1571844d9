//! Records every write a DynamoDB client sends, with an SDK interceptor on the client:
//! which items each request writes (or, in a transaction, checks), whether it was
//! part of a `TransactWriteItems`, whether DynamoDB applied it, and the capacity
//! DynamoDB reported for it. An interceptor sees requests, not stored items: the item
//! before and after each write comes from the table's stream (`super::ledger`).
//!
//! It asks for `ReturnConsumedCapacity: INDEXES` on every write it sees (unless the
//! caller asked for something already), which changes nothing of the write but adds
//! the capacity DynamoDB says it consumed to the response: the figure DynamoDB Local
//! reports, set beside the one computed from the billing rules.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput};
use aws_sdk_dynamodb::operation::delete_item::{DeleteItemInput, DeleteItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::client::interceptors::context::{Input, Output};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use super::billing::{KeyMap, KeyValue};

/// What a request does to one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionKind {
    Put,
    Update,
    Delete,
    /// A transaction's condition on an item it does not write.
    ConditionCheck,
}

/// One item a request writes or checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteAction {
    pub table: String,
    pub key: KeyMap,
    pub kind: ActionKind,
    pub transactional: bool,
}

/// The write units DynamoDB reported for one request on one table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportedCapacity {
    pub table: String,
    pub table_units: f64,
    pub index_units: BTreeMap<String, f64>,
}

/// One write request, from before it was sent to its answer.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Unique per recorder, in the order requests were begun.
    pub id: u64,
    /// The phase the recorder was in when the request began ([`WriteRecorder::begin`]).
    pub phase: String,
    /// `PutItem`, `TransactWriteItems`, …
    pub operation: &'static str,
    /// The items it writes or checks; for a `BatchWriteItem`, those DynamoDB processed.
    pub actions: Vec<WriteAction>,
    /// DynamoDB applied it (a refused condition or a cancelled transaction is `false`).
    pub applied: bool,
    /// A write this recorder cannot attribute to items (PartiQL).
    pub unattributed: bool,
    pub began: Instant,
    pub answered: Instant,
    /// The order of the answers, for writes answered at the same instant.
    pub answer_order: u64,
    pub reported: Vec<ReportedCapacity>,
}

#[derive(Debug, Default)]
struct State {
    phase: String,
    next_id: u64,
    answers: u64,
    /// Begun, not answered yet.
    open: HashMap<u64, RecordedRequest>,
    answered: Vec<RecordedRequest>,
}

/// Records writes; clone it onto a client with [`WriteRecorder::client`].
#[derive(Clone, Debug, Default)]
pub struct WriteRecorder(Arc<Mutex<State>>);

/// Which of the recorder's requests a call of the SDK is, kept in the SDK's own
/// per-request configuration bag from before serialization to the answer.
#[derive(Clone, Copy, Debug)]
struct RequestId(u64);

impl Storable for RequestId {
    type Storer = StoreReplace<Self>;
}

/// The write operations of DynamoDB's API that PartiQL carries: recorded as
/// unattributed, so a benchmark that meets one says so rather than missing its cost.
const PARTIQL_WRITES: [&str; 3] = [
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

impl WriteRecorder {
    /// Requests begun from now on are stamped with `phase`.
    pub fn begin(&self, phase: &str) {
        if let Ok(mut state) = self.0.lock() {
            state.phase = phase.to_owned();
        }
    }

    /// Every answered request so far, in the order they were answered; requests still
    /// open stay.
    pub fn answered(&self) -> Vec<RecordedRequest> {
        self.0
            .lock()
            .map(|state| state.answered.clone())
            .unwrap_or_default()
    }

    /// How many requests were begun and not answered yet.
    pub fn open(&self) -> usize {
        self.0.lock().map(|state| state.open.len()).unwrap_or(0)
    }

    /// `client` with this recorder on every request it sends.
    pub fn client(&self, client: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
        crate::faults::with_interceptor(client, self.clone())
    }

    fn open_request(&self, operation: &'static str, actions: Vec<WriteAction>) -> Option<u64> {
        let mut state = self.0.lock().ok()?;
        let id = state.next_id;
        state.next_id += 1;
        let now = Instant::now();
        let request = RecordedRequest {
            id,
            phase: state.phase.clone(),
            operation,
            unattributed: PARTIQL_WRITES.contains(&operation),
            actions,
            applied: false,
            began: now,
            answered: now,
            answer_order: 0,
            reported: Vec::new(),
        };
        state.open.insert(id, request);
        Some(id)
    }

    fn close_request(&self, id: u64, answer: Answer) {
        let Ok(mut state) = self.0.lock() else {
            return;
        };
        let Some(mut request) = state.open.remove(&id) else {
            return;
        };
        state.answers += 1;
        request.answer_order = state.answers;
        request.answered = Instant::now();
        request.applied = answer.applied;
        request.reported = answer.reported;
        if let Some(unprocessed) = answer.unprocessed {
            request.actions.retain(|action| {
                !unprocessed.contains(&(action.table.clone(), action.key.clone()))
            });
        }
        state.answered.push(request);
    }
}

/// What came back for a request.
struct Answer {
    applied: bool,
    reported: Vec<ReportedCapacity>,
    /// `BatchWriteItem`'s items DynamoDB left unprocessed: they were not written.
    unprocessed: Option<Vec<(String, KeyMap)>>,
}

/// The attributes of `attributes` that could be key attributes (strings, numbers,
/// binary). The recorder does not know the table's key schema: for a put it keeps every
/// such attribute of the item, and the ledger keeps the table's key attributes of it.
fn key_map(attributes: &HashMap<String, AttributeValue>) -> KeyMap {
    attributes
        .iter()
        .filter_map(|(name, value)| Some((name.clone(), sdk_key_value(value)?)))
        .collect()
}

fn sdk_key_value(value: &AttributeValue) -> Option<KeyValue> {
    match value {
        AttributeValue::S(text) => Some(KeyValue::S(text.clone())),
        AttributeValue::N(number) => Some(KeyValue::N(number.clone())),
        AttributeValue::B(blob) => Some(KeyValue::B(blob.as_ref().to_vec())),
        _ => None,
    }
}

fn action(table: &str, key: KeyMap, kind: ActionKind, transactional: bool) -> WriteAction {
    WriteAction {
        table: table.to_owned(),
        key,
        kind,
        transactional,
    }
}

/// The items a write request names, with `ReturnConsumedCapacity: INDEXES` set on it;
/// `None` for a request that writes nothing.
fn write_actions(input: &mut Input) -> Option<(&'static str, Vec<WriteAction>)> {
    let indexes = Some(ReturnConsumedCapacity::Indexes);
    if let Some(put) = input.downcast_mut::<PutItemInput>() {
        put.return_consumed_capacity = put.return_consumed_capacity.take().or(indexes);
        let table = put.table_name.clone().unwrap_or_default();
        let key = put.item.as_ref().map(key_map).unwrap_or_default();
        return Some(("PutItem", vec![action(&table, key, ActionKind::Put, false)]));
    }
    if let Some(update) = input.downcast_mut::<UpdateItemInput>() {
        update.return_consumed_capacity = update.return_consumed_capacity.take().or(indexes);
        let table = update.table_name.clone().unwrap_or_default();
        let key = update.key.as_ref().map(key_map).unwrap_or_default();
        return Some((
            "UpdateItem",
            vec![action(&table, key, ActionKind::Update, false)],
        ));
    }
    if let Some(delete) = input.downcast_mut::<DeleteItemInput>() {
        delete.return_consumed_capacity = delete.return_consumed_capacity.take().or(indexes);
        let table = delete.table_name.clone().unwrap_or_default();
        let key = delete.key.as_ref().map(key_map).unwrap_or_default();
        return Some((
            "DeleteItem",
            vec![action(&table, key, ActionKind::Delete, false)],
        ));
    }
    if let Some(transaction) = input.downcast_mut::<TransactWriteItemsInput>() {
        transaction.return_consumed_capacity =
            transaction.return_consumed_capacity.take().or(indexes);
        let actions = transaction
            .transact_items
            .iter()
            .flatten()
            .filter_map(|item| {
                if let Some(put) = &item.put {
                    return Some(action(
                        &put.table_name,
                        key_map(&put.item),
                        ActionKind::Put,
                        true,
                    ));
                }
                if let Some(update) = &item.update {
                    let key = key_map(&update.key);
                    return Some(action(&update.table_name, key, ActionKind::Update, true));
                }
                if let Some(delete) = &item.delete {
                    let key = key_map(&delete.key);
                    return Some(action(&delete.table_name, key, ActionKind::Delete, true));
                }
                let check = item.condition_check.as_ref()?;
                let key = key_map(&check.key);
                Some(action(
                    &check.table_name,
                    key,
                    ActionKind::ConditionCheck,
                    true,
                ))
            })
            .collect();
        return Some(("TransactWriteItems", actions));
    }
    if let Some(batch) = input.downcast_mut::<BatchWriteItemInput>() {
        batch.return_consumed_capacity = batch.return_consumed_capacity.take().or(indexes);
        let actions = batch
            .request_items
            .iter()
            .flatten()
            .flat_map(|(table, requests)| {
                requests.iter().filter_map(move |request| {
                    if let Some(put) = &request.put_request {
                        return Some(action(table, key_map(&put.item), ActionKind::Put, false));
                    }
                    let delete = request.delete_request.as_ref()?;
                    Some(action(
                        table,
                        key_map(&delete.key),
                        ActionKind::Delete,
                        false,
                    ))
                })
            })
            .collect();
        return Some(("BatchWriteItem", actions));
    }
    None
}

fn reported(capacity: &ConsumedCapacity) -> ReportedCapacity {
    let units = |capacity: &aws_sdk_dynamodb::types::Capacity| {
        capacity
            .write_capacity_units
            .or(capacity.capacity_units)
            .unwrap_or(0.0)
    };
    ReportedCapacity {
        table: capacity.table_name.clone().unwrap_or_default(),
        table_units: capacity.table.as_ref().map(units).unwrap_or(0.0),
        index_units: capacity
            .global_secondary_indexes
            .iter()
            .flatten()
            .map(|(name, capacity)| (name.clone(), units(capacity)))
            .collect(),
    }
}

fn answer_of(output: &Output) -> Answer {
    let single = |capacity: Option<&ConsumedCapacity>| Answer {
        applied: true,
        reported: capacity.map(reported).into_iter().collect(),
        unprocessed: None,
    };
    if let Some(put) = output.downcast_ref::<PutItemOutput>() {
        return single(put.consumed_capacity.as_ref());
    }
    if let Some(update) = output.downcast_ref::<UpdateItemOutput>() {
        return single(update.consumed_capacity.as_ref());
    }
    if let Some(delete) = output.downcast_ref::<DeleteItemOutput>() {
        return single(delete.consumed_capacity.as_ref());
    }
    if let Some(transaction) = output.downcast_ref::<TransactWriteItemsOutput>() {
        return Answer {
            applied: true,
            reported: transaction
                .consumed_capacity
                .iter()
                .flatten()
                .map(reported)
                .collect(),
            unprocessed: None,
        };
    }
    if let Some(batch) = output.downcast_ref::<BatchWriteItemOutput>() {
        let unprocessed = batch
            .unprocessed_items
            .iter()
            .flatten()
            .flat_map(|(table, requests)| {
                requests.iter().filter_map(move |request| {
                    let key = match (&request.put_request, &request.delete_request) {
                        (Some(put), _) => key_map(&put.item),
                        (None, Some(delete)) => key_map(&delete.key),
                        (None, None) => return None,
                    };
                    Some((table.clone(), key))
                })
            })
            .collect();
        return Answer {
            applied: true,
            reported: batch
                .consumed_capacity
                .iter()
                .flatten()
                .map(reported)
                .collect(),
            unprocessed: Some(unprocessed),
        };
    }
    Answer {
        applied: true,
        reported: Vec::new(),
        unprocessed: None,
    }
}

impl Intercept for WriteRecorder {
    fn name(&self) -> &'static str {
        "WriteRecorder"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|metadata| metadata.name().to_owned());
        let found = match write_actions(context.input_mut()) {
            Some(found) => Some(found),
            None => operation
                .as_deref()
                .and_then(|name| PARTIQL_WRITES.iter().find(|write| **write == name))
                .map(|name| (*name, Vec::new())),
        };
        if let Some((operation, actions)) = found {
            if let Some(id) = self.open_request(operation, actions) {
                cfg.interceptor_state().store_put(RequestId(id));
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(RequestId(id)) = cfg.load::<RequestId>().copied() else {
            return Ok(());
        };
        let answer = match context.output_or_error() {
            Some(Ok(output)) => answer_of(output),
            // A refused condition, a cancelled transaction, a connection lost after
            // the SDK's retries: nothing of it is in the stream.
            Some(Err(_)) | None => Answer {
                applied: false,
                reported: Vec::new(),
                unprocessed: None,
            },
        };
        self.close_request(id, answer);
        Ok(())
    }
}
