//! pbx321: 3-2-1 backups for 3CX phone systems.
//!
//! # Layout
//!
//! A house of rooms on floors, and every arrow points down (docs/architecture.md draws it;
//! `tests/integration/layering.rs` holds the code to it): `cli → daemon → report → ops →
//! notify → outcome → {policy, spool, fanout} → {catalog, source, targets} → … → {error,
//! escape, format, …}`. `catalog`, `policy`, `manifest`, `config`, `facts` and `format` do no
//! I/O and take time as an argument; `source` and `targets` never import what is above them.
//!
//! - [`cli`]: one file per subcommand; parse, call one operation, render, exit code.
//! - [`daemon`]: the scheduler, its jobs, and the HTTP server (status page, metrics, API).
//! - [`report`]: human, JSON, Nagios, Prometheus, status page and runbook renderers; the one
//!   place reasons are worded.
//! - [`ops`]: backup, restore, check, list, prune, repair, plan, keygen, config check —
//!   returning typed reports.
//! - [`notify`]: webhook, healthchecks and e-mail notifications, fed by run outcomes.
//! - [`outcome`]: what a backup or repair run did, as notify, history and report read it.
//! - [`policy`]: pure decisions — the 3-2-1 invariant, status, retention, pruning, readiness.
//! - [`spool`]: sealed backups waiting for their copies; pending, bounds, crash leftovers.
//! - [`fanout`]: one spool file → N targets concurrently, each with its own retries.
//! - [`catalog`]: what the targets hold, as a pure index with typed copy states.
//! - [`source`]: where backups come from (folder, command, 3CX V20 XAPI, 3CX V18 console API).
//! - [`targets`]: where copies go — the `Target` contract, fs, SFTP, WebDAV, S3, in-memory,
//!   retry, stall.
//! - [`facts`]: plain facts gathered at the edges for `policy` to judge (pure), and asked
//!   for at once within a deadline (`facts::gather`).
//! - [`progress`]: progress bars, drawn only on a terminal.
//! - [`config`]: the TOML config, serde types and pure validation with `file:line` errors.
//! - [`stream`]: byte streams between the async edges and the blocking middle.
//! - [`seal`]: sha256 → zstd → age → sha256 and back, streaming.
//! - [`history`]: the run history and prune totals in the state directory.
//! - [`manifest`]: the on-target metadata format and object layout (pure).
//! - [`state`]: the state directory: run lock, safe file writes, small JSON files.
//! - [`error`]: the error policy.
//! - [`backoff`]: the one retry policy (backoff with jitter) and source of randomness.
//! - [`escape`]: the one way text from outside (a PBX, a target, a command) is shown.
//! - [`format`]: sizes, durations and counts for people, worded once.
//! - [`secret`]: `{ env = … }` / `{ file = … }` secrets, resolved at the edge, never printed.
//! - [`share`]: who else may read what pbx321 writes (`file_group`).
//! - [`sign`]: manifest signatures (SSHSIG, ed25519) and the trusted keys.
//! - [`flush`]: making a write durable (fsync of a file and its directory).
//! - [`plainfile`]: the restored plaintext: unnamed until verified, never left behind.
//! - [`pool`]: threads for the blocking stages of a seal, from the runtime's pool that lives
//!   for the run.
//! - [`zipcheck`]: a streaming check that a zip is a whole, readable 3CX backup.
//! - [`readcache`]: manifests and signatures already read from stores that tag their
//!   content (S3's ETag), used again only under the same tag.
//! - `testutil`: 3CX-like sample backups for the tests (only with the `test-support`
//!   feature, which the tests turn on; never in a release build).

pub mod backoff;
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
pub mod outcome;
pub mod plainfile;
pub mod policy;
pub mod pool;
pub mod progress;
pub mod readcache;
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
