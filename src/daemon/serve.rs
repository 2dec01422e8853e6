//! Serving the daemon's routes so that no client can starve them.
//!
//! - A client gets [`HEADER_TIMEOUT`] to send its request head; a connection serves one
//!   request (no keep-alive: the page and the scrapers need no more) and lives at most
//!   [`CONNECTION_LIFE`].
//! - At most [`MAX_CONNECTIONS`] connections are open at once, far below the usual 1024
//!   file descriptors, so that the scheduled jobs always have theirs. When all are taken,
//!   the oldest connection that has still not sent its request head is dropped for the new
//!   one: clients that trickle headers to hold connections (slowloris) only push each other
//!   out, while a real request — `/healthz` from a monitor — gets in at once.
//! - Running out of file descriptors while accepting is logged as what it is, with the fix,
//!   and never stops the server.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

/// A client gets this long to send its request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once.
pub const MAX_CONNECTIONS: usize = 256;
/// The longest one connection is kept.
pub const CONNECTION_LIFE: Duration = Duration::from_secs(60);

/// Connections that have not sent a request head yet, oldest first: the ones to drop when
/// every slot is taken.
type Waiting = Arc<Mutex<VecDeque<(u64, tokio::task::AbortHandle)>>>;

/// The routes as a hyper service that tells, on the first request head, that its connection
/// is no longer waiting.
#[derive(Clone)]
struct Marked {
    inner: TowerToHyperService<axum::Router>,
    id: u64,
    waiting: Waiting,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Marked {
    type Response = <TowerToHyperService<axum::Router> as hyper::service::Service<
        hyper::Request<Incoming>,
    >>::Response;
    type Error = <TowerToHyperService<axum::Router> as hyper::service::Service<
        hyper::Request<Incoming>,
    >>::Error;
    type Future = <TowerToHyperService<axum::Router> as hyper::service::Service<
        hyper::Request<Incoming>,
    >>::Future;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        forget(&self.waiting, self.id);
        self.inner.call(req)
    }
}

/// Takes connection `id` off the waiting list.
fn forget(waiting: &Waiting, id: u64) {
    let mut w = waiting.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = w.iter().position(|(x, _)| *x == id) {
        w.remove(i);
    }
}

/// Serves `app` on `listener` for ever.
pub async fn serve(listener: tokio::net::TcpListener, app: axum::Router) -> Infallible {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let waiting: Waiting = Arc::default();
    let ids = AtomicU64::new(0);
    let mut fd_warned: Option<tokio::time::Instant> = None;
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                if crate::error::is_out_of_fds(&e) {
                    if fd_warned.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                        tracing::error!(
                            "the status page cannot accept a connection: too many open files ({e}); raise the limit (systemd: LimitNOFILE=, which the shipped units set to 65536)"
                        );
                        fd_warned = Some(tokio::time::Instant::now());
                    }
                } else {
                    tracing::warn!("the status page could not accept a connection: {e}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Every slot taken: the oldest connection still without a request head goes.
        if slots.available_permits() == 0 {
            let oldest = waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            if let Some((_, task)) = oldest {
                task.abort();
            }
        }
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            continue; // never closed
        };
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let service = Marked {
            inner: TowerToHyperService::new(app.clone()),
            id,
            waiting: Arc::clone(&waiting),
        };
        let w = Arc::clone(&waiting);
        // Registered under the lock, so the task cannot forget itself before it is known.
        let mut list = waiting.lock().unwrap_or_else(|e| e.into_inner());
        let task = tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFE, conn).await;
            forget(&w, id);
            drop(slot);
        });
        list.push_back((id, task.abort_handle()));
    }
}
