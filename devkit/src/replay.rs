//! Captures every request a DynamoDB client sends (its input, when it began, when it
//! was answered) with an SDK interceptor, and sends captured requests again, onto
//! another table if asked. The benchmarks use it to time a run phase by phase, and to
//! measure DynamoDB Local's own time for the very requests a run made, issued directly
//! with the run's concurrency and none of the service's work between them: the floor
//! the emulator puts under the run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// A request as its client was asked to send it.
#[derive(Clone, Debug)]
pub enum Request {
    Get(GetItemInput),
    BatchGet(BatchGetItemInput),
    Query(QueryInput),
    Put(PutItemInput),
    Update(UpdateItemInput),
    Delete(DeleteItemInput),
    Transact(TransactWriteItemsInput),
    BatchWrite(BatchWriteItemInput),
    /// An operation this module does not send again (its name).
    Other(String),
}

impl Request {
    pub fn operation(&self) -> &str {
        match self {
            Request::Get(_) => "GetItem",
            Request::BatchGet(_) => "BatchGetItem",
            Request::Query(_) => "Query",
            Request::Put(_) => "PutItem",
            Request::Update(_) => "UpdateItem",
            Request::Delete(_) => "DeleteItem",
            Request::Transact(_) => "TransactWriteItems",
            Request::BatchWrite(_) => "BatchWriteItem",
            Request::Other(name) => name,
        }
    }

    /// The partition key values (`pk`) of the items it names, in order.
    pub fn partition_keys(&self) -> Vec<String> {
        let pk = |key: Option<&HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>| {
            key.and_then(|key| key.get("pk"))
                .and_then(|value| value.as_s().ok())
                .cloned()
        };
        match self {
            Request::Get(input) => pk(input.key.as_ref()).into_iter().collect(),
            Request::Put(input) => pk(input.item.as_ref()).into_iter().collect(),
            Request::Update(input) => pk(input.key.as_ref()).into_iter().collect(),
            Request::Delete(input) => pk(input.key.as_ref()).into_iter().collect(),
            Request::Transact(input) => input
                .transact_items
                .iter()
                .flatten()
                .filter_map(|item| {
                    if let Some(put) = &item.put {
                        return pk(Some(&put.item));
                    }
                    if let Some(update) = &item.update {
                        return pk(Some(&update.key));
                    }
                    if let Some(delete) = &item.delete {
                        return pk(Some(&delete.key));
                    }
                    item.condition_check
                        .as_ref()
                        .and_then(|check| pk(Some(&check.key)))
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The same request on table `to` wherever it names table `from`.
    pub fn on_table(mut self, from: &str, to: &str) -> Request {
        let swap = |name: &mut Option<String>| {
            if name.as_deref() == Some(from) {
                *name = Some(to.to_owned());
            }
        };
        match &mut self {
            Request::Get(input) => swap(&mut input.table_name),
            Request::Query(input) => swap(&mut input.table_name),
            Request::Put(input) => swap(&mut input.table_name),
            Request::Update(input) => swap(&mut input.table_name),
            Request::Delete(input) => swap(&mut input.table_name),
            Request::BatchGet(input) => {
                if let Some(items) = input.request_items.as_mut() {
                    if let Some(keys) = items.remove(from) {
                        items.insert(to.to_owned(), keys);
                    }
                }
            }
            Request::BatchWrite(input) => {
                if let Some(items) = input.request_items.as_mut() {
                    if let Some(writes) = items.remove(from) {
                        items.insert(to.to_owned(), writes);
                    }
                }
            }
            Request::Transact(input) => {
                for item in input.transact_items.iter_mut().flatten() {
                    let name = if let Some(put) = item.put.as_mut() {
                        &mut put.table_name
                    } else if let Some(update) = item.update.as_mut() {
                        &mut update.table_name
                    } else if let Some(delete) = item.delete.as_mut() {
                        &mut delete.table_name
                    } else if let Some(check) = item.condition_check.as_mut() {
                        &mut check.table_name
                    } else {
                        continue;
                    };
                    if name == from {
                        *name = to.to_owned();
                    }
                }
            }
            Request::Other(_) => {}
        }
        self
    }

    /// Sends it on `client` as captured; `Ok(false)` when DynamoDB refused it (a
    /// condition, a cancelled transaction), which costs it the same round trip.
    pub async fn send(&self, client: &aws_sdk_dynamodb::Client) -> anyhow::Result<bool> {
        let refused = |err: &dyn std::fmt::Debug| {
            let text = format!("{err:?}");
            text.contains("ConditionalCheckFailed") || text.contains("TransactionCanceled")
        };
        macro_rules! answered {
            ($sent:expr) => {
                match $sent {
                    Ok(_) => Ok(true),
                    Err(err) if refused(&err) => Ok(false),
                    Err(err) => Err(anyhow::anyhow!(
                        "{}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(err)
                    )),
                }
            };
        }
        match self {
            Request::Get(input) => answered!(
                client
                    .get_item()
                    .set_table_name(input.table_name.clone())
                    .set_key(input.key.clone())
                    .set_consistent_read(input.consistent_read)
                    .set_projection_expression(input.projection_expression.clone())
                    .set_expression_attribute_names(input.expression_attribute_names.clone())
                    .send()
                    .await
            ),
            Request::BatchGet(input) => answered!(
                client
                    .batch_get_item()
                    .set_request_items(input.request_items.clone())
                    .send()
                    .await
            ),
            Request::Query(input) => answered!(
                client
                    .query()
                    .set_table_name(input.table_name.clone())
                    .set_index_name(input.index_name.clone())
                    .set_key_condition_expression(input.key_condition_expression.clone())
                    .set_filter_expression(input.filter_expression.clone())
                    .set_projection_expression(input.projection_expression.clone())
                    .set_expression_attribute_names(input.expression_attribute_names.clone())
                    .set_expression_attribute_values(input.expression_attribute_values.clone())
                    .set_limit(input.limit)
                    .set_exclusive_start_key(input.exclusive_start_key.clone())
                    .set_scan_index_forward(input.scan_index_forward)
                    .set_consistent_read(input.consistent_read)
                    .set_select(input.select.clone())
                    .send()
                    .await
            ),
            Request::Put(input) => answered!(
                client
                    .put_item()
                    .set_table_name(input.table_name.clone())
                    .set_item(input.item.clone())
                    .set_condition_expression(input.condition_expression.clone())
                    .set_expression_attribute_names(input.expression_attribute_names.clone())
                    .set_expression_attribute_values(input.expression_attribute_values.clone())
                    .set_return_values(input.return_values.clone())
                    .send()
                    .await
            ),
            Request::Update(input) => answered!(
                client
                    .update_item()
                    .set_table_name(input.table_name.clone())
                    .set_key(input.key.clone())
                    .set_update_expression(input.update_expression.clone())
                    .set_condition_expression(input.condition_expression.clone())
                    .set_expression_attribute_names(input.expression_attribute_names.clone())
                    .set_expression_attribute_values(input.expression_attribute_values.clone())
                    .set_return_values(input.return_values.clone())
                    .send()
                    .await
            ),
            Request::Delete(input) => answered!(
                client
                    .delete_item()
                    .set_table_name(input.table_name.clone())
                    .set_key(input.key.clone())
                    .set_condition_expression(input.condition_expression.clone())
                    .set_expression_attribute_names(input.expression_attribute_names.clone())
                    .set_expression_attribute_values(input.expression_attribute_values.clone())
                    .send()
                    .await
            ),
            // A fresh client token: the captured one was spent on the original table.
            Request::Transact(input) => answered!(
                client
                    .transact_write_items()
                    .set_transact_items(input.transact_items.clone())
                    .send()
                    .await
            ),
            Request::BatchWrite(input) => answered!(
                client
                    .batch_write_item()
                    .set_request_items(input.request_items.clone())
                    .send()
                    .await
            ),
            Request::Other(name) => anyhow::bail!("cannot send a captured {name} again"),
        }
    }
}

/// One captured request and its timing on the client that sent it.
#[derive(Clone, Debug)]
pub struct Captured {
    /// The capture's label: whose client sent it (the service's, the gateway's ledger).
    pub source: &'static str,
    pub request: Request,
    pub began: Instant,
    /// `None` while unanswered.
    pub answered: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    on: bool,
    calls: Vec<Captured>,
}

/// Captures requests while on; put it on a client with [`Capture::client`]. Clones
/// share what they captured; each keeps its own `source` label.
#[derive(Clone, Debug)]
pub struct Capture {
    source: &'static str,
    state: Arc<Mutex<State>>,
}

/// Which captured request an SDK call is, from its serialization to its answer.
#[derive(Clone, Copy, Debug)]
struct CallIndex(usize);

impl Storable for CallIndex {
    type Storer = StoreReplace<Self>;
}

impl Capture {
    /// A capture, off until [`Capture::start`].
    pub fn new(source: &'static str) -> Self {
        Capture {
            source,
            state: Arc::default(),
        }
    }

    /// The same capture under another label (for a second client).
    pub fn labelled(&self, source: &'static str) -> Self {
        Capture {
            source,
            state: self.state.clone(),
        }
    }

    /// `client` with this capture on every request it sends.
    pub fn client(&self, client: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
        crate::faults::with_interceptor(client, self.clone())
    }

    /// Forgets what was captured and captures from now on.
    pub fn start(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.calls.clear();
            state.on = true;
        }
    }

    /// Stops capturing; what was captured, in the order the requests began.
    pub fn stop(&self) -> Vec<Captured> {
        self.state
            .lock()
            .map(|mut state| {
                state.on = false;
                std::mem::take(&mut state.calls)
            })
            .unwrap_or_default()
    }
}

fn request_of(input: &aws_smithy_runtime_api::client::interceptors::context::Input) -> Request {
    macro_rules! try_as {
        ($ty:ty, $variant:ident) => {
            if let Some(input) = input.downcast_ref::<$ty>() {
                return Request::$variant(input.clone());
            }
        };
    }
    try_as!(GetItemInput, Get);
    try_as!(BatchGetItemInput, BatchGet);
    try_as!(QueryInput, Query);
    try_as!(PutItemInput, Put);
    try_as!(UpdateItemInput, Update);
    try_as!(DeleteItemInput, Delete);
    try_as!(TransactWriteItemsInput, Transact);
    try_as!(BatchWriteItemInput, BatchWrite);
    Request::Other("unknown".to_owned())
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "Capture"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(mut state) = self.state.lock() else {
            return Ok(());
        };
        if !state.on {
            return Ok(());
        }
        let request = request_of(context.input_mut());
        state.calls.push(Captured {
            source: self.source,
            request,
            began: Instant::now(),
            answered: None,
        });
        let index = state.calls.len() - 1;
        cfg.interceptor_state().store_put(CallIndex(index));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(CallIndex(index)) = cfg.load::<CallIndex>().copied() else {
            return Ok(());
        };
        if let Ok(mut state) = self.state.lock() {
            if let Some(call) = state.calls.get_mut(index) {
                call.answered = Some(Instant::now());
            }
        }
        Ok(())
    }
}

/// Copies every item of `from` into `to` (a table of the same key schema), a
/// `BatchWriteItem` of 25 at a time: a snapshot to send captured requests to.
pub async fn copy_items(
    client: &aws_sdk_dynamodb::Client,
    from: &str,
    to: &str,
) -> anyhow::Result<usize> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let mut start = None;
    let mut copied = 0;
    loop {
        let page = client
            .scan()
            .table_name(from)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        let items = page.items.unwrap_or_default();
        for chunk in items.chunks(25) {
            let mut writes: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder().set_item(Some(item.clone())).build()?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<anyhow::Result<_>>()?;
            while !writes.is_empty() {
                let answer = client
                    .batch_write_item()
                    .request_items(to, writes)
                    .send()
                    .await?;
                writes = answer
                    .unprocessed_items
                    .and_then(|mut left| left.remove(to))
                    .unwrap_or_default();
            }
            copied += chunk.len();
        }
        start = page.last_evaluated_key.filter(|key| !key.is_empty());
        if start.is_none() {
            return Ok(copied);
        }
    }
}
