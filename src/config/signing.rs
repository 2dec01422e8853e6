//! `[signing]`: the key that signs every manifest, and the keys whose signatures count.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use toml::Spanned;

use super::Cx;

/// Manifest signing (see `sign`). Without it copies are not tamper-evident: anyone who can
/// write to a target can plant a backup.
#[derive(Debug, Clone)]
pub struct Signing {
    /// The OpenSSH ed25519 private key that signs new manifests (0600, on the backup host).
    pub key: PathBuf,
    /// Public key lines (`ssh-ed25519 AAAA… comment`) whose signatures count, besides the
    /// signing key's own.
    pub trusted: Vec<String>,
    /// Unsigned manifests of backups made before this still count, reported "unsigned".
    pub accept_unsigned_before: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigning {
    key: PathBuf,
    #[serde(default)]
    trusted: Vec<Spanned<String>>,
    accept_unsigned_before: Option<Spanned<String>>,
}

impl Cx<'_> {
    pub(super) fn signing(&mut self, raw: Spanned<RawSigning>, base: &Path) -> Option<Signing> {
        let raw = raw.into_inner();
        let before = self.problems.len();
        for t in &raw.trusted {
            if let Err(why) = crate::sign::parse_trusted(t.get_ref()) {
                self.problem(Some(t.span()), format!("[signing] trusted: {why}"));
            }
        }
        let accept_unsigned_before = raw.accept_unsigned_before.as_ref().and_then(|s| {
            match DateTime::parse_from_rfc3339(s.get_ref()) {
                Ok(t) => Some(t.to_utc()),
                Err(e) => {
                    self.problem(
                        Some(s.span()),
                        format!(
                            "[signing] accept_unsigned_before = {:?} is not a time ({e}); write e.g. \"2026-11-25T00:00:00Z\"",
                            s.get_ref()
                        ),
                    );
                    None
                }
            }
        });
        (self.problems.len() == before).then(|| Signing {
            key: base.join(raw.key),
            trusted: raw
                .trusted
                .into_iter()
                .map(|t| t.into_inner().trim().to_string())
                .collect(),
            accept_unsigned_before,
        })
    }
}
