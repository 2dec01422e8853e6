//! Plain-text output for people.

use std::fmt::Write;

use crate::catalog::CopyState;
use crate::config::{Config, SourceKind, TargetKind};
use crate::fanout::Outcome;
use crate::format::{age, bytes, count};
use crate::ops::config_check::Summary;
use crate::ops::list::ListReport;
use crate::ops::restore::RestoreReport;
use crate::outcome::{BackupReport, RunResult};
use crate::policy::check::CheckReport;
use crate::policy::{Rule, Verdict};

pub fn backup(r: &BackupReport) -> String {
    let mut s = String::new();
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
    for run in &r.sources {
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
    s
}

/// `3-2-1 OK — 3 copies, 2 media, 1 offsite (declared, not verified: usb)`: the rule as
/// configured, and what the copies add up to.
pub fn verdict_counts(v: &Verdict, rule: &Rule) -> String {
    verdict_line(v, rule)
}

fn verdict_line(v: &Verdict, rule: &Rule) -> String {
    let mut name = format!("{}-{}-{}", rule.copies, rule.media, rule.offsite);
    if rule.immutable > 0 {
        name.push_str(&format!("-{}", rule.immutable));
    }
    let mut line = format!(
        "{name} {} — {}, {}, {} offsite",
        if v.ok { "OK" } else { "RULE NOT MET" },
        count(v.copies, "copy", "copies"),
        count(v.media, "medium", "media"),
        v.offsite
    );
    if v.immutable > 0 || rule.immutable > 0 {
        line.push_str(&format!(", {} immutable", v.immutable));
    }
    if !v.declared.is_empty() {
        line.push_str(&format!(
            " (media and location declared, not verified: {})",
            v.declared.join(", ")
        ));
    }
    line
}

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
    let denied: Vec<&str> = r
        .targets
        .iter()
        .filter(|t| t.denied)
        .map(|t| t.target.as_str())
        .collect();
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
    for src in &r.sources {
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
            readiness_lines(&mut s, src);
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
        let Some(n) = &src.newest else { continue };
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

pub fn list(r: &ListReport) -> String {
    let mut s = String::new();
    if r.backups.is_empty() {
        s.push_str("no backups on any target\n");
    } else {
        let _ = writeln!(
            s,
            "{:<12} {:<28} {:<20} {:>10}  copies",
            "source", "backup", "made (UTC)", "size"
        );
    }
    for b in &r.backups {
        let size = b
            .manifest
            .as_ref()
            .map(|m| bytes(m.plain.bytes))
            .unwrap_or_else(|| "?".into());
        let copies: Vec<String> = b
            .copies
            .iter()
            .map(|c| match &c.state {
                CopyState::Verified => c.target.clone(),
                CopyState::Unsigned => format!("{} (unsigned)", c.target),
                CopyState::Missing => format!("{} (MISSING)", c.target),
                CopyState::Corrupt { .. } => format!("{} (CORRUPT)", c.target),
                CopyState::Forged { .. } => format!("{} (FORGED)", c.target),
                CopyState::Divergent { .. } => format!("{} (DIVERGENT)", c.target),
                CopyState::Future { .. } => format!("{} (FUTURE)", c.target),
                CopyState::Duplicate { of } => format!("{} (SAME FILE AS {of})", c.target),
                CopyState::Unreachable { .. } => format!("{} (UNREACHABLE)", c.target),
                CopyState::Unchecked => format!("{} (unchecked)", c.target),
            })
            .collect();
        let _ = writeln!(
            s,
            "{:<12} {:<28} {:<20} {:>10}  {}",
            b.source,
            b.id,
            b.created_at.format("%Y-%m-%d %H:%M:%S"),
            size,
            copies.join(", ")
        );
    }
    for u in &r.unreachable {
        let _ = writeln!(s, "target {} is unreachable: {}", u.target, u.error);
    }
    s
}

pub fn restore(r: &RestoreReport) -> String {
    let mut s = String::new();
    for a in &r.failed {
        let _ = writeln!(s, "{}: could not restore: {}", a.target, a.error);
    }
    let _ = writeln!(
        s,
        "restored {} ({}, originally {}) from {} to {}\nsha256 {} verified",
        r.id,
        bytes(r.bytes),
        r.origin_name,
        r.target,
        r.to.display(),
        r.sha256
    );
    s
}

/// `config check`'s summary; `missing` are secrets and files the config refers to that
/// this machine cannot provide, errors when `fatal`, warnings otherwise.
pub fn config(c: &Config, summary: &Summary) -> String {
    let (missing, fatal) = (&summary.missing, !summary.ok);
    let mut s = String::new();
    let p = &c.policy;
    // With --online the verdict waits for the probes: it is said once, at the end.
    let _ = match (&summary.online, fatal) {
        (_, true) => writeln!(s, "{}: problems", c.path.display()),
        (Some(_), false) => writeln!(s, "{}:", c.path.display()),
        (None, false) => writeln!(s, "{}: OK", c.path.display()),
    };
    for m in missing {
        let at = match m.line {
            Some(l) => format!("{}:{l}", m.file.display()),
            None => m.file.display().to_string(),
        };
        let _ = writeln!(
            s,
            "{} {at}: {}: {}",
            if fatal { "error:" } else { "warning:" },
            m.what,
            m.error
        );
    }
    for same in &summary.same_directory {
        let _ = writeln!(s, "warning: {same}");
    }
    let _ = writeln!(s, "state_dir: {}", c.state_dir.display());
    match &c.signing {
        Some(sg) => {
            let _ = writeln!(
                s,
                "signing: manifests signed with {}; {} more trusted key(s){}",
                sg.key.display(),
                sg.trusted.len(),
                sg.accept_unsigned_before
                    .map(|t| format!("; unsigned backups before {t} still count"))
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(
                s,
                "warning: no [signing]: copies are not tamper-evident (anyone who can write to a target can plant a backup); make a key with `pbx321 keygen --signing-key FILE` (docs/security.md)"
            );
        }
    }
    match &c.encryption {
        Some(e) => {
            let _ = writeln!(
                s,
                "encryption: age to {} recipient(s){}",
                e.recipients.len(),
                e.recipients_file
                    .as_ref()
                    .map(|f| format!(" + those in {}", f.display()))
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(
                s,
                "encryption: none (this config can restore and list, not back up)"
            );
        }
    }
    let _ = writeln!(
        s,
        "policy: {} copies, {} media, {} offsite, {} immutable; warn after {}, critical after {}",
        p.copies,
        p.media,
        p.offsite,
        p.immutable,
        age(p.warn_age.as_secs()),
        age(p.max_age.as_secs())
    );
    let _ = writeln!(
        s,
        "retention: {}; repair after backup: {}",
        if c.retention.rules.keeps_all() {
            "no rules, every backup is kept".to_string()
        } else {
            format!(
                "{} (days in {}; `pbx321 prune --dry-run` shows what goes)",
                c.retention.rules.describe(),
                c.retention.zone.name()
            )
        },
        match c.repair {
            crate::config::RepairMode::AfterBackup => "on",
            crate::config::RepairMode::Off => "off",
        }
    );
    for (what, rules) in c
        .sources
        .iter()
        .filter_map(|x| Some((format!("source {}", x.name), x.retention.as_ref()?)))
        .chain(
            c.targets
                .iter()
                .filter_map(|x| Some((format!("target {}", x.name), x.retention.as_ref()?))),
        )
    {
        let _ = writeln!(s, "retention of {what}: {}", rules.describe());
    }
    for src in &c.sources {
        match &src.kind {
            SourceKind::ThreeCx(t) => {
                let _ = writeln!(
                    s,
                    "source {}: 3CX {} (client {}, mode {:?})",
                    src.name, t.url, t.client_id, t.mode
                );
            }
            SourceKind::ThreeCxV18(t) => {
                let _ = writeln!(
                    s,
                    "source {}: 3CX V18 {} (user {}, mode {:?})",
                    src.name, t.url, t.username, t.mode
                );
            }
            SourceKind::Command(c) => {
                let _ = writeln!(
                    s,
                    "source {}: command {} (writes {}, timeout {})",
                    src.name,
                    c.command.join(" "),
                    c.file.display(),
                    age(c.timeout.as_secs())
                );
            }
            SourceKind::Folder(f) => {
                let _ = writeln!(
                    s,
                    "source {}: folder {} ({})",
                    src.name,
                    f.path.display(),
                    f.pattern
                );
            }
        }
    }
    for t in &c.targets {
        let place = match &t.kind {
            TargetKind::Fs(f) => format!(
                "{}{}",
                f.path.display(),
                if f.require_mount {
                    " (require_mount)"
                } else {
                    ""
                }
            ),
            TargetKind::Sftp(s) => format!("{}{}", s.endpoint, s.path),
            TargetKind::Webdav(w) => format!("{}{}", w.endpoint, w.path),
            TargetKind::S3(s) => format!(
                "s3://{}/{}{}{}",
                s.bucket,
                s.prefix,
                s.endpoint
                    .as_ref()
                    .map(|e| format!(" at {e}"))
                    .unwrap_or_default(),
                s.object_lock
                    .as_ref()
                    .map(|l| format!(" (Object Lock {:?}, {} days)", l.mode, l.days))
                    .unwrap_or_default()
            ),
        };
        let _ = writeln!(
            s,
            "target {}: {} {place} — {}, {}{}",
            t.name,
            t.kind.type_name(),
            t.medium,
            t.location,
            if t.trust_labels {
                " (trust_labels: declared, not verified)"
            } else {
                ""
            }
        );
    }
    if let Some(v) = &summary.counting {
        let _ = writeln!(
            s,
            "counting: with a copy on every target: {} — {}, {}, {} offsite{}",
            if v.ok {
                "the rule is met"
            } else {
                "the rule CANNOT be met"
            },
            count(v.copies, "copy", "copies"),
            count(v.media, "medium", "media"),
            v.offsite,
            if c.policy.immutable > 0 {
                format!(", {} immutable", v.immutable)
            } else {
                String::new()
            }
        );
        for line in v.notes.iter().chain(&v.reasons) {
            let _ = writeln!(s, "  {line}");
        }
        if !v.declared.is_empty() {
            let _ = writeln!(
                s,
                "  counted as declared, not verified (trust_labels): {}",
                v.declared.join(", ")
            );
        }
    }
    if let Some(probes) = &summary.online {
        let _ = writeln!(s, "online:");
        for p in probes {
            let _ = writeln!(
                s,
                "  {:<24} {} ({:.1}s): {}",
                p.what,
                if p.ok { "ok" } else { "FAILED" },
                p.seconds,
                p.detail
            );
        }
        let failed = probes.iter().filter(|p| !p.ok).count();
        let _ = if failed == 0 {
            writeln!(
                s,
                "verdict: OK — the config reads, and every source and target answered"
            )
        } else {
            writeln!(
                s,
                "verdict: FAILED — {failed} of {} sources and targets did not work (above)",
                probes.len()
            )
        };
    }
    s
}

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
