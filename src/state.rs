//! The state directory: run lock, history, drill records and the spool's home.
//!
//! A cache: deleting it loses history, never a backup. It is pbx321's own and nobody else's:
//! created 0700, refused when group or others may write to it (anyone who could would be
//! able to swap the lock, the spool or the history under a run), and every file in it is
//! opened without following symbolic links, so a link planted at `runs.jsonl` cannot make
//! pbx321 (often root) append to another file. Files that are rewritten are replaced whole
//! through a temporary file with a random name ([`write_atomic`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::io_hint;
use crate::share::Share;

/// Prefix of the temporary files [`write_atomic`] creates; a crash can leave one behind,
/// and whoever owns the directory may remove them.
pub const TEMP_PREFIX: &str = ".pbx321-tmp.";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{what} {}: {source}{}", .path.display(), io_hint(.source))]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "state directory {} may be written by group or others (mode {mode:o}); run `chmod go-w {}` first: pbx321 keeps its lock, spool and history there",
        .path.display(), .path.display()
    )]
    Unsafe { path: PathBuf, mode: u32 },
    #[error(
        "another pbx321 run{} holds the lock {}; it is released when that run ends: wait for it, or stop that process",
        .pid.as_deref().map(|p| format!(" (pid {p})")).unwrap_or_default(), .path.display()
    )]
    Locked { path: PathBuf, pid: Option<String> },
}

impl StateError {
    /// The user running pbx321 may not write here (or not read): a monitoring user, say.
    pub fn is_denied(&self) -> bool {
        matches!(self, StateError::Io { source, .. }
            if matches!(source.kind(), io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem))
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StateError {
    let path = path.to_path_buf();
    move |source| StateError::Io { what, path, source }
}

/// `O_NOFOLLOW`: open the file itself, never what a symbolic link there points to.
fn no_follow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// The state directory's layout and its safe file operations.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub dir: PathBuf,
    /// Who besides pbx321's user may read it (`file_group`).
    pub share: Share,
}

/// The run lock; released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct RunLock(#[allow(dead_code)] File); // held for its lock, never read

impl StateDir {
    pub fn new(dir: &Path) -> Self {
        StateDir {
            dir: dir.to_path_buf(),
            share: Share::private(),
        }
    }

    /// The same directory, readable by `share`'s group.
    pub fn shared(mut self, share: Share) -> Self {
        self.share = share;
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Creates the directory (0700, 0750 with `file_group`) if needed and checks that no
    /// one else may write to it.
    pub fn ensure(&self) -> Result<(), StateError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(self.share.dir_mode())
            .create(&self.dir)
            .map_err(io(
                "cannot create the state directory (set state_dir in the config)",
                &self.dir,
            ))?;
        let meta = std::fs::symlink_metadata(&self.dir)
            .map_err(io("cannot read the state directory", &self.dir))?;
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 && meta.file_type().is_dir() {
            return Err(StateError::Unsafe {
                path: self.dir.clone(),
                mode,
            });
        }
        // With a group: the directory and what an earlier run wrote become the group's
        // (once: afterwards the directory already has the group).
        if let Some(gid) = self.share.gid().map_err(io("file_group", &self.dir))?
            && (meta.gid() != gid || mode & 0o050 != 0o050)
        {
            self.share
                .apply_tree(&self.dir)
                .map_err(io("cannot share the state directory", &self.dir))?;
        }
        Ok(())
    }

    /// Gives a file just written its mode and group.
    fn share_file(&self, path: &Path) -> Result<(), StateError> {
        self.share
            .apply(path)
            .map_err(io("cannot share with file_group", path))
    }

    /// Takes the run lock without waiting. `flock` is released by the kernel when the
    /// process ends, so a lock file left behind by a crash never needs removing.
    pub fn lock(&self) -> Result<RunLock, StateError> {
        self.ensure()?;
        let path = self.path("lock");
        let mut f = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(no_follow())
            .open(&path)
            .map_err(io("cannot open the lock file", &path))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = f.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(StateError::Locked {
                    path,
                    pid: (!pid.is_empty()).then(|| pid.chars().take(20).collect()),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io("cannot lock", &path)(e));
            }
        }
        // Who holds it, for the message another run prints. Best effort.
        let _ = f.set_len(0);
        let _ = f.write_all(format!("{}\n", std::process::id()).as_bytes());
        Ok(RunLock(f))
    }

    /// Runs `f` holding the short lock that guards read-modify-write of small state files
    /// (drill records): waits for another holder rather than losing its update.
    pub fn with_file_lock<T>(&self, f: impl FnOnce() -> T) -> Result<T, StateError> {
        self.ensure()?;
        let path = self.path("files.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(no_follow())
            .open(&path)
            .map_err(io("cannot open the lock file", &path))?;
        file.lock().map_err(io("cannot lock", &path))?;
        let out = f();
        drop(file);
        Ok(out)
    }

    /// The whole of a state file, `None` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StateError> {
        let path = self.path(name);
        let Some(mut f) = open_existing(&path)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        f.read_to_end(&mut out).map_err(io("cannot read", &path))?;
        Ok(Some(out))
    }

    /// The last `limit` bytes of a state file, from the start of a line (a line cut by the
    /// limit is dropped); `None` when it does not exist.
    pub fn read_tail(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, StateError> {
        use std::io::{Seek, SeekFrom};
        let path = self.path(name);
        let Some(mut f) = open_existing(&path)? else {
            return Ok(None);
        };
        let len = f.metadata().map_err(io("cannot read", &path))?.len();
        let cut = len > limit;
        if cut {
            f.seek(SeekFrom::Start(len - limit))
                .map_err(io("cannot read", &path))?;
        }
        let mut out = Vec::new();
        f.take(limit)
            .read_to_end(&mut out)
            .map_err(io("cannot read", &path))?;
        if cut {
            let start = out
                .iter()
                .position(|b| *b == b'\n')
                .map_or(out.len(), |i| i + 1);
            out.drain(..start);
        }
        Ok(Some(out))
    }

    /// Replaces a state file whole.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        self.ensure()?;
        let path = self.path(name);
        write_atomic(&path, bytes).map_err(io("cannot write", &path))?;
        self.share_file(&path)
    }

    /// A small JSON state file (a cache): its value, or the default when it is missing,
    /// unreadable or from another version.
    pub fn read_json<T: serde::de::DeserializeOwned + Default>(&self, name: &str) -> T {
        self.read(name)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Replaces a small JSON state file; best effort (a cache), failures logged as `what`.
    pub fn write_json<T: serde::Serialize>(&self, name: &str, value: &T, what: &str) {
        let json = serde_json::to_vec_pretty(value).unwrap_or_default();
        if let Err(e) = self.write(name, &json) {
            tracing::warn!("{what} not recorded: {e}");
        }
    }

    /// A small JSON state file, or its default when it is absent or cannot be read: a
    /// cache, so a failure is logged as `what` (quietly when this user may not read it).
    pub fn load_json<T: serde::de::DeserializeOwned + Default>(&self, name: &str, what: &str) -> T {
        match self.read(name) {
            Ok(Some(b)) => serde_json::from_slice(&b).unwrap_or_default(),
            Ok(None) => T::default(),
            Err(e) if e.is_denied() => {
                tracing::debug!("{what} not read: {e}");
                T::default()
            }
            Err(e) => {
                tracing::warn!("{what} not read: {e}");
                T::default()
            }
        }
    }

    /// Reads, changes and writes a small JSON state file under the state's file lock: a
    /// cache, so a file that cannot be read counts as empty and a failed write only loses
    /// what it would have kept (both logged, as `what`). A user who may read the state but
    /// not write it (a monitoring user in `file_group`) uses it as it is, quietly.
    pub fn update_json<T>(&self, name: &str, what: &str, change: impl FnOnce(&mut T))
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Default + Clone + PartialEq,
    {
        let mut change = Some(change);
        let mut apply = |write: bool| {
            let mut value: T = self.load_json(name, what);
            let before = value.clone();
            if let Some(change) = change.take() {
                change(&mut value);
            }
            if write
                && value != before
                && let Ok(json) = serde_json::to_vec_pretty(&value)
                && let Err(e) = self.write(name, &json)
            {
                tracing::warn!("{what} not recorded: {e}");
            }
        };
        match self.with_file_lock(|| apply(true)) {
            Ok(()) => {}
            Err(e) if e.is_denied() => {
                tracing::debug!("state directory is read-only for this user, not recording: {e}");
                apply(false);
            }
            Err(e) => tracing::warn!("{what} not used: {e}"),
        }
    }

    /// Appends one line to a state file (history).
    pub fn append(&self, name: &str, line: &[u8]) -> Result<(), StateError> {
        self.ensure()?;
        let path = self.path(name);
        let mut f = File::options()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(no_follow())
            .open(&path)
            .map_err(io("cannot open", &path))?;
        f.write_all(line).map_err(io("cannot append to", &path))?;
        self.share_file(&path)
    }
}

/// A state file opened for reading without following a link; `None` when it does not exist.
fn open_existing(path: &Path) -> Result<Option<File>, StateError> {
    match File::options()
        .read(true)
        .custom_flags(no_follow())
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("cannot read", path)(e)),
    }
}

/// Writes a file whole or not at all: a new temporary file with a random name beside it
/// (created exclusively, 0600, so nothing planted there is followed or truncated), fsynced,
/// then renamed over `path` (a rename replaces a link at `path`, never its target), and the
/// directory fsynced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Best effort: some file systems refuse fsync on a directory.
    let _ = File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_directory_others_may_write() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let state = StateDir::new(&dir);
        state.ensure().unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = state.ensure().unwrap_err().to_string();
        assert!(e.contains("chmod go-w") && e.contains("777"), "{e}");
    }

    #[test]
    fn state_files_never_follow_links() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(&tmp.path().join("state"));
        state.ensure().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, b"precious\n").unwrap();
        std::os::unix::fs::symlink(&victim, state.path("runs.jsonl")).unwrap();
        assert!(state.append("runs.jsonl", b"line\n").is_err());
        assert!(state.read("runs.jsonl").is_err());
        // A whole-file write replaces the link itself.
        std::os::unix::fs::symlink(&victim, state.path("drills.json")).unwrap();
        state.write("drills.json", b"{}").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
        assert_eq!(state.read("drills.json").unwrap().unwrap(), b"{}");
    }

    #[test]
    fn write_atomic_uses_unpredictable_names() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("pbx321.prom");
        // The old predictable name, planted as a link: never followed or truncated.
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(
            &victim,
            tmp.path()
                .join(format!(".pbx321.prom.{}.tmp", std::process::id())),
        )
        .unwrap();
        write_atomic(&target, b"metrics").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"metrics");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_held_lock_names_its_holder_and_never_asks_to_delete_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(&tmp.path().join("state"));
        let _held = state.lock().unwrap();
        let e = state.lock().unwrap_err().to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(!e.contains("remove"), "{e}");
    }
}
