//! Command-line interface: argument types, config loading and exit codes. One file per
//! subcommand; each parses, calls one operation and renders its report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, Config};

mod backup;
mod check;
mod config_cmd;
mod daemon;
mod drill;
mod install;
mod keygen;
mod list;
mod plan;
mod prune;
mod repair;
mod restore;
mod schedule;

/// pbx321: 3-2-1 backups for 3CX phone systems, proven from what the targets really hold.
#[derive(Debug, Parser)]
#[command(name = "pbx321", version, about, max_term_width = 100)]
pub struct Cli {
    /// Config file [default: $PBX321_CONFIG, else /etc/pbx321/config.toml]
    #[arg(
        long,
        short = 'c',
        help_heading = "Global options",
        env = "PBX321_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Log format on stderr
    #[arg(long, global = true, help_heading = "Global options", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log output (-v: info, -vv: debug)
    #[arg(long, short = 'v', global = true, help_heading = "Global options", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour in logs: auto (only on a terminal, and not with NO_COLOR set), always, never
    #[arg(long, global = true, help_heading = "Global options", value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether to colour what goes to stderr.
    pub fn on_stderr(self) -> bool {
        use std::io::IsTerminal;
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stderr().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Backup(backup::Args),
    Restore(restore::Args),
    Check(check::Args),
    Drill(drill::Args),
    List(list::Args),
    Prune(prune::Args),
    Repair(repair::Args),
    Schedule(schedule::Args),
    Plan(plan::Args),
    Daemon(daemon::Args),
    Keygen(keygen::Args),
    /// Configuration helpers
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    Completions(install::CompletionsArgs),
    Man(install::ManArgs),
}

impl Command {
    /// The config file given after the command, for the commands that read one.
    fn config_file(&self) -> Option<PathBuf> {
        let arg = match self {
            Command::Backup(a) => &a.config,
            Command::Restore(a) => &a.config,
            Command::Check(a) => &a.config,
            Command::Drill(a) => &a.config,
            Command::List(a) => &a.config,
            Command::Prune(a) => &a.config,
            Command::Repair(a) => &a.config,
            Command::Schedule(a) => &a.config,
            Command::Plan(a) => &a.config,
            Command::Daemon(a) => &a.config,
            Command::Config(config_cmd::ConfigCommand::Check(a)) => &a.config,
            Command::Keygen(_) | Command::Completions(_) | Command::Man(_) => return None,
        };
        arg.config.clone()
    }
}

/// The config file option of the commands that read one. The environment variable is read
/// by the same option before the command, so that one given here always wins.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArg {
    /// Config file [default: $PBX321_CONFIG, else /etc/pbx321/config.toml]
    #[arg(
        long = "config",
        short = 'c',
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
}

/// Exit codes of the commands that are not monitoring checks (`check` uses Nagios codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done (for `backup`: the new backup meets the rule).
    Ok = 0,
    /// Nothing useful was done (for `backup`: no copy was written).
    Failed = 1,
    /// Bad usage or a bad config; nothing was done.
    Usage = 2,
    /// Done in part (for `backup`: copies were written but the rule is not met).
    Partial = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Runs the parsed command; errors carry the exit code they should produce.
pub async fn run(cli: Cli) -> ExitCode {
    // The daemon says what it does at the default level (its journal is its record); the
    // commands print their reports and log only what goes wrong.
    let daemon = matches!(cli.command, Command::Daemon(_));
    init_logging(
        cli.log_format,
        cli.verbose + u8::from(daemon),
        cli.color.on_stderr(),
    );
    // `--config` is taken before the command (`pbx321 -c FILE check`) or after it
    // (`pbx321 check -c FILE`); only the commands that read a config offer it.
    let config_path = cli.command.config_file().or(cli.config.clone());
    let result = match cli.command {
        Command::Backup(a) => backup::run(config_path, a).await,
        Command::Restore(a) => restore::run(config_path, a).await,
        Command::Check(a) => check::run(config_path, a).await,
        Command::Drill(a) => drill::run(config_path, a).await,
        Command::List(a) => list::run(config_path, a).await,
        Command::Prune(a) => prune::run(config_path, a).await,
        Command::Repair(a) => repair::run(config_path, a).await,
        Command::Schedule(a) => schedule::run(config_path, a).await,
        Command::Plan(a) => plan::run(config_path, a).await,
        Command::Daemon(a) => daemon::run(config_path, a).await,
        Command::Keygen(a) => keygen::run(a),
        Command::Config(c) => config_cmd::run(config_path, c).await,
        Command::Completions(a) => install::completions(a),
        Command::Man(a) => install::man(a),
    };
    match result {
        Ok(code) => code,
        Err(Failure { code, error }) => {
            // Never a panic, even with stderr closed.
            use std::io::Write;
            let text = format!("pbx321: error: {}", error_text(&error));
            let _ = writeln!(std::io::stderr(), "{}", crate::secret::redact(&text));
            code
        }
    }
}

/// An error and its causes, each said once: a cause whose text is already part of the
/// message (many errors repeat their cause in their own words) is not repeated.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

/// An error and the exit code it means for this command.
pub struct Failure {
    pub code: ExitCode,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(code: impl Into<ExitCode>, error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: code.into(),
            error: error.into(),
        }
    }
}

/// The one mapping of an operation's error to an exit code: bad usage or config (the
/// caller must change something) is 2, anything else that stopped the operation 1.
impl From<crate::ops::OpError> for Failure {
    fn from(e: crate::ops::OpError) -> Failure {
        let code = if e.is_usage() {
            Exit::Usage
        } else {
            Exit::Failed
        };
        Failure::new(code, e)
    }
}

/// `restore`'s errors, mapped the same way (its refusals of bad usage are 2).
impl From<crate::ops::restore::RestoreError> for Failure {
    fn from(e: crate::ops::restore::RestoreError) -> Failure {
        let code = if e.is_usage() {
            Exit::Usage
        } else {
            Exit::Failed
        };
        Failure::new(code, e)
    }
}

pub type CmdResult = Result<ExitCode, Failure>;

/// Where the copies are read from: the config's targets, one of them, or a location given
/// on the command line (then no config is needed: a bare machine after a disaster).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FromArgs {
    /// Only this configured target, or a location: a directory, file:///path,
    /// sftp://user@host[:port]/path, webdav+https://[user@]host/path (password in
    /// PBX321_WEBDAV_PASSWORD), s3://bucket/prefix?region=…&endpoint=… (AWS_* credentials).
    /// With a location, no config is needed
    #[arg(long, value_name = "TARGET|LOCATION")]
    pub from: Option<String>,
    /// The SSH private key for an sftp:// location
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// The known_hosts file holding an sftp:// location's host key (checked strictly;
    /// default: your own known_hosts)
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Also trust signatures by this public key ("ssh-ed25519 AAAA…"), or by the keys in
    /// this file (one per line); repeatable. Without a config, this is how copies are
    /// verified
    #[arg(long = "trusted-key", value_name = "KEY|FILE")]
    pub trusted_key: Vec<String>,
}

/// An opened context for reading copies, and the temporary state directory of a bare
/// machine (removed when dropped).
pub struct Opened {
    pub ctx: crate::ops::Ctx,
    _bare_state: Option<tempfile::TempDir>,
}

/// Opens the targets to read from: the config's (all, or the one `--from` names), or the
/// location `--from` gives — with the config's signing trust when there is a config,
/// without a config when there is none (`--config`/`PBX321_CONFIG` not given and no
/// default config on this machine).
pub async fn open_for_reading(config: Option<PathBuf>, from: &FromArgs) -> Result<Opened, Failure> {
    let usage = |e: anyhow::Error| Failure::new(Exit::Usage, e);
    let explicit = config.is_some();
    let path = config.unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let cfg = if explicit || path.exists() || from.from.is_none() {
        Some(load_config(Some(path.clone())).map_err(|e| {
            usage(if explicit || path.exists() {
                e
            } else {
                e.context("no config here: on a machine without one, name the surviving copies with --from LOCATION (a directory, sftp://…, s3://…)")
            })
        })?)
    } else {
        None
    };
    let opts = config::LocationOptions {
        ssh_key: from.ssh_key.clone(),
        known_hosts: from.known_hosts.clone(),
    };
    // The target is named by its location, as the operator gave it (without a query or a
    // user part, which may carry a secret).
    let location = |f: &str| {
        let shown = match f.split_once("://") {
            Some((scheme, rest)) => {
                let rest = rest.split('?').next().unwrap_or_default();
                let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
                format!("{scheme}://{rest}")
            }
            None => f.to_string(),
        };
        config::parse_location(f, &shown, &opts)
            .map_err(|e| usage(anyhow::anyhow!("--from {f}: {e}")))
    };
    let mut bare_state = None;
    let cfg = match (cfg, &from.from) {
        (Some(mut cfg), Some(f)) => {
            if cfg.target(f).is_some() {
                cfg.targets.retain(|t| &t.name == f);
            } else if config::is_location(f) || std::path::Path::new(f).is_dir() {
                cfg.targets = vec![location(f)?];
            } else {
                return Err(usage(anyhow::anyhow!(
                    "--from {f}: no target of that name in {} (configured: {}), and not a location (a directory, sftp://…, webdav+https://…, s3://…)",
                    cfg.path.display(),
                    cfg.targets
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            cfg
        }
        (Some(cfg), None) => cfg,
        (None, Some(f)) => {
            let dir = tempfile::Builder::new()
                .prefix("pbx321-bare-")
                .tempdir()
                .map_err(|e| {
                    Failure::new(
                        Exit::Failed,
                        anyhow::anyhow!("a temporary state directory: {e}"),
                    )
                })?;
            let cfg = config::Config::of_targets(vec![location(f)?], dir.path().join("state"));
            bare_state = Some(dir);
            cfg
        }
        (None, None) => unreachable!("a config is read when --from is not given"),
    };
    let keys = trusted_keys(&from.trusted_key).map_err(usage)?;
    let ctx = crate::ops::Ctx::open(cfg).await.with_trusted(keys);
    // Copies read from --from without a key to check them against: say so, once.
    if from.from.is_some() && matches!(ctx.trust(), Ok(None)) {
        eprintln!(
            "warning: the copies' signatures are not checked (not tamper-evident): anyone who could write there could have planted what is read; pass --trusted-key 'ssh-ed25519 …' (or the signing key's .pub file) to check them"
        );
    }
    Ok(Opened {
        ctx,
        _bare_state: bare_state,
    })
}

/// The keys of `--trusted-key`: public key lines, or files of them (one per line, `#`
/// comments).
pub fn trusted_keys(values: &[String]) -> anyhow::Result<Vec<ssh_key::PublicKey>> {
    let mut keys = Vec::new();
    for v in values {
        if v.trim_start().starts_with("ssh-") {
            keys.push(crate::sign::parse_trusted(v)?);
            continue;
        }
        let text = std::fs::read_to_string(v).with_context(|| {
            format!("--trusted-key {v}: not a public key (ssh-ed25519 …) nor a readable file")
        })?;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            keys.push(
                crate::sign::parse_trusted(line)
                    .map_err(|e| anyhow::anyhow!("--trusted-key {v}: {e}"))?,
            );
        }
    }
    Ok(keys)
}

/// Finds, reads and checks the config. Errors say which file and what to fix.
pub fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    let path = path.unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read config {} (give one with --config FILE or PBX321_CONFIG)",
            path.display()
        )
    })?;
    Ok(Config::parse(&text, &path)?)
}

fn init_logging(format: LogFormat, verbose: u8, ansi: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("PBX321_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("pbx321={default},warn")));
    // Colour only for a person at a terminal (`--color auto`), never into cron mail or a
    // log file.
    // Credentials a library reads from the environment are hidden like pbx321's own.
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        if let Ok(v) = std::env::var(var) {
            crate::secret::remember(&v);
        }
    }
    // Progress bars would interleave with JSON log lines a collector parses.
    if matches!(format, LogFormat::Json) {
        crate::progress::forbid();
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(|| RedactingStderr);
    let _ = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Standard error, with every known secret replaced (see [`crate::secret::redact`]). The
/// log formatter writes one whole event per call.
struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(crate::secret::redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Writes a command's output. A failed write (a closed pipe, a full disk behind a
/// redirect) is an error with exit 1: a run never exits 0 with its output cut short.
/// Resolves when the operator interrupts (SIGINT) or the system stops pbx321 (SIGTERM):
/// for an operation that must clean up before it ends.
pub async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

pub fn print(s: &str) -> Result<(), Failure> {
    print_or(s, Exit::Failed)
}

/// [`print`], failing with `code`.
pub fn print_or(s: &str, code: impl Into<ExitCode>) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(code, anyhow::anyhow!("cannot write the output: {e}")))
}
