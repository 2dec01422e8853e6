//! Renderers of the operations' reports: `human` for people at a terminal or in a cron mail,
//! `json` for programs (field names are stable; see docs/monitoring.md), `nagios` for
//! monitoring plugins and `prometheus` for the text exposition format.

pub mod chart;
pub mod fleet;
pub mod human;
pub mod json;
pub mod nagios;
pub mod page;
pub mod prometheus;
pub mod reasons;
pub mod runbook;
pub mod setup_config;

/// A time on the status page, in `zone`, naming the zone: `2026-11-25 03:30 CET`.
pub fn page_time(t: chrono::DateTime<chrono::Utc>, zone: &crate::config::Zone) -> String {
    use crate::config::Zone;
    const F: &str = "%Y-%m-%d %H:%M %Z";
    match zone {
        Zone::Utc => t.format(F).to_string(),
        Zone::Named(tz) => t.with_timezone(tz).format(F).to_string(),
        Zone::Local => t
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M UTC%:z")
            .to_string(),
    }
}

/// [`page_time`] with seconds (backups a few seconds apart).
pub fn page_time_s(t: chrono::DateTime<chrono::Utc>, zone: &crate::config::Zone) -> String {
    use crate::config::Zone;
    const F: &str = "%Y-%m-%d %H:%M:%S %Z";
    match zone {
        Zone::Utc => t.format(F).to_string(),
        Zone::Named(tz) => t.with_timezone(tz).format(F).to_string(),
        Zone::Local => t
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S UTC%:z")
            .to_string(),
    }
}

/// A day on the status page, in `zone`.
pub fn page_date(t: chrono::DateTime<chrono::Utc>, zone: &crate::config::Zone) -> String {
    zone.local(t).format("%Y-%m-%d").to_string()
}

/// A standby drill in one line: `ok (hq-… into https://standby:5001, 2 h ago, answering
/// after 40s)` or `FAILED (…): why`.
pub fn standby_line(d: &crate::facts::StandbyDrillFact, ago_seconds: u64) -> String {
    let id = if d.id.is_empty() { "no backup" } else { &d.id };
    let mut line = format!(
        "{} ({id} into {}, {} ago",
        if d.ok { "ok" } else { "FAILED" },
        d.pbx,
        crate::format::age(ago_seconds)
    );
    if let Some(t) = d.seconds {
        line.push_str(&format!(
            ", answering after {}",
            crate::format::duration(std::time::Duration::from_secs(t.round() as u64))
        ));
    }
    line.push(')');
    let why = d.why();
    if !why.is_empty() {
        line.push_str(": ");
        line.push_str(&why.join("; "));
    }
    line
}
