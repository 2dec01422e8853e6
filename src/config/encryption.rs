//! `[encryption]`: the age recipients every artifact is encrypted to.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::Cx;

/// The age recipients every artifact is encrypted to. Public keys only.
#[derive(Debug, Clone)]
pub struct Encryption {
    /// Validated recipient strings (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`).
    pub recipients: Vec<String>,
    /// A file with one recipient per line (`#` comments allowed), read at run time.
    pub recipients_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEncryption {
    #[serde(default)]
    recipients: Vec<Spanned<String>>,
    recipients_file: Option<PathBuf>,
}

impl Cx<'_> {
    pub(super) fn encryption(
        &mut self,
        raw: Spanned<RawEncryption>,
        base: &Path,
    ) -> Option<Encryption> {
        let span = raw.span();
        let raw = raw.into_inner();
        if raw.recipients.is_empty() && raw.recipients_file.is_none() {
            self.problem(
                Some(span),
                "[encryption] needs recipients = [\"age1…\"] or recipients_file = \"…\" (public keys; make one with `pbx321 keygen --out FILE`)",
            );
            return None;
        }
        let before = self.problems.len();
        let mut recipients = Vec::new();
        for r in &raw.recipients {
            match check_recipient(r.get_ref()) {
                Ok(()) => recipients.push(r.get_ref().trim().to_string()),
                Err(why) => self.problem(Some(r.span()), why.to_string()),
            }
        }
        (self.problems.len() == before).then(|| Encryption {
            recipients,
            recipients_file: raw.recipients_file.map(|p| base.join(p)),
        })
    }
}

/// Accepts the public key kinds pbx321 encrypts to; says what to do with anything else.
pub fn check_recipient(r: &str) -> Result<(), crate::seal::RecipientError> {
    crate::seal::parse_recipient(r).map(drop)
}
