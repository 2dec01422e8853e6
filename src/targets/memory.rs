//! An in-memory target for tests, with switchable faults.
//!
//! It keeps the [`Target`] contract exactly (atomic, never overwriting puts; idempotent
//! deletes) so that the conformance suite can hold every other target to the same
//! behaviour, and it can be told to fail or to be slow, to test what the operations do
//! when a target misbehaves.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use super::{ObjectMeta, Payload, Properties, Reader, Target, TargetError};

/// The objects of one store; two targets may share one (one directory under two names).
pub type Store = std::sync::Arc<Mutex<BTreeMap<String, Bytes>>>;

pub struct MemoryTarget {
    name: String,
    props: Properties,
    objects: Store,
    /// Which store this is, as a local file system's device: objects report (store, path
    /// hash) as their identity, so that one store seen by two targets is one copy.
    store_id: u64,
    /// Paths listed as symbolic links (planted by a test): never followed.
    links: Mutex<Vec<String>>,
    /// Fail this many of the next `put` calls with a transient error.
    transient_failures: AtomicU32,
    /// Fail every call with a permanent error.
    broken: Mutex<Option<String>>,
    /// Sleep this long in every `put`.
    delay: Mutex<Duration>,
    puts: AtomicU32,
}

impl MemoryTarget {
    pub fn new(name: &str, props: Properties) -> Self {
        MemoryTarget::sharing(name, props, Store::default())
    }

    /// A target over `store`, which another target may hold too.
    pub fn sharing(name: &str, props: Properties, store: Store) -> Self {
        // The store's address: one id per live store, whichever target holds it.
        let store_id = std::sync::Arc::as_ptr(&store) as usize as u64;
        MemoryTarget {
            name: name.into(),
            props,
            objects: store,
            store_id,
            links: Mutex::default(),
            transient_failures: AtomicU32::new(0),
            broken: Mutex::default(),
            delay: Mutex::default(),
            puts: AtomicU32::new(0),
        }
    }

    pub fn fail_next_puts(&self, n: u32) {
        self.transient_failures.store(n, Ordering::SeqCst);
    }

    pub fn break_with(&self, why: &str) {
        *self.broken.lock().expect("lock") = Some(why.into());
    }

    pub fn set_delay(&self, d: Duration) {
        *self.delay.lock().expect("lock") = d;
    }

    /// How many `put` calls were made, failed ones included.
    pub fn put_calls(&self) -> u32 {
        self.puts.load(Ordering::SeqCst)
    }

    /// The store behind this target.
    pub fn store(&self) -> Store {
        std::sync::Arc::clone(&self.objects)
    }

    /// Plants a symbolic link at `path` (a test's attacker): listed as one, never followed.
    pub fn add_link(&self, path: &str) {
        self.links.lock().expect("lock").push(path.into());
    }

    /// Every object and its bytes.
    pub fn snapshot(&self) -> BTreeMap<String, Bytes> {
        self.objects.lock().expect("lock").clone()
    }

    /// Replaces an object's bytes behind pbx321's back (to test verification).
    pub fn tamper(&self, path: &str, bytes: Bytes) {
        self.objects
            .lock()
            .expect("lock")
            .insert(path.into(), bytes);
    }

    fn check(&self) -> Result<(), TargetError> {
        match &*self.broken.lock().expect("lock") {
            Some(why) => Err(TargetError::Permanent(format!(
                "target {}: {why}",
                self.name
            ))),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Target for MemoryTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn properties(&self) -> &Properties {
        &self.props
    }

    async fn put(&self, path: &str, payload: &Payload) -> Result<(), TargetError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        let delay = *self.delay.lock().expect("lock");
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if self
            .transient_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(TargetError::Transient(format!(
                "target {}: injected failure",
                self.name
            )));
        }
        if self.objects.lock().expect("lock").contains_key(path) {
            return Err(TargetError::AlreadyExists(path.into()));
        }
        let mut buf = Vec::new();
        payload
            .open()
            .await
            .map_err(|e| TargetError::Permanent(e.to_string()))?
            .read_to_end(&mut buf)
            .await
            .map_err(|e| TargetError::Permanent(e.to_string()))?;
        if buf.len() as u64 != payload.len() {
            return Err(TargetError::Permanent(format!(
                "target {}: payload has {} bytes, expected {}",
                self.name,
                buf.len(),
                payload.len()
            )));
        }
        let mut objects = self.objects.lock().expect("lock");
        if objects.contains_key(path) {
            return Err(TargetError::AlreadyExists(path.into()));
        }
        objects.insert(path.into(), Bytes::from(buf));
        Ok(())
    }

    async fn stat(&self, path: &str) -> Result<ObjectMeta, TargetError> {
        self.check()?;
        self.objects
            .lock()
            .expect("lock")
            .get(path)
            .map(|b| ObjectMeta::file(path, b.len() as u64, None))
            .ok_or_else(|| TargetError::NotFound(path.into()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TargetError> {
        self.check()?;
        let dir = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        let mut out: Vec<ObjectMeta> = self
            .objects
            .lock()
            .expect("lock")
            .iter()
            .filter(|(k, _)| k.starts_with(&dir))
            .map(|(k, v)| {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                k.hash(&mut h);
                ObjectMeta {
                    identity: Some(crate::facts::FileId {
                        dev: self.store_id,
                        ino: h.finish(),
                    }),
                    ..ObjectMeta::file(k.clone(), v.len() as u64, None)
                }
            })
            .collect();
        out.extend(
            self.links
                .lock()
                .expect("lock")
                .iter()
                .filter(|l| dir.is_empty() || l.starts_with(&dir) || **l == prefix)
                .map(ObjectMeta::symlink),
        );
        Ok(out)
    }

    async fn read(&self, path: &str) -> Result<Reader, TargetError> {
        self.check()?;
        let bytes = self
            .objects
            .lock()
            .expect("lock")
            .get(path)
            .cloned()
            .ok_or_else(|| TargetError::NotFound(path.into()))?;
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }

    async fn delete(&self, path: &str) -> Result<(), TargetError> {
        self.check()?;
        self.objects.lock().expect("lock").remove(path);
        Ok(())
    }
}
