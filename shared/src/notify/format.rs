//! An event as each service takes it: Slack blocks, a Teams Adaptive Card, a PagerDuty Events
//! API v2 event, and plain-text mail. Pure functions: no I/O, no secrets except the routing key
//! PagerDuty needs in its body.

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::NotificationEvent;
use crate::mail::Mail;
use crate::store::repos::alerts::Severity;

/// Slack: a `text` fallback (notifications, old clients) and blocks — header, the message,
/// the facts as fields, and a context line. Limits: header 150 characters, section 3000,
/// 10 fields of 2000.
pub fn slack(event: &NotificationEvent) -> Value {
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&event.title, 150), "emoji": false}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&escape_slack(&event.message), 3000)}}),
    ];
    if !event.facts.is_empty() {
        let fields: Vec<Value> = event
            .facts
            .iter()
            .take(10)
            .map(|(name, value)| {
                json!({"type": "mrkdwn", "text": cut(&format!("*{}*\n{}", escape_slack(name), escape_slack(value)), 2000)})
            })
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    blocks.push(json!({"type": "context", "elements": [
        {"type": "mrkdwn", "text": escape_slack(&footer(event))}
    ]}));
    json!({
        "text": cut(&format!("{}: {}", event.title, event.message), 3000),
        "blocks": blocks,
    })
}

/// Teams (incoming webhook or Workflows webhook): a message with one Adaptive Card 1.4
/// attachment — title, message, a fact set, a footer.
pub fn teams(event: &NotificationEvent) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "text": event.title, "weight": "Bolder", "size": "Medium", "wrap": true,
               "color": match event.severity { Severity::Critical => "Attention", Severity::Warning => "Warning", Severity::Info => "Default" }}),
        json!({"type": "TextBlock", "text": event.message, "wrap": true}),
    ];
    if !event.facts.is_empty() {
        let facts: Vec<Value> = event
            .facts
            .iter()
            .map(|(name, value)| json!({"title": name, "value": value}))
            .collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    body.push(json!({"type": "TextBlock", "text": footer(event), "isSubtle": true, "size": "Small", "wrap": true}));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            }
        }]
    })
}

/// PagerDuty Events API v2 `trigger`: `summary` at most 1024 characters, `severity` one of
/// critical | error | warning | info, `source` the cluster.
pub fn pagerduty_trigger(
    event: &NotificationEvent,
    routing_key: &str,
    dedup_key: &str,
    public_url: &str,
) -> Value {
    let source = match &event.cluster {
        Some(cluster) => format!("{}/{}", cluster.platform, cluster.cluster_id),
        None => "digital-tap".to_owned(),
    };
    let details: serde_json::Map<String, Value> = event
        .facts
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    let mut payload = json!({
        "summary": cut(&format!("{}: {}", event.title, event.message), 1024),
        "source": source,
        "severity": match event.severity {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        },
        "timestamp": event.at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "class": event.kind,
        "custom_details": details,
    });
    if let Some(cluster) = &event.cluster {
        payload["component"] = Value::String(cluster.name.clone());
        payload["group"] = Value::String(cluster.platform.to_string());
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": payload,
        "client": "Digital Tap",
        "client_url": public_url,
    })
}

/// PagerDuty Events API v2 `resolve` of the incident `dedup_key` names.
pub fn pagerduty_resolve(routing_key: &str, dedup_key: &str) -> Value {
    json!({
        "routing_key": routing_key,
        "event_action": "resolve",
        "dedup_key": dedup_key,
    })
}

/// Plain-text mail: the message, the facts one per line, the event and a pointer to the
/// channel settings.
pub fn email(event: &NotificationEvent, to: &str, public_url: &str) -> Mail {
    let mut text = format!("{}\n", event.message);
    if !event.facts.is_empty() {
        text.push('\n');
        for (name, value) in &event.facts {
            text.push_str(&format!("{name}: {value}\n"));
        }
    }
    text.push_str(&format!(
        "\n{}\n\nYou receive this because a Digital Tap notification channel sends this event \
         here; channels are managed at {}/v1/notifications/channels.\n",
        footer(event),
        public_url.trim_end_matches('/')
    ));
    Mail {
        to: to.to_owned(),
        subject: format!("[Digital Tap] {}", cut(&event.title, 200)),
        text,
    }
}

fn footer(event: &NotificationEvent) -> String {
    format!(
        "Digital Tap · {} · {}",
        event.kind,
        event.at.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// Slack's mrkdwn control characters, escaped as its documentation asks.
fn escape_slack(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut kept: String = text.chars().take(max.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::ids::PlatformId;
    use crate::domain::platform::PlatformKind;
    use crate::notify::ClusterRef;

    fn idle() -> NotificationEvent {
        NotificationEvent::idle_cluster(
            ClusterRef {
                platform_id: PlatformId::generate(),
                platform: PlatformKind::Databricks,
                cluster_id: "0301-etl".into(),
                name: "Prod <ETL>".into(),
            },
            Utc.with_ymd_and_hms(2026, 3, 12, 14, 0, 0).unwrap(),
            45,
            Some(2.5),
        )
        .at(Utc.with_ymd_and_hms(2026, 3, 12, 14, 45, 0).unwrap())
    }

    #[test]
    fn slack_gets_blocks_with_escaped_text_and_a_fallback() {
        let body = slack(&idle());
        assert!(body["text"].as_str().unwrap().starts_with("Idle cluster: "));
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        assert!(
            blocks[1]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("Prod &lt;ETL&gt;")
        );
        assert!(blocks[2]["fields"].as_array().unwrap().len() <= 10);
        assert_eq!(blocks.last().unwrap()["type"], "context");
    }

    #[test]
    fn teams_gets_one_adaptive_card() {
        let body = teams(&idle());
        assert_eq!(body["type"], "message");
        let card = &body["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert_eq!(card["content"]["body"][2]["type"], "FactSet");
    }

    #[test]
    fn pagerduty_gets_an_events_v2_trigger_and_resolve() {
        let body = pagerduty_trigger(&idle(), "k".repeat(32).as_str(), "dtap-ab", "https://api");
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["dedup_key"], "dtap-ab");
        assert_eq!(body["payload"]["severity"], "warning");
        assert_eq!(body["payload"]["source"], "databricks/0301-etl");
        assert_eq!(body["payload"]["class"], "idle_cluster");
        assert!(body["payload"]["summary"].as_str().unwrap().len() <= 1024);
        let resolve = pagerduty_resolve("k", "dtap-ab");
        assert_eq!(
            resolve,
            json!({"routing_key": "k", "event_action": "resolve", "dedup_key": "dtap-ab"})
        );
    }

    #[test]
    fn mail_is_plain_text_with_the_facts() {
        let mail = email(&idle(), "ops@acme.com", "https://api.example.com/");
        assert_eq!(mail.subject, "[Digital Tap] Idle cluster");
        assert!(mail.text.contains("Idle for: 45 minutes"), "{}", mail.text);
        assert!(
            mail.text
                .contains("https://api.example.com/v1/notifications/channels")
        );
    }

    #[test]
    fn long_text_is_cut_to_the_limit() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
