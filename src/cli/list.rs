//! `pbx321 list`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, Format, FromArgs, open_for_reading, print};
use crate::ops::list;
use crate::report;

/// List the backups on the targets and the state of every copy
#[derive(Debug, clap::Args)]
#[command(after_help = "EXIT STATUS
  0  listed (also when a source has no backup yet)
  1  the targets could not be read, or no target holds a backup of an unknown source
  2  usage or config error
  3  listed, but some target could not be read")]
pub struct Args {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Only this source
    pub source: Option<String>,
    #[command(flatten)]
    pub from: FromArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// The same as --format json
    #[arg(long, hide = true)]
    pub json: bool,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let opened = open_for_reading(config, &args.from).await?;
    let report = list::run(&opened.ctx, args.source.as_deref())
        .await
        .map_err(|e| Failure::new(Exit::Failed, e))?;
    let json = args.json || args.format == Format::Json;
    print(&if json {
        report::json::render(&report)
    } else {
        report::human::list(&report)
    })?;
    if let Some(h) = &report.layout_hint {
        eprintln!("pbx321: no backup in pbx321's layout here; {h}");
    }
    let unknown = args
        .source
        .as_deref()
        .is_some_and(|s| report.backups.is_empty() && opened.ctx.config.source(s).is_none());
    if let (true, Some(s)) = (unknown, args.source.as_deref()) {
        // The names there are: the config's, and those the targets hold.
        let mut names: Vec<String> = opened
            .ctx
            .config
            .sources
            .iter()
            .map(|c| c.name.clone())
            .collect();
        if let Ok(all) = list::run(&opened.ctx, None).await {
            names.extend(all.backups.into_iter().map(|b| b.source));
        }
        names.sort();
        names.dedup();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        eprintln!(
            "pbx321: no backup of {s:?} on any target{}",
            match crate::config::suggest(s, &refs) {
                Some(m) => format!("; did you mean {m:?}?"),
                None if refs.is_empty() => String::new(),
                None => format!("; the targets hold {}", refs.join(", ")),
            }
        );
    }
    Ok(ExitCode::from(if unknown {
        Exit::Failed
    } else if report.unreachable.is_empty() {
        Exit::Ok
    } else {
        Exit::Partial
    }))
}
