//! `restore`: one backup back to its original bytes, from whichever target can give it.
//!
//! Targets are tried in config order (or only `--from`); any error on one — unreadable,
//! wrong key, damaged bytes, a digest that does not match the manifest — moves on to the
//! next. The output is written to an unnamed file in the destination's directory and given
//! its name only after both the sealed and the plain sha256 match the manifest
//! ([`crate::plainfile`]), so a failed or killed restore never leaves plaintext behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::catalog::{self, BackupEntry, CopyState};
use super::{Ctx, OpError};
use crate::manifest::{self, Manifest};
use crate::plainfile::PlainFile;
use crate::seal;
use crate::targets::Target;

#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub source: String,
    pub backup: Option<String>,
    /// The newest backup made at or before this time.
    pub at: Option<DateTime<Utc>>,
    pub to: PathBuf,
    pub identity: PathBuf,
    pub from: Option<String>,
    pub force: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub id: String,
    pub target: String,
    pub to: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub origin_name: String,
    /// Targets tried before the one that worked, with why they failed.
    pub failed: Vec<Attempt>,
    /// The copy restored counts only unsigned (from before `accept_unsigned_before`): its
    /// origin is not proven by a signature.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unsigned: bool,
    /// The 3CX version the backup was taken from: install at least this one to restore it.
    pub pbx_version: Option<String>,
    /// 3CX encrypted the backup itself: restoring it into 3CX needs its password.
    pub pbx_encrypted: bool,
    /// 3CX's unattended-install answer file written beside the zip (`--setup-config`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_config: Option<PathBuf>,
}

/// A target that could not give the backup, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub target: String,
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0}")]
    Op(#[from] OpError),
    /// `--from` names no configured target.
    #[error("--from {from}: no such target in {}", config.display())]
    NoSuchTarget {
        from: String,
        config: std::path::PathBuf,
    },
    /// The directory of `--to` does not exist.
    #[error("{} does not exist: create it, or choose another --to", .0.display())]
    NoDirectory(std::path::PathBuf),
    /// `--to` exists and `--force` was not given.
    #[error("{} exists; pass --force to replace it, or choose another --to", .0.display())]
    Exists(std::path::PathBuf),
    /// `--to` is a directory.
    #[error("{} is a directory; --to takes a file name", .0.display())]
    IsDirectory(std::path::PathBuf),
    /// No target holds what was asked for (`what`: "backup ID", "a backup of hq made at …").
    #[error("no target holds {what}; `pbx321 list {source_name}` shows what there is")]
    NotFound { what: String, source_name: String },
    #[error("no target could restore {id}:{}", .failed.iter().map(|a| format!("\n  {}: {}", a.target, a.error)).collect::<String>())]
    AllFailed { id: String, failed: Vec<Attempt> },
}

impl RestoreError {
    /// Bad usage (exit 2): the command line must change, nothing was tried. (The rest,
    /// the operation's own errors included, is a failed restore: exit 1, which a script
    /// around an incident checks first.)
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            RestoreError::NoSuchTarget { .. }
                | RestoreError::Exists(_)
                | RestoreError::IsDirectory(_)
        )
    }
}

pub async fn run(ctx: &Ctx, opts: &RestoreOptions) -> Result<RestoreReport, RestoreError> {
    check_destination(opts)?;
    let identities = Arc::new(seal::load_identities(&opts.identity).map_err(OpError::from)?);
    for p in crate::plainfile::remove_leftovers(&opts.to) {
        tracing::warn!(file = %p.display(), "removed the plaintext an interrupted restore left");
    }
    let chosen = choose_backup(ctx, &Choice::of(opts)).await?;
    let unsealed = unseal(ctx, &chosen, identities, &opts.to).await?;
    // Only now, verified, does the plaintext get a name: never over an existing file
    // without --force.
    let Unsealed {
        manifest,
        file,
        target,
        failed,
        unsigned,
    } = unsealed;
    file.place(&opts.to, opts.force)
        .map_err(|source| RestoreError::AllFailed {
            id: manifest.id.clone(),
            failed: vec![Attempt {
                target: target.clone(),
                error: AttemptError::Io {
                    what: "cannot move the restored file to",
                    path: opts.to.clone(),
                    source,
                }
                .to_string(),
            }],
        })?;
    let mut report = RestoreReport::of(&manifest, &target, opts, failed);
    report.unsigned = unsigned;
    Ok(report)
}

/// Which backup to take: of `source`, by id, or the newest at or before `at`, or the
/// newest that counts; from every target, or only `from`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub source: String,
    pub backup: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub from: Option<String>,
}

impl Choice {
    fn of(opts: &RestoreOptions) -> Choice {
        Choice {
            source: opts.source.clone(),
            backup: opts.backup.clone(),
            at: opts.at,
            from: opts.from.clone(),
        }
    }
}

/// The backup chosen, with its catalog entry and the targets it may come from.
pub struct Chosen {
    pub entry: BackupEntry,
    pub manifest: Manifest,
    targets: Vec<Arc<dyn Target>>,
    unreachable: Vec<Attempt>,
}

/// Chooses the backup by the one judgement of what counts ([`Catalog::pick`]).
pub async fn choose_backup(ctx: &Ctx, choice: &Choice) -> Result<Chosen, RestoreError> {
    let mut targets = ctx.targets.clone();
    if let Some(from) = &choice.from {
        targets.retain(|t| t.name() == from);
        if targets.is_empty() {
            return Err(RestoreError::NoSuchTarget {
                from: from.clone(),
                config: ctx.config.path.clone(),
            });
        }
    }
    let listings = catalog::list_all(&targets, std::slice::from_ref(&choice.source)).await;
    let trust = ctx.trust()?;
    let how = catalog::Reading {
        state: &ctx.state,
        trust: trust.as_ref(),
        at: ctx.at(),
    };
    let cat = catalog::build(&listings, |_, _| true, how).await;
    let entry = choose(&cat, choice)?;
    let Some(m) = entry.manifest.clone() else {
        // Nothing counts: say why, copy by copy.
        return Err(RestoreError::AllFailed {
            id: entry.id.clone(),
            failed: entry
                .copies
                .iter()
                .map(|c| Attempt {
                    target: c.target.clone(),
                    error: unusable(&c.state).unwrap_or_else(|| "no readable manifest".into()),
                })
                .collect(),
        });
    };
    Ok(Chosen {
        entry: entry.clone(),
        manifest: m,
        targets,
        unreachable: cat
            .unreachable
            .iter()
            .map(|u| Attempt {
                target: u.target.clone(),
                error: u.error.clone(),
            })
            .collect(),
    })
}

/// A backup unsealed into an unnamed file and verified against its manifest.
pub struct Unsealed {
    /// The manifest of the copy that gave it.
    pub manifest: Manifest,
    pub file: PlainFile,
    pub target: String,
    /// Targets tried before, with why they failed.
    pub failed: Vec<Attempt>,
    /// The copy counts only unsigned.
    pub unsigned: bool,
}

/// Unseals the chosen backup into an unnamed file in the directory of `beside`, from the
/// first copy that gives it whole: in config order, a copy that counts unsigned last.
pub async fn unseal(
    ctx: &Ctx,
    chosen: &Chosen,
    identities: Arc<seal::Identities>,
    beside: &Path,
) -> Result<Unsealed, RestoreError> {
    let (entry, m) = (&chosen.entry, &chosen.manifest);
    let mut failed = Vec::new();
    let mut order: Vec<&Arc<dyn Target>> = chosen.targets.iter().collect();
    order.sort_by_key(|t| {
        entry
            .copies
            .iter()
            .any(|c| c.target == t.name() && c.state == CopyState::Unsigned)
    });
    for t in order {
        let Some(copy) = entry.copies.iter().find(|c| c.target == t.name()) else {
            continue;
        };
        // Each copy is checked against the manifest beside it.
        let own = copy.manifest.as_ref().unwrap_or(m);
        let tried = match unusable(&copy.state) {
            Some(why) => Err(why),
            None => unseal_from(
                t.as_ref(),
                own,
                beside,
                Arc::clone(&identities),
                &ctx.progress,
            )
            .await
            .map_err(|e| e.to_string()),
        };
        match tried {
            Ok(file) => {
                return Ok(Unsealed {
                    manifest: own.clone(),
                    file,
                    target: t.name().into(),
                    failed,
                    unsigned: copy.state == CopyState::Unsigned,
                });
            }
            Err(error) => {
                tracing::info!(target_name = t.name(), %error, "restore from this target failed; trying the next");
                failed.push(Attempt {
                    target: t.name().into(),
                    error,
                });
            }
        }
    }
    failed.extend(chosen.unreachable.iter().cloned());
    Err(RestoreError::AllFailed {
        id: m.id.clone(),
        failed,
    })
}

impl RestoreReport {
    fn of(m: &Manifest, target: &str, opts: &RestoreOptions, failed: Vec<Attempt>) -> Self {
        RestoreReport {
            id: m.id.clone(),
            target: target.into(),
            to: opts.to.clone(),
            bytes: m.plain.bytes,
            sha256: m.plain.sha256.clone(),
            origin_name: m.origin.name.clone(),
            failed,
            unsigned: false,
            pbx_version: m.pbx_version().map(str::to_string),
            pbx_encrypted: m.plain.pbx_encrypted,
            setup_config: None,
        }
    }
}

/// Why a copy is not even tried, if it is not.
fn unusable(state: &CopyState) -> Option<String> {
    match state {
        CopyState::Verified | CopyState::Unsigned => None,
        CopyState::Corrupt { why } => Some(why.to_string()),
        CopyState::Forged { why } => Some(why.to_string()),
        CopyState::Divergent { why } => Some(why.to_string()),
        CopyState::Future { dated } => Some(format!(
            "dated {}, in the future: not a backup",
            dated.format("%Y-%m-%d %H:%M:%S UTC")
        )),
        CopyState::Duplicate { of } => Some(format!("the same file as the copy on {of}")),
        CopyState::Missing => Some("the artifact is missing".into()),
        CopyState::Unreachable { error, .. } => Some(error.clone()),
        CopyState::Unchecked => Some("its manifest was not read".into()),
    }
}

/// `--to` must be a file name in a directory that exists, and not an existing file unless
/// `--force`.
fn check_destination(opts: &RestoreOptions) -> Result<(), RestoreError> {
    let dir = match opts.to.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(RestoreError::NoDirectory(dir.to_path_buf()));
    }
    if opts.to.exists() && !opts.force {
        return Err(RestoreError::Exists(opts.to.clone()));
    }
    if opts.to.is_dir() {
        return Err(RestoreError::IsDirectory(opts.to.clone()));
    }
    Ok(())
}

/// The backup asked for: by id, or by time as the judgement picks it ([`Catalog::pick`]:
/// only backups that count, a signed one before one that counts unsigned, never one dated
/// in the future). An id asked for by name is tried, and says what is wrong with it.
fn choose<'a>(
    cat: &'a catalog::Catalog,
    opts: &'a Choice,
) -> Result<&'a BackupEntry, RestoreError> {
    let all: Vec<&BackupEntry> = cat.of_source(&opts.source).collect();
    let found = match &opts.backup {
        Some(id) => all.iter().copied().find(|b| &b.id == id),
        None => cat.pick(&opts.source, opts.at),
    }
    // Nothing that counts: the newest anyway, so that the error says what is wrong with it.
    .or_else(|| match (&opts.backup, opts.at) {
        (None, Some(at)) => all.iter().copied().rev().find(|b| b.created_at <= at),
        (None, None) => all.last().copied(),
        _ => None,
    });
    found.ok_or_else(|| {
        let what = match (&opts.backup, opts.at) {
            (Some(id), _) => format!("backup {id}"),
            (None, Some(at)) => format!("a backup of {} made at or before {at}", opts.source),
            (None, None) => format!("a backup of {}", opts.source),
        };
        RestoreError::NotFound {
            what,
            source_name: opts.source.clone(),
        }
    })
}

async fn unseal_from(
    t: &dyn Target,
    m: &Manifest,
    beside: &Path,
    identities: Arc<seal::Identities>,
    progress: &crate::progress::Progress,
) -> Result<PlainFile, AttemptError> {
    let bar = progress.bytes(&format!("restore from {}", t.name()), Some(m.sealed.bytes));
    let reader = t.read(&manifest::artifact_path(&m.source, &m.id)).await?;
    let reader = crate::progress::metered(reader, &bar);
    let out = PlainFile::create(beside).map_err(|source| AttemptError::Io {
        what: "cannot write in the directory of",
        path: beside.to_path_buf(),
        source,
    })?;
    let d = crate::stream::blocking(reader, move |input| {
        let early = out
            .file()
            .try_clone()
            .map(crate::flush::EarlyFlush::new)
            .map_err(seal::SealError::Io)?;
        // The plain sha256 against the manifest proves the output; the sealed one is made
        // only when that fails (below), to say whether the copy or the key is wrong. The
        // unseal writes whole chunks: no buffer of its own in between. (Without the early
        // flush, fsyncing once at the end, a 1 GiB restore measured 0.47x the pipeline
        // instead of 1.01x.)
        let (d, _) = seal::unseal_plain(input, early, &identities)?;
        Ok::<_, seal::SealError>((d, out))
    })
    .await;
    bar.finish_and_clear();
    let (d, out) = d.map_err(AttemptError::Read)??;
    if let Err(mismatch) = m.verify_restored(&d) {
        return Err(explain(t, m, mismatch).await.into());
    }
    Ok(out)
}

/// Why a restored file is not the manifest's: the copy read again and hashed whole — a
/// sealed sha256 that differs is a damaged copy; one that matches means the copy is the
/// manifest's and what it decrypts to is not (a manifest forged or a bug): said as such.
async fn explain(t: &dyn Target, m: &Manifest, first: manifest::Mismatch) -> manifest::Mismatch {
    let path = manifest::artifact_path(&m.source, &m.id);
    let Ok(reader) = t.read(&path).await else {
        return first;
    };
    match crate::stream::digest(reader).await {
        Ok((bytes, sha256)) => match m.verify_sealed(bytes, &sha256) {
            Err(sealed) => sealed,
            Ok(()) => first,
        },
        Err(_) => first,
    }
}

/// Why restoring from one target failed (the next is tried; the report words it).
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error(transparent)]
    Target(#[from] crate::targets::TargetError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    #[error(transparent)]
    Mismatch(#[from] manifest::Mismatch),
}
