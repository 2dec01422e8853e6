//! Storage targets: where copies go.
//!
//! # The contract every [`Target`] keeps
//!
//! Paths are `/`-separated and relative to the target's root (`hq/hq-20261125T030000Z.zip.zst.age`).
//!
//! - **`put` is atomic and never overwrites.** After `put` returns `Ok`, the object is whole
//!   under `path`; after an error, nothing is under `path` (a `*.partial` object may be left
//!   behind by a crash, which [`crate::manifest::classify`] recognises and later runs delete).
//!   If `path` already exists, `put` fails with [`TargetError::AlreadyExists`] and leaves it
//!   untouched: a backup is never silently replaced.
//! - **`stat` / `read` of a missing object** fail with [`TargetError::NotFound`].
//! - **`list(prefix)`** returns every file below `prefix` (recursively) with its size, in one
//!   pass where the store allows; never directories, never in-progress writes that have not
//!   been committed by `put` (they carry the partial suffix and are listed as such).
//! - **`delete` is idempotent**: deleting a missing object is `Ok`.
//! - **Errors say whether a retry can help**: [`TargetError::Transient`] (network blips,
//!   5xx, timeouts) may succeed later; [`TargetError::Permanent`] (permission denied, full
//!   disk, bad credentials) will not without a human.
//!
//! Retrying, logging and dry-runs wrap a target ([`retry::Retry`]); implementations do not
//! repeat them. Every implementation runs the same conformance suite
//! (`tests/integration/conformance.rs`).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use chrono::{DateTime, Utc};

use crate::config::{Location, Medium, TargetConfig, TargetKind};
pub use crate::facts::Placement;

pub mod beneath;
pub mod dal;
pub mod fs;
pub mod memory;
pub mod parts;
pub mod retry;
pub mod s3;
pub mod sftp;
pub mod stall;
pub mod webdav;

/// What a target is, for the 3-2-1 rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Properties {
    pub medium: Medium,
    pub location: Location,
    /// Whether the target can hold a copy that cannot be deleted before a date.
    pub immutable_capable: bool,
    /// Medium and location are taken as declared (`trust_labels`), not verified.
    pub declared: bool,
}

pub use crate::facts::ObjectMeta;
pub use parts::PartHashes;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TargetError {
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0} already exists; pbx321 never overwrites a stored object")]
    AlreadyExists(String),
    #[error("{}", transient(.0))]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
    /// Permission denied: this user (or these credentials) may not do it. Permanent; a
    /// check that meets it cannot answer, and says so (UNKNOWN).
    #[error("{0}")]
    Denied(String),
    /// No progress within the target's `io_timeout` (a server that accepts and never
    /// answers): not retried, and the target is given up on for the run.
    #[error("{0}")]
    Stalled(String),
}

/// A transient error says a retry may succeed, unless retries were already given up.
fn transient(msg: &str) -> String {
    if msg.contains("gave up after") {
        msg.to_string()
    } else {
        format!("{msg} (temporary; a retry may succeed)")
    }
}

impl TargetError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, TargetError::Transient(_))
    }
}

/// What `put` writes: re-openable, so a retry starts again from the first byte, and of known
/// length, for stores that need it up front.
#[derive(Debug, Clone)]
pub enum Payload {
    /// A file on local disk (the spool).
    File {
        path: PathBuf,
        len: u64,
        /// Set once a target has taken the file itself as its copy (a hard link on the same
        /// filesystem, instead of writing the bytes again). Only one target may: two names
        /// for one inode would be one copy, not two. Shared by all clones of the payload.
        adopted: Arc<AtomicBool>,
        /// The file's sha256 (lowercase hex), when known: what tells this payload's bytes
        /// from another writer's of the same size.
        sha256: Option<String>,
        /// Counts the bytes a target has taken (a progress bar; hidden unless on a terminal).
        progress: indicatif::ProgressBar,
        /// Bytes handed to the network and not yet confirmed (an S3 part on its way): what
        /// shows a slow upload is moving before its part is confirmed. One per target.
        sent: Arc<AtomicU64>,
        /// Copies written while the file was sealed, each already whole and fsynced under
        /// its target's partial name: (target, object path, file). A target takes its own
        /// once, by renaming it, instead of copying the file again.
        staged: Arc<std::sync::Mutex<Vec<Staged>>>,
        /// SHA-256 of each part of the file, made while it was written (see [`parts`]).
        parts: Arc<Vec<PartHashes>>,
    },
    /// Small objects (manifests).
    Bytes(Bytes),
}

pub use crate::stream::Reader;

/// A copy written beside the spool while sealing (see [`Payload::File`]'s `staged`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub target: String,
    /// The object it is a copy for.
    pub path: String,
    /// The whole, fsynced file under the target's partial name.
    pub file: PathBuf,
}

impl Payload {
    /// A finished, fsynced local file that will not change while targets read it.
    pub fn file(path: PathBuf, len: u64) -> Payload {
        Payload::File {
            path,
            len,
            adopted: Arc::new(AtomicBool::new(false)),
            sha256: None,
            progress: indicatif::ProgressBar::hidden(),
            sent: Arc::default(),
            staged: Arc::default(),
            parts: Arc::default(),
        }
    }

    /// The same payload with the part hashes made while it was written.
    pub fn with_part_hashes(mut self, hashes: Vec<PartHashes>) -> Payload {
        if let Payload::File { parts, .. } = &mut self {
            *parts = Arc::new(hashes);
        }
        self
    }

    /// The SHA-256 of part `number` (1-based) of `size`-byte parts, when it was made while
    /// the file was written.
    pub fn part_hash(&self, size: u64, number: u64) -> Option<[u8; 32]> {
        match self {
            Payload::File { parts, len, .. } => {
                parts.iter().find_map(|p| p.get(size, *len, number))
            }
            Payload::Bytes(_) => None,
        }
    }

    /// The same payload with copies staged while sealing.
    pub fn with_staged(self, copies: Vec<Staged>) -> Payload {
        if let Payload::File { staged, .. } = &self {
            let mut s = staged.lock().unwrap_or_else(|e| e.into_inner());
            s.extend(copies);
        }
        self
    }

    /// Takes the staged copy of `path` for `target`, if there is one (once).
    pub fn take_staged(&self, target: &str, path: &str) -> Option<PathBuf> {
        let Payload::File { staged, .. } = self else {
            return None;
        };
        let mut s = staged.lock().unwrap_or_else(|e| e.into_inner());
        let i = s
            .iter()
            .position(|c| c.target == target && c.path == path)?;
        Some(s.remove(i).file)
    }

    /// The staged copies no target took (to remove).
    pub fn untaken_staged(&self) -> Vec<Staged> {
        match self {
            Payload::File { staged, .. } => {
                std::mem::take(&mut *staged.lock().unwrap_or_else(|e| e.into_inner()))
            }
            Payload::Bytes(_) => Vec::new(),
        }
    }

    /// The same payload, counting what one target takes of it on `bar`.
    pub fn metered(&self, bar: indicatif::ProgressBar) -> Payload {
        match self {
            Payload::File {
                path,
                len,
                adopted,
                sha256,
                staged,
                parts,
                ..
            } => Payload::File {
                path: path.clone(),
                len: *len,
                adopted: Arc::clone(adopted),
                sha256: sha256.clone(),
                progress: bar,
                sent: Arc::default(),
                staged: Arc::clone(staged),
                parts: Arc::clone(parts),
            },
            Payload::Bytes(b) => Payload::Bytes(b.clone()),
        }
    }

    /// How far the target taking this payload has got (a file payload; always 0 for small
    /// ones): the bytes it has taken plus those handed to the network. It changes only while
    /// the upload moves (or starts again), which is what tells a slow upload from a stalled
    /// one; it is no byte count to show.
    pub fn position(&self) -> u64 {
        match self {
            Payload::File { progress, sent, .. } => {
                progress.position() + sent.load(Ordering::Relaxed)
            }
            Payload::Bytes(_) => 0,
        }
    }

    /// The counter of bytes handed to the network before the target confirms them (for a
    /// target that sends regions itself, as S3 sends parts).
    pub fn sent_counter(&self) -> Option<Arc<AtomicU64>> {
        match self {
            Payload::File { sent, .. } => Some(Arc::clone(sent)),
            Payload::Bytes(_) => None,
        }
    }

    /// Counts `n` bytes taken by a target that reads regions itself (S3 parts); `at`
    /// replaces the count when a retry starts again.
    pub fn taken(&self, n: u64, at: Option<u64>) {
        if let Payload::File { progress, .. } = self {
            match at {
                Some(pos) => progress.set_position(pos),
                None => progress.inc(n),
            }
        }
    }

    /// A file payload whose sha256 is known (the spool: its manifest says it).
    pub fn file_with_sha256(path: PathBuf, len: u64, sha256: String) -> Payload {
        let mut p = Payload::file(path, len);
        if let Payload::File { sha256: known, .. } = &mut p {
            *known = Some(sha256);
        }
        p
    }

    /// Claims the right to take the file itself as a copy; true for the first caller only.
    pub fn claim_file(&self) -> Option<&std::path::Path> {
        match self {
            Payload::File { path, adopted, .. } if !adopted.swap(true, Ordering::SeqCst) => {
                Some(path)
            }
            _ => None,
        }
    }

    /// Gives the claim back after the file could not be taken after all.
    pub fn release_file(&self) {
        if let Payload::File { adopted, .. } = self {
            adopted.store(false, Ordering::SeqCst);
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            Payload::File { len, .. } => *len,
            Payload::Bytes(b) => b.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A fresh reader from the first byte. A file whose size is no longer the payload's
    /// length is refused before a byte is sent.
    pub async fn open(&self) -> io::Result<Reader> {
        Ok(match self {
            Payload::File {
                path,
                len,
                progress,
                ..
            } => {
                let file = tokio::fs::File::open(path).await?;
                let size = file.metadata().await?.len();
                if size != *len {
                    return Err(io::Error::other(format!(
                        "{} has {size} bytes, expected {len}: it changed after sealing",
                        path.display()
                    )));
                }
                // A retry starts again from the first byte, and so does its count.
                progress.set_position(0);
                crate::progress::metered(
                    Box::new(tokio::io::BufReader::with_capacity(256 * 1024, file)),
                    progress,
                )
            }
            Payload::Bytes(b) => Box::new(std::io::Cursor::new(b.clone())),
        })
    }
}

#[async_trait]
pub trait Target: Send + Sync {
    /// The configured name.
    fn name(&self) -> &str;
    fn properties(&self) -> &Properties;
    /// Writes `payload` under `path`, atomically, never overwriting (see the module doc).
    async fn put(&self, path: &str, payload: &Payload) -> Result<(), TargetError>;
    async fn stat(&self, path: &str) -> Result<ObjectMeta, TargetError>;
    /// Every file below `prefix` (`""` for all), recursively.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TargetError>;
    /// A streaming reader of the whole object.
    async fn read(&self, path: &str) -> Result<Reader, TargetError>;
    async fn delete(&self, path: &str) -> Result<(), TargetError>;

    /// The retain-until date of the object's lock as the store reports it, or `None` when
    /// the object is not locked (or the target cannot lock).
    async fn retention(&self, _path: &str) -> Result<Option<DateTime<Utc>>, TargetError> {
        Ok(None)
    }

    /// Aborts the uploads that were started before `before` and never completed (S3
    /// multipart uploads, which are invisible to `list` but stored and billed); returns
    /// their paths. Stores without such uploads have none.
    async fn abort_stale_uploads(
        &self,
        _before: DateTime<Utc>,
    ) -> Result<Vec<String>, TargetError> {
        Ok(Vec::new())
    }

    /// Where the data lies (filesystem, host, endpoint), for counting media and offsite
    /// copies honestly. Unknown by default.
    async fn placement(&self) -> Placement {
        Placement::default()
    }

    /// Starts a copy of the object `path` to be written while the payload is still being
    /// made: a new, empty file under the target's partial name, on local disk only. `None`
    /// where the target cannot (not local, not mounted, the object exists).
    async fn stage(&self, _path: &str) -> Option<(std::fs::File, PathBuf)> {
        None
    }

    /// The device of the local file system the target writes to (local disk only).
    fn local_device(&self) -> Option<u64> {
        None
    }

    /// The part size of the multipart uploads this target would make, for which the
    /// payload's part hashes are worth making while it is written (S3 only).
    fn hashed_part_size(&self) -> Option<u64> {
        None
    }

    /// Free bytes where the store tells (a local file system, an SFTP server with the
    /// statvfs extension); `None` where it does not (object stores, WebDAV).
    async fn free_space(&self) -> Option<u64> {
        None
    }

    /// Writes `bytes` under `path`, reads them back and deletes them: whether this target
    /// works now, end to end (`config check --online`). Not retried: the answer is for now.
    async fn probe(&self, path: &str, bytes: &[u8]) -> Result<(), TargetError> {
        self.put(path, &Payload::Bytes(Bytes::copy_from_slice(bytes)))
            .await?;
        let back = self.read_small(path, bytes.len() as u64).await;
        let deleted = self.delete(path).await;
        match back {
            Ok(b) if b == bytes => {}
            Ok(_) => {
                return Err(TargetError::Permanent(format!(
                    "target {}: {path} read back differs from what was written",
                    self.name()
                )));
            }
            Err(e) => return Err(e),
        }
        deleted
    }

    /// Reads a small object whole, refusing one larger than `limit` bytes.
    async fn read_small(&self, path: &str, limit: u64) -> Result<Vec<u8>, TargetError> {
        let reader = self.read(path).await?;
        let mut out = Vec::new();
        reader
            .take(limit + 1)
            .read_to_end(&mut out)
            .await
            .map_err(|e| TargetError::Transient(format!("reading {path}: {e}")))?;
        if out.len() as u64 > limit {
            return Err(TargetError::Permanent(format!(
                "{path} is larger than {limit} bytes; it is not a manifest"
            )));
        }
        Ok(out)
    }
}

/// Opens the target a config entry describes, wrapped in the standard retry policy.
/// Secrets are resolved here, at the edge, and never kept in a printable form. Opening is
/// part of that target's work: a target that cannot be opened (an unset secret, a bad
/// endpoint) is returned as one whose every operation fails with why, so that it fails
/// alone and the other targets go on. `share` says who may read what a local (`fs`)
/// target writes.
pub async fn open(cfg: &TargetConfig, share: &crate::share::Share) -> Arc<dyn Target> {
    let props = Properties {
        medium: cfg.medium,
        location: cfg.location,
        immutable_capable: cfg.kind.supports_immutability(),
        declared: cfg.trust_labels,
    };
    match open_inner(cfg, props.clone(), share).await {
        Ok(inner) => {
            // Deadlines by progress inside the retries: a stall is never retried.
            let inner: Arc<dyn Target> = match cfg.io_timeout {
                Some(limit) => Arc::new(stall::Stall::new(inner, limit)),
                None => inner,
            };
            Arc::new(retry::Retry::new(inner, retry::Backoff::default()))
        }
        Err(e) => Arc::new(Unavailable {
            name: cfg.name.clone(),
            props,
            error: e,
        }),
    }
}

async fn open_inner(
    cfg: &TargetConfig,
    props: Properties,
    share: &crate::share::Share,
) -> Result<Arc<dyn Target>, TargetError> {
    let secret = |s: &crate::secret::Secret| {
        s.resolve()
            .map_err(|e| TargetError::Permanent(format!("target {}: {e}", cfg.name)))
    };
    Ok(match &cfg.kind {
        TargetKind::Fs(fs) => Arc::new(fs::FsTarget::new(
            &cfg.name,
            props,
            &fs.path,
            fs.require_mount,
            share.clone(),
        )?),
        TargetKind::S3(s3) => {
            let credentials = match (&s3.access_key_id, &s3.secret_access_key) {
                (Some(id), Some(key)) => Some((secret(id)?, secret(key)?)),
                _ => None,
            };
            Arc::new(s3::S3Target::new(&cfg.name, props, s3.clone(), credentials).await?)
        }
        TargetKind::Sftp(sftp) => Arc::new(sftp::SftpTarget::new(&cfg.name, props, sftp.clone())),
        TargetKind::Webdav(dav) => {
            let password = dav.password.as_ref().map(secret).transpose()?;
            Arc::new(webdav::WebdavTarget::new(
                &cfg.name,
                props,
                dav.clone(),
                password,
            )?)
        }
    })
}

/// A configured target that could not be opened: every operation fails, permanently, with
/// the reason.
struct Unavailable {
    name: String,
    props: Properties,
    error: TargetError,
}

impl Unavailable {
    fn fail<T>(&self) -> Result<T, TargetError> {
        Err(match &self.error {
            TargetError::Permanent(m) | TargetError::Transient(m) | TargetError::Denied(m) => {
                TargetError::Permanent(m.clone())
            }
            other => TargetError::Permanent(other.to_string()),
        })
    }
}

#[async_trait]
impl Target for Unavailable {
    fn name(&self) -> &str {
        &self.name
    }
    fn properties(&self) -> &Properties {
        &self.props
    }
    async fn put(&self, _: &str, _: &Payload) -> Result<(), TargetError> {
        self.fail()
    }
    async fn stat(&self, _: &str) -> Result<ObjectMeta, TargetError> {
        self.fail()
    }
    async fn list(&self, _: &str) -> Result<Vec<ObjectMeta>, TargetError> {
        self.fail()
    }
    async fn read(&self, _: &str) -> Result<Reader, TargetError> {
        self.fail()
    }
    async fn delete(&self, _: &str) -> Result<(), TargetError> {
        self.fail()
    }
}

/// Whether the object at `path` holds exactly `payload`'s bytes: compared whole for small
/// payloads, by size and sha256 (read back) for files whose sha256 is known. `false` when it
/// cannot be told. This is what lets a writer take an object it finds already there as its
/// own (its earlier, interrupted attempt) without ever taking another writer's.
pub async fn holds(t: &dyn Target, path: &str, payload: &Payload) -> Result<bool, TargetError> {
    match payload {
        Payload::Bytes(b) => {
            Ok(t.read_small(path, b.len() as u64).await.ok().as_deref() == Some(&b[..]))
        }
        Payload::File {
            len,
            sha256: Some(sha),
            ..
        } => {
            if t.stat(path).await?.size != *len {
                return Ok(false);
            }
            let digest = crate::stream::digest(t.read(path).await?)
                .await
                .map_err(|e| {
                    TargetError::Transient(format!("target {}: reading {path} back: {e}", t.name()))
                })?;
            Ok(digest.0 == *len && digest.1 == *sha)
        }
        Payload::File { sha256: None, .. } => Ok(false),
    }
}

/// A listing prefix as a directory: `""` for the whole target, else ending in `/`.
pub fn dir_of(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

/// The temporary name a copy is written under before it is committed: `<path>.<nonce>.partial`.
/// Unique per process and call; recognised by [`crate::manifest::classify`] as a leftover.
pub fn partial_name(path: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{path}.{}-{}-{nanos:x}{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        crate::manifest::PARTIAL_SUFFIX
    )
}

/// The placement of a target on a remote host: targets on one host share a failure domain.
pub async fn host_placement(host: &str, port: u16) -> Placement {
    let (this_host, private_network) = resolve_locality(host, port).await;
    Placement {
        key: Some(format!("host:{host}")),
        describe: Some(format!("host {host}")),
        this_host,
        private_network,
    }
}

/// Whether `host` resolves to this machine (loopback) and whether to a private network.
/// Unresolvable hosts are neither: the check reports what it can prove.
pub async fn resolve_locality(host: &str, port: u16) -> (bool, bool) {
    use std::net::IpAddr;
    let addrs: Vec<IpAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(a) => a.map(|s| s.ip()).collect(),
        Err(_) => return (false, false),
    };
    let private = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unique_local() || v6.is_unicast_link_local(),
    };
    (
        !addrs.is_empty() && addrs.iter().all(IpAddr::is_loopback),
        !addrs.is_empty() && addrs.iter().all(private),
    )
}

/// Removes one stored copy of backup `id`, commit marker first: its manifest, then its
/// signature, then its artifact — after the manifest is gone the rest is a leftover, never
/// a manifest that promises an artifact that is gone. `signature: false` (the listing
/// showed none) does not ask for one.
pub async fn remove_copy(
    t: &dyn Target,
    source: &str,
    id: &str,
    signature: bool,
) -> Result<(), TargetError> {
    t.delete(&crate::manifest::manifest_path(source, id))
        .await?;
    if signature {
        t.delete(&crate::manifest::signature_path(source, id))
            .await?;
    }
    t.delete(&crate::manifest::artifact_path(source, id)).await
}

/// The distinct part sizes of the targets that upload in parts (S3): what the spool hashes
/// while it writes, so that no part is read twice.
pub fn part_sizes(targets: &[Arc<dyn Target>]) -> Vec<u64> {
    let mut sizes: Vec<u64> = targets
        .iter()
        .filter_map(|t| t.hashed_part_size())
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}
