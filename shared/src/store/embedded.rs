//! The local-mode backend: one redb file holding every item, so the single-process server needs
//! no database service yet runs the same repositories as the Lambda functions.
//!
//! Layout: `items` maps `(pk, sk)` to the whole item as JSON (including its index key and expiry,
//! so an item can be rebuilt from its value alone); `gsi1` maps `(gsi1pk, gsi1sk, pk, sk)` to
//! nothing and is maintained in the same write transaction as `items`, so the index can never
//! disagree with the items it points at. Tuple keys sort element by element with strings in byte
//! order, which is the order DynamoDB gives string sort keys.
//!
//! redb allows one write transaction at a time and each is atomic, so conditions are evaluated
//! inside the transaction that applies the write: there is no window in which another writer can
//! invalidate a condition that was just checked.
//!
//! Choices that keep the two backends indistinguishable (see the conformance suite):
//! - `Update` requires a live item, like a DynamoDB `UpdateItem` guarded by `attribute_exists`;
//!   updating a missing or expired item fails its condition instead of creating a partial item.
//! - reserved names (`pk`, `sk`, `gsi1pk`, `gsi1sk`, `expires_at`) are refused as plain
//!   attributes, because DynamoDB stores the key fields under those very names.
//! - a cursor must point inside the query it is passed to, otherwise it is `InvalidCursor`.

use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::item::{RESERVED_ATTRIBUTES, unix_now};
use super::{
    Condition, Cursor, Index, Item, Key, Page, Query, SortKey, StoreError, StoreResult, Table,
    WriteOp,
};

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
const GSI1: TableDefinition<(&str, &str, &str, &str), ()> = TableDefinition::new("gsi1");

/// DynamoDB's limit for one transaction; enforced here too so that code tested locally does not
/// break when deployed.
const MAX_TRANSACTION_OPS: usize = 25;

/// How many expired items one read may delete on its way; bounds the extra write a read pays for.
const PURGE_ON_READ_LIMIT: usize = 100;

pub struct EmbeddedTable {
    db: Arc<Database>,
}

/// The on-disk form of an item.
#[derive(Serialize, Deserialize)]
struct StoredItem {
    key: Key,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1: Option<Key>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    attrs: Map<String, Value>,
}

impl From<StoredItem> for Item {
    fn from(stored: StoredItem) -> Self {
        Item {
            key: stored.key,
            gsi1: stored.gsi1,
            expires_at: stored.expires_at,
            attrs: stored.attrs,
        }
    }
}

fn encode(item: &Item) -> StoreResult<Vec<u8>> {
    let stored = StoredItem {
        key: item.key.clone(),
        gsi1: item.gsi1.clone(),
        expires_at: item.expires_at,
        attrs: item.attrs.clone(),
    };
    serde_json::to_vec(&stored).map_err(StoreError::backend)
}

fn decode(bytes: &[u8]) -> StoreResult<Item> {
    let stored: StoredItem = serde_json::from_slice(bytes)
        .context("an item in the redb file is not valid JSON")
        .map_err(StoreError::Backend)?;
    Ok(stored.into())
}

fn db_err(err: impl Into<redb::Error>) -> StoreError {
    StoreError::backend(err.into())
}

impl EmbeddedTable {
    /// Opens the file, creating it and its tables when missing, and drops items that expired
    /// while the process was not running.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let db = Database::create(path)
            .with_context(|| format!("opening the redb file {}", path.display()))?;
        let txn = db.begin_write()?;
        // Opening a table in a write transaction creates it, so read transactions never see a
        // database without tables.
        txn.open_table(ITEMS)?;
        txn.open_table(GSI1)?;
        txn.commit()?;
        let table = Self { db: Arc::new(db) };
        table.purge_expired()?;
        Ok(table)
    }

    /// Physically deletes every expired item. Reads already hide them; this only reclaims space,
    /// the job DynamoDB's TTL sweeper does in AWS. It scans the whole file and blocks, so call it
    /// at start or from a blocking task.
    pub fn purge_expired(&self) -> anyhow::Result<usize> {
        let now = unix_now();
        let txn = self.db.begin_write()?;
        let mut purged = 0;
        {
            let mut items = txn.open_table(ITEMS)?;
            let mut gsi = txn.open_table(GSI1)?;
            let mut expired = Vec::new();
            for entry in items.iter()? {
                let (_, value) = entry?;
                let item = decode(value.value())?;
                if item.is_expired(now) {
                    expired.push(item);
                }
            }
            for item in &expired {
                remove_item(&mut items, &mut gsi, item)?;
                purged += 1;
            }
        }
        txn.commit()?;
        Ok(purged)
    }

    /// Runs blocking redb work off the async runtime's worker threads.
    async fn blocking<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> StoreResult<T> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(StoreError::backend)?
    }

    /// A single write is a one-operation transaction whose failure reports no operation index.
    async fn write_one(&self, op: WriteOp) -> StoreResult<()> {
        self.blocking(move |db| match apply_ops(db, vec![op]) {
            Err(StoreError::ConditionFailed { .. }) => {
                Err(StoreError::ConditionFailed { op: None })
            }
            other => other,
        })
        .await
    }
}

type ItemsTable<'txn> = redb::Table<'txn, (&'static str, &'static str), &'static [u8]>;
type GsiTable<'txn> =
    redb::Table<'txn, (&'static str, &'static str, &'static str, &'static str), ()>;

fn load<T>(items: &T, key: &Key) -> StoreResult<Option<Item>>
where
    T: ReadableTable<(&'static str, &'static str), &'static [u8]>,
{
    match items
        .get((key.pk.as_str(), key.sk.as_str()))
        .map_err(db_err)?
    {
        Some(value) => decode(value.value()).map(Some),
        None => Ok(None),
    }
}

fn store_item(
    items: &mut ItemsTable,
    gsi: &mut GsiTable,
    old: Option<&Item>,
    new: &Item,
) -> StoreResult<()> {
    if let Some(old) = old {
        remove_index_entry(gsi, old)?;
    }
    let bytes = encode(new)?;
    items
        .insert((new.key.pk.as_str(), new.key.sk.as_str()), bytes.as_slice())
        .map_err(db_err)?;
    if let Some(index_key) = &new.gsi1 {
        gsi.insert(
            (
                index_key.pk.as_str(),
                index_key.sk.as_str(),
                new.key.pk.as_str(),
                new.key.sk.as_str(),
            ),
            (),
        )
        .map_err(db_err)?;
    }
    Ok(())
}

fn remove_index_entry(gsi: &mut GsiTable, item: &Item) -> StoreResult<()> {
    if let Some(index_key) = &item.gsi1 {
        gsi.remove((
            index_key.pk.as_str(),
            index_key.sk.as_str(),
            item.key.pk.as_str(),
            item.key.sk.as_str(),
        ))
        .map_err(db_err)?;
    }
    Ok(())
}

fn remove_item(items: &mut ItemsTable, gsi: &mut GsiTable, item: &Item) -> StoreResult<()> {
    remove_index_entry(gsi, item)?;
    items
        .remove((item.key.pk.as_str(), item.key.sk.as_str()))
        .map_err(db_err)?;
    Ok(())
}

/// Compares the way DynamoDB's `=` does: numbers by value (so `1` equals `1.0`), everything else
/// structurally.
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| values_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(name, x)| y.get(name).is_some_and(|y| values_equal(x, y)))
        }
        _ => a == b,
    }
}

/// An attribute as a condition sees it, reserved names included, as DynamoDB stores them.
fn attribute(item: &Item, name: &str) -> Option<Value> {
    match name {
        "pk" => Some(Value::from(item.key.pk.clone())),
        "sk" => Some(Value::from(item.key.sk.clone())),
        "gsi1pk" => item.gsi1.as_ref().map(|k| Value::from(k.pk.clone())),
        "gsi1sk" => item.gsi1.as_ref().map(|k| Value::from(k.sk.clone())),
        "expires_at" => item.expires_at.map(Value::from),
        _ => item.attrs.get(name).cloned(),
    }
}

/// `live` is the current item with expired items already turned into `None`.
fn condition_holds(condition: &Condition, live: Option<&Item>) -> bool {
    match condition {
        Condition::Always => true,
        Condition::NotExists => live.is_none(),
        Condition::Exists => live.is_some(),
        Condition::AttrEquals(name, expected) => live
            .and_then(|item| attribute(item, name))
            .is_some_and(|actual| values_equal(&actual, expected)),
    }
}

/// Refuses reserved names as plain attributes. Shared with the DynamoDB backend so both refuse
/// the same inputs.
pub(super) fn check_attribute_names<'a>(
    names: impl IntoIterator<Item = &'a String>,
) -> StoreResult<()> {
    for name in names {
        if RESERVED_ATTRIBUTES.contains(&name.as_str()) {
            return Err(StoreError::backend(anyhow::anyhow!(
                "`{name}` is a reserved attribute name; use the item's key, index or expiry field"
            )));
        }
    }
    Ok(())
}

pub(super) fn op_key(op: &WriteOp) -> &Key {
    match op {
        WriteOp::Put { item, .. } => &item.key,
        WriteOp::Delete { key, .. } | WriteOp::Update { key, .. } | WriteOp::Check { key, .. } => {
            key
        }
    }
}

/// The rules DynamoDB applies to a transaction before looking at any item (size, distinct keys)
/// plus our reserved names. Shared with the DynamoDB backend so that a transaction accepted
/// locally is accepted in AWS.
pub(super) fn validate_ops(ops: &[WriteOp]) -> StoreResult<()> {
    if ops.len() > MAX_TRANSACTION_OPS {
        return Err(StoreError::backend(anyhow::anyhow!(
            "a transaction holds at most {MAX_TRANSACTION_OPS} operations, got {}",
            ops.len()
        )));
    }
    let mut seen = HashSet::new();
    for op in ops {
        if !seen.insert(op_key(op)) {
            return Err(StoreError::backend(anyhow::anyhow!(
                "a transaction touches the same item twice"
            )));
        }
        match op {
            WriteOp::Put { item, .. } => check_attribute_names(item.attrs.keys())?,
            WriteOp::Update { set, .. } => check_attribute_names(set.keys())?,
            WriteOp::Delete { .. } | WriteOp::Check { .. } => {}
        }
    }
    Ok(())
}

/// Checks every condition against the state before the transaction, then applies every write;
/// dropping the write transaction without committing discards a partial application.
fn apply_ops(db: &Database, ops: Vec<WriteOp>) -> StoreResult<()> {
    validate_ops(&ops)?;
    let now = unix_now();
    let txn = db.begin_write().map_err(db_err)?;
    {
        let mut items = txn.open_table(ITEMS).map_err(db_err)?;
        let mut gsi = txn.open_table(GSI1).map_err(db_err)?;

        let mut current = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            let stored = load(&items, op_key(op))?;
            let live = stored.as_ref().filter(|item| !item.is_expired(now));
            let holds = match op {
                WriteOp::Update { condition, .. } => {
                    live.is_some() && condition_holds(condition, live)
                }
                WriteOp::Put { condition, .. }
                | WriteOp::Delete { condition, .. }
                | WriteOp::Check { condition, .. } => condition_holds(condition, live),
            };
            if !holds {
                return Err(StoreError::ConditionFailed { op: Some(index) });
            }
            current.push(stored);
        }

        for (op, stored) in ops.into_iter().zip(current) {
            match op {
                WriteOp::Put { item, .. } => {
                    store_item(&mut items, &mut gsi, stored.as_ref(), &item)?
                }
                WriteOp::Delete { .. } => {
                    if let Some(old) = &stored {
                        remove_item(&mut items, &mut gsi, old)?;
                    }
                }
                WriteOp::Update { set, .. } => {
                    let old = stored.expect("an update's item was checked to exist");
                    let mut new = old.clone();
                    new.attrs.extend(set);
                    store_item(&mut items, &mut gsi, Some(&old), &new)?;
                }
                WriteOp::Check { .. } => {}
            }
        }
    }
    txn.commit().map_err(db_err)
}

fn add_blocking(
    db: &Database,
    key: &Key,
    attribute: &str,
    delta: i64,
    expires_at: Option<i64>,
) -> StoreResult<i64> {
    let now = unix_now();
    let mut txn = db.begin_write().map_err(db_err)?;
    // Counters are bumped on every request (usage, limits): skipping the fsync keeps that cheap.
    // A crash may lose the last few increments, never the file's consistency; the next durable
    // commit of any write persists them.
    txn.set_durability(redb::Durability::Eventual);
    let value = {
        let mut items = txn.open_table(ITEMS).map_err(db_err)?;
        let mut gsi = txn.open_table(GSI1).map_err(db_err)?;
        let stored = load(&items, key)?;
        // An expired counter starts over, as if the item had been deleted.
        let mut new = match stored.as_ref().filter(|item| !item.is_expired(now)) {
            Some(live) => live.clone(),
            None => Item::new(key.clone()),
        };
        let current = match new.attrs.get(attribute) {
            None => 0,
            Some(value) => value.as_i64().ok_or_else(|| {
                StoreError::backend(anyhow::anyhow!(
                    "attribute `{attribute}` is not an integer counter"
                ))
            })?,
        };
        let value = current.checked_add(delta).ok_or_else(|| {
            StoreError::backend(anyhow::anyhow!("counter `{attribute}` overflows"))
        })?;
        new.attrs.insert(attribute.to_owned(), Value::from(value));
        if expires_at.is_some() {
            new.expires_at = expires_at;
        }
        store_item(&mut items, &mut gsi, stored.as_ref(), &new)?;
        value
    };
    txn.commit().map_err(db_err)?;
    Ok(value)
}

/// Deletes items a read found expired, unless a writer revived them in the meantime.
fn purge_keys(db: &Database, keys: &[Key]) -> StoreResult<()> {
    let now = unix_now();
    let txn = db.begin_write().map_err(db_err)?;
    {
        let mut items = txn.open_table(ITEMS).map_err(db_err)?;
        let mut gsi = txn.open_table(GSI1).map_err(db_err)?;
        for key in keys {
            if let Some(item) = load(&items, key)?
                && item.is_expired(now)
            {
                remove_item(&mut items, &mut gsi, &item)?;
            }
        }
    }
    txn.commit().map_err(db_err)
}

/// Purging is housekeeping: a failure must not fail the read that triggered it.
fn purge_quietly(db: &Database, keys: &[Key]) {
    if keys.is_empty() {
        return;
    }
    if let Err(err) = purge_keys(db, keys) {
        tracing::warn!(error = %err, "could not purge expired items");
    }
}

pub(super) fn sort_key_matches(sort_key: &SortKey, sk: &str) -> bool {
    match sort_key {
        SortKey::All => true,
        SortKey::BeginsWith(prefix) => sk.starts_with(prefix.as_str()),
        SortKey::Between(from, to) => from.as_str() <= sk && sk <= to.as_str(),
    }
}

/// The smallest string greater than every string that starts with `prefix`, if there is one
/// (there is none for an empty prefix or one made only of `char::MAX`).
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The sort-key interval a query selects, as owned strings the range bounds can borrow from.
/// `end` is inclusive for `Between` and exclusive otherwise; `None` means "to the end of the
/// partition", whose exclusive bound is `pk + "\0"`, the smallest string greater than `pk`.
struct SortRange {
    start: String,
    end: Option<(String, bool)>,
}

fn sort_range(sort_key: &SortKey) -> SortRange {
    match sort_key {
        SortKey::All => SortRange {
            start: String::new(),
            end: None,
        },
        SortKey::BeginsWith(prefix) => SortRange {
            start: prefix.clone(),
            end: prefix_successor(prefix).map(|s| (s, false)),
        },
        SortKey::Between(from, to) => SortRange {
            start: from.clone(),
            end: Some((to.clone(), true)),
        },
    }
}

/// The cursor's keys, refused unless they point inside the query's partition and sort-key range.
/// Shared with the DynamoDB backend, which would otherwise start a query anywhere it is told.
pub(super) fn query_cursor(query: &Query) -> StoreResult<Option<(Key, Option<Key>)>> {
    let Some(cursor) = &query.cursor else {
        return Ok(None);
    };
    let (key, index_key) = cursor.keys().ok_or(StoreError::InvalidCursor)?;
    let position = match query.index {
        Index::Primary => &key,
        Index::Gsi1 => index_key.as_ref().ok_or(StoreError::InvalidCursor)?,
    };
    if position.pk != query.pk || !sort_key_matches(&query.sort_key, &position.sk) {
        return Err(StoreError::InvalidCursor);
    }
    Ok(Some((key, index_key)))
}

fn next_entry<I, T>(range: &mut I, ascending: bool) -> Option<T>
where
    I: DoubleEndedIterator<Item = T>,
{
    if ascending {
        range.next()
    } else {
        range.next_back()
    }
}

/// Collects up to `limit` live items, then keeps looking for one more so that `next` is only set
/// when another page really exists. Returns the page and the expired items it stepped over.
fn collect_page(
    mut candidates: impl FnMut() -> StoreResult<Option<Item>>,
    limit: usize,
    index: Index,
    now: i64,
) -> StoreResult<(Page, Vec<Key>)> {
    let mut items = Vec::new();
    let mut expired = Vec::new();
    let mut more = false;
    while let Some(item) = candidates()? {
        if item.is_expired(now) {
            if expired.len() < PURGE_ON_READ_LIMIT {
                expired.push(item.key);
            }
            continue;
        }
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(item);
    }
    let next = match (more, items.last()) {
        (true, Some(last)) => Some(Cursor::from_keys(
            &last.key,
            match index {
                Index::Primary => None,
                Index::Gsi1 => last.gsi1.as_ref(),
            },
        )),
        _ => None,
    };
    Ok((Page { items, next }, expired))
}

fn query_blocking(db: &Database, query: &Query) -> StoreResult<(Page, Vec<Key>)> {
    let limit = query.limit.clamp(1, 1000);
    let cursor = query_cursor(query)?;
    let now = unix_now();
    let range = sort_range(&query.sort_key);
    let partition_end = format!("{}\0", query.pk);

    let txn = db.begin_read().map_err(db_err)?;
    let items = txn.open_table(ITEMS).map_err(db_err)?;
    let pk = query.pk.as_str();

    match query.index {
        Index::Primary => {
            let mut lower = Bound::Included((pk, range.start.as_str()));
            let mut upper = match &range.end {
                Some((end, true)) => Bound::Included((pk, end.as_str())),
                Some((end, false)) => Bound::Excluded((pk, end.as_str())),
                None => Bound::Excluded((partition_end.as_str(), "")),
            };
            if let Some((key, _)) = &cursor {
                let after = Bound::Excluded((pk, key.sk.as_str()));
                if query.ascending {
                    lower = after;
                } else {
                    upper = after;
                }
            }
            let mut entries = items.range((lower, upper)).map_err(db_err)?;
            collect_page(
                || match next_entry(&mut entries, query.ascending) {
                    None => Ok(None),
                    Some(entry) => {
                        let (_, value) = entry.map_err(db_err)?;
                        decode(value.value()).map(Some)
                    }
                },
                limit,
                Index::Primary,
                now,
            )
        }
        Index::Gsi1 => {
            let gsi = txn.open_table(GSI1).map_err(db_err)?;
            let mut lower = Bound::Included((pk, range.start.as_str(), "", ""));
            // An inclusive end on the index sort key must take every primary key under it, so it
            // becomes an exclusive bound on the next possible index sort key.
            let inclusive_end = match &range.end {
                Some((end, true)) => Some(format!("{end}\0")),
                _ => None,
            };
            let mut upper = match (&range.end, &inclusive_end) {
                (_, Some(end)) => Bound::Excluded((pk, end.as_str(), "", "")),
                (Some((end, _)), None) => Bound::Excluded((pk, end.as_str(), "", "")),
                (None, None) => Bound::Excluded((partition_end.as_str(), "", "", "")),
            };
            if let Some((key, Some(index_key))) = &cursor {
                let after =
                    Bound::Excluded((pk, index_key.sk.as_str(), key.pk.as_str(), key.sk.as_str()));
                if query.ascending {
                    lower = after;
                } else {
                    upper = after;
                }
            }
            let mut entries = gsi.range((lower, upper)).map_err(db_err)?;
            collect_page(
                || loop {
                    let Some(entry) = next_entry(&mut entries, query.ascending) else {
                        return Ok(None);
                    };
                    let (index_entry, _) = entry.map_err(db_err)?;
                    let (_, _, item_pk, item_sk) = index_entry.value();
                    let key = Key::new(item_pk, item_sk);
                    // The index is written with the items, so a dangling entry means a damaged
                    // file; skipping it keeps the rest of the partition readable.
                    if let Some(item) = load(&items, &key)? {
                        return Ok(Some(item));
                    }
                    tracing::warn!("gsi1 entry without its item");
                },
                limit,
                Index::Gsi1,
                now,
            )
        }
    }
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        let key = key.clone();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let items = txn.open_table(ITEMS).map_err(db_err)?;
            let stored = load(&items, &key)?;
            drop(items);
            drop(txn);
            match stored {
                Some(item) if item.is_expired(unix_now()) => {
                    purge_quietly(db, &[key]);
                    Ok(None)
                }
                other => Ok(other),
            }
        })
        .await
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

    async fn query(&self, query: &Query) -> StoreResult<Page> {
        let query = query.clone();
        self.blocking(move |db| {
            let (page, expired) = query_blocking(db, &query)?;
            purge_quietly(db, &expired);
            Ok(page)
        })
        .await
    }

    async fn add(
        &self,
        key: &Key,
        attribute: &str,
        delta: i64,
        expires_at: Option<i64>,
    ) -> StoreResult<i64> {
        check_attribute_names([&attribute.to_owned()])?;
        let key = key.clone();
        let attribute = attribute.to_owned();
        self.blocking(move |db| add_blocking(db, &key, &attribute, delta, expires_at))
            .await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.blocking(move |db| apply_ops(db, ops)).await
    }

    /// One durable commit for the lot, instead of one per item.
    async fn put_all(&self, items: Vec<Item>) -> StoreResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.blocking(move |db| put_all_blocking(db, items)).await
    }
}

fn put_all_blocking(db: &Database, batch: Vec<Item>) -> StoreResult<()> {
    let mut seen = HashSet::new();
    for item in &batch {
        check_attribute_names(item.attrs.keys())?;
        if !seen.insert(&item.key) {
            return Err(StoreError::backend(anyhow::anyhow!(
                "a batch puts the same item twice"
            )));
        }
    }
    let txn = db.begin_write().map_err(db_err)?;
    {
        let mut items = txn.open_table(ITEMS).map_err(db_err)?;
        let mut gsi = txn.open_table(GSI1).map_err(db_err)?;
        for item in &batch {
            let stored = load(&items, &item.key)?;
            store_item(&mut items, &mut gsi, stored.as_ref(), item)?;
        }
    }
    txn.commit().map_err(db_err)
}

#[cfg(test)]
mod tests {
    use redb::ReadableTableMetadata;

    use super::*;

    #[tokio::test]
    async fn items_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let key = Key::new("USER#1", "PROFILE");
        let item = Item::new(key.clone())
            .with_gsi1(Key::new("EMAIL#a@example.com", "USER"))
            .with_attr("name", "Ada");
        {
            let table = EmbeddedTable::open(&path).unwrap();
            table.put(item.clone(), Condition::NotExists).await.unwrap();
        }
        let table = EmbeddedTable::open(&path).unwrap();
        assert_eq!(table.get(&key).await.unwrap(), Some(item.clone()));
        let page = table
            .query(&Query::partition(Index::Gsi1, "EMAIL#a@example.com"))
            .await
            .unwrap();
        assert_eq!(page.items, vec![item]);
    }

    #[tokio::test]
    async fn reopening_purges_expired_items() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let expired = Item::new(Key::new("RATE#1", "WINDOW"))
            .with_gsi1(Key::new("G", "1"))
            .expiring_at(unix_now() - 5);
        {
            let table = EmbeddedTable::open(&path).unwrap();
            table.put(expired, Condition::Always).await.unwrap();
        }
        let table = EmbeddedTable::open(&path).unwrap();
        assert_eq!(table.purge_expired().unwrap(), 0, "open already purged it");
        let txn = table.db.begin_read().unwrap();
        assert!(txn.open_table(ITEMS).unwrap().is_empty().unwrap());
        assert!(txn.open_table(GSI1).unwrap().is_empty().unwrap());
    }

    #[test]
    fn prefix_successor_skips_surrogates_and_max_chars() {
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
    }
}
