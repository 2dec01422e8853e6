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

use chrono::{DateTime, Utc};

use super::catalog::{self, BackupEntry, Catalog, Listing};
use super::{Ctx, OpError, io_error};
use crate::fanout::{self, Outcome, TargetResult, Upload};
use crate::manifest::{self, Manifest, Origin};
pub use crate::outcome::{BackupReport, PendingRun, RunResult, SourceRun};
use crate::policy::{self, CopyFact, Rule, Verdict};
use crate::seal;
use crate::sign::{Signer, Trust};
use crate::source::{Source, SourceError};
use crate::spool::{Pending, Spool, writer};
use crate::state::StateDir;
use crate::targets::Target;

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
    /// Recipient lines (for manifests) and the parsed keys (for the seal), parsed once,
    /// with the zstd contexts the run's seals take and give back.
    recipients: &'a [String],
    sealer: Arc<seal::Sealer>,
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
    /// The operation's context: its stopwatch.
    ctx: &'a Ctx,
}

impl Run<'_> {
    /// The copy of `m` sealed in `file`, its manifest signed.
    fn upload(&self, m: &Manifest, file: PathBuf) -> Result<Upload, OpError> {
        let signature = match self.signer {
            Some(s) => Some(s.sign(&m.to_json()).map_err(OpError::Signing)?),
            None => None,
        };
        Ok(Upload::of(m, file, signature))
    }

    /// The catalog, judged now ([`Catalog::judge`]).
    async fn catalog(&self, want: impl Fn(&str, &str) -> bool) -> Catalog {
        let at = catalog::At::new((self.now)(), self.skew);
        let how = catalog::Reading {
            state: &self.ctx.state,
            trust: self.trust,
            at,
        };
        catalog::build(self.listings, want, how).await
    }
}

/// Runs a backup of the selected sources.
pub async fn run(ctx: &Ctx, opts: &BackupOptions) -> Result<BackupReport, OpError> {
    if ctx.config.sources.is_empty() {
        return Err(OpError::NoSources {
            config: ctx.config.path.clone(),
        });
    }
    let sources = ctx.select(&opts.sources)?;
    let state = &ctx.state;
    let _lock = state.lock()?;
    let signer = match &ctx.config.signing {
        Some(s) => Some(Signer::load(&s.key).map_err(OpError::SigningKey)?),
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
        sealer: Arc::new(seal::Sealer::new(keys)),
        rule: Rule::from(&ctx.config.policy),
        tried: &[],
        now: &*now,
        skew: ctx.at().skew,
        signer: signer.as_ref(),
        trust: trust.as_ref(),
        progress: &ctx.progress,
        ctx,
    };
    let index = run.catalog(|_, _| false).await;
    let cleaned = catalog::remove_leftovers(run.targets, &index).await;
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
    let runs = back_up_all(&run, sources, state, ctx.config.daemon.max_concurrent).await;
    crate::history::compact(state, now());
    let dropped = spool.bound(ctx.config.spool_max);
    let repair = repair_after(ctx, &names).await;
    Ok(BackupReport {
        rule: run.rule,
        sources: runs,
        completed,
        cleaned,
        dropped,
        repair,
    })
}

/// Steps 3 and 4 for every source at once: at most `max_concurrent`, in config order in the
/// report; each source's run recorded in the history and its copies remembered.
async fn back_up_all(
    run: &Run<'_>,
    sources: Vec<super::Selected<'_>>,
    state: &StateDir,
    max_concurrent: usize,
) -> Vec<SourceRun> {
    use futures::StreamExt;
    let now = run.now;
    let work = sources.into_iter().map(|(src_cfg, src)| async move {
        let started = run.ctx.stopwatch();
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
        crate::history::record(state, &source_run, now(), started.seconds());
        if let RunResult::Stored { id, targets, .. } = &source_run.result {
            catalog::remember_written(state, id, targets, now());
        }
        source_run
    });
    futures::stream::iter(work)
        .buffered(max_concurrent.max(1))
        .collect()
        .await
}

/// The repair after a backup (`repair = "after-backup"`), of the backups not left pending.
async fn repair_after(ctx: &Ctx, names: &[String]) -> Option<super::repair::RepairReport> {
    if ctx.config.repair == crate::config::RepairMode::Off {
        return None;
    }
    let opts = super::repair::RepairOptions {
        sources: names.to_vec(),
        skip_pending: true,
        ..Default::default()
    };
    super::repair::run_locked(ctx, &opts)
        .await
        .inspect_err(|e| tracing::warn!("repair after backup did not run: {e}"))
        .ok()
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

    let created = catalog::free_id_time(
        &catalog::ids_in_use(run.listings.iter().map(|l| &l.listing), name),
        &run.spool.pending_ids(),
        name,
        (run.now)(),
    );
    let started = run.ctx.stopwatch();
    let shape = src.shape(&origin).await;
    let (m, made) = seal_into_spool(run, src, name, &origin, created, shape).await?;
    src.sealed(&origin).await;
    let sealed_after = started.seconds();
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
    made: writer::Made,
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
        fanout::withdraw(run.targets, &m, &results).await;
        // Two writers that collided must not collide again in step.
        tokio::time::sleep(
            std::time::Duration::from_millis(100)
                + crate::backoff::jitter(std::time::Duration::from_millis(400)),
        )
        .await;
        let listings = catalog::list_all(run.targets, std::slice::from_ref(&m.source)).await;
        let at = catalog::free_id_time(
            &catalog::ids_in_use(listings.iter().map(|l| &l.listing), &m.source),
            &run.spool.pending_ids(),
            &m.source,
            (run.now)(),
        );
        m = run.spool.rename(&m, at).map_err(io_error(format!(
            "cannot rename the spool file in {}",
            run.spool.dir().display()
        )))?;
    }
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
    if let Some(b) = cat.stored_from(source, origin) {
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

/// Reads the source once, sealing it into the spool, checking its zip on the way, and
/// describes it: the backup is pending from here on.
async fn seal_into_spool(
    run: &Run<'_>,
    src: &dyn Source,
    name: &str,
    origin: &Origin,
    created: DateTime<Utc>,
    shape: Option<manifest::PbxShape>,
) -> Result<(Manifest, writer::Made), OpError> {
    let id = manifest::backup_id(name, created);
    let mut tees =
        writer::stage_copies(run.targets, run.spool, &manifest::artifact_path(name, &id)).await;
    tees.extend(writer::part_hashers(run.targets));
    let bar = run
        .progress
        .bytes(&format!("{name}: pull + seal"), Some(origin.size));
    let reader = crate::progress::metered(src.open(origin).await?, &bar);
    let sealer = Arc::clone(&run.sealer);
    let (file, partial) = run.spool.create(&id).map_err(io_error(format!(
        "cannot create the spool file in {}",
        run.spool.dir().display()
    )))?;
    let all_tees: Vec<PathBuf> = tees.iter().filter_map(writer::Tee::file).collect();
    let remove_tees = || {
        for f in &all_tees {
            let _ = std::fs::remove_file(f);
        }
    };
    let sealed = crate::stream::blocking(reader, {
        let (partial, source, origin_name) =
            (partial.clone(), name.to_string(), origin.name.clone());
        move |input| writer::seal_file(input, file, partial, tees, &sealer, &source, &origin_name)
    })
    .await
    .map_err(|e| OpError::Task {
        what: "the seal",
        error: e.to_string(),
    })
    .and_then(|r| r.map_err(OpError::from));
    bar.finish_and_clear();
    let sealed = match sealed {
        Ok(d) if d.digests.plain_bytes == origin.size => d,
        Ok(writer::Sealed { digests: d, .. }) => {
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
    let (digests, pbx_encrypted) = (sealed.digests.clone(), sealed.pbx_encrypted);
    let made = sealed.made();
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
    )
    .with_pbx(shape);
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
