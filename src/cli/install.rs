//! `pbx321 completions SHELL` and `pbx321 man`: what a package installs beside the binary,
//! generated from the command line's own definition so that they never drift from it.

use std::process::ExitCode;

use clap::CommandFactory;

use super::{Cli, CmdResult, Exit, Failure};

/// Print shell completions (bash, zsh, fish) to stdout
#[derive(Debug, clap::Args)]
#[command(after_help = "INSTALL
  bash: pbx321 completions bash > /usr/share/bash-completion/completions/pbx321
  zsh:  pbx321 completions zsh  > /usr/share/zsh/vendor-completions/_pbx321
  fish: pbx321 completions fish > /usr/share/fish/vendor_completions.d/pbx321.fish")]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Print the man page (roff) to stdout, or write every page to a directory
#[derive(Debug, clap::Args)]
#[command(after_help = "INSTALL
  pbx321 man > /usr/share/man/man1/pbx321.1
  pbx321 man --out-dir /usr/share/man/man1   # pbx321.1 and pbx321-backup.1, … for each command")]
pub struct ManArgs {
    /// Write pbx321.1 and one page per command (pbx321-backup.1, …) into DIR instead
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<std::path::PathBuf>,
}

pub fn completions(args: CompletionsArgs) -> CmdResult {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pbx321", &mut out);
    write_out(&out)
}

pub fn man(args: ManArgs) -> CmdResult {
    let failed = |e: std::io::Error| Failure::new(Exit::Failed, anyhow::Error::from(e));
    // No page for clap's `help` subcommand: the root page must not name a pbx321-help(1)
    // that is never written.
    let cmd = Cli::command().disable_help_subcommand(true);
    if let Some(dir) = args.out_dir {
        clap_mangen::generate_to(cmd, &dir).map_err(|e| {
            Failure::new(
                Exit::Failed,
                anyhow::anyhow!("cannot write man pages into {}: {e}", dir.display()),
            )
        })?;
        return Ok(ExitCode::from(Exit::Ok));
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(failed)?;
    write_out(&out)
}

fn write_out(bytes: &[u8]) -> CmdResult {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new(Exit::Failed, anyhow::anyhow!("cannot write to stdout: {e}")))?;
    Ok(ExitCode::from(Exit::Ok))
}
