//! `backup`'s report for people: per source, what was stored where, and the verdict.

use std::fmt::Write;

use crate::fanout::Outcome;
use crate::format::bytes;
use crate::outcome::{BackupReport, RunResult};

use super::verdict_line;

pub fn backup(r: &BackupReport) -> String {
    let mut s = String::new();
    repaired(&mut s, r);
    housekeeping(&mut s, r);
    for run in &r.sources {
        source_run(&mut s, r, run);
    }
    s
}

/// What the repair after the backup did.
fn repaired(s: &mut String, r: &BackupReport) {
    if let Some(rep) = &r.repair {
        use crate::outcome::RepairOutcome;
        for src in &rep.sources {
            for x in &src.repairs {
                let _ = match &x.outcome {
                    RepairOutcome::Repaired { .. } => writeln!(
                        s,
                        "repaired {} on {} ({}) from {}",
                        x.id,
                        x.target,
                        x.was,
                        x.from.as_deref().unwrap_or("-")
                    ),
                    RepairOutcome::Failed { error } => {
                        writeln!(s, "could not repair {} on {}: {error}", x.id, x.target)
                    }
                    RepairOutcome::Skipped { why } => {
                        writeln!(s, "not repaired: {} on {}: {why}", x.id, x.target)
                    }
                    RepairOutcome::WouldRepair => Ok(()),
                };
            }
        }
    }
}

/// Leftovers removed, pending backups dropped or completed.
fn housekeeping(s: &mut String, r: &BackupReport) {
    for l in &r.cleaned {
        let _ = writeln!(
            s,
            "removed leftover of an interrupted run: {}:{}",
            l.target, l.path
        );
    }
    for id in &r.dropped {
        let _ = writeln!(
            s,
            "dropped {id} from the spool (spool_max): targets that lack it keep lacking it"
        );
    }
    for p in &r.completed {
        let written: Vec<&str> = p
            .targets
            .iter()
            .filter(|t| matches!(t.outcome, Outcome::Written { .. }))
            .map(|t| t.target.as_str())
            .collect();
        let failed: Vec<String> = p
            .targets
            .iter()
            .filter_map(|t| match &t.outcome {
                Outcome::Failed { error } | Outcome::Conflict { error } => {
                    Some(format!("{}: {error}", t.target))
                }
                _ => None,
            })
            .collect();
        let _ = writeln!(
            s,
            "{}: pending {} {}{}",
            p.source,
            p.id,
            if p.spool_removed {
                "complete".to_string()
            } else {
                "still pending".to_string()
            },
            if written.is_empty() {
                String::new()
            } else {
                format!(" (written to {})", written.join(", "))
            }
        );
        for f in failed {
            let _ = writeln!(s, "  FAILED {f}");
        }
    }
}

/// One source's run: what was stored, where, and the verdict.
fn source_run(s: &mut String, r: &BackupReport, run: &crate::outcome::SourceRun) {
    match &run.result {
        RunResult::Failed { error } => {
            let _ = writeln!(s, "{}: FAILED: {error}", run.source);
        }
        RunResult::Stored {
            id,
            already_stored,
            origin,
            plain_bytes,
            sealed_bytes,
            targets,
            verdict,
            id_conflicts,
            first_copy_seconds,
        } => {
            let what = if *already_stored {
                "already stored as"
            } else {
                "backed up as"
            };
            let _ = writeln!(
                s,
                "{}: {} ({}) {what} {id} ({} sealed)",
                run.source,
                origin.name,
                bytes(*plain_bytes),
                bytes(*sealed_bytes)
            );
            if let Some(t) = first_copy_seconds {
                let _ = writeln!(s, "  first copy committed {t:.1}s after the start");
            }
            if *id_conflicts > 0 {
                let _ = writeln!(
                    s,
                    "  another pbx321 wrote the same backup id to a shared target: this backup took a new id ({id_conflicts}×)"
                );
            }
            for t in targets {
                let line = match &t.outcome {
                    Outcome::Written { seconds, .. } => {
                        format!("written and verified in {seconds:.1}s")
                    }
                    Outcome::Present => "present".to_string(),
                    Outcome::Failed { error } | Outcome::Conflict { error } => {
                        format!("FAILED: {error}")
                    }
                };
                let _ = writeln!(s, "  {:<16} {line}", t.target);
            }
            let _ = writeln!(s, "  verdict: {}", verdict_line(verdict, &r.rule));
            for reason in &verdict.reasons {
                let _ = writeln!(s, "    - {reason}");
            }
            for note in &verdict.notes {
                let _ = writeln!(s, "    note: {note}");
            }
        }
    }
    for w in &run.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
}
