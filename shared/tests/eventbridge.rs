//! The ticker's EventBridge dispatcher against moto's server, through the real SDK client: scan
//! requests published on a bus reach a rule with the scanner's pattern (the one template.yaml
//! gives ScannerFunction), and what the rule delivers parses back into the orgs dispatched.
//!
//! moto delivers rule matches to SQS targets, so the rule's target is a queue, which the test
//! reads with plain HTTP calls to moto's SQS JSON protocol (no SQS SDK in the build for this).
//! An SDK interceptor records every PutEvents call: the entries sent and the answer.

mod support;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
};
use aws_sdk_eventbridge::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_eventbridge::error::BoxError;
use aws_sdk_eventbridge::operation::put_events::{PutEventsInput, PutEventsOutput};
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use dtap_shared::domain::ids::OrgId;
use dtap_shared::monitor::dispatch::{
    EVENT_SOURCE, EventBridgeDispatcher, SCAN_REQUESTED, ScanDispatcher, ScanRequest,
};
use serde_json::{Value, json};

/// One PutEvents call as the SDK sent it and as moto answered it.
#[derive(Debug, Default, Clone)]
struct PutEventsCall {
    /// (bus, source, detail-type, detail) of each entry.
    entries: Vec<(String, String, String, String)>,
    failed_entry_count: Option<i32>,
    event_ids: Vec<String>,
}

#[derive(Debug, Default, Clone)]
struct Recorder(Arc<Mutex<Vec<PutEventsCall>>>);

impl Recorder {
    fn calls(&self) -> Vec<PutEventsCall> {
        self.0.lock().unwrap().clone()
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "PutEventsRecorder"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(input) = context.input().downcast_ref::<PutEventsInput>() {
            let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
            let entries = input
                .entries()
                .iter()
                .map(|entry| {
                    (
                        text(entry.event_bus_name()),
                        text(entry.source()),
                        text(entry.detail_type()),
                        text(entry.detail()),
                    )
                })
                .collect();
            self.0.lock().unwrap().push(PutEventsCall {
                entries,
                ..PutEventsCall::default()
            });
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(output) = context.output_or_error()
            && let Some(output) = output.downcast_ref::<PutEventsOutput>()
        {
            let mut calls = self.0.lock().unwrap();
            let call = calls
                .last_mut()
                .expect("the call was recorded before it was sent");
            call.failed_entry_count = Some(output.failed_entry_count());
            call.event_ids = output
                .entries()
                .iter()
                .filter_map(|entry| entry.event_id().map(str::to_owned))
                .collect();
        }
        Ok(())
    }
}

/// One call to moto's SQS in the JSON protocol. moto picks the service from the credential scope
/// of the `Authorization` header, so the request carries a (never checked) SigV4 header for sqs.
async fn sqs(http: &reqwest::Client, action: &str, body: Value) -> Value {
    let response = http
        .post(format!("{}/", support::moto_url()))
        .header("Content-Type", "application/x-amz-json-1.0")
        .header("X-Amz-Target", format!("AmazonSQS.{action}"))
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, \
             SignedHeaders=host, Signature=00",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|err| panic!("SQS {action}: {err}"));
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(
        status.is_success(),
        "SQS {action} answered {status}: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("SQS {action} answered {text}: {err}"))
}

/// Every message the queue holds now (moto delivers rule matches synchronously, inside
/// PutEvents). Received messages stay invisible for the rest of the test.
async fn drain(http: &reqwest::Client, queue_url: &str) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..20 {
        let answer = sqs(
            http,
            "ReceiveMessage",
            json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 600}),
        )
        .await;
        let messages = answer["Messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            return events;
        }
        for message in messages {
            let body = message["Body"].as_str().expect("a message body");
            events.push(serde_json::from_str(body).expect("the body is the event as JSON"));
        }
    }
    panic!("the queue kept answering messages");
}

/// A bus of its own, a rule with the scanner's pattern on it, and a queue as the rule's target.
struct Wiring {
    client: Client,
    recorder: Recorder,
    http: reqwest::Client,
    bus: String,
    queue_url: String,
}

async fn wiring() -> Wiring {
    let recorder = Recorder::default();
    let config = aws_sdk_eventbridge::config::Builder::from(&support::moto_config().await)
        .interceptor(recorder.clone())
        .build();
    let client = Client::from_conf(config);
    let http = reqwest::Client::new();

    let bus = support::unique_name("dtap-scans");
    client.create_event_bus().name(&bus).send().await.unwrap();

    let queue = sqs(
        &http,
        "CreateQueue",
        json!({"QueueName": support::unique_name("dtap-scanner")}),
    )
    .await;
    let queue_url = queue["QueueUrl"].as_str().expect("a queue URL").to_owned();
    let attributes = sqs(
        &http,
        "GetQueueAttributes",
        json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
    )
    .await;
    let queue_arn = attributes["Attributes"]["QueueArn"]
        .as_str()
        .expect("a queue ARN");

    // ScannerFunction's EventBridgeRule pattern in template.yaml.
    let rule = support::unique_name("dtap-scan-requested");
    let pattern = json!({"source": [EVENT_SOURCE], "detail-type": [SCAN_REQUESTED]});
    client
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    client
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            Target::builder()
                .id("scanner")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    Wiring {
        client,
        recorder,
        http,
        bus,
        queue_url,
    }
}

#[tokio::test]
async fn dispatching_23_orgs_publishes_23_scan_requests_ten_per_call() {
    let wiring = wiring().await;
    let orgs: Vec<OrgId> = (0..23).map(|_| OrgId::generate()).collect();

    EventBridgeDispatcher::new(wiring.client.clone(), &wiring.bus)
        .dispatch(orgs.clone())
        .await
        .unwrap();

    // Three calls of at most ten entries, every entry a scan request on our bus.
    let calls = wiring.recorder.calls();
    let sizes: Vec<usize> = calls.iter().map(|call| call.entries.len()).collect();
    assert_eq!(sizes, vec![10, 10, 3]);
    let mut sent = Vec::new();
    for call in &calls {
        assert_eq!(call.failed_entry_count, Some(0), "{call:?}");
        assert_eq!(call.event_ids.len(), call.entries.len(), "{call:?}");
        for (bus, source, detail_type, detail) in &call.entries {
            assert_eq!(bus, &wiring.bus);
            assert_eq!(source, EVENT_SOURCE);
            assert_eq!(detail_type, SCAN_REQUESTED);
            let detail: Value = serde_json::from_str(detail).unwrap();
            assert_eq!(
                detail.as_object().map(|fields| fields.len()),
                Some(1),
                "{detail}"
            );
            sent.push(detail["org_id"].as_str().unwrap().to_owned());
        }
    }
    let expected: Vec<String> = orgs.iter().map(ToString::to_string).collect();
    assert_eq!(sent, expected, "one entry per org, in the order given");
    let event_ids: HashSet<&String> = calls.iter().flat_map(|call| &call.event_ids).collect();
    assert_eq!(event_ids.len(), 23);

    // The rule delivered each of them once, and each parses back to its org.
    let delivered = drain(&wiring.http, &wiring.queue_url).await;
    assert_eq!(delivered.len(), 23, "{delivered:#?}");
    let mut requested = BTreeSet::new();
    for event in &delivered {
        assert_eq!(event["source"], EVENT_SOURCE);
        assert!(
            event_ids.contains(&event["id"].as_str().unwrap().to_owned()),
            "{event}"
        );
        let request = ScanRequest::from_event(event)
            .unwrap_or_else(|| panic!("a scan request the scanner accepts: {event}"));
        assert!(
            requested.insert(request.org_id.to_string()),
            "twice: {event}"
        );
    }
    assert_eq!(requested, expected.iter().cloned().collect::<BTreeSet<_>>());

    // The same event with another detail-type is not a scan request.
    let mut other = delivered[0].clone();
    other["detail-type"] = json!("ScanFinished");
    assert_eq!(ScanRequest::from_event(&other), None);
}

#[tokio::test]
async fn other_events_on_the_bus_neither_reach_the_scanner_nor_parse_as_requests() {
    let wiring = wiring().await;
    let org = OrgId::generate();
    let detail = json!({"org_id": org.to_string()}).to_string();
    let entry = |source: &str, detail_type: &str| {
        PutEventsRequestEntry::builder()
            .event_bus_name(&wiring.bus)
            .source(source)
            .detail_type(detail_type)
            .detail(&detail)
            .build()
    };
    let answer = wiring
        .client
        .put_events()
        .entries(entry(EVENT_SOURCE, "ScanFinished"))
        .entries(entry("digitaltap.other", SCAN_REQUESTED))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.failed_entry_count(), 0);
    assert!(
        drain(&wiring.http, &wiring.queue_url).await.is_empty(),
        "the rule matches only source {EVENT_SOURCE} with detail-type {SCAN_REQUESTED}"
    );

    // What from_event accepts: the detail-type decides, then a well-formed org id.
    let event = |detail_type: &str, detail: Value| {
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": detail_type,
            "source": EVENT_SOURCE,
            "account": "123456789012",
            "time": "2026-03-03T21:01:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        })
    };
    let org_detail = json!({"org_id": org.to_string()});
    assert_eq!(
        ScanRequest::from_event(&event(SCAN_REQUESTED, org_detail.clone())),
        Some(ScanRequest { org_id: org })
    );
    assert_eq!(
        ScanRequest::from_event(&event("ScanFinished", org_detail)),
        None
    );
    assert_eq!(
        ScanRequest::from_event(&event(SCAN_REQUESTED, json!({"org_id": "not-an-org"}))),
        None
    );
    assert_eq!(
        ScanRequest::from_event(&event(SCAN_REQUESTED, json!({}))),
        None
    );
}

fn repo_file(path: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

#[test]
fn the_sample_events_are_what_the_scanner_expects() {
    let scan: Value = serde_json::from_str(&repo_file("events/eventbridge-scan-requested.json"))
        .expect("valid JSON");
    assert_eq!(scan["source"], EVENT_SOURCE);
    let request = ScanRequest::from_event(&scan).expect("the sample is a scan request");
    assert_eq!(
        Some(request.org_id.to_string().as_str()),
        scan["detail"]["org_id"].as_str()
    );

    // The ticker's schedule event is not a scan request.
    let tick: Value =
        serde_json::from_str(&repo_file("events/eventbridge-scheduled.json")).expect("valid JSON");
    assert_eq!(ScanRequest::from_event(&tick), None);

    // The template's rule names the same source and detail-type as the code.
    let template = repo_file("template.yaml");
    assert!(template.contains(EVENT_SOURCE) && template.contains(SCAN_REQUESTED));
}
