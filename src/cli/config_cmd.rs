//! `pbx321 config …`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, Format, load_config, print};
use crate::ops::config_check;
use crate::report;

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and what it refers to on this machine (secrets, files), and print
    /// a summary; exit 2 with every problem if something is wrong
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Report unset secret variables and unreadable secret files as warnings, not errors
    /// (to check a config meant for another machine)
    #[arg(long, conflicts_with = "online")]
    pub allow_missing_secrets: bool,
    /// Also try everything for real: log in to every source (listing its backups, creating
    /// none) and write, read back and delete a small probe object on every target; exit 1
    /// if any fails
    #[arg(long)]
    pub online: bool,
}

pub async fn run(config: Option<PathBuf>, cmd: ConfigCommand) -> CmdResult {
    match cmd {
        ConfigCommand::Check(args) => {
            let cfg = match load_config(config) {
                Ok(c) => c,
                Err(e) if args.format == Format::Json => {
                    print(&report::json::render(&refused(&e)))?;
                    return Ok(ExitCode::from(Exit::Usage));
                }
                Err(e) => return Err(Failure::new(Exit::Usage, e)),
            };
            let missing = config_check::missing(&cfg);
            let fatal = !missing.is_empty() && !args.allow_missing_secrets;
            let ctx = crate::ops::Ctx::open(cfg).await;
            let mut summary = config_check::Summary::of(&ctx.config, &missing, fatal);
            summary.counting = Some(config_check::counting(&ctx).await);
            if args.online && !fatal {
                let probes = config_check::online(&ctx).await;
                summary.ok = probes.iter().all(|p| p.ok);
                summary.online = Some(probes);
            }
            print(&match args.format {
                Format::Human => report::human::config(&ctx.config, &summary),
                Format::Json => report::json::render(&summary),
            })?;
            let failed = summary.online.iter().flatten().any(|p| !p.ok);
            Ok(ExitCode::from(if fatal {
                Exit::Usage
            } else if failed {
                Exit::Failed
            } else {
                Exit::Ok
            }))
        }
    }
}

/// A config that could not be read or parsed, for `--format json`: every problem, one line
/// each.
fn refused(e: &anyhow::Error) -> config_check::Summary {
    let problems = match e.downcast_ref::<crate::config::ConfigError>() {
        Some(ce) => ce
            .problems
            .iter()
            .map(|p| match p.line {
                Some(l) => format!("{}:{l}: {}", ce.file.display(), p.message),
                None => format!("{}: {}", ce.file.display(), p.message),
            })
            .collect(),
        None => vec![super::error_text(e)],
    };
    config_check::Summary {
        ok: false,
        problems,
        missing: Vec::new(),
        sources: Vec::new(),
        targets: Vec::new(),
        tamper_evident: false,
        counting: None,
        online: None,
        same_directory: Vec::new(),
    }
}
