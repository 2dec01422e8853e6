//! Gathering what the targets hold: each target listed once (concurrently), and the
//! manifests of the backups asked about read and recorded. The index itself, and every
//! judgement of a copy, is pure: [`crate::catalog`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;

pub use crate::catalog::*;
use crate::manifest;
use crate::readcache::ReadCache;
use crate::sign::Trust;
use crate::state::StateDir;
use crate::targets::{Target, TargetError};

/// Manifests are small; anything bigger is not one.
const MANIFEST_LIMIT: u64 = 1024 * 1024;
/// An SSH signature is a few hundred bytes.
const SIGNATURE_LIMIT: u64 = 64 * 1024;
/// Manifest reads in flight at once, per scan.
const READ_CONCURRENCY: usize = 16;
/// Up to this many sources, a target is listed source by source; past it, once whole and
/// the other sources' objects left out: on an object store a listing is billed by the page
/// of 1,000 keys, and one per source would cost a request each even when nearly empty.
pub const LIST_EACH_UP_TO: usize = 8;

/// A target and what its listing gave.
pub struct Listing {
    pub target: Arc<dyn Target>,
    pub listing: TargetListing,
    /// The sources the listing was made of, sorted (empty: everything).
    pub covers: Vec<String>,
}

impl Listing {
    pub fn info(&self) -> &TargetInfo {
        &self.listing.info
    }

    /// Whether `path` lies below what this listing covered.
    pub fn covers(&self, path: &str) -> bool {
        self.covers.is_empty() || within(path, &self.covers)
    }

    /// Whether some object this listing holds carries the store's content tag.
    fn tagged(&self) -> bool {
        self.listing
            .objects
            .as_ref()
            .is_ok_and(|o| o.iter().any(|o| o.tag.is_some()))
    }
}

/// `path` is one of `sources` (sorted) or lies in its directory (a source's directory that
/// is a link is listed under its own name, to be reported).
fn within(path: &str, sources: &[String]) -> bool {
    let first = path.split('/').next().unwrap_or(path);
    sources.binary_search_by(|s| s.as_str().cmp(first)).is_ok()
}

/// Lists every target once (concurrently) under `prefixes` (source names; empty = all):
/// source by source up to [`LIST_EACH_UP_TO`] of them, else whole and filtered.
pub async fn list_all(targets: &[Arc<dyn Target>], prefixes: &[String]) -> Vec<Listing> {
    let mut sorted = prefixes.to_vec();
    sorted.sort();
    sorted.dedup();
    let sorted = &sorted;
    futures::future::join_all(targets.iter().map(|t| async move {
        let objects = if prefixes.is_empty() {
            t.list("").await
        } else if prefixes.len() > LIST_EACH_UP_TO {
            t.list("").await.map(|mut all| {
                all.retain(|o| within(&o.path, sorted));
                all
            })
        } else {
            let mut all = Vec::new();
            let mut err = None;
            for p in prefixes {
                match t.list(p).await {
                    Ok(mut o) => all.append(&mut o),
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            err.map_or(Ok(all), Err)
        };
        let props = t.properties();
        Listing {
            target: Arc::clone(t),
            listing: TargetListing {
                info: TargetInfo {
                    target: t.name().to_string(),
                    medium: props.medium,
                    location: props.location,
                    declared: props.declared,
                    immutable_capable: props.immutable_capable,
                    placement: t.placement().await,
                },
                denied: matches!(objects, Err(TargetError::Denied(_))),
                objects: objects.map_err(|e| e.to_string()),
            },
            covers: sorted.clone(),
        }
    }))
    .await
}

/// How manifests are read: checked against `trust` when signing is configured, judged at
/// `at`, and kept in (and taken from) the read cache of `state` ([`crate::readcache`]).
#[derive(Clone, Copy)]
pub struct Reading<'a> {
    pub state: &'a StateDir,
    pub trust: Option<&'a Trust>,
    pub at: At,
}

/// The catalog of `listings`, with the manifests (and signatures) of the backups
/// `want(source, id)` asks about read and checked, and their locks read where the target
/// can lock, then judged ([`Catalog::judge`]: the one judgement of what counts); the
/// others are [`CopyState::Unchecked`].
pub async fn build(
    listings: &[Listing],
    want: impl Fn(&str, &str) -> bool,
    how: Reading<'_>,
) -> Catalog {
    let mut cat = Catalog::index(listings.iter().map(|l| &l.listing));
    read_manifests(listings, &mut cat, want, |_, _| true, how).await;
    cat
}

/// Reads the manifests `want` asks about and their signatures, concurrently (what the
/// read cache holds under the listed tag is not read again), and the locks of those
/// `locks` asks about; records each, then judges the catalog.
pub async fn read_manifests(
    listings: &[Listing],
    cat: &mut Catalog,
    want: impl Fn(&str, &str) -> bool,
    locks: impl Fn(&str, &str) -> bool,
    how: Reading<'_>,
) {
    // Only stores that tag their content are cached: without one, nothing to read here.
    let cache: ReadCache = if listings.iter().any(Listing::tagged) {
        how.state.read_json(crate::readcache::FILE)
    } else {
        ReadCache::default()
    };
    let cache = &cache;
    let locks = &locks;
    let reads: Vec<_> = futures::stream::iter(cat.manifests_to_read(want))
        .filter_map(|r| async move {
            let t = listings.iter().find(|l| l.target.name() == r.target)?;
            Some((Arc::clone(&t.target), r))
        })
        .map(|(t, r)| async move {
            let cached = |path: &str, tag: &Option<String>| {
                cache.get(t.name(), path, tag.as_deref()).map(Ok)
            };
            let manifest = match cached(&r.path(), &r.tags.manifest) {
                Some(hit) => hit,
                None => t
                    .read_small(&r.path(), MANIFEST_LIMIT)
                    .await
                    .map_err(read_failure),
            };
            let signature = match (r.signed, &manifest) {
                (true, Ok(_)) => Some(match cached(&r.signature_path(), &r.tags.signature) {
                    Some(hit) => hit,
                    None => t
                        .read_small(&r.signature_path(), SIGNATURE_LIMIT)
                        .await
                        .map_err(read_failure),
                }),
                _ => None,
            };
            let locked = match (&manifest, r.artifact_size) {
                (Ok(_), Some(_)) if locks(&r.source, &r.id) => {
                    locked_until(t.as_ref(), &r.source, &r.id).await
                }
                _ => None,
            };
            (
                r,
                ManifestRead {
                    manifest,
                    signature,
                },
                locked,
            )
        })
        .buffered(READ_CONCURRENCY)
        .collect()
        .await;
    remember_reads(how.state, listings, &reads);
    for (r, read, locked) in reads {
        cat.record(&r, read, locked, how.trust);
    }
    cat.judge(how.at);
}

/// Keeps what was read under a tag in the read cache, and drops what the listings no
/// longer show. A cache: a state directory that cannot be written only costs reads.
fn remember_reads(
    state: &StateDir,
    listings: &[Listing],
    reads: &[(ManifestRef, ManifestRead, Option<DateTime<Utc>>)],
) {
    if !listings.iter().any(Listing::tagged) {
        return;
    }
    state.update_json(crate::readcache::FILE, "read cache", |c: &mut ReadCache| {
        for (r, read, _) in reads {
            if let Ok(m) = &read.manifest {
                c.put(&r.target, &r.path(), r.tags.manifest.as_deref(), m);
            }
            if let Some(Ok(s)) = &read.signature {
                c.put(
                    &r.target,
                    &r.signature_path(),
                    r.tags.signature.as_deref(),
                    s,
                );
            }
        }
        for l in listings {
            if let Ok(objects) = &l.listing.objects {
                let listed = objects.iter().map(|o| o.path.as_str()).collect();
                c.forget_unlisted(l.target.name(), &listed, |p| l.covers(p));
            }
        }
    });
}

/// Reads the locks of the copies of the backups `which(source, id)` asks about whose
/// manifests were read and whose lock was not, on targets that can lock; then judges the
/// catalog again.
pub async fn read_locks(
    listings: &[Listing],
    cat: &mut Catalog,
    which: impl Fn(&str, &str) -> bool,
    at: At,
) {
    let asks: Vec<_> = cat
        .backups
        .values()
        .filter(|b| which(&b.source, &b.id))
        .flat_map(|b| {
            b.copies
                .iter()
                .filter(|c| c.manifest.is_some() && c.locked_until.is_none())
                .filter_map(|c| {
                    let l = listings.iter().find(|l| l.target.name() == c.target)?;
                    l.target
                        .properties()
                        .immutable_capable
                        .then(|| (Arc::clone(&l.target), b.source.clone(), b.id.clone()))
                })
        })
        .collect();
    let found: Vec<_> = futures::stream::iter(asks)
        .map(|(t, source, id)| async move {
            let until = locked_until(t.as_ref(), &source, &id).await;
            (t.name().to_string(), source, id, until)
        })
        .buffered(READ_CONCURRENCY)
        .collect()
        .await;
    for (target, source, id, until) in found {
        cat.set_lock(&source, &id, &target, until);
    }
    cat.judge(at);
}

/// A target error as the catalog sees it: not there, or could not tell.
pub fn read_failure(e: TargetError) -> ReadFailure {
    match e {
        TargetError::NotFound(m) => ReadFailure::NotFound(m),
        other => ReadFailure::Failed(other.to_string()),
    }
}

/// Reads an artifact's lock back from a target that can hold locked copies: the retain-until
/// date, if the object is locked. Errors count as "not confirmed".
pub async fn locked_until(t: &dyn Target, source: &str, id: &str) -> Option<DateTime<Utc>> {
    if !t.properties().immutable_capable {
        return None;
    }
    t.retention(&manifest::artifact_path(source, id))
        .await
        .ok()
        .flatten()
}

/// Reads, changes and writes when each copy was last verified (`verified.json`), under the
/// state's file lock. The memory is a cache: failing to read or write it only loses the
/// grace an unreachable target gets, and is logged.
pub fn update_remembered(state: &crate::state::StateDir, change: impl FnOnce(&mut Remembered)) {
    state.update_json(VERIFIED, "copy verifications", change);
}

/// When each copy was last verified, in the state directory.
const VERIFIED: &str = "verified.json";

/// Reads every verified copy of a backup back and compares its sha256 with its manifest.
pub async fn read_back(
    cat: &mut Catalog,
    listings: &[Listing],
    source: &str,
    id: &str,
    progress: &crate::progress::Progress,
) {
    let Some(entry) = cat.backups.get(&(source.to_string(), id.to_string())) else {
        return;
    };
    let checks = entry
        .copies
        .iter()
        .filter(|c| c.is_verified())
        .filter_map(|c| {
            let l = listings.iter().find(|l| l.target.name() == c.target)?;
            Some((Arc::clone(&l.target), c.manifest.clone()?))
        })
        .map(|(t, m)| async move {
            let bar = progress.bytes(&format!("verify on {}", t.name()), Some(m.sealed.bytes));
            let result = match t.read(&manifest::artifact_path(&m.source, &m.id)).await {
                Err(e) => Err(read_failure(e)),
                Ok(reader) => crate::stream::digest(crate::progress::metered(reader, &bar))
                    .await
                    .map_err(|e| ReadFailure::Failed(e.to_string())),
            };
            bar.finish_and_clear();
            let (read, mismatch) = match result {
                Ok((bytes, sha)) => (Ok(()), m.verify_sealed(bytes, &sha).err()),
                Err(e) => (Err(e), None),
            };
            (t.name().to_string(), read, mismatch)
        });
    for (target, read, mismatch) in futures::future::join_all(checks).await {
        cat.record_deep(source, id, &target, read, mismatch);
    }
}

/// Removes the leftovers of interrupted runs the catalog found (partial objects and
/// artifacts without a manifest); the ones removed.
pub async fn remove_leftovers(targets: &[Arc<dyn Target>], cat: &Catalog) -> Vec<Leftover> {
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

/// Remembers the copies a run wrote and checked (or found), as `check` does: a target that
/// is down at the next check is then "last verified at this run".
pub fn remember_written(
    state: &crate::state::StateDir,
    id: &str,
    results: &[crate::fanout::TargetResult],
    now: DateTime<Utc>,
) {
    update_remembered(state, |mem| {
        for r in results.iter().filter(|r| r.outcome.has_copy()) {
            mem.saw(&r.target, id, now);
        }
    });
}
