//! `list`: every backup the targets hold, and the state of each copy.

use serde::Serialize;

use super::catalog::{self, BackupEntry, Unreachable};
use super::{Ctx, OpError};

#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    pub backups: Vec<BackupEntry>,
    pub unreachable: Vec<Unreachable>,
    /// Where the manifests lie when the targets hold them at another level than pbx321's
    /// layout (`<source>/<id>.manifest.json`): what to give `--from` instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout_hint: Option<String>,
}

/// When no backup was found but manifests lie at another level: where. A manifest directly
/// in the root means the root is one source's directory (one level too deep); one further
/// down means the root is above the layout (one level too high).
pub fn layout_hint(foreign: &[catalog::Leftover]) -> Option<String> {
    foreign.iter().find_map(|l| {
        let parts: Vec<&str> = l.path.split('/').collect();
        let (name, dirs) = parts.split_last()?;
        let id = name.strip_suffix(crate::manifest::MANIFEST_SUFFIX)?;
        crate::manifest::split_id(id)?;
        Some(match dirs {
            [] => format!(
                "target {}: manifests lie directly in its root (e.g. {}): it is one source's directory; give the directory above it",
                l.target,
                crate::escape::text(name)
            ),
            [_] => return None,
            [.., _source] => format!(
                "target {}: manifests lie deeper (e.g. {}): give the directory {} below it",
                l.target,
                crate::escape::text(&l.path),
                crate::escape::text(&dirs[..dirs.len() - 1].join("/"))
            ),
        })
    })
}

/// Lists one source's backups (`source`), or every backup on the targets.
pub async fn run(ctx: &Ctx, source: Option<&str>) -> Result<ListReport, OpError> {
    let prefixes: Vec<String> = source.into_iter().map(String::from).collect();
    let listings = catalog::list_all(&ctx.targets, &prefixes).await;
    let trust = ctx.trust()?;
    let how = catalog::Reading {
        state: &ctx.state,
        trust: trust.as_ref(),
        at: ctx.at(),
    };
    let cat = catalog::build(&listings, |_, _| true, how).await;
    let layout_hint = if cat.backups.is_empty() {
        layout_hint(&cat.foreign)
    } else {
        None
    };
    Ok(ListReport {
        backups: cat.backups.into_values().collect(),
        unreachable: cat.unreachable,
        layout_hint,
    })
}
