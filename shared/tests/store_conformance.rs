//! One behavioural suite for every `Table` backend. Each case is written once against
//! `Arc<dyn Table>` and runs twice, as `embedded::<case>` (a redb file in a fresh temp dir) and
//! `dynamo::<case>` (the real SDK client against moto's server), so the two modes cannot drift
//! apart without a test failing.
//!
//! `scripts/test` starts moto and sets `DTAP_TEST_MOTO_URL`. Without it the DynamoDB cases fail
//! rather than pass silently. Every DynamoDB case creates its own table, so cases can run in
//! parallel against one server that is never reset.

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use dtap_shared::store::dynamo::DynamoTable;
use dtap_shared::store::embedded::EmbeddedTable;
use dtap_shared::store::{
    Condition, Cursor, Index, Item, Key, Query, StoreError, StoreResult, Table, WriteOp,
};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

// ------------------------------------------------------------------------------------ fixtures

struct Fixture {
    table: Arc<dyn Table>,
    /// Keeps the embedded backend's directory alive for the duration of the case.
    _dir: Option<tempfile::TempDir>,
    /// The DynamoDB table to drop after a passing case (a failing one leaves it for inspection).
    dynamo: Option<(aws_sdk_dynamodb::Client, String)>,
}

impl Fixture {
    async fn finish(self) {
        if let Some((client, name)) = self.dynamo {
            client
                .delete_table()
                .table_name(&name)
                .send()
                .await
                .expect("dropping the test table");
        }
    }
}

async fn embedded_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let table = EmbeddedTable::open(&dir.path().join("store.redb")).expect("opening redb");
    Fixture {
        table: Arc::new(table),
        _dir: Some(dir),
        dynamo: None,
    }
}

async fn dynamo_fixture() -> Fixture {
    let config = support::moto_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = support::unique_name("dtap-conformance");
    DynamoTable::create_table_if_missing(&client, &name)
        .await
        .expect("creating the test table in moto");
    Fixture {
        table: Arc::new(DynamoTable::new(client.clone(), name.clone())),
        _dir: None,
        dynamo: Some((client, name)),
    }
}

/// Instantiates every case once per backend.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let fixture = super::embedded_fixture().await;
                    super::$case(Arc::clone(&fixture.table)).await;
                    fixture.finish().await;
                }
            )*
            use std::sync::Arc;
        }
        mod dynamo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let fixture = super::dynamo_fixture().await;
                    super::$case(Arc::clone(&fixture.table)).await;
                    fixture.finish().await;
                }
            )*
            use std::sync::Arc;
        }
    };
}

conformance!(
    round_trip_keeps_nested_attributes,
    conditions_guard_puts_and_deletes,
    update_sets_attributes_and_keeps_the_rest,
    transaction_is_all_or_nothing,
    concurrent_claims_of_one_unique_key_have_one_winner,
    concurrent_adds_sum_exactly,
    primary_queries_select_order_and_paginate,
    index_queries_select_order_and_paginate,
    expired_items_are_absent,
    foreign_cursors_are_rejected,
    bulk_puts_write_every_item_with_its_index_and_expiry,
);

// ------------------------------------------------------------------------------------- helpers

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[track_caller]
fn assert_condition_failed<T: std::fmt::Debug>(result: StoreResult<T>, op: Option<usize>) {
    match result {
        Err(StoreError::ConditionFailed { op: actual }) => assert_eq!(actual, op, "failing op"),
        other => panic!("expected ConditionFailed {{ op: {op:?} }}, got {other:?}"),
    }
}

#[track_caller]
fn assert_backend_error<T: std::fmt::Debug>(result: StoreResult<T>) {
    assert!(
        matches!(result, Err(StoreError::Backend(_))),
        "expected a backend error, got {result:?}"
    );
}

fn sort_keys(items: &[Item]) -> Vec<String> {
    items.iter().map(|item| item.key.sk.clone()).collect()
}

/// Follows `next` to the end, passing each cursor through its string form as an HTTP client
/// would, and checks that no page breaks the limit.
async fn all_pages(table: &dyn Table, query: Query) -> Vec<Vec<Item>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = table
            .query(&query.clone().after(cursor))
            .await
            .expect("query");
        assert!(page.items.len() <= query.limit, "page over the limit");
        pages.push(page.items);
        match page.next {
            None => return pages,
            Some(next) => cursor = Some(Cursor::parse(next.as_str()).expect("cursor parses")),
        }
        assert!(pages.len() < 100, "pagination does not end");
    }
}

/// Flattens pages, checking that only the last page may be short and none repeats an item.
fn concat_pages(pages: Vec<Vec<Item>>, limit: usize) -> Vec<Item> {
    let count = pages.len();
    for (i, page) in pages.iter().enumerate() {
        if i + 1 < count {
            assert_eq!(page.len(), limit, "page {i} of {count} is short");
        }
    }
    let items: Vec<Item> = pages.into_iter().flatten().collect();
    let distinct: HashSet<&Key> = items.iter().map(|item| &item.key).collect();
    assert_eq!(distinct.len(), items.len(), "an item was returned twice");
    items
}

async fn put_all(table: &dyn Table, items: &[Item]) {
    for item in items {
        table
            .put(item.clone(), Condition::Always)
            .await
            .expect("put");
    }
}

// --------------------------------------------------------------------------------------- cases

async fn round_trip_keeps_nested_attributes(table: Arc<dyn Table>) {
    let key = Key::new("USER#1", "PROFILE");
    assert_eq!(table.get(&key).await.unwrap(), None);

    let mut item = Item::new(key.clone())
        .with_gsi1(Key::new("EMAIL#ada@example.com", "USER"))
        .expiring_at(now() + 3600);
    item.attrs = object(json!({
        "name": "Ada",
        "age": 36,
        "balance": -7,
        "ratio": 1.5,
        "admin": true,
        "deleted": false,
        "nothing": null,
        "blank": "",
        "unicode": "héllo ✓ 日本",
        "tags": ["a", "b", "a"],
        "nested": {
            "list": [1, {"deep": "x"}, [true, null]],
            "map": {"k": "v", "n": 12345678901_i64},
            "empty_list": [],
            "empty_map": {}
        }
    }));
    table.put(item.clone(), Condition::Always).await.unwrap();
    assert_eq!(table.get(&key).await.unwrap(), Some(item.clone()));

    // A put replaces the whole item: attributes, index key and expiry.
    let replaced = Item::new(key.clone()).with_attr("name", "Grace");
    table
        .put(replaced.clone(), Condition::Always)
        .await
        .unwrap();
    assert_eq!(table.get(&key).await.unwrap(), Some(replaced));
    let index = table
        .query(&Query::partition(Index::Gsi1, "EMAIL#ada@example.com"))
        .await
        .unwrap();
    assert!(index.items.is_empty(), "the old index key must be gone");

    table.delete(&key, Condition::Always).await.unwrap();
    assert_eq!(table.get(&key).await.unwrap(), None);
    // Deleting what is not there is not an error.
    table.delete(&key, Condition::Always).await.unwrap();
}

async fn conditions_guard_puts_and_deletes(table: Arc<dyn Table>) {
    let key = Key::new("ORG#1", "META");
    let other = Key::new("ORG#2", "META");
    let v1 = Item::new(key.clone())
        .with_attr("plan", "free")
        .with_attr("version", 1)
        .with_attr("limits", json!({"seats": 3}));

    table.put(v1.clone(), Condition::NotExists).await.unwrap();
    assert_condition_failed(
        table
            .put(
                Item::new(key.clone()).with_attr("plan", "pro"),
                Condition::NotExists,
            )
            .await,
        None,
    );
    assert_eq!(table.get(&key).await.unwrap(), Some(v1.clone()));

    assert_condition_failed(
        table.put(Item::new(other.clone()), Condition::Exists).await,
        None,
    );
    assert_eq!(table.get(&other).await.unwrap(), None);

    let v2 = v1.clone().with_attr("version", 2);
    table.put(v2.clone(), Condition::Exists).await.unwrap();
    assert_eq!(table.get(&key).await.unwrap(), Some(v2.clone()));

    // Optimistic concurrency on a version attribute.
    let v3 = v2.clone().with_attr("version", 3);
    assert_condition_failed(
        table
            .put(
                v3.clone(),
                Condition::AttrEquals("version".into(), json!(1)),
            )
            .await,
        None,
    );
    assert_eq!(table.get(&key).await.unwrap(), Some(v2.clone()));
    table
        .put(
            v3.clone(),
            Condition::AttrEquals("version".into(), json!(2)),
        )
        .await
        .unwrap();
    assert_eq!(table.get(&key).await.unwrap(), Some(v3.clone()));

    // Equality of a nested value, of a missing attribute, and on a missing item.
    table
        .put(
            v3.clone(),
            Condition::AttrEquals("limits".into(), json!({"seats": 3})),
        )
        .await
        .unwrap();
    assert_condition_failed(
        table
            .put(
                v3.clone(),
                Condition::AttrEquals("missing".into(), json!(null)),
            )
            .await,
        None,
    );
    assert_condition_failed(
        table
            .put(
                Item::new(other.clone()),
                Condition::AttrEquals("version".into(), json!(3)),
            )
            .await,
        None,
    );
    assert_eq!(table.get(&other).await.unwrap(), None);

    // Deletes: a failed condition keeps the item.
    assert_condition_failed(
        table
            .delete(&key, Condition::AttrEquals("plan".into(), json!("pro")))
            .await,
        None,
    );
    assert_condition_failed(table.delete(&key, Condition::NotExists).await, None);
    assert_eq!(table.get(&key).await.unwrap(), Some(v3));
    assert_condition_failed(table.delete(&other, Condition::Exists).await, None);
    table
        .delete(&key, Condition::AttrEquals("plan".into(), json!("free")))
        .await
        .unwrap();
    assert_eq!(table.get(&key).await.unwrap(), None);
    table.delete(&key, Condition::NotExists).await.unwrap();
}

async fn update_sets_attributes_and_keeps_the_rest(table: Arc<dyn Table>) {
    let key = Key::new("USER#7", "PROFILE");
    let item = Item::new(key.clone())
        .with_gsi1(Key::new("EMAIL#lin@example.com", "USER"))
        .expiring_at(now() + 3600)
        .with_attr("name", "Lin")
        .with_attr("prefs", json!({"theme": "dark"}))
        .with_attr("logins", 3);
    table.put(item.clone(), Condition::NotExists).await.unwrap();

    let set = object(json!({"name": "Lin Wei", "prefs": {"theme": "light", "lang": ["en", "zh"]}}));
    table
        .update(&key, set.clone(), Condition::Exists)
        .await
        .unwrap();
    let mut expected = item.clone();
    expected.attrs.extend(set);
    assert_eq!(table.get(&key).await.unwrap(), Some(expected.clone()));
    let index = table
        .query(&Query::partition(Index::Gsi1, "EMAIL#lin@example.com"))
        .await
        .unwrap();
    assert_eq!(index.items, vec![expected.clone()]);

    assert_condition_failed(
        table
            .update(
                &key,
                object(json!({"logins": 0})),
                Condition::AttrEquals("logins".into(), json!(99)),
            )
            .await,
        None,
    );
    assert_eq!(table.get(&key).await.unwrap(), Some(expected.clone()));
    table
        .update(
            &key,
            object(json!({"logins": 4})),
            Condition::AttrEquals("logins".into(), json!(3)),
        )
        .await
        .unwrap();
    expected.attrs.insert("logins".into(), json!(4));
    assert_eq!(table.get(&key).await.unwrap(), Some(expected.clone()));

    // An update with nothing to set is only its condition, alone or in a transaction.
    table
        .update(&key, Map::new(), Condition::Exists)
        .await
        .unwrap();
    assert_eq!(table.get(&key).await.unwrap(), Some(expected.clone()));
    assert_condition_failed(
        table
            .transact(vec![WriteOp::Update {
                key: key.clone(),
                set: Map::new(),
                condition: Condition::AttrEquals("logins".into(), json!(3)),
            }])
            .await,
        Some(0),
    );

    // An update never creates an item, even unconditionally.
    let missing = Key::new("USER#8", "PROFILE");
    assert_condition_failed(
        table
            .update(&missing, object(json!({"name": "x"})), Condition::Always)
            .await,
        None,
    );
    assert_condition_failed(
        table.update(&missing, Map::new(), Condition::Always).await,
        None,
    );
    assert_eq!(table.get(&missing).await.unwrap(), None);

    // The key, index and expiry fields cannot be written as plain attributes.
    assert_backend_error(
        table
            .update(&key, object(json!({"pk": "USER#9"})), Condition::Always)
            .await,
    );
    assert_backend_error(
        table
            .put(
                Item::new(Key::new("A", "B")).with_attr("expires_at", 1),
                Condition::Always,
            )
            .await,
    );
    assert_eq!(table.get(&key).await.unwrap(), Some(expected));
}

async fn transaction_is_all_or_nothing(table: Arc<dyn Table>) {
    let org = Key::new("ORG#1", "META");
    let old_invite = Key::new("ORG#1", "INVITE#1");
    let flag = Key::new("ORG#1", "FLAG");
    let user = Key::new("USER#1", "PROFILE");
    put_all(
        &*table,
        &[
            Item::new(org.clone()).with_attr("members", 1),
            Item::new(old_invite.clone()).with_attr("email", "x@example.com"),
            Item::new(flag.clone()),
        ],
    )
    .await;
    let before_org = table.get(&org).await.unwrap();

    let new_user = Item::new(user.clone()).with_attr("name", "A");
    let member_set = object(json!({"members": 2}));

    // The third op fails: nothing of the first two is applied.
    assert_condition_failed(
        table
            .transact(vec![
                WriteOp::Put {
                    item: new_user.clone(),
                    condition: Condition::NotExists,
                },
                WriteOp::Update {
                    key: org.clone(),
                    set: member_set.clone(),
                    condition: Condition::Exists,
                },
                WriteOp::Check {
                    key: Key::new("ORG#9", "META"),
                    condition: Condition::Exists,
                },
                WriteOp::Delete {
                    key: old_invite.clone(),
                    condition: Condition::Exists,
                },
            ])
            .await,
        Some(2),
    );
    assert_eq!(table.get(&user).await.unwrap(), None);
    assert_eq!(table.get(&org).await.unwrap(), before_org);
    assert!(table.get(&old_invite).await.unwrap().is_some());

    // The index is of the first failing op, after an unconditional check that DynamoDB skips.
    assert_condition_failed(
        table
            .transact(vec![
                WriteOp::Check {
                    key: flag.clone(),
                    condition: Condition::Always,
                },
                WriteOp::Put {
                    item: new_user.clone(),
                    condition: Condition::NotExists,
                },
                WriteOp::Put {
                    item: Item::new(org.clone()),
                    condition: Condition::NotExists,
                },
            ])
            .await,
        Some(2),
    );
    assert_eq!(table.get(&user).await.unwrap(), None);

    table
        .transact(vec![
            WriteOp::Put {
                item: new_user.clone(),
                condition: Condition::NotExists,
            },
            WriteOp::Update {
                key: org.clone(),
                set: member_set,
                condition: Condition::AttrEquals("members".into(), json!(1)),
            },
            WriteOp::Delete {
                key: old_invite.clone(),
                condition: Condition::Exists,
            },
            WriteOp::Check {
                key: flag.clone(),
                condition: Condition::Exists,
            },
        ])
        .await
        .unwrap();
    assert_eq!(table.get(&user).await.unwrap(), Some(new_user));
    assert_eq!(
        table.get(&org).await.unwrap(),
        Some(Item::new(org.clone()).with_attr("members", 2))
    );
    assert_eq!(table.get(&old_invite).await.unwrap(), None);

    // Both backends refuse what DynamoDB refuses before looking at any item.
    assert_backend_error(
        table
            .transact(vec![
                WriteOp::Check {
                    key: org.clone(),
                    condition: Condition::Exists,
                },
                WriteOp::Delete {
                    key: org.clone(),
                    condition: Condition::Always,
                },
            ])
            .await,
    );
    let too_many = (0..26)
        .map(|i| WriteOp::Put {
            item: Item::new(Key::new("BULK", format!("{i:02}"))),
            condition: Condition::Always,
        })
        .collect();
    assert_backend_error(table.transact(too_many).await);
    assert!(table.get(&org).await.unwrap().is_some());
    table.transact(Vec::new()).await.unwrap();
}

/// Two sign-ups with the same email at the same moment: the uniqueness item is claimed in the
/// same transaction as the profile, and exactly one of them may win.
async fn concurrent_claims_of_one_unique_key_have_one_winner(table: Arc<dyn Table>) {
    for round in 0..5 {
        let email_key = Key::new(format!("EMAIL#dup{round}@example.com"), "USER");
        let register = |user: &'static str| {
            let table = Arc::clone(&table);
            let email_key = email_key.clone();
            tokio::spawn(async move {
                let profile = Key::new(format!("USER#{user}{round}"), "PROFILE");
                table
                    .transact(vec![
                        WriteOp::Put {
                            item: Item::new(email_key).with_attr("user", user),
                            condition: Condition::NotExists,
                        },
                        WriteOp::Put {
                            item: Item::new(profile).with_attr("email", round),
                            condition: Condition::NotExists,
                        },
                    ])
                    .await
            })
        };
        let (a, b) = tokio::join!(register("a"), register("b"));
        let (a, b) = (a.unwrap(), b.unwrap());
        let (winner, loser, loser_result) = match (&a, &b) {
            (Ok(()), Err(_)) => ("a", "b", b),
            (Err(_), Ok(())) => ("b", "a", a),
            _ => panic!("round {round}: expected exactly one winner, got {a:?} and {b:?}"),
        };
        assert_condition_failed(loser_result, Some(0));
        let claim = table.get(&email_key).await.unwrap().expect("claimed");
        assert_eq!(claim.attrs["user"], json!(winner));
        let loser_profile = Key::new(format!("USER#{loser}{round}"), "PROFILE");
        assert_eq!(table.get(&loser_profile).await.unwrap(), None);
    }
}

async fn concurrent_adds_sum_exactly(table: Arc<dyn Table>) {
    let key = Key::new("RATE#203.0.113.7", "WINDOW#1");
    let expires_at = now() + 600;
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let table = Arc::clone(&table);
        let key = key.clone();
        tasks.spawn(async move { table.add(&key, "count", 1, Some(expires_at)).await });
    }
    let mut returned = Vec::new();
    while let Some(result) = tasks.join_next().await {
        returned.push(result.unwrap().unwrap());
    }
    returned.sort_unstable();
    assert_eq!(
        returned,
        (1..=20).collect::<Vec<i64>>(),
        "each add sees its own total"
    );
    let counter = table.get(&key).await.unwrap().expect("created by add");
    assert_eq!(counter.attrs["count"], json!(20));
    assert_eq!(counter.expires_at, Some(expires_at));

    // On an existing item: other attributes stay, negative deltas work, no expiry is added.
    let quota = Key::new("ORG#1", "USAGE#2026-01");
    table
        .put(
            Item::new(quota.clone()).with_attr("plan", "free"),
            Condition::NotExists,
        )
        .await
        .unwrap();
    assert_eq!(table.add(&quota, "credits", -5, None).await.unwrap(), -5);
    assert_eq!(table.add(&quota, "credits", 8, None).await.unwrap(), 3);
    assert_eq!(
        table.get(&quota).await.unwrap(),
        Some(
            Item::new(quota.clone())
                .with_attr("plan", "free")
                .with_attr("credits", 3)
        )
    );
    assert_backend_error(table.add(&quota, "expires_at", 1, None).await);
}

async fn primary_queries_select_order_and_paginate(table: Arc<dyn Table>) {
    let mut items: Vec<Item> = (0..25)
        .map(|i| Item::new(Key::new("ORG#1", format!("ITEM#{i:02}"))).with_attr("n", i))
        .collect();
    // Neighbours the queries must not pick up: other sort-key prefixes in the partition, and
    // partitions whose keys share a prefix with it.
    items.push(Item::new(Key::new("ORG#1", "ITEMS")));
    items.push(Item::new(Key::new("ORG#1", "META")));
    items.push(Item::new(Key::new("ORG#1", "AAA")));
    items.push(Item::new(Key::new("ORG#10", "ITEM#00")));
    items.push(Item::new(Key::new("ORG#", "ITEM#00")));
    items.push(Item::new(Key::new("ORG#0", "ITEM#99")));
    put_all(&*table, &items).await;
    let expected: Vec<String> = (0..25).map(|i| format!("ITEM#{i:02}")).collect();
    let reversed: Vec<String> = expected.iter().rev().cloned().collect();

    let whole = table
        .query(&Query::partition(Index::Primary, "ORG#1"))
        .await
        .unwrap();
    let mut everything = vec!["AAA".to_owned()];
    everything.extend(expected.iter().cloned());
    everything.extend(["ITEMS".to_owned(), "META".to_owned()]);
    assert_eq!(sort_keys(&whole.items), everything);
    assert!(whole.next.is_none());
    assert_eq!(whole.items[1], items[0], "items come back whole");

    let prefixed = Query::partition(Index::Primary, "ORG#1").begins_with("ITEM#");
    let page = table.query(&prefixed).await.unwrap();
    assert_eq!(sort_keys(&page.items), expected);
    let page = table.query(&prefixed.clone().descending()).await.unwrap();
    assert_eq!(sort_keys(&page.items), reversed);

    let between = Query::partition(Index::Primary, "ORG#1").between("ITEM#05", "ITEM#09");
    let page = table.query(&between).await.unwrap();
    assert_eq!(sort_keys(&page.items), expected[5..=9]);
    let page = table.query(&between.clone().descending()).await.unwrap();
    assert_eq!(
        sort_keys(&page.items),
        expected[5..=9].iter().rev().cloned().collect::<Vec<_>>()
    );
    let page = table
        .query(&Query::partition(Index::Primary, "ORG#1").between("ITEM#09", "ITEM#05"))
        .await
        .unwrap();
    assert!(page.items.is_empty(), "an inverted range selects nothing");

    // Pagination: several pages, nothing repeated, nothing skipped, in both directions.
    let pages = all_pages(&*table, prefixed.clone().limit(7)).await;
    assert!(pages.len() >= 4);
    assert_eq!(sort_keys(&concat_pages(pages, 7)), expected);
    let pages = all_pages(&*table, prefixed.clone().descending().limit(10)).await;
    assert_eq!(sort_keys(&concat_pages(pages, 10)), reversed);
    // A limit that divides the result exactly.
    let pages = all_pages(&*table, prefixed.clone().limit(5)).await;
    assert_eq!(sort_keys(&concat_pages(pages, 5)), expected);
    let pages = all_pages(
        &*table,
        Query::partition(Index::Primary, "ORG#1")
            .between("ITEM#03", "ITEM#17")
            .descending()
            .limit(4),
    )
    .await;
    assert_eq!(
        sort_keys(&concat_pages(pages, 4)),
        expected[3..=17].iter().rev().cloned().collect::<Vec<_>>()
    );
    let pages = all_pages(&*table, Query::partition(Index::Primary, "ORG#1").limit(1)).await;
    assert_eq!(sort_keys(&concat_pages(pages, 1)), everything);

    let nothing = table
        .query(&Query::partition(Index::Primary, "ORG#404"))
        .await
        .unwrap();
    assert!(nothing.items.is_empty() && nothing.next.is_none());
}

async fn index_queries_select_order_and_paginate(table: Arc<dyn Table>) {
    // A user's memberships: one item per org partition, listed through the index.
    let membership = |org: usize, user: &str| {
        Item::new(Key::new(format!("ORG#o{org:02}"), format!("MEMBER#{user}")))
            .with_gsi1(Key::new(format!("USER#{user}"), format!("ORG#o{org:02}")))
            .with_attr("org", org)
    };
    let mine: Vec<Item> = (0..12).map(|org| membership(org, "u1")).collect();
    put_all(&*table, &mine).await;
    put_all(
        &*table,
        &[
            membership(3, "u2"),
            membership(4, "u10"),
            Item::new(Key::new("ORG#o00", "META")),
        ],
    )
    .await;
    let orgs = |items: &[Item]| -> Vec<String> {
        items
            .iter()
            .map(|item| item.gsi1.as_ref().expect("index key").sk.clone())
            .collect()
    };
    let expected = orgs(&mine);
    let reversed: Vec<String> = expected.iter().rev().cloned().collect();

    let query = Query::partition(Index::Gsi1, "USER#u1");
    let page = table.query(&query).await.unwrap();
    assert_eq!(page.items, mine, "items come back whole, in index order");

    let pages = all_pages(&*table, query.clone().limit(5)).await;
    assert!(pages.len() >= 3);
    assert_eq!(orgs(&concat_pages(pages, 5)), expected);
    let pages = all_pages(&*table, query.clone().descending().limit(5)).await;
    assert_eq!(orgs(&concat_pages(pages, 5)), reversed);

    let page = table
        .query(&query.clone().begins_with("ORG#o0"))
        .await
        .unwrap();
    assert_eq!(orgs(&page.items), expected[..10]);
    let pages = all_pages(
        &*table,
        query.clone().between("ORG#o03", "ORG#o05").limit(2),
    )
    .await;
    assert_eq!(orgs(&concat_pages(pages, 2)), expected[3..=5]);

    // Moving an item's index key moves it between index partitions.
    let moved = membership(11, "u1").with_gsi1(Key::new("USER#u3", "ORG#o11"));
    table.put(moved.clone(), Condition::Exists).await.unwrap();
    let page = table.query(&query).await.unwrap();
    assert_eq!(orgs(&page.items), expected[..11]);
    let page = table
        .query(&Query::partition(Index::Gsi1, "USER#u3"))
        .await
        .unwrap();
    assert_eq!(page.items, vec![moved]);
}

async fn expired_items_are_absent(table: Arc<dyn Table>) {
    let past = now() - 60;
    let future = now() + 3600;
    let session = |i: usize, expires_at: i64| {
        Item::new(Key::new("USER#s", format!("SESSION#{i}")))
            .with_gsi1(Key::new("SESSIONS", format!("{i:02}")))
            .expiring_at(expires_at)
            .with_attr("n", i)
    };
    // Live and expired items interleaved, as a TTL sweeper that has not run yet leaves them.
    let items: Vec<Item> = (0..8)
        .map(|i| session(i, if i.is_multiple_of(2) { future } else { past }))
        .collect();
    put_all(&*table, &items).await;
    let live: Vec<Item> = items.iter().step_by(2).cloned().collect();

    let expired = &items[1];
    assert_eq!(table.get(&expired.key).await.unwrap(), None);
    assert_eq!(
        table.get(&live[0].key).await.unwrap(),
        Some(live[0].clone())
    );

    let query = Query::partition(Index::Primary, "USER#s").begins_with("SESSION#");
    assert_eq!(table.query(&query).await.unwrap().items, live);
    let pages = all_pages(&*table, query.clone().limit(1)).await;
    assert_eq!(concat_pages(pages, 1), live);
    let pages = all_pages(&*table, query.clone().descending().limit(3)).await;
    assert_eq!(
        concat_pages(pages, 3),
        live.iter().rev().cloned().collect::<Vec<_>>()
    );
    let index = Query::partition(Index::Gsi1, "SESSIONS");
    let pages = all_pages(&*table, index.limit(2)).await;
    assert_eq!(concat_pages(pages, 2), live);

    // Conditions see an expired item as absent.
    assert_condition_failed(
        table
            .put(expired.clone().with_attr("n", 100), Condition::Exists)
            .await,
        None,
    );
    assert_condition_failed(
        table
            .put(expired.clone(), Condition::AttrEquals("n".into(), json!(1)))
            .await,
        None,
    );
    assert_condition_failed(
        table
            .update(&expired.key, object(json!({"n": 5})), Condition::Always)
            .await,
        None,
    );
    assert_condition_failed(table.delete(&expired.key, Condition::Exists).await, None);
    assert_condition_failed(
        table
            .transact(vec![WriteOp::Check {
                key: expired.key.clone(),
                condition: Condition::Exists,
            }])
            .await,
        Some(0),
    );

    // A new item may take an expired one's place, with nothing of the old one showing.
    let reborn = Item::new(expired.key.clone()).with_attr("fresh", true);
    table
        .put(reborn.clone(), Condition::NotExists)
        .await
        .unwrap();
    assert_eq!(table.get(&expired.key).await.unwrap(), Some(reborn));
    let other_expired = &items[3];
    table
        .transact(vec![WriteOp::Put {
            item: other_expired.clone().expiring_at(future),
            condition: Condition::NotExists,
        }])
        .await
        .unwrap();
    assert_eq!(
        table.get(&other_expired.key).await.unwrap(),
        Some(other_expired.clone().expiring_at(future))
    );

    // An expired counter starts over rather than counting on from its old value.
    let window = Key::new("RATE#198.51.100.1", "WINDOW");
    table
        .put(
            Item::new(window.clone())
                .with_attr("count", 41)
                .with_attr("note", "old")
                .expiring_at(past),
            Condition::Always,
        )
        .await
        .unwrap();
    assert_eq!(
        table.add(&window, "count", 1, Some(future)).await.unwrap(),
        1
    );
    assert_eq!(
        table.get(&window).await.unwrap(),
        Some(
            Item::new(window.clone())
                .with_attr("count", 1)
                .expiring_at(future)
        )
    );
}

async fn foreign_cursors_are_rejected(table: Arc<dyn Table>) {
    let items: Vec<Item> = (0..3)
        .flat_map(|i| {
            [
                Item::new(Key::new("ORG#1", format!("ITEM#{i}")))
                    .with_gsi1(Key::new("G#1", format!("{i}"))),
                Item::new(Key::new("ORG#2", format!("ITEM#{i}")))
                    .with_gsi1(Key::new("G#2", format!("{i}"))),
            ]
        })
        .collect();
    put_all(&*table, &items).await;

    let primary = Query::partition(Index::Primary, "ORG#1").limit(1);
    let cursor = table
        .query(&primary)
        .await
        .unwrap()
        .next
        .expect("more pages");
    let index = Query::partition(Index::Gsi1, "G#1").limit(1);
    let index_cursor = table.query(&index).await.unwrap().next.expect("more pages");

    let invalid = |query: Query| {
        let table = Arc::clone(&table);
        async move {
            let result = table.query(&query).await;
            assert!(
                matches!(result, Err(StoreError::InvalidCursor)),
                "expected InvalidCursor for {query:?}, got {result:?}"
            );
        }
    };
    // Another partition, another sort-key range, a primary cursor on the index, an index cursor
    // of another index partition.
    invalid(Query::partition(Index::Primary, "ORG#2").after(Some(cursor.clone()))).await;
    invalid(
        Query::partition(Index::Primary, "ORG#1")
            .begins_with("OTHER#")
            .after(Some(cursor.clone())),
    )
    .await;
    invalid(Query::partition(Index::Gsi1, "G#1").after(Some(cursor.clone()))).await;
    invalid(Query::partition(Index::Gsi1, "G#2").after(Some(index_cursor.clone()))).await;

    // The same cursors continue their own queries.
    let rest = table
        .query(&primary.clone().limit(10).after(Some(cursor)))
        .await
        .unwrap();
    assert_eq!(sort_keys(&rest.items), ["ITEM#1", "ITEM#2"]);
    let rest = table
        .query(&index.clone().limit(10).after(Some(index_cursor)))
        .await
        .unwrap();
    assert_eq!(sort_keys(&rest.items), ["ITEM#1", "ITEM#2"]);

    // Tokens that are not cursors at all never reach a backend.
    assert!(Cursor::parse("not-a-cursor").is_none());
    assert!(Cursor::parse("").is_none());
}

async fn bulk_puts_write_every_item_with_its_index_and_expiry(table: Arc<dyn Table>) {
    let now = dtap_shared::store::unix_now();
    // 60 items: more than one BatchWriteItem call (25 each), one of them already expired.
    let items: Vec<Item> = (0..60)
        .map(|n| {
            let item = Item::new(Key::new("BULK#1", format!("ITEM#{n:03}")))
                .with_gsi1(Key::new("BULKIDX#1", format!("{n:03}")))
                .with_attr("n", n)
                .expiring_at(now + 3600);
            if n == 7 {
                item.expiring_at(now - 10)
            } else {
                item
            }
        })
        .collect();
    let replaced = Item::new(Key::new("BULK#1", "ITEM#001")).with_attr("n", -1);
    table.put(replaced, Condition::Always).await.unwrap();
    table.put_all(items.clone()).await.unwrap();
    let stored = all_pages(
        table.as_ref(),
        Query::partition(Index::Primary, "BULK#1").limit(1000),
    )
    .await
    .concat();
    assert_eq!(stored.len(), 59, "every item but the expired one");
    assert_eq!(stored[1], items[1], "a bulk put replaces the item whole");
    let indexed = all_pages(
        table.as_ref(),
        Query::partition(Index::Gsi1, "BULKIDX#1").limit(1000),
    )
    .await
    .concat();
    assert_eq!(indexed.len(), 59);
    table.put_all(Vec::new()).await.unwrap();
    let twice = vec![items[0].clone(), items[0].clone()];
    assert!(
        table.put_all(twice).await.is_err(),
        "the same key twice is refused"
    );
}
