//! `pbx321 schedule`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, Format, load_config, print};
use crate::policy::schedule::{self, local_text};

/// Print the next run times of every scheduled job, in the daemon's time zone
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Like `systemd-analyze calendar`: check a schedule before you rely on it.
Cron fields: minute hour day-of-month month day-of-week (0 and 7 = Sunday, 1-5 = Monday to
Friday); an optional 6th leading field is seconds. See docs/scheduling.md.

EXIT STATUS
  0  printed (also when nothing is scheduled)
  2  usage or config error"
)]
pub struct Args {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// How many run times per job
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub count: u16,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(serde::Serialize)]
struct Line {
    job: String,
    schedule: String,
    next: Vec<String>,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let cfg = load_config(config).map_err(|e| Failure::new(Exit::Usage, e))?;
    let zone = cfg.daemon.zone;
    let now = chrono::Utc::now();
    let lines: Vec<Line> = schedule::jobs(&cfg)
        .into_iter()
        .map(|j| Line {
            next: schedule::next_runs(&j.spec, now, &zone, args.count as usize)
                .into_iter()
                .map(|t| local_text(t, &zone))
                .collect(),
            job: j.name,
            schedule: j.spec.text,
        })
        .collect();
    let text = match args.format {
        Format::Json => crate::report::json::render(&lines),
        Format::Human => {
            use std::fmt::Write;
            let mut s = String::new();
            if lines.is_empty() {
                let _ = writeln!(
                    s,
                    "nothing is scheduled: add schedule = \"30 2 * * *\" to a [[source]], or a [schedule] section"
                );
            }
            for l in &lines {
                let _ = writeln!(s, "{}: {:?} in {}", l.job, l.schedule, zone.name());
                for (i, t) in l.next.iter().enumerate() {
                    let when = chrono::DateTime::parse_from_rfc3339(t)
                        .map(|d| d.format("%a %Y-%m-%d %H:%M:%S %:z").to_string())
                        .unwrap_or_else(|_| t.clone());
                    let _ = writeln!(s, "  {} {when}", if i == 0 { "next:" } else { "     " });
                }
            }
            s
        }
    };
    print(&text)?;
    Ok(ExitCode::from(Exit::Ok))
}
