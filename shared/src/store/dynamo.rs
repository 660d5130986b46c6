//! The AWS backend: one DynamoDB table (`pk`/`sk`, GSI `gsi1` on `gsi1pk`/`gsi1sk`, TTL on
//! `expires_at`).
//!
//! DynamoDB's TTL sweeper deletes expired items up to days late, so every condition, read and
//! counter here compares `expires_at` with the current time itself; that is what lets the
//! embedded backend and this one agree on "an expired item is absent".
//!
//! Attributes are converted by hand between JSON and `AttributeValue` (strings, numbers,
//! booleans, nulls, lists, maps). DynamoDB normalises numbers, so `2.0` comes back as `2`.
//! Errors are kept free of item values on our side: failed conditions do not ask for the old
//! item back, and SDK errors are reported through DynamoDB's own code and message.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType, Put, PutRequest,
    ReturnValue, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
    TransactWriteItem, Update, WriteRequest,
};
use serde_json::{Map, Number, Value};

use super::embedded::{check_attribute_names, query_cursor, validate_ops};
use super::item::unix_now;
use super::{
    Condition, Cursor, Index, Item, Key, Page, Query, SortKey, StoreError, StoreResult, Table,
    WriteOp,
};

const GSI1: &str = "gsi1";
const TTL_ATTRIBUTE: &str = "expires_at";

/// DynamoDB cancels a transaction that collides with another one in flight on the same item
/// (`TransactionConflict`) instead of queueing it. Retrying lets the loser see the winner's
/// write and fail on its condition, so the caller gets `ConditionFailed` rather than an error.
const CONFLICT_ATTEMPTS: u32 = 6;

/// A counter whose expired item is being reset by someone else at the same moment needs a new
/// attempt; more than a handful means something else is wrong.
const ADD_ATTEMPTS: u32 = 5;

pub struct DynamoTable {
    client: Client,
    table_name: String,
}

impl DynamoTable {
    pub fn new(client: Client, table_name: String) -> Self {
        Self { client, table_name }
    }

    /// Creates the table for local stacks and tests (in AWS the SAM template owns it). Safe to
    /// call when the table exists or is being created by another process.
    pub async fn create_table_if_missing(client: &Client, table_name: &str) -> anyhow::Result<()> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key("gsi1pk", KeyType::Hash)?)
            .key_schema(key("gsi1sk", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()?;
        let created = client
            .create_table()
            .table_name(table_name)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("sk")?)
            .attribute_definitions(attribute("gsi1pk")?)
            .attribute_definitions(attribute("gsi1sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(err) => {
                return Err(anyhow::anyhow!("{}", describe(&err)))
                    .with_context(|| format!("creating DynamoDB table {table_name}"));
            }
        }
        wait_until_active(client, table_name).await?;
        enable_ttl(client, table_name).await
    }

    fn key_attributes(key: &Key) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
            ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
        ])
    }
}

async fn wait_until_active(client: &Client, table_name: &str) -> anyhow::Result<()> {
    for _ in 0..240 {
        let described = client
            .describe_table()
            .table_name(table_name)
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("{}", describe(&err)))
            .with_context(|| format!("describing DynamoDB table {table_name}"))?;
        if let Some(table) = described.table() {
            let indexes_active = table.global_secondary_indexes().iter().all(|index| {
                index
                    .index_status()
                    .is_none_or(|s| *s == IndexStatus::Active)
            });
            if table.table_status() == Some(&TableStatus::Active) && indexes_active {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("DynamoDB table {table_name} did not become ACTIVE within two minutes")
}

/// DynamoDB refuses to enable TTL twice, so look first.
async fn enable_ttl(client: &Client, table_name: &str) -> anyhow::Result<()> {
    let described = client
        .describe_time_to_live()
        .table_name(table_name)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{}", describe(&err)))
        .with_context(|| format!("describing TTL of DynamoDB table {table_name}"))?;
    let status = described
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status());
    if matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        return Ok(());
    }
    client
        .update_time_to_live()
        .table_name(table_name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()?,
        )
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{}", describe(&err)))
        .with_context(|| format!("enabling TTL on DynamoDB table {table_name}"))?;
    Ok(())
}

/// What went wrong, without the raw HTTP response: `DisplayErrorContext` on the whole
/// `SdkError` would print its body, and the body of a response that failed to parse can hold
/// item values.
fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => format!(
            "{} (HTTP {})",
            DisplayErrorContext(service.err()),
            service.raw().status()
        ),
        other => match std::error::Error::source(other) {
            Some(source) => format!("{other}: {}", DisplayErrorContext(source)),
            None => other.to_string(),
        },
    }
}

/// BatchWriteItem's limit per call.
const BATCH_WRITE_ITEMS: usize = 25;
/// Retries of unprocessed items (50 ms, 100 ms, … backoff).
const BATCH_WRITE_RETRIES: u32 = 5;

fn sdk_error<E>(operation: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: std::error::Error + 'static,
{
    StoreError::backend(anyhow::anyhow!("DynamoDB {operation}: {}", describe(&err)))
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.code() == Some("ConditionalCheckFailedException"))
}

fn value_to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(values) => AttributeValue::L(values.iter().map(value_to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), value_to_attribute(v)))
                .collect(),
        ),
    }
}

fn number(text: &str) -> StoreResult<Number> {
    if let Ok(n) = text.parse::<i64>() {
        return Ok(n.into());
    }
    if let Ok(n) = text.parse::<u64>() {
        return Ok(n.into());
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| StoreError::backend(anyhow::anyhow!("DynamoDB returned a malformed number")))
}

/// The types we never write (sets, binary) are still read sensibly, as lists and base64 text,
/// so an item edited by hand in the console does not make a record unreadable.
fn attribute_to_value(attribute: &AttributeValue) -> StoreResult<Value> {
    use base64::Engine;
    let b64 = |blob: &aws_sdk_dynamodb::primitives::Blob| {
        Value::String(base64::engine::general_purpose::STANDARD.encode(blob.as_ref()))
    };
    Ok(match attribute {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => Value::Number(number(n)?),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(values) => Value::Array(
            values
                .iter()
                .map(attribute_to_value)
                .collect::<StoreResult<_>>()?,
        ),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), attribute_to_value(v)?)))
                .collect::<StoreResult<_>>()?,
        ),
        AttributeValue::Ss(values) => {
            Value::Array(values.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(values) => Value::Array(
            values
                .iter()
                .map(|n| number(n).map(Value::Number))
                .collect::<StoreResult<_>>()?,
        ),
        AttributeValue::B(blob) => b64(blob),
        AttributeValue::Bs(blobs) => Value::Array(blobs.iter().map(b64).collect()),
        _ => {
            return Err(StoreError::backend(anyhow::anyhow!(
                "DynamoDB returned an attribute type this SDK version does not know"
            )));
        }
    })
}

fn item_to_attributes(item: &Item) -> StoreResult<HashMap<String, AttributeValue>> {
    check_attribute_names(item.attrs.keys())?;
    let mut attributes = DynamoTable::key_attributes(&item.key);
    if let Some(index_key) = &item.gsi1 {
        attributes.insert("gsi1pk".to_owned(), AttributeValue::S(index_key.pk.clone()));
        attributes.insert("gsi1sk".to_owned(), AttributeValue::S(index_key.sk.clone()));
    }
    if let Some(at) = item.expires_at {
        attributes.insert(TTL_ATTRIBUTE.to_owned(), AttributeValue::N(at.to_string()));
    }
    for (name, value) in &item.attrs {
        attributes.insert(name.clone(), value_to_attribute(value));
    }
    Ok(attributes)
}

fn take_string(
    attributes: &mut HashMap<String, AttributeValue>,
    name: &str,
) -> StoreResult<Option<String>> {
    match attributes.remove(name) {
        None => Ok(None),
        Some(AttributeValue::S(s)) => Ok(Some(s)),
        Some(_) => Err(StoreError::backend(anyhow::anyhow!(
            "attribute `{name}` is not a string"
        ))),
    }
}

fn item_from_attributes(mut attributes: HashMap<String, AttributeValue>) -> StoreResult<Item> {
    let missing = |name: &str| StoreError::backend(anyhow::anyhow!("item without `{name}`"));
    let pk = take_string(&mut attributes, "pk")?.ok_or_else(|| missing("pk"))?;
    let sk = take_string(&mut attributes, "sk")?.ok_or_else(|| missing("sk"))?;
    let gsi1 = match (
        take_string(&mut attributes, "gsi1pk")?,
        take_string(&mut attributes, "gsi1sk")?,
    ) {
        (Some(pk), Some(sk)) => Some(Key::new(pk, sk)),
        _ => None,
    };
    let expires_at = match attributes.remove(TTL_ATTRIBUTE) {
        None => None,
        Some(AttributeValue::N(n)) => Some(n.parse::<i64>().map_err(|_| {
            StoreError::backend(anyhow::anyhow!("`{TTL_ATTRIBUTE}` is not whole seconds"))
        })?),
        Some(_) => {
            return Err(StoreError::backend(anyhow::anyhow!(
                "`{TTL_ATTRIBUTE}` is not a number"
            )));
        }
    };
    let attrs = attributes
        .iter()
        .map(|(k, v)| Ok((k.clone(), attribute_to_value(v)?)))
        .collect::<StoreResult<Map<String, Value>>>()?;
    Ok(Item {
        key: Key::new(pk, sk),
        gsi1,
        expires_at,
        attrs,
    })
}

/// Expression attribute names and values, collected while an expression is written. DynamoDB
/// rejects unused placeholders and empty maps, so only what an expression mentions goes in.
#[derive(Default)]
struct Placeholders {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Placeholders {
    fn name(&mut self, placeholder: &str, attribute: &str) -> String {
        self.names
            .insert(placeholder.to_owned(), attribute.to_owned());
        placeholder.to_owned()
    }

    fn value(&mut self, placeholder: &str, value: AttributeValue) -> String {
        self.values.insert(placeholder.to_owned(), value);
        placeholder.to_owned()
    }

    fn now(&mut self, now: i64) -> String {
        self.value(":now", AttributeValue::N(now.to_string()))
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// "A live item is here": present, and either without expiry or not yet expired.
fn live_expression(p: &mut Placeholders, now: i64) -> String {
    let pk = p.name("#pk", "pk");
    let exp = p.name("#exp", TTL_ATTRIBUTE);
    let now = p.now(now);
    format!("(attribute_exists({pk}) AND (attribute_not_exists({exp}) OR {exp} > {now}))")
}

fn condition_expression(condition: &Condition, p: &mut Placeholders, now: i64) -> Option<String> {
    match condition {
        Condition::Always => None,
        Condition::NotExists => {
            let pk = p.name("#pk", "pk");
            let exp = p.name("#exp", TTL_ATTRIBUTE);
            let now = p.now(now);
            Some(format!("(attribute_not_exists({pk}) OR {exp} <= {now})"))
        }
        Condition::Exists => Some(live_expression(p, now)),
        Condition::AttrEquals(name, expected) => {
            let live = live_expression(p, now);
            let attr = p.name("#cond", name);
            let value = p.value(":cond", value_to_attribute(expected));
            // DynamoDB already treats a comparison with a missing attribute as false; spelling
            // it out keeps emulators that compare "missing" equal to NULL honest.
            Some(format!(
                "({live} AND attribute_exists({attr}) AND {attr} = {value})"
            ))
        }
    }
}

/// An update only ever applies to a live item (see the embedded backend for the reasoning), so
/// the caller's condition is narrowed by "the item is live"; without this DynamoDB would create
/// a partial item, or update an expired one that stays invisible.
fn update_condition(condition: &Condition, p: &mut Placeholders, now: i64) -> String {
    let live = live_expression(p, now);
    match condition_expression(condition, p, now) {
        Some(user) if *condition != Condition::Exists => format!("{live} AND {user}"),
        _ => live,
    }
}

fn set_expression(set: &Map<String, Value>, p: &mut Placeholders) -> Option<String> {
    if set.is_empty() {
        return None;
    }
    let assignments: Vec<String> = set
        .iter()
        .enumerate()
        .map(|(i, (name, value))| {
            let name = p.name(&format!("#s{i}"), name);
            let value = p.value(&format!(":s{i}"), value_to_attribute(value));
            format!("{name} = {value}")
        })
        .collect();
    Some(format!("SET {}", assignments.join(", ")))
}

/// A write op turned into DynamoDB's terms once, for both the single-item calls and
/// TransactWriteItems.
struct Prepared {
    key: HashMap<String, AttributeValue>,
    action: Action,
    condition: Option<String>,
    placeholders: Placeholders,
}

enum Action {
    Put(HashMap<String, AttributeValue>),
    Delete,
    Update(String),
    Check,
}

fn prepare(op: WriteOp, now: i64) -> StoreResult<Prepared> {
    let mut p = Placeholders::default();
    let (key, action, condition) = match op {
        WriteOp::Put { item, condition } => {
            let attributes = item_to_attributes(&item)?;
            let condition = condition_expression(&condition, &mut p, now);
            (
                DynamoTable::key_attributes(&item.key),
                Action::Put(attributes),
                condition,
            )
        }
        WriteOp::Delete { key, condition } => {
            let condition = condition_expression(&condition, &mut p, now);
            (DynamoTable::key_attributes(&key), Action::Delete, condition)
        }
        WriteOp::Update {
            key,
            set,
            condition,
        } => {
            check_attribute_names(set.keys())?;
            let update = set_expression(&set, &mut p);
            let condition = Some(update_condition(&condition, &mut p, now));
            // With nothing to set, the update is only its condition (DynamoDB's transactional
            // Update needs an update expression).
            let action = update.map_or(Action::Check, Action::Update);
            (DynamoTable::key_attributes(&key), action, condition)
        }
        WriteOp::Check { key, condition } => {
            let condition = condition_expression(&condition, &mut p, now);
            (DynamoTable::key_attributes(&key), Action::Check, condition)
        }
    };
    Ok(Prepared {
        key,
        action,
        condition,
        placeholders: p,
    })
}

impl Prepared {
    /// `None` when the op has nothing for DynamoDB to do (an unconditional check).
    fn into_transact_item(self, table_name: &str) -> StoreResult<Option<TransactWriteItem>> {
        let names = self.placeholders.names();
        let values = self.placeholders.values();
        let item = match self.action {
            Action::Put(attributes) => TransactWriteItem::builder().put(
                Put::builder()
                    .table_name(table_name)
                    .set_item(Some(attributes))
                    .set_condition_expression(self.condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(StoreError::backend)?,
            ),
            Action::Delete => TransactWriteItem::builder().delete(
                Delete::builder()
                    .table_name(table_name)
                    .set_key(Some(self.key))
                    .set_condition_expression(self.condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(StoreError::backend)?,
            ),
            Action::Update(update) => TransactWriteItem::builder().update(
                Update::builder()
                    .table_name(table_name)
                    .set_key(Some(self.key))
                    .update_expression(update)
                    .set_condition_expression(self.condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(StoreError::backend)?,
            ),
            Action::Check => {
                let Some(condition) = self.condition else {
                    return Ok(None);
                };
                TransactWriteItem::builder().condition_check(
                    ConditionCheck::builder()
                        .table_name(table_name)
                        .set_key(Some(self.key))
                        .condition_expression(condition)
                        .set_expression_attribute_names(names)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(StoreError::backend)?,
                )
            }
        };
        Ok(Some(item.build()))
    }
}

impl DynamoTable {
    /// Put, Delete and Update outside a transaction: the single-item APIs cost half of a
    /// one-item transaction.
    async fn write_one(&self, op: WriteOp) -> StoreResult<()> {
        let prepared = prepare(op, unix_now())?;
        let names = prepared.placeholders.names();
        let values = prepared.placeholders.values();
        let condition_failed = StoreError::ConditionFailed { op: None };
        match prepared.action {
            Action::Put(attributes) => self
                .client
                .put_item()
                .table_name(&self.table_name)
                .set_item(Some(attributes))
                .set_condition_expression(prepared.condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .send()
                .await
                .map(|_| ())
                .map_err(|err| match is_condition_failure(&err) {
                    true => condition_failed,
                    false => sdk_error("PutItem", err),
                }),
            Action::Delete => self
                .client
                .delete_item()
                .table_name(&self.table_name)
                .set_key(Some(prepared.key))
                .set_condition_expression(prepared.condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .send()
                .await
                .map(|_| ())
                .map_err(|err| match is_condition_failure(&err) {
                    true => condition_failed,
                    false => sdk_error("DeleteItem", err),
                }),
            Action::Update(update) => self
                .client
                .update_item()
                .table_name(&self.table_name)
                .set_key(Some(prepared.key))
                .update_expression(update)
                .set_condition_expression(prepared.condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .send()
                .await
                .map(|_| ())
                .map_err(|err| match is_condition_failure(&err) {
                    true => condition_failed,
                    false => sdk_error("UpdateItem", err),
                }),
            Action::Check => {
                self.condition_only(prepared.key, prepared.condition, names, values)
                    .await
            }
        }
    }

    /// Evaluates a condition without writing anything. Only TransactWriteItems can do that (a
    /// ConditionCheck); an `UpdateItem` without an update expression would do in AWS but is not
    /// supported everywhere (moto answers it with a 500).
    async fn condition_only(
        &self,
        key: HashMap<String, AttributeValue>,
        condition: Option<String>,
        names: Option<HashMap<String, String>>,
        values: Option<HashMap<String, AttributeValue>>,
    ) -> StoreResult<()> {
        let Some(condition) = condition else {
            return Ok(());
        };
        let check = ConditionCheck::builder()
            .table_name(&self.table_name)
            .set_key(Some(key))
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(StoreError::backend)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match cancellation_cause(&err) {
                Ok(_) => Err(StoreError::ConditionFailed { op: None }),
                Err(_) => Err(sdk_error("TransactWriteItems", err)),
            },
        }
    }

    /// Replaces an expired counter item with a fresh one, as if the sweeper had already deleted
    /// it. Returns `false` when the item is no longer expired (someone else reset it, or the
    /// sweeper removed it) so the caller goes back to `ADD`.
    async fn reset_expired_counter(
        &self,
        key: &Key,
        attribute: &str,
        delta: i64,
        expires_at: Option<i64>,
        now: i64,
    ) -> StoreResult<bool> {
        let mut item = Item::new(key.clone()).with_attr(attribute, delta);
        item.expires_at = expires_at;
        let mut p = Placeholders::default();
        let exp = p.name("#exp", TTL_ATTRIBUTE);
        let now = p.now(now);
        let result = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(item_to_attributes(&item)?))
            .condition_expression(format!("{exp} <= {now}"))
            .set_expression_attribute_names(p.names())
            .set_expression_attribute_values(p.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk_error("PutItem", err)),
        }
    }

    async fn query_once(
        &self,
        query: &Query,
        limit: usize,
        start: Option<HashMap<String, AttributeValue>>,
        now: i64,
    ) -> StoreResult<(Vec<Item>, Option<HashMap<String, AttributeValue>>)> {
        let (pk_attribute, sk_attribute) = match query.index {
            Index::Primary => ("pk", "sk"),
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
        };
        let mut p = Placeholders::default();
        let pk = p.name("#qpk", pk_attribute);
        let pk_value = p.value(":qpk", AttributeValue::S(query.pk.clone()));
        let mut key_condition = format!("{pk} = {pk_value}");
        match &query.sort_key {
            SortKey::All => {}
            // DynamoDB rejects an empty key value; an empty prefix selects everything anyway.
            SortKey::BeginsWith(prefix) if prefix.is_empty() => {}
            SortKey::BeginsWith(prefix) => {
                let sk = p.name("#qsk", sk_attribute);
                let prefix = p.value(":prefix", AttributeValue::S(prefix.clone()));
                key_condition.push_str(&format!(" AND begins_with({sk}, {prefix})"));
            }
            SortKey::Between(from, to) => {
                let sk = p.name("#qsk", sk_attribute);
                let from = p.value(":from", AttributeValue::S(from.clone()));
                let to = p.value(":to", AttributeValue::S(to.clone()));
                key_condition.push_str(&format!(" AND {sk} BETWEEN {from} AND {to}"));
            }
        }
        let exp = p.name("#exp", TTL_ATTRIBUTE);
        let now = p.now(now);
        let filter = format!("attribute_not_exists({exp}) OR {exp} > {now}");
        let limit = i32::try_from(limit).expect("page limits are at most 1000");
        let request = self
            .client
            .query()
            .table_name(&self.table_name)
            .key_condition_expression(key_condition)
            .filter_expression(filter)
            .set_expression_attribute_names(p.names())
            .set_expression_attribute_values(p.values())
            .scan_index_forward(query.ascending)
            .limit(limit)
            .set_exclusive_start_key(start);
        let request = match query.index {
            // Strong consistency so a list right after a write shows it; GSIs cannot offer it.
            Index::Primary => request.consistent_read(true),
            Index::Gsi1 => request.index_name(GSI1),
        };
        let output = request
            .send()
            .await
            .map_err(|err| sdk_error("Query", err))?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(item_from_attributes)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((items, output.last_evaluated_key))
    }
}

fn exclusive_start_key(key: &Key, index_key: Option<&Key>) -> HashMap<String, AttributeValue> {
    let mut start = DynamoTable::key_attributes(key);
    if let Some(index_key) = index_key {
        start.insert("gsi1pk".to_owned(), AttributeValue::S(index_key.pk.clone()));
        start.insert("gsi1sk".to_owned(), AttributeValue::S(index_key.sk.clone()));
    }
    start
}

fn counter_value(
    attributes: Option<HashMap<String, AttributeValue>>,
    attribute: &str,
) -> StoreResult<i64> {
    match attributes.as_ref().and_then(|a| a.get(attribute)) {
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| {
            StoreError::backend(anyhow::anyhow!("counter `{attribute}` is not an integer"))
        }),
        _ => Err(StoreError::backend(anyhow::anyhow!(
            "UpdateItem did not return counter `{attribute}`"
        ))),
    }
}

/// The op index of the first failed condition in a cancelled transaction, `Err(true)` when it
/// was cancelled only because another transaction was in flight (worth retrying), `Err(false)`
/// for any other failure.
fn cancellation_cause(
    err: &SdkError<TransactWriteItemsError, HttpResponse>,
) -> Result<usize, bool> {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return Err(false);
    };
    let reasons = cancelled.cancellation_reasons();
    if let Some(index) = reasons
        .iter()
        .position(|r| r.code() == Some("ConditionalCheckFailed"))
    {
        return Ok(index);
    }
    Err(reasons
        .iter()
        .any(|r| r.code() == Some("TransactionConflict")))
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .set_key(Some(Self::key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| sdk_error("GetItem", err))?;
        match output.item {
            None => Ok(None),
            Some(attributes) => {
                let item = item_from_attributes(attributes)?;
                Ok((!item.is_expired(unix_now())).then_some(item))
            }
        }
    }

    async fn put(&self, item: Item, condition: Condition) -> StoreResult<()> {
        self.write_one(WriteOp::Put { item, condition }).await
    }

    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()> {
        self.write_one(WriteOp::Delete {
            key: key.clone(),
            condition,
        })
        .await
    }

    async fn update(
        &self,
        key: &Key,
        set: Map<String, Value>,
        condition: Condition,
    ) -> StoreResult<()> {
        self.write_one(WriteOp::Update {
            key: key.clone(),
            set,
            condition,
        })
        .await
    }

    /// DynamoDB applies `Limit` before the expiry filter, so one call can return fewer items
    /// than asked although more follow; this keeps calling until the page is full or the
    /// partition is exhausted, so pages look the same as the embedded backend's.
    async fn query(&self, query: &Query) -> StoreResult<Page> {
        let limit = query.limit.clamp(1, 1000);
        let mut start = query_cursor(query)?.map(|(key, index_key)| match query.index {
            Index::Primary => exclusive_start_key(&key, None),
            Index::Gsi1 => exclusive_start_key(&key, index_key.as_ref()),
        });
        if let SortKey::Between(from, to) = &query.sort_key
            && from > to
        {
            // DynamoDB rejects an inverted range; it selects nothing.
            return Ok(Page::default());
        }
        let now = unix_now();
        let mut items = Vec::new();
        loop {
            let (mut batch, last) = self
                .query_once(query, limit - items.len(), start, now)
                .await?;
            items.append(&mut batch);
            match last {
                None => return Ok(Page { items, next: None }),
                Some(_) if items.len() == limit => {
                    let last = items.last().expect("a full page has a last item");
                    let index_key = match query.index {
                        Index::Primary => None,
                        Index::Gsi1 => last.gsi1.as_ref(),
                    };
                    let next = Some(Cursor::from_keys(&last.key, index_key));
                    return Ok(Page { items, next });
                }
                Some(last) => start = Some(last),
            }
        }
    }

    /// `ADD` only on a live (or missing) item: DynamoDB would otherwise keep counting on an
    /// expired window that the sweeper has not removed yet. An expired item is replaced instead.
    async fn add(
        &self,
        key: &Key,
        attribute: &str,
        delta: i64,
        expires_at: Option<i64>,
    ) -> StoreResult<i64> {
        check_attribute_names([&attribute.to_owned()])?;
        for _ in 0..ADD_ATTEMPTS {
            let now = unix_now();
            let mut p = Placeholders::default();
            let attr = p.name("#a", attribute);
            let delta_value = p.value(":d", AttributeValue::N(delta.to_string()));
            let mut update = format!("ADD {attr} {delta_value}");
            let pk = p.name("#pk", "pk");
            let exp = p.name("#exp", TTL_ATTRIBUTE);
            let now_value = p.now(now);
            if let Some(at) = expires_at {
                let at = p.value(":exp", AttributeValue::N(at.to_string()));
                update.push_str(&format!(" SET {exp} = {at}"));
            }
            let result = self
                .client
                .update_item()
                .table_name(&self.table_name)
                .set_key(Some(Self::key_attributes(key)))
                .update_expression(update)
                .condition_expression(format!(
                    "attribute_not_exists({pk}) OR attribute_not_exists({exp}) OR {exp} > {now_value}"
                ))
                .set_expression_attribute_names(p.names())
                .set_expression_attribute_values(p.values())
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match result {
                Ok(output) => return counter_value(output.attributes, attribute),
                Err(err) if is_condition_failure(&err) => {
                    if self
                        .reset_expired_counter(key, attribute, delta, expires_at, now)
                        .await?
                    {
                        return Ok(delta);
                    }
                }
                Err(err) => return Err(sdk_error("UpdateItem", err)),
            }
        }
        Err(StoreError::backend(anyhow::anyhow!(
            "counter `{attribute}` kept expiring and reviving; gave up after {ADD_ATTEMPTS} attempts"
        )))
    }

    /// BatchWriteItem, 25 items a call (its limit); what DynamoDB leaves unprocessed (throttling)
    /// is sent again with backoff, a few times, before it is an error.
    async fn put_all(&self, items: Vec<Item>) -> StoreResult<()> {
        let mut seen = std::collections::HashSet::new();
        if !items.iter().all(|item| seen.insert(&item.key)) {
            return Err(StoreError::backend(anyhow::anyhow!(
                "a batch puts the same item twice"
            )));
        }
        for chunk in items.chunks(BATCH_WRITE_ITEMS) {
            let mut pending = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(item_to_attributes(item)?))
                        .build()
                        .map_err(StoreError::backend)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let answer = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table_name, pending)
                    .send()
                    .await
                    .map_err(|err| sdk_error("BatchWriteItem", err))?;
                pending = answer
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.table_name))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                attempt += 1;
                if attempt > BATCH_WRITE_RETRIES {
                    return Err(StoreError::backend(anyhow::anyhow!(
                        "DynamoDB BatchWriteItem: {} items still unprocessed after {BATCH_WRITE_RETRIES} retries",
                        pending.len()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
        validate_ops(&ops)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = unix_now();
            // Which caller op each DynamoDB item came from, since no-op checks are left out.
            let mut origin = Vec::with_capacity(ops.len());
            let mut items = Vec::with_capacity(ops.len());
            for (index, op) in ops.iter().enumerate() {
                if let Some(item) =
                    prepare(op.clone(), now)?.into_transact_item(&self.table_name)?
                {
                    origin.push(index);
                    items.push(item);
                }
            }
            if items.is_empty() {
                return Ok(());
            }
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            match cancellation_cause(&err) {
                Ok(index) => {
                    return Err(StoreError::ConditionFailed {
                        op: origin.get(index).copied(),
                    });
                }
                Err(true) if attempt < CONFLICT_ATTEMPTS => {
                    let jitter = rand::random_range(0..20);
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt) + jitter))
                        .await;
                }
                Err(_) => return Err(sdk_error("TransactWriteItems", err)),
            }
        }
    }
}
