//! `pbx321 list`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, load_config, print};
use crate::ops::list;
use crate::report;

/// List the backups on the targets and which targets hold a verified copy
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this source
    pub source: Option<String>,
    /// Also trust signatures by this public key ("ssh-ed25519 AAAA…"), or by the keys in
    /// this file (one per line); repeatable. On a machine without the config, this is how
    /// copies are verified
    #[arg(long = "trusted-key", value_name = "KEY|FILE")]
    pub trusted_key: Vec<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let cfg = load_config(config).map_err(|e| Failure::new(Exit::Usage, e))?;
    let ctx = crate::ops::Ctx::open(cfg).await.with_trusted(
        super::trusted_keys(&args.trusted_key).map_err(|e| Failure::new(Exit::Usage, e))?,
    );
    let report = list::run(&ctx, args.source.as_deref())
        .await
        .map_err(|e| Failure::new(Exit::Failed, e))?;
    print(&if args.json {
        report::json::render(&report)
    } else {
        report::human::list(&report)
    })?;
    Ok(ExitCode::from(if report.unreachable.is_empty() {
        Exit::Ok
    } else {
        Exit::Partial
    }))
}
