//! Prometheus text exposition format (for node_exporter's textfile collector or a scrape).

use std::fmt::Write;

use crate::catalog::CopyState;
use crate::policy::check::CheckReport;

/// Escapes a label value: backslash, double quote and newline.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metric families, in the order they are written: (name, help). A counter's name ends
/// in `_total`; every other family is a gauge.
const FAMILIES: &[(M, &str, &str)] = &[
    (
        M::LastSuccess,
        "pbx321_backup_last_success_timestamp_seconds",
        "Creation time of the newest backup that meets the rule within max_age (0: none).",
    ),
    (
        M::Size,
        "pbx321_backup_size_bytes",
        "Size of the newest backup, unsealed.",
    ),
    (
        M::Present,
        "pbx321_copy_present",
        "Whether a target holds a verified copy of the newest backup.",
    ),
    (
        M::State,
        "pbx321_copy_state",
        "The state of each target's copy of the newest backup (1 for the current state): verified, unreachable (could not be read now; see the reasons for its last verification), missing, corrupt, forged (a signature that does not hold, or a copy that disagrees with the others).",
    ),
    (
        M::Ok,
        "pbx321_invariant_ok",
        "Whether the newest backup meets the rule (copies, media, offsite, immutable).",
    ),
    (
        M::Copies,
        "pbx321_copies",
        "Verified copies of the newest backup.",
    ),
    (
        M::Media,
        "pbx321_media",
        "Distinct media holding the newest backup, as verified.",
    ),
    (
        M::Offsite,
        "pbx321_offsite_copies",
        "Offsite copies of the newest backup, as verified.",
    ),
    (
        M::Immutable,
        "pbx321_immutable_copies",
        "Copies of the newest backup the store confirms immutable.",
    ),
    (
        M::Up,
        "pbx321_target_up",
        "Whether the target could be listed.",
    ),
    (
        M::Declared,
        "pbx321_target_declared",
        "1 when the target's medium and location are counted as declared (trust_labels), not verified.",
    ),
    (
        M::Readiness,
        "pbx321_readiness",
        "The response plan's items per source: 0 ok (or declared, or information), 1 warning, 2 critical, 3 unknown.",
    ),
    (
        M::ReadinessCount,
        "pbx321_readiness_measure",
        "What a readiness item counts, per source: addresses the PBX blocked itself in the last 24 h (attack_activity), extensions with weak credentials (weak_credentials).",
    ),
    (
        M::Free,
        "pbx321_target_free_bytes",
        "Free space on the target, where the store tells (local disk, SFTP).",
    ),
    (
        M::Pending,
        "pbx321_spool_pending",
        "Backups sealed in the spool that some target still lacks (the next backup run completes them).",
    ),
    (
        M::Backups,
        "pbx321_backups",
        "Backups of the source whose manifest the target holds (as listed).",
    ),
    (
        M::RepairPending,
        "pbx321_repair_pending",
        "Copies retention keeps that a reachable target lacks (pbx321 repair, or the next backup, writes them).",
    ),
    (
        M::Pruned,
        "pbx321_prune_removed_total",
        "Copies pbx321 prune removed from the target, over all runs (as remembered in state_dir).",
    ),
    (
        M::NotifyFailures,
        "pbx321_notify_failures_total",
        "Notifications not delivered, per notifier, over all runs (as remembered in state_dir).",
    ),
    (
        M::DrillAt,
        "pbx321_drill_last_timestamp_seconds",
        "Time of the last restore drill.",
    ),
    (
        M::DrillDuration,
        "pbx321_drill_last_duration_seconds",
        "Duration of the last restore drill (an estimate of the time to restore).",
    ),
    (
        M::DrillOk,
        "pbx321_drill_last_ok",
        "Whether the last restore drill succeeded.",
    ),
    (
        M::StandbyAt,
        "pbx321_standby_drill_last_timestamp_seconds",
        "Time of the last standby drill (the newest backup restored into the standby 3CX).",
    ),
    (
        M::StandbySeconds,
        "pbx321_standby_drill_seconds",
        "Seconds from the start of the last standby drill to the standby answering again (an estimate of the time to restore into 3CX).",
    ),
    (
        M::StandbyOk,
        "pbx321_standby_drill_ok",
        "Whether the standby answered as the backup recorded it (version and fingerprint).",
    ),
];

/// A metric family (see [`FAMILIES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum M {
    LastSuccess,
    Size,
    Present,
    State,
    Ok,
    Copies,
    Media,
    Offsite,
    Immutable,
    Up,
    Declared,
    Readiness,
    ReadinessCount,
    Free,
    Pending,
    Backups,
    RepairPending,
    Pruned,
    NotifyFailures,
    DrillAt,
    DrillDuration,
    DrillOk,
    StandbyAt,
    StandbySeconds,
    StandbyOk,
}

/// The samples gathered so far, per family: (labels, value).
#[derive(Default)]
struct Samples(std::collections::BTreeMap<M, Vec<(String, f64)>>);

impl Samples {
    fn push(&mut self, m: M, labels: String, value: f64) {
        self.0.entry(m).or_default().push((labels, value));
    }

    /// A 0/1 sample.
    fn flag(&mut self, m: M, labels: String, on: bool) {
        self.push(m, labels, f64::from(u8::from(on)));
    }
}

pub fn render(r: &CheckReport) -> String {
    let mut m = Samples::default();
    for s in &r.sources {
        source_samples(&mut m, r, s);
    }
    for (name, n) in &r.notify_failures_total {
        m.push(
            M::NotifyFailures,
            format!("notifier=\"{}\"", esc(name)),
            *n as f64,
        );
    }
    for (t, n) in &r.prune_removed_total {
        m.push(M::Pruned, format!("target=\"{}\"", esc(t)), *n as f64);
    }
    for t in &r.targets {
        let target = format!("target=\"{}\"", esc(&t.target));
        m.flag(M::Up, target.clone(), t.up);
        m.flag(M::Declared, target.clone(), t.declared);
        if let Some(b) = t.free_bytes {
            m.push(M::Free, target, b as f64);
        }
    }
    let mut out = String::new();
    for (key, name, help) in FAMILIES {
        let Some(samples) = m.0.get(key).filter(|s| !s.is_empty()) else {
            continue;
        };
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
    out
}

/// One source's samples: its last success, spool, repairs, readiness, backups per target,
/// its newest backup's copies and verdict, and its last drill.
fn source_samples(m: &mut Samples, r: &CheckReport, s: &crate::policy::check::SourceCheck) {
    let src = format!("source=\"{}\"", esc(&s.status.source));
    let at = s
        .last_success
        .as_ref()
        .map(|b| b.created_at.timestamp() as f64)
        .unwrap_or(0.0);
    m.push(M::LastSuccess, src.clone(), at);
    m.push(M::Pending, src.clone(), s.pending.len() as f64);
    m.push(M::RepairPending, src.clone(), s.repair_pending as f64);
    for i in &s.readiness {
        m.push(
            M::Readiness,
            format!("{src},item=\"{}\"", i.id),
            f64::from(i.status.metric()),
        );
        if let Some(n) = i.count {
            m.push(
                M::ReadinessCount,
                format!("{src},item=\"{}\"", i.id),
                n as f64,
            );
        }
    }
    for (t, n) in &s.history.per_target {
        m.push(
            M::Backups,
            format!("{src},target=\"{}\"", esc(t)),
            *n as f64,
        );
    }
    match &s.newest {
        Some(n) => newest_samples(m, r, &src, n),
        None => {
            m.push(M::Ok, src.clone(), 0.0);
            m.push(M::Copies, src.clone(), 0.0);
        }
    }
    if let Some(d) = &s.drill {
        m.push(M::DrillAt, src.clone(), d.at.timestamp() as f64);
        m.push(M::DrillDuration, src.clone(), d.duration_seconds);
        m.flag(M::DrillOk, src.clone(), d.ok);
    }
    if let Some(d) = &s.standby_drill {
        m.push(M::StandbyAt, src.clone(), d.at.timestamp() as f64);
        if let Some(t) = d.seconds {
            m.push(M::StandbySeconds, src.clone(), t);
        }
        m.flag(M::StandbyOk, src, d.ok);
    }
}

/// The newest backup's size, each target's copy of it, and its verdict.
fn newest_samples(
    m: &mut Samples,
    r: &CheckReport,
    src: &str,
    n: &crate::policy::check::NewestBackup,
) {
    if let Some(b) = n.plain_bytes {
        m.push(M::Size, src.to_string(), b as f64);
    }
    for t in &r.targets {
        let copy = n.copies.iter().find(|c| c.target == t.target);
        let word = match copy.map(|c| &c.state) {
            Some(CopyState::Verified | CopyState::Unsigned) => "verified",
            Some(CopyState::Unreachable { .. }) => "unreachable",
            Some(CopyState::Corrupt { .. }) => "corrupt",
            Some(
                CopyState::Forged { .. } | CopyState::Divergent { .. } | CopyState::Future { .. },
            ) => "forged",
            Some(CopyState::Duplicate { .. }) => "missing",
            Some(CopyState::Missing) => "missing",
            Some(CopyState::Unchecked) => "unchecked",
            None if t.up => "missing",
            None => "unreachable",
        };
        for w in ["verified", "unreachable", "missing", "corrupt", "forged"] {
            m.flag(
                M::State,
                format!("{src},target=\"{}\",state=\"{w}\"", esc(&t.target)),
                w == word,
            );
        }
        m.flag(
            M::Present,
            format!(
                "{src},target=\"{}\",medium=\"{}\",location=\"{}\"",
                esc(&t.target),
                t.medium,
                t.location
            ),
            word == "verified",
        );
    }
    let v = &n.verdict;
    m.flag(M::Ok, src.to_string(), v.ok);
    m.push(M::Copies, src.to_string(), f64::from(v.copies));
    m.push(M::Media, src.to_string(), f64::from(v.media));
    m.push(M::Offsite, src.to_string(), f64::from(v.offsite));
    m.push(M::Immutable, src.to_string(), f64::from(v.immutable));
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_label_values() {
        assert_eq!(super::esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
