//! The item-level storage abstraction. Two backends implement [`Table`]: DynamoDB
//! ([`dynamo::DynamoTable`]) and an embedded redb file ([`embedded::EmbeddedTable`]). Repositories
//! are written once on top of the trait, so both modes run the same data-access code.
//!
//! Semantics every backend must honour (checked by the conformance suite in `shared/tests`):
//! - items are addressed by a partition key `pk` and a sort key `sk`, both strings;
//! - an item may also carry a secondary-index key (`gsi1pk`, `gsi1sk`), queried like the primary;
//! - an item whose `expires_at` (unix seconds) is in the past is treated as absent by every read
//!   and by the `NotExists`/`Exists` conditions, even before the backend physically removes it;
//! - conditional writes and transactions are atomic: a failed condition changes nothing;
//! - `add` is an atomic counter that creates the item when missing.

pub mod dynamo;
pub mod embedded;
mod item;
pub mod keys;
pub mod repos;

pub use item::{Cursor, Item, Key, unix_now};

use async_trait::async_trait;
use serde_json::Value;

/// The precondition of a write.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// Unconditional.
    Always,
    /// The item must not exist (or must have expired).
    NotExists,
    /// The item must exist (and not have expired).
    Exists,
    /// The item must exist and its attribute must equal the value.
    AttrEquals(String, Value),
}

/// One write in a transaction.
#[derive(Clone, Debug)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Sets the given attributes on an existing item (other attributes are kept).
    Update {
        key: Key,
        set: serde_json::Map<String, Value>,
        condition: Condition,
    },
    /// Asserts a condition on an item without writing it.
    Check {
        key: Key,
        condition: Condition,
    },
}

/// Which key a query runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    Primary,
    Gsi1,
}

/// Which sort keys a query selects within its partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    All,
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
}

#[derive(Clone, Debug)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sort_key: SortKey,
    /// At most this many items in one page (1..=1000).
    pub limit: usize,
    pub cursor: Option<Cursor>,
    pub ascending: bool,
}

impl Query {
    pub fn partition(index: Index, pk: impl Into<String>) -> Self {
        Self {
            index,
            pk: pk.into(),
            sort_key: SortKey::All,
            limit: 100,
            cursor: None,
            ascending: true,
        }
    }

    pub fn begins_with(mut self, prefix: impl Into<String>) -> Self {
        self.sort_key = SortKey::BeginsWith(prefix.into());
        self
    }

    pub fn between(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.sort_key = SortKey::Between(from.into(), to.into());
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }

    pub fn descending(mut self) -> Self {
        self.ascending = false;
        self
    }
}

/// One page of a query; `next` is set when more items may follow.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Cursor>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's condition did not hold; nothing was written. For a transaction, `op` is the
    /// index of the first operation whose condition failed, when the backend can tell.
    #[error("condition check failed")]
    ConditionFailed { op: Option<usize> },
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("storage backend error")]
    Backend(#[source] anyhow::Error),
}

impl StoreError {
    pub fn backend(err: impl Into<anyhow::Error>) -> Self {
        Self::Backend(err.into())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Table: Send + Sync + 'static {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>>;
    async fn put(&self, item: Item, condition: Condition) -> StoreResult<()>;
    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()>;
    async fn update(
        &self,
        key: &Key,
        set: serde_json::Map<String, Value>,
        condition: Condition,
    ) -> StoreResult<()>;
    async fn query(&self, query: &Query) -> StoreResult<Page>;
    /// Atomically adds `delta` to the numeric attribute (0 when missing, creating the item) and
    /// returns the new value. `expires_at`, when given, is set on the item.
    async fn add(
        &self,
        key: &Key,
        attribute: &str,
        delta: i64,
        expires_at: Option<i64>,
    ) -> StoreResult<i64>;
    /// All operations or none (at most 25, DynamoDB's limit; the keys must be distinct).
    async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()>;

    /// Unconditional puts of many items (distinct keys), for bulk records such as a scan's
    /// metric points: far fewer round trips or commits than one `put` each. Not atomic as a
    /// whole: on an error some items may have been written (each one whole).
    async fn put_all(&self, items: Vec<Item>) -> StoreResult<()> {
        for item in items {
            self.put(item, Condition::Always).await?;
        }
        Ok(())
    }
}
