//! The HTTP side of deliveries: one client per endpoint rule, and one attempt classified as
//! delivered, worth retrying, or not.
//!
//! In AWS mode ([`EndpointPolicy::PublicHttps`]) the client resolves names itself and refuses a
//! name if any of its addresses is not public; the connection then goes to exactly the addresses
//! that were checked, so a DNS answer that changes between a check and the connection (DNS
//! rebinding) cannot point a webhook into our network. IP literals never reach a resolver, so
//! [`check_url`] judges them before the request. Redirects are not followed and no proxy is used.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::Value;
use url::{Host, Url};

use crate::platforms::parse::{EndpointPolicy, is_public_host, is_public_ip};
use crate::store::repos::notifications::Attempt;

/// The refusal of a name that resolves to a non-public address.
#[derive(Debug, thiserror::Error)]
#[error("the host resolves to a non-public address")]
pub struct NonPublicAddress;

/// Resolves with the system resolver and keeps the answer only if every address is public.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if found.is_empty() {
                return Err("the host has no address".into());
            }
            if found.iter().any(|address| !is_public_ip(address.ip())) {
                return Err(Box::new(NonPublicAddress) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

fn build(policy: EndpointPolicy) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("digital-tap/", env!("CARGO_PKG_VERSION")));
    if policy == EndpointPolicy::PublicHttps {
        builder = builder.dns_resolver(Arc::new(PublicOnly)).https_only(true);
    }
    // Building fails only without a TLS backend, which is compiled in.
    builder
        .build()
        .expect("building the notification HTTP client")
}

/// The client for a rule, built once per process.
pub fn client(policy: EndpointPolicy) -> &'static reqwest::Client {
    static PUBLIC: OnceLock<reqwest::Client> = OnceLock::new();
    static LOCAL: OnceLock<reqwest::Client> = OnceLock::new();
    match policy {
        EndpointPolicy::PublicHttps => PUBLIC.get_or_init(|| build(policy)),
        EndpointPolicy::AllowLocal => LOCAL.get_or_init(|| build(policy)),
    }
}

/// The URL rule again at delivery time (the deployment's rule may be stricter than when the
/// URL was stored): scheme and host, and an IP literal's address. Names are judged by the
/// resolver. The reason never quotes the URL.
pub fn check_url(raw: &str, policy: EndpointPolicy) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|_| "the stored URL is not valid".to_owned())?;
    if policy == EndpointPolicy::AllowLocal {
        return Ok(url);
    }
    if url.scheme() != "https" {
        return Err("the URL is not https".to_owned());
    }
    let host = url.host().ok_or_else(|| "the URL has no host".to_owned())?;
    let public = match &host {
        Host::Ipv4(ip) => is_public_ip((*ip).into()),
        Host::Ipv6(ip) => is_public_ip((*ip).into()),
        Host::Domain(_) => is_public_host(&host),
    };
    if public {
        Ok(url)
    } else {
        Err("the URL's host is not a public address".to_owned())
    }
}

/// One attempt's outcome.
pub struct Tried {
    pub attempt: Attempt,
    pub delivered: bool,
    /// Worth another attempt: a 5xx or 429, a timeout, a connection failure.
    pub retryable: bool,
}

/// POSTs `body` to `url` once, within `timeout`.
pub async fn post_once(
    url: &Url,
    body: &Value,
    timeout: Duration,
    policy: EndpointPolicy,
) -> Tried {
    let started = Instant::now();
    let sent = client(policy)
        .post(url.clone())
        .timeout(timeout)
        .json(body)
        .send()
        .await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match sent {
        Ok(response) => {
            let status = response.status();
            let code = status.as_u16();
            if status.is_success() {
                return Tried {
                    attempt: Attempt {
                        status_code: Some(code),
                        error: None,
                        latency_ms,
                    },
                    delivered: true,
                    retryable: false,
                };
            }
            // A little of what the service said helps fix the channel; bounded, one line.
            let said = tokio::time::timeout(Duration::from_secs(1), response.text())
                .await
                .ok()
                .and_then(Result::ok)
                .map(|text| one_line(&text, 200))
                .filter(|text| !text.is_empty());
            let error = match said {
                Some(said) => format!("the service answered HTTP {code}: {said}"),
                None => format!("the service answered HTTP {code}"),
            };
            Tried {
                attempt: Attempt {
                    status_code: Some(code),
                    error: Some(error),
                    latency_ms,
                },
                delivered: false,
                retryable: status.is_server_error() || code == 429,
            }
        }
        Err(err) => {
            let (error, retryable) = describe(&err, timeout);
            Tried {
                attempt: Attempt {
                    status_code: None,
                    error: Some(error),
                    latency_ms,
                },
                delivered: false,
                retryable,
            }
        }
    }
}

/// Why a request failed, without its URL (reqwest's messages carry it, and it is the secret).
fn describe(err: &reqwest::Error, timeout: Duration) -> (String, bool) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if cause.is::<NonPublicAddress>() {
            return (
                "refused: the host resolves to a non-public address".to_owned(),
                false,
            );
        }
        source = cause.source();
    }
    if err.is_timeout() {
        (format!("no answer within {} ms", timeout.as_millis()), true)
    } else if err.is_connect() {
        ("could not connect to the service".to_owned(), true)
    } else if err.is_redirect() {
        (
            "the service answered with a redirect, which is not followed".to_owned(),
            false,
        )
    } else {
        ("the request failed".to_owned(), true)
    }
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() <= max {
        flat.to_owned()
    } else {
        let mut kept: String = flat.chars().take(max).collect();
        kept.push('…');
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_public_resolver_refuses_names_of_local_addresses() {
        let refused = PublicOnly
            .resolve("localhost".parse::<Name>().unwrap())
            .await
            .err()
            .expect("localhost is refused");
        assert!(refused.is::<NonPublicAddress>(), "{refused}");
    }

    #[tokio::test]
    async fn the_aws_mode_client_will_not_connect_to_loopback_whatever_the_check_said() {
        // A listener that would answer: the refusal must come from the client, not a failure.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = Url::parse(&format!("https://localhost:{port}/hook")).unwrap();
        let tried = post_once(
            &url,
            &serde_json::json!({}),
            Duration::from_secs(2),
            EndpointPolicy::PublicHttps,
        )
        .await;
        assert!(!tried.delivered && !tried.retryable);
        assert_eq!(
            tried.attempt.error.as_deref(),
            Some("refused: the host resolves to a non-public address")
        );
    }

    #[test]
    fn stored_urls_are_checked_again_for_the_deployment() {
        let aws = EndpointPolicy::PublicHttps;
        assert!(check_url("https://hooks.slack.com/services/a", aws).is_ok());
        assert!(check_url("http://hooks.slack.com/services/a", aws).is_err());
        assert!(check_url("https://127.0.0.1/a", aws).is_err());
        assert!(check_url("https://[::1]/a", aws).is_err());
        assert!(check_url("https://169.254.169.254/a", aws).is_err());
        assert!(check_url("http://127.0.0.1:9/a", EndpointPolicy::AllowLocal).is_ok());
    }
}
