//! sha256 → zstd → age → sha256, and back. Synchronous and streaming.
//!
//! [`seal`] reads the plain backup once and writes one age file whose plaintext is one zstd
//! stream of it, hashing both sides on the way: the input is read and hashed on one thread,
//! the output hashed and written on another, compression and encryption run between them.
//! Memory is bounded by zstd's window and job buffers, age's 64 KiB chunks and the few
//! chunks each hand-over between the threads keeps and reuses (256 KiB for a seal, 512 KiB
//! for an unseal), whatever the size of the backup. The output is the standard format: `age -d -i key.txt X.zip.zst.age | zstd -d > X.zip` opens it.
//!
//! [`unseal`] is the reverse and hashes both sides again, so that a restore can prove it
//! produced exactly what was backed up.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::pool::Joined;

/// zstd level: 3 is zstd's default, fast with a good ratio for XML/CSV-heavy 3CX backups.
pub const ZSTD_LEVEL: i32 = 3;
/// zstd multithreading job size.
const JOB_SIZE: u32 = 2 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("no recipients to encrypt to")]
    NoRecipients,
    #[error(transparent)]
    BadRecipient(#[from] RecipientError),
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

pub use crate::manifest::Digests;

/// Digests from the (length, sha256) of each side.
fn digests(
    (plain_bytes, plain_sha256): (u64, String),
    (sealed_bytes, sealed_sha256): (u64, String),
) -> Digests {
    Digests {
        plain_bytes,
        plain_sha256,
        sealed_bytes,
        sealed_sha256,
    }
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

pub type Recipients = Vec<Box<dyn age::Recipient + Send + Sync>>;
pub type Identities = Vec<Box<dyn age::Identity + Send + Sync>>;

/// Why a recipient is refused; each says what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecipientError {
    #[error(
        "this is a secret key (identity), not a recipient: put its public key here (`age-keygen -y KEYFILE`) and keep the secret key off this host"
    )]
    SecretKey,
    #[error("{recipient:?} is not a valid age X25519 recipient: {why}")]
    BadAge { recipient: String, why: String },
    #[error("{recipient:?} is not a valid SSH public key: {why}")]
    BadSsh { recipient: String, why: String },
    #[error(
        "{0:?} is not a recipient pbx321 understands: use an age public key (age1…), ssh-ed25519 or ssh-rsa"
    )]
    Unknown(String),
}

/// Parses one recipient: an age X25519 public key (`age1…`), `ssh-ed25519 …` or `ssh-rsa …`.
/// The one place recipients are understood: the config check, the recipients file and the
/// seal all call it. The error says what to do (a pasted secret key is named as such).
pub fn parse_recipient(r: &str) -> Result<Box<dyn age::Recipient + Send + Sync>, RecipientError> {
    let r = r.trim();
    if r.starts_with("AGE-SECRET-KEY-") || r.contains("PRIVATE KEY") {
        return Err(RecipientError::SecretKey);
    }
    if r.starts_with("age1") {
        return r
            .parse::<age::x25519::Recipient>()
            .map(|x| Box::new(x) as _)
            .map_err(|e| RecipientError::BadAge {
                recipient: r.to_string(),
                why: e.to_string(),
            });
    }
    if r.starts_with("ssh-ed25519 ") || r.starts_with("ssh-rsa ") {
        return r
            .parse::<age::ssh::Recipient>()
            .map(|x| Box::new(x) as _)
            .map_err(|e| RecipientError::BadSsh {
                recipient: r.to_string(),
                why: format!("{e:?}"),
            });
    }
    Err(RecipientError::Unknown(r.to_string()))
}

/// Parses recipient strings; at least one.
pub fn parse_recipients<S: AsRef<str>>(lines: &[S]) -> Result<Recipients, SealError> {
    let out = lines
        .iter()
        .map(|l| parse_recipient(l.as_ref()).map_err(SealError::BadRecipient))
        .collect::<Result<Recipients, _>>()?;
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

/// Seals `input` into `output` with a compressor of its own with `threads` zstd workers (0:
/// single-threaded); see [`seal_with`].
pub fn seal<R: Read + Send + 'static, W: Write + Send + 'static>(
    input: R,
    output: W,
    recipients: &Recipients,
    threads: u32,
) -> Result<(Digests, W), SealError> {
    seal_with(input, output, recipients, &mut Compressor::new(threads)?)
}

/// Seals `input` into `output` with `compressor`. Returns the digests and `output` flushed,
/// so the caller can fsync it.
///
/// The plain side is read and hashed on one thread, the sealed side hashed and written on
/// another (both from [`crate::pool`]), so that neither sha256 is on the path of
/// compression and encryption.
pub fn seal_with<R: Read + Send + 'static, W: Write + Send + 'static>(
    input: R,
    output: W,
    recipients: &Recipients,
    compressor: &mut Compressor,
) -> Result<(Digests, W), SealError> {
    let (plain, plain_digest) = read_hashed(input, true, SEAL_CHUNK)?;
    let (sealed, sealed_side) = write_hashed(output, SEAL_CHUNK)?;
    let result = seal_stage(plain, sealed, recipients, compressor);
    let (plain, sealed, output) = join_stages(result, plain_digest, sealed_side)?;
    Ok((digests(plain, sealed), output))
}

fn seal_stage(
    mut plain: ChunkReader,
    sealed: ChunkWriter,
    recipients: &Recipients,
    compressor: &mut Compressor,
) -> Result<(), SealError> {
    let encryptor = age::Encryptor::with_recipients(
        recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
    )?;
    let age_writer = encryptor.wrap_output(sealed)?;
    let mut zstd = zstd::Encoder::with_context(age_writer, &mut compressor.context);
    copy_buffered(&mut plain, &mut zstd)?;
    let age_writer = zstd.finish()?;
    age_writer.finish()?.finish()?;
    Ok(())
}

/// A zstd compression context, its level, workers and job size set once. Used again, seal
/// after seal, it keeps its worker threads and buffers.
pub struct Compressor {
    context: zstd::zstd_safe::CCtx<'static>,
    workers: u32,
}

impl Compressor {
    /// A context with `workers` zstd worker threads (0: compression on the seal's thread).
    pub fn new(workers: u32) -> Result<Compressor, SealError> {
        use zstd::zstd_safe::CParameter;
        let mut context = zstd::zstd_safe::CCtx::create();
        let zstd_error =
            |code| SealError::Io(io::Error::other(zstd::zstd_safe::get_error_name(code)));
        context
            .set_parameter(CParameter::CompressionLevel(ZSTD_LEVEL))
            .map_err(zstd_error)?;
        if workers > 0 {
            context
                .set_parameter(CParameter::NbWorkers(workers))
                .map_err(zstd_error)?;
            // Smaller jobs than zstd's default (4 windows = 8 MiB at level 3) keep the buffers
            // of every worker, and so peak memory, low; the ratio barely changes.
            context
                .set_parameter(CParameter::JobSize(JOB_SIZE))
                .map_err(zstd_error)?;
        }
        Ok(Compressor { context, workers })
    }

    /// Its zstd worker threads.
    pub fn workers(&self) -> u32 {
        self.workers
    }
}

/// The compressors of a run, given back after each seal and taken again by the next: a
/// fleet of backups sets up zstd's workers and buffers as many times as seals run at once,
/// not once per backup. Everything is freed with the run.
#[derive(Default)]
pub struct Compressors {
    kept: std::sync::Mutex<Vec<Compressor>>,
}

/// Compressors a run keeps for the next seal; more, given back at once, are freed.
const KEPT_COMPRESSORS: usize = 4;

impl Compressors {
    /// A kept compressor with `workers` workers, or a new one.
    pub fn take(&self, workers: u32) -> Result<Compressor, SealError> {
        let kept = {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            let found = kept.iter().position(|c| c.workers == workers);
            found.map(|i| kept.swap_remove(i))
        };
        match kept {
            Some(c) => Ok(c),
            None => Compressor::new(workers),
        }
    }

    /// Keeps `compressor` for the next seal (a context left mid-frame by a failed seal is
    /// reset when it is used again).
    pub fn give(&self, compressor: Compressor) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < KEPT_COMPRESSORS {
            kept.push(compressor);
        }
    }

    /// How many are kept now.
    pub fn kept(&self) -> usize {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// What a run seals with: the recipients' keys, parsed once, and the run's compressors.
pub struct Sealer {
    pub recipients: std::sync::Arc<Recipients>,
    pub compressors: Compressors,
}

impl Sealer {
    pub fn new(recipients: std::sync::Arc<Recipients>) -> Sealer {
        Sealer {
            recipients,
            compressors: Compressors::default(),
        }
    }
}

/// Opens a sealed stream into `output`. Reads `input` to its end, so the sealed digest covers
/// every byte of the artifact, trailing garbage included. Both sha256 run on threads of
/// their own, as in [`seal`].
pub fn unseal<R: Read + Send + 'static, W: Write + Send + 'static>(
    input: R,
    output: W,
    identities: &Identities,
) -> Result<(Digests, W), SealError> {
    unseal_with(input, output, identities, true)
}

/// [`unseal`] without the sealed sha256 (`sealed_sha256` is empty; its length is counted):
/// what a restore needs on its happy path, where the plain sha256 against a signed manifest
/// proves the output alone. A restore whose plain sha256 does not match reads the copy
/// again to tell a damaged copy from a wrong key.
pub fn unseal_plain<R: Read + Send + 'static, W: Write + Send + 'static>(
    input: R,
    output: W,
    identities: &Identities,
) -> Result<(Digests, W), SealError> {
    unseal_with(input, output, identities, false)
}

fn unseal_with<R: Read + Send + 'static, W: Write + Send + 'static>(
    input: R,
    output: W,
    identities: &Identities,
    hash_sealed: bool,
) -> Result<(Digests, W), SealError> {
    let (sealed, sealed_digest) = read_hashed(input, hash_sealed, RESTORE_CHUNK)?;
    let (plain, plain_side) = write_hashed(output, RESTORE_CHUNK)?;
    let result = unseal_stage(sealed, plain, identities);
    let (sealed, plain, output) = join_stages(result, sealed_digest, plain_side)?;
    Ok((digests(plain, sealed), output))
}

fn unseal_stage(
    mut sealed: ChunkReader,
    mut plain: ChunkWriter,
    identities: &Identities,
) -> Result<(), SealError> {
    {
        let decryptor = age::Decryptor::new_buffered(&mut sealed)?;
        if decryptor.is_scrypt() {
            return Err(SealError::Io(io::Error::other(
                "this file is passphrase-encrypted; pbx321 artifacts are encrypted to public keys",
            )));
        }
        let reader =
            decryptor.decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))?;
        let mut zstd = zstd::Decoder::new(reader)?;
        plain.fill_from(&mut zstd)?;
    }
    // Anything after the age stream still belongs to the artifact's digest: the rest of the
    // chunk age stopped in and any chunk after it (all hashed by the reading thread).
    io::copy(&mut sealed, &mut io::sink())?;
    plain.finish()?;
    Ok(())
}

/// Waits for both side threads: ((length, sha256) read, (length, sha256) written, output).
/// The writing thread's own error comes first: it explains a broken pipe seen by the
/// middle stage.
type Sides<W> = ((u64, String), (u64, String), W);

fn join_stages<W>(
    result: Result<(), SealError>,
    read_side: Joined<(u64, String)>,
    written_side: WrittenSide<W>,
) -> Result<Sides<W>, SealError> {
    let panicked = || SealError::Io(io::Error::other("a sealing thread panicked"));
    let written = written_side.join().map_err(|_| panicked())?;
    let read = read_side.join().map_err(|_| panicked())?;
    match (result, written) {
        (_, Err(e)) => Err(e.into()),
        (Err(e), _) => Err(e),
        (Ok(()), Ok((bytes, sha256, output))) => Ok((read, (bytes, sha256), output)),
    }
}

/// Everything `r` gives, written to `w` straight from `r`'s buffer (no copy between them).
fn copy_buffered<R: BufRead + ?Sized, W: Write + ?Sized>(r: &mut R, w: &mut W) -> io::Result<u64> {
    let mut total = 0;
    loop {
        let n = {
            let b = r.fill_buf()?;
            if b.is_empty() {
                return Ok(total);
            }
            w.write_all(b)?;
            b.len()
        };
        r.consume(n);
        total += n as u64;
    }
}

/// The size of the chunks between a seal's threads, and of its reads from the input (an
/// async stream behind a bridge, where every read is a round trip to another thread). Seals
/// run several at once in a fleet, each chunk is held by every staged copy: small.
const SEAL_CHUNK: usize = 256 * 1024;
/// The same for an unseal (a restore, one stream): larger, fewer hand-overs. (1 MiB, which
/// bypasses the bridge's buffer, was ~4 % faster for 1 GiB and ~8 % slower for 4 GiB.)
const RESTORE_CHUNK: usize = 512 * 1024;
/// Chunks in flight between two threads; bounds the memory of each hand-over.
const IN_FLIGHT: usize = 2;
/// Chunks a hand-over keeps to reuse: those in flight, the one being filled and the one
/// being drained. A stream of any length goes through these few buffers, allocated (and
/// zeroed) once.
const KEPT: usize = IN_FLIGHT + 2;

/// A buffer given back, or a new one; `chunk` bytes long either way. Only what was not
/// already there is zeroed.
fn reuse(back: &std::sync::mpsc::Receiver<Vec<u8>>, chunk: usize) -> Vec<u8> {
    let mut buf = back.try_recv().unwrap_or_default();
    buf.resize(chunk, 0);
    buf
}

/// Reads until `buf` is full or the input ends: the bytes read, and the error that ended
/// the reading early, if one did (after the bytes before it are handed on).
fn read_full<R: Read + ?Sized>(input: &mut R, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

/// Reads `input` on its own thread, hashing what it reads; the returned reader yields the
/// same bytes, and the handle the (length, sha256) of all of them.
fn read_hashed<R: Read + Send + 'static>(
    mut input: R,
    hash: bool,
    chunk: usize,
) -> io::Result<(ChunkReader, Joined<(u64, String)>)> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(IN_FLIGHT);
    let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(KEPT);
    let handle = crate::pool::spawn("pbx321-read", move || {
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        loop {
            let mut buf = reuse(&back_rx, chunk);
            let (n, error) = read_full(&mut input, &mut buf);
            if n > 0 {
                buf.truncate(n);
                if hash {
                    hasher.update(&buf);
                }
                bytes += n as u64;
                if tx.send(Ok(buf)).is_err() {
                    break;
                }
            }
            if let Some(e) = error {
                let _ = tx.send(Err(e));
                break;
            }
            if n == 0 {
                // An empty chunk marks the end, so that a vanished thread is not an end.
                let _ = tx.send(Ok(Vec::new()));
                break;
            }
        }
        let sha256 = if hash {
            hex::encode(hasher.finalize())
        } else {
            String::new()
        };
        (bytes, sha256)
    })?;
    let reader = ChunkReader {
        rx,
        back: back_tx,
        chunk: Vec::new(),
        pos: 0,
        ended: false,
    };
    Ok((reader, handle))
}

/// The writing thread: (length, sha256, output) of what it wrote.
type WrittenSide<W> = Joined<io::Result<(u64, String, W)>>;

/// Writes to `output` on its own thread, hashing what it writes; the handle gives the
/// (length, sha256) of all of it and `output`, flushed.
fn write_hashed<W: Write + Send + 'static>(
    mut output: W,
    chunk: usize,
) -> io::Result<(ChunkWriter, WrittenSide<W>)> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
    let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(KEPT);
    let handle = crate::pool::spawn("pbx321-write", move || {
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        for chunk in rx {
            hasher.update(&chunk);
            output.write_all(&chunk)?;
            bytes += chunk.len() as u64;
            let _ = back_tx.try_send(chunk);
        }
        output.flush()?;
        Ok((bytes, hex::encode(hasher.finalize()), output))
    })?;
    let writer = ChunkWriter {
        tx: Some(tx),
        back: back_rx,
        buf: Vec::new(),
        filled: 0,
        chunk,
    };
    Ok((writer, handle))
}

/// The reading end of [`read_hashed`]: its chunks, each given back once read.
struct ChunkReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    back: std::sync::mpsc::SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.chunk.len() && !self.ended {
            match self.rx.recv() {
                Ok(Ok(c)) if c.is_empty() => self.ended = true,
                Ok(Ok(c)) => {
                    let read = std::mem::replace(&mut self.chunk, c);
                    let _ = self.back.try_send(read);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(io::Error::other("the reading thread stopped")),
            }
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chunk.len());
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = {
            let have = self.fill_buf()?;
            let n = buf.len().min(have.len());
            buf[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

/// Hands what is written to the writing thread in chunks of `chunk` bytes; `finish` (or
/// `flush`) sends the rest, and dropping it ends the thread's input.
struct ChunkWriter {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    /// Chunks the writing thread is done with.
    back: std::sync::mpsc::Receiver<Vec<u8>>,
    /// The chunk being filled: empty, or `chunk` bytes long of which `filled` are data.
    buf: Vec<u8>,
    filled: usize,
    chunk: usize,
}

impl ChunkWriter {
    /// The unfilled part of the current chunk (a new or reused one if there is none).
    fn room(&mut self) -> &mut [u8] {
        if self.buf.is_empty() {
            self.buf = reuse(&self.back, self.chunk);
        }
        &mut self.buf[self.filled..]
    }

    /// Counts `n` more bytes as written into [`Self::room`]; sends the chunk when full.
    fn advance(&mut self, n: usize) -> io::Result<()> {
        self.filled += n;
        if self.filled == self.chunk {
            self.send()?;
        }
        Ok(())
    }

    /// Reads `r` to its end straight into the chunks (no copy between them).
    fn fill_from<R: Read + ?Sized>(&mut self, r: &mut R) -> io::Result<u64> {
        let mut total = 0;
        loop {
            let n = match r.read(self.room()) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.advance(n)?;
            total += n as u64;
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let mut chunk = std::mem::take(&mut self.buf);
        chunk.truncate(self.filled);
        self.filled = 0;
        let stopped = || io::Error::new(io::ErrorKind::BrokenPipe, "the writing thread stopped");
        self.tx
            .as_ref()
            .ok_or_else(stopped)?
            .send(chunk)
            .map_err(|_| stopped())
    }

    fn finish(mut self) -> io::Result<()> {
        self.send()?;
        self.tx = None;
        Ok(())
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.room();
        let n = room.len().min(data.len());
        room[..n].copy_from_slice(&data[..n]);
        self.advance(n)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
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
        let (d, sealed) = seal(io::Cursor::new(data.clone()), Vec::new(), &r, 2).unwrap();
        assert_eq!(d.plain_bytes, data.len() as u64);
        assert_eq!(d.sealed_bytes, sealed.len() as u64);
        assert_eq!(digest(&data[..]).unwrap().1, d.plain_sha256);
        assert_eq!(digest(&sealed[..]).unwrap().1, d.sealed_sha256);
        assert!(!sealed.windows(16).any(|w| w == &data[4000..4016]));
        let (back_d, back) = unseal(io::Cursor::new(sealed.clone()), Vec::new(), &i).unwrap();
        assert_eq!(back, data);
        assert_eq!(back_d, d);
    }

    #[test]
    fn wrong_key_and_damage_are_errors() {
        let (r, _) = keypair();
        let (_, other) = keypair();
        let (_, mut sealed) = seal(&b"3CX backup"[..], Vec::new(), &r, 0).unwrap();
        assert!(matches!(
            unseal(io::Cursor::new(sealed.clone()), Vec::new(), &other),
            Err(SealError::Decrypt(_))
        ));
        let (r2, i2) = keypair();
        let (_, good) = seal(&b"3CX backup"[..], Vec::new(), &r2, 0).unwrap();
        sealed = good.clone();
        let last = sealed.len() - 5;
        sealed[last] ^= 1;
        assert!(unseal(io::Cursor::new(sealed.clone()), Vec::new(), &i2).is_err());
        sealed = good[..good.len() - 10].to_vec();
        assert!(unseal(io::Cursor::new(sealed.clone()), Vec::new(), &i2).is_err());
    }

    /// Accepts `room` bytes, then fails like a full disk.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if buf.len() > self.room {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            self.room -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Gives `left` bytes, then fails like a dropped connection.
    struct Cut {
        left: usize,
    }

    impl Read for Cut {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut"));
            }
            let n = buf.len().min(self.left);
            buf[..n].fill(7);
            self.left -= n;
            Ok(n)
        }
    }

    #[test]
    fn the_side_threads_report_their_own_errors() {
        let (r, i) = keypair();
        let data: Vec<u8> = (0..3_000_000u32).flat_map(|n| n.to_le_bytes()).collect();
        // A full output is reported as such, not as the broken pipe the middle stage sees.
        match seal(io::Cursor::new(data.clone()), Full { room: 100_000 }, &r, 2) {
            Err(SealError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::StorageFull),
            other => panic!("{:?}", other.map(|(d, _)| d)),
        }
        let (_, sealed) = seal(io::Cursor::new(data.clone()), Vec::new(), &r, 2).unwrap();
        match unseal(io::Cursor::new(sealed.clone()), Full { room: 100_000 }, &i) {
            Err(SealError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::StorageFull),
            other => panic!("{:?}", other.map(|(d, _)| d)),
        }
        // An input that fails midway fails the seal; nothing claims to be complete.
        match seal(Cut { left: 2_000_000 }, Vec::new(), &r, 2) {
            Err(SealError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("{:?}", other.map(|(d, _)| d)),
        }
    }

    /// Issue 31: a stream of any length goes through the same few buffers on each hand-over,
    /// not a new one per chunk; the bytes arrive whole and in order.
    #[test]
    fn hand_overs_reuse_their_buffers() {
        let chunk = 4096;
        let data: Vec<u8> = (0..200 * chunk).map(|n| (n % 251) as u8).collect();
        let (mut reader, read_side) =
            read_hashed(io::Cursor::new(data.clone()), true, chunk).unwrap();
        let (mut writer, written_side) = write_hashed(Vec::new(), chunk).unwrap();
        let (mut read_bufs, mut written_bufs) = (Vec::new(), Vec::new());
        loop {
            let got = reader.fill_buf().unwrap();
            if got.is_empty() {
                break;
            }
            read_bufs.push(got.as_ptr() as usize);
            let n = got.len();
            let mut part = got;
            while !part.is_empty() {
                if writer.filled == 0 {
                    written_bufs.push(writer.room().as_ptr() as usize);
                }
                let w = writer.write(part).unwrap();
                part = &part[w..];
            }
            reader.consume(n);
        }
        writer.finish().unwrap();
        let (bytes, sha, out) = written_side.join().unwrap().unwrap();
        let (read, read_sha) = read_side.join().unwrap();
        assert_eq!((read, &read_sha), (bytes, &sha));
        assert_eq!(out, data);
        assert_eq!(sha, digest(&data[..]).unwrap().1);
        for bufs in [read_bufs, written_bufs] {
            assert_eq!(bufs.len(), 200);
            let distinct: std::collections::BTreeSet<_> = bufs.iter().collect();
            assert!(distinct.len() <= KEPT + 1, "{} buffers", distinct.len());
        }
    }

    /// Issue 31: a run's seals reuse their zstd contexts (workers and buffers); a context
    /// used again, also after a seal that failed mid-stream, seals the next stream whole.
    #[test]
    fn a_reused_compressor_seals_each_stream_whole() {
        let (r, i) = keypair();
        let compressors = Compressors::default();
        let first: Vec<u8> = (0..3_000_000u32).flat_map(|n| n.to_le_bytes()).collect();
        let mut c = compressors.take(2).unwrap();
        let full = Full { room: 100_000 };
        assert!(seal_with(io::Cursor::new(first.clone()), full, &r, &mut c).is_err());
        compressors.give(c);
        assert_eq!(compressors.kept(), 1);
        let mut other = compressors.take(0).unwrap();
        assert_eq!((compressors.kept(), other.workers()), (1, 0), "a new one");
        let mut c = compressors.take(2).unwrap();
        assert_eq!(compressors.kept(), 0, "the kept one");
        for (data, c) in [(b"second ".repeat(100_000), &mut c), (first, &mut other)] {
            let (d, sealed) = seal_with(io::Cursor::new(data.clone()), Vec::new(), &r, c).unwrap();
            let (back_d, back) = unseal(io::Cursor::new(sealed), Vec::new(), &i).unwrap();
            assert_eq!((back, back_d), (data, d));
        }
        for _ in 0..KEPT_COMPRESSORS + 2 {
            compressors.give(Compressor::new(0).unwrap());
        }
        assert_eq!(compressors.kept(), KEPT_COMPRESSORS);
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
