//! What the targets hold, as an index: pure data and pure functions, no I/O.
//!
//! The targets are the catalog. `ops::catalog` lists them and reads manifests and their
//! signatures; this module turns what was listed and read into [`Catalog`]: every backup,
//! and per target the state of its copy — verified (or unsigned, from before signing),
//! missing, corrupt, forged (a signature missing, wrong or by a key not trusted), divergent
//! (a validly signed manifest that disagrees with the other targets'), or unreachable (with
//! the error and when it was last verified). A backup dated in the future is not a backup.
//! Nothing here trusts local state, except [`Remembered`]: when each copy was last
//! verified, so that a target that cannot be read right now is "unverified since …", not
//! "no backup".

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Location, Medium};
use crate::facts::{ObjectMeta, Placement};
use crate::manifest::{self, Manifest, Object};
use crate::policy::CopyFact;
use crate::sign::{Signature, Trust};

/// How far in the future a backup may be dated (clock skew between hosts) and still count.
pub const FUTURE_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// A target, as the rule sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetInfo {
    pub target: String,
    pub medium: Medium,
    pub location: Location,
    /// Medium and location taken as declared (`trust_labels`), not verified.
    pub declared: bool,
    pub immutable_capable: bool,
    #[serde(skip)]
    pub placement: Placement,
}

impl TargetInfo {
    /// The policy's view of a copy on this target; `immutable` only where the store
    /// confirmed a lock whose retain-until date is still ahead.
    pub fn fact(&self, immutable: bool) -> CopyFact {
        CopyFact {
            target: self.target.clone(),
            medium: self.medium,
            location: self.location,
            immutable,
            declared: self.declared,
            placement: self.placement.clone(),
        }
    }
}

/// One target's listing: what it holds, or why it could not be listed.
#[derive(Debug, Clone)]
pub struct TargetListing {
    pub info: TargetInfo,
    pub objects: Result<Vec<ObjectMeta>, String>,
    /// It could not be listed because this user may not read it.
    pub denied: bool,
}

/// One target's copy of one backup.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum CopyState {
    /// Manifest parses, belongs where it lies, and the artifact has its size (deep: its
    /// sha256).
    Verified,
    /// The target answered, and the copy is not (wholly) there: the artifact is gone.
    Missing,
    /// The copy is there but wrong: its manifest does not parse or lies, or the artifact
    /// does not match it.
    Corrupt { why: String },
    /// The manifest's signature is missing, wrong, or by a key that is not trusted: not a
    /// copy, never restored ("forged or damaged").
    Forged { why: String },
    /// Validly signed, but it disagrees with the copies of the same backup on the other
    /// targets (another manifest, another sealed sha256): not counted.
    Divergent { why: String },
    /// No signature, from before `accept_unsigned_before`: counts, with a warning.
    Unsigned,
    /// The copy could not be read right now (the target is down, a read failed). It is
    /// probably still there: `last_verified` says when it last was.
    Unreachable {
        error: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        last_verified: Option<DateTime<Utc>>,
    },
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

impl CopyInfo {
    /// Whether this copy counts (verified, or unsigned from before signing).
    pub fn is_verified(&self) -> bool {
        matches!(self.state, CopyState::Verified | CopyState::Unsigned)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupEntry {
    pub source: String,
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The first manifest that verified.
    pub manifest: Option<Manifest>,
    pub copies: Vec<CopyInfo>,
    /// Dated in the future (see [`Catalog::reject_future`]): not a backup.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_future: bool,
}

impl BackupEntry {
    pub fn verified_on(&self, target: &str) -> bool {
        self.copies
            .iter()
            .any(|c| c.target == target && c.is_verified())
    }

    /// Targets whose copy is corrupt.
    pub fn corrupt(&self) -> Vec<String> {
        self.with(|s| matches!(s, CopyState::Corrupt { .. }))
    }

    /// The copies that are forged or damaged (signature), or disagree with the others:
    /// (target, why).
    pub fn forged(&self) -> Vec<(String, String)> {
        self.copies
            .iter()
            .filter_map(|c| match &c.state {
                CopyState::Forged { why } | CopyState::Divergent { why } => {
                    Some((c.target.clone(), why.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Targets whose copy counts unsigned.
    pub fn unsigned(&self) -> Vec<String> {
        self.with(|s| *s == CopyState::Unsigned)
    }

    fn with(&self, state: impl Fn(&CopyState) -> bool) -> Vec<String> {
        self.copies
            .iter()
            .filter(|c| state(&c.state))
            .map(|c| c.target.clone())
            .collect()
    }

    fn copy_mut(&mut self, target: &str) -> Option<&mut CopyInfo> {
        self.copies.iter_mut().find(|c| c.target == target)
    }
}

/// When a store says an object was written.
type Modified = Option<DateTime<Utc>>;

/// An object a target holds that is not (yet) a copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leftover {
    pub target: String,
    pub path: String,
    /// When the store says it was written (to leave young ones to a writer still at work).
    #[serde(skip)]
    pub modified: Option<DateTime<Utc>>,
}

/// A target that could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreachable {
    pub target: String,
    pub error: String,
    /// Because this user (or these credentials) may not read it: then a check cannot answer.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub denied: bool,
}

/// A manifest to read: where it lies, and the size of the artifact beside it.
#[derive(Debug, Clone)]
pub struct ManifestRef {
    pub target: String,
    pub source: String,
    pub id: String,
    /// `None`: no artifact beside the manifest.
    pub artifact_size: Option<u64>,
    /// A signature lies beside the manifest.
    pub signed: bool,
}

/// What reading a manifest (and its signature, where there is one) gave.
#[derive(Debug, Clone)]
pub struct ManifestRead {
    pub manifest: Result<Vec<u8>, ReadFailure>,
    /// `None`: no signature beside it (or none asked for).
    pub signature: Option<Result<Vec<u8>, ReadFailure>>,
}

impl ManifestRef {
    pub fn path(&self) -> String {
        manifest::manifest_path(&self.source, &self.id)
    }

    pub fn signature_path(&self) -> String {
        manifest::signature_path(&self.source, &self.id)
    }
}

/// Why a manifest (or an artifact) could not be read.
#[derive(Debug, Clone)]
pub enum ReadFailure {
    /// The object is not there.
    NotFound(String),
    /// Anything else: the target could not answer.
    Failed(String),
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Every target listed, in the order given.
    pub targets: Vec<TargetInfo>,
    /// (source, id) → entry; ids sort by time within a source.
    pub backups: BTreeMap<(String, String), BackupEntry>,
    /// Targets that could not be listed, with the error.
    pub unreachable: Vec<Unreachable>,
    /// Leftovers of interrupted writes.
    pub partials: Vec<Leftover>,
    /// Artifacts without a manifest.
    pub orphans: Vec<Leftover>,
    /// Manifests to read, found by [`Catalog::index`]: (target, source, id) → artifact size.
    manifests: Vec<ManifestRef>,
}

impl Catalog {
    /// Indexes listings: every backup with a manifest on some target gets an entry, with an
    /// unchecked copy on each target holding that manifest. Pure: reads nothing.
    pub fn index<'a>(listings: impl IntoIterator<Item = &'a TargetListing>) -> Catalog {
        let listings: Vec<&TargetListing> = listings.into_iter().collect();
        let mut cat = Catalog {
            targets: listings.iter().map(|l| l.info.clone()).collect(),
            ..Catalog::default()
        };
        for l in listings {
            let name = &l.info.target;
            let objects = match &l.objects {
                Ok(o) => o,
                Err(e) => {
                    cat.unreachable.push(Unreachable {
                        target: name.clone(),
                        error: e.clone(),
                        denied: l.denied,
                    });
                    continue;
                }
            };
            let mut artifacts: BTreeMap<(String, String), (u64, Modified)> = BTreeMap::new();
            let mut manifests: BTreeSet<(String, String)> = BTreeSet::new();
            let mut signatures: BTreeMap<(String, String), Option<DateTime<Utc>>> = BTreeMap::new();
            for o in objects {
                match manifest::classify(&o.path) {
                    Object::Artifact { source, id } => {
                        artifacts.insert((source, id), (o.size, o.modified));
                    }
                    Object::Manifest { source, id } => {
                        manifests.insert((source, id));
                    }
                    Object::Signature { source, id } => {
                        signatures.insert((source, id), o.modified);
                    }
                    Object::Partial => cat.partials.push(Leftover {
                        target: name.clone(),
                        path: o.path.clone(),
                        modified: o.modified,
                    }),
                    Object::Other => {}
                }
            }
            for (key, (_, modified)) in artifacts.iter().filter(|(k, _)| !manifests.contains(*k)) {
                cat.orphans.push(Leftover {
                    target: name.clone(),
                    path: manifest::artifact_path(&key.0, &key.1),
                    modified: *modified,
                });
            }
            // A signature is written before its manifest: alone, it is a leftover.
            for (key, modified) in signatures.iter().filter(|(k, _)| !manifests.contains(*k)) {
                cat.orphans.push(Leftover {
                    target: name.clone(),
                    path: manifest::signature_path(&key.0, &key.1),
                    modified: *modified,
                });
            }
            for (source, id) in manifests {
                let Some(created_at) = manifest::id_time(&source, &id) else {
                    continue;
                };
                let artifact_size = artifacts
                    .get(&(source.clone(), id.clone()))
                    .map(|(size, _)| *size);
                let signed = signatures.contains_key(&(source.clone(), id.clone()));
                cat.entry(&source, &id, created_at)
                    .copies
                    .push(copy_of(&l.info, CopyState::Unchecked));
                cat.manifests.push(ManifestRef {
                    target: name.clone(),
                    source,
                    id,
                    artifact_size,
                    signed,
                });
            }
        }
        cat
    }

    fn entry(&mut self, source: &str, id: &str, created_at: DateTime<Utc>) -> &mut BackupEntry {
        self.backups
            .entry((source.to_string(), id.to_string()))
            .or_insert_with(|| BackupEntry {
                source: source.to_string(),
                id: id.to_string(),
                created_at,
                manifest: None,
                copies: Vec::new(),
                in_future: false,
            })
    }

    /// This catalog with every unread copy judged by its listing alone: verified when its
    /// manifest and artifact are both listed, missing when the artifact is not. What `check`
    /// uses to count backups and pending repairs without reading every manifest.
    pub fn presumed(&self) -> Catalog {
        let mut cat = self.clone();
        for m in &self.manifests {
            let Some(e) = cat.backups.get_mut(&(m.source.clone(), m.id.clone())) else {
                continue;
            };
            if let Some(c) = e.copy_mut(&m.target)
                && c.state == CopyState::Unchecked
            {
                c.state = if m.artifact_size.is_some() {
                    CopyState::Verified
                } else {
                    CopyState::Missing
                };
            }
        }
        cat
    }

    /// The manifests of the backups `want(source, id)` asks about, to read.
    pub fn manifests_to_read(&self, want: impl Fn(&str, &str) -> bool) -> Vec<ManifestRef> {
        self.manifests
            .iter()
            .filter(|m| want(&m.source, &m.id))
            .cloned()
            .collect()
    }

    /// Records what reading one manifest (and its signature) gave: the copy is verified if
    /// the manifest parses, belongs where it lies, is signed by a trusted key (when `trust`
    /// is given: signing is configured) and the artifact beside it has its size; missing if
    /// the artifact (or the manifest) is gone; corrupt if anything disagrees; forged if the
    /// signature does not hold; unreachable if the target could not answer.
    pub fn record(
        &mut self,
        r: &ManifestRef,
        read: ManifestRead,
        locked_until: Option<DateTime<Utc>>,
        trust: Option<&Trust>,
    ) {
        let (state, own) = judge_copy(r, read, trust);
        let Some(entry) = self.backups.get_mut(&(r.source.clone(), r.id.clone())) else {
            return;
        };
        if let Some(c) = entry.copy_mut(&r.target) {
            c.state = state;
            c.locked_until = locked_until;
            c.manifest = own;
        }
        entry.manifest = entry
            .copies
            .iter()
            .find(|c| c.is_verified())
            .and_then(|c| c.manifest.clone());
    }

    /// Copies of one backup must agree: the same manifest (so the same sealed sha256) on
    /// every target. Where they do not, the copies that agree with the most others (ties:
    /// the first target's) count, and the others are divergent, naming who holds what.
    pub fn check_consensus(&mut self) {
        for entry in self.backups.values_mut() {
            let counted: Vec<(String, Manifest)> = entry
                .copies
                .iter()
                .filter(|c| c.is_verified())
                .filter_map(|c| Some((c.target.clone(), c.manifest.clone()?)))
                .collect();
            let mut groups: Vec<(Manifest, Vec<String>)> = Vec::new();
            for (t, m) in counted {
                match groups.iter_mut().find(|(g, _)| *g == m) {
                    Some((_, ts)) => ts.push(t),
                    None => groups.push((m, vec![t])),
                }
            }
            if groups.len() < 2 {
                continue;
            }
            let best = (0..groups.len())
                .max_by_key(|&i| (groups[i].1.len(), std::cmp::Reverse(i)))
                .unwrap_or(0);
            let who = groups
                .iter()
                .map(|(m, ts)| {
                    format!(
                        "{} hold{} sealed sha256 {}",
                        ts.join(", "),
                        if ts.len() == 1 { "s" } else { "" },
                        short_sha(&m.sealed.sha256)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            let keep = groups[best].0.clone();
            for c in entry.copies.iter_mut().filter(|c| c.is_verified()) {
                if c.manifest.as_ref() != Some(&keep) {
                    c.state = CopyState::Divergent {
                        why: format!("copies of this backup disagree: {who}"),
                    };
                }
            }
            entry.manifest = Some(keep);
        }
    }

    /// A backup dated in the future (its id, or its manifest's `created_at`, more than
    /// [`FUTURE_SKEW`] ahead of `now`) is not a backup: its copies are corrupt, so that it
    /// can never become "the newest" or be chosen by a time.
    pub fn reject_future(&mut self, now: DateTime<Utc>) {
        let limit = now
            .checked_add_signed(FUTURE_SKEW)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        for entry in self.backups.values_mut() {
            let dated = entry
                .copies
                .iter()
                .filter_map(|c| c.manifest.as_ref().map(|m| m.created_at))
                .chain([entry.created_at])
                .max()
                .unwrap_or(entry.created_at);
            if dated <= limit {
                continue;
            }
            for c in &mut entry.copies {
                c.state = CopyState::Corrupt {
                    why: format!(
                        "dated {} UTC, in the future: not a backup (a forged backup, or a clock far ahead)",
                        dated.format("%Y-%m-%d %H:%M:%S")
                    ),
                };
            }
            entry.manifest = None;
            entry.in_future = true;
        }
    }

    /// Records what reading a verified copy back gave (`check --deep`).
    pub fn record_deep(
        &mut self,
        source: &str,
        id: &str,
        target: &str,
        read: Result<(), ReadFailure>,
        mismatch: Option<String>,
    ) {
        let Some(c) = self
            .backups
            .get_mut(&(source.to_string(), id.to_string()))
            .and_then(|e| e.copy_mut(target))
        else {
            return;
        };
        c.state = match (read, mismatch) {
            (Err(ReadFailure::NotFound(_)), _) => CopyState::Missing,
            (Err(ReadFailure::Failed(error)), _) => CopyState::Unreachable {
                error: format!("reading the artifact back: {error}"),
                last_verified: None,
            },
            (Ok(()), Some(why)) => CopyState::Corrupt { why },
            (Ok(()), None) => CopyState::Verified,
        };
    }

    /// Adds, for every target that could not be listed, the copies `remembered` says it held
    /// (verified before), as unreachable with their last verification; and dates the
    /// unreachable copies of reachable targets.
    pub fn recall(&mut self, remembered: &Remembered, sources: &[String]) {
        for u in self.unreachable.clone() {
            let Some(info) = self.targets.iter().find(|t| t.target == u.target).cloned() else {
                continue;
            };
            for (id, at) in remembered.copies_on(&u.target) {
                let Some((source, created_at)) = manifest::split_id(id) else {
                    continue;
                };
                if !sources.is_empty() && !sources.iter().any(|s| s == source) {
                    continue;
                }
                let entry = self.entry(source, id, created_at);
                if entry.copies.iter().all(|c| c.target != u.target) {
                    entry.copies.push(copy_of(
                        &info,
                        CopyState::Unreachable {
                            error: u.error.clone(),
                            last_verified: Some(*at),
                        },
                    ));
                }
            }
        }
        for entry in self.backups.values_mut() {
            for c in &mut entry.copies {
                if let CopyState::Unreachable { last_verified, .. } = &mut c.state
                    && last_verified.is_none()
                {
                    *last_verified = remembered.last_verified(&c.target, &entry.id);
                }
            }
        }
    }

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

    pub fn target(&self, name: &str) -> Option<&TargetInfo> {
        self.targets.iter().find(|t| t.target == name)
    }
}

fn short_sha(sha: &str) -> String {
    sha.chars().take(12).collect()
}

/// The state of one copy from what was read of it (pure).
pub fn judge_copy(
    r: &ManifestRef,
    read: ManifestRead,
    trust: Option<&Trust>,
) -> (CopyState, Option<Manifest>) {
    let path = r.path();
    let bytes = match read.manifest {
        Err(ReadFailure::NotFound(_)) => return (CopyState::Missing, None),
        Err(ReadFailure::Failed(error)) => {
            let error = format!("manifest {path} unreadable: {error}");
            return (unreachable(error), None);
        }
        Ok(b) => b,
    };
    let m = match Manifest::from_json(&bytes, &r.source, &r.id) {
        Ok(m) => m,
        Err(e) => {
            let why = format!("manifest {path}: {e}");
            return (CopyState::Corrupt { why }, None);
        }
    };
    let mut signed_ok = CopyState::Verified;
    if let Some(trust) = trust {
        let sig = match read.signature {
            Some(Ok(s)) => Some(s),
            None | Some(Err(ReadFailure::NotFound(_))) => None,
            Some(Err(ReadFailure::Failed(error))) => {
                let error = format!("signature {} unreadable: {error}", r.signature_path());
                return (unreachable(error), None);
            }
        };
        match trust.check(&bytes, sig.as_deref(), m.created_at.max(r_time(r))) {
            Signature::Valid { .. } => {}
            Signature::UnsignedAccepted => signed_ok = CopyState::Unsigned,
            Signature::Invalid(why) => {
                let why = format!("forged or damaged: {why}");
                return (CopyState::Forged { why }, None);
            }
        }
    }
    match r.artifact_size {
        None => (CopyState::Missing, Some(m)),
        Some(s) if s != m.sealed.bytes => (
            CopyState::Corrupt {
                why: format!(
                    "artifact has {s} bytes, the manifest says {}",
                    m.sealed.bytes
                ),
            },
            Some(m),
        ),
        Some(_) => (signed_ok, Some(m)),
    }
}

/// The time of a manifest's id (already checked to be one).
fn r_time(r: &ManifestRef) -> DateTime<Utc> {
    manifest::id_time(&r.source, &r.id).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn unreachable(error: String) -> CopyState {
    CopyState::Unreachable {
        error,
        last_verified: None,
    }
}

fn copy_of(info: &TargetInfo, state: CopyState) -> CopyInfo {
    CopyInfo {
        target: info.target.clone(),
        medium: info.medium,
        location: info.location,
        declared: info.declared,
        locked_until: None,
        manifest: None,
        state,
    }
}

/// When each copy was last verified, per target, and when each target was last listed: the
/// memory `check` keeps in the state directory so that an unreachable target's copies are
/// "unverified since …" rather than gone. A cache: losing it only loses that grace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Remembered {
    #[serde(default)]
    pub targets: BTreeMap<String, TargetMemory>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetMemory {
    /// The last time the target was listed successfully.
    pub last_listed: Option<DateTime<Utc>>,
    /// Backup id → the last time its copy here was verified.
    #[serde(default)]
    pub copies: BTreeMap<String, DateTime<Utc>>,
}

impl Remembered {
    /// Updates the memory from a catalog made at `now`: every target listed is remembered
    /// as seen now, with the copies verified on it now; a copy listed but not read this time
    /// keeps its date; a copy gone, missing or corrupt is forgotten. Only backups of
    /// `sources` (all when empty) are touched. Unreachable targets are left as they were.
    pub fn learn(&mut self, cat: &Catalog, sources: &[String], now: DateTime<Utc>) {
        let down: BTreeSet<&str> = cat.unreachable.iter().map(|u| u.target.as_str()).collect();
        let covered = |id: &str| {
            sources.is_empty()
                || manifest::split_id(id).is_some_and(|(s, _)| sources.iter().any(|x| x == s))
        };
        for t in cat
            .targets
            .iter()
            .filter(|t| !down.contains(t.target.as_str()))
        {
            let mem = self.targets.entry(t.target.clone()).or_default();
            mem.last_listed = Some(now);
            let old = std::mem::take(&mut mem.copies);
            let mut new: BTreeMap<String, DateTime<Utc>> = old
                .iter()
                .filter(|(id, _)| !covered(id))
                .map(|(id, at)| (id.clone(), *at))
                .collect();
            for e in cat.backups.values().filter(|e| covered(&e.id)) {
                let state = e
                    .copies
                    .iter()
                    .find(|c| c.target == t.target)
                    .map(|c| &c.state);
                let at = match state {
                    Some(CopyState::Verified) => Some(now),
                    Some(CopyState::Unchecked | CopyState::Unreachable { .. }) => {
                        old.get(&e.id).copied()
                    }
                    _ => None,
                };
                if let Some(at) = at {
                    new.insert(e.id.clone(), at);
                }
            }
            mem.copies = new;
        }
        self.targets
            .retain(|name, _| cat.targets.iter().any(|t| &t.target == name));
    }

    /// Remembers that `target` was reached and held a verified copy of `id` at `now` (a
    /// backup that just wrote and checked it).
    pub fn saw(&mut self, target: &str, id: &str, now: DateTime<Utc>) {
        let mem = self.targets.entry(target.to_string()).or_default();
        mem.last_listed = Some(now);
        mem.copies.insert(id.to_string(), now);
    }

    pub fn last_verified(&self, target: &str, id: &str) -> Option<DateTime<Utc>> {
        self.targets.get(target)?.copies.get(id).copied()
    }

    /// The last time `target` was listed: an unreachable target is unreachable since then.
    pub fn last_listed(&self, target: &str) -> Option<DateTime<Utc>> {
        self.targets.get(target)?.last_listed
    }

    fn copies_on(&self, target: &str) -> impl Iterator<Item = (&String, &DateTime<Utc>)> {
        self.targets
            .get(target)
            .into_iter()
            .flat_map(|m| m.copies.iter())
    }
}
