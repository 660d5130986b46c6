//! `spawn_app`: the real application on a free port, with a fresh data dir and a clock the test
//! controls. Nothing is shared between tests.

use std::path::PathBuf;

use chrono::Utc;
use dtap_shared::AppState;
use dtap_shared::clock::ManualClock;
use dtap_shared::mail::Mail;
use dtap_shared::mail::outbox::OutboxMailer;
use dtap_shared::runtime::{Adapters, Mode, Settings};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "securepass123";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub data_dir: TempDir,
    _shutdown: oneshot::Sender<()>,
}

pub async fn spawn_app() -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mode = Mode::Local {
        data_dir: data_dir.path().to_path_buf(),
    };
    let mut adapters = Adapters::for_mode(&mode).await.expect("local adapters");
    let clock = ManualClock::starting_at(Utc::now());
    adapters.clock = std::sync::Arc::new(clock.clone());
    let state = AppState::new(adapters, Settings::default())
        .await
        .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let address = listener.local_addr().expect("local address");
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(dtap_local::serve(listener, state, async {
        let _ = stopped.await;
    }));
    TestApp {
        base: format!("http://{address}"),
        client: reqwest::Client::new(),
        clock,
        data_dir,
        _shutdown: shutdown,
    }
}

/// A response read whole: status, headers and the JSON body.
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(response: Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is not JSON: {text}"))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    /// Asserts the contract's error envelope, with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["success"], json!(false), "body: {}", self.body);
        assert_eq!(self.error_code(), code, "body: {}", self.body);
        assert!(!self.error_message().is_empty(), "body: {}", self.body);
        let request_id = self.body["meta"]["request_id"].as_str().unwrap_or("");
        assert!(request_id.starts_with("req_"), "body: {}", self.body);
        assert_eq!(self.headers["x-request-id"].to_str().unwrap(), request_id);
    }
}

pub struct Session {
    pub token: String,
    pub api_key: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The app's clock, in unix seconds.
    pub fn clock_now(&self) -> i64 {
        use dtap_shared::clock::Clock;
        self.clock.now().timestamp()
    }

    pub fn outbox(&self) -> PathBuf {
        self.data_dir.path().join("outbox")
    }

    pub fn mails(&self) -> Vec<Mail> {
        OutboxMailer::read_all(&self.outbox()).unwrap_or_default()
    }

    pub async fn send(&self, request: RequestBuilder) -> Reply {
        Reply::from(request.send().await.expect("request sent")).await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(&body))
            .await
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Reply {
        self.send(self.client.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn get_with_key(&self, path: &str, key: &str) -> Reply {
        self.send(self.client.get(self.url(path)).header("X-API-Key", key))
            .await
    }

    pub async fn register(&self, name: &str, email: &str, org_name: &str) -> Reply {
        self.post_json(
            "/v1/auth/register",
            json!({"name": name, "email": email, "password": PASSWORD, "org_name": org_name}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post_json(
            "/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers Jane and logs her in.
    pub async fn signed_up(&self, email: &str) -> Session {
        let registered = self
            .register("Jane Smith", email, &format!("org of {email}"))
            .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.body
        );
        let login = self.login(email, PASSWORD).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        Session {
            token: login.body["data"]["token"].as_str().unwrap().to_owned(),
            api_key: login.body["data"]["api_key"].as_str().unwrap().to_owned(),
        }
    }
}

// Calls with a Bearer token, and the invitation flow, shared by the org and role tests.

pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    app.send(request).await
}

pub async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    call(app, Method::POST, path, token, Some(body)).await
}

pub async fn get(app: &TestApp, path: &str, token: &str) -> Reply {
    call(app, Method::GET, path, token, None).await
}

/// The one-time token (invitation, password reset) in the newest email to `to`.
pub fn mailed_token(app: &TestApp, to: &str) -> String {
    let mail = app
        .mails()
        .into_iter()
        .rev()
        .find(|mail| mail.to == to)
        .expect("an email was sent");
    mail.text
        .lines()
        .map(str::trim)
        .find(|line| line.len() == 43 && line.chars().all(|c| c.is_ascii_alphanumeric()))
        .expect("the email carries a token")
        .to_owned()
}

pub async fn login(app: &TestApp, email: &str) -> Session {
    let login = app.login(email, PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    Session {
        token: login.body["data"]["token"].as_str().unwrap().to_owned(),
        api_key: login.body["data"]["api_key"].as_str().unwrap().to_owned(),
    }
}

/// Invites `email` into `slug` with `role`, registers them with the token, logs them in.
pub async fn invited_member(
    app: &TestApp,
    owner: &Session,
    slug: &str,
    email: &str,
    role: &str,
) -> Session {
    let invited = post(
        app,
        &format!("/v1/orgs/{slug}/invite"),
        &owner.token,
        json!({"email": email, "role": role}),
    )
    .await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);
    let registered = app
        .post_json(
            "/v1/auth/register",
            json!({"name": "Bob Chen", "email": email, "password": PASSWORD,
                   "invite_token": mailed_token(app, email)}),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    login(app, email).await
}
