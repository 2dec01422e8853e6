//! `pbx321 backup`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, Format, load_config, print};
use crate::ops::backup::{self, BackupOptions};
use crate::report;

/// Back up now: seal the newest backup of each source and write it to every target
#[derive(Debug, clap::Args)]
#[command(after_help = "EXIT STATUS
  0  the new backup of every source meets the rule (copies, media, offsite)
  1  no copy was written for some source
  2  usage or config error; nothing was done
  3  copies were written, but the rule is not met for some source")]
pub struct Args {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Sources to back up [default: all]
    pub sources: Vec<String>,
    /// Only the sources whose name hashes to shard I of N (0 <= I < N): N cron jobs (or
    /// Kubernetes CronJobs) with 0/N … N-1/N split a fleet
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let cfg = load_config(config).map_err(|e| Failure::new(Exit::Usage, e))?;
    let mut sources = args.sources;
    if let Some(s) = &args.shard {
        let shard = crate::config::Shard::parse(s)
            .map_err(|e| Failure::new(Exit::Usage, anyhow::anyhow!(e)))?;
        let wanted: Vec<String> = cfg
            .sources
            .iter()
            .map(|c| c.name.clone())
            .filter(|n| sources.is_empty() || sources.contains(n))
            .filter(|n| shard.takes(n))
            .collect();
        if wanted.is_empty() {
            print(&format!(
                "shard {s}: no source of this config falls in it; nothing to do\n"
            ))?;
            return Ok(ExitCode::from(Exit::Ok));
        }
        sources = wanted;
    }
    let ctx = crate::ops::Ctx::open(cfg).await;
    let opts = BackupOptions { sources };
    crate::notify::started(&ctx.config.notify).await;
    let report = match backup::run(&ctx, &opts).await {
        Ok(r) => r,
        Err(e) if e.is_usage() => return Err(e.into()),
        Err(e) => {
            crate::notify::run_failed(&ctx.config.notify, &e.to_string(), ctx.now()).await;
            return Err(e.into());
        }
    };
    print(&match args.format {
        Format::Human => report::human::backup(&report),
        Format::Json => report::json::render(&report),
    })?;
    // Told after the report is out; a notifier that fails never changes the exit status.
    crate::notify::after_backup(&ctx.config.notify, &ctx.state, &report, ctx.now()).await;
    let code = if report.sources.iter().any(|s| !s.any_copy()) {
        Exit::Failed
    } else if report.sources.iter().all(|s| s.invariant_ok()) {
        Exit::Ok
    } else {
        Exit::Partial
    };
    Ok(ExitCode::from(code))
}
