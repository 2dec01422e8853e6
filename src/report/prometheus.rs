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

struct Family<'a> {
    name: &'a str,
    help: &'a str,
    samples: Vec<(String, f64)>,
}

impl Family<'_> {
    fn kind(&self) -> &'static str {
        if self.name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        }
    }
}

pub fn render(r: &CheckReport) -> String {
    let mut families: Vec<Family> = Vec::new();
    let mut fam = |name: &'static str, help: &'static str| {
        families.push(Family {
            name,
            help,
            samples: Vec::new(),
        });
        families.len() - 1
    };
    let last_success = fam(
        "pbx321_backup_last_success_timestamp_seconds",
        "Creation time of the newest backup that meets the rule within max_age (0: none).",
    );
    let size = fam(
        "pbx321_backup_size_bytes",
        "Size of the newest backup, unsealed.",
    );
    let present = fam(
        "pbx321_copy_present",
        "Whether a target holds a verified copy of the newest backup.",
    );
    let state = fam(
        "pbx321_copy_state",
        "The state of each target's copy of the newest backup (1 for the current state): verified, unreachable (could not be read now; see the reasons for its last verification), missing, corrupt, forged (a signature that does not hold, or a copy that disagrees with the others).",
    );
    let ok = fam(
        "pbx321_invariant_ok",
        "Whether the newest backup meets the rule (copies, media, offsite, immutable).",
    );
    let copies = fam("pbx321_copies", "Verified copies of the newest backup.");
    let media = fam(
        "pbx321_media",
        "Distinct media holding the newest backup, as verified.",
    );
    let offsite = fam(
        "pbx321_offsite_copies",
        "Offsite copies of the newest backup, as verified.",
    );
    let immutable = fam(
        "pbx321_immutable_copies",
        "Copies of the newest backup the store confirms immutable.",
    );
    let up = fam("pbx321_target_up", "Whether the target could be listed.");
    let declared = fam(
        "pbx321_target_declared",
        "1 when the target's medium and location are counted as declared (trust_labels), not verified.",
    );
    let readiness = fam(
        "pbx321_readiness",
        "The response plan's items per source: 0 ok (or declared, or information), 1 warning, 2 critical, 3 unknown.",
    );
    let free = fam(
        "pbx321_target_free_bytes",
        "Free space on the target, where the store tells (local disk, SFTP).",
    );
    let pending = fam(
        "pbx321_spool_pending",
        "Backups sealed in the spool that some target still lacks (the next backup run completes them).",
    );
    let backups = fam(
        "pbx321_backups",
        "Backups of the source whose manifest the target holds (as listed).",
    );
    let repair_pending = fam(
        "pbx321_repair_pending",
        "Copies retention keeps that a reachable target lacks (pbx321 repair, or the next backup, writes them).",
    );
    let pruned = fam(
        "pbx321_prune_removed_total",
        "Copies pbx321 prune removed from the target, over all runs (as remembered in state_dir).",
    );
    let notify_failures = fam(
        "pbx321_notify_failures_total",
        "Notifications not delivered, per notifier, over all runs (as remembered in state_dir).",
    );
    let drill_at = fam(
        "pbx321_drill_last_timestamp_seconds",
        "Time of the last restore drill.",
    );
    let drill_duration = fam(
        "pbx321_drill_last_duration_seconds",
        "Duration of the last restore drill (an estimate of the time to restore).",
    );
    let drill_ok = fam(
        "pbx321_drill_last_ok",
        "Whether the last restore drill succeeded.",
    );

    for s in &r.sources {
        let src = format!("source=\"{}\"", esc(&s.status.source));
        let at = s
            .last_success
            .as_ref()
            .map(|b| b.created_at.timestamp() as f64)
            .unwrap_or(0.0);
        families[last_success].samples.push((src.clone(), at));
        families[pending]
            .samples
            .push((src.clone(), s.pending.len() as f64));
        families[repair_pending]
            .samples
            .push((src.clone(), s.repair_pending as f64));
        for i in &s.readiness {
            families[readiness].samples.push((
                format!("{src},item=\"{}\"", i.id),
                f64::from(i.status.metric()),
            ));
        }
        for (t, n) in &s.history.per_target {
            families[backups]
                .samples
                .push((format!("{src},target=\"{}\"", esc(t)), *n as f64));
        }
        if let Some(n) = &s.newest {
            if let Some(b) = n.plain_bytes {
                families[size].samples.push((src.clone(), b as f64));
            }
            for t in &r.targets {
                let copy = n.copies.iter().find(|c| c.target == t.target);
                let word = match copy.map(|c| &c.state) {
                    Some(CopyState::Verified | CopyState::Unsigned) => "verified",
                    Some(CopyState::Unreachable { .. }) => "unreachable",
                    Some(CopyState::Corrupt { .. }) => "corrupt",
                    Some(
                        CopyState::Forged { .. }
                        | CopyState::Divergent { .. }
                        | CopyState::Future { .. },
                    ) => "forged",
                    Some(CopyState::Duplicate { .. }) => "missing",
                    Some(CopyState::Missing) => "missing",
                    Some(CopyState::Unchecked) => "unchecked",
                    None if t.up => "missing",
                    None => "unreachable",
                };
                for w in ["verified", "unreachable", "missing", "corrupt", "forged"] {
                    families[state].samples.push((
                        format!("{src},target=\"{}\",state=\"{w}\"", esc(&t.target)),
                        f64::from(u8::from(w == word)),
                    ));
                }
                let has = word == "verified";
                families[present].samples.push((
                    format!(
                        "{src},target=\"{}\",medium=\"{}\",location=\"{}\"",
                        esc(&t.target),
                        t.medium,
                        t.location
                    ),
                    f64::from(u8::from(has)),
                ));
            }
            let v = &n.verdict;
            families[ok]
                .samples
                .push((src.clone(), f64::from(u8::from(v.ok))));
            families[copies]
                .samples
                .push((src.clone(), f64::from(v.copies)));
            families[media]
                .samples
                .push((src.clone(), f64::from(v.media)));
            families[offsite]
                .samples
                .push((src.clone(), f64::from(v.offsite)));
            families[immutable]
                .samples
                .push((src.clone(), f64::from(v.immutable)));
        } else {
            families[ok].samples.push((src.clone(), 0.0));
            families[copies].samples.push((src.clone(), 0.0));
        }
        if let Some(d) = &s.drill {
            families[drill_at]
                .samples
                .push((src.clone(), d.at.timestamp() as f64));
            families[drill_duration]
                .samples
                .push((src.clone(), d.duration_seconds));
            families[drill_ok]
                .samples
                .push((src.clone(), f64::from(u8::from(d.ok))));
        }
    }
    for (n_name, n) in &r.notify_failures_total {
        families[notify_failures]
            .samples
            .push((format!("notifier=\"{}\"", esc(n_name)), *n as f64));
    }
    for (t, n) in &r.prune_removed_total {
        families[pruned]
            .samples
            .push((format!("target=\"{}\"", esc(t)), *n as f64));
    }
    for t in &r.targets {
        families[up].samples.push((
            format!("target=\"{}\"", esc(&t.target)),
            f64::from(u8::from(t.up)),
        ));
        families[declared].samples.push((
            format!("target=\"{}\"", esc(&t.target)),
            f64::from(u8::from(t.declared)),
        ));
        if let Some(b) = t.free_bytes {
            families[free]
                .samples
                .push((format!("target=\"{}\"", esc(&t.target)), b as f64));
        }
    }

    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind());
        for (labels, value) in &f.samples {
            let _ = writeln!(out, "{}{{{labels}}} {value}", f.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_label_values() {
        assert_eq!(super::esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
