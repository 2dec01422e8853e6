//! A directory on a local (or locally mounted) file system: a local disk, a removable disk, a
//! NAS mounted over NFS or SMB.
//!
//! Every path is resolved beneath the root with no symbolic link followed ([`Root`]): a link
//! planted below the root is listed as a link (and reported), never read, written or
//! deleted through. Files are listed with their device and inode, so that one file seen
//! under two targets (a directory configured twice) counts as one copy.
//!
//! Commit protocol: write `<path>.<nonce>.partial` (created new, 0600), fsync it, then
//! rename it to `<path>` with `RENAME_NOREPLACE`, and fsync the directory. A crash leaves
//! only the partial file, which is never counted and is deleted by the next run; a power cut
//! after a run reported success cannot lose the copy. Directories are created 0700 (0750
//! with `file_group`).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::beneath::{Entry, MakeDirs, Root};
use super::{ObjectMeta, Payload, Placement, Properties, Reader, Target, TargetError};
use crate::facts::FileId;
use crate::share::Share;

/// The read-ahead of a local file: one blocking read per this many bytes.
const LOCAL_READ: usize = 4 << 20;

pub struct FsTarget {
    name: String,
    props: Properties,
    root: PathBuf,
    /// Refuse to work unless the root is on a filesystem other than `/`.
    require_mount: bool,
    /// Who may read what is written (`file_group`).
    share: Share,
    /// With a group: whether what an earlier run wrote was given to it already.
    shared_tree: std::sync::OnceLock<()>,
}

/// `file` relative to `root`, when it is a partial file of `path` beside it (what
/// [`Target::stage`] made): same directory, `path`'s name, the partial suffix.
fn staged_partial(root: &Path, path: &str, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).ok()?.to_str()?.to_string();
    let is_partial = rel
        .strip_prefix(path)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| rest.ends_with(crate::manifest::PARTIAL_SUFFIX) && !rest.contains('/'));
    is_partial.then_some(rel)
}

impl FsTarget {
    pub fn new(
        name: &str,
        props: Properties,
        root: &Path,
        require_mount: bool,
        share: Share,
    ) -> Result<Self, TargetError> {
        if root.to_str().is_none() {
            return Err(TargetError::Permanent(format!(
                "target {name}: path {root:?} is not UTF-8"
            )));
        }
        Ok(FsTarget {
            name: name.into(),
            props,
            root: root.to_path_buf(),
            require_mount,
            share,
            shared_tree: std::sync::OnceLock::new(),
        })
    }

    /// With `require_mount`: the root (or, before it exists, its nearest existing ancestor)
    /// must be on another filesystem than `/`.
    fn check_mounted(&self) -> Result<(), TargetError> {
        use std::os::unix::fs::MetadataExt;
        if !self.require_mount {
            return Ok(());
        }
        let not_mounted = |why: String| {
            TargetError::Permanent(format!(
                "target {}: removable disk not mounted at {} ({why}); nothing was written — plug the disk in and mount it",
                self.name,
                self.root.display()
            ))
        };
        let system = std::fs::metadata("/")
            .map_err(|e| not_mounted(format!("cannot stat /: {e}")))?
            .dev();
        let existing = self
            .root
            .ancestors()
            .find(|p| p.exists())
            .unwrap_or(Path::new("/"));
        let dev = std::fs::metadata(existing)
            .map_err(|e| not_mounted(format!("cannot stat {}: {e}", existing.display())))?
            .dev();
        if dev == system {
            return Err(not_mounted(format!(
                "{} is on the root filesystem",
                existing.display()
            )));
        }
        Ok(())
    }

    /// The root, after the mount check; `create`: made (with its parents) when missing.
    fn open_root(&self, create: bool) -> Result<Root, TargetError> {
        self.check_mounted()?;
        match Root::open(&self.root) {
            Ok(r) => Ok(r),
            Err(e) if create && e.kind() == std::io::ErrorKind::NotFound => {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(self.share.dir_mode())
                    .create(&self.root)
                    .map_err(|e| self.io("create directory", "", &e))?;
                self.share
                    .apply(&self.root)
                    .map_err(|e| self.io("share with file_group", "", &e))?;
                Root::open(&self.root).map_err(|e| self.io("open", "", &e))
            }
            Err(e) => Err(self.io("open", "", &e)),
        }
    }

    /// An I/O error as a target error, naming `what` and the full path it was done to.
    fn io(&self, what: &str, path: &str, e: &std::io::Error) -> TargetError {
        let full = if path.is_empty() {
            self.root.display().to_string()
        } else {
            self.root
                .join(crate::escape::text(path).as_ref())
                .display()
                .to_string()
        };
        io_err(&self.name, &format!("{what} {full}"), e)
    }

    /// What a directory pbx321 creates gets: its mode (given at creation) and its group.
    fn made_dir(&self, fd: BorrowedFd<'_>) -> std::io::Result<()> {
        self.share.apply_fd(fd)
    }

    /// How this target makes missing directories.
    fn dirs<'a>(&self, made: &'a dyn Fn(BorrowedFd<'_>) -> std::io::Result<()>) -> MakeDirs<'a> {
        MakeDirs {
            mode: self.share.dir_mode(),
            made,
        }
    }

    /// Creates the partial file `tmp`, new, with its directories.
    fn create_partial(&self, root: &Root, tmp: &str) -> Result<std::fs::File, TargetError> {
        let made = |fd: BorrowedFd<'_>| self.made_dir(fd);
        root.create_new(tmp, 0o600, Some(self.dirs(&made)))
            .map_err(|e| self.io("create", tmp, &e))
    }

    /// With `file_group`: gives the group what this target holds, once per run (copies an
    /// earlier run wrote before the setting).
    fn share_tree(&self) -> Result<(), TargetError> {
        if self.share.group_name().is_none() || self.shared_tree.get().is_some() {
            return Ok(());
        }
        self.share
            .apply_tree(&self.root)
            .map_err(|e| self.io("share with file_group", "", &e))?;
        let _ = self.shared_tree.set(());
        Ok(())
    }

    /// Writes `payload` into the new partial file `tmp`: a local file copied in the kernel
    /// (`copy_file_range`, a reflink where the file system shares extents), never through
    /// this process's buffers; small payloads as they are. The file is removed when the
    /// copy fails.
    async fn write_partial(
        &self,
        root: &Root,
        tmp: &str,
        payload: &Payload,
    ) -> Result<(), TargetError> {
        let mut dst = self.create_partial(root, tmp)?;
        let written = match payload {
            Payload::File { path, .. } => {
                let from = path.clone();
                tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
                    let mut src = std::fs::File::open(&from)?;
                    std::io::copy(&mut src, &mut dst)
                })
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(format!("copy task: {e}"))))
            }
            Payload::Bytes(b) => std::io::Write::write_all(&mut dst, b).map(|()| b.len() as u64),
        };
        let outcome = match written {
            Ok(n) if n == payload.len() => Ok(()),
            Ok(n) => Err(TargetError::Permanent(format!(
                "target {}: payload changed while writing ({n} of {} bytes)",
                self.name,
                payload.len()
            ))),
            Err(e) => Err(self.io("write", tmp, &e)),
        };
        if outcome.is_err() {
            let _ = root.remove_file(tmp);
        } else {
            payload.taken(payload.len(), Some(payload.len()));
        }
        outcome
    }

    /// Gives the partial file its mode and group and fsyncs it.
    fn finish(&self, root: &Root, tmp: &str) -> Result<(), TargetError> {
        let f = root
            .open_file(tmp)
            .map_err(|e| self.io("finish", tmp, &e))?;
        rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(self.share.file_mode()))
            .map_err(|e| self.io("finish", tmp, &e.into()))?;
        self.share
            .apply_fd(f.as_fd())
            .and_then(|()| f.sync_all())
            .map_err(|e| self.io("finish", tmp, &e))
    }

    /// Takes a local payload file itself as the copy when it lies on this target's
    /// filesystem: a hard link, so no byte is written twice. Atomic and never overwriting
    /// (`link` fails if the name exists). Only one target per payload may do this.
    fn adopt(&self, root: &Root, path: &str, payload: &Payload) -> Result<bool, TargetError> {
        use std::os::unix::fs::MetadataExt;
        let (Ok(root_meta), Payload::File { path: src, len, .. }) =
            (std::fs::metadata(root.path()), payload)
        else {
            return Ok(false);
        };
        match std::fs::metadata(src) {
            Ok(m) if m.dev() == root_meta.dev() && m.len() == *len && m.nlink() == 1 => {}
            _ => return Ok(false),
        }
        if payload.claim_file().is_none() {
            return Ok(false);
        }
        match root.link_in(src, path) {
            Ok(()) => {
                payload.taken(payload.len(), Some(payload.len()));
                let f = root
                    .open_file(path)
                    .map_err(|e| self.io("share", path, &e))?;
                self.share
                    .apply_fd(f.as_fd())
                    .map_err(|e| self.io("share", path, &e))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                payload.release_file();
                Err(TargetError::AlreadyExists(format!(
                    "target {}: {path}",
                    self.name
                )))
            }
            Err(e) => {
                // Another mount of the same device, a filesystem without links, …: copy.
                payload.release_file();
                tracing::debug!(target_name = %self.name, error = %e, "cannot link the spool; copying");
                Ok(false)
            }
        }
    }

    fn exists(&self, root: &Root, path: &str) -> Result<bool, TargetError> {
        match root.stat(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io("stat", path, &e)),
        }
    }

    /// A local root's filesystem, by device id of the root or, before it exists, of its
    /// nearest existing ancestor (where it will be created).
    fn local_placement(&self) -> Placement {
        use std::os::unix::fs::MetadataExt;
        let Some(meta) = self
            .root
            .ancestors()
            .find_map(|d| std::fs::metadata(d).ok())
        else {
            return Placement::default();
        };
        let dev = meta.dev();
        let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
        Placement {
            key: Some(format!("fs:{major}:{minor}")),
            describe: Some(format!("filesystem (device {major}:{minor})")),
            this_host: false,
            private_network: false,
        }
    }
}

fn io_err(target: &str, what: &str, e: &std::io::Error) -> TargetError {
    let msg = format!("target {target}: {what}: {e}{}", crate::error::io_hint(e));
    match e.kind() {
        std::io::ErrorKind::NotFound => TargetError::NotFound(msg),
        std::io::ErrorKind::AlreadyExists => TargetError::AlreadyExists(msg),
        std::io::ErrorKind::PermissionDenied => TargetError::Denied(msg),
        _ if crate::error::io_is_transient(e) => TargetError::Transient(msg),
        _ => TargetError::Permanent(msg),
    }
}

/// A `SystemTime` as UTC.
fn utc(t: std::time::SystemTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from(t)
}

#[async_trait]
impl Target for FsTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn properties(&self) -> &Properties {
        &self.props
    }

    async fn put(&self, path: &str, payload: &Payload) -> Result<(), TargetError> {
        let root = self.open_root(true)?;
        self.share_tree()?;
        if self.exists(&root, path)? {
            return Err(TargetError::AlreadyExists(format!(
                "target {}: {path}",
                self.name
            )));
        }
        let mut tmp = super::partial_name(path);
        // A copy staged while sealing is this run's own partial file of `path` (its unique
        // name: another writer sharing the target never has the same one).
        let staged = match payload.take_staged(&self.name, path) {
            Some(file) => {
                let own = staged_partial(&self.root, path, &file);
                let whole = own.as_deref().is_some_and(|rel| {
                    root.stat(rel).is_ok_and(|st| {
                        rustix::fs::FileType::from_raw_mode(st.st_mode)
                            == rustix::fs::FileType::RegularFile
                            && st.st_size as u64 == payload.len()
                    })
                });
                match (own, whole) {
                    (Some(rel), true) => {
                        tmp = rel;
                        true
                    }
                    (Some(rel), false) => {
                        let _ = root.remove_file(&rel);
                        false
                    }
                    (None, _) => {
                        let _ = std::fs::remove_file(&file);
                        false
                    }
                }
            }
            None => false,
        };
        if staged {
            tracing::debug!(target_name = %self.name, path, "committing the copy staged while sealing");
            payload.taken(payload.len(), Some(payload.len()));
        } else {
            // The directory first (the link needs it), never through a link.
            let made = |fd: BorrowedFd<'_>| self.made_dir(fd);
            root.parent(path, Some(self.dirs(&made)))
                .map_err(|e| self.io("create directory for", path, &e))?;
            if self.adopt(&root, path, payload)? {
                root.sync_parent(path);
                return Ok(());
            }
            self.write_partial(&root, &tmp, payload).await?;
        }
        let committed = self.finish(&root, &tmp).and_then(|()| {
            root.rename_no_replace(&tmp, path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    TargetError::AlreadyExists(format!(
                        "target {}: {}",
                        self.name,
                        self.root.join(path).display()
                    ))
                } else {
                    self.io("rename into", path, &e)
                }
            })
        });
        if committed.is_err() {
            let _ = root.remove_file(&tmp);
        }
        committed?;
        root.sync_parent(path);
        Ok(())
    }

    async fn stat(&self, path: &str) -> Result<ObjectMeta, TargetError> {
        let root = self.open_root(false)?;
        let f = root
            .open_file(path)
            .map_err(|e| self.io("stat", path, &e))?;
        let m = f.metadata().map_err(|e| self.io("stat", path, &e))?;
        Ok(ObjectMeta::file(path, m.len(), m.modified().ok().map(utc)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TargetError> {
        self.check_mounted()?;
        let root = match Root::open(&self.root) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(TargetError::Permanent(format!(
                    "target {}: {} is not a directory",
                    self.name,
                    self.root.display()
                )));
            }
            Err(e) => return Err(self.io("list", "", &e)),
        };
        let dir = super::dir_of(prefix);
        let name = self.name.clone();
        // One blocking walk: several times faster on large trees than a task per entry.
        let entries = tokio::task::spawn_blocking(move || root.walk(&dir))
            .await
            .map_err(|e| TargetError::Permanent(format!("target {name}: list: {e}")))?
            .map_err(|e| self.io("list", prefix, &e))?;
        Ok(entries
            .into_iter()
            .map(|e| match e {
                Entry::File {
                    path,
                    size,
                    modified,
                    dev,
                    ino,
                } => ObjectMeta {
                    identity: Some(FileId { dev, ino }),
                    ..ObjectMeta::file(path, size, modified.map(utc))
                },
                Entry::Symlink { path } => ObjectMeta::symlink(path),
            })
            .collect())
    }

    async fn read(&self, path: &str) -> Result<Reader, TargetError> {
        // The file itself, read ahead in large blocks.
        let root = self.open_root(false)?;
        let f = root.open_file(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                TargetError::NotFound(format!("target {}: {path}", self.name))
            } else {
                self.io("read", path, &e)
            }
        })?;
        // Buffers no larger than the file: a manifest of a kilobyte, read 16 at a time on
        // each target, must not take two 4 MiB buffers each (which malloc then keeps).
        let size = f.metadata().map_or(LOCAL_READ as u64, |m| m.len());
        let buf = (size as usize).clamp(8 * 1024, LOCAL_READ);
        let mut f = tokio::fs::File::from_std(f);
        f.set_max_buf_size(buf);
        // Buffered here, so that a reader asking for small pieces (tokio's copy asks for
        // 8 KiB) still costs one blocking read per LOCAL_READ bytes.
        Ok(Box::new(tokio::io::BufReader::with_capacity(buf, f)))
    }

    async fn delete(&self, path: &str) -> Result<(), TargetError> {
        let root = match self.open_root(false) {
            Ok(r) => r,
            Err(TargetError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        root.remove_file(path)
            .map_err(|e| self.io("delete", path, &e))
    }

    async fn placement(&self) -> Placement {
        self.local_placement()
    }

    async fn stage(&self, path: &str) -> Option<(std::fs::File, PathBuf)> {
        let root = self.open_root(true).ok()?;
        if self.exists(&root, path).ok()? {
            return None;
        }
        let tmp = super::partial_name(path);
        let f = self.create_partial(&root, &tmp).ok()?;
        Some((f, self.root.join(tmp)))
    }

    fn local_device(&self) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        self.root
            .ancestors()
            .find_map(|d| std::fs::metadata(d).ok())
            .map(|m| m.dev())
    }

    async fn free_space(&self) -> Option<u64> {
        let existing = self.root.ancestors().find(|p| p.exists())?.to_path_buf();
        tokio::task::spawn_blocking(move || rustix::fs::statvfs(&existing).ok())
            .await
            .ok()
            .flatten()
            .map(|v| v.f_bavail.saturating_mul(v.f_frsize.max(1)))
    }
}
