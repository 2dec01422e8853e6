//! `pbx321 repair`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, Format, load_config, print};
use crate::ops::repair::{self, RepairOptions};
use crate::report;

/// Give every kept backup a verified copy on every target that keeps it: from the spool,
/// or from a verified copy on another target (never from the PBX)
#[derive(Debug, clap::Args)]
#[command(after_help = "EXIT STATUS
  0  every copy retention keeps is there and verified (or, with --dry-run, nothing to do)
  1  nothing could be repaired (the targets could not be read)
  2  usage or config error; nothing was done
  3  some copies are still missing: a repair failed or was skipped (a locked or forged
     copy, a target that could not be listed); with --dry-run: repairs are needed

`backup` runs this for the sources it backed up unless repair = \"off\".")]
pub struct Args {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Sources to repair [default: all]
    pub sources: Vec<String>,
    /// Say what would be repaired; write nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// First read every kept copy back (sha256) and replace the corrupt ones
    #[arg(long)]
    pub deep: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let cfg = load_config(config).map_err(|e| Failure::new(Exit::Usage, e))?;
    let ctx = crate::ops::Ctx::open(cfg).await;
    let opts = RepairOptions {
        sources: args.sources,
        dry_run: args.dry_run,
        deep: args.deep,
        skip_pending: false,
    };
    let report = repair::run(&ctx, &opts).await.map_err(Failure::from)?;
    print(&match args.format {
        Format::Human => report::human::repair(&report),
        Format::Json => report::json::render(&report),
    })?;
    let code = if report.unreachable.len() == ctx.targets.len() {
        Exit::Failed
    } else if report.pending() == 0 && report.unreachable.is_empty() {
        Exit::Ok
    } else {
        Exit::Partial
    };
    Ok(ExitCode::from(code))
}
