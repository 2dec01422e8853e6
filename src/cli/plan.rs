//! `pbx321 plan`

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CmdResult, Exit, Failure, load_config, print};
use crate::ops::plan::{self, PlanOptions};

/// The response plan: the PBX's readiness read live through 3CX's API, and the
/// disaster-recovery runbook
#[derive(Debug, clap::Args)]
#[command(
    after_help = "For each 3CX V20 source, the readiness items are read through XAPI with the
source's API client (read-only: no write call) and judged: ok, warning, critical, unknown
(e.g. the client's role may not read an endpoint) or declared ([plan] in the config).
Other sources get the backups item and the declared ones. --format markdown or html prints
the disaster-recovery runbook: keep a copy off the PBX (the daemon can write it: [plan]
write_to). See docs/response-plan.md.

EXIT STATUS
  0  printed (whatever the items say; `check` is the monitoring command)
  1  the plan could not be made
  2  usage or config error"
)]
pub struct Args {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Sources [default: all]
    pub sources: Vec<String>,
    /// Output format: a readiness list (human, json) or the runbook (markdown, html)
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum PlanFormat {
    Human,
    Json,
    Markdown,
    Html,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let cfg = load_config(config).map_err(|e| Failure::new(Exit::Usage, e))?;
    let ctx = crate::ops::Ctx::open(cfg).await;
    let report = plan::run(
        &ctx,
        &PlanOptions {
            sources: args.sources.clone(),
        },
    )
    .await
    .map_err(Failure::from)?;
    let now = ctx.now();
    let text = match args.format {
        PlanFormat::Human => crate::report::human::readiness(&report),
        PlanFormat::Json => crate::report::json::render(&serde_json::json!({
            "status": report.status,
            "generated_at": now,
            "sources": report.sources.iter().map(|s| serde_json::json!({
                "source": s.status.source,
                "status": s.status.status,
                "reasons": s.status.reasons,
                "readiness": s.readiness,
            })).collect::<Vec<_>>(),
        })),
        PlanFormat::Markdown => crate::report::runbook::markdown(&report, &ctx.config, now),
        PlanFormat::Html => crate::report::runbook::html(&report, &ctx.config, now),
    };
    print(&text)?;
    Ok(ExitCode::from(Exit::Ok))
}
