//! Pure decisions: does a backup satisfy the rule, what status does a source have, and
//! what does `check` report from the facts it gathered.
//!
//! Everything here takes plain data (and `now`, where time matters) and returns plain data.
//! No I/O, no clock reads: `ops` gathers the facts, these functions judge them, and the
//! tests beside them cover every branch with tables.

pub mod check;
pub mod into_pbx;
pub mod invariant;
pub mod pruning;
pub mod readiness;
pub mod retention;
pub mod schedule;
pub mod status;

pub use invariant::{CopyFact, Placement, Rule, Verdict, evaluate};
pub use status::{
    BackupFacts, ForgedCopy, SourceFacts, SourceStatus, Status, UnverifiedCopy, source_status,
    worst,
};

/// The 3-2-1 policy of the tables: 26 h max age, warning after 20 h.
#[cfg(test)]
pub(crate) fn test_policy() -> crate::config::Policy {
    crate::config::Policy {
        copies: 3,
        media: 2,
        offsite: 1,
        immutable: 0,
        max_age: std::time::Duration::from_secs(26 * 3600),
        warn_age: std::time::Duration::from_secs(20 * 3600),
        drill_max_age: None,
        max_standby_age: None,
        clock_skew: crate::config::DEFAULT_CLOCK_SKEW,
    }
}
