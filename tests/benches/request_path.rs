//! What authentication, the role guard, rate limiting and usage counting add to a request: the
//! latency of `GET /v1/account` (by JWT and by API key) next to `GET /v1/health` (none of them),
//! on the local server with the embedded store, one client, sequential requests over keep-alive.
//!
//! `cargo bench -p dtap-tests --bench request_path` (debug builds lie; this runs optimized).
//! The app's clock is moved a minute every 50 authenticated requests so the starter tier's 60 a minute never
//! refuses one: refusals would measure a different path.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::time::{Duration, Instant};

use helpers::{TestApp, spawn_app};

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this as a quick smoke test.
fn sizes() -> (usize, usize) {
    if std::env::args().any(|arg| arg == "--bench") {
        (2000, 200)
    } else {
        (20, 5)
    }
}

struct Timing {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Timing {
    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.samples.len() as f64 - 1.0) * p).round() as usize;
        self.samples[index]
    }
}

async fn measure(
    app: &TestApp,
    name: &'static str,
    header: Option<(&str, String)>,
    path: &str,
) -> Timing {
    let (requests, warmup) = sizes();
    let mut samples = Vec::with_capacity(requests);
    for i in 0..warmup + requests {
        if header.is_some() && i % 50 == 0 {
            app.clock.advance(chrono::Duration::seconds(60));
        }
        let mut request = app.client.get(app.url(path));
        if let Some((header, value)) = &header {
            request = request.header(*header, value);
        }
        let started = Instant::now();
        let response = request.send().await.expect("request");
        let status = response.status();
        response.bytes().await.expect("body");
        let elapsed = started.elapsed();
        assert!(status.is_success(), "{name}: {status}");
        if i >= warmup {
            samples.push(elapsed);
        }
    }
    samples.sort_unstable();
    Timing { name, samples }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let app = spawn_app().await;
    let session = app.signed_up("bench@example.com").await;
    // 2,200 requests at 50 a minute stay within the JWT's hour of the app's clock.
    let timings = [
        measure(&app, "GET /v1/health (no auth)", None, "/v1/health").await,
        measure(
            &app,
            "GET /v1/account, Bearer JWT",
            Some(("authorization", format!("Bearer {}", session.token))),
            "/v1/account",
        )
        .await,
        measure(
            &app,
            "GET /v1/account, X-API-Key",
            Some(("x-api-key", session.api_key.clone())),
            "/v1/account",
        )
        .await,
    ];
    let (requests, warmup) = sizes();
    println!("{requests} sequential requests each, after {warmup} warm-up requests");
    println!("{:<32} {:>10} {:>10} {:>10}", "", "p50", "p90", "p99");
    for timing in &timings {
        println!(
            "{:<32} {:>10.3?} {:>10.3?} {:>10.3?}",
            timing.name,
            timing.percentile(0.50),
            timing.percentile(0.90),
            timing.percentile(0.99)
        );
    }
    let baseline = timings[0].percentile(0.5);
    for timing in &timings[1..] {
        println!(
            "overhead at p50, {}: {:.3?}",
            timing.name,
            timing.percentile(0.5).saturating_sub(baseline)
        );
    }
}
