//! `spawn_app`: the real application on a free port, with a fresh data dir and a clock the test
//! controls. Nothing is shared between tests.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use dtap_shared::AppState;
use dtap_shared::clock::{ManualClock, SystemClock};
use dtap_shared::mail::Mail;
use dtap_shared::mail::outbox::OutboxMailer;
use dtap_shared::mail::ses::SesMailer;
use dtap_shared::ratelimit::TableRateCounter;
use dtap_shared::runtime::{Adapters, Mode, Settings};
use dtap_shared::secrets::aws::SecretsManagerStore;
use dtap_shared::store::Table;
use dtap_shared::store::dynamo::DynamoTable;
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
    /// Set when the app runs on moto: where its SES mail is read back from.
    pub moto: Option<String>,
    /// The app's state, to run the scanner and the ticker the way their functions do.
    pub state: AppState,
    _shutdown: oneshot::Sender<()>,
}

pub async fn spawn_app() -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mode = Mode::Local {
        data_dir: data_dir.path().to_path_buf(),
    };
    let adapters = Adapters::for_mode(&mode).await.expect("local adapters");
    serve(adapters, data_dir).await
}

/// `spawn_app` with its settings changed by `adjust` (service endpoints, timeouts, AWS mode's
/// endpoint rule).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mode = Mode::Local {
        data_dir: data_dir.path().to_path_buf(),
    };
    let adapters = Adapters::for_mode(&mode).await.expect("local adapters");
    serve_with(adapters, data_dir, adjust).await
}

/// The application on the AWS adapters — DynamoDB, Secrets Manager, SES — all on moto (through
/// the real SDK clients), with a table and secrets of its own. Mail is read back from moto.
pub async fn spawn_app_on_moto() -> TestApp {
    let moto = std::env::var("DTAP_TEST_MOTO_URL").expect(
        "DTAP_TEST_MOTO_URL is not set: run the tests with scripts/test, which starts moto",
    );
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "dtap-tests",
        ))
        .load()
        .await;
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let table_name = format!("dtap-api-{unique}");
    DynamoTable::create_table_if_missing(&dynamo, &table_name)
        .await
        .expect("a table in moto");
    let sender = format!("no-reply-{unique}@digitaltap.test");
    let ses = aws_sdk_sesv2::Client::new(&config);
    // SES only sends from verified identities; moto verifies at once.
    ses.create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .expect("verifying the sender in moto");
    let store: Arc<dyn Table> = Arc::new(DynamoTable::new(dynamo, table_name));
    let adapters = Adapters {
        rate_counter: Arc::new(TableRateCounter::new(store.clone())),
        store,
        secrets: Arc::new(SecretsManagerStore::new(
            aws_sdk_secretsmanager::Client::new(&config),
            format!("dtap-api-{unique}/"),
        )),
        mailer: Arc::new(SesMailer::new(ses, sender)),
        clock: Arc::new(SystemClock),
    };
    let mut app = serve(adapters, tempfile::tempdir().expect("temp dir")).await;
    app.moto = Some(moto);
    app
}

async fn serve(adapters: Adapters, data_dir: TempDir) -> TestApp {
    serve_with(adapters, data_dir, |_| {}).await
}

async fn serve_with(
    mut adapters: Adapters,
    data_dir: TempDir,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let clock = ManualClock::starting_at(Utc::now());
    adapters.clock = Arc::new(clock.clone());
    // As in local mode: platform endpoints may be the fakes on 127.0.0.1.
    let mut settings = Settings {
        allow_local_endpoints: true,
        ..Settings::default()
    };
    adjust(&mut settings);
    let state = AppState::new(adapters, settings).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let address = listener.local_addr().expect("local address");
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(dtap_local::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    TestApp {
        base: format!("http://{address}"),
        client: reqwest::Client::new(),
        clock,
        data_dir,
        moto: None,
        state,
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

    /// Every mail the app sent, oldest first: from the outbox, or from moto's SES record.
    pub fn mails(&self) -> Vec<Mail> {
        match &self.moto {
            None => OutboxMailer::read_all(&self.outbox()).unwrap_or_default(),
            Some(moto) => moto_mails(moto),
        }
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

/// The mails moto's SES has "sent", from its model dump (`/moto-api/data.json`). A blocking
/// read: moto is on loopback and answers at once.
fn moto_mails(moto: &str) -> Vec<Mail> {
    use std::io::{Read, Write};
    let authority = moto.strip_prefix("http://").expect("moto is on plain http");
    let mut stream = std::net::TcpStream::connect(authority).expect("moto answers");
    // HTTP/1.0: the whole body, then the connection closes; no chunking to undo.
    write!(
        stream,
        "GET /moto-api/data.json HTTP/1.0\r\nHost: {authority}\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (_, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let data: Value = serde_json::from_str(body).expect("moto's data.json is JSON");
    data["ses"]["Message"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .map(|m| Mail {
                    to: m["destinations"]["ToAddresses"][0]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                    subject: m["subject"].as_str().unwrap_or("").to_owned(),
                    text: m["body"].as_str().unwrap_or("").to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

// A fake Databricks workspace connected to an org, as the monitoring, schedules and
// notification tests set it up.

/// A running cluster of 2 i3.xlarge workers (+ the driver: 0.936 USD/h in us-east-1).
pub fn seed_cluster(fake: &dtap_fakes::FakeDatabricks, name: &str) -> String {
    fake.add_cluster(json!({
        "cluster_name": name,
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "i3.xlarge",
        "num_workers": 2,
        "aws_attributes": {"zone_id": "us-east-1a"},
    }))
}

/// Connects the workspace to the session's org (region us-east-1); the platform's id.
pub async fn connect_databricks(
    app: &TestApp,
    session: &Session,
    fake: &dtap_fakes::FakeDatabricks,
) -> String {
    let reply = post(
        app,
        "/v1/platforms",
        &session.token,
        json!({"type": "databricks", "name": "Prod", "region": "us-east-1",
               "credentials": {"workspace_url": fake.url(), "token": fake.config().token}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_str().unwrap().to_owned()
}

/// The slug of the session's first org.
pub async fn slug_of(app: &TestApp, session: &Session) -> String {
    let listed = get(app, "/v1/orgs", &session.token).await;
    listed.body["data"][0]["slug"].as_str().unwrap().to_owned()
}

/// The id of the session's first org, for calling the scanner directly.
pub async fn org_id_of(app: &TestApp, session: &Session) -> dtap_shared::domain::ids::OrgId {
    let slug = slug_of(app, session).await;
    dtap_shared::store::repos::orgs::find_by_slug(
        app.state.store.as_ref(),
        &dtap_shared::domain::slug::OrgSlug::parse("slug", &slug).unwrap(),
    )
    .await
    .unwrap()
    .unwrap()
    .id
}
