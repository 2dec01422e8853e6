//! `pbx321 drill`

use std::path::PathBuf;
use std::process::ExitCode;

use futures::FutureExt;

use super::{CmdResult, Exit, Failure, Format, print};
use crate::ops::check::{self, CheckOptions};
use crate::ops::drill::{self, StandbyOptions};
use crate::report;

/// Prove that backups restore: decrypt and check the newest (default), or restore it into
/// a standby 3CX and compare the standby with it (--standby)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without --standby: the restore drill of `check --deep --identity`: every copy
of the newest backup read back, the newest decrypted and its zip checked, in memory.

With --standby: the newest backup that counts of each source with a [source.standby] is
restored into that standby 3CX V20 (as `restore --into`, without asking), and the standby,
once it answers again, compared with the backup's version and fingerprint. The result is
recorded for `check`, the status page and the metrics; a failure notifies drill-failed.

EXIT STATUS
  0  every drill passed
  1  a drill failed (the standby differs, refused the backup or did not come back)
  2  usage or config error (e.g. a source without a standby)"
)]
pub struct Args {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Sources to drill [default: all (with --standby: all that have a standby)]
    pub sources: Vec<String>,
    /// Restore into each source's standby PBX and compare it with the backup
    #[arg(long)]
    pub standby: bool,
    /// age identity file (the secret key)
    #[arg(long, short = 'i', value_name = "FILE")]
    pub identity: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let ctx = crate::ops::Ctx::open(
        super::load_config(config).map_err(|e| Failure::new(Exit::Usage, e))?,
    )
    .await;
    if args.standby {
        let opts = StandbyOptions {
            sources: args.sources,
            identity: args.identity,
        };
        let report = drill::standby(&ctx, &opts, super::interrupted().boxed().shared()).await?;
        print(&match args.format {
            Format::Human => report::human::standby_drills(&report),
            Format::Json => report::json::render(&report),
        })?;
        return Ok(ExitCode::from(if report.ok() {
            Exit::Ok
        } else {
            Exit::Failed
        }));
    }
    let opts = CheckOptions {
        sources: args.sources,
        deep: true,
        all: false,
        identity: Some(args.identity),
        readiness: false,
    };
    let report = check::run(&ctx, &opts).await?;
    print(&match args.format {
        Format::Human => report::human::check(&report),
        Format::Json => report::json::render(&report),
    })?;
    let ok = report
        .sources
        .iter()
        .all(|s| s.drill.as_ref().is_some_and(|d| d.ok));
    Ok(ExitCode::from(if ok { Exit::Ok } else { Exit::Failed }))
}
