//! `drill --standby`: each backup proven to restore into 3CX. The newest backup that counts
//! of each source with a `[source.standby]` is put back into that standby PBX
//! ([`super::into_pbx`], without a confirmation), and the standby compared with the
//! backup's fingerprint once it answers again. The result is recorded per source in the
//! state directory (what `check`, the status page and the metrics show) and a failure
//! notifies `drill-failed`.

use std::future::Future;
use std::path::PathBuf;

use serde::Serialize;

use super::into_pbx::{self, IntoOptions, IntoReport};
use super::restore::Choice;
use super::{Ctx, OpError};
use crate::facts::{CountDifference, StandbyDrillFact};
use crate::policy::into_pbx::Comparison;

#[derive(Debug, Clone)]
pub struct StandbyOptions {
    /// The sources to drill (every one with a standby when empty).
    pub sources: Vec<String>,
    pub identity: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct StandbyReport {
    pub drills: Vec<StandbyRun>,
}

impl StandbyReport {
    pub fn ok(&self) -> bool {
        self.drills.iter().all(|d| d.fact.ok)
    }
}

/// One source's standby drill: what is recorded, and the steps when it got that far.
#[derive(Debug, Clone, Serialize)]
pub struct StandbyRun {
    pub source: String,
    pub fact: StandbyDrillFact,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<IntoReport>,
}

/// Drills each source in turn (one standby restarts at a time); `interrupted` stops the
/// one under way, with its placed zip removed, and the rest are not started.
pub async fn standby<F>(
    ctx: &Ctx,
    opts: &StandbyOptions,
    interrupted: F,
) -> Result<StandbyReport, OpError>
where
    F: Future<Output = ()> + Clone,
{
    let sources = with_standby(ctx, &opts.sources)?;
    let mut drills = Vec::new();
    for source in sources {
        let at = ctx.now();
        let into = IntoOptions {
            into: source.clone(),
            standby: true,
            choice: Choice {
                source: source.clone(),
                backup: None,
                at: None,
                from: None,
            },
            identity: opts.identity.clone(),
            dry_run: false,
            keep: false,
        };
        let done = into_pbx::run(ctx, &into, interrupted.clone()).await;
        let stopped = matches!(done, Err(into_pbx::IntoError::Interrupted { .. }));
        let run = StandbyRun::of(&source, standby_url(ctx, &source), at, done);
        tracing::info!(source = %source, ok = run.fact.ok, "standby drill");
        ctx.state.update_json(
            super::STANDBY_DRILLS,
            "standby drills",
            |all: &mut std::collections::BTreeMap<String, StandbyDrillFact>| {
                all.insert(source.clone(), run.fact.clone());
            },
        );
        drills.push(run);
        if stopped {
            break;
        }
    }
    let failed: Vec<(String, StandbyDrillFact)> = drills
        .iter()
        .filter(|d| !d.fact.ok)
        .map(|d| (d.source.clone(), d.fact.clone()))
        .collect();
    crate::notify::after_standby_drills(&ctx.config.notify, &ctx.state, &failed).await;
    Ok(StandbyReport { drills })
}

/// The sources to drill: those named (each must have a standby), or every one that has.
fn with_standby(ctx: &Ctx, wanted: &[String]) -> Result<Vec<String>, OpError> {
    let has = |name: &str| {
        ctx.config.sources.iter().any(|s| {
            s.name == name
                && matches!(&s.kind, crate::config::SourceKind::ThreeCx(t) if t.standby.is_some())
        })
    };
    let names = ctx.source_names(wanted)?;
    if let Some(missing) = names.iter().find(|n| !wanted.is_empty() && !has(n)) {
        return Err(OpError::NoStandby {
            source_name: Some(missing.clone()),
            config: ctx.config.path.clone(),
        });
    }
    let names: Vec<String> = names.into_iter().filter(|n| has(n)).collect();
    if names.is_empty() {
        return Err(OpError::NoStandby {
            source_name: None,
            config: ctx.config.path.clone(),
        });
    }
    Ok(names)
}

fn standby_url(ctx: &Ctx, source: &str) -> String {
    ctx.config
        .sources
        .iter()
        .find_map(|s| match &s.kind {
            crate::config::SourceKind::ThreeCx(t) if s.name == source => {
                t.standby.as_ref().map(|x| x.url.clone())
            }
            _ => None,
        })
        .unwrap_or_default()
}

impl StandbyRun {
    fn of(
        source: &str,
        pbx: String,
        at: chrono::DateTime<chrono::Utc>,
        done: Result<IntoReport, into_pbx::IntoError>,
    ) -> StandbyRun {
        let (fact, report) = match done {
            Ok(r) => {
                let (ok, differences, error) = match &r.comparison {
                    Some(Comparison::Matched) => (true, Vec::new(), None),
                    Some(Comparison::Differs { counts, version }) => (
                        false,
                        counts.clone(),
                        version.as_ref().map(|(b, p)| {
                            format!("the standby runs 3CX {p}, older than the backup's {b}")
                        }),
                    ),
                    Some(Comparison::NoFingerprint) | None => (
                        false,
                        Vec::<CountDifference>::new(),
                        Some(
                            "the backup recorded no fingerprint: the standby took it, but nothing proves it is the PBX"
                                .into(),
                        ),
                    ),
                };
                (
                    StandbyDrillFact {
                        id: r.id.clone(),
                        pbx,
                        at,
                        ok,
                        seconds: r.seconds_to_answer,
                        differences,
                        error,
                    },
                    Some(r),
                )
            }
            Err(e) => (
                StandbyDrillFact {
                    id: String::new(),
                    pbx,
                    at,
                    ok: false,
                    seconds: None,
                    differences: Vec::new(),
                    error: Some(e.to_string()),
                },
                None,
            ),
        };
        StandbyRun {
            source: source.into(),
            fact,
            report,
        }
    }
}
