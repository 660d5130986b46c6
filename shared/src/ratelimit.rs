//! Counting requests per bucket and window. On AWS the count lives in DynamoDB (an atomic `ADD`
//! on an item that expires after its window), so every Lambda instance sees the same count; in
//! local mode one process serves everything, so a map in memory is enough.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::domain::rate_limit::{WINDOW_SECONDS, Window};
use crate::store::{Key, Table};

#[async_trait]
pub trait RateCounter: Send + Sync + 'static {
    /// Counts one request in `bucket` during `window`; returns the count including it.
    async fn hit(&self, bucket: &str, window: Window) -> anyhow::Result<u64>;
}

/// Counters as items of the table: `RATE#<bucket> / <window start>`, gone a window after use.
pub struct TableRateCounter {
    table: Arc<dyn Table>,
}

impl TableRateCounter {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }
}

#[async_trait]
impl RateCounter for TableRateCounter {
    async fn hit(&self, bucket: &str, window: Window) -> anyhow::Result<u64> {
        let key = Key::new(format!("RATE#{bucket}"), window.start.to_string());
        let expires_at = window.reset() + WINDOW_SECONDS;
        let count = self.table.add(&key, "count", 1, Some(expires_at)).await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

/// Counters in this process's memory; windows older than the newest one seen are dropped.
#[derive(Default)]
pub struct MemoryRateCounter {
    counts: Mutex<HashMap<(String, i64), u64>>,
}

#[async_trait]
impl RateCounter for MemoryRateCounter {
    async fn hit(&self, bucket: &str, window: Window) -> anyhow::Result<u64> {
        let mut counts = self.counts.lock().expect("rate counter lock poisoned");
        counts.retain(|(_, start), _| *start >= window.start - WINDOW_SECONDS);
        let count = counts.entry((bucket.to_owned(), window.start)).or_insert(0);
        *count += 1;
        Ok(*count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_counts_per_bucket_and_window() {
        let counter = MemoryRateCounter::default();
        let first = Window { start: 600 };
        let second = Window { start: 660 };
        assert_eq!(counter.hit("org:a", first).await.unwrap(), 1);
        assert_eq!(counter.hit("org:a", first).await.unwrap(), 2);
        assert_eq!(counter.hit("org:b", first).await.unwrap(), 1);
        assert_eq!(counter.hit("org:a", second).await.unwrap(), 1);
    }
}
