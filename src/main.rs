//! The `pbx321` binary: parse arguments, run, exit with the command's code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Everything pbx321 creates is for its own user only (0600 files, 0700 directories),
    // whatever library creates it.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = pbx321::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pbx321: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(pbx321::cli::run(cli))
}
