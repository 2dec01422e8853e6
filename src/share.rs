//! Sharing what pbx321 writes locally with one group (`file_group = "nagios"`), so that a
//! monitoring user who is not root can run `pbx321 check`.
//!
//! Without it, pbx321 keeps everything to its own user: directories 0700, files 0600. With
//! a group, directories pbx321 creates are 0750 and files 0640, group-owned by that group:
//! the group may read manifests, signatures, copies (ciphertext) and the state directory,
//! never write them. On what already exists only the group's bits change; only what
//! pbx321's own user owns is touched, and symbolic links are never followed.
//!
//! The group's name is looked up when it is first needed (through the system's user
//! database, so LDAP groups work), and an unknown group fails the first write with a
//! message naming the setting.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Who may read pbx321's local files besides its own user. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Share {
    group: Option<Arc<Group>>,
}

#[derive(Debug)]
struct Group {
    name: String,
    gid: OnceLock<Result<u32, GroupError>>,
}

impl Share {
    /// Private to pbx321's user: 0700 / 0600.
    pub fn private() -> Share {
        Share::default()
    }

    /// Shared with `group` (a name or a numeric id), or private when `None`.
    pub fn with_group(group: Option<&str>) -> Share {
        Share {
            group: group.map(|name| {
                Arc::new(Group {
                    name: name.to_string(),
                    gid: OnceLock::new(),
                })
            }),
        }
    }

    /// The group's name as configured.
    pub fn group_name(&self) -> Option<&str> {
        self.group.as_ref().map(|g| g.name.as_str())
    }

    /// The group's id; `Ok(None)` when private.
    pub fn gid(&self) -> io::Result<Option<u32>> {
        let Some(g) = &self.group else {
            return Ok(None);
        };
        g.gid
            .get_or_init(|| lookup(&g.name))
            .clone()
            .map(Some)
            .map_err(io::Error::other)
    }

    /// The mode of a directory pbx321 creates.
    pub fn dir_mode(&self) -> u32 {
        if self.group.is_some() { 0o750 } else { 0o700 }
    }

    /// The mode of a file pbx321 creates.
    pub fn file_mode(&self) -> u32 {
        if self.group.is_some() { 0o640 } else { 0o600 }
    }

    /// Gives a file or directory pbx321 just created its group and mode. Does nothing when
    /// private (what was created is already 0700/0600).
    pub fn apply(&self, path: &Path) -> io::Result<()> {
        let Some(gid) = self.gid()? else {
            return Ok(());
        };
        let meta = std::fs::symlink_metadata(path)?;
        self.fix(path, &meta, gid)
    }

    /// [`Share::apply`] through an open handle (a file or directory opened beneath a
    /// target's root, never by a path that could cross a link).
    pub fn apply_fd(&self, fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
        let Some(gid) = self.gid()? else {
            return Ok(());
        };
        let st = rustix::fs::fstat(fd)?;
        if st.st_uid != rustix::process::geteuid().as_raw() {
            return Ok(());
        }
        if st.st_gid != gid {
            rustix::fs::fchown(fd, None, Some(rustix::fs::Gid::from_raw(gid))).map_err(|e| {
                io::Error::new(
                    io::Error::from(e).kind(),
                    format!(
                        "cannot give a file to group {gid} (file_group): {e}; pbx321's user must be a member of that group"
                    ),
                )
            })?;
        }
        let is_dir =
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory;
        let want = if is_dir {
            self.dir_mode()
        } else {
            self.file_mode()
        };
        let mode = st.st_mode & 0o7777;
        let new = (mode & !0o070) | (want & 0o070);
        if new != mode {
            rustix::fs::fchmod(fd, rustix::fs::Mode::from_raw_mode(new))?;
        }
        Ok(())
    }

    /// Gives everything under `root` that pbx321's user owns the group and group read
    /// access (for an installation that set `file_group` after writing backups). Entries
    /// owned by anyone else and symbolic links are left alone.
    pub fn apply_tree(&self, root: &Path) -> io::Result<()> {
        let Some(gid) = self.gid()? else {
            return Ok(());
        };
        for entry in walkdir::WalkDir::new(root).follow_links(false) {
            let entry = entry.map_err(io::Error::other)?;
            let meta = entry.metadata().map_err(io::Error::other)?;
            if meta.file_type().is_symlink() {
                continue;
            }
            self.fix(entry.path(), &meta, gid)?;
        }
        Ok(())
    }

    fn fix(&self, path: &Path, meta: &std::fs::Metadata, gid: u32) -> io::Result<()> {
        if meta.uid() != rustix::process::geteuid().as_raw() || meta.file_type().is_symlink() {
            return Ok(());
        }
        let want = if meta.is_dir() {
            self.dir_mode()
        } else {
            self.file_mode()
        };
        if meta.gid() != gid {
            rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid))).map_err(|e| {
                io::Error::new(
                    io::Error::from(e).kind(),
                    format!(
                        "cannot give {} to group {gid} (file_group): {e}; pbx321's user must be a member of that group",
                        path.display()
                    ),
                )
            })?;
        }
        // Sets the group's bits to read (and search), never write; the owner's and others'
        // bits are kept as they are.
        let mode = meta.mode() & 0o7777;
        let new = (mode & !0o070) | (want & 0o070);
        if new != mode {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(new))?;
        }
        Ok(())
    }
}

/// Why `file_group` names no group here.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GroupError {
    #[error(
        "file_group = \"{0}\": there is no group of that name on this machine; create it (`groupadd {0}`) or name an existing one"
    )]
    NoSuchGroup(String),
    #[error("file_group = \"{name}\": cannot look the group up: {errno}")]
    Lookup {
        name: String,
        errno: nix::errno::Errno,
    },
}

/// A group's id from its name or number.
fn lookup(name: &str) -> Result<u32, GroupError> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(GroupError::NoSuchGroup(name.to_string())),
        Err(errno) => Err(GroupError::Lookup {
            name: name.to_string(),
            errno,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_is_the_default_and_touches_nothing() {
        let s = Share::private();
        assert_eq!((s.dir_mode(), s.file_mode()), (0o700, 0o600));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        s.apply(&f).unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_group_gets_read_never_write() {
        let gid = rustix::process::getegid().as_raw();
        let s = Share::with_group(Some(&gid.to_string()));
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
        let f = sub.join("f");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o620)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", sub.join("link")).unwrap();
        s.apply_tree(dir.path()).unwrap();
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&sub), 0o750);
        assert_eq!(mode(&f), 0o640);
        // The link's target was not touched.
        assert_eq!(
            std::fs::metadata("/etc/passwd").unwrap().mode() & 0o777,
            0o644
        );
    }

    #[test]
    fn an_unknown_group_is_named_in_the_error() {
        let s = Share::with_group(Some("no-such-group-pbx321"));
        let e = s.gid().unwrap_err().to_string();
        assert!(e.contains("file_group = \"no-such-group-pbx321\""), "{e}");
        assert!(e.contains("groupadd"), "{e}");
    }
}
