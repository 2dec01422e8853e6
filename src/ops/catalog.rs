//! What the targets hold, read from the targets themselves.
//!
//! The targets are the catalog: each target is listed once, manifests are read only for the
//! backups the caller asks about, and a copy counts only when its manifest parses and the
//! artifact beside it has the manifest's size. Nothing here trusts local state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;

use crate::config::{Location, Medium};
use crate::manifest::{self, Manifest, Object};
use crate::policy::{CopyFact, Placement};
use crate::target::{ObjectMeta, Target};

/// Manifests are small; anything bigger is not one.
const MANIFEST_LIMIT: u64 = 1024 * 1024;
/// Manifest reads in flight at once, per scan.
const READ_CONCURRENCY: usize = 16;

/// One target's copy of one backup.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum CopyState {
    /// Manifest parses and the artifact has its size.
    Verified,
    /// Manifest present but unreadable, or the artifact missing or of the wrong size.
    Corrupt { why: String },
    /// Manifest not read (outside what the caller asked about).
    Unchecked,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyInfo {
    pub target: String,
    pub medium: Medium,
    pub location: Location,
    /// Medium and location taken as declared (`trust_labels`), not verified.
    pub declared: bool,
    /// The retain-until date of the copy's lock, as read back from the store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<DateTime<Utc>>,
    /// This target's own manifest: each copy is checked against the manifest beside it.
    #[serde(skip)]
    pub manifest: Option<Manifest>,
    #[serde(flatten)]
    pub state: CopyState,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupEntry {
    pub source: String,
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The first manifest that parsed.
    pub manifest: Option<Manifest>,
    pub copies: Vec<CopyInfo>,
}

/// The policy's view of a copy on the target of `listing`; `immutable` only where the store
/// confirmed a lock whose retain-until date is still ahead.
pub fn fact(listing: &Listing, immutable: bool) -> CopyFact {
    let props = listing.target.properties();
    CopyFact {
        target: listing.target.name().to_string(),
        medium: props.medium,
        location: props.location,
        immutable,
        declared: props.declared,
        placement: listing.placement.clone(),
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

impl BackupEntry {
    /// Facts for the policy: verified copies only.
    pub fn copy_facts(&self, listings: &[Listing]) -> Vec<CopyFact> {
        self.copies
            .iter()
            .filter(|c| matches!(c.state, CopyState::Verified))
            .filter_map(|c| {
                let l = listings.iter().find(|l| l.target.name() == c.target)?;
                Some(fact(l, c.locked_until.is_some_and(|u| u > Utc::now())))
            })
            .collect()
    }

    pub fn corrupt(&self) -> Vec<String> {
        self.copies
            .iter()
            .filter(|c| matches!(c.state, CopyState::Corrupt { .. }))
            .map(|c| c.target.clone())
            .collect()
    }

    pub fn verified_on(&self, target: &str) -> bool {
        self.copies
            .iter()
            .any(|c| c.target == target && matches!(c.state, CopyState::Verified))
    }
}

/// A target's listing.
pub struct Listing {
    pub target: Arc<dyn Target>,
    pub objects: Result<Vec<ObjectMeta>, String>,
    /// Where the target's data lies, asked once with the listing.
    pub placement: Placement,
}

#[derive(Default)]
pub struct Catalog {
    /// (source, id) → entry, ids sort by time within a source.
    pub backups: BTreeMap<(String, String), BackupEntry>,
    /// Targets that could not be listed, with the error.
    pub unreachable: Vec<(String, String)>,
    /// Leftovers of interrupted writes: (target, path).
    pub partials: Vec<(String, String)>,
    /// Artifacts without a manifest: (target, path).
    pub orphans: Vec<(String, String)>,
}

impl Catalog {
    /// Backups of one source, oldest first.
    pub fn of_source<'a>(
        &'a self,
        source: &'a str,
    ) -> impl DoubleEndedIterator<Item = &'a BackupEntry> {
        // Every key (source, _) lies below (source + NUL, _), and no other key between.
        self.backups
            .range((source.to_string(), String::new())..(format!("{source}\0"), String::new()))
            .map(|(_, b)| b)
    }
}

/// Lists every target once (concurrently) under `prefixes` (source names; empty = all).
pub async fn list_all(targets: &[Arc<dyn Target>], prefixes: &[String]) -> Vec<Listing> {
    futures::future::join_all(targets.iter().map(|t| async move {
        let objects = if prefixes.is_empty() {
            t.list("").await
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
        Listing {
            target: Arc::clone(t),
            objects: objects.map_err(|e| e.to_string()),
            placement: t.placement().await,
        }
    }))
    .await
}

/// Builds the catalog from listings. `read_manifest(source, id)` says which backups'
/// manifests to read and check; the others are listed as [`CopyState::Unchecked`].
pub async fn build(listings: &[Listing], read_manifest: impl Fn(&str, &str) -> bool) -> Catalog {
    let mut cat = Catalog::default();
    let mut to_read = Vec::new();
    for l in listings {
        let name = l.target.name().to_string();
        let objects = match &l.objects {
            Ok(o) => o,
            Err(e) => {
                cat.unreachable.push((name, e.clone()));
                continue;
            }
        };
        let mut artifacts: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut manifests: BTreeSet<(String, String)> = BTreeSet::new();
        for o in objects {
            match manifest::classify(&o.path) {
                Object::Artifact { source, id } => {
                    artifacts.insert((source, id), o.size);
                }
                Object::Manifest { source, id } => {
                    manifests.insert((source, id));
                }
                Object::Partial => cat.partials.push((name.clone(), o.path.clone())),
                Object::Other => {}
            }
        }
        for (key, _) in artifacts.iter().filter(|(k, _)| !manifests.contains(*k)) {
            cat.orphans
                .push((name.clone(), manifest::artifact_path(&key.0, &key.1)));
        }
        for (source, id) in manifests {
            let Some(created_at) = manifest::id_time(&source, &id) else {
                continue;
            };
            let size = artifacts.get(&(source.clone(), id.clone())).copied();
            let entry = cat
                .backups
                .entry((source.clone(), id.clone()))
                .or_insert_with(|| BackupEntry {
                    source: source.clone(),
                    id: id.clone(),
                    created_at,
                    manifest: None,
                    copies: Vec::new(),
                });
            let props = l.target.properties();
            entry.copies.push(CopyInfo {
                target: name.clone(),
                medium: props.medium,
                location: props.location,
                declared: props.declared,
                locked_until: None,
                manifest: None,
                state: CopyState::Unchecked,
            });
            if read_manifest(&source, &id) {
                to_read.push((Arc::clone(&l.target), source, id, size));
            }
        }
    }
    let results: Vec<_> = futures::stream::iter(to_read)
        .map(|(t, source, id, size)| async move {
            let path = manifest::manifest_path(&source, &id);
            let state = match t.read_small(&path, MANIFEST_LIMIT).await {
                Err(e) => Err(format!("manifest unreadable: {e}")),
                Ok(bytes) => match Manifest::from_json(&bytes, &source, &id) {
                    Err(e) => Err(format!("manifest {path}: {e}")),
                    Ok(m) => match size {
                        None => Err(format!(
                            "artifact {} is missing",
                            manifest::artifact_path(&source, &id)
                        )),
                        Some(s) if s != m.sealed.bytes => Err(format!(
                            "artifact has {s} bytes, the manifest says {}",
                            m.sealed.bytes
                        )),
                        Some(_) => Ok(m),
                    },
                },
            };
            let locked = match state {
                Ok(_) => locked_until(t.as_ref(), &source, &id).await,
                Err(_) => None,
            };
            (t.name().to_string(), source, id, state, locked)
        })
        .buffered(READ_CONCURRENCY)
        .collect()
        .await;
    for (target, source, id, state, locked) in results {
        let Some(entry) = cat.backups.get_mut(&(source, id)) else {
            continue;
        };
        let (copy_state, own) = match state {
            Ok(m) => {
                entry.manifest.get_or_insert_with(|| m.clone());
                (CopyState::Verified, Some(m))
            }
            Err(why) => (CopyState::Corrupt { why }, None),
        };
        if let Some(c) = entry.copies.iter_mut().find(|c| c.target == target) {
            c.state = copy_state;
            c.locked_until = locked;
            c.manifest = own;
        }
    }
    cat
}
