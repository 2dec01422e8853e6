//! The 3-2-1(-1) invariant over the verified copies of one backup.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::config::{Location, Medium, Policy};

/// The numbers the rule asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub copies: u32,
    pub media: u32,
    pub offsite: u32,
    pub immutable: u32,
}

impl From<&Policy> for Rule {
    fn from(p: &Policy) -> Rule {
        Rule {
            copies: p.copies,
            media: p.media,
            offsite: p.offsite,
            immutable: p.immutable,
        }
    }
}

/// One verified copy of a backup and the facts about where it lies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyFact {
    pub target: String,
    pub medium: Medium,
    pub location: Location,
    /// The store confirmed it cannot be deleted or changed before a future date.
    pub immutable: bool,
}

/// What the copies of one backup add up to, and why the rule is or is not met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub ok: bool,
    pub copies: u32,
    pub media: u32,
    pub offsite: u32,
    pub immutable: u32,
    /// One sentence per unmet part of the rule; empty when `ok`.
    pub reasons: Vec<String>,
}

/// Judges the copies of one backup against the rule. A target is counted once however many
/// facts name it.
pub fn evaluate(copies: &[CopyFact], rule: &Rule) -> Verdict {
    let mut seen = BTreeSet::new();
    let copies: Vec<&CopyFact> = copies
        .iter()
        .filter(|c| seen.insert(c.target.as_str()))
        .collect();
    let count = copies.len() as u32;
    let media = copies
        .iter()
        .map(|c| c.medium)
        .collect::<BTreeSet<_>>()
        .len() as u32;
    let offsite = copies
        .iter()
        .filter(|c| c.location == Location::Offsite)
        .count() as u32;
    let immutable = copies.iter().filter(|c| c.immutable).count() as u32;

    let mut reasons = Vec::new();
    let mut need = |have: u32, want: u32, what: &str| {
        if have < want {
            reasons.push(format!("{have} {what}, the rule needs {want}"));
        }
    };
    need(count, rule.copies, "verified copies");
    need(media, rule.media, "distinct media");
    need(offsite, rule.offsite, "offsite copies");
    need(immutable, rule.immutable, "immutable copies");
    Verdict {
        ok: reasons.is_empty(),
        copies: count,
        media,
        offsite,
        immutable,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R321: Rule = Rule {
        copies: 3,
        media: 2,
        offsite: 1,
        immutable: 0,
    };

    fn c(target: &str, medium: Medium, location: Location, immutable: bool) -> CopyFact {
        CopyFact {
            target: target.into(),
            medium,
            location,
            immutable,
        }
    }

    use Location::{Offsite as Off, Onsite as On};
    use Medium::*;

    #[test]
    fn table() {
        struct Case {
            name: &'static str,
            copies: Vec<CopyFact>,
            rule: Rule,
            ok: bool,
            reasons: &'static [&'static str],
        }
        let r3211 = Rule {
            immutable: 1,
            ..R321
        };
        let cases = [
            Case {
                name: "classic 3-2-1",
                copies: vec![
                    c("a", Disk, On, false),
                    c("b", Nas, On, false),
                    c("c", ObjectStorage, Off, false),
                ],
                rule: R321,
                ok: true,
                reasons: &[],
            },
            Case {
                name: "three copies on one medium",
                copies: vec![
                    c("a", Disk, On, false),
                    c("b", Disk, On, false),
                    c("c", Disk, Off, false),
                ],
                rule: R321,
                ok: false,
                reasons: &["1 distinct media, the rule needs 2"],
            },
            Case {
                name: "no offsite",
                copies: vec![
                    c("a", Disk, On, false),
                    c("b", Nas, On, false),
                    c("c", Removable, On, false),
                ],
                rule: R321,
                ok: false,
                reasons: &["0 offsite copies, the rule needs 1"],
            },
            Case {
                name: "two copies",
                copies: vec![c("a", Disk, On, false), c("c", ObjectStorage, Off, false)],
                rule: R321,
                ok: false,
                reasons: &["2 verified copies, the rule needs 3"],
            },
            Case {
                name: "no copies at all",
                copies: vec![],
                rule: R321,
                ok: false,
                reasons: &[
                    "0 verified copies, the rule needs 3",
                    "0 distinct media, the rule needs 2",
                    "0 offsite copies, the rule needs 1",
                ],
            },
            Case {
                name: "the same target twice counts once",
                copies: vec![
                    c("a", Disk, On, false),
                    c("a", Disk, On, false),
                    c("c", ObjectStorage, Off, false),
                ],
                rule: R321,
                ok: false,
                reasons: &["2 verified copies, the rule needs 3"],
            },
            Case {
                name: "3-2-1-1 without an immutable copy",
                copies: vec![
                    c("a", Disk, On, false),
                    c("b", Nas, On, false),
                    c("c", ObjectStorage, Off, false),
                ],
                rule: r3211,
                ok: false,
                reasons: &["0 immutable copies, the rule needs 1"],
            },
            Case {
                name: "3-2-1-1 met",
                copies: vec![
                    c("a", Disk, On, false),
                    c("b", Nas, On, false),
                    c("c", ObjectStorage, Off, true),
                ],
                rule: r3211,
                ok: true,
                reasons: &[],
            },
            Case {
                name: "more than enough",
                copies: vec![
                    c("a", Disk, On, false),
                    c("b", Nas, On, false),
                    c("c", ObjectStorage, Off, false),
                    c("d", Tape, Off, false),
                ],
                rule: R321,
                ok: true,
                reasons: &[],
            },
            Case {
                name: "a relaxed rule of one copy",
                copies: vec![c("a", Disk, On, false)],
                rule: Rule {
                    copies: 1,
                    media: 1,
                    offsite: 0,
                    immutable: 0,
                },
                ok: true,
                reasons: &[],
            },
        ];
        for case in cases {
            let v = evaluate(&case.copies, &case.rule);
            assert_eq!(v.ok, case.ok, "{}: {v:?}", case.name);
            assert_eq!(v.reasons, case.reasons, "{}", case.name);
        }
    }

    #[test]
    fn counts() {
        let v = evaluate(
            &[
                c("a", Disk, On, false),
                c("b", Nas, Off, true),
                c("c", Nas, Off, false),
            ],
            &R321,
        );
        assert_eq!((v.copies, v.media, v.offsite, v.immutable), (3, 2, 2, 1));
    }
}
