//! A directory that cannot be escaped: every path below a local target's root is resolved
//! from a handle on the root, one component at a time, each opened with `O_NOFOLLOW`, never
//! as a joined string. That is what `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` does,
//! done by hand so that directories can be created on the way: no symbolic link below the
//! root is ever followed, and no `..` or absolute path is ever taken. An attacker who can
//! write to the target can plant `hq -> /elsewhere`; pbx321 then sees a link, reports it,
//! and reads, writes and deletes nothing through it.
//!
//! The root itself is opened as configured (an operator may point a target at a link on
//! purpose, e.g. a mount under `/mnt`).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};

/// An entry found below the root by [`Root::walk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file: `/`-separated path relative to the root, its size, modification
    /// time, and (device, inode).
    File {
        path: String,
        size: u64,
        modified: Option<std::time::SystemTime>,
        dev: u64,
        ino: u64,
    },
    /// A symbolic link: never followed.
    Symlink { path: String },
}

/// How missing directories are made on the way to a path: with `mode`, each then given to
/// `made` (to set its group).
#[derive(Clone, Copy)]
pub struct MakeDirs<'a> {
    pub mode: u32,
    pub made: &'a dyn Fn(BorrowedFd<'_>) -> io::Result<()>,
}

/// A handle on a target's root directory.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// `rel`'s components: none empty, `.` or `..`, no NUL (an error names the path).
fn parts(rel: &str) -> io::Result<Vec<&str>> {
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    if rel.starts_with('/')
        || parts
            .iter()
            .any(|p| *p == "." || *p == ".." || p.contains('\0'))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a plain path below the target's root",
                crate::escape::text(rel)
            ),
        ));
    }
    Ok(parts)
}

/// A link where a directory or file was expected.
fn link_error(rel: &str) -> io::Error {
    io::Error::other(format!(
        "{} is a symbolic link, not followed: pbx321 never reads, writes or deletes through a link below a target's root",
        crate::escape::text(rel)
    ))
}

impl Root {
    /// Opens the root directory at `path` (following it: it is configured).
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The configured path of the root (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root's own handle.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The directory `rel` below the root, each component opened without following a link;
    /// with `create`, missing ones are made with that mode (and `made` is called on each).
    pub fn dir(&self, rel: &str, create: Option<MakeDirs<'_>>) -> io::Result<OwnedFd> {
        let mut fd = rustix::fs::openat(
            &self.fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let parts = parts(rel)?;
        for (i, name) in parts.iter().enumerate() {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let next = match (rustix::fs::openat(&fd, *name, flags, Mode::empty()), create) {
                (Ok(next), _) => next,
                (Err(rustix::io::Errno::NOENT), Some(MakeDirs { mode, made })) => {
                    match rustix::fs::mkdirat(&fd, *name, Mode::from_raw_mode(mode)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    let next = rustix::fs::openat(&fd, *name, flags, Mode::empty())
                        .map_err(|e| self.classify(e, &parts[..=i].join("/")))?;
                    made(next.as_fd())?;
                    next
                }
                (Err(e), _) => return Err(self.classify(e, &parts[..=i].join("/"))),
            };
            fd = next;
        }
        Ok(fd)
    }

    /// An error opening `rel` as a directory without following links: a link is named as
    /// one.
    fn classify(&self, e: rustix::io::Errno, rel: &str) -> io::Error {
        match e {
            rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
                match rustix::fs::statat(&self.fd, rel, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                        link_error(rel)
                    }
                    _ => e.into(),
                }
            }
            e => e.into(),
        }
    }

    /// The directory holding `rel` (created with `create`), and `rel`'s last component.
    pub fn parent<'r>(
        &self,
        rel: &'r str,
        create: Option<MakeDirs<'_>>,
    ) -> io::Result<(OwnedFd, &'r str)> {
        let parts = parts(rel)?;
        let Some((name, dirs)) = parts.split_last() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an empty path names no file",
            ));
        };
        let dir = self.dir(&dirs.join("/"), create)?;
        Ok((dir, name))
    }

    /// Opens the regular file `rel` for reading; a link or anything but a file is refused.
    pub fn open_file(&self, rel: &str) -> io::Result<File> {
        let (dir, name) = self.parent(rel, None)?;
        let fd = rustix::fs::openat(
            &dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP => link_error(rel),
            e => e.into(),
        })?;
        let f = File::from(fd);
        if !f.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a file", crate::escape::text(rel)),
            ));
        }
        Ok(f)
    }

    /// Creates the file `rel`, new (never opening what is there, link or not), for writing,
    /// with `mode`, its directories made as [`Root::dir`] says.
    pub fn create_new(&self, rel: &str, mode: u32, dirs: Option<MakeDirs<'_>>) -> io::Result<File> {
        let (dir, name) = self.parent(rel, dirs)?;
        let fd = rustix::fs::openat(
            &dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )?;
        Ok(File::from(fd))
    }

    /// `lstat` of `rel`: what is there, link or not.
    pub fn stat(&self, rel: &str) -> io::Result<rustix::fs::Stat> {
        let (dir, name) = self.parent(rel, None)?;
        Ok(rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)?)
    }

    /// Renames `from` to `to` (both below the root), failing with `AlreadyExists` if `to`
    /// exists (`RENAME_NOREPLACE`, or a hard link where the file system lacks it).
    pub fn rename_no_replace(&self, from: &str, to: &str) -> io::Result<()> {
        let (src_dir, src) = self.parent(from, None)?;
        let (dst_dir, dst) = self.parent(to, None)?;
        match rustix::fs::renameat_with(&src_dir, src, &dst_dir, dst, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                rustix::fs::linkat(&src_dir, src, &dst_dir, dst, AtFlags::empty())?;
                let _ = rustix::fs::unlinkat(&src_dir, src, AtFlags::empty());
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the local file `src` (outside the root: the spool) a second name `rel` below
    /// the root: a hard link, which never replaces an existing name.
    pub fn link_in(&self, src: &Path, rel: &str) -> io::Result<()> {
        let (dir, name) = self.parent(rel, None)?;
        Ok(rustix::fs::linkat(
            rustix::fs::CWD,
            src,
            &dir,
            name,
            AtFlags::empty(),
        )?)
    }

    /// Removes the regular file `rel`; nothing there is fine. A link, a directory or
    /// anything else is refused: only files pbx321 could have written are removed.
    pub fn remove_file(&self, rel: &str) -> io::Result<()> {
        let (dir, name) = match self.parent(rel, None) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {}
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                return Err(link_error(rel));
            }
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{} is not a regular file: not removed",
                    crate::escape::text(rel)
                )));
            }
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// fsyncs the directory holding `rel` (best effort: some file systems refuse).
    pub fn sync_parent(&self, rel: &str) {
        if let Ok((dir, _)) = self.parent(rel, None) {
            let _ = rustix::fs::fsync(&dir);
        }
    }

    /// Every regular file and symbolic link below `prefix` (recursively), never descending
    /// through a link; a missing `prefix` is empty, and a `prefix` that is itself a link is
    /// reported as one.
    pub fn walk(&self, prefix: &str) -> io::Result<Vec<Entry>> {
        let start = parts(prefix)?.join("/");
        let mut out = Vec::new();
        let first = match self.dir(&start, None) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                if !start.is_empty()
                    && matches!(self.stat(&start), Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
                {
                    out.push(Entry::Symlink { path: start });
                    return Ok(out);
                }
                return Err(e);
            }
        };
        let mut stack = vec![(start, first)];
        while let Some((rel, fd)) = stack.pop() {
            let mut dir = rustix::fs::Dir::read_from(&fd)?;
            while let Some(entry) = dir.read() {
                let entry = entry?;
                let raw = entry.file_name().to_bytes();
                if raw == b"." || raw == b".." {
                    continue;
                }
                // Names that are not UTF-8 are not pbx321's: never listed, never touched.
                let Some(name) = OsStr::from_bytes(raw).to_str().map(str::to_string) else {
                    continue;
                };
                let path = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                let st = match rustix::fs::statat(&fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    // Removed between readdir and stat.
                    Err(rustix::io::Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                };
                match FileType::from_raw_mode(st.st_mode) {
                    FileType::Directory => {
                        let flags =
                            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                        match rustix::fs::openat(&fd, name.as_str(), flags, Mode::empty()) {
                            Ok(sub) => stack.push((path, sub)),
                            Err(rustix::io::Errno::NOENT) => {}
                            // Swapped for a link since the stat.
                            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                                out.push(Entry::Symlink { path })
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                    FileType::RegularFile => out.push(Entry::File {
                        path,
                        size: st.st_size as u64,
                        modified: system_time(st.st_mtime, st.st_mtime_nsec),
                        dev: st.st_dev,
                        ino: st.st_ino,
                    }),
                    FileType::Symlink => out.push(Entry::Symlink { path }),
                    _ => {}
                }
            }
        }
        Ok(out)
    }
}

/// A `stat` time as a `SystemTime`.
fn system_time(secs: i64, nsecs: impl TryInto<u32>) -> Option<std::time::SystemTime> {
    let nsecs: u32 = nsecs.try_into().ok()?;
    let d = std::time::Duration::new(secs.unsigned_abs(), nsecs);
    if secs >= 0 {
        std::time::UNIX_EPOCH.checked_add(d)
    } else {
        std::time::UNIX_EPOCH.checked_sub(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, Root, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let elsewhere = t.path().join("elsewhere");
        std::fs::create_dir_all(root.join("hq")).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("important.db"), b"keep me").unwrap();
        std::fs::write(root.join("hq/a"), b"aa").unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("link")).unwrap();
        std::os::unix::fs::symlink(elsewhere.join("important.db"), root.join("hq/f")).unwrap();
        let r = Root::open(&root).unwrap();
        (t, r, elsewhere)
    }

    #[test]
    fn nothing_is_followed_through_a_link() {
        let (_t, r, elsewhere) = tree();
        assert!(r.open_file("link/important.db").is_err());
        assert!(r.open_file("hq/f").is_err());
        assert!(
            r.create_new(
                "link/new",
                0o600,
                Some(MakeDirs {
                    mode: 0o700,
                    made: &|_| Ok(())
                })
            )
            .is_err()
        );
        assert!(r.remove_file("link/important.db").is_err());
        let e = r.remove_file("hq/f").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(r.stat("link/important.db").is_err());
        assert!(r.rename_no_replace("hq/a", "link/a").is_err());
        assert!(elsewhere.join("important.db").exists());
        assert!(!elsewhere.join("new").exists() && !elsewhere.join("a").exists());
        // The links themselves are still there, and the file was not moved.
        assert!(r.path().join("hq/f").is_symlink() && r.path().join("hq/a").exists());
    }

    #[test]
    fn walking_reports_links_and_never_descends_into_them() {
        let (_t, r, _) = tree();
        let mut got = r.walk("").unwrap();
        got.sort_by_key(|e| format!("{e:?}"));
        let names: Vec<String> = got
            .iter()
            .map(|e| match e {
                Entry::File { path, size, .. } => format!("file {path} {size}"),
                Entry::Symlink { path } => format!("link {path}"),
            })
            .collect();
        assert_eq!(names, ["file hq/a 2", "link hq/f", "link link"]);
        assert_eq!(
            r.walk("link").unwrap(),
            [Entry::Symlink {
                path: "link".into()
            }]
        );
        assert!(r.walk("nosuch").unwrap().is_empty());
    }

    #[test]
    fn paths_that_climb_are_refused() {
        let (_t, r, _) = tree();
        for bad in ["../x", "hq/../../x", "/etc/passwd", "hq/./a"] {
            assert!(r.open_file(bad).is_err(), "{bad}");
            assert!(r.create_new(bad, 0o600, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn files_are_made_new_and_removed_only_when_regular() {
        let (_t, r, _) = tree();
        let made = std::cell::Cell::new(0);
        let count = |_: BorrowedFd<'_>| {
            made.set(made.get() + 1);
            Ok(())
        };
        let mut f = r
            .create_new(
                "x/y/z",
                0o600,
                Some(MakeDirs {
                    mode: 0o700,
                    made: &count,
                }),
            )
            .unwrap();
        std::io::Write::write_all(&mut f, b"zz").unwrap();
        assert_eq!(made.get(), 2);
        assert!(r.create_new("x/y/z", 0o600, None).is_err());
        r.rename_no_replace("x/y/z", "x/w").unwrap();
        std::fs::write(r.path().join("x/v"), b"v").unwrap();
        let e = r.rename_no_replace("x/w", "x/v").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        r.remove_file("x/w").unwrap();
        r.remove_file("x/w").unwrap();
        r.remove_file("nosuch/dir/file").unwrap();
        assert!(r.remove_file("x/y").is_err(), "a directory is not removed");
    }
}
