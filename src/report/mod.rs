//! Renderers of the operations' reports: `human` for people at a terminal or in a cron mail,
//! `json` for programs (field names are stable; see docs/monitoring.md), `nagios` for
//! monitoring plugins and `prometheus` for the text exposition format.

pub mod chart;
pub mod human;
pub mod json;
pub mod nagios;
pub mod page;
pub mod prometheus;
pub mod reasons;
pub mod runbook;

/// `1.5 MiB`-style sizes for people.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

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

/// `3h 5m`-style ages for people (the same words as the reasons use).
pub fn age(seconds: u64) -> String {
    crate::policy::duration_text(std::time::Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_and_ages() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::age(59), "59s");
        assert_eq!(super::age(3 * 3600 + 300), "3h 5m");
        assert_eq!(super::age(2 * 86_400 + 3600), "2d 1h");
    }
}
