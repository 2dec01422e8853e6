//! The on-target metadata format and object layout (pure: no I/O).
//!
//! Every copy is self-describing: `<source>/<id>.zip.zst.age` holds the sealed bytes and
//! `<source>/<id>.manifest.json` beside it says what they are. The manifest is written last
//! and is the commit marker: an artifact without a manifest is not a copy. The format is
//! specified for humans in `docs/formats.md`; keep the two in step.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// The manifest format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The `format` field: tells a stray JSON file from a manifest.
pub const FORMAT_NAME: &str = "pbx321-manifest";
pub const ARTIFACT_SUFFIX: &str = ".zip.zst.age";
pub const MANIFEST_SUFFIX: &str = ".manifest.json";
/// The detached signature beside a manifest (see `sign`).
pub const SIGNATURE_SUFFIX: &str = ".manifest.json.sig";
/// Suffix of objects being written. Whatever carries it is a leftover of an interrupted
/// write once no run holds the lock, and is never counted as a copy.
pub const PARTIAL_SUFFIX: &str = ".partial";
const ID_TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub id: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub origin: Origin,
    pub plain: Plain,
    pub sealed: Sealed,
    pub tool: Tool,
    /// What the PBX was when the backup was made (3CX sources): its version and the shape
    /// of its configuration. Signed with the rest; absent for folder and command sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbx: Option<PbxShape>,
}

/// The 3CX system a backup was taken from, as it said at backup time: its version, and
/// a fingerprint of its configuration that holds counts only — never a name or a number
/// that could be personal. What a restore into 3CX is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PbxShape {
    /// The 3CX version (`20.0.9.1200`): a restore needs a PBX at least this new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
}

/// Counts of a 3CX configuration's objects (OData `$count` of each collection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    pub users: u64,
    pub trunks: u64,
    pub outbound_rules: u64,
    pub groups: u64,
    pub queues: u64,
    pub ring_groups: u64,
}

impl Fingerprint {
    /// Each count with its name, in a fixed order (for reports and comparisons).
    pub fn counts(&self) -> [(&'static str, u64); 6] {
        [
            ("users", self.users),
            ("trunks", self.trunks),
            ("outbound rules", self.outbound_rules),
            ("groups", self.groups),
            ("queues", self.queues),
            ("ring groups", self.ring_groups),
        ]
    }
}

/// A 3CX version as pbx321 accepts it from a PBX or a manifest: 1 to 32 characters,
/// digits and dots, starting with a digit. Anything else is not recorded (or, read back,
/// refused): a version is compared and printed, and must be nothing else.
pub fn check_version(v: &str) -> Result<(), &'static str> {
    if v.is_empty() || v.len() > 32 {
        return Err("must be 1 to 32 characters long");
    }
    if !v.starts_with(|c: char| c.is_ascii_digit())
        || !v.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return Err("is not a version like 20.0.9.1200");
    }
    Ok(())
}

/// What the source said about the backup, used to recognise it when seen again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The file name at the source (e.g. `3CXScheduledBackup.zip`).
    pub name: String,
    /// Modification or creation time at the source.
    pub time: DateTime<Utc>,
    /// Size at the source, in bytes.
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plain {
    pub bytes: u64,
    pub sha256: String,
    /// The PBX encrypted the zip's entries itself (3CX "encrypt backup"): restoring it into
    /// 3CX needs that password too. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pbx_encrypted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    pub bytes: u64,
    pub sha256: String,
    /// Always `zstd` in version 1.
    pub compression: String,
    /// Always `age` in version 1.
    pub encryption: String,
    /// The public keys the file key was wrapped to.
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn this() -> Tool {
        Tool {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Sizes and sha256 (lowercase hex) of both sides of a sealed stream, as measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub plain_bytes: u64,
    pub plain_sha256: String,
    pub sealed_bytes: u64,
    pub sealed_sha256: String,
}

/// Measured bytes that are not what a manifest says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error(
        "sealed sha256 {found} ({found_bytes} bytes) does not match the manifest's {expected} ({expected_bytes} bytes)"
    )]
    Sealed {
        found: String,
        found_bytes: u64,
        expected: String,
        expected_bytes: u64,
    },
    #[error(
        "restored sha256 {found} ({found_bytes} bytes) does not match the manifest's {expected} ({expected_bytes} bytes)"
    )]
    Plain {
        found: String,
        found_bytes: u64,
        expected: String,
        expected_bytes: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("not valid manifest JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("format is {0:?}, not {FORMAT_NAME:?}")]
    Format(String),
    #[error("manifest version {0} is newer than this pbx321 understands (1): upgrade pbx321")]
    Version(u32),
    #[error("manifest is for {found:?} but lies at the place of {expected:?}")]
    Misplaced { found: String, expected: String },
    #[error("{field} {value:?} {why}")]
    BadName {
        field: &'static str,
        value: String,
        why: &'static str,
    },
}

impl Sealed {
    /// What version 1 seals: a zstd stream encrypted with age to `recipients`.
    pub fn zstd_age(bytes: u64, sha256: String, recipients: Vec<String>) -> Sealed {
        Sealed {
            bytes,
            sha256,
            compression: "zstd".into(),
            encryption: "age".into(),
            recipients,
        }
    }
}

impl Manifest {
    /// The manifest of a new backup of `source` made at `created_at` (whole seconds: the
    /// id holds no fraction).
    pub fn new(
        source: &str,
        created_at: DateTime<Utc>,
        origin: Origin,
        plain: Plain,
        sealed: Sealed,
    ) -> Manifest {
        Manifest {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            id: backup_id(source, created_at),
            source: source.into(),
            created_at,
            origin,
            plain,
            sealed,
            tool: Tool::this(),
            pbx: None,
        }
    }

    /// The same manifest recording what the PBX was (`None` changes nothing).
    pub fn with_pbx(mut self, pbx: Option<PbxShape>) -> Manifest {
        self.pbx = pbx;
        self
    }

    /// The 3CX version the backup was taken from, if recorded.
    pub fn pbx_version(&self) -> Option<&str> {
        self.pbx.as_ref()?.version.as_deref()
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a manifest always serializes");
        v.push(b'\n');
        v
    }

    /// Parses a manifest and checks it belongs where it was found: its `source` and `id`
    /// must be those of its place (`expected_source`/`expected_id`, themselves checked names),
    /// and every name in it must be data, not a path. A manifest is read from a target that
    /// anyone with write access to it may have edited; nothing in it is used before this.
    pub fn from_json(
        bytes: &[u8],
        expected_source: &str,
        expected_id: &str,
    ) -> Result<Manifest, ManifestError> {
        let m: Manifest = serde_json::from_slice(bytes)?;
        if m.format != FORMAT_NAME {
            return Err(ManifestError::Format(m.format));
        }
        if m.version > FORMAT_VERSION {
            return Err(ManifestError::Version(m.version));
        }
        let bad = |field, value: &str, why| ManifestError::BadName {
            field,
            value: value.chars().take(80).collect(),
            why,
        };
        check_name(&m.source).map_err(|why| bad("source", &m.source, why))?;
        if m.source != expected_source || m.id != expected_id {
            return Err(ManifestError::Misplaced {
                found: format!("{}/{}", m.source, m.id).chars().take(160).collect(),
                expected: format!("{expected_source}/{expected_id}"),
            });
        }
        if id_time(&m.source, &m.id).is_none() {
            return Err(bad("id", &m.id, "is not <source>-<yyyymmddThhmmssZ>"));
        }
        check_file_name(&m.origin.name).map_err(|why| bad("origin.name", &m.origin.name, why))?;
        if let Some(v) = m.pbx_version() {
            check_version(v).map_err(|why| bad("pbx.version", v, why))?;
        }
        for (field, sha) in [
            ("plain.sha256", &m.plain.sha256),
            ("sealed.sha256", &m.sealed.sha256),
        ] {
            if !is_sha256_hex(sha) {
                return Err(bad(field, sha, "is not a sha256 in hex"));
            }
        }
        Ok(m)
    }

    /// Checks the sealed side of a copy: its length and sha256 as read.
    pub fn verify_sealed(&self, bytes: u64, sha256: &str) -> Result<(), Mismatch> {
        if bytes == self.sealed.bytes && sha256 == self.sealed.sha256 {
            return Ok(());
        }
        Err(Mismatch::Sealed {
            found: sha256.into(),
            found_bytes: bytes,
            expected: self.sealed.sha256.clone(),
            expected_bytes: self.sealed.bytes,
        })
    }

    /// Checks both sides of a restore (or drill) against this manifest.
    pub fn verify(&self, d: &Digests) -> Result<(), Mismatch> {
        self.verify_sealed(d.sealed_bytes, &d.sealed_sha256)?;
        if d.plain_bytes == self.plain.bytes && d.plain_sha256 == self.plain.sha256 {
            return Ok(());
        }
        Err(Mismatch::Plain {
            found: d.plain_sha256.clone(),
            found_bytes: d.plain_bytes,
            expected: self.plain.sha256.clone(),
            expected_bytes: self.plain.bytes,
        })
    }

    /// Checks a restore that did not hash the sealed side ([`crate::seal::unseal_plain`]):
    /// its length, and the plain length and sha256 — which alone prove the output against
    /// a signed manifest. An empty `sealed_sha256` is not compared.
    pub fn verify_restored(&self, d: &Digests) -> Result<(), Mismatch> {
        if d.sealed_sha256.is_empty() {
            if d.sealed_bytes != self.sealed.bytes {
                return Err(Mismatch::Sealed {
                    found: "(not hashed)".into(),
                    found_bytes: d.sealed_bytes,
                    expected: self.sealed.sha256.clone(),
                    expected_bytes: self.sealed.bytes,
                });
            }
            let plain = Digests {
                sealed_sha256: self.sealed.sha256.clone(),
                ..d.clone()
            };
            return self.verify(&plain);
        }
        self.verify(d)
    }

    /// Whether `origin` describes the same source file as this manifest's.
    pub fn same_origin(&self, origin: &Origin) -> bool {
        self.origin == *origin
    }
}

/// Longest source or target name.
pub const NAME_MAX: usize = 64;

/// Source and target names become directory names on every target, and names read back from
/// a target are checked by the same rule before any use: 1 to 64 letters, digits, `.`, `_`
/// or `-`, not starting with `.` or `-` (so never `..`, `/`, `\`, NUL or a control
/// character).
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err("must be 1 to 64 characters long");
    }
    if name.starts_with(['.', '-']) {
        return Err("must not start with '.' or '-'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err("may hold only letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

/// A file name as a source reported it (`3CXScheduledBackup.zip`): shown to people, never
/// used as a path, and still refused when it could be one.
pub fn check_file_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 255 {
        return Err("must be 1 to 255 bytes long");
    }
    if name == "." || name == ".." || name.contains(['/', '\\']) {
        return Err("must be a plain file name, not a path");
    }
    if name.chars().any(crate::escape::is_unsafe) {
        return Err("must not hold control characters, bidi controls or invisible characters");
    }
    Ok(())
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `<source>-<UTC yyyymmddThhmmssZ>`.
pub fn backup_id(source: &str, at: DateTime<Utc>) -> String {
    format!("{source}-{}", at.format(ID_TIME_FORMAT))
}

/// The source and time of a backup id (`hq-2-20261125T030000Z` → `hq-2`, time), if it is
/// one: the time is the id's fixed-length tail, the source a checked name.
pub fn split_id(id: &str) -> Option<(&str, DateTime<Utc>)> {
    let cut = id.len().checked_sub(ID_TIME_LEN + 1)?;
    let source = id.get(..cut)?;
    Some((source, id_time(source, id)?))
}

/// Length of the time part of an id.
const ID_TIME_LEN: usize = 16;

/// The time encoded in a backup id, if it is one of `source`'s ids (and `source` a valid
/// name).
pub fn id_time(source: &str, id: &str) -> Option<DateTime<Utc>> {
    check_name(source).ok()?;
    // Called for every object of every listing: parse the fixed format by hand rather than
    // through a format string.
    let s = id.strip_prefix(source)?.strip_prefix('-')?.as_bytes();
    if s.len() != ID_TIME_LEN || s[8] != b'T' || s[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        s[r].iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(4..6)?, num(6..8)?)?;
    let time = date.and_hms_opt(num(9..11)?, num(11..13)?, num(13..15)?)?;
    Some(Utc.from_utc_datetime(&time))
}

pub fn artifact_path(source: &str, id: &str) -> String {
    format!("{source}/{id}{ARTIFACT_SUFFIX}")
}

pub fn manifest_path(source: &str, id: &str) -> String {
    format!("{source}/{id}{MANIFEST_SUFFIX}")
}

pub fn signature_path(source: &str, id: &str) -> String {
    format!("{source}/{id}{SIGNATURE_SUFFIX}")
}

/// What an object found on a target is, by its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Artifact {
        source: String,
        id: String,
    },
    Manifest {
        source: String,
        id: String,
    },
    Signature {
        source: String,
        id: String,
    },
    /// An interrupted write's leftover: one of the above under a temporary name
    /// (`<name>.<nonce>.partial`).
    Partial {
        source: String,
        id: String,
    },
    /// A name pbx321 never writes: not pbx321's, never deleted, read or counted.
    Foreign,
}

impl Object {
    /// The (source, id) a pbx321 object belongs to.
    pub fn id(&self) -> Option<(&str, &str)> {
        match self {
            Object::Artifact { source, id }
            | Object::Manifest { source, id }
            | Object::Signature { source, id }
            | Object::Partial { source, id } => Some((source, id)),
            Object::Foreign => None,
        }
    }
}

/// Classifies a target path (`source/name`) by the names pbx321 writes, and only those: a
/// path whose first part is not a valid source name, whose name is not exactly an id with
/// one of pbx321's suffixes (or such a name under the temporary name
/// `<name>.<nonce>.partial` that writes use), is foreign, whatever it looks like.
pub fn classify(path: &str) -> Object {
    let Some((source, name)) = path.split_once('/') else {
        return Object::Foreign;
    };
    if name.contains('/') || check_name(source).is_err() || check_file_name(name).is_err() {
        return Object::Foreign;
    }
    if let Some(rest) = name.strip_suffix(PARTIAL_SUFFIX) {
        // `<object name>.<nonce>`, the nonce as `partial_name` makes it.
        let Some((object, nonce)) = rest.rsplit_once('.') else {
            return Object::Foreign;
        };
        let nonce_ok = !nonce.is_empty()
            && nonce.len() <= 64
            && nonce.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        return match (nonce_ok, classify_name(source, object)) {
            (true, Some((source, id))) => Object::Partial { source, id },
            _ => Object::Foreign,
        };
    }
    let parse = |suffix: &str| {
        name.strip_suffix(suffix)
            .filter(|id| id_time(source, id).is_some())
            .map(|id| (source.to_string(), id.to_string()))
    };
    if let Some((source, id)) = parse(ARTIFACT_SUFFIX) {
        Object::Artifact { source, id }
    } else if let Some((source, id)) = parse(MANIFEST_SUFFIX) {
        Object::Manifest { source, id }
    } else if let Some((source, id)) = parse(SIGNATURE_SUFFIX) {
        Object::Signature { source, id }
    } else {
        Object::Foreign
    }
}

/// The (source, id) of an artifact, manifest or signature name within `source`'s directory.
fn classify_name(source: &str, name: &str) -> Option<(String, String)> {
    [ARTIFACT_SUFFIX, MANIFEST_SUFFIX, SIGNATURE_SUFFIX]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .filter(|id| id_time(source, id).is_some())
        .map(|id| (source.to_string(), id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 8, 45, 0).unwrap();
        Manifest {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            id: backup_id("hq", at),
            source: "hq".into(),
            created_at: at,
            origin: Origin {
                name: "3CXScheduledBackup.zip".into(),
                time: at,
                size: 10,
            },
            plain: Plain {
                bytes: 10,
                sha256: "00".repeat(32),
                pbx_encrypted: false,
            },
            sealed: Sealed {
                bytes: 300,
                sha256: "11".repeat(32),
                compression: "zstd".into(),
                encryption: "age".into(),
                recipients: vec!["age1x".into()],
            },
            tool: Tool::this(),
            pbx: None,
        }
    }

    #[test]
    fn the_pbx_shape_round_trips_and_a_bad_version_is_refused() {
        let m = sample();
        assert!(!String::from_utf8(m.to_json()).unwrap().contains("\"pbx\""));
        let shaped = m.clone().with_pbx(Some(PbxShape {
            version: Some("20.0.9.1200".into()),
            fingerprint: Some(Fingerprint {
                users: 12,
                trunks: 2,
                outbound_rules: 3,
                groups: 1,
                queues: 0,
                ring_groups: 2,
            }),
        }));
        let back = Manifest::from_json(&shaped.to_json(), "hq", &m.id).unwrap();
        assert_eq!(back, shaped);
        assert_eq!(back.pbx_version(), Some("20.0.9.1200"));
        for bad in [
            "",
            "../20",
            "20.0 ",
            "v20",
            "20.0.9.1200\u{202e}",
            &"9".repeat(33),
        ] {
            let mut x = shaped.clone();
            x.pbx.as_mut().unwrap().version = Some(bad.into());
            let e = Manifest::from_json(&x.to_json(), "hq", &m.id).unwrap_err();
            assert!(e.to_string().contains("pbx.version"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn round_trip_and_checks() {
        let m = sample();
        assert_eq!(m.id, "hq-20261125T084500Z");
        let back = Manifest::from_json(&m.to_json(), "hq", &m.id).unwrap();
        assert_eq!(back, m);
        assert!(matches!(
            Manifest::from_json(&m.to_json(), "hq", "hq-20261125T084501Z"),
            Err(ManifestError::Misplaced { .. })
        ));
        let mut newer = m.clone();
        newer.version = 2;
        assert!(matches!(
            Manifest::from_json(&newer.to_json(), "hq", &m.id),
            Err(ManifestError::Version(2))
        ));
        assert!(Manifest::from_json(b"{\"format\":", "hq", &m.id).is_err());
    }

    /// Issue 31: a restore proves its output by the plain side alone; the sealed sha256 is
    /// compared only when it was made.
    #[test]
    fn a_restore_is_verified_by_its_plain_side_when_the_sealed_was_not_hashed() {
        let m = sample();
        let d = |sealed_bytes, sealed_sha256: &str, plain_sha256: String| Digests {
            plain_bytes: 10,
            plain_sha256,
            sealed_bytes,
            sealed_sha256: sealed_sha256.into(),
        };
        let good = "00".repeat(32);
        assert!(m.verify_restored(&d(300, "", good.clone())).is_ok());
        assert!(matches!(
            m.verify_restored(&d(300, "", "ff".repeat(32))),
            Err(Mismatch::Plain { .. })
        ));
        assert!(matches!(
            m.verify_restored(&d(299, "", good.clone())),
            Err(Mismatch::Sealed { .. })
        ));
        // Hashed: both sides, as before.
        assert!(
            m.verify_restored(&d(300, &"11".repeat(32), good.clone()))
                .is_ok()
        );
        assert!(matches!(
            m.verify_restored(&d(300, &"22".repeat(32), good)),
            Err(Mismatch::Sealed { .. })
        ));
    }

    #[test]
    fn pbx_encryption_is_recorded_only_when_true() {
        let mut m = sample();
        assert!(
            !String::from_utf8(m.to_json())
                .unwrap()
                .contains("pbx_encrypted")
        );
        m.plain.pbx_encrypted = true;
        let json = m.to_json();
        assert!(
            String::from_utf8(json.clone())
                .unwrap()
                .contains("\"pbx_encrypted\": true")
        );
        assert!(
            Manifest::from_json(&json, "hq", &m.id)
                .unwrap()
                .plain
                .pbx_encrypted
        );
    }

    #[test]
    fn ids_and_paths() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let id = backup_id("hq-2", at);
        assert_eq!(id, "hq-2-20260102T030405Z");
        assert_eq!(id_time("hq-2", &id), Some(at));
        assert_eq!(id_time("hq", &id), None);
        for bad in [
            "hq-20261325T000000Z",
            "hq-2026112xT000000Z",
            "hq-20261125T250000Z",
            "hq-20261125 000000Z",
            "hq-20261125T000000",
            "hq-20261125T0000000Z",
        ] {
            assert_eq!(id_time("hq", bad), None, "{bad}");
        }
        assert_eq!(
            classify(&artifact_path("hq-2", &id)),
            Object::Artifact {
                source: "hq-2".into(),
                id: id.clone()
            }
        );
        assert_eq!(
            classify(&manifest_path("hq-2", &id)),
            Object::Manifest {
                source: "hq-2".into(),
                id
            }
        );
        assert_eq!(
            classify("hq/hq-20260102T030405Z.zip.zst.age.1f2-0-3a.partial"),
            Object::Partial {
                source: "hq".into(),
                id: "hq-20260102T030405Z".into()
            }
        );
        // Only pbx321's own temporary names are its leftovers.
        for foreign in [
            "hq/important.db.partial",
            "hq/hq-20260102T030405Z.zip.zst.age.partial",
            "hq/hq-20260102T030405Z.zip.zst.age.x_y.partial",
            "hq/hq-20260102T030405Z-x",
            "hq/hq-20260102T030405Z.zip",
        ] {
            assert_eq!(classify(foreign), Object::Foreign, "{foreign}");
        }
        assert_eq!(
            classify("hq-2/hq-2-20260102T030405Z.manifest.json.sig"),
            Object::Signature {
                source: "hq-2".into(),
                id: "hq-2-20260102T030405Z".into()
            }
        );
        assert_eq!(classify("hq/notes.txt"), Object::Foreign);
        // Names that could be paths are not pbx321's objects, whatever their suffix.
        for bad in [
            "../hq-20260102T030405Z.manifest.json",
            "..-20260102T030405Z/..-20260102T030405Z.manifest.json",
            "./x.partial",
            "/hq-20260102T030405Z.zip.zst.age",
            "a\\b/x.partial",
            "hq/../x.partial",
        ] {
            assert_eq!(classify(bad), Object::Foreign, "{bad}");
        }
        assert_eq!(classify("loose.zip.zst.age"), Object::Foreign);
        assert_eq!(split_id("hq-2-20260102T030405Z"), Some(("hq-2", at)));
        assert_eq!(split_id("-20260102T030405Z"), None);
        assert_eq!(split_id("../x-20260102T030405Z"), None);
        assert_eq!(split_id("20260102T030405Z"), None);
    }

    /// Issue 11, finding 1: a manifest edited to point elsewhere is not a copy.
    #[test]
    fn a_manifest_that_names_another_place_or_a_path_is_refused() {
        let m = sample();
        let edit = |f: &dyn Fn(&mut Manifest)| {
            let mut x = m.clone();
            f(&mut x);
            Manifest::from_json(&x.to_json(), "hq", &m.id)
                .unwrap_err()
                .to_string()
        };
        assert!(edit(&|x| x.source = "../../escape".into()).contains("source"));
        assert!(edit(&|x| x.source = "/etc".into()).contains("source"));
        assert!(edit(&|x| x.source = "other".into()).contains("lies at the place"));
        assert!(edit(&|x| x.id = "hq-20261125T084501Z".into()).contains("lies at the place"));
        assert!(edit(&|x| x.id = "../hq-20261125T084500Z".into()).contains("lies at the place"));
        assert!(edit(&|x| x.origin.name = "../../etc/passwd".into()).contains("origin.name"));
        assert!(edit(&|x| x.origin.name = "a\u{0}b".into()).contains("control"));
        assert!(edit(&|x| x.plain.sha256 = "../x".into()).contains("sha256"));
    }
}
