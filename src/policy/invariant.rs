//! The 3-2-1(-1) invariant over the verified copies of one backup.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::{Location, Medium, Policy};
pub use crate::facts::{CopyFact, Placement};

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
    /// Why a label was not counted as written, or what to double-check; shown whatever the
    /// verdict.
    pub notes: Vec<String>,
    /// Targets whose medium and location were counted as declared, not verified.
    pub declared: Vec<String>,
}

/// Judges the copies of one backup against the rule, from facts rather than labels:
///
/// - a target counts once however many facts name it;
/// - copies that share a failure domain (same placement key) are one medium, whatever their
///   labels say;
/// - an "offsite" copy that lies on this host, or in the same failure domain as an onsite
///   copy, is not offsite;
/// - targets with `declared` labels are taken at their word, and listed as such.
pub fn evaluate(copies: &[CopyFact], rule: &Rule) -> Verdict {
    let mut seen = BTreeSet::new();
    let copies: Vec<&CopyFact> = copies
        .iter()
        .filter(|c| seen.insert(c.target.as_str()))
        .collect();
    let count = copies.len() as u32;
    let mut notes = Vec::new();

    // Failure domains: copies with the same (verified) placement key are one group.
    let group_of = |c: &CopyFact| match (&c.placement.key, c.declared) {
        (Some(k), false) => format!("place:{k}"),
        _ => format!("target:{}", c.target),
    };
    let mut groups: BTreeMap<String, Vec<&CopyFact>> = BTreeMap::new();
    for c in &copies {
        groups.entry(group_of(c)).or_default().push(c);
    }
    for members in groups.values().filter(|m| m.len() > 1) {
        let labels: BTreeSet<Medium> = members.iter().map(|c| c.medium).collect();
        if labels.len() > 1 {
            notes.push(format!(
                "{} are on one {}: they count as one medium, not {}",
                names(members),
                members[0].placement.describe.as_deref().unwrap_or("place"),
                labels.len()
            ));
        }
    }
    let media = distinct_media(&groups);

    let mut offsite = 0;
    for c in copies.iter().filter(|c| c.location == Location::Offsite) {
        if c.declared {
            offsite += 1;
            continue;
        }
        let shares_with_onsite = groups[&group_of(c)]
            .iter()
            .find(|o| o.location == Location::Onsite);
        if let Some(o) = shares_with_onsite {
            notes.push(format!(
                "{} is labelled offsite but is on the same {} as onsite target {}: not counted as offsite",
                c.target,
                c.placement.describe.as_deref().unwrap_or("place"),
                o.target
            ));
        } else if c.placement.this_host {
            notes.push(format!(
                "{} is labelled offsite but its endpoint is this host: not counted as offsite",
                c.target
            ));
        } else {
            offsite += 1;
            if c.placement.private_network {
                notes.push(format!(
                    "{} is labelled offsite and resolves to a private network address: make sure it is in another building",
                    c.target
                ));
            }
        }
    }
    let immutable = copies.iter().filter(|c| c.immutable).count() as u32;
    let declared: Vec<String> = copies
        .iter()
        .filter(|c| c.declared)
        .map(|c| c.target.clone())
        .collect();

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
        notes,
        declared,
    }
}

fn names(members: &[&CopyFact]) -> String {
    let names: Vec<&str> = members.iter().map(|c| c.target.as_str()).collect();
    match names.as_slice() {
        [a, b] => format!("targets {a} and {b}"),
        _ => format!("targets {}", names.join(", ")),
    }
}

/// The most distinct media the groups can stand for, each group standing for one of its
/// labels: a maximum bipartite matching (groups are few; Kuhn's algorithm is plenty).
fn distinct_media(groups: &BTreeMap<String, Vec<&CopyFact>>) -> u32 {
    let options: Vec<Vec<Medium>> = groups
        .values()
        .map(|m| {
            m.iter()
                .map(|c| c.medium)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .collect();
    let mut owner: BTreeMap<Medium, usize> = BTreeMap::new();
    fn assign(
        g: usize,
        options: &[Vec<Medium>],
        owner: &mut BTreeMap<Medium, usize>,
        visited: &mut BTreeSet<Medium>,
    ) -> bool {
        for &m in &options[g] {
            if !visited.insert(m) {
                continue;
            }
            let free = match owner.get(&m) {
                None => true,
                Some(&other) => assign(other, options, owner, visited),
            };
            if free {
                owner.insert(m, g);
                return true;
            }
        }
        false
    }
    (0..options.len())
        .filter(|&g| assign(g, &options, &mut owner, &mut BTreeSet::new()))
        .count() as u32
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
            declared: false,
            placement: Placement::default(),
        }
    }

    /// A copy on a known failure domain.
    fn on(place: &str, mut copy: CopyFact) -> CopyFact {
        copy.placement = Placement {
            key: Some(place.into()),
            describe: Some(format!("filesystem {place}")),
            ..Placement::default()
        };
        copy
    }

    fn declared(mut copy: CopyFact) -> CopyFact {
        copy.declared = true;
        copy
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
                name: "three copies labelled on two media but on one filesystem",
                copies: vec![
                    on("8:1", c("a", Disk, On, false)),
                    on("8:1", c("b", Removable, On, false)),
                    on("8:1", c("c", Disk, Off, false)),
                ],
                rule: R321,
                ok: false,
                reasons: &[
                    "1 distinct media, the rule needs 2",
                    "0 offsite copies, the rule needs 1",
                ],
            },
            Case {
                name: "the same labels, declared by the operator",
                copies: vec![
                    on("8:1", c("a", Disk, On, false)),
                    declared(on("8:1", c("b", Removable, On, false))),
                    declared(on("8:1", c("c", Disk, Off, false))),
                ],
                rule: R321,
                ok: true,
                reasons: &[],
            },
            Case {
                name: "two filesystems, three labels",
                copies: vec![
                    on("8:1", c("a", Disk, On, false)),
                    on("8:1", c("b", Nas, On, false)),
                    on("8:2", c("c", Removable, Off, false)),
                ],
                rule: R321,
                ok: true,
                reasons: &[],
            },
            Case {
                name: "an offsite target on this host is not offsite",
                copies: vec![
                    c("a", Disk, On, false),
                    c("b", Nas, On, false),
                    CopyFact {
                        placement: Placement {
                            this_host: true,
                            ..Placement::default()
                        },
                        ..c("c", ObjectStorage, Off, false)
                    },
                ],
                rule: R321,
                ok: false,
                reasons: &["0 offsite copies, the rule needs 1"],
            },
            Case {
                name: "an offsite target in a private network still counts",
                copies: vec![
                    c("a", Disk, On, false),
                    c("b", Nas, On, false),
                    CopyFact {
                        placement: Placement {
                            private_network: true,
                            ..Placement::default()
                        },
                        ..c("c", ObjectStorage, Off, false)
                    },
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
    fn notes_say_why_labels_were_not_counted() {
        let v = evaluate(
            &[
                on("8:1", c("local", Disk, On, false)),
                on("8:1", c("usb", Removable, On, false)),
                on("8:1", c("away", Disk, Off, false)),
            ],
            &R321,
        );
        assert_eq!(v.media, 1);
        assert!(
            v.notes[0].contains("targets local, usb, away are on one filesystem 8:1"),
            "{:?}",
            v.notes
        );
        assert!(v.notes[1].contains("away is labelled offsite but is on the same filesystem"));
        let v = evaluate(
            &[declared(c("a", Disk, On, false)), c("b", Nas, Off, false)],
            &R321,
        );
        assert_eq!(v.declared, vec!["a".to_string()]);
    }

    #[test]
    fn media_matching_is_maximal() {
        // Groups {x}, {x}, {y, z}: only two media can be told apart.
        let v = evaluate(
            &[
                on("1", c("a", Disk, On, false)),
                on("2", c("b", Disk, On, false)),
                on("3", c("c", Nas, On, false)),
                on("3", c("d", Tape, On, false)),
            ],
            &R321,
        );
        assert_eq!(v.media, 2);
        // Groups {disk, removable}, {disk}: two.
        let v = evaluate(
            &[
                on("1", c("a", Disk, On, false)),
                on("1", c("b", Removable, On, false)),
                on("2", c("c", Disk, On, false)),
            ],
            &R321,
        );
        assert_eq!(v.media, 2);
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
