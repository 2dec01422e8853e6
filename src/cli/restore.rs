//! `pbx321 restore`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::{CmdResult, Exit, Failure, load_config, print};
use crate::ops::restore::{self, RestoreError, RestoreOptions};
use crate::report;

/// Restore a backup to its original bytes (newest by default)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Targets are tried in config order (or only --from); any failure moves on to the
next. The file is written unnamed in --to's directory and gets its name only after the
sealed and the plain sha256 both match the manifest: a killed restore leaves no plaintext.

EXIT STATUS
  0  restored and verified
  1  no target could restore it
  2  usage or config error (e.g. --to exists without --force)"
)]
pub struct Args {
    /// Source name
    #[arg(long)]
    pub source: String,
    /// Also trust signatures by this public key ("ssh-ed25519 AAAA…"), or by the keys in
    /// this file (one per line); repeatable. On a machine without the config, this is how
    /// copies are verified
    #[arg(long = "trusted-key", value_name = "KEY|FILE")]
    pub trusted_key: Vec<String>,
    /// Backup id (see `pbx321 list`)
    #[arg(long, conflicts_with = "at")]
    pub backup: Option<String>,
    /// The newest backup made at or before this time (RFC 3339, e.g. 2026-11-24T18:00:00Z)
    #[arg(long)]
    pub at: Option<String>,
    /// Where to write the restored zip
    #[arg(long)]
    pub to: PathBuf,
    /// age identity file (the secret key)
    #[arg(long, short = 'i')]
    pub identity: PathBuf,
    /// Only this target
    #[arg(long)]
    pub from: Option<String>,
    /// Replace --to if it exists
    #[arg(long)]
    pub force: bool,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let cfg = load_config(config).map_err(|e| Failure::new(Exit::Usage, e))?;
    let at = args
        .at
        .as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.to_utc())
                .with_context(|| format!("--at {s:?}: write a time like 2026-11-24T18:00:00Z"))
        })
        .transpose()
        .map_err(|e| Failure::new(Exit::Usage, e))?;
    let opts = RestoreOptions {
        source: args.source,
        backup: args.backup,
        at,
        to: args.to,
        identity: args.identity,
        from: args.from,
        force: args.force,
    };
    let ctx = crate::ops::Ctx::open(cfg).await.with_trusted(
        super::trusted_keys(&args.trusted_key).map_err(|e| Failure::new(Exit::Usage, e))?,
    );
    match restore::run(&ctx, &opts).await {
        Ok(report) => {
            print(&report::human::restore(&report))?;
            Ok(ExitCode::from(Exit::Ok))
        }
        Err(e @ RestoreError::Usage(_)) => Err(Failure::new(Exit::Usage, e)),
        Err(e) => Err(Failure::new(Exit::Failed, e)),
    }
}
