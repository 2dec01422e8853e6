//! `prune`: removes the copies retention no longer keeps, never one the guards protect.
//!
//! Under the state-directory lock: every target is listed once, every manifest of the
//! selected sources read and its signature checked, and [`crate::policy::retention::plan`]
//! decides per target what goes. A copy goes manifest first, then its signature, then its
//! artifact, so a crash mid-prune leaves at worst an artifact without a manifest — never a
//! manifest that promises an artifact that is gone. Leftovers older than a day go too:
//! `*.partial` objects, artifacts and signatures without a manifest, S3 multipart uploads
//! never completed. Younger ones may belong to a writer still at work.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::catalog::{self, Catalog, Listing, Unreachable};
use super::{Ctx, OpError};
use crate::policy::retention::{Action, Plan};
use crate::targets::Target;

/// Leftovers younger than this may belong to a writer still at work.
pub const LEFTOVER_AGE: TimeDelta = TimeDelta::days(1);

#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Source names; empty for all.
    pub sources: Vec<String>,
    /// Decide and report, remove nothing.
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    /// The zone days, weeks, months and years are counted in.
    pub zone: String,
    pub sources: Vec<SourcePrune>,
    /// Leftovers of interrupted writes older than a day, removed (or to be removed).
    pub leftovers: Vec<LeftoverRemoval>,
    /// Targets that could not be listed: nothing was removed there.
    pub unreachable: Vec<Unreachable>,
    /// Why nothing at all was removed: backups that would count are dated after this
    /// host's clock, so its clock may be wrong and every age with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourcePrune {
    pub source: String,
    #[serde(flatten)]
    pub plan: Plan,
    /// Removals that failed, by target and id (the copy may be partly removed: a manifest
    /// gone with its artifact left is an orphan the next prune or backup removes).
    pub failed: Vec<Failed>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    pub target: String,
    pub id: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LeftoverRemoval {
    pub target: String,
    pub path: String,
    /// "partial", "orphan" or "incomplete upload".
    pub what: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PruneReport {
    /// Removals done (or, in a dry run, to be done), per target.
    pub fn removed_per_target(&self) -> BTreeMap<String, u64> {
        let mut n = BTreeMap::new();
        for s in &self.sources {
            for t in &s.plan.targets {
                let failed = s.failed.iter().filter(|f| f.target == t.target).count() as u64;
                *n.entry(t.target.clone()).or_default() +=
                    (t.removals().count() as u64).saturating_sub(failed);
            }
        }
        n
    }

    /// Everything planned was done, on every target.
    pub fn complete(&self) -> bool {
        self.refused.is_empty()
            && self.unreachable.is_empty()
            && self.sources.iter().all(|s| {
                s.failed.is_empty() && s.plan.targets.iter().all(|t| t.not_pruned.is_none())
            })
            && self.leftovers.iter().all(|l| l.error.is_none())
    }
}

pub async fn run(ctx: &Ctx, opts: &PruneOptions) -> Result<PruneReport, OpError> {
    let names = ctx.source_names(&opts.sources)?;
    let _lock = ctx.state.lock()?;
    let trust = ctx.trust()?;
    let at = ctx.at();
    let now = at.now;
    let listings = catalog::list_all(&ctx.targets, &names).await;
    let cat = catalog::build(
        &listings,
        |s, _| names.iter().any(|n| n == s),
        catalog::Reading {
            state: &ctx.state,
            trust: trust.as_ref(),
            at,
        },
    )
    .await;

    // Ages, buckets and "newest" all hang on this host's clock: a backup that would count
    // but is dated after it says the clock may be behind, and then nothing is removed.
    let refused = clock_suspects(&cat, &names, now);
    if !refused.is_empty() {
        for why in &refused {
            tracing::error!("prune refused: {why}");
        }
        return Ok(PruneReport {
            dry_run: opts.dry_run,
            zone: ctx.config.retention.zone.name(),
            sources: Vec::new(),
            leftovers: Vec::new(),
            unreachable: cat.unreachable.clone(),
            refused,
        });
    }

    let mut sources = Vec::new();
    for name in &names {
        let plan = crate::policy::pruning::plan(&ctx.config, &cat, name, now);
        let failed = if opts.dry_run {
            Vec::new()
        } else {
            remove(&listings, name, &plan).await
        };
        sources.push(SourcePrune {
            source: name.clone(),
            plan,
            failed,
        });
    }
    let leftovers = leftovers(&listings, &cat, now, opts.dry_run).await;
    let report = PruneReport {
        dry_run: opts.dry_run,
        zone: ctx.config.retention.zone.name(),
        sources,
        leftovers,
        unreachable: cat.unreachable.clone(),
        refused: Vec::new(),
    };
    if !opts.dry_run {
        crate::history::count_pruned(&ctx.state, &report.removed_per_target());
    }
    Ok(report)
}

/// Why prune must not run: each backup of `sources` that would count but is dated after
/// `now` (plus the skew).
pub fn clock_suspects(cat: &Catalog, sources: &[String], now: DateTime<Utc>) -> Vec<String> {
    sources
        .iter()
        .flat_map(|s| cat.of_source(s))
        .filter_map(|b| Some((b, b.future.as_ref().filter(|f| f.would_count)?)))
        .map(|(b, f)| {
            format!(
                "backup {} is dated {}, after this host's clock ({}): is the host's clock right? Nothing is removed until the clock passes it (or the backup is removed by hand)",
                b.id,
                f.dated.format("%Y-%m-%d %H:%M:%S UTC"),
                now.format("%Y-%m-%d %H:%M:%S UTC")
            )
        })
        .collect()
}

/// Removes what `plan` says goes: manifest, signature, artifact, in that order.
async fn remove(listings: &[Listing], source: &str, plan: &Plan) -> Vec<Failed> {
    let mut failed = Vec::new();
    for tp in &plan.targets {
        let Some(t) = listings.iter().find(|l| l.target.name() == tp.target) else {
            continue;
        };
        let listed: std::collections::BTreeSet<&str> = match &t.listing.objects {
            Ok(o) => o.iter().map(|o| o.path.as_str()).collect(),
            Err(_) => Default::default(),
        };
        for c in tp.removals() {
            let signed = listed.contains(crate::manifest::signature_path(source, &c.id).as_str());
            if let Err(e) =
                crate::targets::remove_copy(t.target.as_ref(), source, &c.id, signed).await
            {
                tracing::warn!(target_name = %tp.target, id = %c.id, error = %e, "could not remove a copy");
                failed.push(Failed {
                    target: tp.target.clone(),
                    id: c.id.clone(),
                    error: e.to_string(),
                });
            } else if let Action::Remove { why } = &c.action {
                tracing::info!(target_name = %tp.target, id = %c.id, %why, "removed a copy");
            }
        }
    }
    failed
}

async fn leftovers(
    listings: &[Listing],
    cat: &Catalog,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Vec<LeftoverRemoval> {
    let before = now - LEFTOVER_AGE;
    let mut out = Vec::new();
    let old = cat
        .partials
        .iter()
        .map(|l| (l, "partial"))
        .chain(cat.orphans.iter().map(|l| (l, "orphan")))
        .filter(|(l, _)| l.modified.is_some_and(|m| m < before));
    for (l, what) in old {
        let Some(t) = listings.iter().find(|x| x.target.name() == l.target) else {
            continue;
        };
        let error = if dry_run {
            None
        } else {
            t.target.delete(&l.path).await.err().map(|e| e.to_string())
        };
        out.push(LeftoverRemoval {
            target: l.target.clone(),
            path: l.path.clone(),
            what,
            error,
        });
    }
    for l in listings.iter().filter(|l| l.listing.objects.is_ok()) {
        if dry_run {
            continue;
        }
        match l.target.abort_stale_uploads(before).await {
            Ok(paths) => out.extend(paths.into_iter().map(|path| LeftoverRemoval {
                target: l.target.name().to_string(),
                path,
                what: "incomplete upload",
                error: None,
            })),
            Err(e) => out.push(LeftoverRemoval {
                target: l.target.name().to_string(),
                path: String::new(),
                what: "incomplete upload",
                error: Some(e.to_string()),
            }),
        }
    }
    out
}

/// The targets, by name (for callers holding only listings).
pub fn target_of<'a>(listings: &'a [Listing], name: &str) -> Option<&'a Arc<dyn Target>> {
    listings
        .iter()
        .find(|l| l.target.name() == name)
        .map(|l| &l.target)
}
