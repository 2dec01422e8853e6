//! pbx321's integration tests: one binary, sharing `helpers::TestEnv`.
//!
//! - `conformance`: the target contract, run against every target implementation.
//! - `a_slow_links`: a slow WebDAV upload that keeps moving is never cut; an S3 part on a
//!   slow link shows progress (the longest tests: named to start first).
//! - `backup`: backup / restore / list / check end to end through the real binary,
//!   interop with the real `age` and `zstd` programs.
//! - `hardening`: issue 11's findings, one regression test each.
//! - `judgement`: issue 25's findings (one judgement of what counts, targets that cannot be
//!   escaped, contained commands, secret URLs, an HTTP server that holds), one test each.
//! - `into_pbx`: back into 3CX: the PBX's version and fingerprint in each manifest,
//!   `restore --into`, `--setup-config` and the standby drill against the emulator.
//! - `killed`: a run killed with SIGKILL mid-write, and crafted leftovers.
//! - `lifecycle`: retention, prune, repair and leftovers over many runs on a moved clock.
//! - `layering`: every import in `src/` points down the floors of docs/architecture.md.
//! - `cli`: exit codes, errors said once, --format, colour.
//! - `config`: example configs and every config snippet in docs/ parse; each bad config is
//!   refused with file:line.
//! - `docs`: the shell commands of docs/disaster-recovery.md (on a bare machine) and of the
//!   README quickstart, run as written.
//! - `fanout`: isolation, retries and independence of targets, in process.
//! - `daemon`: the scheduler, SIGHUP reloads, the shipped systemd units, logs and state.
//! - `notify`: webhook, healthchecks and e-mail (to an SMTP server the helpers start).
//! - `monitoring`: `check --deep`, the restore drill, Nagios and Prometheus output.
//! - `nas`: SFTP against a real sshd, WebDAV against rclone, and `require_mount`.
//! - `plan`: readiness against the 3CX emulator's scenarios, the runbook (golden files, PDF).
//! - `package`: the Debian package built with cargo-deb, installed, reinstalled, purged.
//! - `s3`: the S3 target against a real moto server, with faults injected by a proxy.
//! - `shipped`: the shipped monitoring and Kubernetes files against their real validators
//!   (promtool, icinga2, kubernetes-validate) and a real `/metrics` scrape.
//! - `sources`: the command source (3CXBackupCmd).
//! - `stalls`: a server that accepts and never answers (WebDAV, S3, SFTP) holds no other
//!   target; a source file dated in the future.
//! - `statuspage`: the daemon's status page in headless Chromium, and its buttons.
//! - `tenants`: a tenant's token sees only its sources on every surface; notifiers and
//!   runbooks per tenant; config check of tenants.
//! - `tamper`: forged, divergent and future-dated copies; signatures and ssh-keygen.
//! - `threecx`, `emulator`: the 3CX V20 XAPI and V18 console API sources against an
//!   emulator with faults (plain HTTP and HTTPS with a private CA).
//! - `helpers`: `TestEnv`: temp dirs, configs, the binary.
//! - `servers`: moto, the fault-injecting proxy, sshd and rclone, on free loopback ports.

mod a_slow_links;
mod backup;
mod cli;
mod config;
mod conformance;
mod daemon;
mod docs;
mod emulator;
mod fanout;
mod hardening;
mod helpers;
mod into_pbx;
mod judgement;
mod killed;
mod layering;
mod lifecycle;
mod monitoring;
mod nas;
mod notify;
mod package;
mod plan;
mod s3;
mod servers;
mod shipped;
mod sources;
mod stalls;
mod statuspage;
mod tamper;
mod tenants;
mod threecx;
