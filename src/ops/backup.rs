//! `backup`: find → seal once into the spool → fan out → verify → verdict.
//!
//! Under the state-directory lock, per source:
//! 1. Leftovers of interrupted runs (`*.partial` objects, artifacts without a manifest,
//!    partial spool files) are deleted first: they were never copies.
//! 2. The source names its newest backup. If a manifest on some target already records the
//!    same origin (name, time, size), nothing is pulled again: targets missing that copy are
//!    filled from the kept spool or from a target that has it (byte-identical copies, one
//!    sha256), and the others are left alone.
//! 3. Otherwise the backup is read once and sealed into `spool/<id>.zip.zst.age`
//!    (ciphertext only), every target uploads from it concurrently, and the spool is
//!    removed once every target has its copy — kept, with its manifest, while one is missing.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::catalog::{self, BackupEntry, Catalog};
use super::{OpError, State, io_error};
use crate::config::{Config, SourceConfig};
use crate::fanout::{self, Outcome, TargetResult, Upload};
use crate::manifest::{self, Manifest, Origin};
use crate::policy::{self, CopyFact, Rule, Verdict};
use crate::seal;
use crate::source;
use crate::target::{Payload, Target};

#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// Source names to run; empty for all.
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub sources: Vec<SourceRun>,
    /// Leftovers of interrupted runs that were deleted: (target, path).
    pub cleaned: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceRun {
    pub source: String,
    #[serde(flatten)]
    pub result: RunResult,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum RunResult {
    Stored {
        id: String,
        /// The source's backup was already stored; no new backup was made.
        already_stored: bool,
        origin: Origin,
        plain_bytes: u64,
        sealed_bytes: u64,
        targets: Vec<TargetResult>,
        verdict: Verdict,
    },
    Failed {
        error: String,
    },
}

impl SourceRun {
    /// Whether at least one target holds a copy of this run's backup.
    pub fn any_copy(&self) -> bool {
        match &self.result {
            RunResult::Stored { verdict, .. } => verdict.copies > 0,
            RunResult::Failed { .. } => false,
        }
    }

    pub fn invariant_ok(&self) -> bool {
        matches!(&self.result, RunResult::Stored { verdict, .. } if verdict.ok)
    }
}

/// Runs a backup of the selected sources. `now` is asked for the time of each new backup.
pub async fn run(
    cfg: &Config,
    opts: &BackupOptions,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<BackupReport, OpError> {
    let sources = select_sources(cfg, &opts.sources)?;
    let state = State::new(&cfg.state_dir);
    let _lock = state.lock()?;
    let (recipient_lines, _) = super::recipients(cfg)?;
    let targets = super::open_targets(cfg).await?;
    clean_spool(&state)?;

    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let listings = catalog::list_all(&targets, &names).await;
    let leftovers = catalog::build(&listings, |_, _| false).await;
    let cleaned = clean_targets(&targets, &leftovers).await;

    let mut runs = Vec::new();
    for src_cfg in sources {
        let result = match back_up_source(
            cfg,
            src_cfg,
            &state,
            &targets,
            &listings,
            &recipient_lines,
            &now,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(source = %src_cfg.name, error = %e, "backup failed");
                RunResult::Failed {
                    error: e.to_string(),
                }
            }
        };
        let run = SourceRun {
            source: src_cfg.name.clone(),
            result,
        };
        record_history(&state, &run, now());
        runs.push(run);
    }
    Ok(BackupReport {
        sources: runs,
        cleaned,
    })
}

fn select_sources<'c>(
    cfg: &'c Config,
    wanted: &[String],
) -> Result<Vec<&'c SourceConfig>, OpError> {
    if wanted.is_empty() {
        return Ok(cfg.sources.iter().collect());
    }
    wanted
        .iter()
        .map(|w| {
            cfg.source(w).ok_or_else(|| {
                OpError::Setup(format!(
                    "no source named {w:?} in {}; configured: {}",
                    cfg.path.display(),
                    cfg.sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
        })
        .collect()
}

/// Removes spool files of interrupted seals. Complete spools are kept for repair.
fn clean_spool(state: &State) -> Result<(), OpError> {
    let dir = state.spool_dir();
    for entry in std::fs::read_dir(&dir)
        .map_err(io_error(format!("spool {}", dir.display())))?
        .flatten()
    {
        if entry
            .file_name()
            .to_string_lossy()
            .ends_with(manifest::PARTIAL_SUFFIX)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

async fn clean_targets(targets: &[Arc<dyn Target>], cat: &Catalog) -> Vec<(String, String)> {
    let mut cleaned = Vec::new();
    for (target, path) in cat.partials.iter().chain(&cat.orphans) {
        let Some(t) = targets.iter().find(|t| t.name() == target) else {
            continue;
        };
        match t.delete(path).await {
            Ok(()) => {
                tracing::info!(target_name = %target, %path, "removed the leftover of an interrupted run");
                cleaned.push((target.clone(), path.clone()));
            }
            Err(e) => {
                tracing::warn!(target_name = %target, %path, error = %e, "could not remove a leftover")
            }
        }
    }
    cleaned
}

/// A reader that hands every byte it reads to a zip check running on its own thread, through
/// a pipe (bounded memory). If the check stops early (the zip is damaged), the copying stops
/// and reading goes on; the check's result says why.
fn zip_checked<R: std::io::Read>(
    inner: R,
) -> Result<
    (
        impl std::io::Read,
        std::thread::JoinHandle<
            Result<crate::zipcheck::ZipSummary, crate::zipcheck::ZipCheckError>,
        >,
    ),
    OpError,
> {
    struct Tee<R> {
        inner: R,
        pipe: Option<std::io::PipeWriter>,
    }
    impl<R: std::io::Read> std::io::Read for Tee<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            if let Some(p) = &mut self.pipe
                && p.write_all(&buf[..n]).is_err()
            {
                self.pipe = None;
            }
            if n == 0 {
                // End of the backup: closing the pipe ends the check.
                self.pipe = None;
            }
            Ok(n)
        }
    }
    let (reader, writer) = std::io::pipe().map_err(io_error("pipe for the zip check"))?;
    let check = std::thread::spawn(move || {
        crate::zipcheck::check(std::io::BufReader::with_capacity(256 * 1024, reader))
    });
    Ok((
        Tee {
            inner,
            pipe: Some(writer),
        },
        check,
    ))
}

fn zstd_threads() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get().min(4) as u32)
        .unwrap_or(1)
}

async fn back_up_source(
    cfg: &Config,
    src_cfg: &SourceConfig,
    state: &State,
    targets: &[Arc<dyn Target>],
    listings: &[catalog::Listing],
    recipient_lines: &[String],
    now: &impl Fn() -> DateTime<Utc>,
) -> Result<RunResult, OpError> {
    let name = src_cfg.name.as_str();
    let src = source::open(src_cfg);
    let origin = src
        .find()
        .await
        .map_err(|e| OpError::Setup(e.to_string()))?;
    tracing::info!(source = name, file = %origin.name, bytes = origin.size, "found backup");

    // Only backups made after the file existed can record it: read just those manifests.
    let since = origin.time.trunc_subsecs(0) - chrono::Duration::seconds(1);
    let cat = catalog::build(listings, |s, id| {
        s == name && manifest::id_time(s, id).is_some_and(|t| t >= since)
    })
    .await;
    let rule = Rule::from(&cfg.policy);
    if let Some(existing) = cat
        .of_source(name)
        .find(|b| b.manifest.as_ref().is_some_and(|m| m.same_origin(&origin)))
    {
        let result = complete_existing(state, targets, listings, existing, &rule).await?;
        if let RunResult::Stored { verdict, .. } = &result {
            src.stored(&origin, verdict.ok).await;
        }
        return Ok(result);
    }

    // A new backup; its id must not collide with one already stored.
    let mut created = now().trunc_subsecs(0);
    while cat
        .backups
        .contains_key(&(name.to_string(), manifest::backup_id(name, created)))
    {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        created = now().trunc_subsecs(0);
    }
    let id = manifest::backup_id(name, created);
    let spool = spool_path(state, &id);
    let partial = partial_path(&spool);

    let reader = src
        .open(&origin)
        .await
        .map_err(|e| OpError::Setup(e.to_string()))?;
    let recipients = seal::parse_recipients(recipient_lines)?;
    let bridge = tokio_util::io::SyncIoBridge::new(reader);
    let out_path = partial.clone();
    let origin_name = origin.name.clone();
    let source_name = name.to_string();
    let sealed = tokio::task::spawn_blocking(move || -> Result<(seal::Digests, bool), OpError> {
        let file = std::fs::File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&out_path)
            .map_err(io_error(format!("spool {}", out_path.display())))?;
        let out = std::io::BufWriter::with_capacity(1024 * 1024, file);
        // The plaintext is checked as a 3CX zip in the same single pass, on another thread,
        // so that a corrupt backup is refused before anything is stored.
        let (input, check) = zip_checked(bridge)?;
        let (digests, out) = seal::seal(input, out, &recipients, zstd_threads())?;
        let zip = check.join().unwrap_or_else(|_| {
            Err(crate::zipcheck::ZipCheckError::Io(std::io::Error::other(
                "zip check thread panicked",
            )))
        });
        let pbx_encrypted = match zip {
            Ok(summary) => summary.encrypted,
            Err(crate::zipcheck::ZipCheckError::Unsupported(why)) => {
                tracing::warn!(
                    source = %source_name,
                    "{origin_name}: zip entries not checked ({why}); stored as it is"
                );
                false
            }
            Err(e) => {
                return Err(OpError::Setup(format!(
                    "source {source_name}: {origin_name} is not a readable 3CX backup ({e}); nothing was stored"
                )));
            }
        };
        let file = out
            .into_inner()
            .map_err(|e| io_error(format!("spool {}", out_path.display()))(e.into_error()))?;
        file.sync_all()
            .map_err(io_error(format!("spool {}", out_path.display())))?;
        Ok((digests, pbx_encrypted))
    })
    .await
    .map_err(|e| OpError::Setup(format!("seal task failed: {e}")));
    let (digests, pbx_encrypted) = match sealed.and_then(|r| r) {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if digests.plain_bytes != origin.size {
        let _ = std::fs::remove_file(&partial);
        return Err(OpError::Setup(format!(
            "source {name}: {} changed while it was read ({} bytes read, {} expected); nothing was stored, run again",
            origin.name, digests.plain_bytes, origin.size
        )));
    }
    std::fs::rename(&partial, &spool).map_err(io_error(format!("spool {}", spool.display())))?;
    tracing::debug!(source = %name, plain = digests.plain_bytes, sealed = digests.sealed_bytes, "sealed into the spool");
    src.sealed(&origin).await;

    let m = Manifest {
        format: manifest::FORMAT_NAME.into(),
        version: manifest::FORMAT_VERSION,
        id: id.clone(),
        source: name.into(),
        created_at: created,
        origin: origin.clone(),
        plain: manifest::Plain {
            bytes: digests.plain_bytes,
            sha256: digests.plain_sha256.clone(),
            pbx_encrypted,
        },
        sealed: manifest::Sealed {
            bytes: digests.sealed_bytes,
            sha256: digests.sealed_sha256.clone(),
            compression: "zstd".into(),
            encryption: "age".into(),
            recipients: recipient_lines.to_vec(),
        },
        tool: manifest::Tool::this(),
    };
    let manifest_json = m.to_json();
    write_spool_manifest(&spool, &manifest_json)?;
    let upload = Upload {
        artifact_path: manifest::artifact_path(name, &id),
        artifact: Payload::file(spool.clone(), digests.sealed_bytes),
        manifest_path: manifest::manifest_path(name, &id),
        manifest: Bytes::from(manifest_json),
    };
    let results = fanout::fan_out(targets, &upload).await;
    let verdict = verdict_of(listings, &results, &rule, name, &id).await;
    finish_spool(&spool, &results);
    src.stored(&origin, verdict.ok).await;
    Ok(RunResult::Stored {
        id,
        already_stored: false,
        origin,
        plain_bytes: digests.plain_bytes,
        sealed_bytes: digests.sealed_bytes,
        targets: results,
        verdict,
    })
}

/// The backup is already stored somewhere: fill the targets that lack it.
async fn complete_existing(
    state: &State,
    targets: &[Arc<dyn Target>],
    listings: &[catalog::Listing],
    existing: &BackupEntry,
    rule: &Rule,
) -> Result<RunResult, OpError> {
    let m = existing
        .manifest
        .clone()
        .expect("only entries with a manifest are completed");
    let (have, missing): (Vec<_>, Vec<_>) = targets
        .iter()
        .cloned()
        .partition(|t| existing.verified_on(t.name()));
    let mut results: Vec<TargetResult> = have
        .iter()
        .map(|t| TargetResult {
            target: t.name().into(),
            outcome: Outcome::Present,
        })
        .collect();
    if !missing.is_empty() {
        tracing::info!(id = %m.id, missing = missing.len(), "backup already stored; completing the targets that lack it");
        let spool = spool_path(state, &m.id);
        match ensure_spool(&spool, &have, &m).await {
            Ok(()) => {
                let upload = Upload {
                    artifact_path: manifest::artifact_path(&m.source, &m.id),
                    artifact: Payload::file(spool.clone(), m.sealed.bytes),
                    manifest_path: manifest::manifest_path(&m.source, &m.id),
                    manifest: Bytes::from(m.to_json()),
                };
                results.extend(fanout::fan_out(&missing, &upload).await);
                finish_spool(&spool, &results);
            }
            Err(e) => results.extend(missing.iter().map(|t| TargetResult {
                target: t.name().into(),
                outcome: Outcome::Failed {
                    error: format!("no verified copy to complete from: {e}"),
                },
            })),
        }
    }
    // Report in config order.
    results.sort_by_key(|r| targets.iter().position(|t| t.name() == r.target));
    let verdict = verdict_of(listings, &results, rule, &m.source, &m.id).await;
    Ok(RunResult::Stored {
        id: m.id.clone(),
        already_stored: true,
        origin: m.origin.clone(),
        plain_bytes: m.plain.bytes,
        sealed_bytes: m.sealed.bytes,
        targets: results,
        verdict,
    })
}

/// Makes sure `spool` holds the sealed bytes `m` describes: the kept spool if it checks out,
/// else a download from the first target that has a copy.
async fn ensure_spool(spool: &Path, have: &[Arc<dyn Target>], m: &Manifest) -> Result<(), OpError> {
    if let Ok(f) = std::fs::File::open(spool) {
        let (bytes, sha) =
            tokio::task::spawn_blocking(move || seal::digest(std::io::BufReader::new(f)))
                .await
                .map_err(|e| OpError::Setup(e.to_string()))?
                .map_err(io_error(format!("spool {}", spool.display())))?;
        if bytes == m.sealed.bytes && sha == m.sealed.sha256 {
            return Ok(());
        }
        let _ = std::fs::remove_file(spool);
    }
    let path = manifest::artifact_path(&m.source, &m.id);
    let mut last = String::from("no target holds a verified copy");
    for t in have {
        let partial = partial_path(spool);
        match download(t.as_ref(), &path, &partial).await {
            Ok((bytes, sha)) if bytes == m.sealed.bytes && sha == m.sealed.sha256 => {
                std::fs::rename(&partial, spool)
                    .map_err(io_error(format!("spool {}", spool.display())))?;
                write_spool_manifest(spool, &m.to_json())?;
                return Ok(());
            }
            Ok(_) => last = format!("the copy on {} does not match its manifest", t.name()),
            Err(e) => last = e,
        }
        let _ = std::fs::remove_file(&partial);
    }
    Err(OpError::Setup(last))
}

async fn download(t: &dyn Target, path: &str, to: &Path) -> Result<(u64, String), String> {
    let mut reader = t.read(path).await.map_err(|e| e.to_string())?;
    let file = tokio::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .await
        .map_err(|e| format!("{}: {e}", to.display()))?;
    let mut out = tokio::io::BufWriter::new(file);
    tokio::io::copy(&mut reader, &mut out)
        .await
        .map_err(|e| format!("copying {path} from {}: {e}", t.name()))?;
    out.shutdown().await.map_err(|e| e.to_string())?;
    let f = std::fs::File::open(to).map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || seal::digest(std::io::BufReader::new(f)))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

async fn verdict_of(
    listings: &[catalog::Listing],
    results: &[TargetResult],
    rule: &Rule,
    source: &str,
    id: &str,
) -> Verdict {
    let mut facts: Vec<CopyFact> = Vec::new();
    for r in results.iter().filter(|r| r.outcome.has_copy()) {
        if let Some(l) = listings.iter().find(|l| l.target.name() == r.target) {
            let until = catalog::locked_until(l.target.as_ref(), source, id).await;
            facts.push(catalog::fact(l, until.is_some_and(|u| u > Utc::now())));
        }
    }
    policy::evaluate(&facts, rule)
}

fn spool_path(state: &State, id: &str) -> PathBuf {
    state
        .spool_dir()
        .join(format!("{id}{}", manifest::ARTIFACT_SUFFIX))
}

fn partial_path(spool: &Path) -> PathBuf {
    let mut s = spool.as_os_str().to_owned();
    s.push(manifest::PARTIAL_SUFFIX);
    PathBuf::from(s)
}

/// `spool/<id>.manifest.json` beside `spool/<id>.zip.zst.age`.
fn spool_manifest_path(spool: &Path) -> PathBuf {
    let name = spool
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let id = name
        .strip_suffix(manifest::ARTIFACT_SUFFIX)
        .unwrap_or(&name);
    spool.with_file_name(format!("{id}{}", manifest::MANIFEST_SUFFIX))
}

fn write_spool_manifest(spool: &Path, json: &[u8]) -> Result<(), OpError> {
    let path = spool_manifest_path(spool);
    std::fs::write(&path, json).map_err(io_error(format!("spool {}", path.display())))
}

/// Removes the spool once every target has its copy; keeps it for the next run otherwise.
fn finish_spool(spool: &Path, results: &[TargetResult]) {
    if results.iter().all(|r| r.outcome.has_copy()) {
        let _ = std::fs::remove_file(spool);
        let _ = std::fs::remove_file(spool_manifest_path(spool));
    } else {
        tracing::warn!(spool = %spool.display(), "kept the sealed spool: a target is missing its copy, the next run completes it");
    }
}

/// Appends one line per source run to `runs.jsonl` in the state directory. Best effort:
/// history is a cache, never a reason to fail a backup.
fn record_history(state: &State, run: &SourceRun, at: DateTime<Utc>) {
    #[derive(Serialize)]
    struct Line<'a> {
        at: DateTime<Utc>,
        #[serde(flatten)]
        run: &'a SourceRun,
    }
    let Ok(mut line) = serde_json::to_vec(&Line { at, run }) else {
        return;
    };
    line.push(b'\n');
    let path = state.dir.join("runs.jsonl");
    if let Ok(mut f) = std::fs::File::options()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
    {
        let _ = f.write_all(&line);
    }
}
