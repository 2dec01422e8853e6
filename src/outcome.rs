//! What a run did, as the operations report it and the notifiers, the history and the
//! renderers read it: the outcome of a backup (per source, per target) and of a repair.
//! Plain data, below the operations, so that whoever reads an outcome never reaches into
//! the operation that made it.

use serde::Serialize;

use crate::catalog::{Leftover, Unreachable};
use crate::fanout::TargetResult;
use crate::manifest::Origin;
use crate::policy::{Rule, Verdict};

#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The rule the verdicts judge by.
    pub rule: Rule,
    pub sources: Vec<SourceRun>,
    /// Pending backups of earlier runs, completed (or tried) before the new ones.
    pub completed: Vec<PendingRun>,
    /// Leftovers of interrupted runs that were deleted from the targets.
    pub cleaned: Vec<Leftover>,
    /// Pending backups dropped from the spool to keep it within `spool_max`.
    pub dropped: Vec<String>,
    /// The repair run after the backup (`repair = "after-backup"`): missing copies of kept
    /// backups refilled. `None` when off, or when it could not run (logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair: Option<RepairReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PendingRun {
    pub source: String,
    pub id: String,
    pub targets: Vec<TargetResult>,
    /// Every target holds its copy now; the spool files are gone.
    pub spool_removed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceRun {
    pub source: String,
    #[serde(flatten)]
    pub result: RunResult,
    /// What the source's search saw besides the backup it chose (a file dated in the
    /// future, passed over): kept with the run in the history, named by `check`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
#[allow(clippy::large_enum_variant)] // one per source per run: boxing buys nothing
pub enum RunResult {
    Stored {
        id: String,
        /// The source's backup was already stored; no new backup was made.
        already_stored: bool,
        origin: Origin,
        plain_bytes: u64,
        sealed_bytes: u64,
        targets: Vec<TargetResult>,
        verdict: Verdict,
        /// Times another writer held the chosen id and a new one was taken.
        #[serde(skip_serializing_if = "is_zero")]
        id_conflicts: u32,
        /// Seconds from the start of the source's run (pull and seal included) until the
        /// first copy was committed; absent when none was written by this run.
        #[serde(skip_serializing_if = "Option::is_none")]
        first_copy_seconds: Option<f64>,
    },
    Failed {
        error: String,
    },
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl SourceRun {
    /// Whether at least one target holds a copy of this run's backup.
    pub fn any_copy(&self) -> bool {
        match &self.result {
            RunResult::Stored { verdict, .. } => verdict.copies > 0,
            RunResult::Failed { .. } => false,
        }
    }

    pub fn invariant_ok(&self) -> bool {
        matches!(&self.result, RunResult::Stored { verdict, .. } if verdict.ok)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    pub dry_run: bool,
    pub deep: bool,
    pub sources: Vec<SourceRepair>,
    /// Targets that could not be listed: nothing was repaired there.
    pub unreachable: Vec<Unreachable>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceRepair {
    pub source: String,
    pub repairs: Vec<Repair>,
    /// Copies retention keeps that are still not verified after this run.
    pub pending: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Repair {
    pub id: String,
    pub target: String,
    /// What the target held: "absent", "missing", "corrupt: …".
    pub was: String,
    /// Where the bytes came from: "spool" or a target's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(flatten)]
    pub outcome: RepairOutcome,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RepairOutcome {
    Repaired {
        bytes: u64,
        seconds: f64,
    },
    /// `--dry-run`.
    WouldRepair,
    Failed {
        error: String,
    },
    /// Not attempted: `why`.
    Skipped {
        why: String,
    },
}

impl RepairReport {
    pub fn pending(&self) -> usize {
        self.sources.iter().map(|s| s.pending).sum()
    }

    pub fn failed(&self) -> usize {
        self.sources
            .iter()
            .flat_map(|s| &s.repairs)
            .filter(|r| {
                !matches!(
                    r.outcome,
                    RepairOutcome::Repaired { .. } | RepairOutcome::WouldRepair
                )
            })
            .count()
    }
}
