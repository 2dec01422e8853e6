//! The operations behind the subcommands. Each takes an opened [`Ctx`] and returns a typed
//! report; rendering it is the job of `report`, choosing an exit code the job of `cli`.
//!
//! An operation never opens its own targets or sources and never reads the wall clock: the
//! CLI (and the daemon) open a [`Ctx`] once, tests build one from in-memory targets and a
//! fixed clock.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{Config, SourceConfig};
use crate::seal::{self, Recipients};
use crate::source::{self, Source};
use crate::state::StateDir;
use crate::targets::Target;

/// The standby drills' record in the state directory: per source, the last one
/// ([`crate::facts::StandbyDrillFact`]); written by `drill --standby`, read by `check`.
pub const STANDBY_DRILLS: &str = "standby_drills.json";

/// A configured source and its opened form.
pub type Selected<'c> = (&'c SourceConfig, Arc<dyn Source>);

/// What time it is, asked by an operation whenever it needs to know.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything an operation works with, opened once.
pub struct Ctx {
    pub config: Config,
    /// Every configured target, in config order, wrapped in the retry policy.
    pub targets: Vec<Arc<dyn Target>>,
    /// Every configured source, in config order.
    sources: Vec<Arc<dyn Source>>,
    pub state: StateDir,
    clock: Clock,
    /// Public keys given on the command line (`--trusted-key`), trusted besides the config's.
    extra_trusted: Vec<ssh_key::PublicKey>,
    /// Progress bars (drawn only on a terminal).
    pub progress: crate::progress::Progress,
    /// The scratch state directory of a config of targets only, removed with the context.
    _scratch: Option<tempfile::TempDir>,
}

impl Ctx {
    /// Opens the config's targets and sources, with the wall clock. Opening never fails as
    /// a whole: a target that cannot be opened fails alone, in its own results.
    pub async fn open(mut config: Config) -> Ctx {
        // A config of targets only that names no state directory: a scratch one, so that a
        // bare machine writes nothing to /var/lib.
        let scratch = if config.scratch_state {
            match tempfile::Builder::new().prefix("pbx321-state-").tempdir() {
                Ok(dir) => {
                    config.state_dir = dir.path().join("state");
                    Some(dir)
                }
                Err(e) => {
                    tracing::warn!(
                        "no scratch state directory ({e}): using {}",
                        config.state_dir.display()
                    );
                    None
                }
            }
        } else {
            None
        };
        let share = crate::share::Share::with_group(config.file_group.as_deref());
        let mut targets = Vec::with_capacity(config.targets.len());
        for t in &config.targets {
            targets.push(crate::targets::open(t, &share).await);
        }
        let sources = config.sources.iter().map(source::open).collect();
        let mut ctx = Ctx::with(config, targets, sources, Arc::new(Utc::now));
        ctx.progress = crate::progress::Progress::on_terminal();
        ctx._scratch = scratch;
        ctx
    }

    /// A context of given parts (tests: in-memory targets, a fixed clock).
    pub fn with(
        config: Config,
        targets: Vec<Arc<dyn Target>>,
        sources: Vec<Arc<dyn Source>>,
        clock: Clock,
    ) -> Ctx {
        Ctx {
            state: StateDir::new(&config.state_dir).shared(crate::share::Share::with_group(
                config.file_group.as_deref(),
            )),
            config,
            targets,
            sources,
            clock,
            extra_trusted: Vec::new(),
            progress: crate::progress::Progress::hidden(),
            _scratch: None,
        }
    }

    /// The same context trusting `keys` as well (`--trusted-key`).
    pub fn with_trusted(mut self, keys: Vec<ssh_key::PublicKey>) -> Ctx {
        self.extra_trusted = keys;
        self
    }

    /// The keys manifests are verified against, or `None` when signing is not configured
    /// (and no key was given): then copies are not tamper-evident. The signing key's own
    /// public key is always trusted, read from `KEY.pub` (so that a monitoring user need
    /// not read the private key) or else from the key itself.
    pub fn trust(&self) -> Result<Option<crate::sign::Trust>, OpError> {
        let signing = self.config.signing.as_ref();
        if signing.is_none() && self.extra_trusted.is_empty() {
            return Ok(None);
        }
        let mut keys = self.extra_trusted.clone();
        if let Some(s) = signing {
            for line in &s.trusted {
                keys.push(crate::sign::parse_trusted(line).map_err(OpError::BadTrustedKey)?);
            }
            match own_public_key(&s.key)? {
                Ok(k) => keys.push(k),
                Err(why) => {
                    tracing::debug!("the signing key's own public key is not trusted here: {why}")
                }
            }
            if keys.is_empty() {
                return Err(OpError::NoTrustedKey { key: s.key.clone() });
            }
        }
        Ok(Some(crate::sign::Trust {
            keys,
            accept_unsigned_before: signing.and_then(|s| s.accept_unsigned_before),
        }))
    }

    /// The same context with another clock (tests; a daemon under a paused clock).
    pub fn with_clock(mut self, clock: Clock) -> Ctx {
        self.clock = clock;
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Now, with the clock skew the policy allows: the moment to judge a catalog at.
    pub fn at(&self) -> crate::catalog::At {
        crate::catalog::At::new(
            self.now(),
            chrono::TimeDelta::from_std(self.config.policy.clock_skew)
                .unwrap_or(crate::catalog::FUTURE_SKEW),
        )
    }

    pub fn clock(&self) -> Clock {
        Arc::clone(&self.clock)
    }

    /// A stopwatch started now: how long a step takes, on tokio's monotonic clock (which
    /// tests pause and advance). With `now`, the only clock an operation reads.
    pub fn stopwatch(&self) -> Stopwatch {
        Stopwatch(tokio::time::Instant::now())
    }

    /// The sources named in `wanted` (every one when empty), in the order given, or a usage
    /// error naming the configured ones.
    pub fn select(&self, wanted: &[String]) -> Result<Vec<Selected<'_>>, OpError> {
        let by_name = |name: &str| {
            let i = self.config.sources.iter().position(|s| s.name == name)?;
            Some((&self.config.sources[i], Arc::clone(self.sources.get(i)?)))
        };
        if wanted.is_empty() {
            return Ok(self
                .config
                .sources
                .iter()
                .filter_map(|s| by_name(&s.name))
                .collect());
        }
        wanted
            .iter()
            .map(|w| {
                by_name(w).ok_or_else(|| {
                    let names: Vec<&str> = self
                        .config
                        .sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect();
                    OpError::UnknownSource {
                        name: w.clone(),
                        config: self.config.path.clone(),
                        suggestion: crate::config::suggest(w, &names).map(str::to_string),
                        configured: names.iter().map(|n| n.to_string()).collect(),
                    }
                })
            })
            .collect()
    }

    /// The running 3CX that `restore --into NAME` (or, with `standby`, NAME's standby
    /// drill) puts a backup back into: its API client and its repository, opened here.
    pub async fn open_into(
        &self,
        name: &str,
        standby: bool,
    ) -> Result<into_pbx::IntoPbx, into_pbx::IntoError> {
        use crate::config::SourceKind;
        let (cfg, _) = self
            .select(std::slice::from_ref(&name.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| OpError::NoSources {
                config: self.config.path.clone(),
            })?;
        let not = |why: &str| into_pbx::IntoError::NotInto {
            source_name: name.into(),
            why: why.into(),
        };
        let SourceKind::ThreeCx(t) = &cfg.kind else {
            return Err(not(
                "only a 3CX V20 source (type = \"3cx\") can be restored into: its API runs the restore",
            ));
        };
        let into = if standby {
            t.standby_pbx()
        } else {
            t.into_pbx()
        }
        .map_err(|e| not(&e.to_string()))?
        .ok_or_else(|| {
            not(if standby {
                "has no [source.standby]: name a second 3CX V20 (url, client_id, client_secret, restore_via) to drill on"
            } else {
                "has no restore_via: set it to where this PBX's backup repository lies (e.g. \"sftp://root@pbx.example.com/var/lib/3cxpbx/Instance1/Data/Backups\", or its SFTP/S3 repository); `pbx321 plan` shows the repository 3CX reports"
            })
        })?;
        let share = crate::share::Share::with_group(self.config.file_group.as_deref());
        let label = if standby {
            format!("{name}.standby")
        } else {
            name.to_string()
        };
        Ok(into_pbx::IntoPbx {
            client: crate::source::threecx::ThreeCx::new(&label, into.api.clone()),
            via: crate::targets::open(&into.via, &share).await,
            via_location: crate::config::location_of(&into.via.kind),
            url: into.api.url.clone(),
            restart_timeout: into.restart_timeout,
            password: into.api.backup_password.clone(),
        })
    }

    /// Names of the selected sources.
    pub fn source_names(&self, wanted: &[String]) -> Result<Vec<String>, OpError> {
        Ok(self
            .select(wanted)?
            .into_iter()
            .map(|(c, _)| c.name.clone())
            .collect())
    }
}

pub mod backup;
pub mod catalog;
pub mod check;
pub mod config_check;
pub mod drill;
pub mod into_pbx;
pub mod keygen;
pub mod list;
pub mod plan;
pub mod prune;
pub mod repair;
pub mod restore;

#[cfg(test)]
mod judgement_props;
#[cfg(test)]
mod tests;

/// How long since a step started (see [`Ctx::stopwatch`]).
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(tokio::time::Instant);

impl Stopwatch {
    /// Seconds since the start.
    pub fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }

    /// Seconds since the start, to the millisecond (as reports give them).
    pub fn seconds_ms(&self) -> f64 {
        (self.seconds() * 1000.0).round() / 1000.0
    }
}

/// Errors that stop an operation before it produces a report. Each carries its facts and
/// is worded here; `cli` maps them to exit codes in one place ([`OpError::is_usage`]).
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The config has no source to back up.
    #[error("{} has no [[source]]: it can restore and list, not back up; add a source (e.g. type = \"folder\")", config.display())]
    NoSources { config: PathBuf },
    /// The config has no recipients to seal for.
    #[error("{} has no [encryption]: add recipients = [\"age1…\"] to back up (make a key with `pbx321 keygen --out FILE`)", config.display())]
    NoEncryption { config: PathBuf },
    /// A line of `recipients_file` is not an age recipient.
    #[error("recipients_file {}:{line}: {why}", path.display())]
    BadRecipient {
        path: PathBuf,
        line: usize,
        why: String,
    },
    /// A source asked for by name is not configured.
    #[error("no source named {name:?} in {}; {}configured: {}", config.display(), suggestion.as_ref().map(|s| format!("did you mean {s:?}? ")).unwrap_or_default(), configured.join(", "))]
    UnknownSource {
        name: String,
        config: PathBuf,
        suggestion: Option<String>,
        configured: Vec<String>,
    },
    /// A source name that could never be a source's (it could not be used in a path).
    #[error("source {name:?} {why}")]
    BadSourceName { name: String, why: String },
    /// A `[signing] trusted` line is not an ed25519 public key.
    #[error(transparent)]
    BadTrustedKey(#[from] crate::sign::TrustedKeyError),
    /// Signatures are to be checked, and no key to check them with can be had.
    #[error("[signing]: no key to verify signatures with: {}.pub cannot be read and trusted is empty; add the public key to trusted = […]", key.display())]
    NoTrustedKey { key: PathBuf },
    /// The signing key cannot be loaded or made.
    #[error(transparent)]
    SigningKey(crate::sign::SignError),
    /// A manifest could not be signed.
    #[error(transparent)]
    Signing(crate::sign::SignError),
    /// `keygen` would overwrite a key.
    #[error("{} exists; pbx321 never overwrites a key (it may be the only way into your backups)", path.display())]
    KeyExists { path: PathBuf },
    /// `keygen` into a directory that does not exist.
    #[error("cannot write the key to {}: the directory {} does not exist; create it first (mkdir -p, mode 700)", path.display(), dir.display())]
    NoKeyDirectory { path: PathBuf, dir: PathBuf },
    /// `drill --standby` for a source without a standby, or with none configured.
    #[error("{}: name a second 3CX V20 in [source.standby] (url, client_id, client_secret, restore_via) to drill on; docs/disaster-recovery.md", match source_name { Some(s) => format!("source {s:?} has no [source.standby] in {}", config.display()), None => format!("no source in {} has a [source.standby]", config.display()) })]
    NoStandby {
        source_name: Option<String>,
        config: PathBuf,
    },
    /// `[plan] write_to` is needed and not set.
    #[error("[plan] write_to is not set: nowhere to write the runbook")]
    NoRunbookPath,
    /// A task of this process ended without its result (it panicked or was cancelled).
    #[error("{what} failed: {error}")]
    Task { what: &'static str, error: String },
    #[error("{what}: {error}")]
    Encode {
        what: &'static str,
        error: serde_json::Error,
    },
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error(transparent)]
    Target(#[from] crate::targets::TargetError),
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

impl OpError {
    /// Bad usage or a bad config, found before any work: the caller must change something
    /// (exit 2), not run again.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            OpError::NoSources { .. }
                | OpError::NoEncryption { .. }
                | OpError::BadRecipient { .. }
                | OpError::UnknownSource { .. }
                | OpError::BadSourceName { .. }
                | OpError::BadTrustedKey(_)
                | OpError::NoTrustedKey { .. }
                | OpError::SigningKey(_)
                | OpError::KeyExists { .. }
                | OpError::NoRunbookPath
                | OpError::NoStandby { .. }
        )
    }
}

impl From<crate::spool::writer::WriteError> for OpError {
    fn from(e: crate::spool::writer::WriteError) -> OpError {
        use crate::spool::writer::WriteError;
        match e {
            WriteError::NotABackup { .. } => {
                OpError::Source(crate::source::SourceError::Invalid(e.to_string()))
            }
            WriteError::Seal(e) => OpError::Seal(e),
            WriteError::ZipCheck(source) => OpError::Io {
                what: "cannot start the zip check".into(),
                source,
            },
        }
    }
}

pub fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> OpError {
    let what = what.into();
    move |source| OpError::Io { what, source }
}

/// The public half of the signing key at `key`: `KEY.pub`, else derived from the key; the
/// inner error says why neither could be had. A failure that is this process's, not the
/// key's (out of file descriptors), is the outer error: it must be said as what it is, never
/// as "no key".
fn own_public_key(
    key: &std::path::Path,
) -> Result<Result<ssh_key::PublicKey, crate::sign::SignError>, OpError> {
    let mut pub_path = key.as_os_str().to_owned();
    pub_path.push(".pub");
    match std::fs::read_to_string(&pub_path) {
        Ok(line) => return Ok(crate::sign::parse_trusted(&line).map_err(Into::into)),
        Err(e) if crate::error::is_out_of_fds(&e) => {
            return Err(io_error(format!(
                "reading {}",
                std::path::Path::new(&pub_path).display()
            ))(e));
        }
        Err(_) => {}
    }
    if let Err(e) = std::fs::File::open(key)
        && crate::error::is_out_of_fds(&e)
    {
        return Err(io_error(format!("reading {}", key.display()))(e));
    }
    Ok(crate::sign::Signer::load(key).map(|s| s.public_key()))
}

/// The configured recipients, `recipients_file` included, parsed once: (their lines, for
/// the manifest; the parsed keys, for the seal).
pub fn recipients(cfg: &Config) -> Result<(Vec<String>, Arc<Recipients>), OpError> {
    let enc = cfg
        .encryption
        .as_ref()
        .ok_or_else(|| OpError::NoEncryption {
            config: cfg.path.clone(),
        })?;
    let mut lines = enc.recipients.clone();
    if let Some(path) = &enc.recipients_file {
        let text = std::fs::read_to_string(path)
            .map_err(io_error(format!("recipients_file {}", path.display())))?;
        for (n, line) in text.lines().map(str::trim).enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            seal::parse_recipient(line).map_err(|why| OpError::BadRecipient {
                path: path.clone(),
                line: n + 1,
                why: why.to_string(),
            })?;
            lines.push(line.to_string());
        }
    }
    let parsed = seal::parse_recipients(&lines)?;
    Ok((lines, Arc::new(parsed)))
}
