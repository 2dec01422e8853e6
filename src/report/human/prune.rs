//! `prune`'s report for people: what each target keeps and removes, and why.

use std::fmt::Write;

/// `prune`: per source and target, what is removed, kept and skipped, and why.
pub fn prune(r: &crate::ops::prune::PruneReport) -> String {
    use crate::policy::retention::Action;
    let mut s = String::new();
    if r.dry_run {
        let _ = writeln!(s, "dry run: nothing is removed");
    }
    for why in &r.refused {
        let _ = writeln!(s, "PRUNE REFUSED: {why}");
    }
    for u in &r.unreachable {
        let _ = writeln!(
            s,
            "target {} could not be listed ({}): nothing removed there",
            u.target, u.error
        );
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
    for src in &r.sources {
        let _ = writeln!(
            s,
            "{}: newest {}, newest meeting the rule {} (days counted in {})",
            src.source,
            src.plan.newest.as_deref().unwrap_or("none"),
            src.plan.newest_compliant.as_deref().unwrap_or("none"),
            r.zone
        );
        for t in &src.plan.targets {
            let removed = t.removals().count();
            let kept = t
                .copies
                .iter()
                .filter(|c| matches!(c.action, Action::Keep { .. }))
                .count();
            let skipped = t.copies.len() - removed - kept;
            let _ = writeln!(
                s,
                "  {:<16} {}: {verb} {removed}, kept {kept}{}",
                t.target,
                t.rules,
                if skipped > 0 {
                    format!(", skipped {skipped}")
                } else {
                    String::new()
                }
            );
            if let Some(why) = &t.not_pruned {
                let _ = writeln!(s, "    not pruned: {why}");
            }
            for c in &t.copies {
                let failed = src
                    .failed
                    .iter()
                    .find(|f| f.target == t.target && f.id == c.id);
                let line = match (&c.action, failed) {
                    (_, Some(f)) => format!("FAILED {}  {}", c.id, f.error),
                    (Action::Keep { reasons }, _) => format!(
                        "keep   {}  {}",
                        c.id,
                        reasons
                            .iter()
                            .map(|r| r.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    (Action::Remove { why }, _) => {
                        format!(
                            "{}  {}  {why}",
                            if r.dry_run { "remove" } else { "removed" },
                            c.id
                        )
                    }
                    (Action::Skip { why }, _) => format!("skip   {}  {why}", c.id),
                };
                let _ = writeln!(s, "    {line}");
            }
        }
    }
    for l in &r.leftovers {
        let what = if l.path.is_empty() {
            l.what.to_string()
        } else {
            format!("{} {}", l.what, l.path)
        };
        match &l.error {
            None => {
                let _ = writeln!(s, "{verb} leftover on {}: {what}", l.target);
            }
            Some(e) => {
                let _ = writeln!(s, "could not remove leftover on {}: {what}: {e}", l.target);
            }
        }
    }
    s
}
