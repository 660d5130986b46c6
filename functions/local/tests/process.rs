//! Tests of the `dtap-local` binary itself: flags, clean shutdown on Ctrl-C, data that survives a
//! restart, logs free of secrets, and the AWS-mode switch against moto.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dtap_shared::mail::outbox::OutboxMailer;
use dtap_shared::secrets::local::LocalSecretFile;
use dtap_shared::secrets::{ExposeSecret, SecretStore};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "staple tornado lantern";

/// A running `dtap-local` with everything it printed captured.
struct Server {
    child: Child,
    base: String,
    output: Arc<Mutex<String>>,
}

impl Server {
    fn start(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let data_dir = data_dir.to_str().expect("a UTF-8 temp path");
        Self::start_with_args(&["--data-dir", data_dir], env)
    }

    fn start_with_args(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dtap-local"));
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "debug")
            .env_remove("DTAP_MODE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("dtap-local starts");
        let output = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("stderr");
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let mut buffer = [0u8; 4096];
            while let Ok(read) = stderr.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                text.push_str(&String::from_utf8_lossy(&buffer[..read]));
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let address = rest.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = address_tx.send(address);
                }
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let address = address_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "dtap-local did not say where it listens: {}",
                    output.lock().unwrap()
                )
            });
        Self {
            child,
            base: format!("http://{address}"),
            output,
        }
    }

    /// Sends Ctrl-C (SIGINT) and expects a clean exit.
    fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                assert!(exit.success(), "dtap-local exited with {exit}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "dtap-local did not stop on Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        let output = self.output.lock().unwrap().clone();
        assert!(output.contains("Digital Tap stopped"), "{output}");
        output
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn call(
    method: reqwest::Method,
    url: String,
    auth: Option<(&str, &str)>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some((header, value)) = auth {
        request = request.header(header, value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    call(
        reqwest::Method::POST,
        format!("{}{path}", server.base),
        None,
        Some(body),
    )
    .await
}

async fn account(server: &Server, header: &str, value: &str) -> u16 {
    call(
        reqwest::Method::GET,
        format!("{}/v1/account", server.base),
        Some((header, value)),
        None,
    )
    .await
    .0
}

struct Credentials {
    token: String,
    api_key: String,
}

async fn register_and_login(server: &Server, email: &str) -> Credentials {
    let (status, body) = post(
        server,
        "/v1/auth/register",
        json!({"name": "Jane Smith", "email": email, "password": PASSWORD, "company": "Acme"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(
        server,
        "/v1/auth/login",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    Credentials {
        token: body["data"]["token"].as_str().unwrap().to_owned(),
        api_key: body["data"]["api_key"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn restarting_on_the_same_data_dir_keeps_users_and_keys() {
    let data_dir = tempfile::tempdir().unwrap();
    let first = Server::start(data_dir.path(), &[]);
    let jane = register_and_login(&first, "jane@acme.com").await;
    first.stop();
    assert!(data_dir.path().join("dtap.redb").exists());

    let second = Server::start(data_dir.path(), &[]);
    assert_eq!(account(&second, "X-API-Key", &jane.api_key).await, 200);
    assert_eq!(
        account(&second, "Authorization", &format!("Bearer {}", jane.token)).await,
        200
    );
    let (status, _) = post(
        &second,
        "/v1/auth/login",
        json!({"email": "jane@acme.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &second,
        "/v1/auth/register",
        json!({"name": "Jane", "email": "jane@acme.com", "password": PASSWORD, "org_name": "another"}),
    )
    .await;
    assert_eq!(status, 409, "the user survived the restart");
    second.stop();
}

#[tokio::test]
async fn no_secret_appears_in_logs_or_responses() {
    let data_dir = tempfile::tempdir().unwrap();
    let server = Server::start(data_dir.path(), &[]);
    let jane = register_and_login(&server, "jane@acme.com").await;
    assert_eq!(account(&server, "X-API-Key", &jane.api_key).await, 200);
    assert_eq!(
        account(&server, "Authorization", &format!("Bearer {}", jane.token)).await,
        200
    );
    // A failed login and a bad key, with secrets in them, must not echo them either.
    let (_, wrong) = post(
        &server,
        "/v1/auth/login",
        json!({"email": "jane@acme.com", "password": "wrong password 42"}),
    )
    .await;
    let last = if jane.api_key.ends_with('Z') {
        'Y'
    } else {
        'Z'
    };
    let bad_key = format!("{}{last}", &jane.api_key[..jane.api_key.len() - 1]);
    assert_eq!(account(&server, "X-API-Key", &bad_key).await, 401);

    let (status, reset_answer) = post(
        &server,
        "/v1/auth/reset-password",
        json!({"email": "jane@acme.com"}),
    )
    .await;
    assert_eq!(status, 200);
    let mails = OutboxMailer::read_all(&data_dir.path().join("outbox")).unwrap();
    let reset_token = mails[0]
        .text
        .lines()
        .map(str::trim)
        .find(|line| line.len() == 43 && line.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap()
        .to_owned();
    let (status, confirm_answer) = post(
        &server,
        "/v1/auth/reset-password/confirm",
        json!({"token": reset_token, "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{confirm_answer}");
    let logs = server.stop();

    let signing_key = LocalSecretFile::open(data_dir.path())
        .unwrap()
        .get("jwt-signing-key")
        .await
        .unwrap()
        .expect("the JWT key was created on first start");
    let secrets = [
        PASSWORD,
        NEW_PASSWORD,
        "wrong password 42",
        &jane.token,
        &jane.api_key,
        &bad_key,
        &reset_token,
        signing_key.expose_secret(),
    ];
    assert!(logs.contains("request"), "logs were captured: {logs}");
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
        for answer in [&wrong, &reset_answer, &confirm_answer] {
            assert!(
                !answer.to_string().contains(secret),
                "a secret leaked into a response"
            );
        }
    }
    // The data files hold no plaintext secret either.
    let store = std::fs::read(data_dir.path().join("dtap.redb")).unwrap();
    let store = String::from_utf8_lossy(&store);
    for secret in [
        PASSWORD,
        NEW_PASSWORD,
        jane.api_key.as_str(),
        reset_token.as_str(),
        signing_key.expose_secret(),
    ] {
        assert!(!store.contains(secret), "a secret is stored in plaintext");
    }
}

#[tokio::test]
async fn the_aws_switch_points_the_same_binary_at_dynamodb_and_secrets_manager() {
    let moto = std::env::var("DTAP_TEST_MOTO_URL").expect(
        "DTAP_TEST_MOTO_URL is not set: run the tests with scripts/test, which starts moto",
    );
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let table = format!("dtap-local-{unique}");
    let prefix = format!("dtap-local-{unique}/");
    let data_dir = tempfile::tempdir().unwrap();
    let env = [
        ("DTAP_MODE", "aws"),
        ("AWS_ENDPOINT_URL", moto.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("DTAP_TABLE_NAME", table.as_str()),
        ("DTAP_SECRETS_PREFIX", prefix.as_str()),
        ("DTAP_CREATE_TABLE", "true"),
    ];
    let server = Server::start(data_dir.path(), &env);
    let jane = register_and_login(&server, "jane@acme.com").await;
    assert_eq!(account(&server, "X-API-Key", &jane.api_key).await, 200);
    let output = server.stop();
    assert!(
        output.contains(&format!("AWS mode, table {table}")),
        "{output}"
    );
    assert!(
        !data_dir.path().join("dtap.redb").exists(),
        "AWS mode must not use the embedded store"
    );

    // A second process on the same table and secrets sees the same users and signing key.
    let again = Server::start(data_dir.path(), &env);
    assert_eq!(
        account(&again, "Authorization", &format!("Bearer {}", jane.token)).await,
        200
    );
    again.stop();
}

#[tokio::test]
async fn platform_credentials_appear_in_no_log_or_response() {
    let fake = dtap_fakes::FakeDatabricks::with_fleet(2).await;
    let config = fake.config().clone();
    let data_dir = tempfile::tempdir().unwrap();
    let server = Server::start(data_dir.path(), &[]);
    let jane = register_and_login(&server, "jane@acme.com").await;
    let bearer = format!("Bearer {}", jane.token);
    let auth = Some(("Authorization", bearer.as_str()));
    let url = |path: &str| format!("{}{path}", server.base);
    let wrong_token = "dapi-wrong-token-5550123";

    let mut answers = Vec::new();
    let (status, refused) = call(
        reqwest::Method::POST,
        url("/v1/platforms"),
        auth,
        Some(
            json!({"type": "databricks", "name": "Prod", "credentials": {
            "workspace_url": fake.url(), "token": wrong_token}}),
        ),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    answers.push(refused);
    let (status, created) = call(
        reqwest::Method::POST,
        url("/v1/platforms"),
        auth,
        Some(
            json!({"type": "databricks", "name": "Prod", "credentials": {
            "workspace_url": fake.url(), "token": config.token}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    answers.push(created);
    let path = format!("/v1/platforms/{id}");
    for (method, path, body) in [
        (reqwest::Method::GET, "/v1/platforms".to_owned(), None),
        (
            reqwest::Method::POST,
            format!("{path}/test"),
            Some(json!({})),
        ),
        (
            reqwest::Method::PUT,
            path.clone(),
            Some(json!({"credentials": {"workspace_url": fake.url(),
                "client_id": config.client_id, "client_secret": config.client_secret}})),
        ),
        (
            reqwest::Method::POST,
            format!("{path}/test"),
            Some(json!({})),
        ),
        (reqwest::Method::DELETE, path.clone(), None),
    ] {
        let (status, answer) = call(method, url(&path), auth, body).await;
        assert!((200..300).contains(&status), "{path}: {answer}");
        answers.push(answer);
    }
    let logs = server.stop();

    assert!(
        logs.contains("platform connected"),
        "logs were captured: {logs}"
    );
    for secret in [
        config.token.as_str(),
        config.client_secret.as_str(),
        wrong_token,
    ] {
        assert!(
            !logs.contains(secret),
            "a platform credential leaked into the logs"
        );
        for answer in &answers {
            assert!(
                !answer.to_string().contains(secret),
                "a platform credential leaked into a response"
            );
        }
    }
}

#[tokio::test]
async fn demo_mode_connects_simulated_platforms_to_a_demo_account() {
    let server = Server::start_with_args(&["--demo", "--tick-seconds", "1"], &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let password = loop {
        let output = server.output.lock().unwrap().clone();
        if let Some(rest) = output.split("(password ").nth(1) {
            break rest.split(')').next().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not start: {output}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (status, login) = post(
        &server,
        "/v1/auth/login",
        json!({"email": "demo@digitaltap.local", "password": password}),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let token = format!("Bearer {}", login["data"]["token"].as_str().unwrap());
    let (status, platforms) = call(
        reqwest::Method::GET,
        format!("{}/v1/platforms", server.base),
        Some(("Authorization", &token)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{platforms}");
    assert_eq!(platforms["data"].as_array().unwrap().len(), 3);
    let (status, clusters) = call(
        reqwest::Method::GET,
        format!("{}/v1/clusters", server.base),
        Some(("Authorization", &token)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{clusters}");
    // 12 Databricks clusters, 6 Dataproc clusters, 2 SQL and 2 Spark pools.
    assert_eq!(clusters["data"].as_array().unwrap().len(), 22, "{clusters}");
    // Monitoring scans the demo on its own, with CPU from the simulated SQL warehouse.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let (status, body) = call(
            reqwest::Method::GET,
            format!("{}/v1/monitoring/status", server.base),
            Some(("Authorization", &token)),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if body["clusters_monitored"] == 22 {
            break body;
        }
        assert!(Instant::now() < deadline, "no scan yet: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(status["config"]["scan_interval_minutes"], 1, "{status}");
    let databricks = clusters["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cluster| cluster["platform"] == "databricks" && cluster["state"] == "running")
        .unwrap()["cluster_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, metrics) = call(
        reqwest::Method::GET,
        format!("{}/v1/monitoring/metrics/{databricks}", server.base),
        Some(("Authorization", &token)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{metrics}");
    assert!(metrics["metrics"][0]["cpu_util"].is_number(), "{metrics}");
    server.stop();
}
