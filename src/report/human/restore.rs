//! `restore`'s report for people: what was restored, from where, checked how.

use std::fmt::Write;

use crate::format::bytes;
use crate::ops::restore::RestoreReport;

pub fn restore(r: &RestoreReport) -> String {
    let mut s = String::new();
    for a in &r.failed {
        let _ = writeln!(s, "{}: could not restore: {}", a.target, a.error);
    }
    let _ = writeln!(
        s,
        "restored {} ({}, originally {}) from {} to {}\nsha256 {} verified",
        r.id,
        bytes(r.bytes),
        r.origin_name,
        r.target,
        r.to.display(),
        r.sha256
    );
    s
}
