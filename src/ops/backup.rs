//! `backup`: complete what is pending → find → seal once into the spool → fan out → verdict.
//!
//! Under the state-directory lock:
//! 1. Leftovers of interrupted runs are removed: `*.partial` objects and artifacts without a
//!    manifest on the targets, and crash leftovers in the spool ([`Spool::clean`]).
//! 2. Every pending backup in the spool is completed, oldest first, on each target that
//!    lacks a verified copy; its spool files are removed once every target has one.
//! 3. Per source, the source names its newest backup. If a manifest on some target, or a
//!    pending backup, already records the same origin (name, time, size), nothing is pulled
//!    again: targets missing that copy are filled from the spool, or from a target that has
//!    a verified copy (byte-identical copies, one sha256).
//! 4. Otherwise the backup is read once and sealed into the spool (ciphertext only), every
//!    target uploads from it concurrently, and the spool is removed once every target has
//!    its copy — kept, as a pending backup, while one is missing.
//! 5. The spool is bounded: at most `spool_max` pending backups per source.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;

use super::catalog::{self, BackupEntry, Catalog, Leftover, Listing};
use super::{Ctx, OpError, io_error};
use crate::fanout::{self, Outcome, TargetResult, Upload};
use crate::manifest::{self, Manifest, Origin};
pub use crate::outcome::{BackupReport, PendingRun, RunResult, SourceRun};
use crate::policy::{self, CopyFact, Rule, Verdict};
use crate::seal;
use crate::sign::{Signer, Trust};
use crate::source::{Source, SourceError};
use crate::spool::{Pending, Spool};
use crate::state::StateDir;
use crate::targets::parts::PartHasher;
use crate::targets::{PartHashes, Staged, Target};

/// Ids tried before giving up on finding a free one (one second apart).
const ID_TRIES: u32 = 600;
/// New ids taken after another writer turned out to hold the same one.
const CONFLICT_RETRIES: u32 = 3;

#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// Source names to run; empty for all.
    pub sources: Vec<String>,
}

/// What every source's run shares.
struct Run<'a> {
    spool: &'a Spool,
    targets: &'a [Arc<dyn Target>],
    listings: &'a [Listing],
    /// Recipient lines (for manifests) and the parsed keys (for the seal), parsed once.
    recipients: &'a [String],
    keys: Arc<seal::Recipients>,
    rule: Rule,
    /// Pending backups completed in step 2, by id: their targets are not tried twice.
    tried: &'a [PendingRun],
    now: &'a (dyn Fn() -> DateTime<Utc> + Sync),
    /// How far ahead of `now` a backup may be dated and still count.
    skew: chrono::TimeDelta,
    /// Signs every manifest written, when `[signing]` is configured.
    signer: Option<&'a Signer>,
    /// What counts as a copy of a backup already stored.
    trust: Option<&'a Trust>,
    /// Bars for the pull and seal and each upload (drawn only on a terminal).
    progress: &'a crate::progress::Progress,
}

impl Run<'_> {
    /// The copy of `m` sealed in `file`, its manifest signed.
    fn upload(&self, m: &Manifest, file: PathBuf) -> Result<Upload, OpError> {
        let signature = match self.signer {
            Some(s) => Some(
                s.sign(&m.to_json())
                    .map_err(|e| OpError::Failed(e.to_string()))?,
            ),
            None => None,
        };
        Ok(Upload::of(m, file, signature))
    }

    /// The catalog, judged now ([`Catalog::judge`]).
    async fn catalog(&self, want: impl Fn(&str, &str) -> bool) -> Catalog {
        let at = catalog::At::new((self.now)(), self.skew);
        catalog::build(self.listings, want, self.trust, at).await
    }
}

/// Runs a backup of the selected sources.
pub async fn run(ctx: &Ctx, opts: &BackupOptions) -> Result<BackupReport, OpError> {
    if ctx.config.sources.is_empty() {
        return Err(OpError::Usage(format!(
            "{} has no [[source]]: it can restore and list, not back up; add a source (e.g. type = \"folder\")",
            ctx.config.path.display()
        )));
    }
    let sources = ctx.select(&opts.sources)?;
    let state = &ctx.state;
    let _lock = state.lock()?;
    let signer = match &ctx.config.signing {
        Some(s) => Some(Signer::load(&s.key).map_err(|e| OpError::Usage(e.to_string()))?),
        None => None,
    };
    let trust = ctx.trust()?;
    let spool = Spool::open(state)?;
    spool.clean();
    let (recipient_lines, keys) = super::recipients(&ctx.config)?;
    let now = ctx.clock();

    let names: Vec<String> = sources.iter().map(|(s, _)| s.name.clone()).collect();
    let pending: Vec<Pending> = spool
        .pending()
        .into_iter()
        .filter(|p| opts.sources.is_empty() || names.contains(&p.source))
        .collect();
    let mut prefixes = names.clone();
    prefixes.extend(pending.iter().map(|p| p.source.clone()));
    prefixes.sort();
    prefixes.dedup();
    let listings = catalog::list_all(&ctx.targets, &prefixes).await;
    let mut run = Run {
        spool: &spool,
        targets: &ctx.targets,
        listings: &listings,
        recipients: &recipient_lines,
        keys,
        rule: Rule::from(&ctx.config.policy),
        tried: &[],
        now: &*now,
        skew: ctx.at().skew,
        signer: signer.as_ref(),
        trust: trust.as_ref(),
        progress: &ctx.progress,
    };
    let index = run.catalog(|_, _| false).await;
    let cleaned = clean_targets(run.targets, &index).await;
    let completed = complete_pending(&run, &pending).await;
    // What steps 1 and 2 removed and wrote is what step 3 must see (the ids still in use).
    let relisted;
    if !cleaned.is_empty()
        || completed.iter().any(|c| {
            c.targets
                .iter()
                .any(|t| !matches!(t.outcome, Outcome::Present))
        })
    {
        relisted = catalog::list_all(&ctx.targets, &prefixes).await;
        run.listings = &relisted;
    }
    run.tried = &completed;
    // Sources at once: at most `[daemon] max_concurrent`, in config order in the report.
    use futures::StreamExt;
    let run = &run;
    let now = &now;
    let mut work = Vec::with_capacity(sources.len());
    for (src_cfg, src) in sources {
        work.push(async move {
            let started = std::time::Instant::now();
            let result = back_up_source(run, &src_cfg.name, src.as_ref())
                .await
                .unwrap_or_else(|e| RunResult::Failed {
                    error: e.to_string(),
                });
            let source_run = SourceRun {
                source: src_cfg.name.clone(),
                result,
                warnings: src.notes(),
            };
            record_history(state, &source_run, now(), started.elapsed().as_secs_f64());
            remember_copies(state, &source_run, now());
            source_run
        });
    }
    let runs: Vec<SourceRun> = futures::stream::iter(work)
        .buffered(ctx.config.daemon.max_concurrent.max(1))
        .collect()
        .await;
    crate::history::compact(state, now());
    let dropped = spool.bound(ctx.config.spool_max);
    let repair = match ctx.config.repair {
        crate::config::RepairMode::Off => None,
        crate::config::RepairMode::AfterBackup => {
            let opts = super::repair::RepairOptions {
                sources: names.clone(),
                skip_pending: true,
                ..Default::default()
            };
            match super::repair::run_locked(ctx, &opts).await {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!("repair after backup did not run: {e}");
                    None
                }
            }
        }
    };
    Ok(BackupReport {
        rule: run.rule,
        sources: runs,
        completed,
        cleaned,
        dropped,
        repair,
    })
}

async fn clean_targets(targets: &[Arc<dyn Target>], cat: &Catalog) -> Vec<Leftover> {
    let mut cleaned = Vec::new();
    for l in cat.partials.iter().chain(&cat.orphans) {
        let Some(t) = targets.iter().find(|t| t.name() == l.target) else {
            continue;
        };
        match t.delete(&l.path).await {
            Ok(()) => {
                tracing::info!(target_name = %l.target, path = %l.path, "removed the leftover of an interrupted run");
                cleaned.push(l.clone());
            }
            Err(e) => {
                tracing::warn!(target_name = %l.target, path = %l.path, error = %e, "could not remove a leftover")
            }
        }
    }
    cleaned
}

/// Step 2: every pending backup, oldest first, onto the targets that lack it.
async fn complete_pending(run: &Run<'_>, pending: &[Pending]) -> Vec<PendingRun> {
    let cat = run
        .catalog(|s, id| pending.iter().any(|p| p.source == s && p.id == id))
        .await;
    let mut out = Vec::new();
    for p in pending {
        let entry = cat.backups.get(&(p.source.clone(), p.id.clone()));
        let results = fill(run, entry, &p.manifest, &[]).await;
        let spool_removed = results.iter().all(|r| r.outcome.has_copy());
        if spool_removed {
            run.spool.discard(&p.id);
        }
        let verdict = verdict_of(run, &results, &p.source, &p.id).await;
        tracing::info!(id = %p.id, ok = verdict.ok, "completed a pending backup");
        out.push(PendingRun {
            source: p.source.clone(),
            id: p.id.clone(),
            targets: results,
            spool_removed,
        });
    }
    out
}

/// Gives every target that lacks a verified copy of `m` one, from the spool (rebuilt from a
/// verified copy on another target when it is gone). Targets in `tried` already had their
/// attempt this run: their result is reused, not retried. One result per target, in config
/// order.
async fn fill(
    run: &Run<'_>,
    entry: Option<&BackupEntry>,
    m: &Manifest,
    tried: &[TargetResult],
) -> Vec<TargetResult> {
    let has = |t: &Arc<dyn Target>| entry.is_some_and(|e| e.verified_on(t.name()));
    let mut results: Vec<TargetResult> = Vec::new();
    let mut missing = Vec::new();
    for t in run.targets {
        if has(t) {
            results.push(TargetResult::present(t.name()));
        } else if let Some(r) = tried.iter().find(|r| r.target == t.name()) {
            results.push(r.clone());
        } else {
            missing.push(Arc::clone(t));
        }
    }
    if !missing.is_empty() {
        tracing::info!(id = %m.id, missing = missing.len(), "completing the targets that lack this backup");
        // Only copies that count with a valid signature are copied from (never one that
        // counts only unsigned: that could be a planted one).
        let have: Vec<Arc<dyn Target>> = run
            .targets
            .iter()
            .filter(|t| {
                entry.is_some_and(|e| {
                    e.copies
                        .iter()
                        .any(|c| c.target == t.name() && c.is_source())
                })
            })
            .cloned()
            .collect();
        let upload = match run
            .spool
            .ensure(m, &have, &crate::targets::part_sizes(&missing))
            .await
        {
            Ok((file, parts)) => run
                .upload(m, file)
                .map(|mut u| {
                    u.artifact = u.artifact.with_part_hashes(parts);
                    u
                })
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("no verified copy to complete from: {e}")),
        };
        match upload {
            Ok(u) => results.extend(fanout::fan_out(&missing, &u, run.progress).await),
            Err(e) => results.extend(
                missing
                    .iter()
                    .map(|t| TargetResult::failed(t.name(), e.clone())),
            ),
        }
    }
    results.sort_by_key(|r| run.targets.iter().position(|t| t.name() == r.target));
    results
}

/// Step 3 and 4 for one source.
async fn back_up_source(run: &Run<'_>, name: &str, src: &dyn Source) -> Result<RunResult, OpError> {
    let origin = src.find().await?;
    // A name is data: one that could not be shown raw, or used as a manifest's, is refused
    // here, before a byte is stored.
    if let Err(why) = manifest::check_file_name(&origin.name) {
        return Err(OpError::Source(SourceError::Invalid(format!(
            "source {name}: the backup file's name '{}' {why}; nothing was stored — rename the file at the source",
            crate::escape::text(&origin.name)
        ))));
    }
    tracing::info!(source = name, file = %origin.name, bytes = origin.size, "found backup");

    let cat = catalog_around(run, name, &origin).await;
    if let Some((m, entry)) = already_stored(run.spool, &cat, name, &origin) {
        let tried: &[TargetResult] = run
            .tried
            .iter()
            .find(|p| p.id == m.id)
            .map_or(&[], |p| &p.targets);
        let results = fill(run, entry, &m, tried).await;
        if results.iter().all(|r| r.outcome.has_copy()) {
            run.spool.discard(&m.id);
        }
        let verdict = verdict_of(run, &results, name, &m.id).await;
        src.stored(&origin, verdict.ok).await;
        return Ok(RunResult::Stored {
            first_copy_seconds: None,
            id: m.id.clone(),
            already_stored: true,
            origin: m.origin.clone(),
            plain_bytes: m.plain.bytes,
            sealed_bytes: m.sealed.bytes,
            targets: results,
            verdict,
            id_conflicts: 0,
        });
    }

    let created = free_id_time(run.spool, &taken_ids(run.listings, name), name, (run.now)());
    let started = std::time::Instant::now();
    let (m, made) = seal_into_spool(run, src, name, &origin, created).await?;
    src.sealed(&origin).await;
    let sealed_after = started.elapsed().as_secs_f64();
    let (m, results, id_conflicts) = fan_out_new(run, m, made).await?;
    let first_copy_seconds = results
        .iter()
        .filter_map(|r| match r.outcome {
            Outcome::Written { seconds, .. } => Some(seconds),
            _ => None,
        })
        .reduce(f64::min)
        .map(|s| ((sealed_after + s) * 1000.0).round() / 1000.0);
    let verdict = verdict_of(run, &results, name, &m.id).await;
    if results.iter().all(|r| r.outcome.has_copy()) {
        run.spool.discard(&m.id);
    } else {
        tracing::warn!(id = %m.id, "kept the sealed backup in the spool: a target is missing its copy, the next run completes it");
    }
    src.stored(&origin, verdict.ok).await;
    Ok(RunResult::Stored {
        id: m.id.clone(),
        already_stored: false,
        origin,
        plain_bytes: m.plain.bytes,
        sealed_bytes: m.sealed.bytes,
        targets: results,
        verdict,
        id_conflicts,
        first_copy_seconds,
    })
}

/// Fans a new backup out. Where another writer (another host or state directory sharing
/// a target) turns out to hold the same id with other bytes, this run's copies of that id
/// are withdrawn and the backup takes a new id, so that copies of one id never differ.
async fn fan_out_new(
    run: &Run<'_>,
    mut m: Manifest,
    made: Made,
) -> Result<(Manifest, Vec<TargetResult>, u32), OpError> {
    let mut conflicts = 0;
    let mut staged = Some(made.staged);
    loop {
        let mut upload = match run.upload(&m, run.spool.artifact(&m.id)) {
            Ok(u) => u,
            Err(e) => {
                for s in staged.take().unwrap_or_default() {
                    let _ = std::fs::remove_file(&s.file);
                }
                return Err(e);
            }
        };
        // The copies staged while sealing are for this first id only.
        // The part hashes are of the bytes, whatever their id.
        upload.artifact = upload
            .artifact
            .with_staged(staged.take().unwrap_or_default())
            .with_part_hashes(made.parts.clone());
        let results = fanout::fan_out(run.targets, &upload, run.progress).await;
        for s in upload.artifact.untaken_staged() {
            let _ = std::fs::remove_file(&s.file);
        }
        let conflicted = results
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Conflict { .. }));
        if !conflicted || conflicts == CONFLICT_RETRIES {
            return Ok((m, results, conflicts));
        }
        conflicts += 1;
        tracing::warn!(id = %m.id, "another writer holds this backup id on a target; withdrawing this run's copies and taking a new id");
        withdraw(run.targets, &m, &results).await;
        // Two writers that collided must not collide again in step.
        tokio::time::sleep(std::time::Duration::from_millis(100 + jitter_ms(400))).await;
        let listings = catalog::list_all(run.targets, std::slice::from_ref(&m.source)).await;
        let at = free_id_time(
            run.spool,
            &taken_ids(&listings, &m.source),
            &m.source,
            (run.now)(),
        );
        m = run.spool.rename(&m, at).map_err(io_error(format!(
            "cannot rename the spool file in {}",
            run.spool.dir().display()
        )))?;
    }
}

/// Deletes this run's copies of `m` (manifest first, then the artifact) from the targets
/// it wrote them to, where the manifest there is still exactly ours.
async fn withdraw(targets: &[Arc<dyn Target>], m: &Manifest, results: &[TargetResult]) {
    let manifest_path = manifest::manifest_path(&m.source, &m.id);
    let ours = crate::targets::Payload::Bytes(bytes::Bytes::from(m.to_json()));
    for r in results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Written { .. }))
    {
        let Some(t) = targets.iter().find(|t| t.name() == r.target) else {
            continue;
        };
        if !matches!(
            crate::targets::holds(t.as_ref(), &manifest_path, &ours).await,
            Ok(true)
        ) {
            continue;
        }
        let gone = async {
            t.delete(&manifest_path).await?;
            t.delete(&manifest::signature_path(&m.source, &m.id))
                .await?;
            t.delete(&manifest::artifact_path(&m.source, &m.id)).await
        }
        .await;
        if let Err(e) = gone {
            tracing::warn!(target_name = t.name(), id = %m.id, error = %e, "could not withdraw a copy");
        }
    }
}

/// Up to `max` milliseconds, different in every process and call.
fn jitter_ms(max: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() % max.max(1)
}

/// Every id of `source` that one of pbx321's own objects on a target already carries
/// (committed, uncommitted or being written by another run), as the catalog classifies
/// them: names pbx321 never writes are not looked at, so they never block a backup.
fn taken_ids(listings: &[Listing], source: &str) -> std::collections::BTreeSet<String> {
    catalog::ids_in_use(listings.iter().map(|l| &l.listing), source)
}

/// The source's backups, with the manifests read of those that can record `origin`: every
/// backup made up to a day before the file's own time (its clock is the PBX's, the ids' the
/// backup host's, and the two may disagree), and always the newest three.
async fn catalog_around(run: &Run<'_>, source: &str, origin: &Origin) -> Catalog {
    const SKEW: chrono::TimeDelta = chrono::TimeDelta::days(1);
    let since = origin.time.checked_sub_signed(SKEW);
    let ids = run.catalog(|_, _| false).await;
    let newest: Vec<String> = ids
        .of_source(source)
        .rev()
        .take(3)
        .map(|b| b.id.clone())
        .collect();
    run.catalog(|s, id| {
        s == source
            && (newest.iter().any(|n| n == id)
                || since.is_none_or(|since| manifest::id_time(s, id).is_some_and(|t| t >= since)))
    })
    .await
}

/// The manifest of a stored or pending backup of `origin`, and its catalog entry.
fn already_stored<'c>(
    spool: &Spool,
    cat: &'c Catalog,
    source: &'c str,
    origin: &Origin,
) -> Option<(Manifest, Option<&'c BackupEntry>)> {
    // Only a backup that counts with a valid signature (or unchecked signatures): one that
    // counts only unsigned is never completed, signed anew, onto other targets.
    let stored = cat.of_source(source).rev().find(|b| {
        b.copies.iter().any(|c| c.is_source())
            && b.manifest.as_ref().is_some_and(|m| m.same_origin(origin))
    });
    if let Some(b) = stored {
        return Some((b.manifest.clone()?, Some(b)));
    }
    let p = spool
        .pending()
        .into_iter()
        .rev()
        .find(|p| p.source == source && p.manifest.same_origin(origin))?;
    let entry = cat.backups.get(&(p.source.clone(), p.id.clone()));
    Some((p.manifest, entry))
}

/// A time for a new backup whose id is neither on a target (`taken`) nor in the spool: now,
/// or the next free second after it (so that a clock that stands still cannot loop
/// forever). After `ID_TRIES` taken seconds (objects planted to squat them), the first
/// second free in the spool is taken anyway: a target that holds something under that id
/// refuses the copy and fails alone, and the others still get theirs.
fn free_id_time(
    spool: &Spool,
    taken: &std::collections::BTreeSet<String>,
    source: &str,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let pending = spool.pending_ids();
    let start = now.trunc_subsecs(0);
    let free = |taken: &dyn Fn(&str) -> bool| {
        let mut at = start;
        for _ in 0..ID_TRIES {
            let id = manifest::backup_id(source, at);
            if !taken(&id) && !pending.contains(&id) {
                return Some(at);
            }
            at = at.checked_add_signed(chrono::TimeDelta::seconds(1))?;
        }
        None
    };
    free(&|id| taken.contains(id))
        .or_else(|| {
            tracing::warn!(
                source,
                "no backup id free on every target within {ID_TRIES} seconds of {now}: objects squat them; taking one free in the spool, and a target that holds it refuses alone"
            );
            free(&|_| false)
        })
        .unwrap_or(start)
}

/// Reads the source once, sealing it into the spool, checking its zip on the way, and
/// describes it: the backup is pending from here on.
async fn seal_into_spool(
    run: &Run<'_>,
    src: &dyn Source,
    name: &str,
    origin: &Origin,
    created: DateTime<Utc>,
) -> Result<(Manifest, Made), OpError> {
    let id = manifest::backup_id(name, created);
    let mut tees = stage_copies(run.targets, run.spool, &manifest::artifact_path(name, &id)).await;
    tees.extend(part_hashers(run.targets));
    let bar = run
        .progress
        .bytes(&format!("{name}: pull + seal"), Some(origin.size));
    let reader = crate::progress::metered(src.open(origin).await?, &bar);
    let recipients = Arc::clone(&run.keys);
    let (file, partial) = run.spool.create(&id).map_err(io_error(format!(
        "cannot create the spool file in {}",
        run.spool.dir().display()
    )))?;
    let all_tees: Vec<PathBuf> = tees.iter().filter_map(Tee::file).collect();
    let remove_tees = || {
        for f in &all_tees {
            let _ = std::fs::remove_file(f);
        }
    };
    let sealed = crate::stream::blocking(reader, {
        let (partial, source, origin_name) =
            (partial.clone(), name.to_string(), origin.name.clone());
        move |input| {
            seal_file(
                input,
                file,
                partial,
                tees,
                &recipients,
                &source,
                &origin_name,
            )
        }
    })
    .await
    .map_err(|e| OpError::Failed(format!("seal task failed: {e}")))
    .and_then(|r| r);
    bar.finish_and_clear();
    let (digests, pbx_encrypted, staged, parts) = match sealed {
        Ok(d) if d.0.plain_bytes == origin.size => d,
        Ok((d, ..)) => {
            remove_tees();
            run.spool.discard(&id);
            return Err(OpError::Source(SourceError::Unavailable(format!(
                "source {name}: {} changed while it was read ({} bytes read, {} expected); nothing was stored, run again",
                origin.name, d.plain_bytes, origin.size
            ))));
        }
        Err(e) => {
            remove_tees();
            run.spool.discard(&id);
            return Err(e);
        }
    };
    // A staged copy counts only whole: as long as the sealed file.
    let mut whole = Vec::new();
    for (copy, n) in staged {
        if n == digests.sealed_bytes {
            whole.push(copy);
        } else {
            let _ = std::fs::remove_file(&copy.file);
        }
    }
    let made = Made {
        staged: whole,
        parts: parts
            .into_iter()
            .filter(|p| p.len == digests.sealed_bytes)
            .collect(),
    };
    run.spool.commit(&id).map_err(io_error(format!(
        "cannot commit the spool file {}",
        partial.display()
    )))?;
    let m = Manifest::new(
        name,
        created,
        origin.clone(),
        manifest::Plain {
            bytes: digests.plain_bytes,
            sha256: digests.plain_sha256,
            pbx_encrypted,
        },
        manifest::Sealed::zstd_age(
            digests.sealed_bytes,
            digests.sealed_sha256,
            run.recipients.to_vec(),
        ),
    );
    if let Err(e) = run.spool.describe(&m) {
        run.spool.discard(&id);
        return Err(io_error(format!(
            "cannot write the spool manifest in {}",
            run.spool.dir().display()
        ))(e));
    }
    tracing::debug!(source = %name, plain = m.plain.bytes, sealed = m.sealed.bytes, staged = made.staged.len(), part_hashes = made.parts.len(), "sealed into the spool");
    Ok((m, made))
}

/// The blocking part of the seal: the source's bytes through the zip check and the seal
/// into the spool file, fsynced. Returns the digests and whether the PBX encrypted the zip.
fn seal_file(
    input: impl std::io::Read + Send,
    file: std::fs::File,
    path: PathBuf,
    tees: Vec<Tee>,
    recipients: &seal::Recipients,
    source: &str,
    origin_name: &str,
) -> Result<Sealed, OpError> {
    let out = std::io::BufWriter::with_capacity(
        1024 * 1024,
        SpoolWriter {
            file: crate::flush::EarlyFlush::new(file),
            path,
            tees: tees.into_iter().map(Tee::start).collect(),
            grace: TEE_GRACE,
        },
    );
    let (input, check) =
        crate::zipcheck::checked_reader(input).map_err(io_error("cannot start the zip check"))?;
    let (digests, out) = seal::seal(input, out, recipients, zstd_threads())?;
    let zip = check.join().unwrap_or_else(|_| {
        Err(crate::zipcheck::ZipCheckError::Io(std::io::Error::other(
            "zip check thread panicked",
        )))
    });
    let mut w = out
        .into_inner()
        .map_err(|e| OpError::Seal(seal::SealError::Io(e.into_error())))?;
    let (staged, parts) = w.finish_tees();
    let discard = |staged: &[(Staged, u64)]| {
        for (s, _) in staged {
            let _ = std::fs::remove_file(&s.file);
        }
    };
    let pbx_encrypted = match zip {
        Ok(summary) => summary.encrypted,
        Err(crate::zipcheck::ZipCheckError::Unsupported(why)) => {
            tracing::warn!(source = %source, "{origin_name}: zip entries not checked ({why}); stored as it is");
            false
        }
        Err(e) => {
            discard(&staged);
            return Err(OpError::Source(SourceError::Invalid(format!(
                "source {source}: {origin_name} is not a readable 3CX backup ({e}); nothing was stored"
            ))));
        }
    };
    if let Err(e) = w.sync() {
        discard(&staged);
        return Err(OpError::Seal(seal::SealError::Io(e)));
    }
    Ok((digests, pbx_encrypted, staged, parts))
}

/// What the seal made: the digests, whether the PBX encrypted the zip, the copies staged
/// on the way with the bytes each got, and the part hashes that kept up.
type Sealed = (seal::Digests, bool, Vec<(Staged, u64)>, Vec<PartHashes>);

/// What the seal made beside the spool file, for the fan-out: whole staged copies and the
/// part hashes of the sealed stream.
struct Made {
    staged: Vec<Staged>,
    parts: Vec<PartHashes>,
}

/// Chunks in flight to one staged copy: a target slower than the seal falls behind by this
/// much, then it is dropped and copies from the spool afterwards.
const TEE_IN_FLIGHT: usize = 4;
/// How long the seal waits for a staged copy that lags, per chunk, before dropping it.
const TEE_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// What the seal writes to the spool is also handed, chunk by chunk, to one thread per
/// tee, which either writes it to a local-disk target's partial file (a staged copy, see
/// [`stage_copies`]) or hashes it into an S3 target's parts (see [`part_hashers`]). The
/// seal never waits for a tee: one that falls behind is abandoned (a staged copy's file
/// removed), and its target copies from the spool, or hashes its parts, afterwards.
enum Tee {
    Copy(Staged, std::fs::File),
    Parts(u64),
}

/// What a tee's thread made.
enum TeeDone {
    Written(u64),
    Hashed(PartHashes),
}

struct RunningTee {
    /// The staged copy, for a copy tee.
    copy: Option<Staged>,
    tx: Option<std::sync::mpsc::SyncSender<TeeMsg>>,
    handle: Option<std::thread::JoinHandle<std::io::Result<TeeDone>>>,
}

enum TeeMsg {
    Data(bytes::Bytes),
    /// Everything was sent (a closed channel without it means abandoned).
    End,
}

impl Tee {
    /// The staged copy's file, for a copy tee.
    fn file(&self) -> Option<PathBuf> {
        match self {
            Tee::Copy(copy, _) => Some(copy.file.clone()),
            Tee::Parts(_) => None,
        }
    }

    fn start(self) -> RunningTee {
        let (tx, rx) = std::sync::mpsc::sync_channel::<TeeMsg>(TEE_IN_FLIGHT);
        let (copy, spawned) = match self {
            Tee::Copy(copy, file) => {
                let mut file = crate::flush::EarlyFlush::new(file);
                let spawned =
                    std::thread::Builder::new()
                        .name("pbx321-tee".into())
                        .spawn(move || {
                            use std::io::Write;
                            let mut n = 0u64;
                            for m in rx {
                                match m {
                                    TeeMsg::Data(b) => {
                                        file.write_all(&b)?;
                                        n += b.len() as u64;
                                    }
                                    TeeMsg::End => return Ok(TeeDone::Written(n)),
                                }
                            }
                            Err(std::io::Error::other("abandoned"))
                        });
                (Some(copy), spawned)
            }
            Tee::Parts(size) => {
                let mut hasher = PartHasher::new(size);
                let spawned = std::thread::Builder::new()
                    .name("pbx321-parts".into())
                    .spawn(move || {
                        for m in rx {
                            match m {
                                TeeMsg::Data(b) => hasher.update(&b),
                                TeeMsg::End => return Ok(TeeDone::Hashed(hasher.finish())),
                            }
                        }
                        Err(std::io::Error::other("abandoned"))
                    });
                (None, spawned)
            }
        };
        let handle = spawned.ok();
        RunningTee {
            tx: handle.as_ref().map(|_| tx),
            handle,
            copy,
        }
    }
}

impl RunningTee {
    fn abandon(&mut self, why: &str) {
        if self.tx.take().is_some() {
            match &self.copy {
                Some(c) => {
                    tracing::debug!(target_name = %c.target, "{why}: this target copies from the spool after the seal")
                }
                None => {
                    tracing::debug!("{why}: part hashes are made from the spool during the upload")
                }
            }
        }
    }
}

/// One part hasher per part size of the targets that upload in parts (S3).
fn part_hashers(targets: &[Arc<dyn Target>]) -> Vec<Tee> {
    crate::targets::part_sizes(targets)
        .into_iter()
        .map(Tee::Parts)
        .collect()
}

/// Opens a staged copy on every local-disk target but the first on the spool's own file
/// system (that one takes the spool file itself, by a hard link).
async fn stage_copies(targets: &[Arc<dyn Target>], spool: &Spool, path: &str) -> Vec<Tee> {
    use std::os::unix::fs::MetadataExt;
    let spool_dev = std::fs::metadata(spool.dir()).ok().map(|m| m.dev());
    let mut linked = false;
    let mut out = Vec::new();
    for t in targets {
        let dev = t.local_device();
        if dev.is_none() {
            continue;
        }
        if !linked && dev == spool_dev {
            linked = true;
            continue;
        }
        if let Some((file, at)) = t.stage(path).await {
            let copy = Staged {
                target: t.name().to_string(),
                path: path.to_string(),
                file: at,
            };
            out.push(Tee::Copy(copy, file));
        }
    }
    out
}

/// The spool file, whose errors name it: a full state directory must be told apart from a
/// source that failed mid-read.
struct SpoolWriter {
    file: crate::flush::EarlyFlush,
    path: PathBuf,
    tees: Vec<RunningTee>,
    /// How long a write waits for a tee that lags before dropping it ([`TEE_GRACE`]).
    grace: std::time::Duration,
}

impl SpoolWriter {
    fn named(&self, e: std::io::Error) -> std::io::Error {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot write the spool file {} (in state_dir): {e}{}",
                self.path.display(),
                crate::error::io_hint(&e)
            ),
        )
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_all().map_err(|e| self.named(e))
    }

    /// Ends the tees: (copy, bytes written) of each staged copy that kept up (the files
    /// of the others are removed), and the part hashes that kept up.
    fn finish_tees(&mut self) -> (Vec<(Staged, u64)>, Vec<PartHashes>) {
        let (mut copies, mut parts) = (Vec::new(), Vec::new());
        for mut t in std::mem::take(&mut self.tees) {
            // A tee a few chunks behind gets the grace to take the end too (trying once
            // dropped a copy that was only a moment behind).
            let ended =
                t.tx.take()
                    .is_some_and(|tx| send_within(&tx, TeeMsg::End, self.grace).is_ok());
            let result = t.handle.take().map(|h| h.join());
            match (ended, result, t.copy) {
                (true, Some(Ok(Ok(TeeDone::Written(n)))), Some(copy)) => copies.push((copy, n)),
                (true, Some(Ok(Ok(TeeDone::Hashed(p)))), None) => parts.push(p),
                (_, _, Some(copy)) => {
                    let _ = std::fs::remove_file(&copy.file);
                }
                _ => {}
            }
        }
        (copies, parts)
    }
}

impl Drop for SpoolWriter {
    fn drop(&mut self) {
        // A seal that failed: the staged copies are not copies.
        for t in self.finish_tees().0 {
            let _ = std::fs::remove_file(&t.0.file);
        }
    }
}

impl std::io::Write for SpoolWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf).map_err(|e| self.named(e))?;
        if n > 0 && !self.tees.is_empty() {
            let chunk = bytes::Bytes::copy_from_slice(&buf[..n]);
            for t in &mut self.tees {
                let Some(tx) = &t.tx else { continue };
                // A moment's lag is waited for (the grace, once per chunk at most); a
                // target that stays behind is dropped.
                if let Err(why) = send_within(tx, TeeMsg::Data(chunk.clone()), self.grace) {
                    t.abandon(why);
                }
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush().map_err(|e| self.named(e))
    }
}

/// Queues `msg` for a tee, waiting up to `grace` while its queue is full; `Err` says why it
/// could not (the tee is then dropped).
fn send_within(
    tx: &std::sync::mpsc::SyncSender<TeeMsg>,
    mut msg: TeeMsg,
    grace: std::time::Duration,
) -> Result<(), &'static str> {
    let deadline = std::time::Instant::now() + grace;
    loop {
        match tx.try_send(msg) {
            Ok(()) => return Ok(()),
            Err(std::sync::mpsc::TrySendError::Full(m)) if std::time::Instant::now() < deadline => {
                msg = m;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(std::sync::mpsc::TrySendError::Full(_)) => return Err("slower than the seal"),
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                return Err("could not write its staged copy");
            }
        }
    }
}

fn zstd_threads() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get().min(4) as u32)
        .unwrap_or(1)
}

/// The rule's verdict on the copies `results` say the targets hold now.
async fn verdict_of(run: &Run<'_>, results: &[TargetResult], source: &str, id: &str) -> Verdict {
    let now = (run.now)();
    let mut facts: Vec<CopyFact> = Vec::new();
    for r in results.iter().filter(|r| r.outcome.has_copy()) {
        if let Some(l) = run.listings.iter().find(|l| l.target.name() == r.target) {
            let until = catalog::locked_until(l.target.as_ref(), source, id).await;
            facts.push(l.info().fact(until.is_some_and(|u| u > now)));
        }
    }
    policy::evaluate(&facts, &run.rule)
}

/// Remembers the copies this run wrote and checked (or found), as `check` does: a target
/// that is down at the next check is then "last verified at this run".
fn remember_copies(state: &StateDir, run: &SourceRun, now: DateTime<Utc>) {
    let RunResult::Stored { id, targets, .. } = &run.result else {
        return;
    };
    super::catalog::update_remembered(state, |mem| {
        for r in targets.iter().filter(|r| r.outcome.has_copy()) {
            mem.saw(&r.target, id, now);
        }
    });
}

/// Appends one line per source run to `runs.jsonl` in the state directory. Best effort:
/// history is a cache, never a reason to fail a backup.
fn record_history(state: &StateDir, run: &SourceRun, at: DateTime<Utc>, seconds: f64) {
    #[derive(Serialize)]
    struct Line<'a> {
        at: DateTime<Utc>,
        #[serde(flatten)]
        run: &'a SourceRun,
        seconds: f64,
    }
    let seconds = (seconds * 1000.0).round() / 1000.0;
    let Ok(mut line) = serde_json::to_vec(&Line { at, run, seconds }) else {
        return;
    };
    line.push(b'\n');
    if let Err(e) = state.append("runs.jsonl", &line) {
        tracing::warn!("run history not recorded: {e}");
    }
}

#[cfg(test)]
mod tee_tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;

    /// A spool writer whose tees get `grace` to catch up: long where a test needs a tee
    /// to keep up on a loaded machine, and a stalled tee then costs that once.
    fn writer(
        dir: &std::path::Path,
        tees: Vec<RunningTee>,
        grace: std::time::Duration,
    ) -> SpoolWriter {
        let path = dir.join("spool");
        SpoolWriter {
            file: crate::flush::EarlyFlush::new(std::fs::File::create(&path).unwrap()),
            path,
            tees,
            grace,
        }
    }

    fn copy(dir: &std::path::Path, name: &str) -> Staged {
        Staged {
            target: name.into(),
            path: "hq/x.zip.zst.age".into(),
            file: dir.join(name),
        }
    }

    /// A staged copy gets every byte the spool gets; a stalled one is dropped without ever
    /// making the seal wait, and its file is removed.
    #[test]
    fn a_staged_copy_follows_the_spool_and_a_stalled_one_never_holds_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let good = Tee::Copy(
            copy(dir.path(), "good"),
            std::fs::File::create(dir.path().join("good")).unwrap(),
        )
        .start();
        // A target that takes nothing: its thread never runs (no handle), its queue fills.
        let (tx, _rx) = std::sync::mpsc::sync_channel(TEE_IN_FLIGHT);
        std::fs::write(dir.path().join("stalled"), b"").unwrap();
        let stalled = RunningTee {
            copy: Some(copy(dir.path(), "stalled")),
            tx: Some(tx),
            handle: None,
        };
        let mut w = writer(dir.path(), vec![good, stalled], Duration::from_secs(2));
        let data = vec![7u8; 64 * 1024];
        let started = std::time::Instant::now();
        for _ in 0..(TEE_IN_FLIGHT * 8) {
            w.write_all(&data).unwrap();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "writes waited for the stalled copy once (the grace), not once per chunk"
        );
        let (staged, parts) = w.finish_tees();
        assert!(parts.is_empty());
        assert_eq!(staged.len(), 1, "only the copy that kept up");
        assert_eq!(staged[0].0.target, "good");
        assert_eq!(staged[0].1, (data.len() * TEE_IN_FLIGHT * 8) as u64);
        assert_eq!(
            std::fs::read(dir.path().join("good")).unwrap(),
            std::fs::read(dir.path().join("spool")).unwrap()
        );
        assert!(
            !dir.path().join("stalled").exists(),
            "the dropped copy is removed"
        );
    }

    /// A seal that fails leaves no staged copy behind.
    #[test]
    fn a_failed_seal_removes_its_staged_copies() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tee::Copy(
            copy(dir.path(), "c"),
            std::fs::File::create(dir.path().join("c")).unwrap(),
        )
        .start();
        let mut w = writer(dir.path(), vec![t], TEE_GRACE);
        w.write_all(b"half a backup").unwrap();
        drop(w);
        assert!(!dir.path().join("c").exists());
    }

    /// The part hashes made on the way are those of the spool file's parts, one set per
    /// part size, beside a staged copy. (A tee that stalls is dropped alike, whatever it
    /// does: the test above.)
    #[test]
    fn part_hashes_are_made_while_sealing() {
        use crate::targets::parts::PartHasher;
        let dir = tempfile::tempdir().unwrap();
        let tees = vec![
            Tee::Parts(100_000).start(),
            Tee::Copy(
                copy(dir.path(), "c"),
                std::fs::File::create(dir.path().join("c")).unwrap(),
            )
            .start(),
            Tee::Parts(64 * 1024).start(),
        ];
        let mut w = writer(dir.path(), tees, Duration::from_secs(60));
        let data: Vec<u8> = (0..700_001u32).map(|i| (i % 253) as u8).collect();
        for c in data.chunks(50_000) {
            w.write_all(c).unwrap();
        }
        let (staged, parts) = w.finish_tees();
        assert_eq!(staged.len(), 1);
        assert_eq!(parts.len(), 2, "one set per part size");
        let spool = std::fs::read(dir.path().join("spool")).unwrap();
        assert_eq!(spool, data);
        for p in parts {
            let mut expect = PartHasher::new(p.size);
            expect.update(&spool);
            assert_eq!(p, expect.finish());
            assert_eq!(p.hashes.len() as u64, (data.len() as u64).div_ceil(p.size));
        }
    }
}
