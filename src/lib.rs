//! pbx321: 3-2-1 backups for 3CX phone systems.
//!
//! # Layout
//!
//! Dependencies point one way: `cli → ops → {seal, fanout, source, target, policy, manifest,
//! config}`. `policy`, `manifest` and `config` do no I/O; `source` and `target` never import
//! `ops`, `policy` or `cli`.
//!
//! - [`catalog`]: what the targets hold, as a pure index with typed copy states.
//! - [`cli`]: one file per subcommand; parse, call one operation, render, exit code.
//! - [`config`]: the TOML config, serde types and pure validation with `file:line` errors.
//! - [`secret`]: `{ env = … }` / `{ file = … }` secrets, resolved at the edge, never printed.
//! - [`manifest`]: the on-target metadata format and object layout (pure).
//! - [`facts`]: plain facts gathered at the edges for `policy` to judge (pure).
//! - [`policy`]: pure decisions — the 3-2-1 invariant and the monitoring status.
//! - [`sign`]: manifest signatures (SSHSIG, ed25519) and the trusted keys.
//! - [`seal`]: sha256 → zstd → age → sha256 and back, streaming.
//! - [`fanout`]: one spool file → N targets concurrently, each with its own retries.
//! - [`source`]: where backups come from (folder, command, 3CX V20 XAPI, 3CX V18 console API).
//! - [`targets`]: where copies go — the `Target` contract, fs, SFTP, WebDAV, S3, in-memory, retry, stall.
//! - [`state`]: the state directory: run lock, history, safe file writes.
//! - [`spool`]: sealed backups waiting for their copies; pending, bounds, crash leftovers.
//! - [`stream`]: byte streams between the async edges and the blocking middle.
//! - `testutil`: 3CX-like sample backups for the tests (only with the `test-support`
//!   feature, which the tests turn on; never in a release build).
//! - [`zipcheck`]: a streaming check that a zip is a whole, readable 3CX backup.
//! - [`plainfile`]: the restored plaintext: unnamed until verified, never left behind.
//! - [`ops`]: backup, restore, check, list, keygen — returning typed reports.
//! - [`report`]: human and JSON renderers of those reports.
//! - [`error`]: the error policy.
//! - [`escape`]: the one way text from outside (a PBX, a target, a command) is shown.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod error;
pub mod escape;
pub mod facts;
pub mod fanout;
pub mod flush;
pub mod format;
pub mod history;
pub mod manifest;
pub mod notify;
pub mod ops;
pub mod plainfile;
pub mod policy;
pub mod progress;
pub mod report;
pub mod seal;
pub mod secret;
pub mod share;
pub mod sign;
pub mod source;
pub mod spool;
pub mod state;
pub mod stream;
pub mod targets;
#[cfg(any(test, feature = "test-support"))]
pub mod testutil;
pub mod zipcheck;
