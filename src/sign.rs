//! Manifest signatures and trusted keys.
//!
//! The age recipient is public (it is in every manifest), so anyone who can write to one
//! target could plant a valid age file of their own zip with a manifest to match. Every
//! manifest is therefore signed by the backup host's ed25519 key, as a detached SSH
//! signature (the SSHSIG format of `ssh-keygen -Y sign`, namespace `pbx321-manifest`)
//! stored beside it as `<id>.manifest.json.sig` and written before it. A copy counts only
//! with a valid signature by a trusted key. Stock OpenSSH verifies one:
//!
//! ```sh
//! echo "pbx321 ssh-ed25519 AAAA…" > allowed_signers
//! ssh-keygen -Y verify -f allowed_signers -I pbx321 -n pbx321-manifest \
//!     -s X.manifest.json.sig < X.manifest.json
//! ```
//!
//! No cryptography is written here: RustCrypto's `ssh-key` signs and verifies.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use chrono::{DateTime, Utc};
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

/// The SSHSIG namespace of manifest signatures: a signature made for anything else (a git
/// commit, a file) never passes for a manifest's.
pub const NAMESPACE: &str = "pbx321-manifest";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("signing key {path}: {why}")]
    Key { path: String, why: String },
    #[error("signing failed: {0}")]
    Sign(String),
    #[error(transparent)]
    Trusted(#[from] TrustedKeyError),
}

/// The backup host's signing key.
pub struct Signer {
    key: PrivateKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.public_line())
    }
}

impl Signer {
    /// Reads an OpenSSH ed25519 private key (as `pbx321 keygen --signing-key` or
    /// `ssh-keygen -t ed25519 -N ''` write it). A key others may change is refused; one
    /// others may read is used with a warning (a git checkout of the demo key is 0644).
    pub fn load(path: &Path) -> Result<Signer, SignError> {
        let err = |why: String| SignError::Key {
            path: path.display().to_string(),
            why,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        let mode = meta.mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(err(format!(
                "mode {mode:o} lets others change it; run `chmod 600 {}`",
                path.display()
            )));
        }
        if mode & 0o044 != 0 {
            tracing::warn!(
                "signing key {} can be read by others (mode {mode:o}): anyone who reads it can sign backups; run `chmod 600` on it",
                path.display()
            );
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let key = PrivateKey::from_openssh(text.trim())
            .map_err(|e| err(format!("not an OpenSSH private key ({e})")))?;
        if key.is_encrypted() {
            return Err(err(
                "it is passphrase-protected; pbx321 signs unattended: use a key without a passphrase, kept 0600 on the backup host"
                    .into(),
            ));
        }
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(err(format!(
                "it is {}, pbx321 signs with ed25519 keys (`pbx321 keygen --signing-key FILE`)",
                key.algorithm()
            )));
        }
        Ok(Signer { key })
    }

    /// A detached SSHSIG signature of `manifest` (PEM).
    pub fn sign(&self, manifest: &[u8]) -> Result<Vec<u8>, SignError> {
        let sig = self
            .key
            .sign(NAMESPACE, HashAlg::Sha512, manifest)
            .map_err(|e| SignError::Sign(e.to_string()))?;
        let mut pem = sig
            .to_pem(LineEnding::LF)
            .map_err(|e| SignError::Sign(e.to_string()))?;
        if !pem.ends_with('\n') {
            pem.push('\n');
        }
        Ok(pem.into_bytes())
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public_key().clone()
    }

    /// `ssh-ed25519 AAAA… comment`.
    pub fn public_line(&self) -> String {
        self.key.public_key().to_openssh().unwrap_or_default()
    }
}

/// Writes a new ed25519 signing key to `path` (0600, never over an existing file) and
/// returns its public line.
pub fn generate(path: &Path, comment: &str) -> Result<String, SignError> {
    let err = |why: String| SignError::Key {
        path: path.display().to_string(),
        why,
    };
    let mut key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519)
        .map_err(|e| err(e.to_string()))?;
    key.set_comment(comment);
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| err(e.to_string()))?;
    let mut f = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => err(
                "exists; pbx321 never overwrites a key (the manifests it signed need it to stay trusted)"
                    .into(),
            ),
            _ => err(e.to_string()),
        })?;
    f.write_all(pem.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| err(e.to_string()))?;
    key.public_key()
        .to_openssh()
        .map_err(|e| err(e.to_string()))
}

/// Why a trusted-key line is refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrustedKeyError {
    #[error("{line:?} is not an OpenSSH public key: {why}")]
    NotAKey { line: String, why: String },
    #[error("{line:?} is {algorithm}: pbx321 verifies ed25519 signatures")]
    NotEd25519 { line: String, algorithm: String },
}

/// Parses a trusted public key line (`ssh-ed25519 AAAA… comment`). Pure.
pub fn parse_trusted(line: &str) -> Result<PublicKey, TrustedKeyError> {
    let key = PublicKey::from_openssh(line.trim()).map_err(|e| TrustedKeyError::NotAKey {
        line: short(line),
        why: e.to_string(),
    })?;
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(TrustedKeyError::NotEd25519 {
            line: short(line),
            algorithm: key.algorithm().to_string(),
        });
    }
    Ok(key)
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Which manifests count: those signed by one of these keys, and, for migration, unsigned
/// ones of backups made before a date.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub keys: Vec<PublicKey>,
    /// Unsigned manifests of backups whose id time is before this still count, reported
    /// "unsigned".
    pub accept_unsigned_before: Option<DateTime<Utc>>,
}

/// What a manifest's signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// Signed by a trusted key (its fingerprint).
    Valid { by: String },
    /// No signature, and the backup is older than `accept_unsigned_before`.
    UnsignedAccepted,
    /// No signature, or one that does not verify, or by a key not trusted.
    Invalid(Forgery),
}

/// Why a manifest's signature does not hold (worded in `report::reasons`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forgery {
    /// No signature beside the manifest (and none may be missing).
    NoSignature,
    /// The signature file is not an SSH signature.
    NotASignature,
    /// An SSH signature for another purpose (its namespace, shortened).
    Namespace(String),
    /// Signed by a key that is not trusted (its SHA-256 fingerprint).
    UntrustedKey(String),
    /// The signature does not match the manifest: it changed after signing.
    Mismatch,
}

impl Trust {
    /// Judges the signature `sig` (PEM, if there is one) of `manifest`, a manifest of a
    /// backup made at `made`. Pure.
    pub fn check(&self, manifest: &[u8], sig: Option<&[u8]>, made: DateTime<Utc>) -> Signature {
        let Some(sig) = sig else {
            return match self.accept_unsigned_before {
                Some(before) if made < before => Signature::UnsignedAccepted,
                _ => Signature::Invalid(Forgery::NoSignature),
            };
        };
        let sig = match std::str::from_utf8(sig)
            .ok()
            .and_then(|s| SshSig::from_pem(s.trim()).ok())
        {
            Some(s) => s,
            None => return Signature::Invalid(Forgery::NotASignature),
        };
        if sig.namespace() != NAMESPACE {
            return Signature::Invalid(Forgery::Namespace(short(sig.namespace())));
        }
        let Some(key) = self.keys.iter().find(|k| k.key_data() == sig.public_key()) else {
            let by = PublicKey::from(sig.public_key().clone());
            return Signature::Invalid(Forgery::UntrustedKey(
                by.fingerprint(HashAlg::Sha256).to_string(),
            ));
        };
        match key.verify(NAMESPACE, manifest, &sig) {
            Ok(()) => Signature::Valid {
                by: key.fingerprint(HashAlg::Sha256).to_string(),
            },
            Err(_) => Signature::Invalid(Forgery::Mismatch),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn key(dir: &Path, name: &str) -> (Signer, PublicKey) {
        let p = dir.join(name);
        let line = generate(&p, "test@pbx321").unwrap();
        (Signer::load(&p).unwrap(), parse_trusted(&line).unwrap())
    }

    #[test]
    fn signed_manifests_verify_and_anything_else_does_not() {
        let tmp = tempfile::tempdir().unwrap();
        let (signer, public) = key(tmp.path(), "k1");
        let (other, other_public) = key(tmp.path(), "k2");
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        let trust = Trust {
            keys: vec![public.clone()],
            accept_unsigned_before: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
        };
        let m = b"{\"manifest\": 1}\n";
        let sig = signer.sign(m).unwrap();
        assert!(matches!(
            trust.check(m, Some(&sig), at),
            Signature::Valid { .. }
        ));
        // Changed after signing.
        assert!(matches!(
            trust.check(b"{\"manifest\": 2}\n", Some(&sig), at),
            Signature::Invalid(Forgery::Mismatch)
        ));
        // Signed by another key.
        let forged = other.sign(m).unwrap();
        assert!(matches!(
            trust.check(m, Some(&forged), at),
            Signature::Invalid(Forgery::UntrustedKey(_))
        ));
        // ...which is fine once trusted (key rotation).
        let both = Trust {
            keys: vec![public, other_public],
            ..trust.clone()
        };
        assert!(matches!(
            both.check(m, Some(&forged), at),
            Signature::Valid { .. }
        ));
        // Unsigned: only before the migration date.
        assert_eq!(
            trust.check(m, None, at),
            Signature::Invalid(Forgery::NoSignature)
        );
        let old = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
        assert_eq!(trust.check(m, None, old), Signature::UnsignedAccepted);
        // Garbage and another namespace.
        assert!(matches!(
            trust.check(m, Some(b"garbage"), at),
            Signature::Invalid(Forgery::NotASignature)
        ));
        let elsewhere = signer
            .key
            .sign("git", HashAlg::Sha512, m)
            .unwrap()
            .to_pem(LineEnding::LF)
            .unwrap();
        assert!(matches!(
            trust.check(m, Some(elsewhere.as_bytes()), at),
            Signature::Invalid(Forgery::Namespace(ns)) if ns == "git"
        ));
    }

    #[test]
    fn keys_are_private_and_never_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("k");
        generate(&p, "c").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert!(
            generate(&p, "c")
                .unwrap_err()
                .to_string()
                .contains("never overwrites")
        );
        let mode = |m| {
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap()
        };
        mode(0o664);
        assert!(
            Signer::load(&p)
                .unwrap_err()
                .to_string()
                .contains("chmod 600")
        );
        mode(0o644);
        assert!(
            Signer::load(&p).is_ok(),
            "readable by others: a warning, not a refusal"
        );
        assert!(parse_trusted("ssh-ed25519 nonsense").is_err());
    }
}
