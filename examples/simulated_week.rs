//! The daemon over simulated time, for `scripts/bench.sh` (part `week`):
//!
//!     simulated_week CONFIG DAYS
//!
//! Runs `pbx321 daemon`'s own loop and jobs ([`pbx321::daemon::run_loop`] with
//! [`pbx321::daemon::Ops`]) on simulated time: it stands still while a batch runs and jumps
//! to the next slot when nothing does, so that DAYS of the config's schedule (say hourly
//! backups and a check every 15 minutes) run in minutes against the real targets. Before
//! each backup batch, every folder source gets a new zip dated now (simulated), as a PBX
//! writing its scheduled backup would. At the start and at each simulated midnight it
//! prints one JSON line: the process's RSS, open file descriptors and threads, and the size
//! of the state directory (with the run history apart: it keeps 40 days by design).
//!
//! Not part of the shipped program: simulated time must never meet real targets in use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pbx321::config::{Config, SourceKind};
use pbx321::daemon::{self, Ops, Runner, Simulated, Time};
use pbx321::policy::schedule::{Job, JobKind};

fn main() -> anyhow::Result<()> {
    // A daemon idles for minutes between slots, long enough for tokio's idle blocking
    // threads to end (after 10 s); simulated time has no such pause, so they end sooner.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_keep_alive(std::time::Duration::from_millis(50))
        .build()?
        .block_on(simulate())
}

async fn simulate() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(config), Some(days)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: simulated_week CONFIG DAYS");
    };
    let days: i64 = days.parse()?;
    let path = PathBuf::from(config);
    let cfg = Config::parse(&std::fs::read_to_string(&path)?, &path)?;
    let state = cfg.state_dir.clone();
    let start = Utc::now();
    let until = start + chrono::TimeDelta::days(days);
    sample(0, &state);
    let on_jump = {
        let state = state.clone();
        Box::new(move |from: DateTime<Utc>, to: DateTime<Utc>| {
            let (a, b) = ((from - start).num_days(), (to - start).num_days());
            if b > a {
                // The idle minutes before the next slot, in short: the threads of the last
                // batch end, as they would.
                std::thread::sleep(std::time::Duration::from_millis(300));
                sample(b, &state);
            }
        })
    };
    let sim = Simulated::new(start, until, on_jump);
    let state = cfg.state_dir.clone();
    let time = Time::Simulated(Arc::clone(&sim));
    let status: daemon::Shared = Arc::default();
    let runner = Fresh {
        ops: Ops {
            status: Arc::clone(&status),
            stop: None,
            clock: Some(time.clock()),
        },
        sources: cfg
            .sources
            .iter()
            .filter_map(|s| match &s.kind {
                SourceKind::Folder(f) => Some((s.name.clone(), f.path.clone())),
                _ => None,
            })
            .collect(),
        sim: Arc::clone(&sim),
    };
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let (_reload_tx, reload) = tokio::sync::mpsc::channel(1);
    let (_actions_tx, actions) = tokio::sync::mpsc::channel(1);
    daemon::run_loop(
        cfg,
        &runner,
        time,
        status,
        daemon::Inputs {
            stop,
            reload,
            actions,
        },
    )
    .await?;
    // The last simulated day ends with the simulation.
    if (sim.now() - start).num_days() < days {
        std::thread::sleep(std::time::Duration::from_millis(300));
        sample(days, &state);
    }
    Ok(())
}

/// The daemon's runner, after a new zip in each folder source about to be backed up.
struct Fresh {
    ops: Ops,
    sources: Vec<(String, PathBuf)>,
    sim: Arc<Simulated>,
}

impl Runner for Fresh {
    fn run(
        &self,
        cfg: &Config,
        jobs: Vec<Job>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
        let now = self.sim.now();
        for j in &jobs {
            if let JobKind::Backup(name) = &j.kind
                && let Some((_, dir)) = self.sources.iter().find(|(n, _)| n == name)
                && let Err(e) = new_zip(dir, now)
            {
                eprintln!("cannot write a zip into {}: {e}", dir.display());
            }
        }
        self.ops.run(cfg, jobs)
    }
}

/// Replaces the folder's zip with a new one (256 KiB, half of it random) dated `now`.
fn new_zip(dir: &Path, now: DateTime<Utc>) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("3CXScheduledBackup.zip");
    let tmp = dir.join(".3CXScheduledBackup.zip.tmp");
    {
        let file = std::fs::File::create(&tmp)?;
        let mut z = zip::ZipWriter::new(file);
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("3CXPhoneSystemDb.xml", opts)
            .map_err(std::io::Error::other)?;
        for i in 0..2000 {
            writeln!(z, "<Extension Number='{i}' At='{now}'/>")?;
        }
        z.start_file(
            "Recordings/a.wav",
            opts.compression_method(zip::CompressionMethod::Stored),
        )
        .map_err(std::io::Error::other)?;
        let mut noise = vec![0u8; 128 * 1024];
        let mut x = now.timestamp() as u64 | 1;
        for b in noise.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        z.write_all(&noise)?;
        let file = z.finish().map_err(std::io::Error::other)?;
        file.set_modified(now.into())?;
    }
    std::fs::rename(&tmp, &path)
}

/// One line of figures for simulated day `day`.
fn sample(day: i64, state: &Path) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let history = std::fs::metadata(state.join(pbx321::history::FILE)).map_or(0, |m| m.len());
    let line = serde_json::json!({
        "day": day,
        "rss_kib": field("VmRSS:"),
        "fds": fds,
        "threads": field("Threads:"),
        "state_bytes": dir_size(state),
        "history_bytes": history,
        "files": files(state),
    });
    println!("{line}");
}

/// The size of each file directly in the state directory.
fn files(dir: &Path) -> serde_json::Map<String, serde_json::Value> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Default::default();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            m.is_file()
                .then(|| (e.file_name().to_string_lossy().into_owned(), m.len().into()))
        })
        .collect()
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
