//! The operations behind the subcommands. Each returns a typed report; rendering it is the
//! job of `report`, choosing an exit code the job of `cli`.

use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::seal::{self, Recipients};
use crate::target::{self, Target};

pub mod backup;
pub mod catalog;
pub mod check;
pub mod keygen;
pub mod list;
pub mod restore;

/// Errors that stop an operation before it produces a report.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    Setup(String),
    #[error(
        "another pbx321 run holds the lock {0}; wait for it to finish (or remove the file if no pbx321 is running)"
    )]
    Locked(PathBuf),
    #[error("{0}")]
    Seal(#[from] seal::SealError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

pub fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> OpError {
    let what = what.into();
    move |source| OpError::Io { what, source }
}

/// Writes a file whole or not at all: a temporary file beside it (0600), fsynced, renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Opens every configured target, in config order.
pub async fn open_targets(cfg: &Config) -> Result<Vec<Arc<dyn Target>>, OpError> {
    let mut out = Vec::with_capacity(cfg.targets.len());
    for t in &cfg.targets {
        out.push(
            target::open(t)
                .await
                .map_err(|e| OpError::Setup(e.to_string()))?,
        );
    }
    Ok(out)
}

/// The configured recipients, `recipients_file` included.
pub fn recipients(cfg: &Config) -> Result<(Vec<String>, Recipients), OpError> {
    let mut lines = cfg.encryption.recipients.clone();
    if let Some(path) = &cfg.encryption.recipients_file {
        let text = std::fs::read_to_string(path)
            .map_err(io_error(format!("recipients_file {}", path.display())))?;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            crate::config::check_recipient(line).map_err(|why| {
                OpError::Setup(format!("recipients_file {}: {why}", path.display()))
            })?;
            lines.push(line.to_string());
        }
    }
    let parsed = seal::parse_recipients(&lines)?;
    Ok((lines, parsed))
}

/// The state directory's layout. A cache: deleting it loses history, never a backup.
pub struct State {
    pub dir: PathBuf,
}

impl State {
    pub fn new(dir: &Path) -> Self {
        State {
            dir: dir.to_path_buf(),
        }
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.dir.join("spool")
    }

    pub fn ensure(&self) -> Result<(), OpError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.spool_dir())
            .map_err(io_error(format!(
                "cannot create state directory {} (set state_dir in the config)",
                self.dir.display()
            )))
    }

    /// Takes the run lock; held until the returned file is dropped.
    pub fn lock(&self) -> Result<File, OpError> {
        self.ensure()?;
        let path = self.dir.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(format!("lock file {}", path.display())))?;
        match f.try_lock() {
            Ok(()) => Ok(f),
            Err(std::fs::TryLockError::WouldBlock) => Err(OpError::Locked(path)),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(io_error(format!("lock file {}", path.display()))(e))
            }
        }
    }
}
