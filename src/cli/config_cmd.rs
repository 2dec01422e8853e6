//! `pbx321 config …`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, load_config, print};
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
    /// Report unset secret variables and unreadable secret files as warnings, not errors
    /// (to check a config meant for another machine)
    #[arg(long)]
    pub allow_missing_secrets: bool,
}

pub fn run(config: Option<PathBuf>, cmd: ConfigCommand) -> CmdResult {
    match cmd {
        ConfigCommand::Check(args) => {
            let cfg = load_config(config).map_err(|e| Failure::new(Exit::Usage, e))?;
            let missing = config_check::missing(&cfg);
            let fatal = !missing.is_empty() && !args.allow_missing_secrets;
            let mut text = report::human::config(&cfg, &missing, fatal);
            if !fatal {
                text = text.replacen(": problems", ": OK", 1);
            }
            print(&text)?;
            Ok(ExitCode::from(if fatal { Exit::Usage } else { Exit::Ok }))
        }
    }
}
