//! `list`: every backup the targets hold, and which targets hold a verified copy.

use serde::Serialize;

use super::OpError;
use super::catalog::{self, BackupEntry};
use crate::config::Config;

#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    pub backups: Vec<BackupEntry>,
    pub unreachable: Vec<(String, String)>,
}

pub async fn run(cfg: &Config, source: Option<&str>) -> Result<ListReport, OpError> {
    let targets = super::open_targets(cfg).await?;
    let prefixes: Vec<String> = source.into_iter().map(String::from).collect();
    let listings = catalog::list_all(&targets, &prefixes).await;
    let cat = catalog::build(&listings, |_, _| true).await;
    Ok(ListReport {
        backups: cat.backups.into_values().collect(),
        unreachable: cat.unreachable,
    })
}
