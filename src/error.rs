//! Error policy.
//!
//! - Library code returns `thiserror` enums, one per layer ([`crate::config::ConfigError`],
//!   [`crate::target::TargetError`], [`crate::source::SourceError`],
//!   [`crate::seal::SealError`], [`crate::ops::OpError`]). Storage errors say whether a retry
//!   can help ([`crate::target::TargetError::is_retryable`]); only the retry wrapper acts on
//!   that.
//! - Only the binary side (`cli`) uses `anyhow`, adding context and choosing the exit code.
//!   Errors are printed once, with their cause chain (`{:#}`).
//! - Every message says what failed and what to do next: which file and line, which target,
//!   which flag to pass. Messages never contain a secret or backup content: secrets are
//!   [`crate::secret::Secret`], whose `Debug`/`Display` print only where the value comes from.
//! - One failing target or source is a result in a report, not an error: the run goes on.
