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

Back into a running 3CX V20 (the source's restore_via names its backup repository):
  pbx321 restore --into hq -i key.txt            # asks you to type the source's name
  pbx321 restore --into hq --dry-run             # each step, changing nothing
The PBX's version is checked before anything is written; the placed zip is removed after.

For a new host, the zip and 3CX's unattended-install answer file side by side:
  pbx321 restore --source hq --to /root/restore --setup-config -i key.txt

EXIT STATUS
  0  restored and verified (--into: the PBX is back at the backup's fingerprint)
  1  no target could restore it, or the PBX refused it, did not come back or differs
  2  usage or config error (e.g. --to exists without --force)"
)]
pub struct Args {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Source name (with --into: whose backup, by default the --into source's own)
    #[arg(long, required_unless_present = "into")]
    pub source: Option<String>,
    /// Backup id (see `pbx321 list`)
    #[arg(long, conflicts_with = "at")]
    pub backup: Option<String>,
    /// The newest backup made at or before this time: RFC 3339 (2026-11-24T18:00:00Z) or a
    /// date (2026-11-24, meaning the end of that day, UTC)
    #[arg(long)]
    pub at: Option<String>,
    /// Where to write the restored zip (with --setup-config: a directory)
    #[arg(long, required_unless_present = "into", conflicts_with = "into")]
    pub to: Option<PathBuf>,
    /// age identity file (the secret key)
    #[arg(long, short = 'i', required_unless_present = "dry_run")]
    pub identity: Option<PathBuf>,
    /// Put the backup back into this 3CX V20 source's running PBX, through its
    /// restore_via, and compare the PBX with the backup's fingerprint after
    #[arg(long, value_name = "SOURCE")]
    pub into: Option<String>,
    /// With --into: print each step with the file, versions and fingerprint; change nothing
    #[arg(long, requires = "into")]
    pub dry_run: bool,
    /// With --into: do not ask (type the source's name) before replacing the PBX's
    /// configuration. Needed without a terminal
    #[arg(long, requires = "into")]
    pub yes: bool,
    /// With --into: leave the placed zip in the PBX's repository after it worked
    #[arg(long, requires = "into")]
    pub keep: bool,
    /// With --to DIR: also write 3CX's unattended-install answer file (setupconfig.xml)
    /// that restores the zip on a freshly installed host
    #[arg(long, requires = "to")]
    pub setup_config: bool,
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
    if let Some(into) = args.into.clone() {
        return run_into(&opened.ctx, args, into, at).await;
    }
    let (Some(source), Some(to), Some(identity)) = (args.source, args.to, args.identity) else {
        return Err(Failure::new(
            Exit::Usage,
            anyhow::anyhow!("restore needs --source, --to and --identity (or --into)"),
        ));
    };
    let (to, setup) = match args.setup_config {
        true => setup_destination(&to, &source, args.force)?,
        false => (to, None),
    };
    let opts = RestoreOptions {
        source,
        backup: args.backup,
        at,
        to,
        identity,
        from: None,
        force: args.force,
    };
    let mut report = restore::run(&opened.ctx, &opts).await?;
    if let Some(dir) = setup {
        report.setup_config = Some(write_setup_config(&dir, &report, &opened.ctx, args.force)?);
    }
    print(&match args.format {
        Format::Human => report::human::restore(&report),
        Format::Json => report::json::render(&report),
    })?;
    Ok(ExitCode::from(Exit::Ok))
}

/// `--to DIR --setup-config`: the zip `DIR/<source>-backup.zip`, beside the answer file.
fn setup_destination(
    dir: &std::path::Path,
    source: &str,
    force: bool,
) -> Result<(PathBuf, Option<PathBuf>), Failure> {
    use std::os::unix::fs::DirBuilderExt;
    let usage = |m: String| Failure::new(Exit::Usage, anyhow::anyhow!(m));
    if !dir.exists() {
        // Made here (0700: the zip holds the PBX's secrets), its parent must exist.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| usage(format!("--to {}: cannot create it: {e}", dir.display())))?;
    }
    if !dir.is_dir() {
        return Err(usage(format!(
            "--to {} with --setup-config takes a directory (the zip and setupconfig.xml go into it)",
            dir.display()
        )));
    }
    let xml = dir.join(SETUP_CONFIG);
    if xml.exists() && !force {
        return Err(usage(format!(
            "{} exists; pass --force to replace it",
            xml.display()
        )));
    }
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    Ok((dir.join(format!("{source}-backup.zip")), Some(dir)))
}

const SETUP_CONFIG: &str = "setupconfig.xml";

/// Writes 3CX's answer file for the restored zip (0600: it may hold the backup password).
fn write_setup_config(
    dir: &std::path::Path,
    r: &restore::RestoreReport,
    ctx: &crate::ops::Ctx,
    force: bool,
) -> Result<PathBuf, Failure> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let password = r
        .pbx_encrypted
        .then(|| {
            ctx.config.sources.iter().find_map(|s| match &s.kind {
                crate::config::SourceKind::ThreeCx(t)
                    if crate::manifest::split_id(&r.id).is_some_and(|(src, _)| src == s.name) =>
                {
                    t.backup_password.as_ref()?.resolve().ok()
                }
                _ => None,
            })
        })
        .flatten();
    let xml = report::setup_config::render(
        &r.to.display().to_string(),
        r.pbx_encrypted,
        password.as_deref(),
        r.pbx_version.as_deref(),
    );
    let path = dir.join(SETUP_CONFIG);
    if force {
        let _ = std::fs::remove_file(&path);
    }
    std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(xml.as_bytes()).and_then(|()| f.sync_all()))
        .map_err(|e| {
            Failure::new(
                Exit::Failed,
                anyhow::anyhow!("cannot write {}: {e}", path.display()),
            )
        })?;
    Ok(path)
}

/// `restore --into`: the plan first (a dry run), then, once confirmed, the restore.
async fn run_into(
    ctx: &crate::ops::Ctx,
    args: Args,
    into: String,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> CmdResult {
    use crate::ops::into_pbx::{self, IntoOptions};
    let mut opts = IntoOptions {
        choice: restore::Choice {
            source: args.source.clone().unwrap_or_else(|| into.clone()),
            backup: args.backup.clone(),
            at,
            from: args.from.from.clone(),
        },
        into,
        standby: false,
        identity: args.identity.clone().unwrap_or_default(),
        dry_run: true,
        keep: args.keep,
    };
    let render = |r: &into_pbx::IntoReport| match args.format {
        Format::Human => report::human::into_pbx(r),
        Format::Json => report::json::render(r),
    };
    let planned = into_pbx::run(ctx, &opts, std::future::pending())
        .await
        .map_err(into_failure)?;
    if args.dry_run {
        print(&render(&planned))?;
        return Ok(ExitCode::from(Exit::Ok));
    }
    if !args.yes {
        confirm(&planned, &opts.into)?;
    }
    opts.dry_run = false;
    let done = into_pbx::run(ctx, &opts, super::interrupted())
        .await
        .map_err(into_failure)?;
    print(&render(&done))?;
    Ok(ExitCode::from(if done.matched() {
        Exit::Ok
    } else {
        Exit::Failed
    }))
}

fn into_failure(e: crate::ops::into_pbx::IntoError) -> Failure {
    let code = if e.is_usage() {
        Exit::Usage
    } else {
        Exit::Failed
    };
    Failure::new(code, e)
}

/// On a terminal: the plan, then the source's name typed back. Never without a terminal.
fn confirm(planned: &crate::ops::into_pbx::IntoReport, source: &str) -> Result<(), Failure> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            Exit::Usage,
            anyhow::anyhow!(
                "restore --into replaces the PBX's configuration: on no terminal it needs --yes (try --dry-run first)"
            ),
        ));
    }
    eprint!(
        "{}\nThis replaces the configuration of the PBX at {} with backup {}.\nType the source's name ({source}) to go on: ",
        report::human::into_pbx(planned),
        planned.pbx,
        planned.id
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::new(Exit::Failed, e))?;
    if line.trim() != source {
        return Err(Failure::new(
            Exit::Failed,
            anyhow::anyhow!("not confirmed: nothing was written"),
        ));
    }
    Ok(())
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
