//! Which backups to keep, and which copies `prune` may remove: pure, with a reason for every
//! decision, time passed in.
//!
//! [`apply`] runs the keep rules over one source's backups (restic's semantics: each
//! `keep_*` rule keeps the newest backup of each of its last N buckets — hours, days, ISO
//! weeks, months, years in the configured zone — and one backup may fill several buckets).
//! Cutoffs are measured from the newest backup, not from now: when backups stop, nothing
//! ages out (Kopia's rule).
//!
//! [`plan`] adds the guards that make pruning unable to break the 3-2-1 rule, per target:
//! the newest backup and the newest compliant one are kept whole; the only verified copy of
//! a backup that some target still keeps is never removed; a locked copy is skipped; a
//! target that could not be listed, or whose copies could not all be read, is not pruned
//! at all; a copy that is forged, divergent or unreadable is never touched.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use serde::Serialize;

use crate::config::{Rules, Zone};

/// A backup of one source, as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// It counts with a trusted signature. With `[signing]`, a backup that counts only
    /// unsigned (from before `accept_unsigned_before`) fills a bucket only when no signed
    /// backup falls in it, and is never the newest while a signed one exists.
    pub signed: bool,
}

/// Why a backup (or copy) is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Reason {
    /// `keep_last`: the n-th newest.
    Last(u32),
    Hourly(u32),
    Daily(u32),
    Weekly(u32),
    Monthly(u32),
    Yearly(u32),
    /// `keep_within` of the newest backup.
    Within,
    /// No rule is configured: everything is kept.
    NoRules,
    /// The newest backup of its source: never removed.
    Newest,
    /// The newest backup that meets the 3-2-1 rule: kept whole while it is the proof.
    NewestCompliant,
    /// The store will not let it be deleted before this date (Object Lock).
    LockedUntil(DateTime<Utc>),
    /// The only verified copy of a backup these targets still keep (repair copies it
    /// there; then it can go).
    OnlyCopyFor(Vec<String>),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Last(n) => write!(f, "last-{n}"),
            Reason::Hourly(n) => write!(f, "hourly-{n}"),
            Reason::Daily(n) => write!(f, "daily-{n}"),
            Reason::Weekly(n) => write!(f, "weekly-{n}"),
            Reason::Monthly(n) => write!(f, "monthly-{n}"),
            Reason::Yearly(n) => write!(f, "yearly-{n}"),
            Reason::Within => write!(f, "within"),
            Reason::NoRules => write!(f, "no rules"),
            Reason::Newest => write!(f, "newest"),
            Reason::NewestCompliant => write!(f, "newest compliant"),
            Reason::LockedUntil(t) => write!(f, "locked until {}", t.format("%Y-%m-%d %H:%M UTC")),
            Reason::OnlyCopyFor(t) => write!(f, "only verified copy, kept on {}", t.join(", ")),
        }
    }
}

impl From<Reason> for String {
    fn from(r: Reason) -> String {
        r.to_string()
    }
}

/// The keep rules' verdict on one backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// Empty: no rule keeps it.
    pub reasons: Vec<Reason>,
}

impl Decision {
    pub fn keep(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// A calendar bucket: (year, day or week or month, hour, 0).
type Bucket = (i32, u32, u32, u32);

/// The bucket a backup falls in for each calendar rule.
fn bucket(t: NaiveDateTime, rule: usize) -> Bucket {
    match rule {
        0 => (t.year(), t.ordinal(), t.hour(), 0),
        1 => (t.year(), t.ordinal(), 0, 0),
        2 => {
            let w = t.iso_week();
            (w.year(), w.week(), 0, 0)
        }
        3 => (t.year(), t.month(), 0, 0),
        _ => (t.year(), 0, 0, 0),
    }
}

/// Runs `rules` over `backups` (in any order); returns one decision per backup, newest
/// first. No rules: everything is kept.
pub fn apply(backups: &[Candidate], rules: &Rules, zone: &Zone) -> Vec<Decision> {
    let mut sorted: Vec<&Candidate> = backups.iter().collect();
    sorted.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    // Cutoffs are measured from the newest backup, a signed one before an unsigned one.
    fn rank(b: &Candidate) -> (bool, DateTime<Utc>, &str) {
        (b.signed, b.created_at, &b.id)
    }
    let Some(newest) = sorted
        .iter()
        .max_by(|a, b| rank(a).cmp(&rank(b)))
        .map(|b| b.created_at)
    else {
        return Vec::new();
    };
    let calendar = [
        rules.keep_hourly,
        rules.keep_daily,
        rules.keep_weekly,
        rules.keep_monthly,
        rules.keep_yearly,
    ];
    // Per calendar rule, the backup each of its newest `limit` buckets keeps: the newest
    // signed one in the bucket, else the newest.
    let mut chosen: [Vec<&str>; 5] = Default::default();
    for (i, limit) in calendar.iter().enumerate() {
        let Some(limit) = limit else { continue };
        let mut buckets: Vec<(Bucket, &Candidate)> = Vec::new();
        for b in &sorted {
            let key = bucket(zone.local(b.created_at), i);
            match buckets.last_mut() {
                Some((k, keep)) if *k == key => {
                    if b.signed && !keep.signed {
                        *keep = b;
                    }
                }
                _ => {
                    if buckets.len() as u32 == *limit {
                        break;
                    }
                    buckets.push((key, b));
                }
            }
        }
        chosen[i] = buckets.iter().map(|(_, b)| b.id.as_str()).collect();
    }
    let mut last_kept = 0u32;
    sorted
        .into_iter()
        .map(|b| {
            let mut reasons = Vec::new();
            if rules.keeps_all() {
                reasons.push(Reason::NoRules);
            }
            if let Some(n) = rules.keep_last
                && last_kept < n
            {
                last_kept += 1;
                reasons.push(Reason::Last(last_kept));
            }
            for (i, ids) in chosen.iter().enumerate() {
                if let Some(pos) = ids.iter().position(|id| *id == b.id) {
                    let n = pos as u32 + 1;
                    reasons.push(match i {
                        0 => Reason::Hourly(n),
                        1 => Reason::Daily(n),
                        2 => Reason::Weekly(n),
                        3 => Reason::Monthly(n),
                        _ => Reason::Yearly(n),
                    });
                }
            }
            if let Some(within) = rules.keep_within
                && chrono::TimeDelta::from_std(within)
                    .is_ok_and(|w| newest.signed_duration_since(b.created_at) <= w)
            {
                reasons.push(Reason::Within);
            }
            Decision {
                id: b.id.clone(),
                created_at: b.created_at,
                reasons,
            }
        })
        .collect()
}

// ---- guards ------------------------------------------------------------------------------

/// One copy, as the guards see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyKind {
    /// Verified (or unsigned from before signing): counts.
    Verified,
    /// Proven missing (manifest without its artifact) or corrupt: not a copy, safe to remove
    /// once no rule keeps the backup (repair replaces it while one does).
    Broken,
    /// Forged, divergent, or not readable right now: never touched by prune; `why` says.
    Untouchable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyView {
    pub target: String,
    pub kind: CopyKind,
    /// The artifact's Object Lock retain-until date, as read back from the store.
    pub locked_until: Option<DateTime<Utc>>,
}

/// One backup of the source with every copy the targets hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// Its verified copies meet the 3-2-1 rule.
    pub compliant: bool,
    /// It counts with a trusted signature (see [`Candidate::signed`]).
    pub signed: bool,
    pub copies: Vec<CopyView>,
}

impl BackupView {
    fn copy_on(&self, target: &str) -> Option<&CopyView> {
        self.copies.iter().find(|c| c.target == target)
    }

    fn verified_on(&self, target: &str) -> bool {
        self.copy_on(target)
            .is_some_and(|c| c.kind == CopyKind::Verified)
    }
}

/// A target, as the guards see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetView {
    pub target: String,
    pub rules: Rules,
    /// Why nothing may be removed there this run (its listing failed, a copy could not be
    /// read); `None`: it was listed and read whole.
    pub not_prunable: Option<String>,
}

/// What prune does with one copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    Keep {
        reasons: Vec<Reason>,
    },
    Remove {
        why: String,
    },
    /// Neither kept by a rule nor removed: a guard or the copy's state stops it.
    Skip {
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyPlan {
    pub id: String,
    pub created_at: DateTime<Utc>,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetPlan {
    pub target: String,
    pub rules: String,
    /// Why nothing is removed on this target this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_pruned: Option<String>,
    /// Newest first.
    pub copies: Vec<CopyPlan>,
}

impl TargetPlan {
    pub fn removals(&self) -> impl Iterator<Item = &CopyPlan> {
        self.copies
            .iter()
            .filter(|c| matches!(c.action, Action::Remove { .. }))
    }
}

/// Retention and its guards over one source's backups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub targets: Vec<TargetPlan>,
    /// (backup id, targets that should hold a verified copy of it): what repair fills.
    #[serde(skip)]
    pub wanted: Vec<(String, Vec<String>)>,
    pub newest: Option<String>,
    pub newest_compliant: Option<String>,
}

/// Plans prune for one source: `backups` with every copy, `targets` with their rules.
/// Backups without a verified copy anywhere are not judged (nothing of them is removed);
/// `now` decides whether a lock still holds.
pub fn plan(
    backups: &[BackupView],
    targets: &[TargetView],
    zone: &Zone,
    now: DateTime<Utc>,
) -> Plan {
    let candidates: Vec<&BackupView> = backups
        .iter()
        .filter(|b| b.copies.iter().any(|c| c.kind == CopyKind::Verified))
        .collect();
    // The newest, a signed backup before any that counts only unsigned.
    fn rank(b: &BackupView) -> (bool, DateTime<Utc>, &str) {
        (b.signed, b.created_at, &b.id)
    }
    let newest = candidates.iter().max_by(|a, b| rank(a).cmp(&rank(b)));
    let newest_compliant = candidates
        .iter()
        .filter(|b| b.compliant)
        .max_by(|a, b| rank(a).cmp(&rank(b)));
    let as_candidates: Vec<Candidate> = candidates
        .iter()
        .map(|b| Candidate {
            id: b.id.clone(),
            created_at: b.created_at,
            signed: b.signed,
        })
        .collect();
    // Per target: the reasons its rules (and the two whole-backup guards) keep each backup.
    let keeps: Vec<Vec<Decision>> = targets
        .iter()
        .map(|t| {
            let mut d = apply(&as_candidates, &t.rules, zone);
            for dec in &mut d {
                if newest.is_some_and(|n| n.id == dec.id) {
                    dec.reasons.insert(0, Reason::Newest);
                }
                if newest_compliant.is_some_and(|n| n.id == dec.id) {
                    dec.reasons.insert(0, Reason::NewestCompliant);
                }
            }
            d
        })
        .collect();
    let j = Judging {
        targets,
        keeps: &keeps,
        judged: candidates.iter().map(|b| b.id.as_str()).collect(),
        now,
    };
    let plans = targets
        .iter()
        .zip(&keeps)
        .map(|(t, decisions)| j.target_plan(backups, t, decisions))
        .collect();
    let mut wanted: Vec<(String, Vec<String>)> = candidates
        .iter()
        .map(|b| {
            (
                b.id.clone(),
                j.kept_on(&b.id).into_iter().map(str::to_string).collect(),
            )
        })
        .collect();
    wanted.sort();
    Plan {
        targets: plans,
        wanted,
        newest: newest.map(|b| b.id.clone()),
        newest_compliant: newest_compliant.map(|b| b.id.clone()),
    }
}

/// What a plan's per-copy decisions share: every target with its rules' decisions, the
/// backups judged at all, and now (for locks).
struct Judging<'a> {
    targets: &'a [TargetView],
    keeps: &'a [Vec<Decision>],
    judged: BTreeSet<&'a str>,
    now: DateTime<Utc>,
}

impl Judging<'_> {
    /// The targets whose rules keep backup `id`.
    fn kept_on(&self, id: &str) -> Vec<&str> {
        self.targets
            .iter()
            .zip(self.keeps)
            .filter(|(_, d)| d.iter().any(|d| d.id == id && d.keep()))
            .map(|(t, _)| t.target.as_str())
            .collect()
    }

    /// What happens to each copy target `t` holds, newest first.
    fn target_plan(
        &self,
        backups: &[BackupView],
        t: &TargetView,
        decisions: &[Decision],
    ) -> TargetPlan {
        let mut held: Vec<(&BackupView, &CopyView)> = backups
            .iter()
            .filter_map(|b| Some((b, b.copy_on(&t.target)?)))
            .collect();
        held.sort_by(|(a, _), (b, _)| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let copies = held
            .into_iter()
            .map(|(b, copy)| {
                // Nothing leaves a target that was not listed and read whole.
                let action = match (&t.not_prunable, self.action(t, decisions, b, copy)) {
                    (Some(why), Action::Remove { .. }) => Action::Skip { why: why.clone() },
                    (_, a) => a,
                };
                CopyPlan {
                    id: b.id.clone(),
                    created_at: b.created_at,
                    action,
                }
            })
            .collect();
        TargetPlan {
            target: t.target.clone(),
            rules: t.rules.describe(),
            not_pruned: t.not_prunable.clone(),
            copies,
        }
    }

    /// One copy: skipped (untouchable, not judged, locked), kept (a rule, or the only copy
    /// for a target that keeps it), or removed.
    fn action(
        &self,
        t: &TargetView,
        decisions: &[Decision],
        b: &BackupView,
        copy: &CopyView,
    ) -> Action {
        if let CopyKind::Untouchable(why) = &copy.kind {
            return Action::Skip { why: why.clone() };
        }
        if !self.judged.contains(b.id.as_str()) {
            return Action::Skip {
                why: "no verified copy of this backup anywhere: not judged, nothing removed".into(),
            };
        }
        let reasons = decisions
            .iter()
            .find(|d| d.id == b.id)
            .map(|d| d.reasons.clone())
            .unwrap_or_default();
        if !reasons.is_empty() {
            return Action::Keep { reasons };
        }
        if let Some(until) = copy.locked_until.filter(|u| *u > self.now) {
            return Action::Skip {
                why: Reason::LockedUntil(until).to_string(),
            };
        }
        let others: Vec<String> = self
            .kept_on(&b.id)
            .into_iter()
            .filter(|o| *o != t.target)
            .map(str::to_string)
            .collect();
        let safe = others.iter().any(|o| {
            b.verified_on(o)
                && self
                    .targets
                    .iter()
                    .any(|tv| tv.target == *o && tv.not_prunable.is_none())
        });
        if copy.kind == CopyKind::Verified && !others.is_empty() && !safe {
            Action::Keep {
                reasons: vec![Reason::OnlyCopyFor(others)],
            }
        } else if copy.kind == CopyKind::Broken {
            Action::Remove {
                why: format!("not a good copy, and no rule of {} keeps it", t.target),
            }
        } else {
            Action::Remove {
                why: format!("no rule keeps it ({})", t.rules.describe()),
            }
        }
    }
}

#[cfg(test)]
mod tests;
