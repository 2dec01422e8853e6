//! Deadlines by progress, as a wrapper around any [`Target`]: an operation fails when it
//! makes no progress for the target's `io_timeout` — no answer to a listing, a stat or a
//! delete; no byte taken by an upload; no byte given by a download — never because it is
//! slow: an upload over a thin link that keeps moving bytes takes as long as it takes.
//!
//! "A byte taken" is a byte handed to the connection (a WebDAV or SFTP stream; the body of an
//! S3 object or part, in chunks of 64 KiB), which the client and the kernel buffer before
//! the server reads it. So an upload may stand still for the limit plus the time those
//! buffered bytes take at [`FLOOR_RATE`] (at most [`WINDOW`]) — a link slower than that is
//! taken for stalled.
//!
//! A target that stalls once is given up on for the rest of the run ([`TargetError::Stalled`],
//! never retried): every later operation on it fails at once with the same reason, so that
//! one server that accepts connections and never answers costs a run one `io_timeout`, not
//! one per operation, and never holds the other targets back.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, ReadBuf};

use super::{ObjectMeta, Payload, Placement, Properties, Reader, Target, TargetError};

/// The slowest link an upload is still waited for on (bytes a second).
pub const FLOOR_RATE: f64 = 8.0 * 1024.0;
/// The most a stream upload can have handed to the network and not yet seen taken.
pub const WINDOW: u64 = 8 << 20;

pub struct Stall {
    inner: Arc<dyn Target>,
    limit: Duration,
    /// Why the target was given up on, once it was.
    given_up: Arc<Mutex<Option<String>>>,
}

impl Stall {
    pub fn new(inner: Arc<dyn Target>, limit: Duration) -> Self {
        Stall {
            inner,
            limit,
            given_up: Arc::default(),
        }
    }

    /// Fails at once when the target was given up on.
    fn check(&self) -> Result<(), TargetError> {
        match &*self.given_up.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(why) => Err(TargetError::Stalled(why.clone())),
            None => Ok(()),
        }
    }

    /// Gives the target up for the run: `what` made no progress for the limit.
    fn stalled(&self, what: &str) -> TargetError {
        let why = stalled_text(self.inner.name(), what, self.limit);
        tracing::warn!(target_name = self.inner.name(), "{why}");
        *self.given_up.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
        TargetError::Stalled(why)
    }

    /// `work`, which moves no bytes worth watching: it must finish within the limit.
    async fn bounded<T>(
        &self,
        what: &str,
        work: impl std::future::Future<Output = Result<T, TargetError>>,
    ) -> Result<T, TargetError> {
        self.check()?;
        match tokio::time::timeout(self.limit, work).await {
            Ok(r) => self.note(r),
            Err(_) => Err(self.stalled(what)),
        }
    }

    /// A stall the target itself saw (a server that took the connection and never spoke)
    /// gives it up too.
    fn note<T>(&self, r: Result<T, TargetError>) -> Result<T, TargetError> {
        if let Err(TargetError::Stalled(why)) = &r {
            *self.given_up.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
        }
        r
    }
}

fn stalled_text(target: &str, what: &str, limit: Duration) -> String {
    format!(
        "target {target}: {what} made no progress for {} (io_timeout): the server does not answer; given up on for this run",
        crate::format::duration(limit)
    )
}

#[async_trait]
impl Target for Stall {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn properties(&self) -> &Properties {
        self.inner.properties()
    }

    /// An upload fails when the payload's position stands still for the limit (the bytes
    /// the target took so far; after the last one, its answer).
    async fn put(&self, path: &str, payload: &Payload) -> Result<(), TargetError> {
        self.check()?;
        if !matches!(payload, Payload::File { .. }) {
            return self.bounded("writing", self.inner.put(path, payload)).await;
        }
        let allowed =
            self.limit + Duration::from_secs_f64(payload.len().min(WINDOW) as f64 / FLOOR_RATE);
        let work = self.inner.put(path, payload);
        tokio::pin!(work);
        let tick = (self.limit / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut last = payload.position();
        let mut since = tokio::time::Instant::now();
        loop {
            tokio::select! {
                r = &mut work => return self.note(r),
                () = tokio::time::sleep(tick) => {
                    let now = payload.position();
                    if now != last {
                        (last, since) = (now, tokio::time::Instant::now());
                    } else if since.elapsed() >= allowed {
                        return Err(self.stalled("writing"));
                    }
                }
            }
        }
    }

    async fn stat(&self, path: &str) -> Result<ObjectMeta, TargetError> {
        self.bounded("stat", self.inner.stat(path)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TargetError> {
        self.bounded("listing", self.inner.list(prefix)).await
    }

    /// Opening must answer within the limit; the stream then fails when no byte comes for
    /// the limit.
    async fn read(&self, path: &str) -> Result<Reader, TargetError> {
        let reader = self.bounded("reading", self.inner.read(path)).await?;
        Ok(Box::new(StallReader {
            inner: reader,
            limit: self.limit,
            deadline: None,
            on_stall: StallNote {
                target: self.inner.name().to_string(),
                limit: self.limit,
                given_up: Arc::clone(&self.given_up),
            },
        }))
    }

    async fn delete(&self, path: &str) -> Result<(), TargetError> {
        self.bounded("delete", self.inner.delete(path)).await
    }

    async fn retention(
        &self,
        path: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, TargetError> {
        self.bounded("reading the lock", self.inner.retention(path))
            .await
    }

    async fn abort_stale_uploads(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, TargetError> {
        self.bounded(
            "listing incomplete uploads",
            self.inner.abort_stale_uploads(before),
        )
        .await
    }

    async fn placement(&self) -> Placement {
        tokio::time::timeout(self.limit, self.inner.placement())
            .await
            .unwrap_or_default()
    }

    async fn stage(&self, path: &str) -> Option<(std::fs::File, std::path::PathBuf)> {
        if self.check().is_err() {
            return None;
        }
        tokio::time::timeout(self.limit, self.inner.stage(path))
            .await
            .ok()
            .flatten()
    }

    fn local_device(&self) -> Option<u64> {
        self.inner.local_device()
    }

    fn hashed_part_size(&self) -> Option<u64> {
        self.inner.hashed_part_size()
    }

    async fn free_space(&self) -> Option<u64> {
        if self.check().is_err() {
            return None;
        }
        tokio::time::timeout(self.limit, self.inner.free_space())
            .await
            .ok()
            .flatten()
    }

    async fn probe(&self, path: &str, bytes: &[u8]) -> Result<(), TargetError> {
        self.bounded("probe", self.inner.probe(path, bytes)).await
    }
}

/// What a stalled stream records: the target is given up on.
struct StallNote {
    target: String,
    limit: Duration,
    given_up: Arc<Mutex<Option<String>>>,
}

/// A download that fails when no byte comes for the limit.
struct StallReader {
    inner: Reader,
    limit: Duration,
    /// When the read now waiting gives up; `None` between reads.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    on_stall: StallNote,
}

impl AsyncRead for StallReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.deadline = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let limit = this.limit;
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match deadline.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        let n = &this.on_stall;
                        let why = stalled_text(&n.target, "reading", n.limit);
                        tracing::warn!(target_name = %n.target, "{why}");
                        *n.given_up.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
                        Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, why)))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Location, Medium};

    /// A target whose every operation waits for ever (a server that accepts and never
    /// answers), but for `put`, which takes the payload `rate` bytes per 100 ms.
    struct Hanging {
        props: Properties,
        rate: Option<usize>,
    }

    #[async_trait]
    impl Target for Hanging {
        fn name(&self) -> &str {
            "hang"
        }
        fn properties(&self) -> &Properties {
            &self.props
        }
        async fn put(&self, _: &str, payload: &Payload) -> Result<(), TargetError> {
            let Some(rate) = self.rate else {
                return std::future::pending().await;
            };
            // Taken as an S3 upload takes its parts: counted as it goes.
            let mut left = payload.len();
            while left > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let n = left.min(rate as u64);
                payload.taken(n, None);
                left -= n;
            }
            Ok(())
        }
        async fn stat(&self, _: &str) -> Result<ObjectMeta, TargetError> {
            std::future::pending().await
        }
        async fn list(&self, _: &str) -> Result<Vec<ObjectMeta>, TargetError> {
            std::future::pending().await
        }
        async fn read(&self, _: &str) -> Result<Reader, TargetError> {
            let (client, _server) = tokio::io::duplex(64);
            // The server end is kept open and silent.
            std::mem::forget(_server);
            Ok(Box::new(client))
        }
        async fn delete(&self, _: &str) -> Result<(), TargetError> {
            std::future::pending().await
        }
    }

    fn stall(rate: Option<usize>) -> Stall {
        let props = Properties {
            medium: Medium::Nas,
            location: Location::Onsite,
            immutable_capable: false,
            declared: false,
        };
        Stall::new(Arc::new(Hanging { props, rate }), Duration::from_secs(60))
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_is_given_up_on_after_one_limit() {
        let t = stall(None);
        let started = tokio::time::Instant::now();
        let e = t.list("hq").await.unwrap_err();
        assert!(matches!(e, TargetError::Stalled(_)), "{e}");
        assert!(e.to_string().contains("no progress for 1m"), "{e}");
        assert_eq!(started.elapsed(), Duration::from_secs(60));
        // Given up for the run: everything else fails at once.
        let e = t.stat("hq/x").await.unwrap_err();
        assert!(matches!(e, TargetError::Stalled(_)));
        assert_eq!(started.elapsed(), Duration::from_secs(60));
        assert!(!e.is_retryable());
    }

    #[tokio::test(start_paused = true)]
    async fn a_download_that_stops_sending_fails_after_the_limit() {
        use tokio::io::AsyncReadExt;
        let t = stall(None);
        let mut r = t.read("hq/x").await.unwrap();
        let started = tokio::time::Instant::now();
        let e = r.read(&mut [0u8; 16]).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(60));
        assert!(t.list("").await.is_err(), "given up after a stalled read");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_upload_that_keeps_moving_is_never_cut() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p");
        std::fs::write(&f, vec![7u8; 64 * 1024]).unwrap();
        // 64 KiB at 160 bytes a second: far longer than the limit, always moving.
        let t = stall(Some(16));
        let started = tokio::time::Instant::now();
        t.put("hq/x", &Payload::file(f.clone(), 64 * 1024))
            .await
            .unwrap();
        assert!(started.elapsed() > Duration::from_secs(400));
        // A server that takes nothing stalls.
        let t = stall(None);
        let e = t
            .put("hq/x", &Payload::file(f, 64 * 1024))
            .await
            .unwrap_err();
        assert!(matches!(e, TargetError::Stalled(_)), "{e}");
    }
}
