//! When scheduled jobs run: pure, time passed in.
//!
//! Every job is a cron expression in the daemon's zone. [`next_after`] is the next slot
//! strictly after an instant — once per wall-clock slot across daylight-saving changes: a
//! slot in a spring-forward gap runs once, right after the gap; a slot in an autumn overlap
//! runs once, at its first occurrence. [`catch_up`] decides whether a slot missed while the
//! daemon was down runs at start-up (once, and only when the next slot is more than 30
//! minutes away: Kopia's rule).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde::Serialize;

use crate::config::{Config, CronSpec, Zone};

/// A missed slot runs at start-up only when the next one is further away than this.
pub const CATCH_UP_MARGIN: TimeDelta = TimeDelta::minutes(30);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "source", rename_all = "kebab-case")]
pub enum JobKind {
    Backup(String),
    Check,
    DeepCheck,
    Drill,
    /// Restores each source's newest backup into its standby 3CX (`drill --standby`).
    StandbyDrill,
    Prune,
    Repair,
    /// Writes the runbook to `[plan] write_to`.
    Plan,
}

#[derive(Debug, Clone)]
pub struct Job {
    /// "backup hq", "check", "deep-check", …: also its key in the state directory.
    pub name: String,
    pub kind: JobKind,
    pub spec: CronSpec,
}

/// The configured jobs: one backup per scheduled source (of this shard), then the
/// fleet-wide ones.
pub fn jobs(cfg: &Config) -> Vec<Job> {
    let mut out: Vec<Job> = cfg
        .sources
        .iter()
        .filter(|s| cfg.daemon.shard.is_none_or(|sh| sh.takes(&s.name)))
        .filter_map(|s| {
            Some(Job {
                name: format!("backup {}", s.name),
                kind: JobKind::Backup(s.name.clone()),
                spec: s.schedule.clone()?,
            })
        })
        .collect();
    let sch = &cfg.schedule;
    for (name, kind, spec) in [
        ("check", JobKind::Check, &sch.check),
        ("deep-check", JobKind::DeepCheck, &sch.deep_check),
        ("drill", JobKind::Drill, &sch.drill),
        ("standby-drill", JobKind::StandbyDrill, &sch.standby_drill),
        ("prune", JobKind::Prune, &sch.prune),
        ("repair", JobKind::Repair, &sch.repair),
        ("plan", JobKind::Plan, &sch.plan),
    ] {
        if let Some(spec) = spec {
            out.push(Job {
                name: name.into(),
                kind,
                spec: spec.clone(),
            });
        }
    }
    out
}

fn next_in<Tz: TimeZone>(spec: &CronSpec, after: DateTime<Utc>, tz: &Tz) -> Option<DateTime<Utc>> {
    use chrono::SubsecRound;
    // Slots are whole seconds.
    let local = after.trunc_subsecs(0).with_timezone(tz);
    let next = spec.cron.find_next_occurrence(&local, false).ok()?;
    Some(next.with_timezone(&Utc).trunc_subsecs(0))
}

/// The first slot of `spec` strictly after `after`, in `zone`.
pub fn next_after(spec: &CronSpec, after: DateTime<Utc>, zone: &Zone) -> Option<DateTime<Utc>> {
    let next = match zone {
        Zone::Local => next_in(spec, after, &chrono::Local),
        Zone::Utc => next_in(spec, after, &Utc),
        Zone::Named(tz) => next_in(spec, after, tz),
    }?;
    // croner may hand back an instant at or before `after` around a DST change: never run
    // a slot twice.
    (next > after).then_some(next).or_else(|| {
        let later = after + TimeDelta::seconds(1);
        match zone {
            Zone::Local => next_in(spec, later, &chrono::Local),
            Zone::Utc => next_in(spec, later, &Utc),
            Zone::Named(tz) => next_in(spec, later, tz),
        }
        .filter(|n| *n > after)
    })
}

/// The next `n` slots after `after`.
pub fn next_runs(
    spec: &CronSpec,
    after: DateTime<Utc>,
    zone: &Zone,
    n: usize,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(n);
    let mut t = after;
    while out.len() < n {
        let Some(next) = next_after(spec, t, zone) else {
            break;
        };
        out.push(next);
        t = next;
    }
    out
}

/// Whether a job last run at `last_run` (never: `None`) missed a slot before `now` that it
/// should run once at start-up: a slot passed since its last run, and the next slot is
/// more than [`CATCH_UP_MARGIN`] away. A job that never ran has nothing to catch up.
pub fn catch_up(
    spec: &CronSpec,
    last_run: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    zone: &Zone,
) -> bool {
    let Some(last) = last_run else {
        return false;
    };
    let missed = next_after(spec, last, zone).is_some_and(|slot| slot <= now);
    let next_far = next_after(spec, now, zone).is_none_or(|next| next - now > CATCH_UP_MARGIN);
    missed && next_far
}

/// A local time for people: the zone's offset shown (`2026-11-26T02:30:00+01:00`).
pub fn local_text(t: DateTime<Utc>, zone: &Zone) -> String {
    match zone {
        Zone::Local => t.with_timezone(&chrono::Local).to_rfc3339(),
        Zone::Utc => t.to_rfc3339(),
        Zone::Named(tz) => t.with_timezone(tz).to_rfc3339(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_cron;
    use chrono::{Datelike, Timelike};

    fn madrid() -> Zone {
        Zone::Named(chrono_tz::Europe::Madrid)
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn weekdays_are_monday_to_friday_as_in_a_crontab() {
        let spec = parse_cron("30 2 * * 1-5").unwrap();
        // From Wednesday 2026-11-25 12:00 UTC: Thu, Fri, Mon, Tue, Wed at 02:30 Madrid.
        let runs = next_runs(&spec, utc("2026-11-25T12:00:00Z"), &madrid(), 5);
        let local: Vec<String> = runs.iter().map(|t| local_text(*t, &madrid())).collect();
        assert_eq!(
            local,
            vec![
                "2026-11-26T02:30:00+01:00",
                "2026-11-27T02:30:00+01:00",
                "2026-11-30T02:30:00+01:00",
                "2026-12-01T02:30:00+01:00",
                "2026-12-02T02:30:00+01:00",
            ]
        );
        // 0 and 7 are both Sunday.
        for expr in ["0 3 * * 0", "0 3 * * 7", "0 3 * * SUN"] {
            let t = next_after(
                &parse_cron(expr).unwrap(),
                utc("2026-11-25T12:00:00Z"),
                &Zone::Utc,
            )
            .unwrap();
            assert_eq!(t.weekday(), chrono::Weekday::Sun, "{expr}");
        }
    }

    #[test]
    fn day_of_month_or_day_of_week_as_vixie_cron() {
        // The 1st of the month OR any Monday.
        let spec = parse_cron("0 4 1 * 1").unwrap();
        let runs = next_runs(&spec, utc("2026-11-25T12:00:00Z"), &Zone::Utc, 3);
        let days: Vec<u32> = runs.iter().map(|t| t.day()).collect();
        assert_eq!(days, vec![30, 1, 7], "Mon 30 Nov, Tue 1 Dec, Mon 7 Dec");
    }

    #[test]
    fn seconds_are_an_optional_leading_field() {
        let spec = parse_cron("*/10 * * * * *").unwrap();
        let runs = next_runs(&spec, utc("2026-11-25T12:00:01Z"), &Zone::Utc, 2);
        assert_eq!(
            runs,
            vec![utc("2026-11-25T12:00:10Z"), utc("2026-11-25T12:00:20Z")]
        );
        assert!(parse_cron("30 2 * *").is_err());
        assert!(parse_cron("61 2 * * *").is_err());
        assert!(parse_cron("0 0 30 2 * * 2027").is_err(), "no year field");
    }

    #[test]
    fn a_slot_in_the_spring_gap_runs_once_right_after_it() {
        // Europe/Madrid 2026-03-29: 02:00 → 03:00. 02:30 does not exist that night.
        let spec = parse_cron("30 2 * * *").unwrap();
        let runs = next_runs(&spec, utc("2026-03-27T12:00:00Z"), &madrid(), 4);
        let local: Vec<String> = runs.iter().map(|t| local_text(*t, &madrid())).collect();
        assert_eq!(local[0], "2026-03-28T02:30:00+01:00");
        assert_eq!(
            runs.iter()
                .filter(|t| t.date_naive().day() == 29 || (t.day() == 29))
                .count(),
            1,
            "{local:?}"
        );
        let gap_run = runs[1].with_timezone(&chrono_tz::Europe::Madrid);
        assert_eq!(gap_run.day(), 29, "{local:?}");
        assert!(gap_run.hour() == 3, "right after the gap: {local:?}");
        assert_eq!(local[2], "2026-03-30T02:30:00+02:00");
    }

    #[test]
    fn a_slot_in_the_autumn_overlap_runs_once() {
        // Europe/Madrid 2026-10-25: 03:00 → 02:00. 02:30 happens twice that night.
        let spec = parse_cron("30 2 * * *").unwrap();
        let runs = next_runs(&spec, utc("2026-10-23T12:00:00Z"), &madrid(), 4);
        let local: Vec<String> = runs.iter().map(|t| local_text(*t, &madrid())).collect();
        assert_eq!(
            local,
            vec![
                "2026-10-24T02:30:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-26T02:30:00+01:00",
                "2026-10-27T02:30:00+01:00",
            ]
        );
    }

    #[test]
    fn a_missed_slot_runs_once_at_start_up_unless_the_next_is_near() {
        let spec = parse_cron("30 2 * * *").unwrap();
        let z = Zone::Utc;
        // Ran on the 24th, down over the 25th's slot, back at 09:00: catch up.
        let last = Some(utc("2026-11-24T02:30:00Z"));
        assert!(catch_up(&spec, last, utc("2026-11-25T09:00:00Z"), &z));
        // Back at 02:10 on the 26th: the 25th was missed, but the next slot is 20 min away.
        assert!(!catch_up(
            &spec,
            Some(utc("2026-11-24T02:30:00Z")),
            utc("2026-11-26T02:10:00Z"),
            &z
        ));
        // Nothing missed.
        assert!(!catch_up(
            &spec,
            Some(utc("2026-11-25T02:30:00Z")),
            utc("2026-11-25T09:00:00Z"),
            &z
        ));
        // Never ran: a new job waits for its first slot.
        assert!(!catch_up(&spec, None, utc("2026-11-25T09:00:00Z"), &z));
        // Down for a week: still once (the caller records the run, so the next start-up
        // finds nothing missed).
        assert!(catch_up(
            &spec,
            Some(utc("2026-11-17T02:30:00Z")),
            utc("2026-11-25T09:00:00Z"),
            &z
        ));
        assert!(!catch_up(
            &spec,
            Some(utc("2026-11-25T09:00:00Z")),
            utc("2026-11-25T09:05:00Z"),
            &z
        ));
    }
}
