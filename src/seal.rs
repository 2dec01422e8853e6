//! sha256 → zstd → age → sha256, and back. Synchronous and streaming.
//!
//! [`seal`] reads the plain backup once and writes one age file whose plaintext is one zstd
//! stream of it, hashing both sides on the way. Memory is bounded by zstd's window and job
//! buffers and age's 64 KiB chunks, whatever the size of the backup. The output is the
//! standard format: `age -d -i key.txt X.zip.zst.age | zstd -d > X.zip` opens it.
//!
//! [`unseal`] is the reverse and hashes both sides again, so that a restore can prove it
//! produced exactly what was backed up.

use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// zstd level: 3 is zstd's default, fast with a good ratio for XML/CSV-heavy 3CX backups.
pub const ZSTD_LEVEL: i32 = 3;
/// zstd multithreading job size.
const JOB_SIZE: u32 = 2 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("no recipients to encrypt to")]
    NoRecipients,
    #[error("recipient {0:?} is not an age X25519 or SSH public key")]
    BadRecipient(String),
    #[error("encryption failed: {0}")]
    Encrypt(#[from] age::EncryptError),
    #[error(
        "cannot decrypt: {0} (is --identity the secret key for one of the manifest's recipients?)"
    )]
    Decrypt(#[from] age::DecryptError),
    #[error("cannot read identity file {path}: {why}")]
    Identity { path: String, why: String },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Sizes and digests of both sides of a sealed stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub plain_bytes: u64,
    pub plain_sha256: String,
    pub sealed_bytes: u64,
    pub sealed_sha256: String,
}

/// A reader or writer that hashes and counts what passes through it.
pub struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    bytes: u64,
}

impl<T> Hashing<T> {
    pub fn new(inner: T) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// (bytes, lowercase hex sha256) of everything so far, and the inner value.
    pub fn finish(self) -> (u64, String, T) {
        (self.bytes, hex::encode(self.hasher.finalize()), self.inner)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub type Recipients = Vec<Box<dyn age::Recipient + Send>>;
pub type Identities = Vec<Box<dyn age::Identity + Send + Sync>>;

/// Parses recipient strings (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`).
pub fn parse_recipients<S: AsRef<str>>(lines: &[S]) -> Result<Recipients, SealError> {
    let mut out: Recipients = Vec::new();
    for line in lines {
        let r = line.as_ref().trim();
        if let Ok(x) = r.parse::<age::x25519::Recipient>() {
            out.push(Box::new(x));
        } else if let Ok(s) = r.parse::<age::ssh::Recipient>() {
            out.push(Box::new(s));
        } else {
            return Err(SealError::BadRecipient(r.to_string()));
        }
    }
    if out.is_empty() {
        return Err(SealError::NoRecipients);
    }
    Ok(out)
}

/// Reads an age identity file (as written by `pbx321 keygen` or `age-keygen`), or an
/// unencrypted OpenSSH private key.
pub fn load_identities(path: &Path) -> Result<Identities, SealError> {
    let err = |why: String| SealError::Identity {
        path: path.display().to_string(),
        why,
    };
    let text = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    if let Ok(file) = age::IdentityFile::from_buffer(&text[..]) {
        let ids = file.into_identities().map_err(|e| err(e.to_string()))?;
        if !ids.is_empty() {
            return Ok(ids);
        }
    }
    match age::ssh::Identity::from_buffer(&text[..], Some(path.display().to_string())) {
        Ok(id @ age::ssh::Identity::Unencrypted(_)) => Ok(vec![Box::new(id)]),
        Ok(_) => Err(err(
            "passphrase-protected or unsupported SSH keys are not supported here; use an age identity".into(),
        )),
        Err(_) => Err(err(
            "no age identity (AGE-SECRET-KEY-…) or SSH private key in it".into(),
        )),
    }
}

/// Seals `input` into `output`. `threads` is zstd's worker count (0: single-threaded).
/// Returns the digests and `output` flushed, so the caller can fsync it.
pub fn seal<R: Read, W: Write>(
    input: R,
    output: W,
    recipients: &Recipients,
    threads: u32,
) -> Result<(Digests, W), SealError> {
    let encryptor = age::Encryptor::with_recipients(
        recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
    )?;
    let sealed = Hashing::new(output);
    let age_writer = encryptor.wrap_output(sealed)?;
    let mut zstd = zstd::Encoder::new(age_writer, ZSTD_LEVEL)?;
    if threads > 0 {
        zstd.multithread(threads)?;
        // Smaller jobs than zstd's default (4 windows = 8 MiB at level 3) keep the buffers of
        // every worker, and so peak memory, low; the ratio barely changes.
        zstd.set_parameter(zstd::zstd_safe::CParameter::JobSize(JOB_SIZE))?;
    }
    let mut plain = Hashing::new(input);
    copy_large(&mut plain, &mut zstd)?;
    let age_writer = zstd.finish()?;
    let mut sealed = age_writer.finish()?;
    sealed.flush()?;
    let (plain_bytes, plain_sha256, _) = plain.finish();
    let (sealed_bytes, sealed_sha256, output) = sealed.finish();
    Ok((
        Digests {
            plain_bytes,
            plain_sha256,
            sealed_bytes,
            sealed_sha256,
        },
        output,
    ))
}

/// `io::copy` with 1 MiB reads instead of 8 KiB: the input is often an async stream behind a
/// bridge (a file read on tokio's blocking pool, an HTTP body), where every read is a round
/// trip to another thread, and the zip check behind a pipe wakes once per read.
fn copy_large<R: Read + ?Sized, W: Write + ?Sized>(r: &mut R, w: &mut W) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut total = 0;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}

const COPY_BUF: usize = 1024 * 1024;

/// Opens a sealed stream into `output`. Reads `input` to its end, so the sealed digest covers
/// every byte of the artifact, trailing garbage included.
pub fn unseal<R: Read, W: Write>(
    input: R,
    output: W,
    identities: &Identities,
) -> Result<(Digests, W), SealError> {
    let mut sealed = Hashing::new(input);
    let mut plain = Hashing::new(output);
    {
        let buffered = BufReader::with_capacity(COPY_BUF, &mut sealed);
        let decryptor = age::Decryptor::new_buffered(buffered)?;
        if decryptor.is_scrypt() {
            return Err(SealError::Io(io::Error::other(
                "this file is passphrase-encrypted; pbx321 artifacts are encrypted to public keys",
            )));
        }
        let reader =
            decryptor.decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))?;
        let mut zstd = zstd::Decoder::new(reader)?;
        copy_large(&mut zstd, &mut plain)?;
    }
    // Anything after the age stream still belongs to the artifact's digest. Bytes that the
    // buffers above read ahead were hashed when they were read.
    io::copy(&mut sealed, &mut io::sink())?;
    plain.flush()?;
    let (plain_bytes, plain_sha256, output) = plain.finish();
    let (sealed_bytes, sealed_sha256, _) = sealed.finish();
    Ok((
        Digests {
            plain_bytes,
            plain_sha256,
            sealed_bytes,
            sealed_sha256,
        },
        output,
    ))
}

/// A reader of the plaintext of a sealed stream: age, then zstd. Errors (wrong key, damage)
/// surface from `read`.
pub fn plain_reader<'a, R: Read + 'a>(
    input: R,
    identities: &Identities,
) -> Result<Box<dyn Read + 'a>, SealError> {
    let decryptor = age::Decryptor::new_buffered(BufReader::with_capacity(64 * 1024, input))?;
    let reader = decryptor.decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))?;
    Ok(Box::new(zstd::Decoder::new(reader)?))
}

/// sha256 and length of a whole stream.
pub fn digest<R: Read>(input: R) -> io::Result<(u64, String)> {
    let mut h = Hashing::new(input);
    io::copy(&mut h, &mut io::sink())?;
    let (n, sha, _) = h.finish();
    Ok((n, sha))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair() -> (Recipients, Identities) {
        let id = age::x25519::Identity::generate();
        let r: Recipients = vec![Box::new(id.to_public())];
        let i: Identities = vec![Box::new(id)];
        (r, i)
    }

    #[test]
    fn round_trip_with_digests() {
        let (r, i) = keypair();
        let data: Vec<u8> = (0..300_000u32).flat_map(|n| n.to_le_bytes()).collect();
        let (d, sealed) = seal(&data[..], Vec::new(), &r, 2).unwrap();
        assert_eq!(d.plain_bytes, data.len() as u64);
        assert_eq!(d.sealed_bytes, sealed.len() as u64);
        assert_eq!(digest(&data[..]).unwrap().1, d.plain_sha256);
        assert_eq!(digest(&sealed[..]).unwrap().1, d.sealed_sha256);
        assert!(!sealed.windows(16).any(|w| w == &data[4000..4016]));
        let (back_d, back) = unseal(&sealed[..], Vec::new(), &i).unwrap();
        assert_eq!(back, data);
        assert_eq!(back_d, d);
    }

    #[test]
    fn wrong_key_and_damage_are_errors() {
        let (r, _) = keypair();
        let (_, other) = keypair();
        let (_, mut sealed) = seal(&b"3CX backup"[..], Vec::new(), &r, 0).unwrap();
        assert!(matches!(
            unseal(&sealed[..], Vec::new(), &other),
            Err(SealError::Decrypt(_))
        ));
        let (r2, i2) = keypair();
        let (_, good) = seal(&b"3CX backup"[..], Vec::new(), &r2, 0).unwrap();
        sealed = good.clone();
        let last = sealed.len() - 5;
        sealed[last] ^= 1;
        assert!(unseal(&sealed[..], Vec::new(), &i2).is_err());
        sealed = good[..good.len() - 10].to_vec();
        assert!(unseal(&sealed[..], Vec::new(), &i2).is_err());
    }

    #[test]
    fn recipients_parse() {
        assert!(parse_recipients::<&str>(&[]).is_err());
        assert!(parse_recipients(&["age1bogus"]).is_err());
        let id = age::x25519::Identity::generate();
        assert_eq!(
            parse_recipients(&[id.to_public().to_string()])
                .unwrap()
                .len(),
            1
        );
    }
}
