//! A folder that a PBX, its scheduler or a copy job writes backups into.
//!
//! The newest file (by modification time) whose name matches the pattern is the backup.
//! A file still being written is not taken: its size and modification time must stay the
//! same for `settle` first. A file that does not start like a zip is refused, so a stray
//! log or a half-copied file never becomes a "backup".

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::io::AsyncReadExt;

use super::{Source, SourceError, looks_like_zip};
use crate::config;
use crate::manifest::Origin;
use crate::stream::Reader;

pub struct FolderSource {
    name: String,
    cfg: config::FolderSource,
    /// What the last search saw besides the file it chose.
    notes: std::sync::Mutex<Vec<String>>,
}

impl FolderSource {
    pub fn new(name: &str, cfg: config::FolderSource) -> Self {
        FolderSource {
            name: name.into(),
            cfg,
            notes: std::sync::Mutex::default(),
        }
    }

    fn newest(&self) -> Result<(PathBuf, std::fs::Metadata), SourceError> {
        let dir = &self.cfg.path;
        let pattern = glob::Pattern::new(&self.cfg.pattern)
            .map_err(|e| SourceError::Invalid(format!("pattern {:?}: {e}", self.cfg.pattern)))?;
        let entries = std::fs::read_dir(dir).map_err(|e| SourceError::Io {
            what: format!("source {}: cannot read folder {}", self.name, dir.display()),
            source: e,
        })?;
        // A file dated ahead of this host's clock (a PBX clock far ahead, a file touched by
        // hand) is never taken over one that is not: it would stay "newest" for ever and hide
        // every real backup after it.
        let limit = SystemTime::now() + FUTURE_SKEW;
        let mut future: Vec<PathBuf> = Vec::new();
        let mut best: Option<((bool, SystemTime), PathBuf, std::fs::Metadata)> = None;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !pattern.matches(name) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if modified > limit {
                future.push(entry.path());
            }
            let rank = (modified <= limit, modified);
            if best
                .as_ref()
                .is_none_or(|(t, p, _)| (rank, entry.path()) > (*t, p.clone()))
            {
                best = Some((rank, entry.path(), meta));
            }
        }
        let mut notes = Vec::new();
        for f in &future {
            let taken = best.as_ref().is_some_and(|(_, p, _)| p == f);
            let note = format!(
                "{} is dated in the future (is the PBX's clock right?): {}",
                crate::escape::text(&f.display().to_string()),
                if taken {
                    "taken, as no other file is there"
                } else {
                    "not taken over the files that are not"
                }
            );
            tracing::warn!(source = %self.name, "{note}");
            notes.push(note);
        }
        *self.notes.lock().unwrap_or_else(|e| e.into_inner()) = notes;
        best.map(|(_, p, m)| (p, m)).ok_or_else(|| {
            SourceError::NoBackup(format!(
                "source {}: no file matching {:?} in {}",
                self.name,
                self.cfg.pattern,
                dir.display()
            ))
        })
    }
}

/// How far ahead of this host's clock a file may be dated and still be taken as the newest.
const FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);

fn stamp(meta: &std::fs::Metadata) -> (u64, SystemTime) {
    (
        meta.len(),
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    )
}

#[async_trait]
impl Source for FolderSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn find(&self) -> Result<Origin, SourceError> {
        let started = std::time::Instant::now();
        let (path, meta) = loop {
            let (path, meta) = self.newest()?;
            let age = SystemTime::now()
                .duration_since(stamp(&meta).1)
                .unwrap_or(Duration::ZERO);
            if age >= self.cfg.settle {
                break (path, meta);
            }
            // Young file: it may still be growing. Look again after `settle`.
            tracing::info!(source = %self.name, file = %path.display(), "waiting for the file to settle");
            tokio::time::sleep(self.cfg.settle).await;
            let again = std::fs::metadata(&path).map_err(|e| SourceError::Io {
                what: format!("source {}: {}", self.name, path.display()),
                source: e,
            })?;
            if stamp(&again) == stamp(&meta) {
                break (path, again);
            }
            if started.elapsed() > self.cfg.settle_timeout {
                return Err(SourceError::Unavailable(format!(
                    "source {}: {} kept changing for {:?}; is the PBX still writing it?",
                    self.name,
                    path.display(),
                    self.cfg.settle_timeout
                )));
            }
        };
        let mut head = [0u8; 4];
        let mut f = tokio::fs::File::open(&path)
            .await
            .map_err(|e| SourceError::Io {
                what: format!("source {}: {}", self.name, path.display()),
                source: e,
            })?;
        let n = f.read(&mut head).await.map_err(|e| SourceError::Io {
            what: format!("source {}: {}", self.name, path.display()),
            source: e,
        })?;
        if !looks_like_zip(&head[..n]) {
            return Err(SourceError::Invalid(format!(
                "source {}: {} is not a zip file (3CX backups are zips); remove it or narrow pattern = {:?}",
                self.name,
                path.display(),
                self.cfg.pattern
            )));
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let time: DateTime<Utc> = stamp(&meta).1.into();
        Ok(Origin {
            name,
            time,
            size: meta.len(),
        })
    }

    async fn probe(&self) -> Result<String, SourceError> {
        match self.newest() {
            Ok((path, meta)) => Ok(format!(
                "folder {} readable; newest match {} ({} bytes)",
                self.cfg.path.display(),
                path.file_name().unwrap_or_default().to_string_lossy(),
                meta.len()
            )),
            Err(SourceError::NoBackup(why)) => Ok(format!(
                "folder {} readable, but {why}",
                self.cfg.path.display()
            )),
            Err(e) => Err(e),
        }
    }

    async fn open(&self, origin: &Origin) -> Result<Reader, SourceError> {
        let path = self.cfg.path.join(&origin.name);
        let f = tokio::fs::File::open(&path)
            .await
            .map_err(|e| SourceError::Io {
                what: format!("source {}: {}", self.name, path.display()),
                source: e,
            })?;
        let meta = f.metadata().await.map_err(|e| SourceError::Io {
            what: format!("source {}: {}", self.name, path.display()),
            source: e,
        })?;
        if meta.len() != origin.size {
            return Err(SourceError::Unavailable(format!(
                "source {}: {} changed size since it was found; try again",
                self.name,
                path.display()
            )));
        }
        Ok(Box::new(f))
    }
}
