//! Error policy.
//!
//! - Library code returns `thiserror` enums, one per layer ([`crate::config::ConfigError`],
//!   [`crate::targets::TargetError`], [`crate::source::SourceError`],
//!   [`crate::seal::SealError`], [`crate::ops::OpError`]). Storage errors say whether a retry
//!   can help ([`crate::targets::TargetError::is_retryable`]); only the retry wrapper acts on
//!   that.
//! - Only the binary side (`cli`) uses `anyhow`, adding context and choosing the exit code.
//!   Errors are printed once, with their cause chain (`{:#}`).
//! - Every message says what failed and what to do next: which file and line, which target,
//!   which flag to pass. Messages never contain a secret or backup content: secrets are
//!   [`crate::secret::Secret`], whose `Debug`/`Display` print only where the value comes from.
//! - One failing target or source is a result in a report, not an error: the run goes on.
//! - Permanent errors (a full disk, a permission, "not a directory") are never retried;
//!   [`io_is_transient`] and [`io_hint`] classify and explain `std::io` errors in one place.
//!   Internal context (library error chains, request ids) goes to debug logs only.

use std::io;

/// What an operator can do about an I/O error, as a parenthesised hint to append to a
/// message; empty when the error's own words say it all.
pub fn io_hint(e: &io::Error) -> &'static str {
    use io::ErrorKind::*;
    match e.kind() {
        StorageFull | QuotaExceeded => " (the file system is full: free space there)",
        ReadOnlyFilesystem => " (the file system is mounted read-only)",
        PermissionDenied => {
            " (permission denied: check the owner and mode, and the user pbx321 runs as)"
        }
        NotADirectory => " (a part of the path is a file, not a directory)",
        IsADirectory => " (this is a directory, a file was expected)",
        _ if is_out_of_fds(e) => {
            " (too many open files: raise the limit of open files, e.g. systemd's LimitNOFILE=)"
        }
        _ => "",
    }
}

/// Whether `e` says this process (EMFILE) or the system (ENFILE) ran out of file
/// descriptors: to be said as such, never taken for another error.
pub fn is_out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == rustix::io::Errno::MFILE.raw_os_error() || code == rustix::io::Errno::NFILE.raw_os_error())
}

/// Whether a retry of the same I/O can succeed without a human: interruptions, time-outs
/// and dropped connections, never a full disk or a permission.
pub fn io_is_transient(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        Interrupted
            | TimedOut
            | WouldBlock
            | ConnectionReset
            | ConnectionAborted
            | ConnectionRefused
            | NotConnected
            | BrokenPipe
            | UnexpectedEof
            | NetworkDown
            | NetworkUnreachable
            | HostUnreachable
            | ResourceBusy
    )
}
