//! `pbx321 config …`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, load_config, print};
use crate::report;

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and print a summary (exit 2 with every problem if it is bad)
    Check,
}

pub fn run(config: Option<PathBuf>, cmd: ConfigCommand) -> CmdResult {
    match cmd {
        ConfigCommand::Check => {
            let cfg = load_config(config).map_err(|e| Failure::new(Exit::Usage, e))?;
            print(&report::human::config(&cfg));
            Ok(ExitCode::from(Exit::Ok))
        }
    }
}
