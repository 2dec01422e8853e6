//! `pbx321 check`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Failure, Format, load_config, print};
use crate::ops::check::{self, CheckOptions};
use crate::policy::Status;
use crate::report;

/// Is every source safe right now? For people and monitoring systems
#[derive(Debug, clap::Args)]
#[command(after_help = "EXIT STATUS (Nagios plugin meanings)
  0  OK        the newest backup of every source meets the rule and is fresh
  1  WARNING   a newer backup misses the rule but an older one within max_age meets it,
               the newest compliant backup is past warn_age, or a target is unreachable
  2  CRITICAL  no backup within max_age meets the rule, or the newest has a corrupt copy
  3  UNKNOWN   the config could not be read or the check could not run")]
pub struct Args {
    /// Sources to check [default: all]
    pub sources: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let unknown = |e| Failure::new(ExitCode::from(Status::Unknown as u8), e);
    let cfg = load_config(config).map_err(unknown)?;
    let opts = CheckOptions {
        sources: args.sources,
    };
    let report = check::run(&cfg, &opts, chrono::Utc::now())
        .await
        .map_err(|e| unknown(e.into()))?;
    print(&match args.format {
        Format::Human => report::human::check(&report),
        Format::Json => report::json::render(&report),
    });
    Ok(ExitCode::from(report.status as u8))
}
