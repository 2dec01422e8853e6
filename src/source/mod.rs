//! Sources: where backups come from.
//!
//! A source answers two questions, separately so that the caller can skip a backup it
//! already stores without reading a byte of it: [`Source::find`] names the backup to take
//! now (as an [`Origin`]), [`Source::open`] streams its bytes. Bytes are read once, straight
//! into the seal; a source never writes plaintext anywhere.

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{SourceConfig, SourceKind};
use crate::manifest::Origin;
use crate::stream::Reader;

pub mod command;
pub mod folder;
pub mod memory;
pub mod pbx_http;
pub mod threecx;
pub mod threecx_v18;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    NoBackup(String),
    /// The PBX answered 403: the credentials may not do or read this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

#[async_trait]
pub trait Source: Send + Sync {
    fn name(&self) -> &str;
    /// The backup to take now. Waits, bounded, for a backup still being written.
    async fn find(&self) -> Result<Origin, SourceError>;
    /// Streams the bytes of the backup `find` returned.
    async fn open(&self, origin: &Origin) -> Result<Reader, SourceError>;

    /// What the PBX is now, as a backup about to be stored records it (its version and
    /// configuration counts), read in the session that found `origin`. `None` for sources
    /// that cannot tell; what one cannot read is left out, never guessed.
    async fn shape(&self, _origin: &Origin) -> Option<crate::manifest::PbxShape> {
        None
    }

    /// Called once the backup was sealed into the spool (the plaintext is no longer needed).
    async fn sealed(&self, _origin: &Origin) {}

    /// Called after the run with whether the rule holds for this backup's copies.
    async fn stored(&self, _origin: &Origin, _invariant_ok: bool) {}

    /// Whether the source can be reached and read, without taking or changing a backup
    /// (`config check --online`): what was found, in words.
    async fn probe(&self) -> Result<String, SourceError> {
        Ok("nothing to probe".into())
    }

    /// What the last `find` saw that is worth telling besides the backup it chose (a file
    /// dated in the future, passed over): recorded with the run, and named by `check`.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// What the PBX tells about its own readiness (3CX V20 through XAPI, read-only);
    /// `None` for sources that cannot tell (folder, command, V18).
    async fn readiness(&self) -> Option<crate::facts::pbx::PbxFacts> {
        None
    }
}

pub fn open(cfg: &SourceConfig) -> Arc<dyn Source> {
    match &cfg.kind {
        SourceKind::Folder(f) => Arc::new(folder::FolderSource::new(&cfg.name, f.clone())),
        SourceKind::Command(c) => Arc::new(command::CommandSource::new(&cfg.name, c.clone())),
        SourceKind::ThreeCx(t) => Arc::new(threecx::ThreeCx::new(&cfg.name, t.clone())),
        SourceKind::ThreeCxV18(t) => Arc::new(threecx_v18::ThreeCxV18::new(&cfg.name, t.clone())),
    }
}

/// The first bytes of every zip file (a local file header, or the end record of an empty one).
pub fn looks_like_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}
