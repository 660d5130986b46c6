//! A webhook receiver for notification tests: it records every request (path and JSON body) and
//! answers with scripted statuses (200 once the script runs out), optionally after a delay. One
//! receiver can stand in for Slack, Teams and PagerDuty at once, on different paths.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::loopback::{self, LoopbackServer};

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    /// The body as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<u16>,
    always: Option<u16>,
    delay: Option<Duration>,
}

pub struct FakeReceiver {
    server: LoopbackServer,
    inner: Arc<Mutex<Inner>>,
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    body: Bytes,
) -> impl IntoResponse {
    let (status, delay) = {
        let mut inner = inner.lock().expect("receiver lock");
        inner.received.push(Received {
            path: uri.path().to_owned(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        let status = inner.script.pop_front().or(inner.always).unwrap_or(200);
        (status, inner.delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let answer = if status.is_success() {
        json!({"status": "success", "message": "Event processed"})
    } else {
        json!({"status": "invalid event", "message": format!("scripted {}", status.as_u16())})
    };
    (status, axum::Json(answer))
}

impl FakeReceiver {
    pub async fn start() -> Self {
        let (listener, url) = loopback::bind("the webhook receiver").await;
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new().fallback(receive).with_state(inner.clone());
        Self {
            server: LoopbackServer::serve(listener, url, app),
            inner,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// A URL on this receiver (`path` starts with `/`).
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// The next requests are answered with these statuses, in order.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.inner
            .lock()
            .expect("receiver lock")
            .script
            .extend(statuses.iter().copied());
    }

    /// Every request after the script is answered with `status` (200 when never set).
    pub fn answer_always(&self, status: u16) {
        self.inner.lock().expect("receiver lock").always = Some(status);
    }

    /// Answers only after `delay`.
    pub fn delay(&self, delay: Duration) {
        self.inner.lock().expect("receiver lock").delay = Some(delay);
    }

    /// Everything received, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("receiver lock").received.clone()
    }

    /// The bodies received on `path`, oldest first.
    pub fn bodies(&self, path: &str) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|received| received.path == path)
            .map(|received| received.body)
            .collect()
    }
}
