//! `check`: is every source safe right now? Shallow: manifests parse and artifact sizes
//! match, read from the targets (each listed once).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::OpError;
use super::catalog::{self, CopyInfo};
use crate::config::Config;
use crate::manifest;
use crate::policy::{self, BackupFacts, Rule, SourceFacts, SourceStatus, Status, Verdict};

#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub status: Status,
    pub checked_at: DateTime<Utc>,
    pub rule: Rule,
    pub max_age_seconds: u64,
    pub warn_age_seconds: u64,
    pub sources: Vec<SourceCheck>,
    pub targets: Vec<TargetState>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceCheck {
    #[serde(flatten)]
    pub status: SourceStatus,
    /// The newest backup and its copies.
    pub newest: Option<NewestBackup>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewestBackup {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub age_seconds: u64,
    pub plain_bytes: Option<u64>,
    pub verdict: Verdict,
    pub copies: Vec<CopyInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetState {
    pub target: String,
    pub up: bool,
    pub error: Option<String>,
}

pub async fn run(
    cfg: &Config,
    opts: &CheckOptions,
    now: DateTime<Utc>,
) -> Result<CheckReport, OpError> {
    let names: Vec<String> = if opts.sources.is_empty() {
        cfg.sources.iter().map(|s| s.name.clone()).collect()
    } else {
        for s in &opts.sources {
            if cfg.source(s).is_none() {
                return Err(OpError::Setup(format!(
                    "no source named {s:?} in {}",
                    cfg.path.display()
                )));
            }
        }
        opts.sources.clone()
    };
    let targets = super::open_targets(cfg)?;
    let listings = catalog::list_all(&targets, &names).await;
    // Manifests worth reading: every backup young enough to count, and each source's newest.
    let newest: std::collections::BTreeMap<String, String> = {
        let bare = catalog::build(&listings, |_, _| false).await;
        bare.backups
            .keys()
            .map(|(s, id)| (s.clone(), id.clone()))
            .collect()
    };
    let horizon =
        now - chrono::Duration::from_std(cfg.policy.max_age).unwrap_or(chrono::TimeDelta::MAX);
    let cat = catalog::build(&listings, |s, id| {
        newest.get(s).is_some_and(|n| n == id)
            || manifest::id_time(s, id).is_some_and(|t| t >= horizon)
    })
    .await;

    let rule = Rule::from(&cfg.policy);
    let mut sources = Vec::new();
    for name in &names {
        let backups: Vec<BackupFacts> = cat
            .of_source(name)
            .filter(|b| {
                b.copies
                    .iter()
                    .any(|c| !matches!(c.state, catalog::CopyState::Unchecked))
            })
            .map(|b| BackupFacts {
                id: b.id.clone(),
                created_at: b.created_at,
                verdict: policy::evaluate(&b.copy_facts(&listings), &rule),
                corrupt: b.corrupt(),
            })
            .collect();
        let facts = SourceFacts {
            source: name.clone(),
            backups,
            unreachable: cat.unreachable.clone(),
        };
        let status = policy::source_status(&facts, &cfg.policy, now);
        let newest = cat.of_source(name).last().map(|b| NewestBackup {
            id: b.id.clone(),
            created_at: b.created_at,
            age_seconds: (now - b.created_at).num_seconds().max(0) as u64,
            plain_bytes: b.manifest.as_ref().map(|m| m.plain.bytes),
            verdict: policy::evaluate(&b.copy_facts(&listings), &rule),
            copies: b.copies.clone(),
        });
        sources.push(SourceCheck { status, newest });
    }
    let targets = listings
        .iter()
        .map(|l| TargetState {
            target: l.target.name().into(),
            up: l.objects.is_ok(),
            error: l.objects.as_ref().err().cloned(),
        })
        .collect();
    Ok(CheckReport {
        status: policy::worst(sources.iter().map(|s| s.status.status)),
        checked_at: now,
        rule,
        max_age_seconds: cfg.policy.max_age.as_secs(),
        warn_age_seconds: cfg.policy.warn_age.as_secs(),
        sources,
        targets,
    })
}
