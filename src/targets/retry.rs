//! Bounded retries with exponential backoff, as a wrapper around any [`Target`].
//!
//! Only [`TargetError::Transient`] is retried. A `put` retried after a transient failure
//! may find its own earlier attempt committed after all (the connection dropped after the
//! store had the object): the object is taken as this write's only when it holds exactly
//! the payload's bytes ([`super::holds`]): another writer's object of the same size (two
//! hosts sharing a target) is never taken for ours.

use std::sync::Arc;

use async_trait::async_trait;

use super::{ObjectMeta, Payload, Properties, Reader, Target, TargetError};

pub use crate::backoff::Backoff;

pub struct Retry {
    inner: Arc<dyn Target>,
    backoff: Backoff,
    /// Set when an operation failed with a temporary error on every try: the target is down
    /// for this run, and every later operation fails at once with that error instead of
    /// trying again (one unreachable NAS costs a run one round of retries, not one per
    /// manifest).
    down: std::sync::Mutex<Option<String>>,
}

impl Retry {
    pub fn new(inner: Arc<dyn Target>, backoff: Backoff) -> Self {
        Retry {
            inner,
            backoff,
            down: std::sync::Mutex::default(),
        }
    }

    async fn run<T, F, Fut>(&self, what: &str, f: F) -> Result<T, TargetError>
    where
        F: FnMut(u32) -> Fut + Send,
        Fut: std::future::Future<Output = Result<T, TargetError>> + Send,
    {
        if let Some(why) = &*self.down.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(TargetError::Transient(why.clone()));
        }
        let name = self.inner.name();
        let attempts = self.backoff.attempts;
        let result = self
            .backoff
            .run(f, TargetError::is_retryable, |n, e, pause| {
                tracing::info!(target_name = name, error = %e, "{what} failed; try {n} of {attempts} in {pause:?}");
            })
            .await;
        match result {
            Ok(v) => Ok(v),
            Err((TargetError::Transient(msg), n)) if n > 1 => {
                let why = format!("{msg}; gave up after {n} tries");
                *self.down.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(format!("{why} (not tried again this run)"));
                Err(TargetError::Transient(why))
            }
            Err((e, _)) => Err(e),
        }
    }
}

#[async_trait]
impl Target for Retry {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn properties(&self) -> &Properties {
        self.inner.properties()
    }

    async fn put(&self, path: &str, payload: &Payload) -> Result<(), TargetError> {
        self.run("put", |n| async move {
            match self.inner.put(path, payload).await {
                Err(TargetError::AlreadyExists(e)) if n > 1 => {
                    match super::holds(self.inner.as_ref(), path, payload).await {
                        Ok(true) => Ok(()),
                        _ => Err(TargetError::AlreadyExists(e)),
                    }
                }
                other => other,
            }
        })
        .await
    }

    async fn stat(&self, path: &str) -> Result<ObjectMeta, TargetError> {
        self.run("stat", |_| self.inner.stat(path)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TargetError> {
        self.run("list", |_| self.inner.list(prefix)).await
    }

    async fn read(&self, path: &str) -> Result<Reader, TargetError> {
        self.run("read", |_| self.inner.read(path)).await
    }

    async fn delete(&self, path: &str) -> Result<(), TargetError> {
        self.run("delete", |_| self.inner.delete(path)).await
    }

    async fn retention(
        &self,
        path: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, TargetError> {
        self.run("retention", |_| self.inner.retention(path)).await
    }

    async fn placement(&self) -> super::Placement {
        self.inner.placement().await
    }

    async fn free_space(&self) -> Option<u64> {
        self.inner.free_space().await
    }

    async fn stage(&self, path: &str) -> Option<(std::fs::File, std::path::PathBuf)> {
        self.inner.stage(path).await
    }

    fn local_device(&self) -> Option<u64> {
        self.inner.local_device()
    }

    fn hashed_part_size(&self) -> Option<u64> {
        self.inner.hashed_part_size()
    }

    async fn probe(&self, path: &str, bytes: &[u8]) -> Result<(), TargetError> {
        self.inner.probe(path, bytes).await
    }

    async fn abort_stale_uploads(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, TargetError> {
        self.run("abort stale uploads", |_| {
            self.inner.abort_stale_uploads(before)
        })
        .await
    }
}
