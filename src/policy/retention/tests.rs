//! Retention: golden histories in the style of restic's `ApplyPolicy` tests (the expected
//! keep lists are files under `testdata/retention/`; `PBX321_UPDATE_GOLDEN=1 cargo test`
//! rewrites them, to be reviewed in the diff), properties that must hold for every history,
//! and the guards, table by table.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone};

use super::*;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn candidate(at: DateTime<Utc>) -> Candidate {
    Candidate {
        id: crate::manifest::backup_id("hq", at),
        created_at: at,
        signed: true,
    }
}

/// Backups every `step` from `from` (inclusive) to `to` (exclusive).
fn every(from: DateTime<Utc>, to: DateTime<Utc>, step: TimeDelta) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        out.push(candidate(t));
        t += step;
    }
    out
}

fn madrid() -> Zone {
    Zone::Named(chrono_tz::Europe::Madrid)
}

fn rules(s: &str) -> Rules {
    let mut r = Rules::default();
    for part in s.split_whitespace() {
        let (k, v) = part.split_once('=').unwrap();
        match k {
            "last" => r.keep_last = Some(v.parse().unwrap()),
            "hourly" => r.keep_hourly = Some(v.parse().unwrap()),
            "daily" => r.keep_daily = Some(v.parse().unwrap()),
            "weekly" => r.keep_weekly = Some(v.parse().unwrap()),
            "monthly" => r.keep_monthly = Some(v.parse().unwrap()),
            "yearly" => r.keep_yearly = Some(v.parse().unwrap()),
            "within" => r.keep_within = Some(humantime::parse_duration(v).unwrap()),
            other => panic!("{other}"),
        }
    }
    r
}

/// The kept backups, one line each with their local time and reasons, and how many were
/// removed.
fn render(history: &[Candidate], rules: &Rules, zone: &Zone) -> String {
    let decisions = apply(history, rules, zone);
    let mut out = format!(
        "# {} in {}; {} backups\n",
        rules.describe(),
        zone.name(),
        history.len()
    );
    let mut removed = 0;
    for d in &decisions {
        if d.keep() {
            let reasons: Vec<String> = d.reasons.iter().map(|r| r.to_string()).collect();
            writeln!(
                out,
                "keep {} ({} local) {}",
                d.id,
                zone.local(d.created_at)
                    .format("%a %Y-%m-%d %H:%M, ISO week %G-W%V"),
                reasons.join(" ")
            )
            .unwrap();
        } else {
            removed += 1;
        }
    }
    writeln!(out, "removed {removed}").unwrap();
    out
}

/// Compares with (or, with PBX321_UPDATE_GOLDEN=1, writes) `testdata/retention/NAME.txt`.
fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/retention")
        .join(format!("{name}.txt"));
    if std::env::var_os("PBX321_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (PBX321_UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
            assert_eq!(e, a, "{name}: first difference at line {}", i + 1);
        }
        assert_eq!(
            expected.lines().count(),
            actual.lines().count(),
            "{name}: line count"
        );
        // Byte-exact: what `lines` does not see (a final newline, a carriage return).
        assert_eq!(expected, actual, "{name}: differs in line endings");
    }
}

/// What must hold whatever the history: the newest is kept by any rule that keeps
/// anything at that end; each calendar rule keeps at most N backups, each in its own
/// bucket, each the newest of its bucket; `keep_within` keeps exactly what is within reach
/// of the newest; every kept backup has a reason.
fn properties(history: &[Candidate], rules: &Rules, zone: &Zone) {
    let decisions = apply(history, rules, zone);
    assert_eq!(decisions.len(), history.len());
    if history.is_empty() {
        return;
    }
    let newest = history.iter().map(|c| c.created_at).max().unwrap();
    if rules.keeps_all() {
        assert!(decisions.iter().all(|d| d.reasons == vec![Reason::NoRules]));
        return;
    }
    assert!(decisions[0].created_at == newest);
    let calendar = rules.keep_hourly.is_some()
        || rules.keep_daily.is_some()
        || rules.keep_weekly.is_some()
        || rules.keep_monthly.is_some()
        || rules.keep_yearly.is_some();
    if rules.keep_last.is_some() || rules.keep_within.is_some() || calendar {
        assert!(decisions[0].keep(), "the newest is kept");
    }
    for (i, limit) in [
        rules.keep_hourly,
        rules.keep_daily,
        rules.keep_weekly,
        rules.keep_monthly,
        rules.keep_yearly,
    ]
    .iter()
    .enumerate()
    {
        let Some(limit) = limit else { continue };
        let by_rule: Vec<&Decision> = decisions
            .iter()
            .filter(|d| {
                d.reasons.iter().any(|r| {
                    matches!(
                        (i, r),
                        (0, Reason::Hourly(_))
                            | (1, Reason::Daily(_))
                            | (2, Reason::Weekly(_))
                            | (3, Reason::Monthly(_))
                            | (4, Reason::Yearly(_))
                    )
                })
            })
            .collect();
        assert!(by_rule.len() as u32 <= *limit);
        let buckets: BTreeSet<_> = by_rule
            .iter()
            .map(|d| bucket(zone.local(d.created_at), i))
            .collect();
        assert_eq!(buckets.len(), by_rule.len(), "one per bucket");
        for d in &by_rule {
            let key = bucket(zone.local(d.created_at), i);
            let newest_in_bucket = history
                .iter()
                .filter(|c| bucket(zone.local(c.created_at), i) == key)
                .map(|c| c.created_at)
                .max()
                .unwrap();
            assert_eq!(d.created_at, newest_in_bucket, "the newest of its bucket");
        }
    }
    if let Some(w) = rules.keep_within {
        let w = TimeDelta::from_std(w).unwrap();
        for d in &decisions {
            assert_eq!(
                d.reasons.contains(&Reason::Within),
                newest - d.created_at <= w,
                "{}",
                d.id
            );
        }
    }
    if let Some(n) = rules.keep_last {
        let last = decisions
            .iter()
            .filter(|d| d.reasons.iter().any(|r| matches!(r, Reason::Last(_))))
            .count();
        assert_eq!(last, (n as usize).min(history.len()));
    }
}

fn case(name: &str, history: &[Candidate], rules_text: &str, zone: Zone) {
    let r = rules(rules_text);
    properties(history, &r, &zone);
    golden(name, &render(history, &r, &zone));
}

#[test]
fn hourly_for_a_year_typical_msp() {
    let history = every(
        utc(2025, 1, 1, 0, 0),
        utc(2026, 1, 1, 0, 0),
        TimeDelta::hours(1),
    );
    assert_eq!(history.len(), 8760);
    case(
        "hourly-year-msp",
        &history,
        "last=7 daily=14 weekly=8 monthly=12 yearly=3",
        madrid(),
    );
    case(
        "hourly-year-offsite",
        &history,
        "monthly=12 yearly=3",
        madrid(),
    );
    case(
        "hourly-year-hourly",
        &history,
        "hourly=30 within=2h",
        Zone::Utc,
    );
}

#[test]
fn gaps_do_not_age_anything_out() {
    // Daily backups, then three weeks of nothing, then daily again; then backups stop for
    // half a year: cutoffs are measured from the newest backup, so nothing more goes.
    let mut history = every(
        utc(2026, 3, 1, 2, 30),
        utc(2026, 4, 1, 2, 30),
        TimeDelta::days(1),
    );
    history.extend(every(
        utc(2026, 4, 22, 2, 30),
        utc(2026, 5, 10, 2, 30),
        TimeDelta::days(1),
    ));
    case("gaps", &history, "daily=10 weekly=6 within=72h", madrid());
    // The decision does not depend on when prune runs: there is no `now` in `apply`.
    let within = rules("within=72h");
    let kept = apply(&history, &within, &madrid())
        .iter()
        .filter(|d| d.keep())
        .count();
    assert_eq!(kept, 4, "newest + the three days before it");
}

#[test]
fn dst_spring_forward_and_autumn_back() {
    // Europe/Madrid: 2026-03-29 02:00 → 03:00, 2026-10-25 03:00 → 02:00. Every 30 min
    // around each change.
    let spring = every(
        utc(2026, 3, 28, 20, 0),
        utc(2026, 3, 29, 6, 0),
        TimeDelta::minutes(30),
    );
    case("dst-spring", &spring, "hourly=12 daily=2", madrid());
    let autumn = every(
        utc(2026, 10, 24, 20, 0),
        utc(2026, 10, 25, 6, 0),
        TimeDelta::minutes(30),
    );
    case("dst-autumn", &autumn, "hourly=12 daily=2", madrid());
    // 00:30 UTC on the 25th is 02:30 CEST; 01:30 UTC is 02:30 CET: one local hour, one
    // bucket, the later backup kept.
    let d = apply(&autumn, &rules("hourly=100"), &madrid());
    let kept: Vec<&str> = d
        .iter()
        .filter(|d| d.keep())
        .map(|d| d.id.as_str())
        .collect();
    assert!(kept.contains(&"hq-20261025T015000Z") || kept.contains(&"hq-20261025T013000Z"));
    assert!(!kept.contains(&"hq-20261025T003000Z"), "{kept:?}");
}

#[test]
fn iso_week_53_and_year_ends() {
    // 2026 has an ISO week 53 (Mon 2026-12-28 … Sun 2027-01-03).
    let history = every(
        utc(2026, 12, 14, 3, 0),
        utc(2027, 1, 12, 3, 0),
        TimeDelta::days(1),
    );
    case("iso-week-53", &history, "weekly=5 yearly=3", Zone::Utc);
    let d = apply(&history, &rules("weekly=5"), &Zone::Utc);
    assert!(
        d.iter().any(|d| d.keep() && d.id == "hq-20270103T030000Z"),
        "the Sunday that ends week 2026-W53 is its newest"
    );
}

#[test]
fn leap_day() {
    let history = every(
        utc(2028, 2, 20, 4, 0),
        utc(2028, 3, 5, 4, 0),
        TimeDelta::days(1),
    );
    case("leap-day", &history, "daily=3 monthly=2", Zone::Utc);
    let d = apply(&history, &rules("monthly=2"), &Zone::Utc);
    assert!(d.iter().any(|d| d.keep() && d.id == "hq-20280229T040000Z"));
}

#[test]
fn a_burst_in_one_minute() {
    let history = every(
        utc(2026, 11, 25, 3, 0),
        utc(2026, 11, 25, 3, 1),
        TimeDelta::seconds(5),
    );
    case("burst", &history, "last=3 hourly=2 daily=1", madrid());
}

#[test]
fn no_rules_keep_everything_and_nothing_is_nothing() {
    let history = every(
        utc(2026, 1, 1, 0, 0),
        utc(2026, 1, 10, 0, 0),
        TimeDelta::days(1),
    );
    let d = apply(&history, &Rules::default(), &Zone::Utc);
    assert!(d.iter().all(|d| d.reasons == vec![Reason::NoRules]));
    assert!(apply(&[], &rules("last=3"), &Zone::Utc).is_empty());
    properties(&history, &Rules::default(), &Zone::Utc);
}

#[test]
fn generated_histories_keep_the_properties() {
    // A small deterministic generator (no extra crate): irregular steps, bursts, gaps.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let rule_sets = [
        "last=3",
        "daily=7",
        "hourly=24 daily=7 weekly=4",
        "weekly=10 monthly=6 yearly=2",
        "last=2 within=36h monthly=3",
        "within=10days",
    ];
    for round in 0..40 {
        let mut t = utc(2024, 1, 1, 0, 0) + TimeDelta::minutes((next() % 500_000) as i64);
        let mut history = Vec::new();
        for _ in 0..(50 + next() % 400) {
            history.push(candidate(t));
            let step = match next() % 10 {
                0 => TimeDelta::seconds(1 + (next() % 50) as i64),
                1 => TimeDelta::days(1 + (next() % 40) as i64),
                _ => TimeDelta::minutes(1 + (next() % 3000) as i64),
            };
            t += step;
        }
        history.dedup_by(|a, b| a.id == b.id);
        let zone = if round % 2 == 0 { madrid() } else { Zone::Utc };
        for r in rule_sets {
            properties(&history, &rules(r), &zone);
        }
    }
}

/// Issue 25, finding 3: a backup that counts only unsigned (planted in the unsigned window)
/// takes a bucket only when no signed backup falls in it, and is never the anchor of
/// `keep_within` while a signed one exists.
#[test]
fn finding_3_a_signed_backup_fills_its_bucket_before_an_unsigned_one() {
    let signed = |at| Candidate {
        signed: true,
        ..candidate(at)
    };
    let unsigned = |at| Candidate {
        signed: false,
        ..candidate(at)
    };
    let history = vec![
        signed(utc(2026, 11, 16, 2, 30)),
        signed(utc(2026, 11, 17, 2, 30)),
        unsigned(utc(2026, 11, 17, 23, 59)),
        unsigned(utc(2026, 11, 18, 23, 0)),
    ];
    let d = apply(&history, &rules("daily=5"), &Zone::Utc);
    let daily = |id: &str| d.iter().find(|x| x.id == id).unwrap().reasons.clone();
    assert_eq!(
        daily(&history[1].id),
        vec![Reason::Daily(2)],
        "the signed one keeps the 17th"
    );
    assert!(
        daily(&history[2].id).is_empty(),
        "the unsigned one of the same day does not"
    );
    assert_eq!(
        daily(&history[3].id),
        vec![Reason::Daily(1)],
        "alone in its day, an unsigned backup fills it"
    );
    // keep_within measures from the newest signed backup, not from a later unsigned one:
    // the window keeps the signed one (and what is newer), not only the planted.
    let d = apply(&history, &rules("within=1h"), &Zone::Utc);
    let kept: Vec<&str> = d
        .iter()
        .filter(|x| x.keep())
        .map(|x| x.id.as_str())
        .collect();
    assert_eq!(
        kept,
        vec![
            history[3].id.as_str(),
            history[2].id.as_str(),
            history[1].id.as_str()
        ]
    );
    // The newest, for the guards, is the newest signed backup.
    let view = |c: &Candidate| BackupView {
        id: c.id.clone(),
        created_at: c.created_at,
        compliant: true,
        signed: c.signed,
        copies: vec![verified("local")],
    };
    let p = plan(
        &history.iter().map(view).collect::<Vec<_>>(),
        &[target("local", "last=1")],
        &Zone::Utc,
        now(),
    );
    assert_eq!(p.newest.as_deref(), Some(history[1].id.as_str()));
    assert_eq!(p.newest_compliant.as_deref(), Some(history[1].id.as_str()));
}

// ---- guards ------------------------------------------------------------------------------

fn now() -> DateTime<Utc> {
    utc(2026, 11, 25, 12, 0)
}

fn day(d: u32) -> DateTime<Utc> {
    utc(2026, 11, d, 3, 0)
}

fn id(d: u32) -> String {
    crate::manifest::backup_id("hq", day(d))
}

fn verified(t: &str) -> CopyView {
    CopyView {
        target: t.into(),
        kind: CopyKind::Verified,
        locked_until: None,
    }
}

fn backup(d: u32, compliant: bool, copies: Vec<CopyView>) -> BackupView {
    BackupView {
        id: id(d),
        created_at: day(d),
        compliant,
        signed: true,
        copies,
    }
}

fn target(name: &str, r: &str) -> TargetView {
    TargetView {
        target: name.into(),
        rules: rules(r),
        not_prunable: None,
    }
}

fn action(p: &Plan, t: &str, d: u32) -> Action {
    p.targets
        .iter()
        .find(|tp| tp.target == t)
        .unwrap()
        .copies
        .iter()
        .find(|c| c.id == id(d))
        .unwrap_or_else(|| panic!("{t} holds no copy of day {d}"))
        .action
        .clone()
}

fn removed(p: &Plan, t: &str, d: u32) -> bool {
    matches!(action(p, t, d), Action::Remove { .. })
}

fn all3(d: u32, compliant: bool) -> BackupView {
    backup(
        d,
        compliant,
        vec![verified("local"), verified("nas"), verified("s3")],
    )
}

#[test]
fn guard_the_newest_is_never_removed_even_when_no_rule_keeps_it() {
    // keep_within is measured from the newest, so "within=1h" keeps the newest; here the
    // rules keep only monthly buckets of which the newest is also the first.
    let backups = vec![all3(20, true), all3(21, true), all3(22, false)];
    let t = vec![
        target("local", "last=1"),
        target("nas", "last=1"),
        target("s3", "last=1"),
    ];
    let p = plan(&backups, &t, &Zone::Utc, now());
    for tn in ["local", "nas", "s3"] {
        assert!(
            matches!(action(&p, tn, 22), Action::Keep { ref reasons } if reasons.contains(&Reason::Newest) && reasons.contains(&Reason::Last(1)))
        );
        // The newest compliant (day 21) stays whole while the newest (22) does not comply.
        assert!(
            matches!(action(&p, tn, 21), Action::Keep { ref reasons } if reasons == &vec![Reason::NewestCompliant])
        );
        assert!(removed(&p, tn, 20));
    }
    assert_eq!(p.newest.as_deref(), Some(id(22).as_str()));
    assert_eq!(p.newest_compliant.as_deref(), Some(id(21).as_str()));
}

#[test]
fn guard_table() {
    struct Row {
        what: &'static str,
        backups: Vec<BackupView>,
        targets: Vec<TargetView>,
        /// (target, day, expected: "remove" | "keep:REASON" | "skip:TEXT")
        expect: Vec<(&'static str, u32, &'static str)>,
    }
    let locked = |t: &str, until: DateTime<Utc>| CopyView {
        locked_until: Some(until),
        ..verified(t)
    };
    let broken = |t: &str| CopyView {
        kind: CopyKind::Broken,
        ..verified(t)
    };
    let untouchable = |t: &str, why: &str| CopyView {
        kind: CopyKind::Untouchable(why.into()),
        ..verified(t)
    };
    let rows = vec![
        Row {
            what: "a rule drops an old backup on every target: removed everywhere",
            backups: vec![all3(10, true), all3(24, true)],
            targets: vec![
                target("local", "last=1"),
                target("nas", "last=1"),
                target("s3", "last=1"),
            ],
            expect: vec![
                ("local", 10, "remove"),
                ("nas", 10, "remove"),
                ("s3", 10, "remove"),
            ],
        },
        Row {
            what: "offsite keeps longer: onsite copies go, the offsite one stays",
            backups: vec![all3(10, true), all3(24, true)],
            targets: vec![
                target("local", "last=1"),
                target("nas", "last=1"),
                target("s3", "last=5"),
            ],
            expect: vec![
                ("local", 10, "remove"),
                ("nas", 10, "remove"),
                ("s3", 10, "keep:last-2"),
            ],
        },
        Row {
            what: "the target that keeps it lacks its copy: the last verified copy stays",
            backups: vec![
                backup(10, false, vec![verified("local"), broken("s3")]),
                all3(24, true),
            ],
            targets: vec![
                target("local", "last=1"),
                target("nas", "last=1"),
                target("s3", "last=5"),
            ],
            expect: vec![
                ("local", 10, "keep:only verified copy, kept on s3"),
                ("s3", 10, "keep:last-2"),
            ],
        },
        Row {
            what: "the target that keeps it could not be listed: its copy is not proof",
            backups: vec![all3(10, true), all3(24, true)],
            targets: vec![
                target("local", "last=1"),
                target("nas", "last=1"),
                TargetView {
                    not_prunable: Some("s3 could not be listed".into()),
                    ..target("s3", "last=5")
                },
            ],
            expect: vec![
                ("local", 10, "keep:only verified copy, kept on s3"),
                ("nas", 10, "keep:only verified copy, kept on s3"),
                ("s3", 10, "keep:last-2"),
            ],
        },
        Row {
            what: "a locked copy is skipped, an expired lock is not",
            backups: vec![
                backup(
                    10,
                    true,
                    vec![verified("local"), locked("s3", now() + TimeDelta::days(30))],
                ),
                backup(
                    11,
                    true,
                    vec![verified("local"), locked("s3", now() - TimeDelta::days(1))],
                ),
                all3(24, true),
            ],
            targets: vec![
                target("local", "last=1"),
                target("nas", "last=1"),
                target("s3", "last=1"),
            ],
            expect: vec![
                ("s3", 10, "skip:locked until 2026-12-25 12:00 UTC"),
                ("local", 10, "remove"),
                ("s3", 11, "remove"),
            ],
        },
        Row {
            what: "a target with read errors is not pruned at all",
            backups: vec![all3(10, true), all3(24, true)],
            targets: vec![
                TargetView {
                    not_prunable: Some("a manifest on nas could not be read".into()),
                    ..target("nas", "last=1")
                },
                target("local", "last=1"),
                target("s3", "last=1"),
            ],
            expect: vec![
                ("nas", 10, "skip:a manifest on nas could not be read"),
                ("local", 10, "remove"),
            ],
        },
        Row {
            what: "forged, divergent and unreadable copies are never touched",
            backups: vec![
                backup(
                    10,
                    true,
                    vec![
                        verified("local"),
                        untouchable("nas", "forged or damaged: signature missing"),
                    ],
                ),
                backup(
                    5,
                    false,
                    vec![untouchable("local", "forged or damaged: wrong signature")],
                ),
                all3(24, true),
            ],
            targets: vec![
                target("local", "last=1"),
                target("nas", "last=1"),
                target("s3", "last=1"),
            ],
            expect: vec![
                ("nas", 10, "skip:forged or damaged: signature missing"),
                ("local", 10, "remove"),
                ("local", 5, "skip:forged or damaged: wrong signature"),
            ],
        },
        Row {
            what: "a broken copy of a dropped backup is removed; of a kept one, left for repair",
            backups: vec![
                backup(10, false, vec![verified("local"), broken("nas")]),
                backup(
                    23,
                    false,
                    vec![verified("local"), broken("nas"), verified("s3")],
                ),
                all3(24, true),
            ],
            targets: vec![
                target("local", "last=2"),
                target("nas", "last=2"),
                target("s3", "last=2"),
            ],
            expect: vec![
                ("nas", 10, "remove"),
                ("local", 10, "remove"),
                ("nas", 23, "keep:last-2"),
            ],
        },
        Row {
            what: "a backup with no verified copy anywhere is not judged",
            backups: vec![
                backup(10, false, vec![broken("local"), broken("nas")]),
                all3(24, true),
            ],
            targets: vec![
                target("local", "last=1"),
                target("nas", "last=1"),
                target("s3", "last=1"),
            ],
            expect: vec![(
                "local",
                10,
                "skip:no verified copy of this backup anywhere: not judged, nothing removed",
            )],
        },
        Row {
            what: "no rules: nothing is removed",
            backups: vec![all3(10, true), all3(24, true)],
            targets: vec![target("local", ""), target("nas", ""), target("s3", "")],
            expect: vec![("local", 10, "keep:no rules"), ("s3", 10, "keep:no rules")],
        },
    ];
    for row in rows {
        let p = plan(&row.backups, &row.targets, &Zone::Utc, now());
        for (t, d, want) in &row.expect {
            let got = action(&p, t, *d);
            let ok = match want.split_once(':') {
                None => matches!(got, Action::Remove { .. }),
                Some(("keep", r)) => {
                    matches!(&got, Action::Keep { reasons } if reasons.iter().any(|x| x.to_string() == r))
                }
                Some(("skip", why)) => matches!(&got, Action::Skip { why: w } if w == why),
                _ => unreachable!(),
            };
            assert!(
                ok,
                "{}: {t} day {d}: expected {want}, got {got:?}",
                row.what
            );
        }
        // Whatever the row: the newest and the newest compliant keep every copy, and no
        // backup that some target keeps loses its last verified copy.
        for tp in &p.targets {
            for c in tp.removals() {
                assert_ne!(Some(&c.id), p.newest.as_ref(), "{}", row.what);
                assert_ne!(Some(&c.id), p.newest_compliant.as_ref(), "{}", row.what);
            }
        }
        for (bid, keepers) in &p.wanted {
            if keepers.is_empty() {
                continue;
            }
            let b = row.backups.iter().find(|b| &b.id == bid).unwrap();
            let left = b.copies.iter().filter(|c| {
                c.kind == CopyKind::Verified
                    && !p
                        .targets
                        .iter()
                        .any(|tp| tp.target == c.target && tp.removals().any(|r| &r.id == bid))
            });
            assert!(
                left.count() > 0,
                "{}: {bid} keeps a verified copy",
                row.what
            );
        }
    }
    let _ = Duration::ZERO;
}
