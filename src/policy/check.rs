//! `check`'s judgement: gathered facts in, a report with a status per source out. Pure, so
//! that the daemon and the status page can judge the same facts again every few seconds
//! without touching a target.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::invariant::{CopyFact, Rule, Verdict, evaluate};
use super::status::{
    BackupFacts, SourceFacts, SourceStatus, Status, UnverifiedCopy, source_status, worst,
};
use crate::catalog::{BackupEntry, Catalog, CopyInfo, CopyState, Remembered};
use crate::config::{Location, Medium, Policy};
use crate::facts::DrillFact;

/// What `check` gathered: the catalog (manifests read, copies read back when deep), the
/// restore drills, the backups pending in the spool and when each copy was last verified.
#[derive(Debug, Clone, Default)]
pub struct CheckFacts {
    /// The sources asked about, in config order.
    pub sources: Vec<String>,
    pub catalog: Catalog,
    pub drills: BTreeMap<String, DrillFact>,
    /// The standby drills, per source.
    pub standby_drills: BTreeMap<String, crate::facts::StandbyDrillFact>,
    /// The sources that name a standby PBX.
    pub standbys: std::collections::BTreeSet<String>,
    /// Ids of backups pending in the spool.
    pub pending: Vec<String>,
    pub remembered: Remembered,
    pub deep: bool,
    /// Manifests were verified against trusted keys (signing is configured).
    pub tamper_evident: bool,
    /// Per source: copies retention keeps that a reachable target lacks.
    pub repairs_pending: BTreeMap<String, usize>,
    /// Per target: copies `prune` removed, over all runs.
    pub prune_removed_total: BTreeMap<String, u64>,
    /// Per notifier: notifications not delivered, over all runs.
    pub notify_failures_total: BTreeMap<String, u64>,
    /// Per target: free bytes, where the store tells.
    pub free_bytes: BTreeMap<String, u64>,
    /// Per source, per backup id: why retention keeps it (or what prune would do), per
    /// target, as one line of text.
    pub kept: BTreeMap<String, BTreeMap<String, String>>,
    /// Judge readiness (the response plan) too.
    pub readiness: bool,
    /// Per 3CX V20 source: what the PBX told about itself.
    pub pbx: BTreeMap<String, crate::facts::pbx::PbxFacts>,
    /// `[plan]`: thresholds, declared measures, whether readiness affects the status.
    pub plan: crate::config::Plan,
    /// Per source: what its last backup run warned of (a source file dated in the future).
    pub run_warnings: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub status: Status,
    pub checked_at: DateTime<Utc>,
    pub deep: bool,
    pub rule: Rule,
    pub max_age_seconds: u64,
    pub warn_age_seconds: u64,
    pub sources: Vec<SourceCheck>,
    pub targets: Vec<TargetState>,
    /// Manifests were verified against trusted keys.
    pub tamper_evident: bool,
    /// Things to know that do not change the status.
    pub notes: Vec<String>,
    /// Per target: copies `prune` removed, over all runs (as remembered locally).
    pub prune_removed_total: BTreeMap<String, u64>,
    /// Per notifier: notifications not delivered, over all runs (as remembered locally).
    pub notify_failures_total: BTreeMap<String, u64>,
}

impl CheckReport {
    /// The targets this user may not read (what makes a check UNKNOWN).
    pub fn denied_targets(&self) -> Vec<&str> {
        self.targets
            .iter()
            .filter(|t| t.denied)
            .map(|t| t.target.as_str())
            .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceCheck {
    #[serde(flatten)]
    pub status: SourceStatus,
    /// The newest backup and its copies.
    pub newest: Option<NewestBackup>,
    /// The newest backup that meets the rule within max_age, if any.
    pub last_success: Option<BackupSummary>,
    pub drill: Option<DrillFact>,
    /// The last standby drill: the newest counted backup restored into a standby 3CX.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby_drill: Option<crate::facts::StandbyDrillFact>,
    /// Backups sealed in the spool that some target still lacks; the next `backup` run
    /// completes them.
    pub pending: Vec<String>,
    /// How many backups the targets hold, the oldest and newest.
    pub history: History,
    /// Every listed backup, newest first, for the status page (not in the JSON: it can be
    /// long).
    #[serde(skip)]
    pub backups: Vec<BackupRow>,
    /// The response plan's items (with `[plan]`, or `pbx321 plan`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub readiness: Vec<super::readiness::Item>,
    /// Copies retention keeps that a reachable target lacks; `pbx321 repair` (or the next
    /// backup) writes them.
    pub repair_pending: usize,
}

/// A source's backups on the targets, as listed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct History {
    pub backups: usize,
    pub oldest: Option<BackupSummary>,
    pub newest: Option<BackupSummary>,
    /// Backups per target (a manifest listed there).
    pub per_target: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewestBackup {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub age_seconds: u64,
    pub plain_bytes: Option<u64>,
    pub verdict: Verdict,
    pub copies: Vec<CopyInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub plain_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetState {
    pub target: String,
    pub medium: Medium,
    pub location: Location,
    /// Medium and location counted as declared (`trust_labels`), not verified.
    pub declared: bool,
    pub up: bool,
    /// It answered "permission denied": the user running the check may not read it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub denied: bool,
    pub error: Option<String>,
    /// When it was last listed successfully, as remembered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_listed: Option<DateTime<Utc>>,
    /// Free bytes, where the store tells (local disk, SFTP); not object stores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
    /// Symbolic links found below its root: reported, never followed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub symlinks: Vec<String>,
    /// Objects pbx321 did not make (names it never writes), in the directories looked at:
    /// shown, never touched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub foreign: Vec<String>,
}

/// One backup of a source as the status page lists it.
#[derive(Debug, Clone)]
pub struct BackupRow {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub plain_bytes: Option<u64>,
    pub sealed_bytes: Option<u64>,
    pub copies: Vec<CopyInfo>,
    /// Verified copies (unsigned from before signing included).
    pub verified: usize,
    /// Why retention keeps it, per target (empty when unknown).
    pub kept: String,
}

/// Judges gathered facts at `now`.
pub fn judge(f: &CheckFacts, policy: &Policy, now: DateTime<Utc>) -> CheckReport {
    let rule = Rule::from(policy);
    let sources: Vec<SourceCheck> = f
        .sources
        .iter()
        .map(|name| judge_source(f, name, policy, &rule, now))
        .collect();
    let targets = f
        .catalog
        .targets
        .iter()
        .map(|t| {
            let down = f.catalog.unreachable.iter().find(|u| u.target == t.target);
            TargetState {
                target: t.target.clone(),
                medium: t.medium,
                location: t.location,
                declared: t.declared,
                up: down.is_none(),
                denied: down.is_some_and(|u| u.denied),
                error: down.map(|u| u.error.clone()),
                last_listed: f.remembered.last_listed(&t.target),
                free_bytes: f.free_bytes.get(&t.target).copied(),
                symlinks: on(&f.catalog.symlinks, &t.target),
                foreign: on(&f.catalog.foreign, &t.target),
            }
        })
        .collect();
    CheckReport {
        status: worst(sources.iter().map(|s| s.status.status)),
        checked_at: now,
        deep: f.deep,
        rule,
        max_age_seconds: policy.max_age.as_secs(),
        warn_age_seconds: policy.warn_age.as_secs(),
        sources,
        targets,
        tamper_evident: f.tamper_evident,
        prune_removed_total: f.prune_removed_total.clone(),
        notify_failures_total: f.notify_failures_total.clone(),
        notes: notes(f),
    }
}

/// Things to know that do not change the status.
fn notes(f: &CheckFacts) -> Vec<String> {
    let mut notes = Vec::new();
    if !f.tamper_evident {
        notes.push("copies are not tamper-evident: anyone who can write to a target can plant a backup; configure [signing] (docs/security.md)".into());
    }
    for t in &f.catalog.targets {
        let foreign = on(&f.catalog.foreign, &t.target);
        if let Some(first) = foreign.first() {
            notes.push(format!(
                "target {} holds {} not made by pbx321 (e.g. {}): left alone, never counted",
                t.target,
                crate::format::count(foreign.len() as u32, "object", "objects"),
                crate::escape::text(first)
            ));
        }
    }
    let mut dup: Vec<(String, String)> = f
        .catalog
        .backups
        .values()
        .flat_map(|b| b.duplicates())
        .collect();
    dup.sort();
    dup.dedup();
    for (t, of) in dup {
        notes.push(format!(
            "target {t} holds the very files of target {of} (the same directory, or links): one copy, counted once; configure each directory as one target"
        ));
    }
    notes
}

/// The paths of `leftovers` on `target`.
fn on(leftovers: &[crate::catalog::Leftover], target: &str) -> Vec<String> {
    leftovers
        .iter()
        .filter(|l| l.target == target)
        .map(|l| l.path.clone())
        .collect()
}

/// One source's check: its status from the facts, then what it shows besides — the newest
/// backup, readiness, the last success, its history and its listed backups.
fn judge_source(
    f: &CheckFacts,
    name: &str,
    policy: &Policy,
    rule: &Rule,
    now: DateTime<Utc>,
) -> SourceCheck {
    let cat = &f.catalog;
    let mut status = source_status(&source_facts(f, name, policy, rule, now), policy, now);
    // What the last run saw at the source, named: it may be why the newest backup is old.
    for w in f.run_warnings.get(name).into_iter().flatten() {
        status.status = super::status::worst([status.status, Status::Warning]);
        status
            .reasons
            .push(format!("the last backup run of {name} warned: {w}"));
    }
    let newest = cat
        .of_source(name)
        .rfind(|b| !b.in_future())
        .map(|b| NewestBackup {
            id: b.id.clone(),
            created_at: b.created_at,
            age_seconds: (now - b.created_at).num_seconds().max(0) as u64,
            plain_bytes: b.manifest.as_ref().map(|m| m.plain.bytes),
            verdict: evaluate(&verified_facts(cat, b, now), rule),
            copies: b.copies.clone(),
        });
    let readiness = readiness_of(f, name, &mut status, newest.as_ref(), rule, now);
    let last_success = status
        .newest_compliant_id
        .as_ref()
        .and_then(|id| cat.backups.get(&(name.to_string(), id.clone())))
        .map(summary);
    let listed: Vec<&BackupEntry> = cat.of_source(name).filter(|b| !b.in_future()).collect();
    SourceCheck {
        status,
        readiness,
        backups: rows(f, name, &listed),
        newest,
        last_success,
        history: history_of(cat, &listed),
        repair_pending: f.repairs_pending.get(name).copied().unwrap_or(0),
        drill: f.drills.get(name).cloned(),
        standby_drill: f.standby_drills.get(name).cloned(),
        pending: f
            .pending
            .iter()
            .filter(|id| crate::manifest::split_id(id).is_some_and(|(s, _)| s == name))
            .cloned()
            .collect(),
    }
}

/// What [`source_status`] judges of one source.
fn source_facts(
    f: &CheckFacts,
    name: &str,
    policy: &Policy,
    rule: &Rule,
    now: DateTime<Utc>,
) -> SourceFacts {
    let cat = &f.catalog;
    SourceFacts {
        source: name.to_string(),
        backups: cat
            .of_source(name)
            .filter(|b| !b.in_future())
            .filter(|b| b.copies.iter().any(|c| c.state != CopyState::Unchecked))
            .map(|b| backup_facts(f, b, policy, rule, now))
            .collect(),
        unreachable: cat.unreachable.clone(),
        in_future: cat
            .of_source(name)
            .filter_map(|b| {
                let f = b.future.as_ref()?;
                Some(super::status::InFuture {
                    id: b.id.clone(),
                    dated: f.dated,
                    would_count: f.would_count,
                })
            })
            .collect(),
        symlinks: cat
            .symlinks
            .iter()
            .filter(|l| l.path == name || l.path.starts_with(&format!("{name}/")))
            .map(|l| (l.target.clone(), l.path.clone()))
            .collect(),
        drill: f.drills.get(name).cloned(),
        standby_drill: f.standby_drills.get(name).cloned(),
        has_standby: f.standbys.contains(name),
    }
}

/// The response plan's items for one source (when asked for), the backups' own item from
/// its status; with `[plan] affects_status`, an item that is not OK raises the status.
fn readiness_of(
    f: &CheckFacts,
    name: &str,
    status: &mut super::status::SourceStatus,
    newest: Option<&NewestBackup>,
    rule: &Rule,
    now: DateTime<Utc>,
) -> Vec<super::readiness::Item> {
    if !f.readiness {
        return Vec::new();
    }
    let counts = newest
        .map(|n| {
            let v = &n.verdict;
            let declared = if v.declared.is_empty() {
                String::new()
            } else {
                format!(" (declared, not verified: {})", v.declared.join(", "))
            };
            format!(
                "{} of {} copies, {} of {} media, {} of {} offsite{declared}",
                v.copies, rule.copies, v.media, rule.media, v.offsite, rule.offsite
            )
        })
        .unwrap_or_else(|| "no copy".into());
    let backups = super::readiness::BackupsFact {
        status: status.status,
        reasons: status.reasons.clone(),
        counts,
    };
    let readiness = super::readiness::judge(f.pbx.get(name), Some(&backups), &f.plan, now);
    if f.plan.affects_status {
        for i in readiness.iter().filter(|i| i.id != "backups") {
            let s = i.status.status();
            if s != Status::Ok {
                status.status = super::status::worst([status.status, s]);
                status
                    .reasons
                    .push(format!("readiness {}: {}", i.id, i.summary));
            }
        }
    }
    readiness
}

fn summary(b: &BackupEntry) -> BackupSummary {
    BackupSummary {
        id: b.id.clone(),
        created_at: b.created_at,
        plain_bytes: b.manifest.as_ref().map(|m| m.plain.bytes),
    }
}

/// How many backups the reachable targets hold, the oldest and the newest.
fn history_of(cat: &crate::catalog::Catalog, listed: &[&BackupEntry]) -> History {
    let mut per_target: BTreeMap<String, usize> = cat
        .targets
        .iter()
        .filter(|t| !cat.unreachable.iter().any(|u| u.target == t.target))
        .map(|t| (t.target.clone(), 0))
        .collect();
    for b in listed {
        for c in &b.copies {
            if let Some(n) = per_target.get_mut(&c.target) {
                *n += 1;
            }
        }
    }
    History {
        backups: listed.len(),
        oldest: listed.first().map(|b| summary(b)),
        newest: listed.last().map(|b| summary(b)),
        per_target,
    }
}

/// Every listed backup, newest first, with why each target keeps it.
fn rows(f: &CheckFacts, name: &str, listed: &[&BackupEntry]) -> Vec<BackupRow> {
    let kept = f.kept.get(name);
    listed
        .iter()
        .rev()
        .map(|b| BackupRow {
            id: b.id.clone(),
            created_at: b.created_at,
            plain_bytes: b.manifest.as_ref().map(|m| m.plain.bytes),
            sealed_bytes: b.manifest.as_ref().map(|m| m.sealed.bytes),
            copies: b.copies.clone(),
            verified: b.copies.iter().filter(|c| c.is_verified()).count(),
            kept: kept.and_then(|k| k.get(&b.id)).cloned().unwrap_or_default(),
        })
        .collect()
}

fn backup_facts(
    f: &CheckFacts,
    b: &BackupEntry,
    policy: &Policy,
    rule: &Rule,
    now: DateTime<Utc>,
) -> BackupFacts {
    let cat = &f.catalog;
    let verified = verified_facts(cat, b, now);
    let recent = |t: &DateTime<Utc>| (now - *t).to_std().unwrap_or_default() <= policy.max_age;
    let mut unverified = Vec::new();
    let mut presumed = verified.clone();
    for c in &b.copies {
        if let CopyState::Unreachable {
            error,
            last_verified,
        } = &c.state
        {
            unverified.push(UnverifiedCopy {
                target: c.target.clone(),
                error: error.clone(),
                last_verified: *last_verified,
                since: f.remembered.last_listed(&c.target),
            });
            if let (Some(info), Some(true)) =
                (cat.target(&c.target), last_verified.as_ref().map(recent))
            {
                presumed.push(info.fact(c.locked_until.is_some_and(|u| u > now)));
            }
        }
    }
    BackupFacts {
        id: b.id.clone(),
        created_at: b.created_at,
        verdict: evaluate(&verified, rule),
        presumed: evaluate(&presumed, rule),
        corrupt: b.corrupt(),
        forged: b
            .forged()
            .into_iter()
            .map(|(target, why)| super::ForgedCopy { target, why })
            .collect(),
        unsigned: b.unsigned(),
        unverified,
    }
}

/// The policy's facts for the verified copies of `entry` at `now`.
pub fn verified_facts(cat: &Catalog, entry: &BackupEntry, now: DateTime<Utc>) -> Vec<CopyFact> {
    entry
        .copies
        .iter()
        .filter(|c| c.is_verified())
        .filter_map(|c| {
            let info = cat.target(&c.target)?;
            Some(info.fact(c.locked_until.is_some_and(|u| u > now)))
        })
        .collect()
}

#[cfg(test)]
mod tests {

    use chrono::TimeZone;

    use super::*;
    use crate::catalog::{ReadFailure, TargetInfo, TargetListing, TargetMemory};
    use crate::facts::{ObjectMeta, Placement};
    use crate::manifest::{self, Manifest, Origin, Plain, Sealed};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
    }

    fn policy() -> Policy {
        crate::policy::test_policy()
    }

    fn info(name: &str, medium: Medium, location: Location) -> TargetInfo {
        TargetInfo {
            target: name.into(),
            medium,
            location,
            declared: false,
            immutable_capable: false,
            placement: Placement::default(),
        }
    }

    fn manifest_of(at: DateTime<Utc>) -> Manifest {
        Manifest::new(
            "hq",
            at,
            Origin {
                name: "b.zip".into(),
                time: at,
                size: 10,
            },
            Plain {
                bytes: 10,
                sha256: "0".repeat(64),
                pbx_encrypted: false,
            },
            Sealed::zstd_age(100, "1".repeat(64), vec![]),
        )
    }

    /// How one target's copy of the one backup (made `hours_ago`) turns out.
    #[derive(Clone, Copy)]
    enum Found {
        Good,
        Absent,
        ArtifactGone,
        WrongSize,
        ReadFails,
        /// The target cannot be listed; its copy was verified this many hours ago.
        Down(Option<i64>),
    }

    fn facts(hours_ago: i64, copies: [Found; 3]) -> CheckFacts {
        let at = now() - chrono::Duration::hours(hours_ago);
        let m = manifest_of(at);
        let infos = [
            info("local", Medium::Disk, Location::Onsite),
            info("nas", Medium::Nas, Location::Onsite),
            info("cloud", Medium::ObjectStorage, Location::Offsite),
        ];
        let mut remembered = Remembered::default();
        let listings: Vec<TargetListing> = infos
            .iter()
            .zip(copies)
            .map(|(info, c)| {
                let mut objects = vec![ObjectMeta::file(
                    manifest::manifest_path("hq", &m.id),
                    500,
                    None,
                )];
                if !matches!(c, Found::ArtifactGone) {
                    objects.push(ObjectMeta::file(
                        manifest::artifact_path("hq", &m.id),
                        if matches!(c, Found::WrongSize) {
                            99
                        } else {
                            100
                        },
                        None,
                    ));
                }
                let objects = match c {
                    Found::Absent => Ok(vec![]),
                    Found::Down(verified) => {
                        let mut mem = TargetMemory {
                            last_listed: Some(now() - chrono::Duration::minutes(30)),
                            ..TargetMemory::default()
                        };
                        if let Some(h) = verified {
                            mem.copies
                                .insert(m.id.clone(), now() - chrono::Duration::hours(h));
                        }
                        remembered.targets.insert(info.target.clone(), mem);
                        Err("connection refused".to_string())
                    }
                    _ => Ok(objects),
                };
                TargetListing {
                    info: info.clone(),
                    objects,
                    denied: false,
                }
            })
            .collect();
        let mut catalog = Catalog::index(&listings);
        for (r, c) in catalog
            .manifests_to_read(|_, _| true)
            .into_iter()
            .map(|r| {
                let i = infos.iter().position(|t| t.target == r.target).unwrap();
                (r, copies[i])
            })
            .collect::<Vec<_>>()
        {
            let manifest = match c {
                Found::ReadFails => Err(ReadFailure::Failed("timed out".into())),
                _ => Ok(m.to_json()),
            };
            let read = crate::catalog::ManifestRead {
                manifest,
                signature: None,
            };
            catalog.record(&r, read, None, None);
        }
        catalog.judge(crate::catalog::At::new(now(), crate::catalog::FUTURE_SKEW));
        catalog.recall(&remembered, &["hq".to_string()]);
        CheckFacts {
            sources: vec!["hq".into()],
            catalog,
            remembered,
            ..CheckFacts::default()
        }
    }

    #[test]
    fn table() {
        use Found::*;
        let cases: Vec<(&str, CheckFacts, Status, &str)> = vec![
            (
                "three good copies",
                facts(1, [Good, Good, Good]),
                Status::Ok,
                "",
            ),
            (
                "no backup at all",
                CheckFacts {
                    sources: vec!["hq".into()],
                    ..CheckFacts::default()
                },
                Status::Critical,
                "no backup of hq",
            ),
            (
                "the offsite copy is absent",
                facts(1, [Good, Good, Absent]),
                Status::Critical,
                "misses the rule",
            ),
            (
                "the offsite artifact is gone: missing",
                facts(1, [Good, Good, ArtifactGone]),
                Status::Critical,
                "misses the rule",
            ),
            (
                "an artifact of the wrong size: corrupt",
                facts(1, [Good, WrongSize, Good]),
                Status::Critical,
                "misses the rule",
            ),
            (
                "the NAS is down, its copy verified an hour ago",
                facts(1, [Good, Down(Some(1)), Good]),
                Status::Warning,
                "cannot verify copy on nas: unreachable since 2026-11-25 11:30 UTC, last verified 1h 0m ago",
            ),
            (
                "the NAS is down, its copy last verified two days ago",
                facts(1, [Good, Down(Some(48)), Good]),
                Status::Critical,
                "misses the rule",
            ),
            (
                "the NAS is down and never verified the copy",
                facts(1, [Good, Down(None), Good]),
                Status::Critical,
                "misses the rule",
            ),
            (
                "a manifest read fails: unverified, not corrupt",
                facts(1, [Good, ReadFails, Good]),
                Status::Critical,
                "misses the rule",
            ),
            (
                "the NAS is down and the backup past warn_age",
                facts(21, [Good, Down(Some(1)), Good]),
                Status::Warning,
                "cannot verify copy on nas",
            ),
        ];
        for (name, f, want, reason) in cases {
            let r = judge(&f, &policy(), now());
            let s = &r.sources[0].status;
            assert_eq!(s.status, want, "{name}: {s:?}");
            assert_eq!(r.status, want, "{name}");
            if reason.is_empty() {
                assert!(s.reasons.is_empty(), "{name}: {:?}", s.reasons);
            } else {
                assert!(s.reasons[0].contains(reason), "{name}: {:?}", s.reasons);
            }
        }
    }

    #[test]
    fn copy_states_are_reported_as_found() {
        use Found::*;
        let r = judge(
            &facts(1, [WrongSize, Down(Some(1)), ArtifactGone]),
            &policy(),
            now(),
        );
        let copies = &r.sources[0].newest.as_ref().unwrap().copies;
        let state = |t: &str| copies.iter().find(|c| c.target == t).unwrap().state.clone();
        assert!(matches!(state("local"), CopyState::Corrupt { .. }));
        assert!(matches!(
            state("nas"),
            CopyState::Unreachable {
                last_verified: Some(_),
                ..
            }
        ));
        assert_eq!(state("cloud"), CopyState::Missing);
        assert!(!r.targets[1].up && r.targets[0].up);
    }
}
