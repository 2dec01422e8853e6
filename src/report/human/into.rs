//! `restore --into`'s and the standby drill's report for people: each step, then whether
//! the PBX is as the backup recorded it.

use std::fmt::Write;

use crate::format::{bytes, duration};
use crate::manifest::Fingerprint;
use crate::ops::into_pbx::{IntoReport, Step};
use crate::policy::into_pbx::Comparison;

/// `12 users, 2 trunks, 3 outbound rules, 1 group, 0 queues, 2 ring groups`.
pub fn fingerprint(f: &Fingerprint) -> String {
    f.counts()
        .iter()
        .map(|(what, n)| match n {
            1 => format!("1 {}", what.trim_end_matches('s')),
            _ => format!("{n} {what}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `matched`, or each count that differs.
pub fn comparison(c: &Comparison) -> String {
    match c {
        Comparison::Matched => "matches the backup's fingerprint".into(),
        Comparison::NoFingerprint => {
            "the backup recorded no fingerprint: nothing to compare, which proves nothing".into()
        }
        Comparison::Differs { counts, version } => {
            let mut parts: Vec<String> = counts
                .iter()
                .map(|d| {
                    format!(
                        "{} {} in the backup, {} on the PBX",
                        d.what, d.backup, d.pbx
                    )
                })
                .collect();
            if let Some((backup, pbx)) = version {
                parts.push(format!("version {backup} in the backup, {pbx} on the PBX"));
            }
            format!("DIFFERS: {}", parts.join("; "))
        }
    }
}

fn step(s: &Step, dry: bool) -> String {
    let secs = |b: f64| duration(std::time::Duration::from_secs_f64(b));
    match s {
        Step::Chose {
            id,
            bytes: n,
            version,
            pbx_encrypted,
            fingerprint: f,
        } => format!(
            "backup {id}: {}, 3CX {}{}; fingerprint {}",
            bytes(*n),
            version.as_deref().unwrap_or("version not recorded"),
            if *pbx_encrypted {
                ", encrypted by 3CX (backup_password is given to the restore)"
            } else {
                ""
            },
            f.as_ref()
                .map(fingerprint)
                .unwrap_or_else(|| "not recorded".into())
        ),
        Step::VersionAllows { pbx, version } => {
            format!("the PBX at {pbx} runs 3CX {version}: it can take this backup")
        }
        Step::Unseal { id, target: None } => {
            format!(
                "unseal {id} from the first copy that gives it and verify it against its manifest"
            )
        }
        Step::Unseal {
            id,
            target: Some(t),
        } => format!("unsealed {id} from {t}; verified against its manifest"),
        Step::Place { name, via } if dry => format!("place it as {name} in {via}"),
        Step::Place { name, via } => format!("placed {name} in {via}"),
        Step::Listed {
            name,
            bytes: n,
            bound,
        } if dry => format!(
            "wait until the PBX lists {name} at {} (at most {})",
            bytes(*n),
            secs(*bound)
        ),
        Step::Listed { name, bytes: n, .. } => {
            format!("the PBX lists {name} at {}", bytes(*n))
        }
        Step::Extras { .. } if dry => {
            "read GetBackupExtras: check its version again, take its footprint".into()
        }
        Step::Extras {
            version,
            footprint,
            encrypted,
        } => format!(
            "GetBackupExtras: version {}, footprint {}{}",
            version.as_deref().unwrap_or("unknown"),
            footprint.map(|f| f.to_string()).unwrap_or_default(),
            if *encrypted { ", encrypted" } else { "" }
        ),
        Step::Restore { name } if dry => format!("call Pbx.Restore for {name}"),
        Step::Restore { name } => format!("Pbx.Restore accepted {name}; the PBX restarts"),
        Step::Answered { bound, .. } if dry => format!(
            "wait through the restart (at most {}), then compare the PBX with the fingerprint",
            secs(*bound)
        ),
        Step::Answered {
            version,
            comparison: c,
            ..
        } => format!(
            "the PBX answers again as 3CX {}: {}",
            version.as_deref().unwrap_or("?"),
            c.as_ref().map(comparison).unwrap_or_default()
        ),
        Step::Remove { name } if dry => format!("remove {name} from the repository"),
        Step::Remove { name } => format!("removed {name} from the repository"),
        Step::Keep { name } => format!("{name} is left in the repository (--keep)"),
    }
}

pub fn into_pbx(r: &IntoReport) -> String {
    let mut s = String::new();
    let what = if r.standby {
        "standby drill"
    } else {
        "restore into 3CX"
    };
    if r.dry_run {
        let _ = writeln!(s, "{what}, dry run: nothing is changed. The steps:");
    }
    for (i, st) in r.steps.iter().enumerate() {
        let _ = writeln!(s, "{:>2}. {}", i + 1, step(st, r.dry_run));
    }
    if r.dry_run {
        return s;
    }
    let verdict = match &r.comparison {
        Some(c) if c.matched() => format!(
            "{what}: {} is back at the backup's fingerprint ({})",
            r.pbx,
            r.seconds_to_answer
                .map(|t| format!("answering {t:.0} s after the start"))
                .unwrap_or_default()
        ),
        Some(c) => format!("{what}: FAILED — the PBX {}", comparison(c)),
        None => format!("{what}: not finished"),
    };
    let _ = writeln!(s, "{verdict}");
    s
}

/// `drill --standby`: one line per source, then the steps of a failed one.
pub fn standby_drills(r: &crate::ops::drill::StandbyReport) -> String {
    let mut s = String::new();
    for d in &r.drills {
        let f = &d.fact;
        if f.ok {
            let _ = writeln!(
                s,
                "standby drill of {}: OK — {} restored into {}, answering again after {}, fingerprint matched",
                d.source,
                f.id,
                f.pbx,
                f.seconds
                    .map(|t| duration(std::time::Duration::from_secs_f64(t)))
                    .unwrap_or_else(|| "?".into())
            );
            continue;
        }
        let why = match (&f.error, &d.report) {
            (Some(e), _) => e.clone(),
            (None, Some(r)) => r.comparison.as_ref().map(comparison).unwrap_or_default(),
            (None, None) => "failed".into(),
        };
        let _ = writeln!(
            s,
            "standby drill of {}: FAILED — {} into {}: {why}",
            d.source,
            if f.id.is_empty() { "no backup" } else { &f.id },
            f.pbx
        );
        if let Some(r) = &d.report {
            for line in into_pbx(r).lines() {
                let _ = writeln!(s, "  {line}");
            }
        }
    }
    s
}
