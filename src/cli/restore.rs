//! `pbx321 restore`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, Format, FromArgs, open_for_reading, print};
use crate::ops::restore::{self, RestoreOptions};
use crate::report;

/// Restore a backup to its original bytes (newest by default)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Targets are tried in config order (or only --from); any failure moves on to the
next. The file is written unnamed in --to's directory and gets its name only after the
sealed and the plain sha256 both match the manifest: a killed restore leaves no plaintext.

On a machine without the config (after a disaster), give the surviving copies as a
location and the signing key's public line:
  pbx321 restore --from /mnt/usb/pbx321 --source hq --to hq.zip -i key.txt \\
      --trusted-key \"ssh-ed25519 AAAA… pbx321@backup1\"

EXIT STATUS
  0  restored and verified
  1  no target could restore it (or the identity or --to's directory cannot be used)
  2  usage or config error (e.g. --to exists without --force)"
)]
pub struct Args {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Source name
    #[arg(long)]
    pub source: String,
    /// Backup id (see `pbx321 list`)
    #[arg(long, conflicts_with = "at")]
    pub backup: Option<String>,
    /// The newest backup made at or before this time: RFC 3339 (2026-11-24T18:00:00Z) or a
    /// date (2026-11-24, meaning the end of that day, UTC)
    #[arg(long)]
    pub at: Option<String>,
    /// Where to write the restored zip
    #[arg(long)]
    pub to: PathBuf,
    /// age identity file (the secret key)
    #[arg(long, short = 'i')]
    pub identity: PathBuf,
    #[command(flatten)]
    pub from: FromArgs,
    /// Replace --to if it exists
    #[arg(long)]
    pub force: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let at = args
        .at
        .as_deref()
        .map(parse_at)
        .transpose()
        .map_err(|e| Failure::new(Exit::Usage, e))?;
    let opened = open_for_reading(config, &args.from).await?;
    let opts = RestoreOptions {
        source: args.source,
        backup: args.backup,
        at,
        to: args.to,
        identity: args.identity,
        from: None,
        force: args.force,
    };
    match restore::run(&opened.ctx, &opts).await {
        Ok(report) => {
            print(&match args.format {
                Format::Human => report::human::restore(&report),
                Format::Json => report::json::render(&report),
            })?;
            Ok(ExitCode::from(Exit::Ok))
        }
        Err(e) => Err(e.into()),
    }
}

/// `--at`: an RFC 3339 time, or a date meaning the end of that day (UTC).
fn parse_at(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_utc());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(23, 59, 59)
    {
        return Ok(t.and_utc());
    }
    anyhow::bail!("--at {s:?}: write a time like 2026-11-24T18:00:00Z, or a date like 2026-11-24")
}

#[cfg(test)]
mod tests {
    #[test]
    fn at_takes_a_time_or_a_date() {
        assert_eq!(
            super::parse_at("2026-11-25").unwrap().to_rfc3339(),
            "2026-11-25T23:59:59+00:00"
        );
        assert_eq!(
            super::parse_at("2026-11-25T18:00:00+01:00")
                .unwrap()
                .to_rfc3339(),
            "2026-11-25T17:00:00+00:00"
        );
        assert!(super::parse_at("yesterday").is_err());
    }
}
