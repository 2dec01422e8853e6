//! Plain facts gathered at the edges (targets, the state directory) and judged by `policy`.
//! Pure data: no I/O here, so both sides can depend on it without crossing layers.
//! [`gather`] asks for facts at once, each within a deadline: the asking (a PBX's API) is
//! the caller's future, never this room's.

pub mod gather;

use serde::Serialize;

/// A stored object, as a target lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub path: String,
    pub size: u64,
    /// When the store says it was last written, where it says.
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
    /// A file, or a symbolic link found where a file or directory was expected (listed to
    /// be reported, never followed, read, written or deleted through).
    pub kind: ObjectKind,
    /// Which file it is, where the store can tell (a local file system: device and inode):
    /// two names for one file are one copy, not two.
    pub identity: Option<FileId>,
    /// A tag the store itself derives from the content and changes with it (S3's ETag of
    /// an object written in one request: its MD5), where the store gives one. What was read
    /// under the same tag need not be read again.
    pub tag: Option<String>,
}

impl ObjectMeta {
    /// A plain file of `size` bytes (a store that knows no links or inodes).
    pub fn file(
        path: impl Into<String>,
        size: u64,
        modified: Option<chrono::DateTime<chrono::Utc>>,
    ) -> ObjectMeta {
        ObjectMeta {
            path: path.into(),
            size,
            modified,
            kind: ObjectKind::File,
            identity: None,
            tag: None,
        }
    }

    /// The same, with the store's content tag.
    pub fn tagged(mut self, tag: Option<String>) -> ObjectMeta {
        self.tag = tag;
        self
    }

    /// A symbolic link at `path`: reported, never followed.
    pub fn symlink(path: impl Into<String>) -> ObjectMeta {
        ObjectMeta {
            kind: ObjectKind::Symlink,
            ..ObjectMeta::file(path, 0, None)
        }
    }
}

/// What a listed name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectKind {
    File,
    Symlink,
}

/// A file's identity on a local file system: (device, inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// Where a target's data physically lies, as far as pbx321 could find out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// Targets with the same key share one failure domain: one filesystem (device id), one
    /// host, one endpoint and bucket. `None` when unknown.
    pub key: Option<String>,
    /// The key for people: "filesystem 8:1", "host nas.lan".
    pub describe: Option<String>,
    /// The target's endpoint is this very host.
    pub this_host: bool,
    /// The target's endpoint resolves to a private network address.
    pub private_network: bool,
}

/// The last restore drill of a source (`check --deep --identity`), as recorded in the state
/// directory.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, Serialize)]
pub struct DrillFact {
    pub id: String,
    pub target: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub ok: bool,
    /// Wall time of the drill: an estimate of the time to restore (RTO).
    pub duration_seconds: f64,
    pub error: Option<String>,
}

/// The last standby drill of a source (`drill --standby`): its newest counted backup
/// restored into a standby 3CX and the standby compared with the backup's fingerprint.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, Serialize)]
pub struct StandbyDrillFact {
    pub id: String,
    /// The standby's URL.
    pub pbx: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The standby answered again as the backup recorded it.
    pub ok: bool,
    /// From the start to the standby answering again after the restore.
    pub seconds: Option<f64>,
    /// Counts that differed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<CountDifference>,
    pub error: Option<String>,
}

impl StandbyDrillFact {
    /// Why it failed: each count that differed, then the error (empty when it passed).
    pub fn why(&self) -> Vec<String> {
        let mut why: Vec<String> = self.differences.iter().map(|c| c.to_string()).collect();
        why.extend(self.error.clone());
        why
    }
}

impl std::fmt::Display for CountDifference {
    /// `trunks 2 in the backup, 1 on the standby`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} in the backup, {} on the standby",
            self.what, self.backup, self.pbx
        )
    }
}

/// A count of a PBX's configuration that is not the backup's after a restore.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct CountDifference {
    pub what: String,
    pub backup: u64,
    pub pbx: u64,
}

pub mod pbx;

/// One verified copy of a backup and the facts about where it lies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyFact {
    pub target: String,
    pub medium: crate::config::Medium,
    pub location: crate::config::Location,
    /// The store confirmed it cannot be deleted or changed before a future date.
    pub immutable: bool,
    /// The operator asked for medium and location to be taken as declared (`trust_labels`):
    /// placement facts are not used to discount them.
    pub declared: bool,
    pub placement: Placement,
}
