//! The `pbx321` binary: parse arguments, run, exit with the command's code.

use std::process::ExitCode;

use clap::Parser;

/// glibc gives every thread that allocates its own arena and keeps what was freed there: a
/// fleet's concurrent seals grew to ~300 MiB. Two arenas hold it near 125 MiB at the same
/// speed. glibc reads the limit from the environment before the first allocation, so when
/// it is not set pbx321 sets it and executes itself again, once (the same process id, the
/// same arguments); an operator's own MALLOC_ARENA_MAX is left as it is.
fn bound_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "MALLOC_ARENA_MAX";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    // exec returns only when it failed: then run as we are.
    let _ = std::process::Command::new(exe)
        .arg0(argv0)
        .args(args)
        .env(VAR, "2")
        .exec();
}

fn main() -> ExitCode {
    bound_malloc_arenas();
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
