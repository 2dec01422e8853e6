//! `pbx321 keygen`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, print};
use crate::ops::keygen;

/// Write a new age identity (mode 0600) and print its public recipient for the config
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the identity; never overwritten
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: Args) -> CmdResult {
    let public =
        keygen::run(&args.out, chrono::Utc::now()).map_err(|e| Failure::new(Exit::Failed, e))?;
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "wrote {}; keep it off the backup host. Put this in [encryption] recipients:",
        args.out.display()
    );
    print(&format!("{public}\n"))?;
    Ok(ExitCode::from(Exit::Ok))
}
