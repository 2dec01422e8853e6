//! The operations behind the subcommands. Each returns a typed report; rendering it is the
//! job of `report`, choosing an exit code the job of `cli`.

use std::sync::Arc;

use crate::config::Config;
use crate::seal::{self, Recipients};
use crate::target::{self, Target};

pub mod backup;
pub mod catalog;
pub mod check;
pub mod config_check;
pub mod keygen;
pub mod list;
pub mod restore;

/// Errors that stop an operation before it produces a report.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// Bad usage or config, found before any work.
    #[error("{0}")]
    Usage(String),
    /// Failed at run time in a way that is neither a source's nor a target's fault.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error(transparent)]
    Target(#[from] crate::target::TargetError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error("{0}")]
    Seal(#[from] seal::SealError),
    #[error("{what}: {source}{}", crate::error::io_hint(.source))]
    Io {
        what: String,
        source: std::io::Error,
    },
}

pub fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> OpError {
    let what = what.into();
    move |source| OpError::Io { what, source }
}

/// Opens every configured target, in config order. A target that cannot be opened fails
/// alone, in its own results (see [`target::open`]).
pub async fn open_targets(cfg: &Config) -> Result<Vec<Arc<dyn Target>>, OpError> {
    let mut out = Vec::with_capacity(cfg.targets.len());
    for t in &cfg.targets {
        out.push(target::open(t).await);
    }
    Ok(out)
}

/// The configured recipients, `recipients_file` included, parsed once: (their lines, for
/// the manifest; the parsed keys, for the seal).
pub fn recipients(cfg: &Config) -> Result<(Vec<String>, Arc<Recipients>), OpError> {
    let mut lines = cfg.encryption.recipients.clone();
    if let Some(path) = &cfg.encryption.recipients_file {
        let text = std::fs::read_to_string(path)
            .map_err(io_error(format!("recipients_file {}", path.display())))?;
        for (n, line) in text.lines().map(str::trim).enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            seal::parse_recipient(line).map_err(|why| {
                OpError::Usage(format!(
                    "recipients_file {}:{}: {why}",
                    path.display(),
                    n + 1
                ))
            })?;
            lines.push(line.to_string());
        }
    }
    let parsed = seal::parse_recipients(&lines)?;
    Ok((lines, Arc::new(parsed)))
}
