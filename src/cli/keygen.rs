//! `pbx321 keygen`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, print};
use crate::ops::keygen;

/// Write a new key (mode 0600, never over an existing file) and print its public half: an
/// age identity for encryption (--out), or an ed25519 key that signs manifests
/// (--signing-key)
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["out", "signing_key"])))]
pub struct Args {
    /// Write an age identity (the secret key backups are encrypted to) here; keep it OFF
    /// the backup host
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write an OpenSSH ed25519 signing key here (and its public key to FILE.pub); it stays
    /// on the backup host, 0600
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
}

pub fn run(args: Args) -> CmdResult {
    use std::io::Write;
    if let Some(out) = &args.out {
        let public = keygen::run(out, chrono::Utc::now()).map_err(Failure::from)?;
        let _ = writeln!(
            std::io::stderr(),
            "wrote {}; keep it off the backup host. Put this in [encryption] recipients:",
            out.display()
        );
        print(&format!("{public}\n"))?;
    }
    if let Some(key) = &args.signing_key {
        let public = keygen::signing_key(key).map_err(Failure::from)?;
        let _ = writeln!(
            std::io::stderr(),
            "wrote {} (and {}.pub); keep it on the backup host only. In the config: [signing] key = {:?}; on other machines trust this public key:",
            key.display(),
            key.display(),
            key.display().to_string()
        );
        print(&format!("{public}\n"))?;
    }
    Ok(ExitCode::from(Exit::Ok))
}
