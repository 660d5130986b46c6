//! The DynamoDB rate-limit counter path, against moto through the real SDK client: the counts
//! every Lambda instance would share.

mod support;

use std::sync::Arc;

use dtap_shared::domain::rate_limit::Window;
use dtap_shared::ratelimit::{RateCounter, TableRateCounter};
use dtap_shared::store::dynamo::DynamoTable;
use dtap_shared::store::{Key, Table};

async fn dynamo() -> Arc<dyn Table> {
    let client = aws_sdk_dynamodb::Client::new(&support::moto_config().await);
    let name = support::unique_name("dtap-rate");
    DynamoTable::create_table_if_missing(&client, &name)
        .await
        .expect("creating the test table in moto");
    Arc::new(DynamoTable::new(client, name))
}

fn current_window() -> Window {
    Window::containing(chrono::Utc::now())
}

#[tokio::test]
async fn counts_per_bucket_and_window_in_dynamodb() {
    let table = dynamo().await;
    let counter = TableRateCounter::new(table.clone());
    let window = current_window();
    for expected in 1..=61 {
        assert_eq!(counter.hit("org:a", window).await.unwrap(), expected);
    }
    assert_eq!(
        counter.hit("org:b", window).await.unwrap(),
        1,
        "another org is unaffected"
    );
    let next = Window {
        start: window.reset(),
    };
    assert_eq!(
        counter.hit("org:a", next).await.unwrap(),
        1,
        "the next window starts over"
    );

    let item = table
        .get(&Key::new("RATE#org:a", window.start.to_string()))
        .await
        .unwrap()
        .expect("the counter item exists");
    assert_eq!(
        item.expires_at,
        Some(window.reset() + 60),
        "the counter expires after its window"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_instances_lose_no_count() {
    let table = dynamo().await;
    let window = current_window();
    // Separate counters over one table, as separate Lambda instances would be.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let counter = TableRateCounter::new(table.clone());
            tokio::spawn(async move { counter.hit("org:busy", window).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=20).collect::<Vec<u64>>(),
        "every request got its own count"
    );
}
