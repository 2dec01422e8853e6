//! Pure decisions: does a backup satisfy the rule, what status does a source have, and
//! what does `check` report from the facts it gathered.
//!
//! Everything here takes plain data (and `now`, where time matters) and returns plain data.
//! No I/O, no clock reads: `ops` gathers the facts, these functions judge them, and the
//! tests beside them cover every branch with tables.

pub mod check;
pub mod invariant;
pub mod status;

pub use invariant::{CopyFact, Placement, Rule, Verdict, evaluate};
pub use status::{
    BackupFacts, SourceFacts, SourceStatus, Status, UnverifiedCopy, source_status, worst,
};
