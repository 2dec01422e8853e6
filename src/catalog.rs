//! What the targets hold, and the one judgement of which copies count: pure data and pure
//! functions, no I/O.
//!
//! The targets are the catalog. `ops::catalog` lists them and reads manifests and their
//! signatures; this module turns what was listed and read into [`Catalog`]: every backup,
//! and per target what was found of its copy ([`Found`]). [`Catalog::judge`] then decides,
//! for every copy of every backup, whether it counts and why not ([`CopyState`], typed
//! reasons), with the time passed in. Every operation — `list`, `check`, `restore`, `prune`,
//! `repair`, `backup`'s id choice, the status page — takes its answer from that one
//! judgement and re-derives none of it:
//!
//! - a copy counts when its manifest parses and belongs where it lies, its signature holds
//!   (with `[signing]`), and its artifact has the manifest's size (deep: its sha256);
//! - copies of one backup must agree; a validly signed copy always outranks one accepted
//!   unsigned (from before `accept_unsigned_before`), which is then divergent;
//! - two names for one file (a directory configured twice, a hard link) are one copy;
//! - a backup dated after `now` plus the allowed clock skew never counts and is never the
//!   newest, signed or not ([`FutureDated`]).
//!
//! Nothing here trusts local state, except [`Remembered`]: when each copy was last
//! verified, so that a target that cannot be read right now is "unverified since …", not
//! "no backup".

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Location, Medium};
use crate::facts::CopyFact;
use crate::facts::{FileId, ObjectKind, ObjectMeta, Placement};
use crate::manifest::{self, Manifest, Object};
use crate::sign::{Forgery, Signature, Trust};

/// How far in the future a backup may be dated (clock skew between hosts) and still count,
/// unless `[policy] clock_skew` says otherwise.
pub const FUTURE_SKEW: TimeDelta = TimeDelta::minutes(5);

/// The moment a catalog is judged at, and the clock skew allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub now: DateTime<Utc>,
    pub skew: TimeDelta,
}

impl At {
    pub fn new(now: DateTime<Utc>, skew: TimeDelta) -> At {
        At { now, skew }
    }

    /// The latest time a backup may be dated and still count.
    pub fn limit(&self) -> DateTime<Utc> {
        self.now
            .checked_add_signed(self.skew)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

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

/// How a manifest's signature held, for a copy whose manifest was read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// Signed by a trusted key.
    Valid,
    /// No signature, accepted because the backup is from before `accept_unsigned_before`.
    Unsigned,
    /// Signatures are not checked (no `[signing]`, no `--trusted-key`).
    NotChecked,
}

/// What reading one copy gave, before any judgement across copies: the raw fact
/// [`Catalog::judge`] starts from.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// Listed; its manifest was not read (outside what the caller asked about).
    Unchecked,
    /// The manifest parses and belongs where it lies, its signature holds as `Signed`
    /// says, and the artifact beside it has its size (deep: its sha256).
    Good(Signed),
    /// The target answered, and the artifact (or the manifest) is not there.
    Missing,
    Corrupt(Corruption),
    Forged(Forgery),
    /// Could not be read right now.
    Unreachable {
        error: String,
        last_verified: Option<DateTime<Utc>>,
    },
}

/// Why a copy that is there is not what its manifest says.
#[derive(Debug, Clone, PartialEq)]
pub enum Corruption {
    /// The manifest does not parse, or lies about its place or its names.
    Manifest { path: String, error: String },
    /// The artifact has another size than the manifest says.
    Size { found: u64, expected: u64 },
    /// Read back, the artifact's sha256 is not the manifest's (`check --deep`).
    Sealed(manifest::Mismatch),
}

/// Copies of one backup that disagree: who holds which sealed sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub holders: Vec<Holding>,
    /// This copy was accepted unsigned and disagrees with a validly signed one.
    pub unsigned_against_signed: bool,
}

/// Targets that hold one version of a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub targets: Vec<String>,
    pub sealed_sha256: String,
    /// At least one of them is validly signed.
    pub signed: bool,
}

/// One target's copy of one backup: the judgement.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum CopyState {
    /// Counts: manifest parses, belongs where it lies, is signed by a trusted key (or
    /// signing is off), and the artifact has its size (deep: its sha256).
    Verified,
    /// Counts, with a warning: no signature, from before `accept_unsigned_before`. Never a
    /// source for repair, never preferred to a signed backup.
    Unsigned,
    /// The target answered, and the copy is not (wholly) there: the artifact is gone.
    Missing,
    /// The copy is there but wrong.
    Corrupt {
        #[serde(serialize_with = "crate::format::as_text")]
        why: Corruption,
    },
    /// The manifest's signature is missing, wrong, or by a key that is not trusted: not a
    /// copy, never restored ("forged or damaged").
    Forged {
        #[serde(serialize_with = "crate::format::as_text")]
        why: Forgery,
    },
    /// It disagrees with the copies of the same backup on other targets: not counted.
    Divergent {
        #[serde(serialize_with = "crate::format::as_text")]
        why: Divergence,
    },
    /// The backup is dated after now (plus the allowed skew): not counted, whatever its
    /// signature.
    Future { dated: DateTime<Utc> },
    /// The very file another target's copy is (a directory configured twice, a link):
    /// one copy, counted once, on the first target.
    Duplicate { of: String },
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

impl CopyState {
    /// Whether a copy in this state counts.
    pub fn counts(&self) -> bool {
        matches!(self, CopyState::Verified | CopyState::Unsigned)
    }
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
    /// The artifact's file, where the store tells (local disk).
    #[serde(skip)]
    pub identity: Option<FileId>,
    /// What reading it gave; [`CopyInfo::state`] is the judgement.
    #[serde(skip)]
    pub found: Found,
    #[serde(flatten)]
    pub state: CopyState,
}

impl CopyInfo {
    /// Whether this copy counts (verified, or unsigned from before signing).
    pub fn is_verified(&self) -> bool {
        self.state.counts()
    }

    /// Whether it counts with a valid signature (or signatures are not checked): a copy
    /// repair may copy from.
    pub fn is_source(&self) -> bool {
        self.state == CopyState::Verified
    }

    /// Counted with a trusted signature.
    pub fn is_signed(&self) -> bool {
        self.state == CopyState::Verified && self.found == Found::Good(Signed::Valid)
    }
}

/// A backup dated after now (plus the skew).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FutureDated {
    pub dated: DateTime<Utc>,
    /// It would count but for its date (validly signed, or signatures not checked): then
    /// this host's clock may be behind, and nothing may be pruned until it passes `dated`.
    pub would_count: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupEntry {
    pub source: String,
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The manifest the counted copies agree on.
    pub manifest: Option<Manifest>,
    pub copies: Vec<CopyInfo>,
    /// Dated in the future: not a backup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub future: Option<FutureDated>,
}

impl BackupEntry {
    pub fn verified_on(&self, target: &str) -> bool {
        self.copies
            .iter()
            .any(|c| c.target == target && c.is_verified())
    }

    /// At least one copy counts.
    pub fn counts(&self) -> bool {
        self.copies.iter().any(CopyInfo::is_verified)
    }

    /// At least one counted copy carries a trusted signature.
    pub fn signed(&self) -> bool {
        self.copies.iter().any(CopyInfo::is_signed)
    }

    /// Dated in the future although it would otherwise count.
    pub fn clock_suspect(&self) -> bool {
        self.future.as_ref().is_some_and(|f| f.would_count)
    }

    pub fn in_future(&self) -> bool {
        self.future.is_some()
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
                CopyState::Forged { why } => Some((c.target.clone(), why.to_string())),
                CopyState::Divergent { why } => Some((c.target.clone(), why.to_string())),
                _ => None,
            })
            .collect()
    }

    /// Targets whose copy counts unsigned.
    pub fn unsigned(&self) -> Vec<String> {
        self.with(|s| *s == CopyState::Unsigned)
    }

    /// (target, the target whose copy it is the same file as).
    pub fn duplicates(&self) -> Vec<(String, String)> {
        self.copies
            .iter()
            .filter_map(|c| match &c.state {
                CopyState::Duplicate { of } => Some((c.target.clone(), of.clone())),
                _ => None,
            })
            .collect()
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
    /// The store's content tags of the manifest and the signature, where it gives them.
    pub tags: Tags,
}

/// The content tags a listing gave a manifest and its signature ([`ObjectMeta::tag`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    pub manifest: Option<String>,
    pub signature: Option<String>,
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
    /// Leftovers of interrupted writes: pbx321's own partial names.
    pub partials: Vec<Leftover>,
    /// Artifacts and signatures without a manifest.
    pub orphans: Vec<Leftover>,
    /// Objects pbx321 did not make (names it never writes): shown, never touched.
    pub foreign: Vec<Leftover>,
    /// Symbolic links found below a target's root: reported, never followed.
    pub symlinks: Vec<Leftover>,
    /// Manifests to read, found by [`Catalog::index`]: (target, source, id) → artifact size.
    manifests: Vec<ManifestRef>,
    /// The moment of the last [`Catalog::judge`], to judge again after more was read.
    judged_at: Option<At>,
}

impl Catalog {
    /// The newest backup of `source` made from `origin` that some target holds as a source
    /// for more copies: one that counts with a valid signature (or unchecked signatures).
    /// One that counts only unsigned is never completed, signed anew, onto other targets.
    pub fn stored_from<'c>(
        &'c self,
        source: &'c str,
        origin: &manifest::Origin,
    ) -> Option<&'c BackupEntry> {
        self.of_source(source).rev().find(|b| {
            b.copies.iter().any(|c| c.is_source())
                && b.manifest.as_ref().is_some_and(|m| m.same_origin(origin))
        })
    }

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
            type Key = (String, String);
            let mut artifacts: BTreeMap<Key, (u64, Modified, Option<FileId>)> = BTreeMap::new();
            let mut manifests: BTreeMap<Key, Option<String>> = BTreeMap::new();
            let mut signatures: BTreeMap<Key, (Modified, Option<String>)> = BTreeMap::new();
            let leftover = |o: &ObjectMeta| Leftover {
                target: name.clone(),
                path: o.path.clone(),
                modified: o.modified,
            };
            for o in objects {
                if o.kind == ObjectKind::Symlink {
                    cat.symlinks.push(leftover(o));
                    continue;
                }
                match manifest::classify(&o.path) {
                    Object::Artifact { source, id } => {
                        artifacts.insert((source, id), (o.size, o.modified, o.identity));
                    }
                    Object::Manifest { source, id } => {
                        manifests.insert((source, id), o.tag.clone());
                    }
                    Object::Signature { source, id } => {
                        signatures.insert((source, id), (o.modified, o.tag.clone()));
                    }
                    Object::Partial { .. } => cat.partials.push(leftover(o)),
                    Object::Foreign => cat.foreign.push(leftover(o)),
                }
            }
            for (key, (_, modified, _)) in artifacts
                .iter()
                .filter(|(k, _)| !manifests.contains_key(*k))
            {
                cat.orphans.push(Leftover {
                    target: name.clone(),
                    path: manifest::artifact_path(&key.0, &key.1),
                    modified: *modified,
                });
            }
            // A signature is written before its manifest: alone, it is a leftover.
            for (key, (modified, _)) in signatures
                .iter()
                .filter(|(k, _)| !manifests.contains_key(*k))
            {
                cat.orphans.push(Leftover {
                    target: name.clone(),
                    path: manifest::signature_path(&key.0, &key.1),
                    modified: *modified,
                });
            }
            for ((source, id), tag) in manifests {
                let Some(created_at) = manifest::id_time(&source, &id) else {
                    continue;
                };
                let artifact = artifacts.get(&(source.clone(), id.clone()));
                let signature = signatures.get(&(source.clone(), id.clone()));
                let mut copy = copy_of(&l.info, Found::Unchecked);
                copy.identity = artifact.and_then(|a| a.2);
                cat.entry(&source, &id, created_at).copies.push(copy);
                cat.manifests.push(ManifestRef {
                    target: name.clone(),
                    source,
                    id,
                    artifact_size: artifact.map(|a| a.0),
                    signed: signature.is_some(),
                    tags: Tags {
                        manifest: tag,
                        signature: signature.and_then(|s| s.1.clone()),
                    },
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
                future: None,
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
            if e.future.is_some() {
                continue;
            }
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

    /// Records what reading one manifest (and its signature) gave (see [`judge_copy`]).
    /// [`Catalog::judge`] then decides what counts.
    pub fn record(
        &mut self,
        r: &ManifestRef,
        read: ManifestRead,
        locked_until: Option<DateTime<Utc>>,
        trust: Option<&Trust>,
    ) {
        let (found, own) = judge_copy(r, read, trust);
        let Some(entry) = self.backups.get_mut(&(r.source.clone(), r.id.clone())) else {
            return;
        };
        if let Some(c) = entry.copy_mut(&r.target) {
            c.found = found;
            c.locked_until = locked_until;
            c.manifest = own;
        }
    }

    /// Records the lock a copy's store reports (read after its manifest).
    pub fn set_lock(
        &mut self,
        source: &str,
        id: &str,
        target: &str,
        locked_until: Option<DateTime<Utc>>,
    ) {
        if let Some(c) = self
            .backups
            .get_mut(&(source.to_string(), id.to_string()))
            .and_then(|e| e.copy_mut(target))
        {
            c.locked_until = locked_until;
        }
    }

    /// Records what reading a counted copy back gave (`check --deep`), then judges again.
    pub fn record_deep(
        &mut self,
        source: &str,
        id: &str,
        target: &str,
        read: Result<(), ReadFailure>,
        mismatch: Option<manifest::Mismatch>,
    ) {
        let Some(c) = self
            .backups
            .get_mut(&(source.to_string(), id.to_string()))
            .and_then(|e| e.copy_mut(target))
        else {
            return;
        };
        match (read, mismatch) {
            (Err(ReadFailure::NotFound(_)), _) => c.found = Found::Missing,
            (Err(ReadFailure::Failed(error)), _) => {
                c.found = Found::Unreachable {
                    error: format!("reading the artifact back: {error}"),
                    last_verified: None,
                }
            }
            (Ok(()), Some(m)) => c.found = Found::Corrupt(Corruption::Sealed(m)),
            (Ok(()), None) => {}
        }
        if let Some(at) = self.judged_at {
            self.judge(at);
        }
    }

    /// The one judgement: for every copy of every backup, whether it counts and why not,
    /// from what was found of it and of its siblings, at `at`. Pure, and judging again gives
    /// the same answer (so it runs again after a deep read or a recall).
    ///
    /// 1. Each copy by itself: good (signed, unsigned-accepted, or unchecked signatures),
    ///    missing, corrupt, forged, unreachable, unchecked.
    /// 2. The same file seen on two targets (device and inode) is one copy: the later
    ///    target's is a duplicate of the first's.
    /// 3. Counted copies must agree on their manifest. Validly signed copies outrank any
    ///    accepted unsigned: where some copy is signed, the version the most signed copies
    ///    hold wins, and every copy holding another version (signed or not) is divergent.
    ///    Without a signed copy, the version most copies hold wins (ties: the first
    ///    target's).
    /// 4. A backup dated after `at.limit()` — by its id, or by the `created_at` of a
    ///    counted manifest — counts nowhere.
    pub fn judge(&mut self, at: At) {
        self.judged_at = Some(at);
        for entry in self.backups.values_mut() {
            judge_entry(entry, at);
        }
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
                        Found::Unreachable {
                            error: u.error.clone(),
                            last_verified: Some(*at),
                        },
                    ));
                }
            }
        }
        for entry in self.backups.values_mut() {
            for c in &mut entry.copies {
                if let Found::Unreachable { last_verified, .. } = &mut c.found
                    && last_verified.is_none()
                {
                    *last_verified = remembered.last_verified(&c.target, &entry.id);
                }
            }
        }
        if let Some(at) = self.judged_at {
            self.judge(at);
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

    /// The backups of one source that count somewhere, oldest first.
    pub fn counted<'a>(
        &'a self,
        source: &'a str,
    ) -> impl DoubleEndedIterator<Item = &'a BackupEntry> {
        self.of_source(source).filter(|b| b.counts())
    }

    /// The backup a person gets when asking for one by time: the newest that counts, made
    /// at or before `at` (any time when `None`). A validly signed backup is always preferred
    /// to one that counts only unsigned, so that a backup planted in the unsigned window
    /// can never displace a signed one.
    pub fn pick<'a>(
        &'a self,
        source: &'a str,
        at: Option<DateTime<Utc>>,
    ) -> Option<&'a BackupEntry> {
        let before = |b: &&BackupEntry| at.is_none_or(|t| b.created_at <= t);
        self.counted(source)
            .rev()
            .filter(before)
            .find(|b| b.signed())
            .or_else(|| self.counted(source).rev().find(before))
    }

    pub fn target(&self, name: &str) -> Option<&TargetInfo> {
        self.targets.iter().find(|t| t.target == name)
    }
}

/// Every id of `source` that one of pbx321's own objects (manifest, artifact, signature,
/// partial) carries on some listed target: the ids a new backup must not take. Names
/// pbx321 never writes, and links, are not looked at, so they can never block a backup.
/// Only the objects under `source/` are classified (a backup of one source in a fleet does
/// not index the others').
pub fn ids_in_use<'a>(
    listings: impl IntoIterator<Item = &'a TargetListing>,
    source: &str,
) -> BTreeSet<String> {
    let prefix = format!("{source}/");
    listings
        .into_iter()
        .filter_map(|l| l.objects.as_ref().ok())
        .flatten()
        .filter(|o| o.kind == ObjectKind::File && o.path.starts_with(&prefix))
        .filter_map(|o| {
            let object = manifest::classify(&o.path);
            let (s, id) = object.id()?;
            (s == source).then(|| id.to_string())
        })
        .collect()
}

/// The judgement of one backup's copies (see [`Catalog::judge`]).
fn judge_entry(entry: &mut BackupEntry, at: At) {
    // 1. Each copy by itself.
    for c in &mut entry.copies {
        c.state = match &c.found {
            Found::Unchecked => CopyState::Unchecked,
            Found::Good(Signed::Unsigned) => CopyState::Unsigned,
            Found::Good(_) => CopyState::Verified,
            Found::Missing => CopyState::Missing,
            Found::Corrupt(why) => CopyState::Corrupt { why: why.clone() },
            Found::Forged(why) => CopyState::Forged { why: why.clone() },
            Found::Unreachable {
                error,
                last_verified,
            } => CopyState::Unreachable {
                error: error.clone(),
                last_verified: *last_verified,
            },
        };
    }
    // 2. One file is one copy.
    let mut seen: Vec<(FileId, String)> = Vec::new();
    for c in &mut entry.copies {
        let Some(id) = c.identity else { continue };
        match seen.iter().find(|(f, _)| *f == id) {
            Some((_, first)) if c.state.counts() => {
                c.state = CopyState::Duplicate { of: first.clone() };
            }
            Some(_) => {}
            None => seen.push((id, c.target.clone())),
        }
    }
    // 3. Counted copies agree; signed outranks unsigned.
    let mut groups: Vec<(Manifest, Vec<String>, usize)> = Vec::new();
    for c in entry.copies.iter().filter(|c| c.state.counts()) {
        let Some(m) = &c.manifest else { continue };
        let signed = usize::from(c.is_signed());
        match groups.iter_mut().find(|(g, ..)| g == m) {
            Some((_, ts, n)) => {
                ts.push(c.target.clone());
                *n += signed;
            }
            None => groups.push((m.clone(), vec![c.target.clone()], signed)),
        }
    }
    let any_signed = groups.iter().any(|(.., n)| *n > 0);
    let best = (0..groups.len()).max_by_key(|&i| {
        let (_, ts, signed) = &groups[i];
        (*signed, ts.len(), std::cmp::Reverse(i))
    });
    let keep = best.map(|i| groups[i].0.clone());
    if groups.len() > 1
        && let Some(keep) = &keep
    {
        let holders: Vec<Holding> = groups
            .iter()
            .map(|(m, ts, n)| Holding {
                targets: ts.clone(),
                sealed_sha256: m.sealed.sha256.clone(),
                signed: *n > 0,
            })
            .collect();
        for c in entry.copies.iter_mut().filter(|c| c.state.counts()) {
            if c.manifest.as_ref() != Some(keep) {
                let unsigned_against_signed = any_signed && c.state == CopyState::Unsigned;
                c.state = CopyState::Divergent {
                    why: Divergence {
                        holders: holders.clone(),
                        unsigned_against_signed,
                    },
                };
            }
        }
    }
    // 4. Not after now.
    let dated = entry
        .copies
        .iter()
        .filter(|c| c.state.counts())
        .filter_map(|c| c.manifest.as_ref().map(|m| m.created_at))
        .chain([entry.created_at])
        .max()
        .unwrap_or(entry.created_at);
    entry.future = None;
    if dated > at.limit() {
        let would_count = entry.copies.iter().any(|c| c.state.counts());
        for c in entry
            .copies
            .iter_mut()
            .filter(|c| c.state.counts() || c.state == CopyState::Unchecked)
        {
            c.state = CopyState::Future { dated };
        }
        entry.future = Some(FutureDated { dated, would_count });
    }
    entry.manifest = entry
        .copies
        .iter()
        .find(|c| c.state.counts())
        .and_then(|c| c.manifest.clone());
}

/// What reading one copy gave (pure): good if the manifest parses, belongs where it lies,
/// is signed by a trusted key (when `trust` is given: signing is configured) and the
/// artifact beside it has its size; missing if the artifact (or the manifest) is gone;
/// corrupt if anything disagrees; forged if the signature does not hold; unreachable if the
/// target could not answer. With the manifest, where it parsed.
pub fn judge_copy(
    r: &ManifestRef,
    read: ManifestRead,
    trust: Option<&Trust>,
) -> (Found, Option<Manifest>) {
    let path = r.path();
    let bytes = match read.manifest {
        Err(ReadFailure::NotFound(_)) => return (Found::Missing, None),
        Err(ReadFailure::Failed(error)) => {
            let error = format!("manifest {path} unreadable: {error}");
            return (unreachable(error), None);
        }
        Ok(b) => b,
    };
    let m = match Manifest::from_json(&bytes, &r.source, &r.id) {
        Ok(m) => m,
        Err(e) => {
            let why = Corruption::Manifest {
                path,
                error: e.to_string(),
            };
            return (Found::Corrupt(why), None);
        }
    };
    let mut signed = Signed::NotChecked;
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
            Signature::Valid { .. } => signed = Signed::Valid,
            Signature::UnsignedAccepted => signed = Signed::Unsigned,
            Signature::Invalid(why) => return (Found::Forged(why), None),
        }
    }
    match r.artifact_size {
        None => (Found::Missing, Some(m)),
        Some(s) if s != m.sealed.bytes => (
            Found::Corrupt(Corruption::Size {
                found: s,
                expected: m.sealed.bytes,
            }),
            Some(m),
        ),
        Some(_) => (Found::Good(signed), Some(m)),
    }
}

/// The time of a manifest's id (already checked to be one).
fn r_time(r: &ManifestRef) -> DateTime<Utc> {
    manifest::id_time(&r.source, &r.id).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn unreachable(error: String) -> Found {
    Found::Unreachable {
        error,
        last_verified: None,
    }
}

fn copy_of(info: &TargetInfo, found: Found) -> CopyInfo {
    CopyInfo {
        target: info.target.clone(),
        medium: info.medium,
        location: info.location,
        declared: info.declared,
        locked_until: None,
        manifest: None,
        identity: None,
        found,
        state: CopyState::Unchecked,
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

/// Ids tried before giving up on finding a free one (one second apart).
const ID_TRIES: u32 = 600;

/// A time for a new backup whose id is neither on a target (`taken`) nor in the spool: now,
/// or the next free second after it (so that a clock that stands still cannot loop
/// forever). After `ID_TRIES` taken seconds (objects planted to squat them), the first
/// second free in the spool is taken anyway: a target that holds something under that id
/// refuses the copy and fails alone, and the others still get theirs.
pub fn free_id_time(
    taken: &BTreeSet<String>,
    pending: &[String],
    source: &str,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    use chrono::SubsecRound;
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
