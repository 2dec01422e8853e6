//! `config check`'s summary for people: what the config says and what is wrong with it.

use std::fmt::Write;

use crate::config::{Config, SourceKind, TargetKind};
use crate::format::{age, count};
use crate::ops::config_check::Summary;

/// `config check`'s summary; `missing` are secrets and files the config refers to that
/// this machine cannot provide, errors when `fatal`, warnings otherwise.
pub fn config(c: &Config, summary: &Summary) -> String {
    let mut s = String::new();
    problems(&mut s, c, summary);
    settings(&mut s, c);
    sources(&mut s, c);
    targets(&mut s, c);
    counting(&mut s, c, summary);
    online(&mut s, summary);
    s
}

/// The first line (the verdict, unless `--online` says it at the end) and every problem.
fn problems(s: &mut String, c: &Config, summary: &Summary) {
    let (missing, fatal) = (&summary.missing, !summary.ok);
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
}

/// State, signing, encryption, policy and retention.
fn settings(s: &mut String, c: &Config) {
    let p = &c.policy;
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
}

/// One line per source.
fn sources(s: &mut String, c: &Config) {
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
}

/// One line per target: where, what medium, where it stands.
fn targets(s: &mut String, c: &Config) {
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
}

/// What the copies add up to with a copy on every target.
fn counting(s: &mut String, c: &Config, summary: &Summary) {
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
}

/// `--online`: every probe, and the verdict.
fn online(s: &mut String, summary: &Summary) {
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
}
