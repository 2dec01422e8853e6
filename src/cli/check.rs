//! `pbx321 check`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::{CmdResult, Failure, print_or};
use crate::ops::check::{self, CheckOptions};
use crate::policy::Status;
use crate::report;

/// Is every source safe right now? For people and monitoring systems
#[derive(Debug, clap::Args)]
#[command(after_help = "EXIT STATUS (Nagios plugin meanings)
  0  OK        the newest backup of every source meets the rule and is fresh
  1  WARNING   a newer backup misses the rule but an older one within max_age meets it,
               the newest compliant backup is past warn_age, a target is unreachable,
               or a restore drill is overdue
  2  CRITICAL  no backup within max_age meets the rule, the newest has a corrupt copy,
               or the drill of the newest backup failed
  3  UNKNOWN   the config could not be read, the check could not run, or a target
               may not be read by this user (permission denied; see file_group)")]
pub struct Args {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Sources to check [default: all]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub from: super::FromArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
    /// Read every copy of the newest backup back and compare its sha256 with the manifest
    #[arg(long)]
    pub deep: bool,
    /// With --deep: every backup, not only the newest
    #[arg(long, requires = "deep")]
    pub all: bool,
    /// With --deep: also decrypt and decompress the newest backup and check its zip (the
    /// restore drill); the outcome is recorded for later checks
    #[arg(long, short = 'i', requires = "deep", value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Also write the metrics to DIR/pbx321.prom, atomically (node_exporter textfile collector)
    #[arg(long, value_name = "DIR")]
    pub textfile: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum CheckFormat {
    Human,
    Json,
    Nagios,
    Prometheus,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let unknown = |e: anyhow::Error| {
        if args.format == CheckFormat::Nagios {
            // A plugin must print one status line even when it cannot run.
            let _ = print_or(
                &format!(
                    "PBX321 UNKNOWN - {}\n",
                    super::error_text(&e).lines().next().unwrap_or("")
                ),
                ExitCode::from(Status::Unknown as u8),
            );
        }
        Failure::new(ExitCode::from(Status::Unknown as u8), e)
    };
    let opened = super::open_for_reading(config, &args.from)
        .await
        .map_err(|f| unknown(f.error))?;
    let ctx = &opened.ctx;
    let opts = CheckOptions {
        sources: args.sources.clone(),
        deep: args.deep,
        all: args.all,
        identity: args.identity.clone(),
        readiness: false,
    };
    let report = check::run(ctx, &opts)
        .await
        .map_err(|e| unknown(e.into()))?;
    if let Some(dir) = &args.textfile {
        let path = dir.join("pbx321.prom");
        crate::state::write_atomic(&path, report::prometheus::render(&report).as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
            .map_err(unknown)?;
    }
    print_or(
        &match args.format {
            CheckFormat::Human => report::human::check(&report),
            CheckFormat::Json => report::json::render(&report),
            CheckFormat::Nagios => report::nagios::render(&report),
            CheckFormat::Prometheus => report::prometheus::render(&report),
        },
        ExitCode::from(Status::Unknown as u8),
    )?;
    Ok(ExitCode::from(report.status as u8))
}
