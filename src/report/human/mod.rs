//! Plain-text output for people: one file per report, as `cli/` has one per command.

mod backup;
mod check;
mod config;
mod into;
mod list;
mod prune;
mod repair;
mod restore;

pub use backup::backup;
pub use check::{check, readiness};
pub use config::config;
pub use into::{comparison, fingerprint, into_pbx, standby_drills};
pub use list::list;
pub use prune::prune;
pub use repair::repair;
pub use restore::restore;

use crate::format::count;
use crate::policy::{Rule, Verdict};

/// `3-2-1 OK — 3 copies, 2 media, 1 offsite (declared, not verified: usb)`: the rule as
/// configured, and what the copies add up to.
pub fn verdict_counts(v: &Verdict, rule: &Rule) -> String {
    verdict_line(v, rule)
}

pub(super) fn verdict_line(v: &Verdict, rule: &Rule) -> String {
    let mut name = format!("{}-{}-{}", rule.copies, rule.media, rule.offsite);
    if rule.immutable > 0 {
        name.push_str(&format!("-{}", rule.immutable));
    }
    let mut line = format!(
        "{name} {} — {}, {}, {} offsite",
        if v.ok { "OK" } else { "RULE NOT MET" },
        count(v.copies, "copy", "copies"),
        count(v.media, "medium", "media"),
        v.offsite
    );
    if v.immutable > 0 || rule.immutable > 0 {
        line.push_str(&format!(", {} immutable", v.immutable));
    }
    if !v.declared.is_empty() {
        line.push_str(&format!(
            " (media and location declared, not verified: {})",
            v.declared.join(", ")
        ));
    }
    line
}
