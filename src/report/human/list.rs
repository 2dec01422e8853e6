//! `list`'s report for people: the backups and where their copies are.

use std::fmt::Write;

use crate::catalog::CopyState;
use crate::format::bytes;
use crate::ops::list::ListReport;

pub fn list(r: &ListReport) -> String {
    let mut s = String::new();
    if r.backups.is_empty() {
        s.push_str("no backups on any target\n");
    } else {
        let _ = writeln!(
            s,
            "{:<12} {:<28} {:<20} {:>10}  copies",
            "source", "backup", "made (UTC)", "size"
        );
    }
    for b in &r.backups {
        let size = b
            .manifest
            .as_ref()
            .map(|m| bytes(m.plain.bytes))
            .unwrap_or_else(|| "?".into());
        let copies: Vec<String> = b
            .copies
            .iter()
            .map(|c| match &c.state {
                CopyState::Verified => c.target.clone(),
                CopyState::Unsigned => format!("{} (unsigned)", c.target),
                CopyState::Missing => format!("{} (MISSING)", c.target),
                CopyState::Corrupt { .. } => format!("{} (CORRUPT)", c.target),
                CopyState::Forged { .. } => format!("{} (FORGED)", c.target),
                CopyState::Divergent { .. } => format!("{} (DIVERGENT)", c.target),
                CopyState::Future { .. } => format!("{} (FUTURE)", c.target),
                CopyState::Duplicate { of } => format!("{} (SAME FILE AS {of})", c.target),
                CopyState::Unreachable { .. } => format!("{} (UNREACHABLE)", c.target),
                CopyState::Unchecked => format!("{} (unchecked)", c.target),
            })
            .collect();
        let version = b
            .manifest
            .as_ref()
            .and_then(|m| m.pbx_version())
            .map(|v| format!("  (3CX {v})"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{:<12} {:<28} {:<20} {:>10}  {}{version}",
            b.source,
            b.id,
            b.created_at.format("%Y-%m-%d %H:%M:%S"),
            size,
            copies.join(", ")
        );
    }
    for u in &r.unreachable {
        let _ = writeln!(s, "target {} is unreachable: {}", u.target, u.error);
    }
    s
}
