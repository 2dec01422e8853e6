//! `[retention]`: which backups `prune` keeps, and the time zone their days, weeks, months
//! and years are counted in. A `[[source]]` or `[[target]]` may override the rules with
//! `retention = { … }`.

use std::ops::Range;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use toml::Spanned;

use super::Cx;

/// Keep rules, restic's and Kopia's: each `keep_*` is a count of buckets (the newest backup
/// of each of the last N days, weeks, …); `keep_within` keeps everything younger than it,
/// measured from the newest backup. All `None` = keep everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rules {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub keep_within: Option<Duration>,
}

mod opt_secs {
    pub fn serialize<S: serde::Serializer>(
        d: &Option<std::time::Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
}

impl Rules {
    /// No rule at all: everything is kept.
    pub fn keeps_all(&self) -> bool {
        *self == Rules::default()
    }

    /// The rules in words: "keep last 7, daily 14, within 48h"; "keep everything".
    pub fn describe(&self) -> String {
        if self.keeps_all() {
            return "keep everything (no rules)".into();
        }
        let mut parts = Vec::new();
        for (name, n) in [
            ("last", self.keep_last),
            ("hourly", self.keep_hourly),
            ("daily", self.keep_daily),
            ("weekly", self.keep_weekly),
            ("monthly", self.keep_monthly),
            ("yearly", self.keep_yearly),
        ] {
            if let Some(n) = n {
                parts.push(format!("{name} {n}"));
            }
        }
        if let Some(d) = self.keep_within {
            parts.push(format!("within {}", humantime::format_duration(d)));
        }
        format!("keep {}", parts.join(", "))
    }
}

/// The zone days, weeks, months and years are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// The system's (`TZ`, `/etc/localtime`).
    #[default]
    Local,
    Utc,
    Named(chrono_tz::Tz),
}

impl Zone {
    /// The wall-clock time of `t` in this zone.
    pub fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Local => t.with_timezone(&chrono::Local).naive_local(),
            Zone::Utc => t.naive_utc(),
            Zone::Named(tz) => tz.from_utc_datetime(&t.naive_utc()).naive_local(),
        }
    }

    pub fn name(&self) -> String {
        match self {
            Zone::Local => "the system's time zone".into(),
            Zone::Utc => "UTC".into(),
            Zone::Named(tz) => tz.name().to_string(),
        }
    }
}

/// Retention as configured: the default rules, and the zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    pub rules: Rules,
    pub zone: Zone,
}

/// The keys a `retention = { … }` override takes (no `timezone`: one zone for all).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRules {
    keep_last: Option<Spanned<i64>>,
    keep_hourly: Option<Spanned<i64>>,
    keep_daily: Option<Spanned<i64>>,
    keep_weekly: Option<Spanned<i64>>,
    keep_monthly: Option<Spanned<i64>>,
    keep_yearly: Option<Spanned<i64>>,
    keep_within: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    keep_last: Option<Spanned<i64>>,
    keep_hourly: Option<Spanned<i64>>,
    keep_daily: Option<Spanned<i64>>,
    keep_weekly: Option<Spanned<i64>>,
    keep_monthly: Option<Spanned<i64>>,
    keep_yearly: Option<Spanned<i64>>,
    keep_within: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
}

/// Counts above this are surely a typo (100 years of hourly backups is 876 000).
const COUNT_LIMIT: i64 = 1_000_000;

impl Cx<'_> {
    pub(super) fn retention(&mut self, raw: RawRetention, span: Range<usize>) -> Retention {
        let zone = match &raw.timezone {
            None => Zone::Local,
            Some(s) if s.get_ref().eq_ignore_ascii_case("utc") => Zone::Utc,
            Some(s) => match s.get_ref().parse::<chrono_tz::Tz>() {
                Ok(tz) => Zone::Named(tz),
                Err(_) => {
                    self.problem(
                        Some(s.span()),
                        format!(
                            "[retention] timezone = {:?} is not an IANA time zone; write e.g. \"Europe/Madrid\" or \"UTC\"",
                            s.get_ref()
                        ),
                    );
                    Zone::Local
                }
            },
        };
        let rules = self.rules(
            RawRules {
                keep_last: raw.keep_last,
                keep_hourly: raw.keep_hourly,
                keep_daily: raw.keep_daily,
                keep_weekly: raw.keep_weekly,
                keep_monthly: raw.keep_monthly,
                keep_yearly: raw.keep_yearly,
                keep_within: raw.keep_within,
            },
            "[retention] ",
            span,
        );
        Retention { rules, zone }
    }

    pub(super) fn rules(&mut self, raw: RawRules, prefix: &str, span: Range<usize>) -> Rules {
        let mut count = |v: Option<Spanned<i64>>, key: &str| -> Option<u32> {
            let v = v?;
            match *v.get_ref() {
                n if (1..=COUNT_LIMIT).contains(&n) => Some(n as u32),
                n => {
                    self.problem(
                        Some(v.span()),
                        format!(
                            "{prefix}{key} = {n} must be between 1 and {COUNT_LIMIT} (leave it out to not keep by this rule)"
                        ),
                    );
                    None
                }
            }
        };
        let mut rules = Rules {
            keep_last: count(raw.keep_last, "keep_last"),
            keep_hourly: count(raw.keep_hourly, "keep_hourly"),
            keep_daily: count(raw.keep_daily, "keep_daily"),
            keep_weekly: count(raw.keep_weekly, "keep_weekly"),
            keep_monthly: count(raw.keep_monthly, "keep_monthly"),
            keep_yearly: count(raw.keep_yearly, "keep_yearly"),
            keep_within: None,
        };
        if let Some(w) = &raw.keep_within {
            rules.keep_within = match humantime::parse_duration(w.get_ref()) {
                Ok(d) if !d.is_zero() => Some(d),
                _ => {
                    self.problem(
                        Some(w.span()),
                        format!(
                            "{prefix}keep_within = {:?} is not a duration longer than zero; write e.g. \"48h\" or \"30days\"",
                            w.get_ref()
                        ),
                    );
                    None
                }
            };
        }
        let _ = span;
        rules
    }
}

impl Cx<'_> {
    /// The `retention = { … }` of a `[[source]]` or `[[target]]` table, if it has one.
    pub(super) fn override_rules(
        &mut self,
        table: &Spanned<toml::de::DeValue<'_>>,
        prefix: &str,
    ) -> Option<Rules> {
        let toml::de::DeValue::Table(t) = table.get_ref() else {
            return None;
        };
        let (k, v) = t.iter().find(|(k, _)| k.get_ref() == "retention")?;
        let prefix = format!("{prefix}retention: ");
        if let toml::de::DeValue::Table(inner) = v.get_ref()
            && let Some((tz, _)) = inner.iter().find(|(k, _)| k.get_ref() == "timezone")
        {
            self.problem(
                Some(tz.span()),
                format!(
                    "{prefix}timezone is set once, in [retention], for every source and target"
                ),
            );
        }
        let mut v = v.clone();
        super::filter_keys(&mut v, |k| k != "timezone");
        let raw = self.section::<RawRules>(&v, &prefix)?;
        let span = raw.span();
        let rules = self.rules(raw.into_inner(), &prefix, span);
        let _ = k;
        Some(rules)
    }
}
