//! `check`: is every source safe right now? Gather the facts, then judge them
//! ([`crate::policy::check::judge`], pure).
//!
//! Gathering: each target is listed once; manifests of the backups that can matter (younger
//! than `max_age`, and each source's newest) are read and artifact sizes compared with
//! them. `deep`: every verified copy of the newest backup (`all`: of every backup) is read
//! back and its sha256 compared with the manifest. With an identity, the newest backup is
//! also decrypted, decompressed and its zip checked — a restore drill, never touching disk
//! — and the outcome recorded in the state directory. When each copy was last verified is
//! remembered there too, so that a target that cannot be read right now is reported as
//! "cannot verify", with that date, rather than as a missing backup.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::catalog::{self, BackupEntry, Catalog, CopyState, Listing, Remembered};
use super::{Ctx, OpError};
use crate::facts::DrillFact;
use crate::manifest::{self, Manifest};
use crate::policy::check::{CheckFacts, CheckReport, judge};
use crate::seal;
use crate::state::StateDir;

pub use crate::policy::check::{BackupSummary, NewestBackup, SourceCheck, TargetState};

/// The restore drills' record in the state directory.
const DRILLS: &str = "drills.json";
/// When each copy was last verified, in the state directory.

#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub sources: Vec<String>,
    /// Read copies back and compare their sha256 with the manifest.
    pub deep: bool,
    /// With `deep`: every backup, not only the newest.
    pub all: bool,
    /// With `deep`: also decrypt the newest backup and check its zip (the restore drill).
    pub identity: Option<PathBuf>,
    /// Judge the response plan's readiness too (always with `[plan]` in the config).
    pub readiness: bool,
}

/// Gathers and judges.
pub async fn run(ctx: &Ctx, opts: &CheckOptions) -> Result<CheckReport, OpError> {
    let facts = gather(ctx, opts).await?;
    Ok(judge(&facts, &ctx.config.policy, ctx.now()))
}

/// Everything `check` needs to judge, read from the targets and the state directory.
pub async fn gather(ctx: &Ctx, opts: &CheckOptions) -> Result<CheckFacts, OpError> {
    let identities = match &opts.identity {
        Some(p) => Some(Arc::new(seal::load_identities(p)?)),
        None => None,
    };
    let now = ctx.now();
    let trust = ctx.trust()?;
    let (names, listings) = sources_and_listings(ctx, &opts.sources).await?;
    let mut cat = read_what_matters(ctx, &listings, opts, trust.as_ref()).await;
    let mut drills = read_drills(&ctx.state);
    if opts.deep {
        // The backup a restore would take (the judgement's pick), else the newest listed.
        let mut newest = newest_ids(&cat, ctx.at().limit());
        for name in &names {
            if let Some(b) = cat.pick(name, None) {
                newest.insert(name.clone(), b.id.clone());
            }
        }
        let mut new_drills = BTreeMap::new();
        for name in &names {
            let ids: Vec<String> = cat
                .of_source(name)
                .map(|b| b.id.clone())
                .filter(|id| opts.all || newest.get(name) == Some(id))
                .collect();
            for id in ids {
                catalog::read_back(&mut cat, &listings, name, &id, &ctx.progress).await;
            }
            if let (Some(ids), Some(id)) = (&identities, newest.get(name)) {
                let entry = &cat.backups[&(name.clone(), id.clone())];
                if let Some(d) = drill(entry, &listings, Arc::clone(ids), now, ctx).await {
                    new_drills.insert(name.clone(), d);
                }
            }
        }
        if identities.is_some() {
            drills = record_drills(&ctx.state, new_drills)?;
        }
    }
    let remembered = remember(&ctx.state, &mut cat, &names, now);
    let presumed = cat.presumed();
    let mut repairs_pending = BTreeMap::new();
    let mut kept = BTreeMap::new();
    for n in &names {
        let (pending, why) =
            crate::policy::pruning::pending_and_kept(&ctx.config, &presumed, n, now);
        repairs_pending.insert(n.clone(), pending);
        kept.insert(n.clone(), why);
    }
    let readiness = opts.readiness || ctx.config.plan.configured;
    let pbx = if readiness {
        let asks = ctx
            .select(&names)
            .unwrap_or_default()
            .into_iter()
            .map(|(cfg, src)| (cfg.name.clone(), async move { src.readiness().await }));
        crate::facts::gather::within(asks, crate::facts::gather::PBX_DEADLINE).await
    } else {
        BTreeMap::new()
    };
    let run_warnings = last_run_warnings(&ctx.state, &names, now);
    Ok(CheckFacts {
        sources: names,
        catalog: cat,
        drills,
        standby_drills: ctx.state.load_json(super::STANDBY_DRILLS, "standby drills"),
        standbys: ctx
            .config
            .sources
            .iter()
            .filter(
                |s| matches!(&s.kind, crate::config::SourceKind::ThreeCx(t) if t.standby.is_some()),
            )
            .map(|s| s.name.clone())
            .collect(),
        pending: crate::spool::Spool::peek(&ctx.state).pending_ids(),
        remembered,
        deep: opts.deep,
        tamper_evident: trust.is_some(),
        repairs_pending,
        prune_removed_total: crate::history::pruned_totals(&ctx.state),
        notify_failures_total: crate::notify::Memory::load(&ctx.state).failures_total,
        free_bytes: free_space(ctx).await,
        kept,
        readiness,
        pbx,
        plan: ctx.config.plan.clone(),
        run_warnings,
    })
}

/// Per source, the warnings of its last backup run in the history (the last 40 days).
fn last_run_warnings(
    state: &StateDir,
    sources: &[String],
    now: DateTime<Utc>,
) -> BTreeMap<String, Vec<String>> {
    let runs = crate::history::load(
        state,
        None,
        now - chrono::TimeDelta::days(crate::history::KEEP_DAYS),
    );
    sources
        .iter()
        .filter_map(|s| {
            let last = runs.iter().rev().find(|r| &r.source == s)?;
            (!last.warnings.is_empty()).then(|| (s.clone(), last.warnings.clone()))
        })
        .collect()
}

/// Free bytes per target, where the store tells; a store that does not answer within 10 s
/// is left out.
async fn free_space(ctx: &Ctx) -> BTreeMap<String, u64> {
    let asks = ctx.targets.iter().map(|t| async move {
        let free = tokio::time::timeout(std::time::Duration::from_secs(10), t.free_space())
            .await
            .ok()
            .flatten();
        (t.name().to_string(), free)
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .filter_map(|(n, f)| Some((n, f?)))
        .collect()
}

/// The sources to check and the targets' listings. Without configured sources (a bare
/// machine checking one surviving target), the sources are those the targets hold.
async fn sources_and_listings(
    ctx: &Ctx,
    wanted: &[String],
) -> Result<(Vec<String>, Vec<Listing>), OpError> {
    if !ctx.config.sources.is_empty() {
        let names = ctx.source_names(wanted)?;
        let listings = catalog::list_all(&ctx.targets, &names).await;
        return Ok((names, listings));
    }
    for w in wanted {
        manifest::check_name(w).map_err(|why| OpError::BadSourceName {
            name: w.clone(),
            why: why.to_string(),
        })?;
    }
    let listings = catalog::list_all(&ctx.targets, wanted).await;
    let mut names: Vec<String> = wanted.to_vec();
    if names.is_empty() {
        names = Catalog::index(listings.iter().map(|l| &l.listing))
            .backups
            .keys()
            .map(|(s, _)| s.clone())
            .collect();
        names.dedup();
    }
    Ok((names, listings))
}

/// The catalog with the manifests that can matter read: every backup young enough to
/// count, and each source's newest (every one with `--deep --all`).
async fn read_what_matters(
    ctx: &Ctx,
    listings: &[Listing],
    opts: &CheckOptions,
    trust: Option<&crate::sign::Trust>,
) -> Catalog {
    let at = ctx.at();
    let now = at.now;
    let mut cat = Catalog::index(listings.iter().map(|l| &l.listing));
    let newest = newest_ids(&cat, at.limit());
    // Checked: a horizon before the start of time is the start of time.
    let horizon = chrono::Duration::from_std(ctx.config.policy.max_age)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let all = opts.deep && opts.all;
    let how = catalog::Reading {
        state: &ctx.state,
        trust,
        at,
    };
    let wanted = |s: &str, id: &str| {
        all || newest.get(s).is_some_and(|n| n == id)
            || manifest::id_time(s, id).is_some_and(|t| t >= horizon)
    };
    let is_newest = |s: &str, id: &str| newest.get(s).is_some_and(|n| n == id);
    // Locks are asked of each source's newest backup (one HEAD per copy on S3); the older
    // ones' only for a source whose newest does not meet the rule, where the judgement
    // looks for the newest one that does.
    catalog::read_manifests(
        listings,
        &mut cat,
        wanted,
        |s, id| all || is_newest(s, id),
        how,
    )
    .await;
    let rule = crate::policy::Rule::from(&ctx.config.policy);
    let fallen: BTreeSet<String> = newest
        .iter()
        .filter(|(s, id)| {
            cat.backups
                .get(&((*s).clone(), (*id).clone()))
                .is_none_or(|b| {
                    !crate::policy::evaluate(
                        &crate::policy::check::verified_facts(&cat, b, now),
                        &rule,
                    )
                    .ok
                })
        })
        .map(|(s, _)| s.clone())
        .collect();
    if !fallen.is_empty() {
        catalog::read_locks(
            listings,
            &mut cat,
            |s, id| fallen.contains(s) && wanted(s, id),
            at,
        )
        .await;
    }
    cat
}

/// Each source's newest backup id not dated after `limit` (a later one is not a backup).
fn newest_ids(cat: &Catalog, limit: DateTime<Utc>) -> BTreeMap<String, String> {
    cat.backups
        .values()
        .filter(|b| b.created_at <= limit)
        .map(|b| (b.source.clone(), b.id.clone()))
        .collect()
}

/// Dates the unreachable copies from what the state remembers, then remembers what this
/// check verified. Returns the memory as it was before.
fn remember(
    state: &StateDir,
    cat: &mut Catalog,
    sources: &[String],
    now: DateTime<Utc>,
) -> Remembered {
    let mut before = Remembered::default();
    catalog::update_remembered(state, |mem| {
        before = mem.clone();
        cat.recall(mem, sources);
        mem.learn(cat, sources, now);
    });
    before
}

/// The restore drill: the first verified copy is decrypted, decompressed and its zip walked,
/// with both sha256 compared to the manifest. Nothing is written to disk.
async fn drill(
    entry: &BackupEntry,
    listings: &[Listing],
    identities: Arc<seal::Identities>,
    now: DateTime<Utc>,
    ctx: &Ctx,
) -> Option<DrillFact> {
    let progress = &ctx.progress;
    let copy = entry
        .copies
        .iter()
        .find(|c| c.state == CopyState::Verified)?;
    let m = copy.manifest.clone()?;
    let target = listings
        .iter()
        .find(|l| l.target.name() == copy.target)?
        .target
        .clone();
    let started = ctx.stopwatch();
    let bar = progress.bytes(
        &format!("drill from {}", target.name()),
        Some(m.sealed.bytes),
    );
    let result = async {
        let reader = target
            .read(&manifest::artifact_path(&m.source, &m.id))
            .await?;
        let m2 = m.clone();
        crate::stream::blocking(crate::progress::metered(reader, &bar), move |mut input| {
            drill_stream(&mut input, &identities, &m2)
        })
        .await
        .map_err(DrillError::Read)?
    }
    .await;
    bar.finish_and_clear();
    Some(DrillFact {
        id: m.id.clone(),
        target: target.name().to_string(),
        at: now,
        ok: result.is_ok(),
        duration_seconds: started.seconds_ms(),
        error: result.err().map(|e: DrillError| e.to_string()),
    })
}

/// Why a restore drill failed (recorded in words with the drill).
#[derive(Debug, thiserror::Error)]
enum DrillError {
    #[error(transparent)]
    Target(#[from] crate::targets::TargetError),
    #[error("{0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    #[error(transparent)]
    Mismatch(#[from] manifest::Mismatch),
    #[error(transparent)]
    Zip(#[from] crate::zipcheck::ZipCheckError),
}

fn drill_stream(
    input: &mut (dyn std::io::Read + Send),
    identities: &seal::Identities,
    m: &Manifest,
) -> Result<(), DrillError> {
    let mut sealed = seal::Hashing::new(input);
    let plain_result = (|| {
        let reader = seal::plain_reader(&mut sealed, identities)?;
        let mut plain = seal::Hashing::new(reader);
        let zip = crate::zipcheck::check(&mut plain);
        std::io::copy(&mut plain, &mut std::io::sink()).map_err(DrillError::Read)?;
        let (bytes, sha, _) = plain.finish();
        Ok::<_, DrillError>((zip, bytes, sha))
    })();
    std::io::copy(&mut sealed, &mut std::io::sink()).map_err(DrillError::Read)?;
    let (sealed_bytes, sealed_sha, _) = sealed.finish();
    let (zip, plain_bytes, plain_sha) = plain_result?;
    m.verify(&manifest::Digests {
        plain_bytes,
        plain_sha256: plain_sha,
        sealed_bytes,
        sealed_sha256: sealed_sha,
    })?;
    zip.map(|_| ()).map_err(DrillError::from)
}

fn read_drills(state: &StateDir) -> BTreeMap<String, DrillFact> {
    state.load_json(DRILLS, "restore drills")
}

/// Adds this check's drills to the recorded ones. Read, changed and written under the
/// state's file lock, so that checks running at once never lose each other's drills.
fn record_drills(
    state: &StateDir,
    new: BTreeMap<String, DrillFact>,
) -> Result<BTreeMap<String, DrillFact>, OpError> {
    state.with_file_lock(|| {
        let mut all = read_drills(state);
        all.extend(new);
        let json = serde_json::to_vec_pretty(&all).map_err(|error| OpError::Encode {
            what: "the drill record",
            error,
        })?;
        state.write(DRILLS, &json)?;
        Ok(all)
    })?
}
