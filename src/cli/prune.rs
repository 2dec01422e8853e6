//! `pbx321 prune`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, Format, load_config, print};
use crate::ops::prune::{self, PruneOptions};
use crate::report;

/// Remove the copies the [retention] rules no longer keep (never the newest backup, the
/// newest that meets the rule, the last verified copy of a kept backup, or a locked copy)
#[derive(Debug, clap::Args)]
#[command(after_help = "EXIT STATUS
  0  everything the rules drop was removed (or, with --dry-run, would be)
  1  nothing could be pruned (the targets could not be read), or prune refused: a backup
     that would count is dated after this host's clock
  2  usage or config error; nothing was done
  3  pruned in part: a target could not be listed or read (nothing removed there), or a
     removal failed

Without [retention] rules everything is kept; see docs/retention.md.")]
pub struct Args {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Sources to prune [default: all]
    pub sources: Vec<String>,
    /// Say what would be removed and why; remove nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let cfg = load_config(config).map_err(|e| Failure::new(Exit::Usage, e))?;
    let ctx = crate::ops::Ctx::open(cfg).await;
    let opts = PruneOptions {
        sources: args.sources,
        dry_run: args.dry_run,
    };
    let report = prune::run(&ctx, &opts).await.map_err(Failure::from)?;
    print(&match args.format {
        Format::Human => report::human::prune(&report),
        Format::Json => report::json::render(&report),
    })?;
    let code = if !report.refused.is_empty() || report.unreachable.len() == ctx.targets.len() {
        Exit::Failed
    } else if report.complete() {
        Exit::Ok
    } else {
        Exit::Partial
    };
    Ok(ExitCode::from(code))
}
