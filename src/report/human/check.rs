//! `check`'s and `plan`'s reports for people: every source's status, its copies and its
//! readiness.

use std::fmt::Write;

use crate::catalog::CopyState;
use crate::format::{age, count};
use crate::policy::check::CheckReport;

use super::verdict_line;

/// The readiness items of every source (`pbx321 plan`).
pub fn readiness(r: &CheckReport) -> String {
    let mut s = String::new();
    for src in &r.sources {
        let _ = writeln!(
            s,
            "{}: backups {}",
            src.status.source,
            src.status.status.label()
        );
        readiness_lines(&mut s, src);
        s.push('\n');
    }
    s
}

fn readiness_lines(s: &mut String, src: &crate::policy::check::SourceCheck) {
    for i in &src.readiness {
        let _ = writeln!(
            s,
            "  {} {:<9} {:<21} {}",
            i.status.icon(),
            i.status.word(),
            i.id,
            i.summary
        );
        if !i.fix.is_empty() {
            let _ = writeln!(s, "{:35}→ {}", "", i.fix);
        }
    }
}

pub fn check(r: &CheckReport) -> String {
    let mut s = String::new();
    headline(&mut s, r);
    for src in &r.sources {
        source(&mut s, r, src);
        if let Some(n) = &src.newest {
            newest(&mut s, r, n);
        }
    }
    for t in r.targets.iter().filter(|t| !t.up) {
        let _ = writeln!(
            s,
            "\ntarget {} is unreachable: {}",
            t.target,
            t.error.as_deref().unwrap_or("")
        );
    }
    s
}

/// The verdict with the rule, and the check's notes.
fn headline(s: &mut String, r: &CheckReport) {
    let denied = r.denied_targets();
    let _ = writeln!(
        s,
        "pbx321 check{}: {}{} (rule: {}, {}, {} offsite{}; max age {})",
        if r.deep { " --deep" } else { "" },
        r.status.label(),
        if denied.is_empty() {
            String::new()
        } else {
            format!(
                " — permission denied reading target{} {}",
                if denied.len() == 1 { "" } else { "s" },
                denied.join(", ")
            )
        },
        count(r.rule.copies, "copy", "copies"),
        count(r.rule.media, "medium", "media"),
        r.rule.offsite,
        if r.rule.immutable > 0 {
            format!(", {} immutable", r.rule.immutable)
        } else {
            String::new()
        },
        age(r.max_age_seconds)
    );
    for note in &r.notes {
        let _ = writeln!(s, "note: {note}");
    }
}

/// One source: its status and reasons, drill, spool, history, readiness and repairs.
fn source(s: &mut String, r: &CheckReport, src: &crate::policy::check::SourceCheck) {
    let _ = writeln!(s, "\n{}: {}", src.status.source, src.status.status.label());
    for reason in &src.status.reasons {
        let _ = writeln!(s, "  ! {reason}");
    }
    if let Some(d) = &src.drill {
        let ago = (r.checked_at - d.at).num_seconds().max(0) as u64;
        let _ = writeln!(
            s,
            "  last restore drill: {} ({} from {}, {} ago, took {:.1}s){}",
            if d.ok { "ok" } else { "FAILED" },
            d.id,
            d.target,
            age(ago),
            d.duration_seconds,
            d.error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    if let Some(d) = &src.standby_drill {
        let ago = (r.checked_at - d.at).num_seconds().max(0) as u64;
        let _ = writeln!(
            s,
            "  last standby drill: {}",
            crate::report::standby_line(d, ago)
        );
    }
    for id in &src.pending {
        let _ = writeln!(
            s,
            "  pending in the spool: {id} (a target lacks its copy; the next `pbx321 backup` completes it)"
        );
    }
    let h = &src.history;
    if let (Some(o), Some(n)) = (&h.oldest, &h.newest) {
        let _ = writeln!(
            s,
            "  {} on the targets, oldest {} ({} old), newest {}",
            count(h.backups as u32, "backup", "backups"),
            o.id,
            age((r.checked_at - o.created_at).num_seconds().max(0) as u64),
            n.id
        );
    }
    if !src.readiness.is_empty() {
        let _ = writeln!(s, "  readiness:");
        readiness_lines(s, src);
    }
    if src.repair_pending > 0 {
        let _ = writeln!(
            s,
            "  repair pending: {} that retention keeps (run `pbx321 repair`; `backup` repairs after itself unless repair = \"off\")",
            count(
                src.repair_pending as u32,
                "copy is missing",
                "copies are missing"
            )
        );
    }
}

/// The newest backup's verdict and each target's copy of it.
fn newest(s: &mut String, r: &CheckReport, n: &crate::policy::check::NewestBackup) {
    let _ = writeln!(
        s,
        "  newest {} ({} old): {}",
        n.id,
        age(n.age_seconds),
        verdict_line(&n.verdict, &r.rule)
    );
    for note in &n.verdict.notes {
        let _ = writeln!(s, "  note: {note}");
    }
    let _ = writeln!(
        s,
        "  {:<16} {:<15} {:<8} state",
        "target", "medium", "location"
    );
    for c in &n.copies {
        let state = copy_state(&c.state, r.checked_at);
        let declared = if c.declared {
            " (declared, not verified)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  {:<16} {:<15} {:<8} {state}{declared}",
            c.target,
            c.medium.to_string(),
            c.location.to_string()
        );
    }
}

/// A copy's state in words: "ok", "CORRUPT: …", "UNREACHABLE (last verified 14m ago): …".
fn copy_state(state: &CopyState, now: chrono::DateTime<chrono::Utc>) -> String {
    match state {
        CopyState::Verified => "ok".to_string(),
        CopyState::Unsigned => "ok, UNSIGNED (from before signing)".to_string(),
        CopyState::Missing => "MISSING".to_string(),
        CopyState::Corrupt { why } => format!("CORRUPT: {why}"),
        CopyState::Forged { why } => format!("FORGED OR DAMAGED: {why}"),
        CopyState::Divergent { why } => format!("DIVERGENT: {why}"),
        CopyState::Future { dated } => format!(
            "IN THE FUTURE (dated {}): not a backup",
            dated.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        CopyState::Duplicate { of } => {
            format!("DUPLICATE: the same file as the copy on {of} (counted once)")
        }
        // The error is in the reasons and under "target … is unreachable".
        CopyState::Unreachable { last_verified, .. } => format!(
            "UNREACHABLE ({})",
            match last_verified {
                Some(t) => format!(
                    "last verified {} ago",
                    age((now - *t).num_seconds().max(0) as u64)
                ),
                None => "never verified".into(),
            }
        ),
        CopyState::Unchecked => "unchecked".to_string(),
    }
}
