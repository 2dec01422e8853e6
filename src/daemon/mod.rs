//! `pbx321 daemon`: runs the configured jobs on their cron schedules until told to stop.
//!
//! - [`Scheduler`] (no I/O, time passed in) knows each job's next slot, which jobs are due,
//!   and which missed slots run once at start-up ([`crate::policy::schedule::catch_up`]).
//! - The loop sleeps until the next slot, then runs what is due through one worker: jobs
//!   that take the run lock (backup, prune, repair, deep check, drill) run one batch at a
//!   time — due backups together, up to `[daemon] max_concurrent` sources at once, through
//!   the same code path as `pbx321 backup` (same report, same notifications). A source whose
//!   previous run is still going skips its slot (logged and counted). Each job's last run
//!   is persisted in `state_dir/schedule.json`, so a restart neither repeats nor loses one.
//! - SIGTERM/SIGINT: nothing new starts; a running job gets `shutdown_grace`, then it is
//!   dropped, which aborts its uploads cleanly (a partial object never counts; the spool
//!   keeps the backup for the next run). SIGHUP reloads the config; a bad one is logged and
//!   the old one kept.
//!
//! Time comes from a [`Clock`] that follows tokio's clock, so tests run a simulated week on
//! tokio's paused clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Zone};
use crate::ops::{Clock, OpError};
use crate::policy::schedule::{self, Job, JobKind};
use crate::state::StateDir;

pub mod http;
pub mod scope;
pub mod serve;

/// Which jobs are due when. Pure: every method takes the time.
#[derive(Debug, Clone)]
pub struct Scheduler {
    jobs: Vec<Job>,
    zone: Zone,
    next: BTreeMap<String, DateTime<Utc>>,
}

impl Scheduler {
    /// The jobs' first slots after `now`, and the catch-ups to run at once: jobs whose
    /// `last` run (from the state directory) is older than a slot that passed.
    pub fn start(
        jobs: Vec<Job>,
        zone: Zone,
        last: &BTreeMap<String, DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> (Scheduler, Vec<Job>) {
        let catch_up: Vec<Job> = jobs
            .iter()
            .filter(|j| schedule::catch_up(&j.spec, last.get(&j.name).copied(), now, &zone))
            .cloned()
            .collect();
        let next = jobs
            .iter()
            .filter_map(|j| Some((j.name.clone(), schedule::next_after(&j.spec, now, &zone)?)))
            .collect();
        (Scheduler { jobs, zone, next }, catch_up)
    }

    /// The earliest next slot of any job.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.next.values().min().copied()
    }

    /// The jobs whose slot is at or before `now`, each once (a slot long past is not run
    /// more than once); their next slots move past `now`.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Job> {
        let mut out = Vec::new();
        for j in &self.jobs {
            if let Some(at) = self.next.get(&j.name)
                && *at <= now
            {
                out.push(j.clone());
                match schedule::next_after(&j.spec, now, &self.zone) {
                    Some(n) => {
                        self.next.insert(j.name.clone(), n);
                    }
                    None => {
                        self.next.remove(&j.name);
                    }
                }
            }
        }
        out
    }

    pub fn next_of(&self, job: &str) -> Option<DateTime<Utc>> {
        self.next.get(job).copied()
    }

    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }
}

/// What the daemon remembers between restarts: each job's last start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Persisted {
    #[serde(default)]
    pub last_run: BTreeMap<String, DateTime<Utc>>,
}

const SCHEDULE_FILE: &str = "schedule.json";

impl Persisted {
    pub fn load(state: &StateDir) -> Persisted {
        state.read_json(SCHEDULE_FILE)
    }

    pub fn save(&self, state: &StateDir) {
        state.write_json(SCHEDULE_FILE, self, "schedule state");
    }
}

/// The daemon's live state, for `/metrics`, `/api/status` and `/healthz`.
#[derive(Debug, Default, Clone)]
pub struct Status {
    /// Per source: the last run's result word and when it ended, its duration.
    pub last: BTreeMap<String, SourceLast>,
    /// (source, result) → runs.
    pub runs_total: BTreeMap<(String, String), u64>,
    /// Per job: slots skipped because its previous run was still going.
    pub skipped_total: BTreeMap<String, u64>,
    /// Per job: the next slot.
    pub next: BTreeMap<String, DateTime<Utc>>,
    /// When the scheduler loop last went round.
    pub alive_at: Option<DateTime<Utc>>,
    /// The scheduler loop is running (for `/healthz`).
    pub running: bool,
    /// The metrics of the last scheduled check (Prometheus text), if one ran.
    pub check_metrics: Option<String>,
    /// The last scheduled check, for the status page.
    pub check: Option<crate::policy::check::CheckReport>,
    /// The zone the page shows times in.
    pub zone: Zone,
    /// The config in force (the page's restore commands name it and its fs targets).
    pub config: Option<Config>,
    pub check_status: Option<String>,
    /// The batch running now: when it started and its jobs.
    pub batch: Option<(DateTime<Utc>, Vec<String>)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceLast {
    pub result: String,
    pub at: DateTime<Utc>,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
}

pub type Shared = Arc<Mutex<Status>>;

/// Each source's last run, kept in the state directory so that a restarted daemon shows it
/// from its first second.
const LAST_FILE: &str = "daemon-last.json";

/// The last runs a daemon persisted (empty when none).
pub fn load_last(state: &StateDir) -> BTreeMap<String, SourceLast> {
    state.read_json(LAST_FILE)
}

/// A batch running too long: `/healthz` says so past this.
pub const JOB_BOUND: Duration = Duration::from_secs(6 * 3600);

/// The live state, even after a panic elsewhere left the lock poisoned: it holds counters
/// and last results only, never a half-made invariant worth refusing to serve.
pub fn lock(status: &Shared) -> std::sync::MutexGuard<'_, Status> {
    status.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs jobs. The daemon's runs the operations; tests count.
pub trait Runner: Send + Sync {
    fn run(
        &self,
        cfg: &Config,
        jobs: Vec<Job>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>;
}

/// A clock that follows tokio's (so that paused-clock tests move it): the wall time at
/// start plus tokio's elapsed time.
pub fn tokio_clock() -> Clock {
    let start = tokio::time::Instant::now();
    let wall = Utc::now();
    Arc::new(move || {
        wall + chrono::TimeDelta::from_std(start.elapsed()).unwrap_or(chrono::TimeDelta::zero())
    })
}

/// The loop's time: the clock's (sleeping until each slot), or simulated — standing still
/// while a batch runs, jumping to the next slot when nothing does, and ending at a given
/// moment — so that a week of the real jobs runs in minutes (`examples/simulated_week.rs`,
/// the bench's measure of the daemon over time).
#[derive(Clone)]
pub enum Time {
    Real(Clock),
    Simulated(Arc<Simulated>),
}

impl From<Clock> for Time {
    fn from(c: Clock) -> Time {
        Time::Real(c)
    }
}

/// Simulated time: `now` moves only by jumps to the next slot; `on_jump` sees each jump
/// (while nothing runs) before the loop goes on; past `until` the loop ends.
pub struct Simulated {
    now: Mutex<DateTime<Utc>>,
    pub until: DateTime<Utc>,
    pub on_jump: Box<dyn Fn(DateTime<Utc>, DateTime<Utc>) + Send + Sync>,
}

impl Simulated {
    pub fn new(
        start: DateTime<Utc>,
        until: DateTime<Utc>,
        on_jump: Box<dyn Fn(DateTime<Utc>, DateTime<Utc>) + Send + Sync>,
    ) -> Arc<Simulated> {
        Arc::new(Simulated {
            now: Mutex::new(start),
            until,
            on_jump,
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Time {
    pub fn clock(&self) -> Clock {
        match self {
            Time::Real(c) => Arc::clone(c),
            Time::Simulated(s) => {
                let s = Arc::clone(s);
                Arc::new(move || s.now())
            }
        }
    }

    /// Waits for `wake` while a batch runs: simulated time stands still meanwhile.
    async fn while_busy(&self, wake: Option<DateTime<Utc>>) {
        match self {
            Time::Real(c) => sleep_until(c, wake).await,
            Time::Simulated(_) => std::future::pending().await,
        }
    }

    /// Waits for `wake` while nothing runs: simulated time jumps there. `false`: the
    /// simulation is over.
    async fn while_idle(&self, wake: Option<DateTime<Utc>>) -> bool {
        match self {
            Time::Real(c) => {
                sleep_until(c, wake).await;
                true
            }
            Time::Simulated(s) => {
                let Some(at) = wake.filter(|w| *w <= s.until) else {
                    return false;
                };
                let from =
                    std::mem::replace(&mut *s.now.lock().unwrap_or_else(|e| e.into_inner()), at);
                (s.on_jump)(from, at);
                true
            }
        }
    }
}

/// A run asked for now (a status page button): a job with the scheduled job's name, so a
/// run of the same source already going is not doubled. Its cron spec is never used.
pub fn action_job(kind: JobKind) -> Option<Job> {
    let name = match &kind {
        JobKind::Backup(s) => format!("backup {s}"),
        JobKind::Check => "check".into(),
        JobKind::DeepCheck => "deep-check".into(),
        JobKind::Drill => "drill".into(),
        JobKind::StandbyDrill => "standby-drill".into(),
        JobKind::Prune => "prune".into(),
        JobKind::Repair => "repair".into(),
        JobKind::Plan => "plan".into(),
    };
    Some(Job {
        name,
        kind,
        spec: crate::config::parse_cron("0 0 1 1 *").ok()?,
    })
}

/// What drives the loop from outside: stop (SIGTERM), new configs (SIGHUP), and runs
/// asked for now (the status page's buttons).
pub struct Inputs {
    pub stop: tokio::sync::watch::Receiver<bool>,
    pub reload: tokio::sync::mpsc::Receiver<Config>,
    pub actions: tokio::sync::mpsc::Receiver<Job>,
}

/// The scheduler loop: runs `runner` for what is due until `stop` resolves, then gives a
/// running batch `shutdown_grace` to end. `reload` yields new configs (SIGHUP); `actions`
/// runs asked for now, which queue behind a running batch.
pub async fn run_loop(
    mut cfg: Config,
    runner: &dyn Runner,
    time: impl Into<Time>,
    status: Shared,
    inputs: Inputs,
) -> Result<(), OpError> {
    let time: Time = time.into();
    let clock = time.clock();
    let Inputs {
        mut stop,
        mut reload,
        mut actions,
    } = inputs;
    let _running = Running::start(&status, &cfg);
    let state = StateDir::new(&cfg.state_dir);
    let mut persisted = Persisted::load(&state);
    let (mut sched, catch_up) = Scheduler::start(
        schedule::jobs(&cfg),
        cfg.daemon.zone,
        &persisted.last_run,
        clock(),
    );
    let mut pending: Vec<Job> = catch_up;
    for j in &pending {
        tracing::info!(job = %j.name, "a slot was missed while the daemon was down: running it once now");
    }
    loop {
        {
            let mut st = lock(&status);
            st.alive_at = Some(clock());
            st.next = sched
                .jobs()
                .iter()
                .filter_map(|j| Some((j.name.clone(), sched.next_of(&j.name)?)))
                .collect();
        }
        if !pending.is_empty() {
            let batch = std::mem::take(&mut pending);
            // The jitter is waited out with an ear on the stop: a stop during it ends the
            // loop at once, and the batch, never started, is not recorded as run (the next
            // start catches its slot up).
            if jitter(&cfg, &mut stop, &batch).await.is_break() {
                return Ok(());
            }
            // A slot is recorded as run when its run starts.
            let now = clock();
            for j in &batch {
                persisted.last_run.insert(j.name.clone(), now);
                tracing::info!(job = %j.name, "job started");
            }
            persisted.save(&state);
            lock(&status).batch = Some((now, batch.iter().map(|j| j.name.clone()).collect()));
            let work = runner.run(&cfg, batch.clone());
            let during = During {
                sched: &mut sched,
                pending: &mut pending,
                actions: &mut actions,
                stop: &mut stop,
                status: &status,
                time: &time,
            };
            if during
                .run(work, &batch, cfg.daemon.shutdown_grace)
                .await
                .is_break()
            {
                return Ok(());
            }
            continue;
        }
        if *stop.borrow() {
            tracing::info!("stopping: nothing is running");
            return Ok(());
        }
        let wake = sched.next_wake();
        tokio::select! {
            go_on = time.while_idle(wake) => {
                if !go_on {
                    tracing::info!("the simulated time is over");
                    return Ok(());
                }
                pending = sched.due(clock());
            }
            _ = stop.changed() => {
                tracing::info!("stopping: nothing is running");
                return Ok(());
            }
            Some(j) = actions.recv() => pending.push(j),
            Some(new) = reload.recv() => {
                tracing::info!(config = %new.path.display(), "config reloaded");
                cfg = new;
                shown(&status, &cfg);
                let (s, _) = Scheduler::start(schedule::jobs(&cfg), cfg.daemon.zone, &persisted.last_run, clock());
                sched = s;
            }
        }
    }
}

/// The loop is running (for `/healthz`) while this lives.
struct Running(Shared);

impl Running {
    fn start(status: &Shared, cfg: &Config) -> Running {
        lock(status).running = true;
        shown(status, cfg);
        Running(Arc::clone(status))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        lock(&self.0).running = false;
    }
}

/// The config in force, for the page.
fn shown(status: &Shared, cfg: &Config) {
    let mut st = lock(status);
    st.zone = cfg.daemon.zone;
    st.config = Some(cfg.clone());
}

/// Waits out `[daemon] jitter` before `batch`. `Break`: told to stop meanwhile (the batch,
/// never started, is not recorded as run).
async fn jitter(
    cfg: &Config,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    batch: &[Job],
) -> std::ops::ControlFlow<()> {
    let pause = crate::backoff::jitter(cfg.daemon.jitter);
    if pause.is_zero() {
        return std::ops::ControlFlow::Continue(());
    }
    tokio::select! {
        () = tokio::time::sleep(pause) => std::ops::ControlFlow::Continue(()),
        _ = stop.wait_for(|s| *s) => {
            tracing::info!(
                jobs = %batch.iter().map(|j| j.name.as_str()).collect::<Vec<_>>().join(", "),
                "stopping during the jitter: these jobs did not start and are not recorded as run"
            );
            std::ops::ControlFlow::Break(())
        }
    }
}

/// What a running batch shares with the loop: slots still come while it runs (a source
/// already in the batch skips its slot; anything else waits in `pending`), and so do runs
/// asked for now and the stop.
struct During<'a> {
    sched: &'a mut Scheduler,
    pending: &'a mut Vec<Job>,
    actions: &'a mut tokio::sync::mpsc::Receiver<Job>,
    stop: &'a mut tokio::sync::watch::Receiver<bool>,
    status: &'a Shared,
    time: &'a Time,
}

impl During<'_> {
    /// Runs `work` (the batch `batch`) to its end. `Break`: told to stop; the batch got
    /// `grace` to end.
    async fn run(
        self,
        work: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>,
        batch: &[Job],
        grace: Duration,
    ) -> std::ops::ControlFlow<()> {
        let clock = self.time.clock();
        let mut work = work;
        let running: BTreeSet<String> = batch.iter().map(|j| j.name.clone()).collect();
        loop {
            let wake = self.sched.next_wake();
            let sleep = self.time.while_busy(wake);
            tokio::select! {
                () = &mut work => {
                    lock(self.status).batch = None;
                    return std::ops::ControlFlow::Continue(());
                }
                () = sleep => {
                    for j in self.sched.due(clock()) {
                        if running.contains(&j.name) {
                            tracing::warn!(job = %j.name, "skipped a slot: the previous run is still going");
                            *lock(self.status).skipped_total.entry(j.name.clone()).or_default() += 1;
                        } else if !self.pending.iter().any(|p| p.name == j.name) {
                            self.pending.push(j);
                        }
                    }
                }
                Some(j) = self.actions.recv() => {
                    if !self.pending.iter().any(|p| p.name == j.name) {
                        self.pending.push(j);
                    }
                }
                _ = self.stop.changed() => {
                    tracing::info!("stopping: giving the running jobs {}s to finish", grace.as_secs());
                    if tokio::time::timeout(grace, &mut work).await.is_err() {
                        tracing::warn!("the running jobs did not finish within shutdown_grace: aborted (nothing partial counts; pending backups stay in the spool)");
                    }
                    return std::ops::ControlFlow::Break(());
                }
            }
        }
    }
}

/// Sleeps until `wake` on `clock` (for ever when nothing is scheduled).
async fn sleep_until(clock: &Clock, wake: Option<DateTime<Utc>>) {
    match wake {
        None => std::future::pending::<()>().await,
        Some(at) => {
            let d = (at - clock()).to_std().unwrap_or(Duration::ZERO);
            tokio::time::sleep(d).await;
        }
    }
}

/// The daemon's runner: the operations themselves.
pub struct Ops {
    pub status: Shared,
    /// Turns true when the daemon is told to stop: a standby drill under way removes its
    /// placed zip from the standby's repository before the shutdown grace ends.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// The jobs' clock; `None`: the wall clock (via tokio's), taken afresh for each batch.
    pub clock: Option<Clock>,
}

impl Runner for Ops {
    fn run(
        &self,
        cfg: &Config,
        jobs: Vec<Job>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
        let cfg = cfg.clone();
        Box::pin(async move {
            let clock = self.clock.clone().unwrap_or_else(tokio_clock);
            let ctx = crate::ops::Ctx::open(cfg).await.with_clock(clock);
            let sources: Vec<String> = jobs
                .iter()
                .filter_map(|j| match &j.kind {
                    JobKind::Backup(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            if !sources.is_empty() {
                self.backup(&ctx, sources).await;
                // Every surface shows each source's verdict as soon as its backup ran, not
                // at the next scheduled check: a shallow check after the batch.
                if !jobs.iter().any(|j| matches!(j.kind, JobKind::Check))
                    && let Some(check) = action_job(JobKind::Check)
                {
                    self.other(&ctx, &check).await;
                }
            }
            for j in jobs
                .iter()
                .filter(|j| !matches!(j.kind, JobKind::Backup(_)))
            {
                self.other(&ctx, j).await;
            }
        })
    }
}

impl Ops {
    async fn backup(&self, ctx: &crate::ops::Ctx, sources: Vec<String>) {
        let started = std::time::Instant::now();
        crate::notify::started(&ctx.config.notify).await;
        let opts = crate::ops::backup::BackupOptions {
            sources: sources.clone(),
        };
        let seconds = |s: std::time::Instant| (s.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        match crate::ops::backup::run(ctx, &opts).await {
            Ok(report) => {
                // The full report at debug; at info, one line per source (below).
                tracing::debug!("{}", crate::report::human::backup(&report).trim_end());
                {
                    let mut st = lock(&self.status);
                    for s in &report.sources {
                        let (word, id, verdict) = match &s.result {
                            crate::outcome::RunResult::Stored { id, verdict, .. } => (
                                if verdict.ok {
                                    "ok"
                                } else if verdict.copies > 0 {
                                    "degraded"
                                } else {
                                    "failed"
                                },
                                Some(id.clone()),
                                Some(crate::report::human::verdict_counts(verdict, &report.rule)),
                            ),
                            crate::outcome::RunResult::Failed { .. } => ("failed", None, None),
                        };
                        *st.runs_total
                            .entry((s.source.clone(), word.to_string()))
                            .or_default() += 1;
                        let took = seconds(started);
                        match &s.result {
                            crate::outcome::RunResult::Stored {
                                id,
                                verdict,
                                already_stored,
                                ..
                            } => tracing::info!(
                                job = %format!("backup {}", s.source),
                                source = %s.source,
                                result = word,
                                seconds = took,
                                copies = verdict.copies,
                                media = verdict.media,
                                offsite = verdict.offsite,
                                declared = verdict.declared.len(),
                                id = %id,
                                already_stored,
                                "backup {}: {word} in {}, {}{}",
                                s.source,
                                crate::format::duration(Duration::from_secs_f64(took)),
                                crate::report::human::verdict_counts(verdict, &report.rule),
                                if *already_stored { " (already stored)" } else { "" }
                            ),
                            crate::outcome::RunResult::Failed { error } => tracing::warn!(
                                job = %format!("backup {}", s.source),
                                source = %s.source,
                                result = word,
                                seconds = took,
                                copies = 0,
                                "backup {}: failed in {}: {error}",
                                s.source,
                                crate::format::duration(Duration::from_secs_f64(took))
                            ),
                        }
                        st.last.insert(
                            s.source.clone(),
                            SourceLast {
                                result: word.into(),
                                at: ctx.now(),
                                seconds: seconds(started),
                                id,
                                verdict,
                            },
                        );
                    }
                    ctx.state.write_json(LAST_FILE, &st.last, "last runs");
                }
                crate::notify::after_backup(&ctx.config.notify, &ctx.state, &report, ctx.now())
                    .await;
            }
            Err(e) => {
                tracing::error!(sources = ?sources, "scheduled backup did not run: {e}");
                {
                    let mut st = lock(&self.status);
                    for s in &sources {
                        *st.runs_total
                            .entry((s.clone(), "failed".into()))
                            .or_default() += 1;
                    }
                }
                crate::notify::run_failed(&ctx.config.notify, &e.to_string(), ctx.now()).await;
            }
        }
    }

    async fn other(&self, ctx: &crate::ops::Ctx, j: &Job) {
        use crate::ops::{check, prune, repair};
        let r = match &j.kind {
            JobKind::Check | JobKind::DeepCheck | JobKind::Drill => {
                let opts = check::CheckOptions {
                    deep: !matches!(j.kind, JobKind::Check),
                    identity: matches!(j.kind, JobKind::Drill)
                        .then(|| ctx.config.schedule.identity.clone())
                        .flatten(),
                    ..Default::default()
                };
                match check::run(ctx, &opts).await {
                    Ok(report) => {
                        let word = report.status.label().to_string();
                        let metrics = crate::report::prometheus::render(&report);
                        let first = crate::report::nagios::render(&report)
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .to_string();
                        let previous = {
                            let mut st = lock(&self.status);
                            st.check_metrics = Some(metrics);
                            st.check = Some(report.clone());
                            st.check_status.replace(word.clone())
                        };
                        let mut msgs = Vec::new();
                        if let Some(p) = previous.filter(|p| *p != word) {
                            msgs.push(crate::notify::check_changed(&p, &word, &first, ctx.now()));
                        }
                        for s in &report.sources {
                            if let Some(d) = s.drill.as_ref().filter(|d| {
                                !d.ok && d.at >= ctx.now() - chrono::TimeDelta::hours(1)
                            }) {
                                msgs.push(crate::notify::drill_failed(
                                    &s.status.source,
                                    &d.id,
                                    &d.target,
                                    d.error.as_deref().unwrap_or("failed"),
                                    ctx.now(),
                                ));
                            }
                        }
                        if !msgs.is_empty() {
                            let mut memory = crate::notify::Memory::load(&ctx.state);
                            crate::notify::send(&ctx.config.notify, &msgs, &mut memory).await;
                            memory.save(&ctx.state);
                        }
                        Ok(format!("check: {word}"))
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            JobKind::Prune => prune::run(ctx, &prune::PruneOptions::default())
                .await
                .map(|r| {
                    format!(
                        "prune: removed {}",
                        r.removed_per_target().values().sum::<u64>()
                    )
                })
                .map_err(|e| e.to_string()),
            JobKind::Repair => repair::run(ctx, &repair::RepairOptions::default())
                .await
                .map(|r| format!("repair: {} still pending", r.pending()))
                .map_err(|e| e.to_string()),
            JobKind::StandbyDrill => self.standby_drill(ctx).await.map_err(|e| e.to_string()),
            JobKind::Plan => write_runbook(ctx)
                .await
                .map(|p| format!("plan: runbook written to {}", p.display()))
                .map_err(|e| e.to_string()),
            JobKind::Backup(_) => Ok(String::new()),
        };
        match r {
            Ok(done) => tracing::info!(job = %j.name, "{done}"),
            Err(e) => tracing::error!(job = %j.name, "scheduled job failed: {e}"),
        }
    }
}

impl Ops {
    /// `[schedule] standby_drill`: every source with a standby, recorded and notified by the
    /// operation.
    async fn standby_drill(&self, ctx: &crate::ops::Ctx) -> Result<String, crate::ops::OpError> {
        use futures::FutureExt;
        // The config refuses a standby_drill without an identity; none means nothing to do.
        let identity = ctx.config.schedule.identity.clone().unwrap_or_default();
        let mut stop = self.stop.clone();
        let stopped = async move {
            match &mut stop {
                Some(rx) => {
                    let _ = rx.wait_for(|s| *s).await;
                }
                None => std::future::pending().await,
            }
        }
        .boxed()
        .shared();
        let opts = crate::ops::drill::StandbyOptions {
            sources: Vec::new(),
            identity,
        };
        crate::ops::drill::standby(ctx, &opts, stopped)
            .await
            .map(|r| {
                format!(
                    "standby drill: {} of {} matched",
                    r.drills.iter().filter(|d| d.fact.ok).count(),
                    r.drills.len()
                )
            })
    }
}

/// Writes the runbook to `[plan] write_to` (Markdown for `.md`, else HTML), atomically; a
/// path holding `{tenant}` gives one runbook per tenant, each of its own sources only.
async fn write_runbook(ctx: &crate::ops::Ctx) -> Result<std::path::PathBuf, crate::ops::OpError> {
    let Some(path) = ctx.config.plan.write_to.clone() else {
        return Err(crate::ops::OpError::NoRunbookPath);
    };
    let text = path.to_string_lossy().into_owned();
    if !text.contains("{tenant}") {
        return write_one_runbook(ctx, path, Vec::new()).await;
    }
    for t in &ctx.config.tenants {
        let to = std::path::PathBuf::from(text.replace("{tenant}", &t.name));
        write_one_runbook(ctx, to, t.sources.clone()).await?;
    }
    Ok(path)
}

/// One runbook, of `sources` (every one when empty).
async fn write_one_runbook(
    ctx: &crate::ops::Ctx,
    path: std::path::PathBuf,
    sources: Vec<String>,
) -> Result<std::path::PathBuf, crate::ops::OpError> {
    let report = crate::ops::plan::run(ctx, &crate::ops::plan::PlanOptions { sources }).await?;
    let markdown = path.extension().is_some_and(|e| e == "md");
    let text = if markdown {
        crate::report::runbook::markdown(&report, &ctx.config, ctx.now())
    } else {
        crate::report::runbook::html(&report, &ctx.config, ctx.now())
    };
    let to = path.clone();
    tokio::task::spawn_blocking(move || crate::state::write_atomic(&to, text.as_bytes()))
        .await
        .map_err(|e| crate::ops::OpError::Task {
            what: "writing the runbook",
            error: e.to_string(),
        })?
        .map_err(crate::ops::io_error(format!(
            "cannot write the runbook to {}",
            path.display()
        )))?;
    Ok(path)
}

#[cfg(test)]
mod tests;
