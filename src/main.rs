//! The `pbx321` binary: parse arguments, run, exit with the command's code.

use std::process::ExitCode;

use clap::Parser;

/// glibc's malloc, bounded: every thread that allocates gets its own arena and keeps what
/// was freed there (a fleet's concurrent seals grew to ~300 MiB; two arenas hold it far
/// lower at the same speed), and its mmap threshold rises with each large block freed, after
/// which such blocks come from the arenas and stay (a daemon's memory swung by a third from
/// one check to the next). A fixed threshold of 2 MiB gives the large read buffers back to
/// the system when they are freed, while the chunks handed between threads (256 KiB–1 MiB)
/// are reused (at 1 MiB, each 1 MiB chunk of a restore was a new mapping: a quarter slower).
/// glibc reads both from the environment before the first allocation, so when one is not set
/// pbx321 sets it and executes itself again, once (the same process id, the same arguments);
/// an operator's own values are left as they are.
fn bound_malloc() {
    use std::os::unix::process::CommandExt;
    const SETTINGS: [(&str, &str); 2] = [
        ("MALLOC_ARENA_MAX", "2"),
        ("MALLOC_MMAP_THRESHOLD_", "2097152"),
    ];
    let missing: Vec<(&str, &str)> = SETTINGS
        .into_iter()
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .collect();
    if missing.is_empty() {
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
        .envs(missing)
        .exec();
}

fn main() -> ExitCode {
    bound_malloc();
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
    let code = runtime.block_on(pbx321::cli::run(cli));
    // The command is done. A stage still running on the blocking pool (a staged copy that
    // was dropped behind a disk that stopped answering) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}
