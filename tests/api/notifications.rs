//! Notification channels end to end against a local receiver standing in for Slack, Teams and
//! PagerDuty (and the mail outbox for email): the payload each service takes, `test`, retries on
//! 5xx and not on 4xx, the failing rule, secrets masked, input rules (AWS mode's URL rule too),
//! tenancy and roles, and `publish` — what the scanner and the action path call.

use std::time::{Duration, Instant};

use dtap_fakes::{FakeDatabricks, FakeReceiver};
use dtap_shared::domain::ids::PlatformId;
use dtap_shared::domain::platform::PlatformKind;
use dtap_shared::notify::{self, ClusterRef, NotificationEvent};
use dtap_shared::secrets::ExposeSecret;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Reply, Session, TestApp, call, get, invited_member, org_id_of as org_of, post, spawn_app_with,
};

const ROUTING_KEY: &str = "R0UTINGkey0123456789abcdefABCDEF";
const SLACK_PATH: &str = "/services/T0001/B0002/XXXXsecretXXXX";
const TEAMS_PATH: &str = "/workflows/abcdef/triggers/manual/paths/invoke";
const PD_PATH: &str = "/v2/enqueue";

/// The app with PagerDuty's endpoint on the receiver.
async fn app_with_receiver() -> (TestApp, FakeReceiver) {
    let receiver = FakeReceiver::start().await;
    let pagerduty = receiver.url_for(PD_PATH);
    let app = spawn_app_with(|settings| settings.pagerduty_url = pagerduty).await;
    (app, receiver)
}

async fn add_channel(app: &TestApp, session: &Session, body: Value) -> Reply {
    post(app, "/v1/notifications/channels", &session.token, body).await
}

async fn created(app: &TestApp, session: &Session, body: Value) -> String {
    let reply = add_channel(app, session, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_str().unwrap().to_owned()
}

fn slack(receiver: &FakeReceiver) -> Value {
    json!({"type": "slack", "config": {"webhook_url": receiver.url_for(SLACK_PATH)}})
}

fn teams(receiver: &FakeReceiver) -> Value {
    json!({"type": "teams", "config": {"webhook_url": format!("{}?api-version=2016-06-01&sig=S1GSECRET", receiver.url_for(TEAMS_PATH))}})
}

fn pagerduty() -> Value {
    json!({"type": "pagerduty", "config": {"routing_key": ROUTING_KEY}})
}

async fn test_channel(app: &TestApp, session: &Session, id: &str) -> Reply {
    let reply = post(
        app,
        "/v1/notifications/test",
        &session.token,
        json!({"channel_id": id}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
}

fn assert_no_secret(body: &Value) {
    let text = body.to_string();
    for secret in ["XXXXsecretXXXX", "S1GSECRET", ROUTING_KEY, "B0002"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

fn assert_slack_shape(body: &Value) {
    assert!(
        body["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    let blocks = body["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "header", "{body}");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    for block in blocks {
        assert!(
            ["header", "section", "context"].contains(&block["type"].as_str().unwrap()),
            "{block}"
        );
    }
}

fn assert_teams_shape(body: &Value) {
    assert_eq!(body["type"], "message", "{body}");
    let attachments = body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["body"][0]["type"], "TextBlock");
}

fn assert_pagerduty_trigger(body: &Value) {
    assert_eq!(body["routing_key"], ROUTING_KEY, "{body}");
    assert_eq!(body["event_action"], "trigger");
    assert!(
        body["dedup_key"]
            .as_str()
            .is_some_and(|k| !k.is_empty() && k.len() <= 255)
    );
    let payload = &body["payload"];
    let summary = payload["summary"].as_str().unwrap();
    assert!(!summary.is_empty() && summary.len() <= 1024);
    assert!(payload["source"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        ["critical", "error", "warning", "info"].contains(&payload["severity"].as_str().unwrap())
    );
}

#[tokio::test]
async fn channels_are_created_with_their_secrets_masked_and_kept_in_the_secret_store() {
    let (app, receiver) = app_with_receiver().await;
    let jane = app.signed_up("jane@acme.com").await;
    let reply = add_channel(&app, &jane, slack(&receiver)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let data = &reply.body["data"];
    let id = data["id"].as_str().unwrap();
    assert!(id.starts_with("nch_"), "{data}");
    assert_eq!(data["type"], "slack");
    assert_eq!(data["status"], "active");
    assert_eq!(
        data["config"]["webhook_url"],
        format!("{}/services/T000…/****", receiver.url())
    );
    assert_eq!(data["events"].as_array().unwrap().len(), 6);
    let teams_id = created(&app, &jane, teams(&receiver)).await;
    let pd_id = created(&app, &jane, pagerduty()).await;
    let email_id = created(
        &app,
        &jane,
        json!({"type": "email", "config": {"addresses": ["ops@acme.com", "Oncall@Acme.com"]},
               "events": ["action_failed"]}),
    )
    .await;

    let listed = get(&app, "/v1/notifications/channels", &jane.token).await;
    assert_eq!(listed.status, StatusCode::OK);
    let channels = listed.body["data"].as_array().unwrap();
    assert_eq!(
        channels
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec![id, teams_id.as_str(), pd_id.as_str(), email_id.as_str()]
    );
    assert_no_secret(&listed.body);
    assert_eq!(channels[2]["config"]["routing_key"], "R0UT…****");
    assert_eq!(
        channels[2]["events"],
        json!(["idle_cluster", "action_failed"])
    );
    assert_eq!(
        channels[3]["config"]["addresses"],
        json!(["ops@acme.com", "oncall@acme.com"])
    );
    let one = get(
        &app,
        &format!("/v1/notifications/channels/{pd_id}"),
        &jane.token,
    )
    .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_no_secret(&one.body);

    // The secret store holds the real values.
    let stored = app
        .state
        .secrets
        .get(&format!("notification/{teams_id}"))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.expose_secret().contains("sig=S1GSECRET"));
}

#[tokio::test]
async fn test_sends_each_service_the_payload_it_accepts() {
    let (app, receiver) = app_with_receiver().await;
    let jane = app.signed_up("jane@acme.com").await;
    let slack_id = created(&app, &jane, slack(&receiver)).await;
    let teams_id = created(&app, &jane, teams(&receiver)).await;
    let pd_id = created(&app, &jane, pagerduty()).await;
    let email_id = created(
        &app,
        &jane,
        json!({"type": "email", "config": {"email": "ops@acme.com"}}),
    )
    .await;

    for id in [&slack_id, &teams_id, &pd_id, &email_id] {
        let reply = test_channel(&app, &jane, id).await;
        assert_eq!(reply.body["data"]["delivered"], true, "{}", reply.body);
        assert!(reply.body["data"].get("error").is_none());
    }
    let slack = receiver.bodies(SLACK_PATH);
    assert_eq!(slack.len(), 1);
    assert_slack_shape(&slack[0]);
    let teams = receiver.bodies(TEAMS_PATH);
    assert_eq!(teams.len(), 1);
    assert_teams_shape(&teams[0]);
    // A test incident is resolved at once, so none is left open.
    let pd = receiver.bodies(PD_PATH);
    assert_eq!(pd.len(), 2, "{pd:?}");
    assert_pagerduty_trigger(&pd[0]);
    assert_eq!(pd[1]["event_action"], "resolve");
    assert_eq!(pd[1]["dedup_key"], pd[0]["dedup_key"]);
    assert_eq!(pd[1]["routing_key"], ROUTING_KEY);
    let mails = app.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = mails.last().unwrap();
    assert_eq!(mail.to, "ops@acme.com");
    assert!(
        mail.subject.starts_with("[Digital Tap] "),
        "{}",
        mail.subject
    );
    assert!(mail.text.contains("test"), "{}", mail.text);

    // Each test is a recorded delivery.
    let deliveries = get(
        &app,
        &format!("/v1/notifications/channels/{slack_id}/deliveries"),
        &jane.token,
    )
    .await;
    assert_eq!(deliveries.status, StatusCode::OK, "{}", deliveries.body);
    let deliveries = deliveries.body["data"].as_array().unwrap().clone();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["event"], "test");
    assert_eq!(deliveries[0]["status"], "delivered");
    assert_eq!(deliveries[0]["attempts"][0]["status_code"], 200);
}

#[tokio::test]
async fn test_retries_on_5xx_but_not_on_4xx_and_says_why_it_failed() {
    let (app, receiver) = app_with_receiver().await;
    let jane = app.signed_up("jane@acme.com").await;
    let id = created(&app, &jane, slack(&receiver)).await;

    receiver.answer_next(&[503, 502]);
    let reply = test_channel(&app, &jane, &id).await;
    assert_eq!(reply.body["data"]["delivered"], true, "{}", reply.body);
    let codes: Vec<u64> = reply.body["data"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, vec![503, 502, 200]);

    receiver.answer_next(&[404]);
    let reply = test_channel(&app, &jane, &id).await;
    let data = &reply.body["data"];
    assert_eq!(data["delivered"], false, "{data}");
    assert_eq!(
        data["attempts"].as_array().unwrap().len(),
        1,
        "no retry on a 4xx"
    );
    let error = data["error"].as_str().unwrap();
    assert!(error.contains("HTTP 404"), "{error}");
    assert_no_secret(&reply.body);

    receiver.answer_next(&[500, 500, 500]);
    let reply = test_channel(&app, &jane, &id).await;
    assert_eq!(reply.body["data"]["delivered"], false);
    assert_eq!(reply.body["data"]["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(receiver.bodies(SLACK_PATH).len(), 3 + 1 + 3);

    let deliveries = get(
        &app,
        &format!("/v1/notifications/channels/{id}/deliveries?limit=2"),
        &jane.token,
    )
    .await;
    let listed = deliveries.body["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["status"], "failed");
    assert!(listed[1]["error"].as_str().unwrap().contains("HTTP 404"));
    let bad_limit = get(
        &app,
        &format!("/v1/notifications/channels/{id}/deliveries?limit=0"),
        &jane.token,
    )
    .await;
    bad_limit.assert_error(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn an_unanswered_attempt_times_out_and_an_unreachable_service_is_a_reason_not_an_error() {
    let receiver = FakeReceiver::start().await;
    let app = spawn_app_with(|settings| {
        settings.notify_attempt_timeout = Duration::from_millis(200);
    })
    .await;
    let jane = app.signed_up("jane@acme.com").await;
    let id = created(&app, &jane, slack(&receiver)).await;
    receiver.delay(Duration::from_secs(2));
    let started = Instant::now();
    let reply = test_channel(&app, &jane, &id).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.body["data"]["delivered"], false);
    assert!(
        reply.body["data"]["error"]
            .as_str()
            .unwrap()
            .contains("no answer within 200 ms"),
        "{}",
        reply.body
    );
    // Nothing listens on port 9 of loopback.
    let gone = created(
        &app,
        &jane,
        json!({"type": "teams", "config": {"webhook_url": "http://127.0.0.1:9/hook"}}),
    )
    .await;
    let reply = test_channel(&app, &jane, &gone).await;
    assert_eq!(reply.body["data"]["delivered"], false);
    assert_eq!(
        reply.body["data"]["error"],
        "could not connect to the service"
    );
}

#[tokio::test]
async fn five_failed_deliveries_in_a_row_mark_a_channel_failing_until_one_succeeds() {
    let (app, receiver) = app_with_receiver().await;
    let jane = app.signed_up("jane@acme.com").await;
    let id = created(&app, &jane, slack(&receiver)).await;
    let path = format!("/v1/notifications/channels/{id}");
    receiver.answer_always(400);
    for n in 1..=5 {
        test_channel(&app, &jane, &id).await;
        let channel = get(&app, &path, &jane.token).await;
        let expected = if n < 5 { "active" } else { "failing" };
        assert_eq!(channel.body["data"]["status"], expected, "after {n}");
        assert_eq!(channel.body["data"]["consecutive_failures"], n);
    }
    let channel = get(&app, &path, &jane.token).await;
    assert!(
        channel.body["data"]["last_error"]
            .as_str()
            .unwrap()
            .contains("HTTP 400")
    );
    receiver.answer_always(200);
    let reply = test_channel(&app, &jane, &id).await;
    assert_eq!(reply.body["data"]["delivered"], true);
    let channel = get(&app, &path, &jane.token).await;
    assert_eq!(channel.body["data"]["status"], "active");
    assert_eq!(channel.body["data"]["consecutive_failures"], 0);
}

#[tokio::test]
async fn bad_input_is_400_naming_the_field_and_stores_nothing() {
    let (app, receiver) = app_with_receiver().await;
    let jane = app.signed_up("jane@acme.com").await;
    let hook = receiver.url_for(SLACK_PATH);
    let cases = [
        (
            json!({"type": "discord", "config": {"webhook_url": hook}}),
            "type: must be one of",
        ),
        (
            json!({"config": {"webhook_url": hook}}),
            "type: is required",
        ),
        (json!({"type": "slack"}), "config: is required"),
        (
            json!({"type": "slack", "config": {}}),
            "config.webhook_url: is required",
        ),
        (
            json!({"type": "slack", "config": {"webhook_url": "not a url"}}),
            "config.webhook_url: must be",
        ),
        (
            json!({"type": "slack", "config": {"webhook_url": hook, "channel": "#ops"}}),
            "config.channel: ",
        ),
        (
            json!({"type": "teams", "config": {"webhook_url": 42}}),
            "config.webhook_url: must be a string",
        ),
        (
            json!({"type": "pagerduty", "config": {"routing_key": "abc"}}),
            "config.routing_key: ",
        ),
        (
            json!({"type": "pagerduty", "config": {"routing_key": ROUTING_KEY}, "events": ["cluster_resumed"]}),
            "events[0]: ",
        ),
        (
            json!({"type": "email", "config": {"addresses": ["not-an-email"]}}),
            "config.addresses[0]: ",
        ),
        (
            json!({"type": "slack", "config": {"webhook_url": hook}, "events": ["idle_cluster", "meteor_strike"]}),
            "events[1]: must be one of",
        ),
        (
            json!({"type": "slack", "config": {"webhook_url": hook}, "events": []}),
            "events: ",
        ),
        (
            json!({"type": "slack", "config": {"webhook_url": hook}, "event": ["idle_cluster"]}),
            "event: unknown field",
        ),
    ];
    for (body, expected) in cases {
        let reply = add_channel(&app, &jane, body.clone()).await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert!(
            reply.error_message().starts_with(expected),
            "{body}: {}",
            reply.error_message()
        );
        assert_no_secret(&reply.body);
    }
    let listed = get(&app, "/v1/notifications/channels", &jane.token).await;
    assert_eq!(listed.body["data"], json!([]));
    let missing = post(&app, "/v1/notifications/test", &jane.token, json!({})).await;
    missing.assert_error(400, "VALIDATION_ERROR");
    assert!(
        missing
            .error_message()
            .starts_with("channel_id: is required")
    );
}

#[tokio::test]
async fn aws_mode_accepts_only_https_webhooks_to_public_hosts() {
    let app = spawn_app_with(|settings| settings.allow_local_endpoints = false).await;
    let jane = app.signed_up("jane@acme.com").await;
    for url in [
        "http://hooks.slack.com/services/T0001/B0002/XXXX",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost:8443/hook",
        "https://hooks.internal/hook",
    ] {
        let reply = add_channel(
            &app,
            &jane,
            json!({"type": "slack", "config": {"webhook_url": url}}),
        )
        .await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert!(
            reply.error_message().starts_with("config.webhook_url: "),
            "{url}: {}",
            reply.error_message()
        );
        assert!(!reply.error_message().contains(url));
    }
    let listed = get(&app, "/v1/notifications/channels", &jane.token).await;
    assert_eq!(listed.body["data"], json!([]));
    let ok = add_channel(
        &app,
        &jane,
        json!({"type": "slack", "config": {"webhook_url": "https://hooks.slack.com/services/T0001/B0002/XXXX"}}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
}

#[tokio::test]
async fn update_replaces_config_or_events_and_delete_removes_the_secret() {
    let (app, receiver) = app_with_receiver().await;
    let jane = app.signed_up("jane@acme.com").await;
    let id = created(&app, &jane, slack(&receiver)).await;
    let path = format!("/v1/notifications/channels/{id}");
    let updated = call(
        &app,
        Method::PUT,
        &path,
        &jane.token,
        Some(json!({"events": ["cluster_hibernated", "idle_cluster"]})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(
        updated.body["data"]["events"],
        json!(["idle_cluster", "cluster_hibernated"])
    );
    let new_url = receiver.url_for("/services/T9999/B9999/NEWsecret");
    let updated = call(
        &app,
        Method::PUT,
        &path,
        &jane.token,
        Some(json!({"config": {"webhook_url": new_url}})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(
        updated.body["data"]["config"]["webhook_url"],
        format!("{}/services/T999…/****", receiver.url())
    );
    test_channel(&app, &jane, &id).await;
    assert_eq!(receiver.bodies("/services/T9999/B9999/NEWsecret").len(), 1);
    let empty = call(&app, Method::PUT, &path, &jane.token, Some(json!({}))).await;
    empty.assert_error(400, "VALIDATION_ERROR");
    let retype = call(
        &app,
        Method::PUT,
        &path,
        &jane.token,
        Some(json!({"type": "teams"})),
    )
    .await;
    retype.assert_error(400, "VALIDATION_ERROR");

    let removed = call(&app, Method::DELETE, &path, &jane.token, None).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert!(
        app.state
            .secrets
            .get(&format!("notification/{id}"))
            .await
            .unwrap()
            .is_none()
    );
    get(&app, &path, &jane.token)
        .await
        .assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn another_orgs_channel_is_404_and_roles_are_enforced() {
    let (app, receiver) = app_with_receiver().await;
    let jane = app.signed_up("jane@acme.com").await;
    let id = created(&app, &jane, slack(&receiver)).await;
    let path = format!("/v1/notifications/channels/{id}");

    let mallory = app.signed_up("mallory@evil.com").await;
    for (method, route, body) in [
        (Method::GET, path.clone(), None),
        (
            Method::PUT,
            path.clone(),
            Some(json!({"events": ["idle_cluster"]})),
        ),
        (Method::DELETE, path.clone(), None),
        (Method::GET, format!("{path}/deliveries"), None),
        (
            Method::POST,
            "/v1/notifications/test".to_owned(),
            Some(json!({"channel_id": id})),
        ),
    ] {
        let reply = call(&app, method.clone(), &route, &mallory.token, body).await;
        reply.assert_error(404, "NOT_FOUND");
    }
    let theirs = get(&app, "/v1/notifications/channels", &mallory.token).await;
    assert_eq!(theirs.body["data"], json!([]));
    for malformed in ["nch_short", "plat_01hzy8k7m3q4w5e6r7t8y9u0ia", "x"] {
        get(
            &app,
            &format!("/v1/notifications/channels/{malformed}"),
            &jane.token,
        )
        .await
        .assert_error(404, "NOT_FOUND");
    }

    let listed = get(&app, "/v1/orgs", &jane.token).await;
    let slug = listed.body["data"][0]["slug"].as_str().unwrap().to_owned();
    for role in ["viewer", "member"] {
        let who = invited_member(&app, &jane, &slug, &format!("{role}@acme.com"), role).await;
        for route in [
            path.clone(),
            format!("{path}/deliveries"),
            "/v1/notifications/channels".to_owned(),
        ] {
            let reply = get(&app, &route, &who.token).await;
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{role} reads {route}: {}",
                reply.body
            );
            assert_no_secret(&reply.body);
        }
        for (method, route, body) in [
            (
                Method::POST,
                "/v1/notifications/channels".to_owned(),
                Some(slack(&receiver)),
            ),
            (
                Method::PUT,
                path.clone(),
                Some(json!({"events": ["idle_cluster"]})),
            ),
            (Method::DELETE, path.clone(), None),
            (
                Method::POST,
                "/v1/notifications/test".to_owned(),
                Some(json!({"channel_id": id})),
            ),
        ] {
            let reply = call(&app, method.clone(), &route, &who.token, body).await;
            reply.assert_error(403, "FORBIDDEN");
        }
    }
    let admin = invited_member(&app, &jane, &slug, "admin@acme.com", "admin").await;
    created(&app, &admin, teams(&receiver)).await;
    assert!(
        receiver.received().is_empty(),
        "nothing was sent by refused calls"
    );
}

fn cluster(platform_id: &PlatformId) -> ClusterRef {
    ClusterRef {
        platform_id: platform_id.clone(),
        platform: PlatformKind::Databricks,
        cluster_id: "0301-idle-etl".into(),
        name: "Idle ETL".into(),
    }
}

#[tokio::test]
async fn publish_delivers_once_per_subscribed_channel_and_pagerduty_triggers_then_resolves() {
    let (app, receiver) = app_with_receiver().await;
    let jane = app.signed_up("jane@acme.com").await;
    let org = org_of(&app, &jane).await;
    created(&app, &jane, slack(&receiver)).await;
    // Teams hears only of idle clusters; email only of failures.
    created(
        &app,
        &jane,
        json!({"type": "teams", "config": {"webhook_url": receiver.url_for(TEAMS_PATH)}, "events": ["idle_cluster"]}),
    )
    .await;
    created(&app, &jane, pagerduty()).await;
    created(
        &app,
        &jane,
        json!({"type": "email", "config": {"addresses": ["ops@acme.com"]}, "events": ["idle_cluster", "cluster_hibernated"]}),
    )
    .await;
    let platform = PlatformId::generate();
    let since = dtap_shared::clock::Clock::now(&app.clock) - chrono::Duration::minutes(30);

    let idle = notify::publish(
        &app.state,
        &org,
        NotificationEvent::idle_cluster(cluster(&platform), since, 30, Some(1.25)),
    )
    .await;
    assert_eq!((idle.attempted, idle.delivered), (4, 4), "{idle:?}");
    let hibernated = notify::publish(
        &app.state,
        &org,
        NotificationEvent::cluster_hibernated(cluster(&platform), "Idle for 30 minutes"),
    )
    .await;
    // Slack, email, and PagerDuty's resolve; Teams does not subscribe.
    assert_eq!(
        (hibernated.attempted, hibernated.delivered),
        (3, 3),
        "{hibernated:?}"
    );

    let slack = receiver.bodies(SLACK_PATH);
    assert_eq!(slack.len(), 2);
    slack.iter().for_each(assert_slack_shape);
    assert!(
        slack[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Idle cluster")
    );
    assert!(
        slack[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("Cluster hibernated")
    );
    let teams = receiver.bodies(TEAMS_PATH);
    assert_eq!(teams.len(), 1);
    assert_teams_shape(&teams[0]);
    let pd = receiver.bodies(PD_PATH);
    assert_eq!(pd.len(), 2, "{pd:?}");
    assert_pagerduty_trigger(&pd[0]);
    assert_eq!(pd[0]["payload"]["class"], "idle_cluster");
    assert_eq!(pd[0]["payload"]["source"], "databricks/0301-idle-etl");
    assert_eq!(pd[1]["event_action"], "resolve");
    assert_eq!(pd[1]["dedup_key"], pd[0]["dedup_key"]);
    let mails: Vec<_> = app
        .mails()
        .into_iter()
        .filter(|m| m.to == "ops@acme.com")
        .collect();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[0].subject, "[Digital Tap] Idle cluster");
    assert_eq!(mails[1].subject, "[Digital Tap] Cluster hibernated");

    // The incident is closed: clearing again, or a resume, resolves nothing more.
    notify::clear(&app.state, &org, &cluster(&platform)).await;
    notify::publish(
        &app.state,
        &org,
        NotificationEvent::cluster_resumed(cluster(&platform)),
    )
    .await;
    assert_eq!(receiver.bodies(PD_PATH).len(), 2);

    // A failed hibernation in a new episode is a new incident, resolved when the cluster is busy
    // again.
    let later = since + chrono::Duration::hours(2);
    notify::publish(
        &app.state,
        &org,
        NotificationEvent::action_failed(cluster(&platform), "hibernate", "HTTP 503", Some(later)),
    )
    .await;
    notify::clear(&app.state, &org, &cluster(&platform)).await;
    let pd = receiver.bodies(PD_PATH);
    assert_eq!(pd.len(), 4);
    assert_eq!(pd[2]["payload"]["severity"], "critical");
    assert_ne!(pd[2]["dedup_key"], pd[0]["dedup_key"]);
    assert_eq!(pd[3]["event_action"], "resolve");
    assert_eq!(pd[3]["dedup_key"], pd[2]["dedup_key"]);
}

#[tokio::test]
async fn a_broken_channel_neither_fails_publish_nor_holds_it_past_its_bound() {
    let receiver = FakeReceiver::start().await;
    let slow = FakeReceiver::start().await;
    let app = spawn_app_with(|settings| {
        settings.notify_attempt_timeout = Duration::from_millis(300);
    })
    .await;
    let jane = app.signed_up("jane@acme.com").await;
    let org = org_of(&app, &jane).await;
    created(&app, &jane, slack(&receiver)).await;
    created(
        &app,
        &jane,
        json!({"type": "teams", "config": {"webhook_url": slow.url_for(TEAMS_PATH)}}),
    )
    .await;
    slow.delay(Duration::from_secs(30));
    let started = Instant::now();
    let report = notify::publish(
        &app.state,
        &org,
        NotificationEvent::cluster_hibernated(cluster(&PlatformId::generate()), "manual"),
    )
    .await;
    let took = started.elapsed();
    // Three attempts of 300 ms at most, whatever the backoff: bounded by 3 × the timeout.
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(
        (report.attempted, report.delivered, report.failed),
        (2, 1, 1)
    );
    assert_eq!(receiver.bodies(SLACK_PATH).len(), 1);
}

/// Drives the real scanner: an idle cluster on a fake Databricks, hibernated automatically.
#[tokio::test]
async fn an_idle_cluster_hibernated_by_the_scanner_notifies_each_channel_once_per_event() {
    use dtap_shared::monitor::scan_org;

    let (app, receiver) = app_with_receiver().await;
    let jane = app.signed_up("jane@acme.com").await;
    let org = org_of(&app, &jane).await;
    let fake = FakeDatabricks::start().await;
    fake.add_cluster(json!({
        "cluster_name": "Idle ETL",
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "i3.xlarge",
        "num_workers": 2,
        "aws_attributes": {"zone_id": "us-east-1a"},
    }));
    let connected = post(
        &app,
        "/v1/platforms",
        &jane.token,
        json!({"type": "databricks", "name": "Prod", "region": "us-east-1",
               "credentials": {"workspace_url": fake.url(), "token": fake.config().token}}),
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let configured = call(
        &app,
        Method::PUT,
        "/v1/monitoring/config",
        &jane.token,
        Some(json!({"auto_hibernate": true, "idle_threshold_minutes": 10, "scan_interval_minutes": 5})),
    )
    .await;
    assert_eq!(configured.status, StatusCode::OK, "{}", configured.body);
    created(&app, &jane, slack(&receiver)).await;
    created(&app, &jane, teams(&receiver)).await;
    created(&app, &jane, pagerduty()).await;

    for _ in 0..6 {
        scan_org(&app.state, &org).await.unwrap();
        app.clock.advance(chrono::Duration::minutes(5));
    }
    let kinds = |path: &str| -> Vec<String> {
        receiver
            .bodies(path)
            .iter()
            .map(|body| body["text"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let slack = kinds(SLACK_PATH);
    assert_eq!(slack.len(), 2, "{slack:?}");
    assert!(slack[0].starts_with("Idle cluster") && slack[1].starts_with("Cluster hibernated"));
    assert_eq!(receiver.bodies(TEAMS_PATH).len(), 2);
    let pd = receiver.bodies(PD_PATH);
    assert_eq!(
        pd.iter()
            .map(|b| b["event_action"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["trigger", "resolve"]
    );
    assert_eq!(pd[0]["dedup_key"], pd[1]["dedup_key"]);
}

/// A person's hibernate and resume, and a schedule's run, reach the channels too.
#[tokio::test]
async fn manual_actions_and_schedule_runs_are_announced() {
    let (app, receiver) = app_with_receiver().await;
    let jane = app.signed_up("jane@acme.com").await;
    created(&app, &jane, slack(&receiver)).await;
    let fake = FakeDatabricks::start().await;
    let cluster = fake.add_cluster(json!({"cluster_name": "Reports", "node_type_id": "i3.xlarge",
                                          "num_workers": 2, "aws_attributes": {"zone_id": "us-east-1a"}}));
    let connected = post(
        &app,
        "/v1/platforms",
        &jane.token,
        json!({"type": "databricks", "name": "Prod", "region": "us-east-1",
               "credentials": {"workspace_url": fake.url(), "token": fake.config().token}}),
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let texts = |receiver: &FakeReceiver| -> Vec<String> {
        receiver
            .bodies(SLACK_PATH)
            .iter()
            .map(|body| body["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    };

    let path = format!("/v1/clusters/databricks/{cluster}");
    let down = post(&app, &format!("{path}/hibernate"), &jane.token, json!({})).await;
    assert_eq!(down.status, StatusCode::OK, "{}", down.body);
    let up = post(&app, &format!("{path}/resume"), &jane.token, json!({})).await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.body);
    let said = texts(&receiver);
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[0].contains("hibernated"), "{said:?}");
    assert!(said[1].contains("resumed"), "{said:?}");

    // A refused hibernate of a cluster already hibernated is the caller's 409, not news.
    post(&app, &format!("{path}/hibernate"), &jane.token, json!({})).await;
    post(&app, &format!("{path}/hibernate"), &jane.token, json!({}))
        .await
        .assert_error(409, "CONFLICT");
    assert_eq!(texts(&receiver).len(), 3);

    let schedule = post(
        &app,
        "/v1/schedules",
        &jane.token,
        json!({"name": "Morning", "type": "time", "cron": "0 7 * * *", "cluster_ids": [cluster],
               "action": "resume"}),
    )
    .await;
    assert_eq!(schedule.status, StatusCode::CREATED, "{}", schedule.body);
    let id = schedule.body["data"]["id"].as_str().unwrap();
    let run = post(
        &app,
        &format!("/v1/schedules/{id}/run"),
        &jane.token,
        json!({}),
    )
    .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    let deadline = Instant::now() + Duration::from_secs(10);
    while texts(&receiver).len() < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let said = texts(&receiver);
    assert_eq!(said.len(), 5, "{said:?}");
    assert!(said[3].contains("resumed"), "{said:?}");
    assert!(said[4].contains("Morning"), "{said:?}");
}

/// The first scan of each UTC day tells the channels what hibernations saved.
#[tokio::test]
async fn the_first_scan_of_a_day_sends_the_savings_digest() {
    use dtap_shared::monitor::scan_org;

    let (app, receiver) = app_with_receiver().await;
    let jane = app.signed_up("jane@acme.com").await;
    created(&app, &jane, slack(&receiver)).await;
    let fake = FakeDatabricks::start().await;
    let cluster = fake.add_cluster(json!({"cluster_name": "Reports", "node_type_id": "i3.xlarge",
                                          "num_workers": 2, "aws_attributes": {"zone_id": "us-east-1a"}}));
    let connected = post(
        &app,
        "/v1/platforms",
        &jane.token,
        json!({"type": "databricks", "name": "Prod", "region": "us-east-1",
               "credentials": {"workspace_url": fake.url(), "token": fake.config().token}}),
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let org = org_of(&app, &jane).await;
    let digests = |receiver: &FakeReceiver| -> Vec<String> {
        receiver
            .bodies(SLACK_PATH)
            .iter()
            .map(|body| body["text"].as_str().unwrap_or_default().to_owned())
            .filter(|text| text.contains("saved"))
            .collect()
    };
    // Nothing saved yet: no digest, even on the day's first scan.
    scan_org(&app.state, &org).await.unwrap();
    assert!(digests(&receiver).is_empty());
    let down = post(
        &app,
        &format!("/v1/clusters/databricks/{cluster}/hibernate"),
        &jane.token,
        json!({}),
    )
    .await;
    assert_eq!(down.status, StatusCode::OK, "{}", down.body);

    app.clock.advance(chrono::Duration::hours(24));
    scan_org(&app.state, &org).await.unwrap();
    // 24 h down at 3 × i3.xlarge = 0.936 USD/h.
    let said = digests(&receiver);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("$22.46 in the last 24 hours"), "{said:?}");
    app.clock.advance(chrono::Duration::minutes(10));
    scan_org(&app.state, &org).await.unwrap();
    assert_eq!(digests(&receiver).len(), 1, "one digest a day");
}
