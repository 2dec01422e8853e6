//! Pure decisions of putting a backup back into a running 3CX (`restore --into`) and of a
//! standby drill: whether the PBX can take the backup's version, what the placed file is
//! called, whether a wait has lasted too long, and whether the PBX came back as the
//! backup was. Time is an argument; nothing here does I/O.

use std::cmp::Ordering;
use std::time::Duration;

use serde::Serialize;

use crate::manifest::Fingerprint;

/// The name of the zip placed in the PBX's backup repository for backup `id`: pbx321's
/// own, so it never replaces a file of 3CX's, and tells what it is.
pub fn placed_name(id: &str) -> String {
    format!("pbx321-restore-{id}.zip")
}

/// Orders two 3CX versions (`20.0.9.1200`) part by part, numerically; a missing part is 0.
/// `None` when either is not digits and dots.
pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    let parts = |v: &str| -> Option<Vec<u64>> {
        crate::manifest::check_version(v).ok()?;
        v.split('.')
            .map(|p| {
                if p.is_empty() {
                    Some(0)
                } else {
                    p.parse().ok()
                }
            })
            .collect()
    };
    let (a, b) = (parts(a)?, parts(b)?);
    let n = a.len().max(b.len());
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    Some(
        (0..n)
            .map(|i| at(&a, i).cmp(&at(&b, i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
    )
}

/// Why a PBX cannot take a backup of `backup`'s version, if it cannot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionRefusal {
    #[error(
        "the backup is of 3CX {backup}, newer than the PBX's {pbx}: 3CX refuses it — update the PBX to {backup} or later first"
    )]
    Newer { backup: String, pbx: String },
    #[error(
        "the PBX reports version {pbx:?}, which pbx321 cannot compare with the backup's {backup}"
    )]
    Unreadable { backup: String, pbx: String },
}

/// Whether a PBX of version `pbx` can take a backup of version `backup` (unknown: it can;
/// 3CX itself is asked again before the restore).
pub fn version_allows(backup: Option<&str>, pbx: &str) -> Result<(), VersionRefusal> {
    let Some(backup) = backup else {
        return Ok(());
    };
    match compare_versions(backup, pbx) {
        Some(Ordering::Greater) => Err(VersionRefusal::Newer {
            backup: backup.into(),
            pbx: pbx.into(),
        }),
        Some(_) => Ok(()),
        None => Err(VersionRefusal::Unreadable {
            backup: backup.into(),
            pbx: pbx.into(),
        }),
    }
}

/// One count that differs between the backup and the PBX after the restore.
pub use crate::facts::CountDifference as CountDiff;

/// How the restored PBX compares with the backup's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Comparison {
    /// Every count and the version as recorded.
    Matched,
    /// Counts (or the version) differ.
    Differs {
        counts: Vec<CountDiff>,
        /// (backup's, PBX's) when the versions differ in a way that matters: the PBX
        /// reports an older version than the backup's (it did not take it).
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<(String, String)>,
    },
    /// The manifest holds no fingerprint (a backup from before pbx321 recorded one, or a
    /// source that cannot tell): nothing to compare, which is no proof.
    NoFingerprint,
}

impl Comparison {
    pub fn matched(&self) -> bool {
        matches!(self, Comparison::Matched)
    }
}

/// Compares the PBX after a restore (`pbx`, its version) with what the manifest recorded.
pub fn compare(
    recorded: Option<&Fingerprint>,
    recorded_version: Option<&str>,
    pbx: &Fingerprint,
    pbx_version: &str,
) -> Comparison {
    let Some(recorded) = recorded else {
        return Comparison::NoFingerprint;
    };
    let counts: Vec<CountDiff> = recorded
        .counts()
        .iter()
        .zip(pbx.counts())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((what, a), (_, b))| CountDiff {
            what: what.to_string(),
            backup: *a,
            pbx: b,
        })
        .collect();
    let version = recorded_version
        .filter(|v| compare_versions(v, pbx_version) == Some(Ordering::Greater))
        .map(|v| (v.to_string(), pbx_version.to_string()));
    if counts.is_empty() && version.is_none() {
        Comparison::Matched
    } else {
        Comparison::Differs { counts, version }
    }
}

/// What a bounded wait does next, given how long it has waited (`waited`) out of `bound`:
/// ask again after `poll` (never past the bound), or give up.
pub fn next_poll(waited: Duration, bound: Duration, poll: Duration) -> Option<Duration> {
    let left = bound.checked_sub(waited)?;
    (!left.is_zero()).then(|| poll.min(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(trunks: u64) -> Fingerprint {
        Fingerprint {
            users: 10,
            trunks,
            outbound_rules: 3,
            groups: 1,
            queues: 2,
            ring_groups: 1,
        }
    }

    #[test]
    fn versions_compare_numerically_part_by_part() {
        use Ordering::*;
        for (a, b, want) in [
            ("20.0.9.1200", "20.0.9.1200", Some(Equal)),
            ("20.0.10.1", "20.0.9.1200", Some(Greater)),
            ("20.0.9", "20.0.9.0", Some(Equal)),
            ("20.0.8.999", "20.0.9", Some(Less)),
            ("18.0.9", "20", Some(Less)),
            ("20.0.9", "20.0.9-beta", None),
            ("", "20", None),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn a_pbx_takes_its_own_version_and_older_ones_only() {
        assert!(version_allows(Some("20.0.9.1200"), "20.0.9.1200").is_ok());
        assert!(version_allows(Some("20.0.8.1"), "20.0.9.1200").is_ok());
        assert!(version_allows(None, "20.0.9.1200").is_ok());
        let e = version_allows(Some("20.0.10.1"), "20.0.9.1200").unwrap_err();
        assert!(matches!(e, VersionRefusal::Newer { .. }));
        assert!(e.to_string().contains("update the PBX to 20.0.10.1"), "{e}");
        assert!(matches!(
            version_allows(Some("20.0.9"), "twenty").unwrap_err(),
            VersionRefusal::Unreadable { .. }
        ));
    }

    #[test]
    fn the_comparison_names_each_count_that_differs() {
        let v = "20.0.9.1200";
        assert_eq!(
            compare(Some(&fp(2)), Some(v), &fp(2), v),
            Comparison::Matched
        );
        assert_eq!(compare(None, Some(v), &fp(2), v), Comparison::NoFingerprint);
        let c = compare(Some(&fp(2)), Some(v), &fp(1), v);
        assert_eq!(
            c,
            Comparison::Differs {
                counts: vec![CountDiff {
                    what: "trunks".into(),
                    backup: 2,
                    pbx: 1
                }],
                version: None
            }
        );
        assert!(!c.matched());
        // A PBX still older than the backup did not take it.
        assert!(matches!(
            compare(Some(&fp(2)), Some("20.0.10"), &fp(2), v),
            Comparison::Differs {
                version: Some(_),
                ..
            }
        ));
        // A newer PBX is fine.
        assert!(compare(Some(&fp(2)), Some("20.0.8"), &fp(2), v).matched());
    }

    #[test]
    fn a_wait_polls_within_its_bound_then_gives_up() {
        let s = Duration::from_secs;
        assert_eq!(next_poll(s(0), s(60), s(2)), Some(s(2)));
        assert_eq!(next_poll(s(59), s(60), s(2)), Some(s(1)));
        assert_eq!(next_poll(s(60), s(60), s(2)), None);
        assert_eq!(next_poll(s(61), s(60), s(2)), None);
    }

    #[test]
    fn the_placed_file_has_a_name_of_its_own() {
        assert_eq!(
            placed_name("hq-20261204T030000Z"),
            "pbx321-restore-hq-20261204T030000Z.zip"
        );
    }
}
