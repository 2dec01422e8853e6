//! The status page a person opens in a browser (`/` of the daemon): server-rendered HTML
//! from the last scheduled check and the run history, askama templates compiled into the
//! binary, CSS inline, no JavaScript (a meta refresh every minute). Status is said in words
//! and icons, never by colour alone; every time names its zone.

use std::collections::BTreeMap;

use askama::Template;
use chrono::{DateTime, Utc};

use super::{chart, page_time};
use crate::catalog::{CopyInfo, CopyState};
use crate::config::{Config, Zone};
use crate::format::{age, bytes};
use crate::history::RunRecord;
use crate::policy::Status;
use crate::policy::check::{BackupRow, CheckReport, SourceCheck, TargetState};

/// What a page is drawn from: the last scheduled check, the run history, the schedule.
pub struct View<'a> {
    pub report: Option<&'a CheckReport>,
    /// The config in force (restore commands name it and its fs targets).
    pub config: Option<&'a Config>,
    /// Each job's next run.
    pub next: &'a BTreeMap<String, DateTime<Utc>>,
    pub zone: &'a Zone,
    pub now: DateTime<Utc>,
    /// The runs of the last [`DAYS`] days, every source, oldest first.
    pub runs: &'a [RunRecord],
    /// `Some(token)` when `[daemon] allow_actions` is on: the buttons carry it.
    pub csrf: Option<&'a str>,
    /// A line to show once ("backup of hq queued").
    pub flash: &'a str,
    /// What the page is asked to show (`?status=…&q=…`).
    pub filter: &'a super::fleet::Filter,
}

/// How many of the newest backups the copy matrix shows.
pub const MATRIX_COLUMNS: usize = 5;
/// The chart's span.
pub const DAYS: i64 = 30;

#[derive(Template)]
#[template(path = "status.html")]
struct Page {
    banner: String,
    banner_class: &'static str,
    banner_icon: &'static str,
    rule: String,
    checked: String,
    zone: String,
    empty: String,
    refresh: bool,
    flash: String,
    csrf: Option<String>,
    sources: Vec<SourceRow>,
    targets: Vec<TargetRow>,
    /// The table of the fleet view (empty: the cards).
    fleet: Vec<super::fleet::FleetRow>,
    fleet_view: bool,
    /// `3 CRITICAL · 195 OK` and the links that filter by each.
    counts: Vec<(String, String)>,
    filter_status: String,
    filter_q: String,
    filter_tenant: String,
    /// The tenants the viewer may filter by (a tenant sees only its own).
    tenants: Vec<String>,
    /// How many sources the filter kept, of how many.
    shown: String,
}

#[derive(Template)]
#[template(path = "source.html")]
struct SourcePage {
    name: String,
    word: &'static str,
    icon: &'static str,
    class: &'static str,
    reasons: Vec<String>,
    checked: String,
    zone: String,
    newest: String,
    matrix: Matrix,
    chart: String,
    runs: Vec<RunRow>,
    backups: Vec<BackupLine>,
    commands: String,
    stock: String,
    /// `Some(token)` when actions are allowed: the "back up now" button.
    csrf: Option<String>,
}

struct SourceRow {
    name: String,
    word: &'static str,
    icon: &'static str,
    class: &'static str,
    reasons: Vec<String>,
    newest: String,
    compliant: String,
    counts: String,
    drill: String,
    /// The last standby drill ("" when none is configured or recorded).
    standby: String,
    last_run: String,
    next_run: String,
    /// The response plan's items that are not ok (empty: none judged, or all ok).
    readiness: String,
    matrix: Matrix,
    chart: String,
}

/// Targets × the newest backups.
struct Matrix {
    label: String,
    columns: Vec<Column>,
    rows: Vec<MatrixRow>,
}

struct Column {
    id: String,
    when: String,
}

struct MatrixRow {
    target: String,
    cells: Vec<Cell>,
}

struct Cell {
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
    free: String,
}

struct RunRow {
    when: String,
    result: &'static str,
    icon: &'static str,
    class: &'static str,
    id: String,
    size: String,
    took: String,
    errors: String,
}

struct BackupLine {
    id: String,
    when: String,
    size: String,
    copies: String,
    class: &'static str,
    kept: String,
}

/// A status in a word, an icon and a CSS class: never by colour alone.
pub(super) fn look(s: Status) -> (&'static str, &'static str, &'static str) {
    match s {
        Status::Ok => ("OK", "✔", "ok"),
        Status::Warning => ("WARNING", "▲", "warning"),
        Status::Critical => ("CRITICAL", "✖", "critical"),
        Status::Unknown => ("UNKNOWN", "?", "unknown"),
    }
}

/// " (media and location declared, not verified: usb)" when the counts rest on labels.
fn declared_note(v: &crate::policy::Verdict) -> String {
    if v.declared.is_empty() {
        String::new()
    } else {
        format!(
            " (media and location declared, not verified: {})",
            v.declared.join(", ")
        )
    }
}

/// The state of `target`'s copy among `copies`, in words, an icon and a class.
fn cell_of(t: &TargetState, copies: &[CopyInfo], now: DateTime<Utc>, zone: &Zone) -> Cell {
    let copy = copies.iter().find(|c| c.target == t.target);
    let (text, icon, class) = match copy.map(|c| &c.state) {
        Some(CopyState::Verified) => match copy.and_then(|c| c.locked_until) {
            Some(u) if u > now => (
                format!("verified, locked until {}", page_time(u, zone)),
                "✔",
                "verified",
            ),
            _ => ("verified".to_string(), "✔", "verified"),
        },
        Some(CopyState::Unsigned) => ("unsigned (from before signing)".into(), "▲", "unsigned"),
        Some(CopyState::Missing) | None if t.up => ("missing".into(), "✖", "missing"),
        Some(CopyState::Corrupt { why }) => (format!("corrupt: {why}"), "✖", "corrupt"),
        Some(CopyState::Forged { why }) => (why.to_string(), "✖", "forged"),
        Some(CopyState::Divergent { why }) => (format!("divergent: {why}"), "✖", "forged"),
        Some(s @ CopyState::Future { .. }) => (
            super::reasons::why_not(s).unwrap_or_default(),
            "✖",
            "forged",
        ),
        Some(CopyState::Duplicate { of }) => (
            format!("the same file as {of}'s copy: counted once"),
            "✖",
            "missing",
        ),
        Some(CopyState::Unreachable { .. }) | None | Some(CopyState::Missing) => {
            ("cannot be read now".into(), "▲", "unreachable")
        }
        Some(CopyState::Unchecked) => (
            "listed, not read (older than max_age)".into(),
            "?",
            "unreachable",
        ),
    };
    Cell { text, icon, class }
}

fn matrix(r: &CheckReport, s: &SourceCheck, now: DateTime<Utc>, zone: &Zone) -> Matrix {
    let newest: Vec<&BackupRow> = s.backups.iter().take(MATRIX_COLUMNS).collect();
    Matrix {
        label: format!(
            "copies of the {} newest backups of {}",
            newest.len(),
            s.status.source
        ),
        columns: newest
            .iter()
            .map(|b| Column {
                id: b.id.clone(),
                when: super::page_time_s(b.created_at, zone),
            })
            .collect(),
        rows: if newest.is_empty() {
            vec![]
        } else {
            r.targets
                .iter()
                .map(|t| MatrixRow {
                    target: t.target.clone(),
                    cells: newest
                        .iter()
                        .map(|b| cell_of(t, &b.copies, now, zone))
                        .collect(),
                })
                .collect()
        },
    }
}

fn runs_of(runs: &[RunRecord], source: &str) -> Vec<RunRecord> {
    runs.iter()
        .filter(|r| r.source == source)
        .cloned()
        .collect()
}

fn run_look(result: &str) -> (&'static str, &'static str, &'static str) {
    match result {
        "ok" => ("ok", "✔", "verified"),
        "degraded" => ("missed the rule", "▲", "degraded"),
        _ => ("failed", "✖", "failed"),
    }
}

fn last_run(runs: &[RunRecord], zone: &Zone) -> String {
    let Some(r) = runs.last() else {
        return "none recorded in the last 30 days".into();
    };
    let (word, icon, _) = run_look(r.result);
    let mut s = format!("{icon} {word}, {}", page_time(r.at, zone));
    if let Some(secs) = r.seconds {
        s.push_str(&format!(", took {secs:.1} s"));
    }
    if let Some(e) = r.errors.first() {
        s.push_str(&format!(" — {e}"));
    }
    s
}

/// "▲ web_channels: no live chat…; ✖ services: …", or "✔ every item ok or declared".
fn readiness_text(s: &SourceCheck) -> String {
    use crate::policy::readiness::Level;
    if s.readiness.is_empty() {
        return String::new();
    }
    let open: Vec<String> = s
        .readiness
        .iter()
        .filter(|i| {
            i.id != "backups" && !matches!(i.status, Level::Ok | Level::Declared | Level::Info)
        })
        .map(|i| format!("{} {}: {}", i.status.icon(), i.id, i.summary))
        .collect();
    if open.is_empty() {
        "✔ every item ok or declared".into()
    } else {
        open.join("; ")
    }
}

fn banner_of(r: &CheckReport) -> String {
    let count = |want: Status| r.sources.iter().filter(|s| s.status.status == want).count();
    if r.status == Status::Ok {
        return format!(
            "all OK ({})",
            crate::format::count(r.sources.len() as u32, "source", "sources")
        );
    }
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
}

fn rule_of(r: &CheckReport) -> String {
    let rule = &r.rule;
    format!(
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
    )
}

/// `id (3h 5m old)`. Both ages on the page are measured from now (the check's own age of
/// the newest backup is from when it ran).
fn aged(id: &str, created_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        "{id} ({} old)",
        age((now - created_at).num_seconds().max(0) as u64)
    )
}

/// One source's row on the page.
fn source_row(v: &View, r: &CheckReport, s: &crate::policy::check::SourceCheck) -> SourceRow {
    let (zone, now, rule) = (v.zone, v.now, &r.rule);
    let (word, icon, class) = look(s.status.status);
    let newest = s.newest.as_ref();
    let runs = runs_of(v.runs, &s.status.source);
    SourceRow {
        name: s.status.source.clone(),
        word,
        icon,
        class,
        reasons: s.status.reasons.clone(),
        newest: newest
            .map(|n| aged(&n.id, n.created_at, now))
            .unwrap_or_else(|| "none".into()),
        compliant: s
            .last_success
            .as_ref()
            .map(|b| aged(&b.id, b.created_at, now))
            .unwrap_or_else(|| "none within max_age".into()),
        counts: newest
            .map(|n| {
                let v = &n.verdict;
                format!(
                    "{} of {} copies, {} of {} media, {} of {} offsite, {} of {} immutable{}",
                    v.copies,
                    rule.copies,
                    v.media,
                    rule.media,
                    v.offsite,
                    rule.offsite,
                    v.immutable,
                    rule.immutable,
                    declared_note(v)
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
                    page_time(d.at, zone),
                    d.duration_seconds
                )
            })
            .unwrap_or_else(|| "never".into()),
        standby: s
            .standby_drill
            .as_ref()
            .map(|d| {
                format!(
                    "{} — {} into {}, {}{}",
                    if d.ok { "✔ ok" } else { "✖ FAILED" },
                    if d.id.is_empty() { "no backup" } else { &d.id },
                    d.pbx,
                    page_time(d.at, zone),
                    d.seconds
                        .map(|t| format!(", answering again after {t:.0} s"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default(),
        last_run: last_run(&runs, zone),
        next_run: v
            .next
            .get(&format!("backup {}", s.status.source))
            .map(|t| page_time(*t, zone))
            .unwrap_or_else(|| "not scheduled here".into()),
        readiness: readiness_text(s),
        matrix: matrix(r, s, now, zone),
        chart: chart::history(&s.status.source, &runs, now, DAYS, zone),
    }
}

/// One target's row on the page.
fn target_row(t: &TargetState) -> TargetRow {
    TargetRow {
        name: t.target.clone(),
        medium: t.medium.to_string(),
        location: t.location.to_string(),
        state: match (&t.error, t.denied) {
            (None, _) => "✔ reachable".into(),
            (Some(e), true) => format!("? permission denied: {e}"),
            (Some(e), false) => format!("✖ unreachable: {e}"),
        },
        class: if t.up { "verified" } else { "missing" },
        free: t
            .free_bytes
            .map(bytes)
            .unwrap_or_else(|| "not told by the store".into()),
    }
}

/// The page for the view (no check yet: a page that says so).
pub fn render(v: &View) -> String {
    let zone = v.zone;
    let Some(r) = v.report else {
        return Page {
            banner: "no check has run yet".into(),
            banner_class: "unknown",
            banner_icon: "?",
            rule: String::new(),
            checked: "never".into(),
            zone: zone.name(),
            empty: "The page shows the last scheduled check: add [schedule] check = \"*/15 * * * *\" to the config (see docs/scheduling.md).".into(),
            refresh: v.flash.is_empty(),
            flash: v.flash.to_string(),
            csrf: v.csrf.map(str::to_string),
            sources: vec![],
            targets: vec![],
            fleet: vec![],
            fleet_view: false,
            counts: vec![],
            filter_status: String::new(),
            filter_q: String::new(),
            filter_tenant: String::new(),
            tenants: vec![],
            shown: String::new(),
        }
        .render()
        .unwrap_or_else(|e| format!("template error: {e}"));
    };
    let (_, banner_icon, banner_class) = look(r.status);
    use super::fleet;
    let fleet_view = r.sources.len() >= fleet::FLEET_AT || !v.filter.is_empty();
    let (sources, fleet) = if fleet_view {
        (
            Vec::new(),
            fleet::rows(r, v.filter, v.runs, v.next, zone, v.now),
        )
    } else {
        (
            r.sources.iter().map(|s| source_row(v, r, s)).collect(),
            Vec::new(),
        )
    };
    let targets = r.targets.iter().map(target_row).collect();
    let shown = format!("{} of {}", fleet.len(), r.sources.len());
    Page {
        fleet,
        fleet_view,
        counts: fleet::counts(r)
            .into_iter()
            .map(|(s, n)| {
                let (word, icon, _) = look(s);
                (
                    format!("{icon} {n} {word}"),
                    format!("/?status={}", word.to_ascii_lowercase()),
                )
            })
            .collect(),
        filter_status: v
            .filter
            .status
            .map(|s| look(s).0.to_ascii_lowercase())
            .unwrap_or_default(),
        filter_q: v.filter.q.clone().unwrap_or_default(),
        filter_tenant: v
            .filter
            .tenant
            .as_ref()
            .map(|(t, _)| t.clone())
            .unwrap_or_default(),
        tenants: v
            .config
            .map(|c| c.tenants.iter().map(|t| t.name.clone()).collect())
            .unwrap_or_default(),
        shown,
        banner: banner_of(r),
        banner_class,
        banner_icon,
        rule: rule_of(r),
        checked: page_time(r.checked_at, zone),
        zone: zone.name(),
        empty: "No source to show.".into(),
        refresh: v.flash.is_empty(),
        flash: v.flash.to_string(),
        csrf: v.csrf.map(str::to_string),
        sources,
        targets,
    }
    .render()
    .unwrap_or_else(|e| format!("template error: {e}"))
}

/// The commands that restore backup `n` of `name`: with pbx321, and, from an fs copy, with
/// stock `age` and `zstd` (empty when no fs target holds a verified copy).
fn restore_commands(
    v: &View,
    name: &str,
    n: &crate::policy::check::NewestBackup,
) -> (String, String) {
    let config = v
        .config
        .map(|c| format!("--config {} ", c.path.display()))
        .unwrap_or_default();
    let commands = format!(
        "pbx321 {config}restore --source {name} --backup {id} \\\n    --to {name}.zip --identity /path/to/pbx321-key.txt",
        id = n.id
    );
    let plain = n
        .copies
        .iter()
        .find_map(|c| c.manifest.as_ref())
        .map(|m| m.plain.sha256.clone());
    let fs = v.config.and_then(|c| {
        n.copies
            .iter()
            .filter(|c| c.is_verified())
            .find_map(|copy| match &c.target(&copy.target)?.kind {
                crate::config::TargetKind::Fs(f) => Some(f.path.clone()),
                _ => None,
            })
    });
    let stock = fs
        .map(|dir| {
            format!(
                "age -d -i /path/to/pbx321-key.txt {}/{} | zstd -d > {name}.zip\nsha256sum {name}.zip{}",
                dir.display(),
                crate::manifest::artifact_path(name, &n.id),
                plain
                    .map(|p| format!("   # must print {p}"))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    (commands, stock)
}

/// One run in the source page's list of recent runs.
fn run_row(run: &RunRecord, zone: &Zone) -> RunRow {
    let (result, icon, class) = run_look(run.result);
    RunRow {
        when: page_time(run.at, zone),
        result,
        icon,
        class,
        id: run.id.clone().unwrap_or_else(|| "—".into()),
        size: run.sealed_bytes.map(bytes).unwrap_or_else(|| "—".into()),
        took: run
            .seconds
            .map(|s| format!("{s:.1} s"))
            .unwrap_or_else(|| "—".into()),
        errors: run.errors.join("; "),
    }
}

/// `/source/{name}`: one source from the last check — the commands that restore its newest
/// backup (with pbx321, and from an fs copy with stock `age` and `zstd`), the copy matrix,
/// the chart, the recent runs and every backup with why it is kept. `None` for a source
/// the report does not have.
pub fn render_source(v: &View, name: &str) -> Option<String> {
    let zone = v.zone;
    let now = v.now;
    let r = v.report?;
    let s = r.sources.iter().find(|s| s.status.source == name)?;
    let (word, icon, class) = look(s.status.status);
    let newest = s.newest.as_ref();
    let (commands, stock) = newest
        .map(|n| restore_commands(v, name, n))
        .unwrap_or_default();
    let runs = runs_of(v.runs, name);
    let targets = r.targets.len();
    SourcePage {
        csrf: v.csrf.map(str::to_string),
        name: name.to_string(),
        word,
        icon,
        class,
        reasons: s.status.reasons.clone(),
        checked: page_time(r.checked_at, zone),
        zone: zone.name(),
        newest: newest
            .map(|n| aged(&n.id, n.created_at, now))
            .unwrap_or_else(|| "none".into()),
        matrix: matrix(r, s, now, zone),
        chart: chart::history(name, &runs, now, DAYS, zone),
        runs: runs
            .iter()
            .rev()
            .take(50)
            .map(|run| run_row(run, zone))
            .collect(),
        backups: s
            .backups
            .iter()
            .map(|b| BackupLine {
                id: b.id.clone(),
                when: page_time(b.created_at, zone),
                size: b
                    .sealed_bytes
                    .map(bytes)
                    .unwrap_or_else(|| "not read".into()),
                copies: format!("{} of {targets} targets", b.verified),
                class: if b.verified == 0 {
                    "missing"
                } else if b.verified < r.rule.copies as usize {
                    "degraded"
                } else {
                    "verified"
                },
                kept: if b.kept.is_empty() {
                    "—".into()
                } else {
                    b.kept.clone()
                },
            })
            .collect(),
        commands,
        stock,
    }
    .render()
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn before_any_check(csrf: Option<&str>, flash: &str) -> String {
        render(&View {
            report: None,
            config: None,
            next: &BTreeMap::new(),
            zone: &Zone::Utc,
            now: Utc::now(),
            runs: &[],
            csrf,
            flash,
            filter: &crate::report::fleet::Filter::default(),
        })
    }

    #[test]
    fn before_any_check_the_page_says_what_to_configure() {
        let html = before_any_check(None, "");
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("no check has run yet"));
        assert!(
            html.contains("[schedule] check = &#34;*/15 * * * *&#34;")
                || html.contains("[schedule] check = &quot;*/15 * * * *&quot;"),
            "{html}"
        );
        assert!(html.contains("times in UTC"));
        assert!(!html.contains("<script"), "no JavaScript");
        assert!(!html.contains("<form"), "read-only by default: no buttons");
    }

    #[test]
    fn with_actions_allowed_the_buttons_carry_the_csrf_token() {
        let html = before_any_check(Some("0123abcd"), "A check is queued");
        assert!(html.contains("<form class=\"inline\" method=\"post\" action=\"/actions/check\"><input type=\"hidden\" name=\"csrf\" value=\"0123abcd\">"), "{html}");
        assert!(html.contains("role=\"alert\">A check is queued"));
        assert!(
            !html.contains("http-equiv=\"refresh\""),
            "no refresh that would repeat the message"
        );
    }
}
