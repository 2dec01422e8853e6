//! `plan`: the response plan — the PBX's readiness read live through 3CX's API (read-only)
//! and judged ([`crate::policy::readiness`]), with the backups' own check. The runbook is
//! rendered from it by `report::runbook`; the daemon writes it to `[plan] write_to` on
//! `[schedule] plan`, so it exists off the PBX when the PBX does not.

use super::check::{self, CheckOptions};
use super::{Ctx, OpError};
use crate::policy::check::CheckReport;

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
