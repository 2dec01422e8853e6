//! `plan`: the response plan — the PBX's readiness read live through 3CX's API (read-only)
//! and judged ([`crate::policy::readiness`]), with the backups' own check — and the
//! disaster-recovery runbook rendered from it ([`crate::report::runbook`]). The daemon
//! writes the runbook to `[plan] write_to` on `[schedule] plan`, so it exists off the PBX
//! when the PBX does not.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::check::{self, CheckOptions};
use super::{Ctx, OpError};
use crate::facts::pbx::PbxFacts;
use crate::policy::check::CheckReport;

/// How long one PBX gets to answer the readiness calls.
const PBX_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub sources: Vec<String>,
}

/// The check of the selected sources with their readiness.
pub async fn run(ctx: &Ctx, opts: &PlanOptions) -> Result<CheckReport, OpError> {
    check::run(
        ctx,
        &CheckOptions {
            sources: opts.sources.clone(),
            readiness: true,
            ..Default::default()
        },
    )
    .await
}

/// What each 3CX V20 source among `names` tells about itself, asked at once (each PBX
/// within [`PBX_DEADLINE`]). Other sources tell nothing and are left out.
pub async fn pbx_facts(ctx: &Ctx, names: &[String]) -> BTreeMap<String, PbxFacts> {
    let Ok(selected) = ctx.select(names) else {
        return BTreeMap::new();
    };
    let asks = selected.into_iter().map(|(cfg, src)| async move {
        let facts = tokio::time::timeout(PBX_DEADLINE, src.readiness()).await;
        match facts {
            Ok(f) => f.map(|f| (cfg.name.clone(), f)),
            Err(_) => {
                tracing::warn!(source = %cfg.name, "the PBX did not answer the readiness calls within {}s", PBX_DEADLINE.as_secs());
                None
            }
        }
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Writes the runbook to `[plan] write_to` (Markdown for `.md`, else HTML), atomically.
pub async fn write_runbook(ctx: &Ctx) -> Result<PathBuf, OpError> {
    let Some(path) = ctx.config.plan.write_to.clone() else {
        return Err(OpError::Usage(
            "[plan] write_to is not set: nowhere to write the runbook".into(),
        ));
    };
    let report = run(ctx, &PlanOptions::default()).await?;
    let markdown = path.extension().is_some_and(|e| e == "md");
    let text = if markdown {
        crate::report::runbook::markdown(&report, &ctx.config, ctx.now())
    } else {
        crate::report::runbook::html(&report, &ctx.config, ctx.now())
    };
    let to = path.clone();
    tokio::task::spawn_blocking(move || crate::state::write_atomic(&to, text.as_bytes()))
        .await
        .map_err(|e| OpError::Failed(format!("writing the runbook: {e}")))?
        .map_err(super::io_error(format!(
            "cannot write the runbook to {}",
            path.display()
        )))?;
    Ok(path)
}
