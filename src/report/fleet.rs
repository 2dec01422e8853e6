//! The fleet view of the status page: one row per source, worst first, for a fleet too
//! large for a card each (from [`FLEET_AT`] sources, or whenever a filter is given).
//! Filters are plain GET parameters (`?status=critical`, `?q=madrid`), so the page needs no
//! JavaScript. Built in one pass over the run history, whatever the fleet's size.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::page::look;
use super::page_time;
use crate::config::Zone;
use crate::format::age;
use crate::history::RunRecord;
use crate::policy::Status;
use crate::policy::check::{CheckReport, SourceCheck};

/// From this many sources `/` shows the table rather than a card per source.
pub const FLEET_AT: usize = 10;

/// What the page is asked to show (`?status=…&q=…`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub status: Option<Status>,
    /// A part of the source's name, any case.
    pub q: Option<String>,
    /// `?tenant=acme`: the tenant's name and its sources (none when no such tenant).
    pub tenant: Option<(String, std::collections::BTreeSet<String>)>,
}

impl Filter {
    /// From the query's words; an unknown status or an empty search is no filter.
    pub fn parse(status: Option<&str>, q: Option<&str>) -> Filter {
        let status = match status.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("ok") => Some(Status::Ok),
            Some("warning") => Some(Status::Warning),
            Some("critical") => Some(Status::Critical),
            Some("unknown") => Some(Status::Unknown),
            _ => None,
        };
        let q = q
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty())
            .map(|q| q.chars().take(64).collect());
        Filter {
            status,
            q,
            tenant: None,
        }
    }

    /// The same filter keeping only `tenant`'s sources, as the config's tenants say.
    pub fn with_tenant(
        mut self,
        tenant: Option<&str>,
        tenants: &[crate::config::Tenant],
    ) -> Filter {
        if let Some(name) = tenant.map(str::trim).filter(|t| !t.is_empty()) {
            let sources = tenants
                .iter()
                .find(|t| t.name == name)
                .map(|t| t.sources.iter().cloned().collect())
                .unwrap_or_default();
            self.tenant = Some((name.chars().take(64).collect(), sources));
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.status.is_none() && self.q.is_none() && self.tenant.is_none()
    }

    pub fn keeps(&self, s: &SourceCheck) -> bool {
        self.tenant
            .as_ref()
            .is_none_or(|(_, own)| own.contains(&s.status.source))
            && self.status.is_none_or(|want| s.status.status == want)
            && self
                .q
                .as_ref()
                .is_none_or(|q| s.status.source.to_lowercase().contains(q.as_str()))
    }
}

/// One source's row.
pub struct FleetRow {
    pub name: String,
    pub word: &'static str,
    pub icon: &'static str,
    pub class: &'static str,
    pub newest: String,
    pub counts: String,
    pub last_run: String,
    pub next_run: String,
    pub drill: String,
    pub readiness: String,
}

/// Worst first: CRITICAL, UNKNOWN, WARNING, OK.
fn rank(s: Status) -> u8 {
    match s {
        Status::Critical => 0,
        Status::Unknown => 1,
        Status::Warning => 2,
        Status::Ok => 3,
    }
}

/// The sources the filter keeps, worst first, then the oldest newest backup first (none
/// is oldest), then by name.
pub fn ordered<'r>(r: &'r CheckReport, filter: &Filter) -> Vec<&'r SourceCheck> {
    let mut kept: Vec<&SourceCheck> = r.sources.iter().filter(|s| filter.keeps(s)).collect();
    kept.sort_by(|a, b| {
        let newest = |s: &SourceCheck| s.newest.as_ref().map(|n| n.created_at);
        rank(a.status.status)
            .cmp(&rank(b.status.status))
            .then(newest(a).cmp(&newest(b)))
            .then(a.status.source.cmp(&b.status.source))
    });
    kept
}

/// `3 CRITICAL · 2 WARNING · 195 OK` over the whole fleet.
pub fn counts(r: &CheckReport) -> Vec<(Status, usize)> {
    [
        Status::Critical,
        Status::Unknown,
        Status::Warning,
        Status::Ok,
    ]
    .into_iter()
    .map(|want| {
        (
            want,
            r.sources.iter().filter(|s| s.status.status == want).count(),
        )
    })
    .filter(|(_, n)| *n > 0)
    .collect()
}

/// The rows of the sources the filter keeps.
pub fn rows(
    r: &CheckReport,
    filter: &Filter,
    runs: &[RunRecord],
    next: &BTreeMap<String, DateTime<Utc>>,
    zone: &Zone,
    now: DateTime<Utc>,
) -> Vec<FleetRow> {
    // Each source's last run, in one pass (the history is oldest first).
    let mut last: BTreeMap<&str, &RunRecord> = BTreeMap::new();
    for run in runs {
        last.insert(run.source.as_str(), run);
    }
    let rule = &r.rule;
    ordered(r, filter)
        .into_iter()
        .map(|s| {
            let (word, icon, class) = look(s.status.status);
            let name = &s.status.source;
            FleetRow {
                name: name.clone(),
                word,
                icon,
                class,
                newest: s
                    .newest
                    .as_ref()
                    .map(|n| {
                        format!(
                            "{} ago",
                            age((now - n.created_at).num_seconds().max(0) as u64)
                        )
                    })
                    .unwrap_or_else(|| "none".into()),
                counts: s
                    .newest
                    .as_ref()
                    .map(|n| {
                        let v = &n.verdict;
                        let mut c = format!(
                            "{}/{} · {}/{} · {}/{}",
                            v.copies, rule.copies, v.media, rule.media, v.offsite, rule.offsite
                        );
                        if rule.immutable > 0 {
                            c.push_str(&format!(" · {}/{}", v.immutable, rule.immutable));
                        }
                        c
                    })
                    .unwrap_or_else(|| "no copy".into()),
                last_run: last
                    .get(name.as_str())
                    .map(|r| {
                        let word = match r.result {
                            "ok" => "✔ ok",
                            "degraded" => "▲ missed the rule",
                            _ => "✖ failed",
                        };
                        format!("{word}, {}", page_time(r.at, zone))
                    })
                    .unwrap_or_else(|| "—".into()),
                next_run: next
                    .get(&format!("backup {name}"))
                    .map(|t| page_time(*t, zone))
                    .unwrap_or_else(|| "—".into()),
                drill: drill(s, now),
                readiness: open_items(s),
            }
        })
        .collect()
}

/// The last restore or standby drill, the worse of the two.
fn drill(s: &SourceCheck, now: DateTime<Utc>) -> String {
    let ago = |at: DateTime<Utc>| age((now - at).num_seconds().max(0) as u64);
    let restore = s.drill.as_ref().map(|d| (d.ok, d.at, "restore"));
    let standby = s.standby_drill.as_ref().map(|d| (d.ok, d.at, "standby"));
    match (restore, standby) {
        (None, None) => "never".into(),
        (a, b) => [a, b]
            .into_iter()
            .flatten()
            .map(|(ok, at, what)| format!("{} {what}, {} ago", if ok { "✔" } else { "✖" }, ago(at)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// How many readiness items are open (not ok, declared or information).
fn open_items(s: &SourceCheck) -> String {
    use crate::policy::readiness::Level;
    if s.readiness.is_empty() {
        return "—".into();
    }
    let open: Vec<&str> = s
        .readiness
        .iter()
        .filter(|i| {
            i.id != "backups" && !matches!(i.status, Level::Ok | Level::Declared | Level::Info)
        })
        .map(|i| i.id)
        .collect();
    match open.len() {
        0 => "✔ none".into(),
        n => format!("▲ {n}: {}", open.join(", ")),
    }
}
