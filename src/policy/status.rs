//! The monitoring status of a source, with Nagios meanings, from facts and `now`.
//!
//! - CRITICAL: no backup younger than `max_age` meets the rule, or the newest backup has a
//!   corrupt copy.
//! - WARNING: the newest backup misses the rule but an older one within `max_age` meets it;
//!   the newest compliant backup is older than `warn_age`; a target could not be read; the
//!   rule is met only if copies that cannot be read right now (a NAS rebooting) are still
//!   there — they were verified within `max_age` ("cannot verify copy on nas: unreachable
//!   since …"). Once their last verification is older than `max_age`, they no longer count.
//! - OK: the newest backup meets the rule and is younger than `warn_age`.
//!
//! UNKNOWN (the config cannot be read) is decided before any facts exist, by the caller.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::invariant::Verdict;
use crate::config::Policy;
use crate::facts::DrillFact;

/// Nagios plugin states; the discriminant is the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// How bad, for picking the worst: CRITICAL > UNKNOWN > WARNING > OK. An UNKNOWN must
    /// not hide behind a WARNING: it means a question could not be answered at all.
    fn severity(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Unknown => 2,
            Status::Critical => 3,
        }
    }
}

/// The worst of several statuses; OK for none.
pub fn worst(statuses: impl IntoIterator<Item = Status>) -> Status {
    statuses
        .into_iter()
        .max_by_key(|s| s.severity())
        .unwrap_or(Status::Ok)
}

/// One backup as found on the targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupFacts {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The verdict on the copies verified now.
    pub verdict: Verdict,
    /// The verdict counting also the copies in `unverified` whose last verification is
    /// within `max_age`: what holds if they are still there.
    pub presumed: Verdict,
    /// Copies whose manifest does not parse or whose artifact does not match it.
    pub corrupt: Vec<String>,
    /// Copies whose signature does not hold, or that disagree with the others.
    pub forged: Vec<ForgedCopy>,
    /// Copies that count although unsigned (from before `accept_unsigned_before`).
    pub unsigned: Vec<String>,
    /// Copies that could not be read right now.
    pub unverified: Vec<UnverifiedCopy>,
}

/// A copy that is not one: forged or damaged, or disagreeing with its siblings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForgedCopy {
    pub target: String,
    pub why: String,
}

/// A backup dated after now (plus the allowed skew).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InFuture {
    pub id: String,
    pub dated: DateTime<Utc>,
    /// It would count but for its date: this host's clock may be behind.
    pub would_count: bool,
}

/// A copy that could not be read now (its target is unreachable, or a read failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnverifiedCopy {
    pub target: String,
    pub error: String,
    /// When the copy was last verified, if ever.
    pub last_verified: Option<DateTime<Utc>>,
    /// When its target was last reached, if known: unreachable since then.
    pub since: Option<DateTime<Utc>>,
}

/// Everything known about one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceFacts {
    pub source: String,
    pub backups: Vec<BackupFacts>,
    /// Targets that could not be listed, with the error.
    pub unreachable: Vec<crate::catalog::Unreachable>,
    /// Backups dated in the future: not backups (forged, or a clock far ahead).
    pub in_future: Vec<InFuture>,
    /// Symbolic links found below a target's root in this source's directory: (target,
    /// path), never followed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub symlinks: Vec<(String, String)>,
    /// The last restore drill, if one was recorded.
    pub drill: Option<DrillFact>,
    /// The last standby drill, if one was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby_drill: Option<crate::facts::StandbyDrillFact>,
    /// The source names a standby PBX (`[source.standby]`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub has_standby: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceStatus {
    pub source: String,
    pub status: Status,
    /// Why the status is not OK, most important first; empty when OK.
    pub reasons: Vec<String>,
    pub newest_id: Option<String>,
    pub newest_compliant_id: Option<String>,
    /// Age of the newest compliant backup within `max_age`, in seconds.
    pub compliant_age_seconds: Option<u64>,
    /// A newer backup that meets the rule if the copies that cannot be read right now are
    /// still there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presumed_compliant_id: Option<String>,
}

fn age(now: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (now - at).to_std().unwrap_or(Duration::ZERO)
}

fn human(d: Duration) -> String {
    crate::format::duration(d)
}

/// Why the newest compliant backup `b` is a warning, if it is older than `warn_age`.
fn past_warn_age(b: &BackupFacts, now: DateTime<Utc>, policy: &Policy) -> Option<String> {
    let a = age(now, b.created_at);
    (a > policy.warn_age).then(|| {
        format!(
            "newest compliant backup is {} old (warning after {}, critical after {})",
            human(a),
            human(policy.warn_age),
            human(policy.max_age)
        )
    })
}

/// "cannot verify copy on nas: unreachable since 2026-11-25 03:14 UTC, last verified 14m ago
/// (timed out)".
fn cannot_verify(c: &UnverifiedCopy, now: DateTime<Utc>, policy: &Policy) -> String {
    let since = c
        .since
        .map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    let last = match c.last_verified {
        Some(t) if age(now, t) > policy.max_age => format!(
            ", last verified {} ago (more than max_age {}: no longer counted)",
            human(age(now, t)),
            human(policy.max_age)
        ),
        Some(t) => format!(", last verified {} ago", human(age(now, t))),
        None => ", never verified".into(),
    };
    format!(
        "cannot verify copy on {}: unreachable{since}{last} ({})",
        c.target, c.error
    )
}

/// What the judgement of one source found so far: the worst status and every reason.
struct Findings {
    status: Status,
    reasons: Vec<String>,
}

impl Findings {
    /// A reason that raises the status to at least `to`.
    fn raise(&mut self, to: Status, why: String) {
        self.status = worst([self.status, to]);
        self.reasons.push(why);
    }

    /// A reason that says more without raising the status.
    fn note(&mut self, why: String) {
        self.reasons.push(why);
    }
}

/// Decides the status of one source: how fresh its newest compliant backup is, what is
/// damaged, forged, unsigned or dated in the future, how its restore drill went, and which
/// targets could not be read — most important reasons first.
pub fn source_status(facts: &SourceFacts, policy: &Policy, now: DateTime<Utc>) -> SourceStatus {
    let mut f = Findings {
        status: Status::Ok,
        reasons: Vec::new(),
    };
    let newest = facts.backups.iter().max_by_key(|b| b.created_at);
    let within = |b: &&BackupFacts| age(now, b.created_at) <= policy.max_age;
    let compliant = facts
        .backups
        .iter()
        .filter(|b| b.verdict.ok)
        .filter(within)
        .max_by_key(|b| b.created_at);
    // Compliant if the copies that cannot be read right now are still there.
    let presumed = facts
        .backups
        .iter()
        .filter(|b| b.presumed.ok)
        .filter(within)
        .max_by_key(|b| b.created_at);
    freshness(&mut f, facts, (newest, compliant, presumed), policy, now);
    damage(&mut f, facts, newest);
    drill(&mut f, facts, newest, policy, now);
    standby(&mut f, facts, policy, now);
    unreadable(&mut f, facts);
    // A check that could not read what it was asked to judge cannot say OK or CRITICAL
    // about it: the monitoring user lacks a permission, and that is what must be fixed.
    if facts.unreachable.iter().any(|u| u.denied) {
        f.status = Status::Unknown;
    }
    // Most important first.
    f.reasons.sort_by_key(|r| importance(r));
    SourceStatus {
        source: facts.source.clone(),
        status: f.status,
        reasons: f.reasons,
        newest_id: newest.map(|b| b.id.clone()),
        newest_compliant_id: compliant.map(|b| b.id.clone()),
        compliant_age_seconds: compliant.map(|b| age(now, b.created_at).as_secs()),
        presumed_compliant_id: presumed
            .filter(|p| compliant.is_none_or(|c| c.created_at < p.created_at))
            .map(|b| b.id.clone()),
    }
}

/// 0 for what must be fixed first (a permission), 1 for what is wrong with the backups,
/// 2 for the rest.
fn importance(r: &str) -> u8 {
    if r.starts_with("permission denied") {
        0
    } else if r.contains("misses the rule")
        || r.contains("no backup")
        || r.contains("corrupt")
        || r.contains("forged")
        || r.contains("in the future")
        || r.contains("symlink")
        || r.starts_with("cannot verify")
    {
        1
    } else {
        2
    }
}

/// The newest backup, the newest compliant one within max_age, and the newest presumed
/// compliant (if the copies that cannot be read now are still there).
type Candidates<'a> = (
    Option<&'a BackupFacts>,
    Option<&'a BackupFacts>,
    Option<&'a BackupFacts>,
);

/// Is there a backup that meets the rule, young enough — proven now, or presumed?
fn freshness(
    f: &mut Findings,
    facts: &SourceFacts,
    (newest, compliant, presumed): Candidates<'_>,
    policy: &Policy,
    now: DateTime<Utc>,
) {
    match (newest, compliant, presumed) {
        (None, _, _) if facts.unreachable.iter().any(|u| u.denied) => f.raise(
            Status::Unknown,
            format!(
                "no backup of {} seen on the targets this user may read",
                facts.source
            ),
        ),
        (None, _, _) => f.raise(
            Status::Critical,
            format!("no backup of {} on any target", facts.source),
        ),
        (Some(n), None, Some(p)) => {
            // Not proven now, but it was, recently enough: a NAS rebooting is not a
            // missing backup.
            for c in &p.unverified {
                f.raise(Status::Warning, cannot_verify(c, now, policy));
            }
            if let Some(why) = past_warn_age(p, now, policy) {
                f.raise(Status::Warning, why);
            }
            if n.id != p.id && !n.presumed.ok {
                f.raise(
                    Status::Warning,
                    format!(
                        "newest backup {} misses the rule ({})",
                        n.id,
                        n.verdict.reasons.join("; ")
                    ),
                );
            }
        }
        (Some(n), None, None) => {
            if !n.verdict.ok {
                f.raise(
                    Status::Critical,
                    format!(
                        "newest backup {} misses the rule: {}",
                        n.id,
                        n.verdict.reasons.join("; ")
                    ),
                );
            }
            f.raise(
                Status::Critical,
                format!(
                    "no backup younger than max_age ({}) meets the rule; the newest is {} old",
                    human(policy.max_age),
                    human(age(now, n.created_at))
                ),
            );
            for c in &n.unverified {
                f.note(cannot_verify(c, now, policy));
            }
        }
        (Some(n), Some(c), _) => {
            if n.id != c.id && n.presumed.ok {
                for u in &n.unverified {
                    f.raise(Status::Warning, cannot_verify(u, now, policy));
                }
            } else if n.id != c.id {
                f.raise(
                    Status::Warning,
                    format!(
                        "newest backup {} misses the rule ({}); {} ({} old) still meets it",
                        n.id,
                        n.verdict.reasons.join("; "),
                        c.id,
                        human(age(now, c.created_at))
                    ),
                );
            }
            if let Some(why) = past_warn_age(c, now, policy) {
                f.raise(Status::Warning, why);
            }
        }
    }
}

/// What is wrong with the copies: corrupt, forged, counted unsigned, dated in the future,
/// behind a symlink.
fn damage(f: &mut Findings, facts: &SourceFacts, newest: Option<&BackupFacts>) {
    if let Some(n) = newest
        && !n.corrupt.is_empty()
    {
        f.raise(
            Status::Critical,
            format!(
                "newest backup {} has corrupt copies on {}",
                n.id,
                n.corrupt.join(", ")
            ),
        );
    }
    for b in &facts.backups {
        let severity = if newest.is_some_and(|n| n.id == b.id) {
            Status::Critical
        } else {
            Status::Warning
        };
        for forged in &b.forged {
            f.raise(
                severity,
                format!(
                    "backup {} has a forged or damaged copy on {}: {}",
                    b.id, forged.target, forged.why
                ),
            );
        }
    }
    // Every backup that counts unsigned is named: any of them may be one planted in the
    // unsigned window, and none is proven by a signature.
    for b in facts.backups.iter().filter(|b| !b.unsigned.is_empty()) {
        f.raise(
            Status::Warning,
            format!(
                "backup {} counts unsigned copies on {} (accepted from before accept_unsigned_before; not proven by a signature)",
                b.id,
                b.unsigned.join(", ")
            ),
        );
    }
    for future in &facts.in_future {
        let why = if future.would_count {
            format!(
                "{} is dated in the future ({}) and would count but for that: is the host's clock right? Not counted, and prune removes nothing until the clock passes it",
                future.id,
                future.dated.format("%Y-%m-%d %H:%M:%S UTC")
            )
        } else {
            format!(
                "{} is dated in the future: not counted as a backup (a forged backup planted on a target, or a clock far ahead)",
                future.id
            )
        };
        f.raise(Status::Critical, why);
    }
    for (target, path) in &facts.symlinks {
        f.raise(
            Status::Warning,
            format!(
                "target {target}: {} is a symlink, not followed (nothing is read, written or deleted through it; remove it, or point the target at the real directory)",
                crate::escape::text(path)
            ),
        );
    }
    for b in facts
        .backups
        .iter()
        .filter(|b| newest.is_some_and(|n| n.id != b.id) && !b.corrupt.is_empty())
    {
        f.raise(
            Status::Warning,
            format!(
                "backup {} has corrupt copies on {}",
                b.id,
                b.corrupt.join(", ")
            ),
        );
    }
}

/// The last restore drill: failed, overdue, or never run when one is asked for.
fn drill(
    f: &mut Findings,
    facts: &SourceFacts,
    newest: Option<&BackupFacts>,
    policy: &Policy,
    now: DateTime<Utc>,
) {
    match (&facts.drill, policy.drill_max_age) {
        (Some(d), _) if !d.ok => f.raise(
            if newest.is_some_and(|n| n.id == d.id) {
                Status::Critical
            } else {
                Status::Warning
            },
            format!(
                "the last restore drill ({} from {}, {} ago) failed: {}",
                d.id,
                d.target,
                human(age(now, d.at)),
                d.error.as_deref().unwrap_or("unknown error")
            ),
        ),
        (Some(d), Some(limit)) if age(now, d.at) > limit => f.raise(
            Status::Warning,
            format!(
                "restore drill overdue: the last one was {} ago (drill_max_age {})",
                human(age(now, d.at)),
                human(limit)
            ),
        ),
        (None, Some(_)) => f.raise(
            Status::Warning,
            "no restore drill recorded: run `pbx321 check --deep --identity KEY`".into(),
        ),
        _ => {}
    }
}

/// The last standby drill: failed, overdue, or never run when `max_standby_age` asks for
/// one. Each is a WARNING: the copies are there; what is not proven is that 3CX takes them.
fn standby(f: &mut Findings, facts: &SourceFacts, policy: &Policy, now: DateTime<Utc>) {
    match (&facts.standby_drill, policy.max_standby_age) {
        (Some(d), _) if !d.ok => {
            let why = match d.why() {
                w if w.is_empty() => "unknown error".into(),
                w => w.join("; "),
            };
            f.raise(
                Status::Warning,
                format!(
                    "the last standby drill ({} into {}, {} ago) failed: {why}",
                    d.id,
                    d.pbx,
                    human(age(now, d.at))
                ),
            )
        }
        (Some(d), Some(limit)) if age(now, d.at) > limit => f.raise(
            Status::Warning,
            format!(
                "standby drill overdue: the last proof that 3CX takes a backup was {} ago (max_standby_age {})",
                human(age(now, d.at)),
                human(limit)
            ),
        ),
        (None, Some(_)) if facts.has_standby => f.raise(
            Status::Warning,
            format!(
                "no standby drill recorded: run `pbx321 drill --standby {}`",
                facts.source
            ),
        ),
        _ => {}
    }
}

/// The targets that could not be read, unless their copies were just said to be
/// unverifiable.
fn unreadable(f: &mut Findings, facts: &SourceFacts) {
    // A target whose copies were just said to be unverifiable needs no second line.
    let said: Vec<&crate::catalog::Unreachable> = facts
        .unreachable
        .iter()
        .filter(|u| {
            u.denied
                || !f
                    .reasons
                    .iter()
                    .any(|r| r.starts_with(&format!("cannot verify copy on {}:", u.target)))
        })
        .collect();
    for u in said {
        if u.denied {
            f.raise(
                Status::Unknown,
                format!(
                    "permission denied reading target {}: {}",
                    u.target,
                    u.error
                        .strip_prefix(&format!("target {}: ", u.target))
                        .unwrap_or(&u.error)
                ),
            );
        } else {
            f.raise(
                Status::Warning,
                format!("target {} could not be read: {}", u.target, u.error),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn policy() -> Policy {
        crate::policy::test_policy()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
    }

    fn verdict(ok: bool) -> Verdict {
        Verdict {
            ok,
            copies: if ok { 3 } else { 2 },
            media: 2,
            offsite: 1,
            immutable: 0,
            reasons: if ok {
                vec![]
            } else {
                vec!["2 verified copies, the rule needs 3".into()]
            },
            notes: vec![],
            declared: vec![],
        }
    }

    fn backup(hours_ago: i64, ok: bool) -> BackupFacts {
        let created_at = now() - chrono::Duration::hours(hours_ago);
        BackupFacts {
            id: format!("hq-{}", created_at.format("%Y%m%dT%H%M%SZ")),
            created_at,
            verdict: verdict(ok),
            presumed: verdict(ok),
            corrupt: vec![],
            forged: vec![],
            unsigned: vec![],
            unverified: vec![],
        }
    }

    /// A backup with 2 verified copies whose third, on "nas", cannot be read now; the
    /// rule is met only counting it (the caller decides, by `counted`).
    fn nas_down(hours_ago: i64, verified_hours_ago: i64, counted: bool) -> BackupFacts {
        BackupFacts {
            verdict: verdict(false),
            presumed: verdict(counted),
            unverified: vec![UnverifiedCopy {
                target: "nas".into(),
                error: "connection refused".into(),
                last_verified: Some(now() - chrono::Duration::hours(verified_hours_ago)),
                since: Some(now() - chrono::Duration::minutes(14)),
            }],
            ..backup(hours_ago, false)
        }
    }

    fn facts(backups: Vec<BackupFacts>) -> SourceFacts {
        SourceFacts {
            source: "hq".into(),
            backups,
            unreachable: vec![],
            in_future: vec![],
            symlinks: vec![],
            drill: None,
            standby_drill: None,
            has_standby: false,
        }
    }

    fn drill(hours_ago: i64, ok: bool, id: &str) -> Option<DrillFact> {
        Some(DrillFact {
            id: id.into(),
            target: "nas".into(),
            at: now() - chrono::Duration::hours(hours_ago),
            ok,
            duration_seconds: 12.5,
            error: (!ok).then(|| "zip entry CRC mismatch".into()),
        })
    }

    #[test]
    fn table() {
        let mut corrupt = backup(1, true);
        corrupt.corrupt = vec!["nas".into()];
        let exactly_max = BackupFacts {
            created_at: now() - chrono::Duration::hours(26),
            ..backup(26, true)
        };
        let cases: Vec<(&str, SourceFacts, Status, Option<&str>)> = vec![
            (
                "no backups",
                facts(vec![]),
                Status::Critical,
                Some("no backup"),
            ),
            (
                "fresh and compliant",
                facts(vec![backup(1, true)]),
                Status::Ok,
                None,
            ),
            (
                "fresh but not compliant, nothing older",
                facts(vec![backup(1, false)]),
                Status::Critical,
                Some("misses the rule"),
            ),
            (
                "newest misses, an older compliant one within max_age",
                facts(vec![backup(1, false), backup(10, true)]),
                Status::Warning,
                Some("still meets it"),
            ),
            (
                "newest misses, the compliant one is too old",
                facts(vec![backup(1, false), backup(30, true)]),
                Status::Critical,
                Some("misses the rule"),
            ),
            (
                "compliant but past warn_age",
                facts(vec![backup(21, true)]),
                Status::Warning,
                Some("warning after"),
            ),
            (
                "exactly at warn_age is still OK",
                facts(vec![backup(20, true)]),
                Status::Ok,
                None,
            ),
            (
                "exactly at max_age still counts (as a warning)",
                facts(vec![exactly_max]),
                Status::Warning,
                Some("warning after"),
            ),
            (
                "stale: only compliant backups past max_age",
                facts(vec![backup(27, true)]),
                Status::Critical,
                Some("younger than max_age"),
            ),
            (
                "newest has a corrupt copy",
                facts(vec![corrupt]),
                Status::Critical,
                Some("corrupt"),
            ),
            (
                "an older backup has a corrupt copy",
                facts(vec![backup(1, true), {
                    let mut b = backup(30, true);
                    b.corrupt = vec!["usb".into()];
                    b
                }]),
                Status::Warning,
                Some("has corrupt copies on usb"),
            ),
            (
                "a target is unreachable",
                SourceFacts {
                    unreachable: vec![crate::catalog::Unreachable {
                        target: "nas".into(),
                        error: "timed out".into(),
                        denied: false,
                    }],
                    ..facts(vec![backup(1, true)])
                },
                Status::Warning,
                Some("could not be read"),
            ),
            (
                "the monitoring user may not read a target: UNKNOWN, never a false CRITICAL",
                SourceFacts {
                    unreachable: vec![crate::catalog::Unreachable {
                        target: "nas".into(),
                        error: "target nas: list /srv/nas/hq/: Permission denied".into(),
                        denied: true,
                    }],
                    ..facts(vec![])
                },
                Status::Unknown,
                Some("permission denied reading target nas: list /srv/nas/hq/: Permission denied"),
            ),
            (
                "a NAS rebooting: its copy was verified within max_age",
                facts(vec![nas_down(1, 0, true)]),
                Status::Warning,
                Some(
                    "cannot verify copy on nas: unreachable since 2026-11-25 11:46 UTC, last verified 0s ago (connection refused)",
                ),
            ),
            (
                "the NAS copy's last verification is past max_age",
                facts(vec![nas_down(1, 30, false)]),
                Status::Critical,
                Some("misses the rule"),
            ),
            (
                "the newest cannot be verified but an older one is proven",
                facts(vec![nas_down(1, 2, true), backup(10, true)]),
                Status::Warning,
                Some("cannot verify copy on nas"),
            ),
            (
                "a backup from the future is not stale",
                facts(vec![backup(-1, true)]),
                Status::Ok,
                None,
            ),
        ];
        for (name, f, want, reason) in cases {
            let s = source_status(&f, &policy(), now());
            assert_eq!(s.status, want, "{name}: {s:?}");
            match reason {
                Some(r) => assert!(
                    s.reasons.first().is_some_and(|x| x.contains(r)),
                    "{name}: {:?}",
                    s.reasons
                ),
                None => assert!(s.reasons.is_empty(), "{name}: {:?}", s.reasons),
            }
        }
    }

    #[test]
    fn drills() {
        let plain = policy();
        let mut p = policy();
        p.drill_max_age = Some(Duration::from_secs(7 * 24 * 3600));
        let fresh = backup(1, true);
        let newest_id = fresh.id.clone();
        /// (name, last drill, policy, expected status, a reason that must be given)
        type Case<'a> = (
            &'a str,
            Option<DrillFact>,
            &'a Policy,
            Status,
            Option<&'a str>,
        );
        let cases: Vec<Case> = vec![
            ("no drill, none required", None, &plain, Status::Ok, None),
            (
                "no drill, one required",
                None,
                &p,
                Status::Warning,
                Some("no restore drill"),
            ),
            (
                "recent good drill",
                drill(24, true, "old"),
                &p,
                Status::Ok,
                None,
            ),
            (
                "drill overdue",
                drill(8 * 24, true, "old"),
                &p,
                Status::Warning,
                Some("overdue"),
            ),
            (
                "exactly at drill_max_age is not overdue",
                drill(7 * 24, true, "old"),
                &p,
                Status::Ok,
                None,
            ),
            (
                "failed drill of an older backup",
                drill(2, false, "old"),
                &plain,
                Status::Warning,
                Some("failed"),
            ),
            (
                "failed drill of the newest backup",
                drill(0, false, &newest_id),
                &plain,
                Status::Critical,
                Some("CRC"),
            ),
        ];
        for (name, d, pol, want, reason) in cases {
            let f = SourceFacts {
                drill: d,
                ..facts(vec![fresh.clone()])
            };
            judged(&f, pol, want, reason, name);
        }
    }

    /// `f` judged under `pol` is `want`, giving `reason` (or no reason at all).
    fn judged(f: &SourceFacts, pol: &Policy, want: Status, reason: Option<&str>, name: &str) {
        let s = source_status(f, pol, now());
        assert_eq!(s.status, want, "{name}: {s:?}");
        match reason {
            Some(r) => assert!(s.reasons.iter().any(|x| x.contains(r)), "{name}: {s:?}"),
            None => assert!(s.reasons.is_empty(), "{name}: {s:?}"),
        }
    }

    #[test]
    fn standby_drills() {
        let fresh = backup(1, true);
        let mut p = crate::policy::test_policy();
        p.max_standby_age = Some(Duration::from_secs(7 * 24 * 3600));
        let plain = crate::policy::test_policy();
        let sd = |hours_ago: i64, ok: bool, diffs: bool| {
            Some(crate::facts::StandbyDrillFact {
                id: "hq-x".into(),
                pbx: "https://standby.example".into(),
                at: now() - chrono::TimeDelta::hours(hours_ago),
                ok,
                seconds: Some(40.0),
                differences: if diffs {
                    vec![crate::facts::CountDifference {
                        what: "trunks".into(),
                        backup: 2,
                        pbx: 1,
                    }]
                } else {
                    vec![]
                },
                error: None,
            })
        };
        // (name, standby configured, last drill, policy, status, a reason that must be given)
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            bool,
            Option<crate::facts::StandbyDrillFact>,
            &Policy,
            Status,
            Option<&str>,
        )> = vec![
            (
                "none configured, none required",
                false,
                None,
                &p,
                Status::Ok,
                None,
            ),
            (
                "configured, none required",
                true,
                None,
                &plain,
                Status::Ok,
                None,
            ),
            (
                "configured, required, none run",
                true,
                None,
                &p,
                Status::Warning,
                Some("drill --standby hq"),
            ),
            (
                "recent and matched",
                true,
                sd(24, true, false),
                &p,
                Status::Ok,
                None,
            ),
            (
                "overdue",
                true,
                sd(8 * 24, true, false),
                &p,
                Status::Warning,
                Some("standby drill overdue"),
            ),
            (
                "a lost trunk",
                true,
                sd(1, false, true),
                &plain,
                Status::Warning,
                Some("trunks 2 in the backup, 1 on the standby"),
            ),
        ];
        for (name, has, d, pol, want, reason) in cases {
            let f = SourceFacts {
                standby_drill: d,
                has_standby: has,
                ..facts(vec![fresh.clone()])
            };
            judged(&f, pol, want, reason, name);
        }
    }

    #[test]
    fn worst_ranks_critical_then_unknown() {
        use Status::*;
        assert_eq!(worst([]), Ok);
        assert_eq!(worst([Ok, Warning]), Warning);
        assert_eq!(worst([Warning, Unknown]), Unknown);
        assert_eq!(worst([Unknown, Critical, Warning]), Critical);
    }
}
