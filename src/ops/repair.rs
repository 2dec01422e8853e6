//! `repair`: every backup retention keeps gets a verified copy on every target that keeps
//! it — from the spool when the backup is pending there, otherwise from a verified copy on
//! another target — never by pulling from the PBX again (the original may be long gone).
//!
//! The source copy is checked before (its manifest and signature verified again as read,
//! its sealed bytes hashed into the spool and compared with the signed manifest) and the
//! new copy after (its manifest read back byte for byte, its artifact's size — with
//! `--deep`, its sha256). A missing or corrupt copy is removed first (manifest first);
//! where the store will not let it go (Object Lock), that is reported. Forged and divergent
//! copies are never touched: they are evidence for a person.
//!
//! Bytes move through the spool file by file, streamed: memory stays bounded whatever the
//! backup's size. Healthy copies are preferred on local disks, then NAS, then object
//! storage (no egress fees when a local copy will do).

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::catalog::{self, Catalog, CopyState, Found, Listing, ManifestRead, ManifestRef, Signed};
use super::{Ctx, OpError};
use crate::config::Medium;
use crate::fanout::{self, Outcome, Upload};
use crate::manifest::{self, Manifest};
pub use crate::outcome::{Repair, RepairOutcome, RepairReport, SourceRepair};
use crate::sign::Trust;
use crate::spool::Spool;
use crate::targets::{Payload, Target};

/// Manifests are small; anything bigger is not one.
const MANIFEST_LIMIT: u64 = 1024 * 1024;
const SIGNATURE_LIMIT: u64 = 64 * 1024;

#[derive(Debug, Clone, Default)]
pub struct RepairOptions {
    /// Source names; empty for all.
    pub sources: Vec<String>,
    /// Say what would be repaired; write nothing.
    pub dry_run: bool,
    /// First read every kept copy back (sha256) and replace the corrupt ones.
    pub deep: bool,
    /// Leave backups pending in the spool alone (`backup` has just tried their targets).
    pub skip_pending: bool,
}

/// `pbx321 repair`: under the state-directory lock.
pub async fn run(ctx: &Ctx, opts: &RepairOptions) -> Result<RepairReport, OpError> {
    let _lock = ctx.state.lock()?;
    run_locked(ctx, opts).await
}

/// The same, for a caller that holds the lock already (`backup`).
pub async fn run_locked(ctx: &Ctx, opts: &RepairOptions) -> Result<RepairReport, OpError> {
    let names = ctx.source_names(&opts.sources)?;
    let trust = ctx.trust()?;
    let at = ctx.at();
    let now = at.now;
    let spool = Spool::open(&ctx.state)?;
    let listings = catalog::list_all(&ctx.targets, &names).await;
    let mut cat = catalog::build(
        &listings,
        |s, _| names.iter().any(|n| n == s),
        catalog::Reading {
            state: &ctx.state,
            trust: trust.as_ref(),
            at,
        },
    )
    .await;

    let mut sources = Vec::new();
    for name in &names {
        let plan = crate::policy::pruning::plan(&ctx.config, &cat, name, now);
        if opts.deep {
            for (id, keepers) in &plan.wanted {
                if !keepers.is_empty() {
                    catalog::read_back(&mut cat, &listings, name, id, &ctx.progress).await;
                }
            }
        }
        let mut repairs = Vec::new();
        let pending_ids = spool.pending_ids();
        for (id, keepers) in &plan.wanted {
            if opts.skip_pending && pending_ids.contains(id) {
                continue;
            }
            let needs = needs(&cat, &listings, name, id, keepers, now);
            if needs.is_empty() {
                continue;
            }
            let run = RepairRun {
                ctx,
                spool: &spool,
                cat: &cat,
                listings: &listings,
                trust: trust.as_ref(),
                opts,
            };
            repairs.extend(run.repair_one(name, id, needs).await);
        }
        let pending = repairs
            .iter()
            .filter(|r| !matches!(r.outcome, RepairOutcome::Repaired { .. }))
            .count();
        sources.push(SourceRepair {
            source: name.clone(),
            repairs,
            pending,
        });
    }
    Ok(RepairReport {
        dry_run: opts.dry_run,
        deep: opts.deep,
        sources,
        unreachable: cat.unreachable.clone(),
    })
}

/// A target that should hold a copy and does not, with what it holds now.
struct Need {
    target: Arc<dyn Target>,
    /// What is there: "absent", "missing", "corrupt: …".
    was: String,
    /// A broken copy is there and must go first.
    replace: bool,
    /// Why it cannot be repaired this run.
    blocked: Option<String>,
}

/// The targets among `keepers` that lack a verified copy of `id`.
fn needs(
    cat: &Catalog,
    listings: &[Listing],
    source: &str,
    id: &str,
    keepers: &[String],
    now: DateTime<Utc>,
) -> Vec<Need> {
    let Some(entry) = cat.backups.get(&(source.to_string(), id.to_string())) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for k in keepers {
        let Some(l) = listings.iter().find(|l| l.target.name() == k) else {
            continue;
        };
        if l.listing.objects.is_err() {
            continue; // reported as unreachable
        }
        let copy = entry.copies.iter().find(|c| &c.target == k);
        let (was, replace, blocked) = match copy.map(|c| &c.state) {
            None => ("absent".to_string(), false, None),
            Some(CopyState::Verified | CopyState::Unsigned) => continue,
            Some(CopyState::Missing) => ("missing".into(), true, None),
            Some(CopyState::Corrupt { why }) => (format!("corrupt: {why}"), true, None),
            Some(CopyState::Forged { why }) => (
                why.to_string(),
                false,
                Some("a forged or damaged copy is left for a person to inspect; remove it by hand to let repair replace it".to_string()),
            ),
            Some(CopyState::Divergent { why }) => (
                format!("divergent: {why}"),
                false,
                Some("a divergent copy is left for a person to inspect".to_string()),
            ),
            Some(CopyState::Unreachable { error, .. }) => (
                "unreadable".into(),
                false,
                Some(format!("could not be read now: {error}")),
            ),
            Some(CopyState::Duplicate { of }) => (
                format!("the same file as the copy on {of}"),
                false,
                Some(format!(
                    "this target's copy is the very file of {of}'s (the same directory, or a link): one copy; configure each directory once"
                )),
            ),
            Some(CopyState::Future { .. }) => (
                "dated in the future".into(),
                false,
                Some("a backup dated in the future is not repaired".into()),
            ),
            Some(CopyState::Unchecked) => continue,
        };
        let locked = copy
            .and_then(|c| c.locked_until)
            .filter(|u| replace && *u > now);
        let blocked = blocked.or_else(|| {
            locked.map(|u| {
                format!(
                    "cannot replace it: the store keeps it locked until {}",
                    u.format("%Y-%m-%d %H:%M UTC")
                )
            })
        });
        out.push(Need {
            target: Arc::clone(&l.target),
            was,
            replace,
            blocked,
        });
    }
    out
}

/// The healthy copies of a backup, cheapest to read first: those that count with a valid
/// signature (or signatures are not checked). A copy that counts only unsigned is never
/// copied onto another target.
fn healthy(cat: &Catalog, listings: &[Listing], source: &str, id: &str) -> Vec<Arc<dyn Target>> {
    let Some(entry) = cat.backups.get(&(source.to_string(), id.to_string())) else {
        return Vec::new();
    };
    let mut out: Vec<(u8, Arc<dyn Target>)> = entry
        .copies
        .iter()
        .filter(|c| c.is_source())
        .filter_map(|c| {
            let l = listings.iter().find(|l| l.target.name() == c.target)?;
            let cost = match c.medium {
                Medium::Disk | Medium::Removable => 0,
                Medium::Nas => 1,
                Medium::ObjectStorage => 2,
                Medium::Tape => 3,
            };
            Some((cost, Arc::clone(&l.target)))
        })
        .collect();
    out.sort_by_key(|(c, _)| *c);
    out.into_iter().map(|(_, t)| t).collect()
}

/// Why a copy could not be repaired (worded into the report's `error`).
#[derive(Debug, thiserror::Error)]
enum CopyError {
    #[error(transparent)]
    Target(#[from] crate::targets::TargetError),
    #[error(transparent)]
    Spool(#[from] crate::spool::SpoolError),
    #[error(
        "the manifest on {0} counts only unsigned (from before accept_unsigned_before): never a source for repair"
    )]
    OnlyUnsigned(String),
    #[error(
        "its copies count only unsigned (from before accept_unsigned_before): an unsigned copy is never a source for repair"
    )]
    NoSignedCopy,
    #[error("the manifest on {target} no longer verifies ({found})")]
    NoLongerVerifies { target: String, found: String },
    #[error("no target holds a verified copy")]
    NoCopy,
    #[error("the manifest read back differs")]
    ManifestDiffers,
    #[error("{path} has {found} bytes, expected {expected}")]
    WrongSize {
        path: String,
        found: u64,
        expected: u64,
    },
    #[error(transparent)]
    Mismatch(#[from] manifest::Mismatch),
    #[error("reading it back: {0}")]
    ReadBack(std::io::Error),
}

/// The manifest and signature bytes of `id` as stored on `t`, verified again as read: the
/// very bytes a repaired copy gets, so that its signature holds.
async fn signed_bytes(
    t: &dyn Target,
    source: &str,
    id: &str,
    want: &Manifest,
    trust: Option<&Trust>,
) -> Result<(Bytes, Option<Bytes>), CopyError> {
    let m_path = manifest::manifest_path(source, id);
    let s_path = manifest::signature_path(source, id);
    let m = t.read_small(&m_path, MANIFEST_LIMIT).await?;
    let sig = match t.read_small(&s_path, SIGNATURE_LIMIT).await {
        Ok(s) => Some(s),
        Err(crate::targets::TargetError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let r = ManifestRef {
        target: t.name().to_string(),
        source: source.to_string(),
        id: id.to_string(),
        artifact_size: Some(want.sealed.bytes),
        signed: sig.is_some(),
        tags: Default::default(),
    };
    let read = ManifestRead {
        manifest: Ok(m.clone()),
        signature: sig.clone().map(Ok),
    };
    match catalog::judge_copy(&r, read, trust) {
        (Found::Good(Signed::Valid | Signed::NotChecked), Some(got))
            if got.sealed.sha256 == want.sealed.sha256 =>
        {
            Ok((Bytes::from(m), sig.map(Bytes::from)))
        }
        (Found::Good(Signed::Unsigned), _) => Err(CopyError::OnlyUnsigned(t.name().to_string())),
        (found, _) => Err(CopyError::NoLongerVerifies {
            target: t.name().to_string(),
            found: format!("{found:?}"),
        }),
    }
}

/// What was done (or not) about one need of backup `id`.
fn repair_of(id: &str, n: &Need, from: Option<&str>, outcome: RepairOutcome) -> Repair {
    Repair {
        id: id.to_string(),
        target: n.target.name().to_string(),
        was: n.was.clone(),
        from: from.map(str::to_string),
        outcome,
    }
}

/// What every repair of one run shares (as `backup`'s `Run` does for a backup).
struct RepairRun<'a> {
    ctx: &'a Ctx,
    spool: &'a Spool,
    cat: &'a Catalog,
    listings: &'a [Listing],
    trust: Option<&'a Trust>,
    opts: &'a RepairOptions,
}

/// One backup's repair in the making: the targets that need a copy and where it comes from.
struct OneRepair<'a> {
    source: &'a str,
    id: &'a str,
    /// "spool" or the healthy target read first.
    from: String,
}

impl OneRepair<'_> {
    fn record(&self, n: &Need, from: Option<&str>, outcome: RepairOutcome) -> Repair {
        repair_of(self.id, n, from, outcome)
    }

    fn failed(&self, n: &Need, error: String) -> Repair {
        self.record(n, Some(&self.from), RepairOutcome::Failed { error })
    }
}

impl RepairRun<'_> {
    /// Gives every target in `needs` a verified copy of `id`, from the spool or from a
    /// healthy target: blocked needs are skipped with their reason; a dry run says what it
    /// would do; else the signed manifest is found, the sealed bytes staged in the spool,
    /// broken copies removed, and the new copies written and read back.
    async fn repair_one(&self, source: &str, id: &str, needs: Vec<Need>) -> Vec<Repair> {
        let entry = &self.cat.backups[&(source.to_string(), id.to_string())];
        let (blocked, todo): (Vec<Need>, Vec<Need>) =
            needs.into_iter().partition(|n| n.blocked.is_some());
        let mut out: Vec<Repair> = blocked
            .iter()
            .map(|n| {
                let why = n.blocked.clone().unwrap_or_default();
                repair_of(id, n, None, RepairOutcome::Skipped { why })
            })
            .collect();
        let Some(m) = entry.manifest.clone().filter(|_| !todo.is_empty()) else {
            return out;
        };
        let was_pending = self.spool.pending_ids().contains(&id.to_string());
        let sources = healthy(self.cat, self.listings, source, id);
        let one = OneRepair {
            source,
            id,
            from: if was_pending {
                "spool".to_string()
            } else {
                sources
                    .first()
                    .map(|t| t.name().to_string())
                    .unwrap_or_else(|| "nowhere".into())
            },
        };
        if self.opts.dry_run {
            out.extend(
                todo.iter()
                    .map(|n| one.record(n, Some(&one.from), RepairOutcome::WouldRepair)),
            );
            return out;
        }
        let staged = match self.signed_and_staged(entry, &m, &sources, &todo).await {
            Ok(staged) => staged,
            Err(e) => {
                out.extend(
                    todo.iter()
                        .map(|n| one.failed(n, format!("no verified copy to repair from: {e}"))),
                );
                return out;
            }
        };
        let ready = self.remove_broken(&one, todo, &mut out).await;
        out.extend(self.write(&one, &m, staged, ready).await);
        // The spool keeps only what a backup left pending and some target still lacks.
        let all_done = out
            .iter()
            .all(|r| matches!(r.outcome, RepairOutcome::Repaired { .. }));
        if !was_pending || all_done && covers_all(self.ctx, entry, &out) {
            self.spool.discard(id);
        }
        out
    }

    /// The signed manifest as stored on a healthy copy, and the sealed bytes in the spool,
    /// checked against it.
    async fn signed_and_staged(
        &self,
        entry: &catalog::BackupEntry,
        m: &Manifest,
        sources: &[Arc<dyn Target>],
        todo: &[Need],
    ) -> Result<Staged, CopyError> {
        let mut signed = Err(if entry.counts() && sources.is_empty() {
            CopyError::NoSignedCopy
        } else {
            CopyError::NoCopy
        });
        for t in sources {
            signed = signed_bytes(t.as_ref(), &m.source, &m.id, m, self.trust).await;
            if signed.is_ok() {
                break;
            }
        }
        let (manifest, signature) = signed?;
        let targets: Vec<Arc<dyn Target>> = todo.iter().map(|n| Arc::clone(&n.target)).collect();
        let (file, parts) = self
            .spool
            .ensure(m, sources, &crate::targets::part_sizes(&targets))
            .await?;
        Ok(Staged {
            manifest,
            signature,
            file,
            parts,
        })
    }

    /// Broken copies go first, commit marker first; the needs whose target is ready now.
    async fn remove_broken(
        &self,
        one: &OneRepair<'_>,
        todo: Vec<Need>,
        out: &mut Vec<Repair>,
    ) -> Vec<Need> {
        let mut ready = Vec::new();
        for n in todo {
            if n.replace
                && let Err(e) =
                    crate::targets::remove_copy(n.target.as_ref(), one.source, one.id, true).await
            {
                out.push(one.failed(&n, format!("could not remove the broken copy: {e}")));
                continue;
            }
            ready.push(n);
        }
        ready
    }

    /// Writes the staged copy to every ready target at once and reads each back.
    async fn write(
        &self,
        one: &OneRepair<'_>,
        m: &Manifest,
        staged: Staged,
        ready: Vec<Need>,
    ) -> Vec<Repair> {
        let (source, id) = (one.source, one.id);
        let upload = Upload {
            artifact_path: manifest::artifact_path(source, id),
            artifact: Payload::file_with_sha256(
                staged.file,
                m.sealed.bytes,
                m.sealed.sha256.clone(),
            )
            .with_part_hashes(staged.parts),
            signature: staged
                .signature
                .map(|s| (manifest::signature_path(source, id), s)),
            manifest_path: manifest::manifest_path(source, id),
            manifest: staged.manifest.clone(),
        };
        let targets: Vec<Arc<dyn Target>> = ready.iter().map(|n| Arc::clone(&n.target)).collect();
        let started = self.ctx.stopwatch();
        let results = fanout::fan_out(&targets, &upload, &self.ctx.progress).await;
        let mut out = Vec::new();
        for (n, r) in ready.iter().zip(results) {
            let outcome = match r.outcome {
                Outcome::Written { .. } | Outcome::Present => {
                    match verify_after(n.target.as_ref(), m, &staged.manifest, self.opts.deep).await
                    {
                        Ok(()) => RepairOutcome::Repaired {
                            bytes: m.sealed.bytes,
                            seconds: started.seconds_ms(),
                        },
                        Err(e) => RepairOutcome::Failed {
                            error: format!("written, but does not verify: {e}"),
                        },
                    }
                }
                Outcome::Failed { error } | Outcome::Conflict { error } => {
                    RepairOutcome::Failed { error }
                }
            };
            if matches!(outcome, RepairOutcome::Repaired { .. }) {
                tracing::info!(id, target_name = n.target.name(), from = %one.from, "repaired a copy");
                let now = self.ctx.now();
                catalog::update_remembered(&self.ctx.state, |mem| {
                    mem.saw(n.target.name(), id, now)
                });
            }
            out.push(one.record(n, Some(&one.from), outcome));
        }
        out
    }
}

/// A backup's copy made ready to write: its signed manifest as stored, and its sealed bytes
/// in the spool with their part hashes.
struct Staged {
    manifest: Bytes,
    signature: Option<Bytes>,
    file: std::path::PathBuf,
    parts: Vec<crate::targets::PartHashes>,
}

/// Every configured target holds a verified copy now (what a pending backup waits for).
fn covers_all(ctx: &Ctx, entry: &catalog::BackupEntry, repaired: &[Repair]) -> bool {
    ctx.targets.iter().all(|t| {
        entry.verified_on(t.name())
            || repaired.iter().any(|r| {
                r.target == t.name() && matches!(r.outcome, RepairOutcome::Repaired { .. })
            })
    })
}

/// The new copy, read back: the manifest byte for byte, the artifact's size (`deep`: its
/// sha256).
async fn verify_after(
    t: &dyn Target,
    m: &Manifest,
    manifest_bytes: &[u8],
    deep: bool,
) -> Result<(), CopyError> {
    let back = t
        .read_small(&manifest::manifest_path(&m.source, &m.id), MANIFEST_LIMIT)
        .await?;
    if back != manifest_bytes {
        return Err(CopyError::ManifestDiffers);
    }
    let path = manifest::artifact_path(&m.source, &m.id);
    let meta = t.stat(&path).await?;
    if meta.size != m.sealed.bytes {
        return Err(CopyError::WrongSize {
            path,
            found: meta.size,
            expected: m.sealed.bytes,
        });
    }
    if deep {
        let reader = t.read(&path).await?;
        let (n, sha) = crate::stream::digest(reader)
            .await
            .map_err(CopyError::ReadBack)?;
        m.verify_sealed(n, &sha)?;
    }
    Ok(())
}
