//! Nagios / Icinga plugin output, per the monitoring-plugins guidelines: one status line
//! with performance data after `|`, then long output, one line per source and reason.

use std::fmt::Write;

use crate::format::age;
use crate::policy::check::CheckReport;

pub fn render(r: &CheckReport) -> String {
    let mut summary = Vec::new();
    let mut perf = Vec::new();
    let single = r.sources.len() == 1;
    for s in &r.sources {
        status_of(r, s, single, &mut summary, &mut perf);
    }
    // What the check could not read comes first: it is why the status is UNKNOWN.
    let denied = r.denied_targets();
    let first = match denied.len() {
        0 => String::new(),
        1 => format!("permission denied reading target {}; ", denied[0]),
        _ => format!("permission denied reading targets {}; ", denied.join(", ")),
    };
    let mut out = format!(
        "PBX321 {} - {first}{}",
        r.status.label(),
        if summary.is_empty() {
            "no sources".to_string()
        } else {
            summary.join(", ")
        }
    );
    if !perf.is_empty() {
        let _ = write!(out, " | {}", perf.join(" "));
    }
    out.push('\n');
    for note in &r.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for s in &r.sources {
        long_output(&mut out, s, r.checked_at);
    }
    out
}

/// One source's part of the status line, and its performance data.
fn status_of(
    r: &CheckReport,
    s: &crate::policy::check::SourceCheck,
    single: bool,
    summary: &mut Vec<String>,
    perf: &mut Vec<String>,
) {
    let label = |what: &str| {
        if single {
            format!("'{what}'")
        } else {
            format!("'{}_{what}'", s.status.source.replace('\'', ""))
        }
    };
    match &s.newest {
        Some(n) => {
            summary.push(format!(
                "{} {} ({}, {}, {} offsite, {} old)",
                s.status.source,
                s.status.status.label(),
                crate::format::count(n.verdict.copies, "copy", "copies"),
                crate::format::count(n.verdict.media, "medium", "media"),
                n.verdict.offsite,
                age(n.age_seconds)
            ));
            perf.push(format!("{}={};;;0", label("copies"), n.verdict.copies));
            perf.push(format!("{}={};;;0", label("media"), n.verdict.media));
            perf.push(format!("{}={};;;0", label("offsite"), n.verdict.offsite));
            if r.rule.immutable > 0 {
                perf.push(format!(
                    "{}={};;;0",
                    label("immutable"),
                    n.verdict.immutable
                ));
            }
            perf.push(format!(
                "{}={}s;{};{};0",
                label("age"),
                n.age_seconds,
                r.warn_age_seconds,
                r.max_age_seconds
            ));
        }
        None => summary.push(format!(
            "{} {} (no backup)",
            s.status.source,
            s.status.status.label()
        )),
    }
}

/// One source's long output: reasons, pending backups, notes and readiness.
fn long_output(
    out: &mut String,
    s: &crate::policy::check::SourceCheck,
    checked_at: chrono::DateTime<chrono::Utc>,
) {
    for reason in &s.status.reasons {
        let _ = writeln!(out, "{}: {reason}", s.status.source);
    }
    if let Some(d) = &s.standby_drill {
        let ago = (checked_at - d.at).num_seconds().max(0) as u64;
        let _ = writeln!(
            out,
            "{}: standby drill {}",
            s.status.source,
            crate::report::standby_line(d, ago)
        );
    }
    for id in &s.pending {
        let _ = writeln!(
            out,
            "{}: pending in the spool: {id} (the next backup run completes it)",
            s.status.source
        );
    }
    if let Some(n) = &s.newest {
        for note in &n.verdict.notes {
            let _ = writeln!(out, "{}: note: {note}", s.status.source);
        }
        if !n.verdict.declared.is_empty() {
            let _ = writeln!(
                out,
                "{}: media and location declared, not verified: {}",
                s.status.source,
                n.verdict.declared.join(", ")
            );
        }
    }
    for i in s.readiness.iter().filter(|i| {
        i.id != "backups"
            && !matches!(
                i.status,
                crate::policy::readiness::Level::Ok | crate::policy::readiness::Level::Declared
            )
    }) {
        let _ = writeln!(
            out,
            "{}: readiness {} {}: {}",
            s.status.source,
            i.id,
            i.status.word().to_uppercase(),
            i.summary
        );
    }
}
