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
    if let Some(v) = &r.pbx_version {
        let _ = writeln!(
            s,
            "made by 3CX {v}: install 3CX {v} or later before restoring this backup"
        );
    }
    if r.pbx_encrypted {
        let _ = writeln!(
            s,
            "3CX encrypted this backup: restoring it into 3CX needs its backup password"
        );
    }
    if let Some(p) = &r.setup_config {
        let _ = writeln!(
            s,
            "3CX's unattended-install answer file: {} (place it with the zip on the new host)",
            p.display()
        );
    }
    s
}
