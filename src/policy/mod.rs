//! Pure decisions: does a backup satisfy the rule, and what status does a source have.
//!
//! Everything here takes plain data (and `now`, where time matters) and returns plain data.
//! No I/O, no clock reads: `ops` gathers the facts, these functions judge them, and the
//! tests beside them cover every branch with tables.

pub mod invariant;
pub mod status;

pub use invariant::{CopyFact, Placement, Rule, Verdict, evaluate};
pub use status::{BackupFacts, SourceFacts, SourceStatus, Status, source_status, worst};
