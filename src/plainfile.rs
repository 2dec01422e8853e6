//! The one place pbx321 writes plaintext: the file a restore produces.
//!
//! A restored 3CX backup holds every SIP password and PIN in clear, so it must never be
//! left behind half-written. It is written into an unnamed file (`O_TMPFILE`) in the
//! destination's directory and given its name only after both sha256 match the manifest:
//! a crash, a kill or a power cut at any point leaves no plaintext under any name. Where
//! the file system has no `O_TMPFILE`, a named file `.<name>.<pid>-<n>.partial` (0600) is
//! used instead; a crash can leave that one behind, and the next restore to the same
//! directory removes it ([`remove_leftovers`]).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Mode, OFlags};

/// Suffix of the named fallback file.
const PARTIAL: &str = ".partial";

/// Plaintext being written; nameless (or hidden) until [`PlainFile::place`].
pub struct PlainFile {
    file: File,
    /// The fallback's name, when the file system has no unnamed files.
    named: Option<PathBuf>,
}

impl PlainFile {
    /// A new file for `to`, in `to`'s directory (so that placing it is a link, not a copy).
    pub fn create(to: &Path) -> io::Result<PlainFile> {
        Self::create_with(to, true)
    }

    /// `unnamed = false` forces the named fallback (for its tests).
    pub fn create_with(to: &Path, unnamed: bool) -> io::Result<PlainFile> {
        let dir = parent(to);
        if unnamed {
            match rustix::fs::open(
                dir,
                OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            ) {
                Ok(fd) => {
                    return Ok(PlainFile {
                        file: File::from(fd),
                        named: None,
                    });
                }
                // No O_TMPFILE here (an older kernel, a network or FUSE file system).
                Err(e)
                    if [
                        rustix::io::Errno::OPNOTSUPP,
                        rustix::io::Errno::ISDIR,
                        rustix::io::Errno::INVAL,
                        rustix::io::Errno::NOSYS,
                    ]
                    .contains(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let named = to.with_file_name(format!(
            ".{}.{}-{n}{PARTIAL}",
            file_name(to),
            std::process::id()
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&named)?;
        Ok(PlainFile {
            file,
            named: Some(named),
        })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// A path that opens this very file again (for reading it back): its fallback name, or
    /// `/proc/self/fd/N` for an unnamed one. Valid while `self` lives.
    pub fn reopen_path(&self) -> PathBuf {
        match &self.named {
            Some(n) => n.clone(),
            None => PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd())),
        }
    }

    /// Whether this file has a name before it is placed (the fallback).
    pub fn is_named(&self) -> bool {
        self.named.is_some()
    }

    /// Fsyncs the file and gives it the name `to`. Without `replace`, an existing `to` is
    /// never replaced (the link fails). With it, the file is linked under a hidden name and
    /// renamed over `to`.
    pub fn place(self, to: &Path, replace: bool) -> io::Result<()> {
        self.file.sync_all()?;
        let result = match (&self.named, replace) {
            (Some(named), false) => {
                std::fs::hard_link(named, to).and_then(|()| std::fs::remove_file(named))
            }
            (Some(named), true) => std::fs::rename(named, to),
            (None, false) => self.link(to),
            (None, true) => {
                let hidden = to.with_file_name(format!(
                    ".{}.{}-placing{PARTIAL}",
                    file_name(to),
                    std::process::id()
                ));
                let _ = std::fs::remove_file(&hidden);
                self.link(&hidden)
                    .and_then(|()| std::fs::rename(&hidden, to))
                    .inspect_err(|_| {
                        let _ = std::fs::remove_file(&hidden);
                    })
            }
        };
        if result.is_ok() {
            let _ = File::open(parent(to)).and_then(|d| d.sync_all());
        }
        result
    }

    /// Links the unnamed file in, through `/proc/self/fd` (which needs no privilege, unlike
    /// `AT_EMPTY_PATH`).
    fn link(&self, to: &Path) -> io::Result<()> {
        let fd_path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        rustix::fs::linkat(CWD, fd_path.as_str(), CWD, to, AtFlags::SYMLINK_FOLLOW)?;
        Ok(())
    }
}

impl Drop for PlainFile {
    /// An unplaced named fallback is removed; an unnamed file vanishes by itself.
    fn drop(&mut self) {
        if let Some(named) = &self.named {
            let _ = std::fs::remove_file(named);
        }
    }
}

/// Removes named fallback files a crashed restore to `to` left beside it: regular files of
/// this user named `.<name>.<digits>-<…>.partial`. Returns what was removed.
pub fn remove_leftovers(to: &Path) -> Vec<PathBuf> {
    let prefix = format!(".{}.", file_name(to));
    let Ok(entries) = std::fs::read_dir(parent(to)) else {
        return Vec::new();
    };
    let uid = rustix::process::geteuid().as_raw();
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let Some(middle) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(PARTIAL))
        else {
            continue;
        };
        let ours = middle
            .split_once('-')
            .is_some_and(|(pid, _)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        let Ok(meta) = e.path().symlink_metadata() else {
            continue;
        };
        if ours && meta.file_type().is_file() && meta.uid() == uid {
            let _ = std::fs::remove_file(e.path());
            removed.push(e.path());
        }
    }
    removed
}

fn parent(to: &Path) -> &Path {
    match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn file_name(to: &Path) -> String {
    to.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "restore".into())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn unnamed_until_placed() {
        let tmp = tempfile::tempdir().unwrap();
        let to = tmp.path().join("r.zip");
        let f = PlainFile::create(&to).unwrap();
        assert!(!f.is_named(), "this file system has O_TMPFILE");
        f.file().write_all(b"SIP secrets").unwrap();
        assert!(names(tmp.path()).is_empty(), "nothing has a name yet");
        f.place(&to, false).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"SIP secrets");
        assert_eq!(std::fs::metadata(&to).unwrap().mode() & 0o777, 0o600);
        // Never over an existing file without replace; over it with.
        let f = PlainFile::create(&to).unwrap();
        f.file().write_all(b"second").unwrap();
        assert_eq!(
            f.place(&to, false).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        let f = PlainFile::create(&to).unwrap();
        f.file().write_all(b"third").unwrap();
        f.place(&to, true).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"third");
        assert_eq!(names(tmp.path()), vec!["r.zip".to_string()]);
    }

    #[test]
    fn an_unplaced_file_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let to = tmp.path().join("r.zip");
        for unnamed in [true, false] {
            let f = PlainFile::create_with(&to, unnamed).unwrap();
            f.file().write_all(b"SIP secrets").unwrap();
            drop(f);
            assert!(names(tmp.path()).is_empty());
        }
    }

    #[test]
    fn the_named_fallback_is_removed_by_the_next_restore() {
        let tmp = tempfile::tempdir().unwrap();
        let to = tmp.path().join("r.zip");
        let f = PlainFile::create_with(&to, false).unwrap();
        assert!(f.is_named());
        // A crash: the value is never dropped.
        std::mem::forget(f);
        std::fs::write(tmp.path().join(".r.zip.notes.partial"), b"not ours").unwrap();
        std::fs::write(tmp.path().join("other.txt"), b"not ours").unwrap();
        assert_eq!(names(tmp.path()).len(), 3);
        let removed = remove_leftovers(&to);
        assert_eq!(removed.len(), 1, "{removed:?}");
        assert_eq!(
            names(tmp.path()),
            vec![".r.zip.notes.partial".to_string(), "other.txt".into()]
        );
    }
}
