//! `repair`'s report for people: what was refilled, from where, and what is still pending.

use std::fmt::Write;

use crate::format::bytes;

/// `repair`: per source, each copy repaired (or not) and from where.
pub fn repair(r: &crate::outcome::RepairReport) -> String {
    use crate::outcome::RepairOutcome;
    let mut s = String::new();
    if r.dry_run {
        let _ = writeln!(s, "dry run: nothing is written");
    }
    for u in &r.unreachable {
        let _ = writeln!(
            s,
            "target {} could not be listed ({}): nothing repaired there",
            u.target, u.error
        );
    }
    for src in &r.sources {
        if src.repairs.is_empty() {
            let _ = writeln!(
                s,
                "{}: every kept backup has a verified copy on every target that keeps it{}",
                src.source,
                if r.deep { " (read back)" } else { "" }
            );
            continue;
        }
        let _ = writeln!(s, "{}:", src.source);
        for rep in &src.repairs {
            let from = rep.from.as_deref().unwrap_or("-");
            let line = match &rep.outcome {
                RepairOutcome::Repaired { bytes: n, seconds } => format!(
                    "repaired  {} on {} ({}) from {from}: {} in {seconds:.1}s",
                    rep.id,
                    rep.target,
                    rep.was,
                    bytes(*n)
                ),
                RepairOutcome::WouldRepair => format!(
                    "would repair {} on {} ({}) from {from}",
                    rep.id, rep.target, rep.was
                ),
                RepairOutcome::Failed { error } => format!(
                    "FAILED    {} on {} ({}): {error}",
                    rep.id, rep.target, rep.was
                ),
                RepairOutcome::Skipped { why } => format!(
                    "skipped   {} on {} ({}): {why}",
                    rep.id, rep.target, rep.was
                ),
            };
            let _ = writeln!(s, "  {line}");
        }
        if src.pending > 0 && !r.dry_run {
            let _ = writeln!(s, "  {} copies still to repair", src.pending);
        }
    }
    s
}
