//! The scheduler on simulated time: a week across a DST change, catch-up, no overlap,
//! shutdown — on tokio's paused clock, with a runner that only counts.

use std::sync::Mutex as StdMutex;

use chrono::{TimeZone, Timelike};

use super::*;

fn config(dir: &std::path::Path, extra_top: &str, source_schedule: &str) -> Config {
    let text = format!(
        "state_dir = \"state\"\n{extra_top}\n[encryption]\nrecipients = [\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\"]\n[policy]\ncopies = 1\nmedia = 1\noffsite = 0\n\
         [[source]]\nname = \"hq\"\ntype = \"folder\"\npath = \"pbx\"\nschedule = \"{source_schedule}\"\n\
         [[target]]\nname = \"t\"\ntype = \"fs\"\npath = \"t\"\nmedium = \"disk\"\n"
    );
    Config::parse(&text, &dir.join("config.toml")).unwrap()
}

#[test]
fn a_simulated_week_across_the_autumn_change_runs_exactly_the_expected_slots() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "[daemon]\ntimezone = \"Europe/Madrid\"\n[schedule]\ncheck = \"0 */6 * * *\"",
        "30 2 * * *",
    );
    // Wednesday 21 October 2026, noon UTC, to the next Wednesday; clocks go back on Sunday
    // the 25th (03:00 CEST → 02:00 CET: 02:30 happens twice).
    let start = Utc.with_ymd_and_hms(2026, 10, 21, 12, 0, 0).unwrap();
    let end = start + chrono::TimeDelta::days(7);
    let (mut s, catch_up) = Scheduler::start(
        schedule::jobs(&cfg),
        cfg.daemon.zone,
        &BTreeMap::new(),
        start,
    );
    assert!(catch_up.is_empty());
    let mut runs: Vec<(String, DateTime<Utc>)> = Vec::new();
    while let Some(wake) = s.next_wake() {
        if wake > end {
            break;
        }
        for j in s.due(wake) {
            runs.push((j.name, wake));
        }
    }
    let madrid = chrono_tz::Europe::Madrid;
    let backups: Vec<String> = runs
        .iter()
        .filter(|(j, _)| j == "backup hq")
        .map(|(_, t)| {
            t.with_timezone(&madrid)
                .format("%a %d %H:%M %:z")
                .to_string()
        })
        .collect();
    assert_eq!(
        backups,
        vec![
            "Thu 22 02:30 +02:00",
            "Fri 23 02:30 +02:00",
            "Sat 24 02:30 +02:00",
            "Sun 25 02:30 +02:00",
            "Mon 26 02:30 +01:00",
            "Tue 27 02:30 +01:00",
            "Wed 28 02:30 +01:00",
        ],
        "once a day, once on the day 02:30 happens twice"
    );
    let checks: Vec<DateTime<Utc>> = runs
        .iter()
        .filter(|(j, _)| j == "check")
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(checks.len(), 28, "4 a day for 7 days: {checks:?}");
    for t in &checks {
        assert_eq!(t.with_timezone(&madrid).hour() % 6, 0);
    }
}

/// Counts runs; each takes `takes` of (paused) time.
struct Counting {
    runs: StdMutex<Vec<(String, DateTime<Utc>)>>,
    takes: Duration,
    clock: Clock,
}

impl Runner for Counting {
    fn run(
        &self,
        _cfg: &Config,
        jobs: Vec<Job>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
        Box::pin(async move {
            for j in jobs {
                self.runs.lock().unwrap().push((j.name, (self.clock)()));
            }
            tokio::time::sleep(self.takes).await;
        })
    }
}

async fn run_for(
    cfg: Config,
    takes: Duration,
    for_how_long: Duration,
) -> (Vec<(String, DateTime<Utc>)>, Shared) {
    run_with_actions(cfg, takes, for_how_long, vec![]).await
}

/// `run_for`, with runs asked for now (`(after, job)`) as the status page's buttons do.
async fn run_with_actions(
    cfg: Config,
    takes: Duration,
    for_how_long: Duration,
    asks: Vec<(Duration, Job)>,
) -> (Vec<(String, DateTime<Utc>)>, Shared) {
    let clock = tokio_clock();
    let runner = Counting {
        runs: StdMutex::new(Vec::new()),
        takes,
        clock: Arc::clone(&clock),
    };
    let status: Shared = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (_reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
    let (actions_tx, actions_rx) = tokio::sync::mpsc::channel(16);
    let stopper = async move {
        let mut waited = Duration::ZERO;
        for (after, job) in asks {
            tokio::time::sleep(after.saturating_sub(waited)).await;
            waited = after.max(waited);
            actions_tx.send(job).await.unwrap();
        }
        tokio::time::sleep(for_how_long.saturating_sub(waited)).await;
        let _ = stop_tx.send(true);
        // Keep the sender alive until the loop has seen it.
        tokio::time::sleep(Duration::from_secs(3600 * 24 * 365)).await;
    };
    tokio::select! {
        r = run_loop(cfg, &runner, clock, Arc::clone(&status), Inputs { stop: stop_rx, reload: reload_rx, actions: actions_rx }) => r.unwrap(),
        () = stopper => unreachable!("the loop stops"),
    }
    (runner.runs.into_inner().unwrap(), status)
}

#[tokio::test(start_paused = true)]
async fn every_ten_seconds_for_a_minute_and_a_slow_run_skips_its_slots() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "", "*/10 * * * * *");
    let (runs, _) = run_for(
        cfg.clone(),
        Duration::from_millis(10),
        Duration::from_secs(60),
    )
    .await;
    assert!(
        (5..=6).contains(&runs.len()),
        "one run per 10 s slot: {runs:?}"
    );
    for (_, t) in &runs {
        assert_eq!(t.second() % 10, 0, "{t}");
    }
    // A run that takes 25 s: the slots that come while it runs are skipped, not queued.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "", "*/10 * * * * *");
    let (runs, status) = run_for(cfg, Duration::from_secs(25), Duration::from_secs(60)).await;
    let skipped = status
        .lock()
        .unwrap()
        .skipped_total
        .get("backup hq")
        .copied()
        .unwrap_or(0);
    assert!((2..=3).contains(&runs.len()), "{runs:?}");
    assert!(skipped >= 2, "skipped {skipped}");
    assert!(!status.lock().unwrap().running, "the loop has ended");
}

#[tokio::test(start_paused = true)]
async fn a_missed_slot_runs_once_at_start_up_and_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "", "30 2 * * *");
    let state = StateDir::new(&cfg.state_dir);
    // The daemon last ran the backup three days ago: at least one slot was missed.
    let now = Utc::now();
    let mut p = Persisted::default();
    p.last_run
        .insert("backup hq".into(), now - chrono::TimeDelta::days(3));
    p.save(&state);
    let next = schedule::next_after(
        &cfg.source("hq").unwrap().schedule.clone().unwrap(),
        now,
        &cfg.daemon.zone,
    )
    .unwrap();
    let (runs, _) = run_for(
        cfg.clone(),
        Duration::from_millis(1),
        Duration::from_secs(60),
    )
    .await;
    if next - now > schedule::CATCH_UP_MARGIN {
        assert_eq!(runs.len(), 1, "caught up once: {runs:?}");
        // Remembered: a second start-up right after finds nothing to catch up.
        let (runs, _) = run_for(cfg, Duration::from_millis(1), Duration::from_secs(60)).await;
        assert!(runs.is_empty(), "{runs:?}");
    } else {
        assert!(runs.is_empty(), "the next slot is near: no catch-up");
    }
}

#[tokio::test(start_paused = true)]
async fn a_stop_gives_a_running_job_its_grace_then_returns() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "[daemon]\nshutdown_grace = \"30s\"",
        "*/10 * * * * *",
    );
    let started = tokio::time::Instant::now();
    // The job would take an hour; the stop comes at 15 s.
    let (runs, _) = run_for(cfg, Duration::from_secs(3600), Duration::from_secs(15)).await;
    assert_eq!(runs.len(), 1);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(44) && took <= Duration::from_secs(47),
        "stopped after the grace: {took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn jitter_delays_each_run_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "[daemon]\njitter = \"30s\"", "0 * * * * *");
    let (runs, _) = run_for(cfg, Duration::from_millis(1), Duration::from_secs(600)).await;
    assert!((8..=10).contains(&runs.len()), "one per minute: {runs:?}");
    let offsets: Vec<u32> = runs.iter().map(|(_, t)| t.second()).collect();
    assert!(offsets.iter().all(|s| *s < 30), "{offsets:?}");
    assert!(
        offsets.iter().any(|s| *s > 0),
        "spread, not all on the minute: {offsets:?}"
    );
}

/// Issue 25, finding 12: a stop that comes while a batch waits out its jitter ends the loop at
/// once, and the slot is not recorded as run (so the next start catches it up).
#[tokio::test(start_paused = true)]
async fn finding_12_a_stop_during_the_jitter_stops_at_once_and_loses_no_slot() {
    let dir = tempfile::tempdir().unwrap();
    // Every minute, with a jitter of up to an hour: at the stop (90 s), a batch is almost
    // surely waiting out its jitter (whichever batch it is, when a short jitter let one run).
    let cfg = config(dir.path(), "[daemon]\njitter = \"1h\"", "0 * * * * *");
    let state = StateDir::new(&cfg.state_dir);
    let started = tokio::time::Instant::now();
    let (runs, _) = run_for(cfg, Duration::from_millis(1), Duration::from_secs(90)).await;
    let took = started.elapsed();
    assert!(
        took <= Duration::from_secs(91),
        "the stop is heard during the jitter: returned after {took:?}"
    );
    // Recorded as run: exactly the runs that started, never the one stopped in its jitter.
    let persisted = Persisted::load(&state);
    assert_eq!(
        persisted.last_run.get("backup hq"),
        runs.last().map(|(_, at)| at),
        "runs {runs:?}"
    );
}

#[test]
fn a_shard_is_stable_and_every_source_falls_in_exactly_one() {
    use crate::config::Shard;
    let names: Vec<String> = (0..1000).map(|i| format!("pbx-{i}")).collect();
    let shards: Vec<Shard> = (0..4)
        .map(|i| Shard::parse(&format!("{i}/4")).unwrap())
        .collect();
    let mut sizes = [0usize; 4];
    for n in &names {
        let owners: Vec<usize> = (0..4).filter(|i| shards[*i].takes(n)).collect();
        assert_eq!(owners.len(), 1, "{n}");
        sizes[owners[0]] += 1;
    }
    assert!(sizes.iter().all(|s| (200..=300).contains(s)), "{sizes:?}");
    // FNV-1a of "hq" is fixed: the same shard on every machine and in every version.
    assert!(Shard::parse("1/2").unwrap().takes("hq") != Shard::parse("0/2").unwrap().takes("hq"));
    for bad in ["3/3", "1/0", "a/b", "1", "-1/2"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
}

/// "Back up now" while nothing runs starts at once; pressed again while that run goes, it
/// runs once more after it, not in parallel.
#[tokio::test(start_paused = true)]
async fn a_run_asked_for_now_starts_at_once_and_queues_behind_a_running_one() {
    let dir = tempfile::tempdir().unwrap();
    // The daily slot is 12 hours away whenever the test runs: only the asked-for runs count
    // (a fixed "0 3 * * *" fired inside the test's ten minutes when run at 02:5x UTC).
    let slot = format!("0 {} * * *", (Utc::now().hour() + 12) % 24);
    let cfg = config(dir.path(), "", &slot);
    let job = action_job(JobKind::Backup("hq".into())).unwrap();
    let (runs, _) = run_with_actions(
        cfg,
        Duration::from_secs(60),
        Duration::from_secs(600),
        vec![
            (Duration::from_secs(5), job.clone()),
            (Duration::from_secs(10), job.clone()),
            (Duration::from_secs(11), job.clone()),
        ],
    )
    .await;
    let names: Vec<&str> = runs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["backup hq", "backup hq"], "{runs:?}");
    let gap = runs[1].1 - runs[0].1;
    assert!(
        gap >= chrono::TimeDelta::seconds(60),
        "the second waits for the first to end: {gap}"
    );
}
