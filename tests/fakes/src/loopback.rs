//! The one way every fake is served: an axum router on a free loopback port, stopped on drop.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A fake's running HTTP server; it stops when dropped.
pub(crate) struct LoopbackServer {
    url: String,
    shutdown: Option<oneshot::Sender<()>>,
}

/// Binds a free loopback port first, because a fake's answers embed its own URL (operation
/// links, next pages), so its state needs the URL before its router exists.
///
/// Panics when no port can be bound: a fake that cannot listen is a broken test environment,
/// not a condition to handle.
pub(crate) async fn bind(what: &str) -> (TcpListener, String) {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap_or_else(|err| panic!("bind {what} to a loopback port: {err}"));
    let address = listener
        .local_addr()
        .expect("a bound listener has an address");
    (listener, format!("http://{address}"))
}

impl LoopbackServer {
    pub(crate) fn serve(listener: TcpListener, url: String, app: Router) -> Self {
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            url,
            shutdown: Some(shutdown),
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
