//! The status page a person opens in a browser (`/` of the daemon): server-rendered HTML
//! from the last scheduled check, an askama template compiled into the binary, CSS inline,
//! no JavaScript. Status is said in words and icons, never by colour alone.

use std::collections::BTreeMap;

use askama::Template;
use chrono::{DateTime, Utc};

use super::age;
use crate::catalog::CopyState;
use crate::config::Zone;
use crate::policy::Status;
use crate::policy::check::CheckReport;
use crate::policy::schedule::local_text;

#[derive(Template)]
#[template(path = "status.html")]
pub struct Page {
    banner: String,
    banner_class: &'static str,
    banner_icon: &'static str,
    rule: String,
    checked: String,
    zone: String,
    empty: String,
    sources: Vec<SourceRow>,
    targets: Vec<TargetRow>,
}

/// A cell per target: the state of its copy of `n`.
fn cells_of(
    r: &CheckReport,
    n: &crate::policy::check::NewestBackup,
    now: DateTime<Utc>,
    time: &dyn Fn(DateTime<Utc>) -> String,
) -> Vec<Cell> {
    r.targets
        .iter()
        .map(|t| {
            let copy = n.copies.iter().find(|c| c.target == t.target);
            let (text, icon, class) = match copy.map(|c| &c.state) {
                Some(CopyState::Verified) => match copy.and_then(|c| c.locked_until) {
                    Some(u) if u > now => (
                        format!("verified, locked until {}", time(u)),
                        "✔",
                        "verified",
                    ),
                    _ => ("verified".to_string(), "✔", "verified"),
                },
                Some(CopyState::Unsigned) => {
                    ("unsigned (from before signing)".into(), "▲", "unsigned")
                }
                Some(CopyState::Missing) | None if t.up => ("missing".into(), "✖", "missing"),
                Some(CopyState::Corrupt { why }) => (format!("corrupt: {why}"), "✖", "corrupt"),
                Some(CopyState::Forged { why }) | Some(CopyState::Divergent { why }) => {
                    (format!("forged: {why}"), "✖", "forged")
                }
                Some(CopyState::Unreachable { .. }) | None | Some(CopyState::Missing) => {
                    ("cannot be read now".into(), "▲", "unreachable")
                }
                Some(CopyState::Unchecked) => ("not checked".into(), "?", "unreachable"),
            };
            Cell {
                target: t.target.clone(),
                text,
                icon,
                class,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "source.html")]
pub struct SourcePage {
    name: String,
    word: &'static str,
    icon: &'static str,
    class: &'static str,
    reasons: Vec<String>,
    checked: String,
    zone: String,
    newest: String,
    cells: Vec<Cell>,
    commands: String,
    stock: String,
}

struct SourceRow {
    name: String,
    word: &'static str,
    icon: &'static str,
    class: &'static str,
    reasons: Vec<String>,
    newest: String,
    newest_id: String,
    compliant: String,
    counts: String,
    drill: String,
    next_run: String,
    cells: Vec<Cell>,
}

struct Cell {
    target: String,
    text: String,
    icon: &'static str,
    class: &'static str,
}

struct TargetRow {
    name: String,
    medium: String,
    location: String,
    state: String,
    class: &'static str,
}

fn look(s: Status) -> (&'static str, &'static str, &'static str) {
    match s {
        Status::Ok => ("OK", "✔", "ok"),
        Status::Warning => ("WARNING", "▲", "warning"),
        Status::Critical => ("CRITICAL", "✖", "critical"),
        Status::Unknown => ("UNKNOWN", "?", "unknown"),
    }
}

/// The page for `report` (none yet: a page that says so), with each job's next run.
pub fn render(
    report: Option<&CheckReport>,
    next: &BTreeMap<String, DateTime<Utc>>,
    zone: &Zone,
    now: DateTime<Utc>,
) -> String {
    let time = |t: DateTime<Utc>| {
        let s = local_text(t, zone);
        s.replace('T', " ")
    };
    let Some(r) = report else {
        return Page {
            banner: "no check has run yet".into(),
            banner_class: "unknown",
            banner_icon: "?",
            rule: String::new(),
            checked: "never".into(),
            zone: zone.name(),
            empty: "The page shows the last scheduled check: add [schedule] check = \"*/15 * * * *\" to the config (see docs/scheduling.md).".into(),
            sources: vec![],
            targets: vec![],
        }
        .render()
        .unwrap_or_else(|e| format!("template error: {e}"));
    };
    let count = |want: Status| r.sources.iter().filter(|s| s.status.status == want).count();
    let (_, banner_icon, banner_class) = look(r.status);
    let banner = if r.status == Status::Ok {
        format!(
            "all OK ({})",
            crate::policy::count(r.sources.len() as u32, "source", "sources")
        )
    } else {
        [
            Status::Critical,
            Status::Unknown,
            Status::Warning,
            Status::Ok,
        ]
        .iter()
        .filter(|s| count(**s) > 0)
        .map(|s| format!("{} {}", count(*s), look(*s).0))
        .collect::<Vec<_>>()
        .join(", ")
    };
    let rule = &r.rule;
    let sources = r
        .sources
        .iter()
        .map(|s| {
            let (word, icon, class) = look(s.status.status);
            let newest = s.newest.as_ref();
            let cells = newest
                .map(|n| cells_of(r, n, now, &time))
                .unwrap_or_default();
            SourceRow {
                name: s.status.source.clone(),
                word,
                icon,
                class,
                reasons: s.status.reasons.clone(),
                newest: newest
                    .map(|n| format!("{} ({} old)", n.id, age(n.age_seconds)))
                    .unwrap_or_else(|| "none".into()),
                newest_id: newest.map(|n| n.id.clone()).unwrap_or_default(),
                compliant: s
                    .last_success
                    .as_ref()
                    .map(|b| {
                        format!(
                            "{} ({} old)",
                            b.id,
                            age((now - b.created_at).num_seconds().max(0) as u64)
                        )
                    })
                    .unwrap_or_else(|| "none within max_age".into()),
                counts: newest
                    .map(|n| {
                        let v = &n.verdict;
                        format!(
                            "{} of {} copies, {} of {} media, {} of {} offsite, {} of {} immutable",
                            v.copies,
                            rule.copies,
                            v.media,
                            rule.media,
                            v.offsite,
                            rule.offsite,
                            v.immutable,
                            rule.immutable
                        )
                    })
                    .unwrap_or_else(|| "no copy".into()),
                drill: s
                    .drill
                    .as_ref()
                    .map(|d| {
                        format!(
                            "{} — {} from {}, {}, restore took {:.1} s",
                            if d.ok { "✔ ok" } else { "✖ FAILED" },
                            d.id,
                            d.target,
                            time(d.at),
                            d.duration_seconds
                        )
                    })
                    .unwrap_or_else(|| "never".into()),
                next_run: next
                    .get(&format!("backup {}", s.status.source))
                    .map(|t| time(*t))
                    .unwrap_or_else(|| "not scheduled here".into()),
                cells,
            }
        })
        .collect();
    let targets = r
        .targets
        .iter()
        .map(|t| TargetRow {
            name: t.target.clone(),
            medium: t.medium.to_string(),
            location: t.location.to_string(),
            state: match (&t.error, t.denied) {
                (None, _) => "✔ reachable".into(),
                (Some(e), true) => format!("? permission denied: {e}"),
                (Some(e), false) => format!("✖ unreachable: {e}"),
            },
            class: if t.up { "verified" } else { "missing" },
        })
        .collect();
    Page {
        banner,
        banner_class,
        banner_icon,
        rule: format!(
            "{} copies, {} media, {} offsite{}; newest compliant backup younger than {}",
            rule.copies,
            rule.media,
            rule.offsite,
            if rule.immutable > 0 {
                format!(", {} immutable", rule.immutable)
            } else {
                String::new()
            },
            age(r.max_age_seconds)
        ),
        checked: time(r.checked_at),
        zone: zone.name(),
        empty: "No source to show.".into(),
        sources,
        targets,
    }
    .render()
    .unwrap_or_else(|e| format!("template error: {e}"))
}

/// `/source/{name}`: one source from the last check, with the commands that restore its
/// newest backup (with pbx321, and from an fs copy with stock `age` and `zstd`). `None` for
/// a source the report does not have.
pub fn render_source(
    report: Option<&CheckReport>,
    cfg: Option<&crate::config::Config>,
    name: &str,
    zone: &Zone,
    now: DateTime<Utc>,
) -> Option<String> {
    let r = report?;
    let s = r.sources.iter().find(|s| s.status.source == name)?;
    let (word, icon, class) = look(s.status.status);
    let time = |t: DateTime<Utc>| local_text(t, zone).replace('T', " ");
    let newest = s.newest.as_ref();
    let cells = newest
        .map(|n| cells_of(r, n, now, &time))
        .unwrap_or_default();
    let mut commands = String::new();
    let mut stock = String::new();
    if let Some(n) = newest {
        let config = cfg
            .map(|c| format!("--config {} ", c.path.display()))
            .unwrap_or_default();
        commands = format!(
            "pbx321 {config}restore --source {name} --backup {id} \\\n    --to {name}.zip --identity /path/to/pbx321-key.txt",
            id = n.id
        );
        let plain = n
            .copies
            .iter()
            .find_map(|c| c.manifest.as_ref())
            .map(|m| m.plain.sha256.clone());
        let fs = cfg.and_then(|c| {
            n.copies
                .iter()
                .filter(|c| c.is_verified())
                .find_map(|copy| match &c.target(&copy.target)?.kind {
                    crate::config::TargetKind::Fs(f) => Some(f.path.clone()),
                    _ => None,
                })
        });
        if let Some(dir) = fs {
            stock = format!(
                "age -d -i /path/to/pbx321-key.txt {}/{} | zstd -d > {name}.zip\nsha256sum {name}.zip{}",
                dir.display(),
                crate::manifest::artifact_path(name, &n.id),
                plain
                    .map(|p| format!("   # must print {p}"))
                    .unwrap_or_default()
            );
        }
    }
    SourcePage {
        name: name.to_string(),
        word,
        icon,
        class,
        reasons: s.status.reasons.clone(),
        checked: time(r.checked_at),
        zone: zone.name(),
        newest: newest
            .map(|n| format!("{} ({} old)", n.id, age(n.age_seconds)))
            .unwrap_or_else(|| "none".into()),
        cells,
        commands,
        stock,
    }
    .render()
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_any_check_the_page_says_what_to_configure() {
        let html = render(None, &BTreeMap::new(), &Zone::Utc, Utc::now());
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("no check has run yet"));
        assert!(
            html.contains("[schedule] check = &#34;*/15 * * * *&#34;")
                || html.contains("[schedule] check = &quot;*/15 * * * *&quot;"),
            "{html}"
        );
        assert!(html.contains("times in UTC"));
        assert!(!html.contains("<script"), "no JavaScript");
    }
}
