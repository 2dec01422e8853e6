//! `list`: every backup the targets hold, and the state of each copy.

use serde::Serialize;

use super::catalog::{self, BackupEntry, Unreachable};
use super::{Ctx, OpError};

#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    pub backups: Vec<BackupEntry>,
    pub unreachable: Vec<Unreachable>,
}

/// Lists one source's backups (`source`), or every backup on the targets.
pub async fn run(ctx: &Ctx, source: Option<&str>) -> Result<ListReport, OpError> {
    let prefixes: Vec<String> = source.into_iter().map(String::from).collect();
    let listings = catalog::list_all(&ctx.targets, &prefixes).await;
    let trust = ctx.trust()?;
    let cat = catalog::build(&listings, |_, _| true, trust.as_ref(), ctx.at()).await;
    Ok(ListReport {
        backups: cat.backups.into_values().collect(),
        unreachable: cat.unreachable,
    })
}
