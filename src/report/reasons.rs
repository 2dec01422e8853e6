//! The words for the judgement's typed reasons ([`crate::catalog`], [`crate::sign`]): why a
//! copy does not count, said once, here, for every renderer (human, JSON's `why`, the
//! status page, notifications).

use std::fmt;

use crate::catalog::{Corruption, Divergence};
use crate::sign::Forgery;

impl fmt::Display for Forgery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Forgery::NoSignature => write!(f, "forged or damaged: the manifest has no signature"),
            Forgery::NotASignature => write!(
                f,
                "forged or damaged: the signature file is not an SSH signature"
            ),
            Forgery::Namespace(ns) => write!(
                f,
                "forged or damaged: the signature is for {ns:?}, not {:?}",
                crate::sign::NAMESPACE
            ),
            Forgery::UntrustedKey(fp) => write!(
                f,
                "forged or damaged: signed by a key that is not trusted ({fp})"
            ),
            Forgery::Mismatch => write!(
                f,
                "forged or damaged: the signature does not match the manifest (changed after signing)"
            ),
        }
    }
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::Manifest { path, error } => write!(f, "manifest {path}: {error}"),
            Corruption::Size { found, expected } => write!(
                f,
                "artifact has {found} bytes, the manifest says {expected}"
            ),
            Corruption::Sealed(m) => write!(f, "{m}"),
        }
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unsigned_against_signed {
            write!(
                f,
                "accepted unsigned, but the validly signed copies of this backup disagree with it: "
            )?;
        } else {
            write!(f, "copies of this backup disagree: ")?;
        }
        for (i, h) in self.holders.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(
                f,
                "{} hold{} sealed sha256 {}{}",
                h.targets.join(", "),
                if h.targets.len() == 1 { "s" } else { "" },
                h.sealed_sha256.chars().take(12).collect::<String>(),
                if h.signed { " (signed)" } else { "" }
            )?;
        }
        Ok(())
    }
}

/// Why a copy in `state` does not count, in words; `None` for a copy that counts (or was
/// not read).
pub fn why_not(state: &crate::catalog::CopyState) -> Option<String> {
    use crate::catalog::CopyState;
    match state {
        CopyState::Verified | CopyState::Unsigned | CopyState::Unchecked => None,
        CopyState::Missing => Some("the artifact is missing".into()),
        CopyState::Corrupt { why } => Some(why.to_string()),
        CopyState::Forged { why } => Some(why.to_string()),
        CopyState::Divergent { why } => Some(why.to_string()),
        CopyState::Future { dated } => Some(format!(
            "dated {}, in the future: not a backup (a forged backup, or a clock far ahead)",
            dated.format("%Y-%m-%d %H:%M:%S UTC")
        )),
        CopyState::Duplicate { of } => Some(format!(
            "the same file as the copy on {of}: one copy, counted once"
        )),
        CopyState::Unreachable { error, .. } => Some(error.clone()),
    }
}
