//! An in-memory source for tests: backups given as bytes, with a switchable fault. The
//! operations' unit tests use it with in-memory targets and a fixed clock.

use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{Source, SourceError};
use crate::manifest::Origin;
use crate::stream::Reader;

pub struct MemorySource {
    name: String,
    /// (origin, bytes), the newest by time is the one `find` takes.
    backups: Mutex<Vec<(Origin, Bytes)>>,
    broken: Mutex<Option<String>>,
}

impl MemorySource {
    pub fn new(name: &str) -> Self {
        MemorySource {
            name: name.into(),
            backups: Mutex::default(),
            broken: Mutex::default(),
        }
    }

    /// Adds a backup as the PBX would have written it, as file `file` at `at`.
    pub fn add(&self, file: &str, at: DateTime<Utc>, bytes: Vec<u8>) {
        let origin = Origin {
            name: file.into(),
            time: at,
            size: bytes.len() as u64,
        };
        self.backups
            .lock()
            .expect("lock")
            .push((origin, Bytes::from(bytes)));
    }

    /// Makes every call fail (the PBX is unreachable).
    pub fn break_with(&self, why: &str) {
        *self.broken.lock().expect("lock") = Some(why.into());
    }

    fn check(&self) -> Result<(), SourceError> {
        match &*self.broken.lock().expect("lock") {
            Some(why) => Err(SourceError::Unavailable(format!(
                "source {}: {why}",
                self.name
            ))),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Source for MemorySource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn find(&self) -> Result<Origin, SourceError> {
        self.check()?;
        self.backups
            .lock()
            .expect("lock")
            .iter()
            .max_by_key(|(o, _)| o.time)
            .map(|(o, _)| o.clone())
            .ok_or_else(|| SourceError::NoBackup(format!("source {}: no backup", self.name)))
    }

    async fn open(&self, origin: &Origin) -> Result<Reader, SourceError> {
        self.check()?;
        let bytes = self
            .backups
            .lock()
            .expect("lock")
            .iter()
            .find(|(o, _)| o == origin)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| {
                SourceError::Unavailable(format!("source {}: {} is gone", self.name, origin.name))
            })?;
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }
}
