//! Targets backed by an OpenDAL operator: `fs` now; sftp later through the same code.
//!
//! Commit protocol: write `<path>.<nonce>.partial`, then rename it to `<path>`. A crash
//! leaves only the partial object, which is never counted and is deleted by the next run.
//! On a local filesystem the file is made 0600 before the rename, directories are created
//! 0700, and the file and its directory are fsynced after it, so a power cut after a run
//! reported success cannot lose the copy.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

use crate::share::Share;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use opendal::options::ListOptions;
use opendal::{ErrorKind, Operator};
use tokio::io::AsyncReadExt;

use super::{ObjectMeta, Payload, Placement, Properties, Reader, Target, TargetError};

/// Size of each write handed to OpenDAL.
const CHUNK: usize = 1024 * 1024;

pub struct OpendalTarget {
    name: String,
    props: Properties,
    /// Built on first use: OpenDAL's fs creates its root when built, which must not happen
    /// before `require_mount` is checked.
    op: std::sync::OnceLock<Operator>,
    root_str: String,
    /// For `fs`: the root on local disk, for modes and fsync.
    local_root: Option<PathBuf>,
    /// For `fs`: refuse to work unless the root is on a filesystem other than `/`.
    require_mount: bool,
    /// For `fs`: who may read what is written (`file_group`).
    share: Share,
    /// For `fs` with a group: whether what an earlier run wrote was given to it already.
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

/// The read-ahead of a local file: one blocking read per this many bytes.
const LOCAL_READ: usize = 4 << 20;

impl OpendalTarget {
    /// A directory on a local (or locally mounted) filesystem.
    pub fn fs(
        name: &str,
        props: Properties,
        root: &Path,
        require_mount: bool,
        share: Share,
    ) -> Result<Self, TargetError> {
        let root_str = root.to_str().ok_or_else(|| {
            TargetError::Permanent(format!("target {name}: path {root:?} is not UTF-8"))
        })?;
        Ok(OpendalTarget {
            name: name.into(),
            props,
            op: std::sync::OnceLock::new(),
            root_str: root_str.to_string(),
            local_root: Some(root.to_path_buf()),
            require_mount,
            share,
            shared_tree: std::sync::OnceLock::new(),
        })
    }

    /// With `require_mount`: the root (or, before it exists, its nearest existing ancestor)
    /// must be on another filesystem than `/`.
    fn check_mounted(&self) -> Result<(), TargetError> {
        use std::os::unix::fs::MetadataExt;
        let (Some(root), true) = (&self.local_root, self.require_mount) else {
            return Ok(());
        };
        let not_mounted = |why: String| {
            TargetError::Permanent(format!(
                "target {}: removable disk not mounted at {} ({why}); nothing was written — plug the disk in and mount it",
                self.name,
                root.display()
            ))
        };
        let system = std::fs::metadata("/")
            .map_err(|e| not_mounted(format!("cannot stat /: {e}")))?
            .dev();
        let existing = root
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

    /// The operator, after the mount check.
    fn op(&self) -> Result<&Operator, TargetError> {
        self.check_mounted()?;
        if let Some(op) = self.op.get() {
            return Ok(op);
        }
        let op = Operator::new(opendal::services::Fs::default().root(&self.root_str))
            .map_err(|e| map_err(&self.name, &format!("open {}", self.root_str), e))?;
        Ok(self.op.get_or_init(|| op))
    }

    /// `what` and the full path it was done to, for messages.
    fn ctx(&self, what: &str, path: &str) -> String {
        match &self.local_root {
            Some(root) => format!("{what} {}", root.join(path).display()),
            None => format!("{what} {path}"),
        }
    }

    async fn write_partial(&self, tmp: &str, payload: &Payload) -> Result<(), TargetError> {
        if let (Some(root), Payload::File { path, len, .. }) = (&self.local_root, payload) {
            return self
                .copy_local(root.join(tmp), path.clone(), *len, payload)
                .await;
        }
        let mut src = payload.open().await.map_err(|e| {
            TargetError::Permanent(format!("target {}: reading payload: {e}", self.name))
        })?;
        let mut w = self
            .op()?
            .writer(tmp)
            .await
            .map_err(|e| map_err(&self.name, &self.ctx("write", tmp), e))?;
        let mut written = 0u64;
        let result: Result<(), TargetError> = async {
            loop {
                let mut buf = Vec::with_capacity(CHUNK);
                let n = (&mut src)
                    .take(CHUNK as u64)
                    .read_to_end(&mut buf)
                    .await
                    .map_err(|e| {
                        TargetError::Permanent(format!(
                            "target {}: reading payload: {e}",
                            self.name
                        ))
                    })?;
                if n == 0 {
                    break;
                }
                written += n as u64;
                w.write(Bytes::from(buf))
                    .await
                    .map_err(|e| map_err(&self.name, &self.ctx("write", tmp), e))?;
            }
            if written != payload.len() {
                return Err(TargetError::Permanent(format!(
                    "target {}: payload changed while writing ({written} of {} bytes)",
                    self.name,
                    payload.len()
                )));
            }
            w.close()
                .await
                .map_err(|e| map_err(&self.name, &self.ctx("write", tmp), e))?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = w.abort().await;
            let _ = self.op()?.delete(tmp).await;
        }
        result
    }

    /// A local file onto local disk: copied in the kernel (`std::io::copy` uses
    /// `copy_file_range`, a reflink where the file system shares extents), never through
    /// this process's buffers. The partial file is created new (never following or
    /// truncating anything planted there) and removed when the copy fails.
    async fn copy_local(
        &self,
        to: PathBuf,
        from: PathBuf,
        len: u64,
        payload: &Payload,
    ) -> Result<(), TargetError> {
        let name = self.name.clone();
        let partial = to.clone();
        let copied = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            let mut src = std::fs::File::open(&from)?;
            let mut dst = std::fs::File::options()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&to)?;
            let n = std::io::copy(&mut src, &mut dst);
            if n.is_err() {
                let _ = std::fs::remove_file(&to);
            }
            n
        })
        .await
        .map_err(|e| TargetError::Permanent(format!("target {name}: copy task: {e}")))?
        .map_err(|e| io_err(&self.name, &format!("write {}", partial.display()), &e))?;
        if copied != len {
            let _ = std::fs::remove_file(&partial);
            return Err(TargetError::Permanent(format!(
                "target {}: payload changed while writing ({copied} of {len} bytes)",
                self.name
            )));
        }
        payload.taken(len, Some(len));
        Ok(())
    }

    fn prepare_local_dir(&self, path: &str) -> Result<(), TargetError> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let full = root.join(path);
        let dir = full.parent().unwrap_or(root);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(self.share.dir_mode())
            .create(dir)
            .map_err(|e| {
                io_err(
                    &self.name,
                    &format!("create directory {}", dir.display()),
                    &e,
                )
            })?;
        self.share_local(root, dir)
    }

    /// With `file_group`: gives the group what this target holds — once per run the whole
    /// tree (copies an earlier run wrote before the setting), then each new directory.
    fn share_local(&self, root: &Path, dir: &Path) -> Result<(), TargetError> {
        if self.share.group_name().is_none() {
            return Ok(());
        }
        let shared = if self.shared_tree.get().is_none() {
            self.share.apply_tree(root).map(|()| {
                let _ = self.shared_tree.set(());
            })
        } else {
            dir.strip_prefix(root)
                .into_iter()
                .flat_map(|rel| rel.ancestors())
                .try_for_each(|rel| self.share.apply(&root.join(rel)))
        };
        shared.map_err(|e| io_err(&self.name, "share with file_group", &e))
    }

    fn finish_local(&self, tmp: &str) -> Result<(), TargetError> {
        if let Some(root) = &self.local_root {
            let p = root.join(tmp);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(self.share.file_mode()))
                .and_then(|_| self.share.apply(&p))
                .and_then(|_| std::fs::File::open(&p)?.sync_all())
                .map_err(|e| io_err(&self.name, &format!("finish {}", p.display()), &e))?;
        }
        Ok(())
    }

    fn sync_local_dir(&self, path: &str) {
        if let Some(root) = &self.local_root
            && let Some(dir) = root.join(path).parent()
        {
            // Best effort: some filesystems refuse fsync on directories.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
    }
}

impl OpendalTarget {
    /// Takes a local payload file itself as the copy when it lies on this target's
    /// filesystem: a hard link, so no byte is written twice. Atomic and never overwriting
    /// (`link` fails if the name exists). Only one target per payload may do this.
    fn adopt(&self, path: &str, payload: &Payload) -> Result<bool, TargetError> {
        use std::os::unix::fs::MetadataExt;
        let Some(root) = &self.local_root else {
            return Ok(false);
        };
        let (Ok(root_meta), Payload::File { path: src, len, .. }) =
            (std::fs::metadata(root), payload)
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
        match std::fs::hard_link(src, root.join(path)) {
            Ok(()) => {
                payload.taken(payload.len(), Some(payload.len()));
                self.share
                    .apply(&root.join(path))
                    .map_err(|e| io_err(&self.name, &format!("share {path}"), &e))?;
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
}

/// Every file below `dir` of an operator, recursively; a missing directory is empty. OpenDAL's
/// recursive listing includes directory entries: only files are kept.
pub(super) async fn list_files(op: &Operator, dir: &str) -> opendal::Result<Vec<ObjectMeta>> {
    let entries = match op
        .list_options(
            dir,
            ListOptions {
                recursive: true,
                ..Default::default()
            },
        )
        .await
    {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(entries
        .into_iter()
        .filter(|e| e.metadata().mode().is_file())
        .map(|e| ObjectMeta {
            path: e.path().trim_start_matches('/').to_string(),
            size: e.metadata().content_length(),
            modified: e.metadata().last_modified().map(time_of),
        })
        .collect())
}

/// Every file below `root/dir`, as `/`-separated paths relative to `root`. A missing
/// directory is empty.
fn walk_local(root: &Path, dir: &str) -> std::io::Result<Vec<ObjectMeta>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.trim_end_matches('/').to_string()];
    while let Some(rel) = stack.pop() {
        let entries = match std::fs::read_dir(root.join(&rel)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                match entry.metadata() {
                    Ok(m) => out.push(ObjectMeta {
                        path,
                        size: m.len(),
                        modified: m.modified().ok().map(chrono::DateTime::<chrono::Utc>::from),
                    }),
                    // Deleted between readdir and stat.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(out)
}

fn io_err(target: &str, what: &str, e: &std::io::Error) -> TargetError {
    let msg = format!("target {target}: {what}: {e}{}", crate::error::io_hint(e));
    match e.kind() {
        std::io::ErrorKind::NotFound => TargetError::NotFound(msg),
        std::io::ErrorKind::PermissionDenied => TargetError::Denied(msg),
        _ if crate::error::io_is_transient(e) => TargetError::Transient(msg),
        _ => TargetError::Permanent(msg),
    }
}

/// An OpenDAL error as a target error. OpenDAL marks every local I/O error but a few as
/// temporary; the I/O error underneath decides instead, so that a full disk or a permission
/// is never retried. OpenDAL's own context (service, operation) goes to the debug log only.
pub(super) fn map_err(target: &str, what: &str, e: opendal::Error) -> TargetError {
    tracing::debug!(target_name = target, "{what}: {e}");
    if let Some(io) = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<std::io::Error>())
    {
        return io_err(target, what, io);
    }
    let msg = format!("target {target}: {what}: {}", summary(&e));
    match e.kind() {
        ErrorKind::NotFound => TargetError::NotFound(msg),
        ErrorKind::AlreadyExists | ErrorKind::ConditionNotMatch => TargetError::AlreadyExists(msg),
        ErrorKind::PermissionDenied => TargetError::Denied(format!(
            "{msg} (check that the pbx321 user may write there)"
        )),
        _ if e.is_temporary() => TargetError::Transient(msg),
        _ => TargetError::Permanent(msg),
    }
}

/// An OpenDAL error in a line for people: its message and the chain of causes beneath it
/// (each said once), without OpenDAL's context dump.
pub(super) fn summary(e: &opendal::Error) -> String {
    let mut parts = vec![e.message().to_string()];
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    parts.join(": ")
}

#[async_trait]
impl Target for OpendalTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn properties(&self) -> &Properties {
        &self.props
    }

    async fn put(&self, path: &str, payload: &Payload) -> Result<(), TargetError> {
        self.check_mounted()?;
        if self.exists(path).await? {
            return Err(TargetError::AlreadyExists(format!(
                "target {}: {path}",
                self.name
            )));
        }
        self.prepare_local_dir(path)?;
        let mut tmp = super::partial_name(path);
        // A copy staged while sealing is this run's own partial file of `path` (its unique
        // name: another writer sharing the target never has the same one).
        let staged = match (&self.local_root, payload.take_staged(&self.name, path)) {
            (Some(root), Some(file)) => {
                let own = staged_partial(root, path, &file);
                let whole = own.is_some()
                    && std::fs::symlink_metadata(&file)
                        .is_ok_and(|m| m.is_file() && m.len() == payload.len());
                match (own, whole) {
                    (Some(rel), true) => {
                        tmp = rel;
                        true
                    }
                    _ => {
                        let _ = std::fs::remove_file(&file);
                        false
                    }
                }
            }
            (None, Some(file)) => {
                let _ = std::fs::remove_file(&file);
                false
            }
            (_, None) => false,
        };
        if staged {
            tracing::debug!(target_name = %self.name, path, "committing the copy staged while sealing");
            payload.taken(payload.len(), Some(payload.len()));
        } else if self.adopt(path, payload)? {
            self.sync_local_dir(path);
            return Ok(());
        } else {
            self.write_partial(&tmp, payload).await?;
        }
        let committed = async {
            self.finish_local(&tmp)?;
            self.rename_no_replace(&tmp, path).await
        }
        .await;
        if committed.is_err() {
            let _ = self.op()?.delete(&tmp).await;
        }
        committed?;
        self.sync_local_dir(path);
        Ok(())
    }

    async fn stat(&self, path: &str) -> Result<ObjectMeta, TargetError> {
        let meta = self
            .op()?
            .stat(path)
            .await
            .map_err(|e| map_err(&self.name, &self.ctx("stat", path), e))?;
        if !meta.mode().is_file() {
            return Err(TargetError::NotFound(format!(
                "target {}: {path} is not a file",
                self.name
            )));
        }
        Ok(ObjectMeta {
            path: path.into(),
            size: meta.content_length(),
            modified: meta.last_modified().map(time_of),
        })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TargetError> {
        self.check_mounted()?;
        if let Some(root) = &self.local_root
            && root.exists()
            && !root.is_dir()
        {
            return Err(TargetError::Permanent(format!(
                "target {}: {} is not a directory",
                self.name,
                root.display()
            )));
        }
        let dir = super::dir_of(prefix);
        if let Some(root) = &self.local_root {
            // OpenDAL's fs lister stats every entry through the async runtime, one blocking
            // task each; one blocking walk is several times faster on large trees.
            let (root, name, dir2) = (root.clone(), self.name.clone(), dir.clone());
            return tokio::task::spawn_blocking(move || walk_local(&root, &dir2))
                .await
                .map_err(|e| TargetError::Permanent(format!("target {name}: list: {e}")))?
                .map_err(|e| io_err(&self.name, &self.ctx("list", &dir), &e));
        }
        list_files(self.op()?, &dir)
            .await
            .map_err(|e| map_err(&self.name, &self.ctx("list", &dir), e))
    }

    async fn read(&self, path: &str) -> Result<Reader, TargetError> {
        let what = self.ctx("read", path);
        if let Some(root) = &self.local_root {
            // Local disk: the file itself, read ahead in large blocks (OpenDAL's stream of
            // small chunks costs a third of a restore's time).
            let full = root.join(path);
            let f = tokio::fs::File::open(&full).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    TargetError::NotFound(format!("target {}: {path}", self.name))
                } else {
                    io_err(&self.name, &what, &e)
                }
            })?;
            let meta = f
                .metadata()
                .await
                .map_err(|e| io_err(&self.name, &what, &e))?;
            if !meta.is_file() {
                return Err(TargetError::NotFound(format!(
                    "target {}: {path} is not a file",
                    self.name
                )));
            }
            let mut f = f;
            f.set_max_buf_size(LOCAL_READ);
            // Buffered here, so that a reader asking for small pieces (tokio's copy asks
            // for 8 KiB) still costs one blocking read per LOCAL_READ bytes.
            return Ok(Box::new(tokio::io::BufReader::with_capacity(LOCAL_READ, f)));
        }
        // OpenDAL opens lazily; stat first so a missing object is NotFound here, not an I/O
        // error in the middle of the stream.
        self.stat(path).await?;
        let reader = self
            .op()?
            .reader(path)
            .await
            .map_err(|e| map_err(&self.name, &what, e))?;
        let stream = reader
            .into_bytes_stream(..)
            .await
            .map_err(|e| map_err(&self.name, &what, e))?;
        Ok(Box::new(tokio_util::io::StreamReader::new(
            stream.map_err(std::io::Error::other),
        )))
    }

    async fn placement(&self) -> Placement {
        self.local_placement()
    }

    async fn stage(&self, path: &str) -> Option<(std::fs::File, PathBuf)> {
        let root = self.local_root.as_ref()?;
        self.check_mounted().ok()?;
        if self.exists(path).await.ok()? {
            return None;
        }
        self.prepare_local_dir(path).ok()?;
        let file = root.join(super::partial_name(path));
        let _ = std::fs::remove_file(&file);
        let f = std::fs::File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .ok()?;
        Some((f, file))
    }

    fn local_device(&self) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        let root = self.local_root.as_ref()?;
        root.ancestors()
            .find_map(|d| std::fs::metadata(d).ok())
            .map(|m| m.dev())
    }

    async fn free_space(&self) -> Option<u64> {
        let root = self.local_root.as_ref()?;
        let existing = root.ancestors().find(|p| p.exists())?.to_path_buf();
        tokio::task::spawn_blocking(move || rustix::fs::statvfs(&existing).ok())
            .await
            .ok()
            .flatten()
            .map(|v| v.f_bavail.saturating_mul(v.f_frsize.max(1)))
    }

    async fn delete(&self, path: &str) -> Result<(), TargetError> {
        match self.op()?.delete(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(map_err(&self.name, &self.ctx("delete", path), e)),
        }
    }
}

impl OpendalTarget {
    /// Renames `from` to `to`, failing with [`TargetError::AlreadyExists`] if `to` exists:
    /// a committed copy is never replaced, even by a writer that races this one. Locally by
    /// `renameat2(RENAME_NOREPLACE)` (or a hard link, which also refuses an existing name,
    /// where the file system lacks it).
    async fn rename_no_replace(&self, from: &str, to: &str) -> Result<(), TargetError> {
        let Some(root) = &self.local_root else {
            if self.exists(to).await? {
                return Err(TargetError::AlreadyExists(format!(
                    "target {}: {to}",
                    self.name
                )));
            }
            return self
                .op()?
                .rename(from, to)
                .await
                .map_err(|e| map_err(&self.name, &self.ctx("rename into", to), e));
        };
        let (src, dst) = (root.join(from), root.join(to));
        let exists =
            || TargetError::AlreadyExists(format!("target {}: {}", self.name, dst.display()));
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            &src,
            rustix::fs::CWD,
            &dst,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::EXIST) => Err(exists()),
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                match std::fs::hard_link(&src, &dst) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&src);
                        Ok(())
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists()),
                    Err(e) => Err(io_err(&self.name, &self.ctx("link into", to), &e)),
                }
            }
            Err(e) => Err(io_err(&self.name, &self.ctx("rename into", to), &e.into())),
        }
    }

    /// A local root's filesystem, by device id of the root or, before it exists, of its
    /// nearest existing ancestor (where it will be created).
    fn local_placement(&self) -> Placement {
        use std::os::unix::fs::MetadataExt;
        let Some(root) = &self.local_root else {
            return Placement::default();
        };
        let mut dir = root.as_path();
        loop {
            if let Ok(meta) = std::fs::metadata(dir) {
                let dev = meta.dev();
                let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
                return Placement {
                    key: Some(format!("fs:{major}:{minor}")),
                    describe: Some(format!("filesystem (device {major}:{minor})")),
                    this_host: false,
                    private_network: false,
                };
            }
            match dir.parent() {
                Some(p) => dir = p,
                None => return Placement::default(),
            }
        }
    }

    async fn exists(&self, path: &str) -> Result<bool, TargetError> {
        match self.op()?.stat(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(map_err(&self.name, &self.ctx("stat", path), e)),
        }
    }
}

/// An OpenDAL modification time.
pub(super) fn time_of(t: ::opendal::raw::Timestamp) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::from(t))
}
