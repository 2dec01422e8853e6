//! The spool writer: the seal's output into the spool file, and, on the way, into tees — a
//! staged copy on each local-disk target (written while the seal runs, so that the target
//! needs no second pass) and the part hashes of each S3 part size. Each tee is a thread fed
//! by a bounded channel with a timed send: the seal waits a moment for one that lags, never
//! longer; one that stays behind is dropped (its staged file removed) and its target copies
//! from the spool afterwards.

use std::path::PathBuf;
use std::sync::Arc;

use super::Spool;
use crate::seal;
use crate::targets::parts::PartHasher;
use crate::targets::{PartHashes, Staged, Target};

/// The blocking part of the seal: the source's bytes through the zip check and the seal
/// into the spool file `file` (at `path`, its partial name), fsynced, with every tee fed on
/// the way. The zstd context comes from the run's sealer and goes back to it.
pub fn seal_file(
    input: impl std::io::Read + Send + 'static,
    file: std::fs::File,
    path: PathBuf,
    tees: Vec<Tee>,
    sealer: &seal::Sealer,
    source: &str,
    origin_name: &str,
) -> Result<Sealed, WriteError> {
    let out = std::io::BufWriter::with_capacity(
        1024 * 1024,
        SpoolWriter {
            file: crate::flush::EarlyFlush::new(file),
            path,
            tees: tees.into_iter().map(Tee::start).collect(),
            grace: TEE_GRACE,
        },
    );
    let (input, check) = crate::zipcheck::checked_reader(input).map_err(WriteError::ZipCheck)?;
    let workers = Workers::take();
    let mut compressor = sealer.compressors.take(workers.0)?;
    let sealed = seal::seal_with(input, out, &sealer.recipients, &mut compressor);
    sealer.compressors.give(compressor);
    drop(workers);
    let (digests, out) = sealed?;
    let zip = check.join().unwrap_or_else(|_| {
        Err(crate::zipcheck::ZipCheckError::Io(std::io::Error::other(
            "zip check thread panicked",
        )))
    });
    let mut w = out
        .into_inner()
        .map_err(|e| seal::SealError::Io(e.into_error()))?;
    let (staged, parts) = w.finish_tees();
    let discard = |staged: &[(Staged, u64)]| {
        for (s, _) in staged {
            let _ = std::fs::remove_file(&s.file);
        }
    };
    let pbx_encrypted = match zip {
        Ok(summary) => summary.encrypted,
        Err(crate::zipcheck::ZipCheckError::Unsupported(why)) => {
            tracing::warn!(source = %source, "{origin_name}: zip entries not checked ({why}); stored as it is");
            false
        }
        Err(e) => {
            discard(&staged);
            return Err(WriteError::NotABackup {
                source_name: source.to_string(),
                name: origin_name.to_string(),
                why: e.to_string(),
            });
        }
    };
    if let Err(e) = w.sync() {
        discard(&staged);
        return Err(seal::SealError::Io(e).into());
    }
    Ok(Sealed {
        digests,
        pbx_encrypted,
        staged,
        parts,
    })
}

/// What the seal made.
pub struct Sealed {
    pub digests: seal::Digests,
    /// The PBX encrypted the zip's entries itself.
    pub pbx_encrypted: bool,
    /// The copies staged on the way, with the bytes each got.
    pub staged: Vec<(Staged, u64)>,
    /// The part hashes that kept up.
    pub parts: Vec<PartHashes>,
}

/// What the seal made beside the spool file, for the fan-out: whole staged copies and the
/// part hashes of the sealed stream.
pub struct Made {
    pub staged: Vec<Staged>,
    pub parts: Vec<PartHashes>,
}

impl Sealed {
    /// What of the tees' work counts: a staged copy only whole (as long as the sealed file;
    /// the file of one that is not is removed), part hashes only of the whole stream.
    pub fn made(self) -> Made {
        let whole = self.digests.sealed_bytes;
        let mut staged = Vec::new();
        for (copy, n) in self.staged {
            if n == whole {
                staged.push(copy);
            } else {
                let _ = std::fs::remove_file(&copy.file);
            }
        }
        Made {
            staged,
            parts: self.parts.into_iter().filter(|p| p.len == whole).collect(),
        }
    }
}

/// Why a seal into the spool failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The source's bytes are not a readable 3CX backup: nothing is stored.
    #[error(
        "source {source_name}: {name} is not a readable 3CX backup ({why}); nothing was stored"
    )]
    NotABackup {
        source_name: String,
        name: String,
        why: String,
    },
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    #[error("cannot start the zip check: {0}")]
    ZipCheck(std::io::Error),
}

/// Chunks in flight to one staged copy: a target slower than the seal falls behind by this
/// much, then it is dropped and copies from the spool afterwards.
const TEE_IN_FLIGHT: usize = 4;
/// How long the seal waits for a staged copy that lags, per chunk, before dropping it.
const TEE_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// What the seal writes to the spool is also handed, chunk by chunk, to one thread per
/// tee, which either writes it to a local-disk target's partial file (a staged copy, see
/// [`stage_copies`]) or hashes it into an S3 target's parts (see [`part_hashers`]). The
/// seal never waits for a tee: one that falls behind is abandoned (a staged copy's file
/// removed), and its target copies from the spool, or hashes its parts, afterwards.
pub enum Tee {
    Copy(Staged, std::fs::File),
    Parts(u64),
}

/// What a tee's thread made.
enum TeeDone {
    Written(u64),
    Hashed(PartHashes),
}

struct RunningTee {
    /// The staged copy, for a copy tee.
    copy: Option<Staged>,
    tx: Option<crossbeam_channel::Sender<TeeMsg>>,
    handle: Option<crate::pool::Joined<std::io::Result<TeeDone>>>,
}

enum TeeMsg {
    Data(bytes::Bytes),
    /// Everything was sent (a closed channel without it means abandoned).
    End,
}

impl Tee {
    /// The staged copy's file, for a copy tee.
    pub fn file(&self) -> Option<PathBuf> {
        match self {
            Tee::Copy(copy, _) => Some(copy.file.clone()),
            Tee::Parts(_) => None,
        }
    }

    fn start(self) -> RunningTee {
        let (tx, rx) = crossbeam_channel::bounded::<TeeMsg>(TEE_IN_FLIGHT);
        let (copy, spawned) = match self {
            Tee::Copy(copy, file) => {
                let mut file = crate::flush::EarlyFlush::new(file);
                let spawned = crate::pool::spawn("pbx321-tee", move || {
                    use std::io::Write;
                    let mut n = 0u64;
                    for m in rx {
                        match m {
                            TeeMsg::Data(b) => {
                                file.write_all(&b)?;
                                n += b.len() as u64;
                            }
                            TeeMsg::End => return Ok(TeeDone::Written(n)),
                        }
                    }
                    Err(std::io::Error::other("abandoned"))
                });
                (Some(copy), spawned)
            }
            Tee::Parts(size) => {
                let mut hasher = PartHasher::new(size);
                let spawned = crate::pool::spawn("pbx321-parts", move || {
                    for m in rx {
                        match m {
                            TeeMsg::Data(b) => hasher.update(&b),
                            TeeMsg::End => return Ok(TeeDone::Hashed(hasher.finish())),
                        }
                    }
                    Err(std::io::Error::other("abandoned"))
                });
                (None, spawned)
            }
        };
        let handle = spawned.ok();
        RunningTee {
            tx: handle.as_ref().map(|_| tx),
            handle,
            copy,
        }
    }
}

impl RunningTee {
    fn abandon(&mut self, why: &str) {
        if self.tx.take().is_some() {
            match &self.copy {
                Some(c) => {
                    tracing::debug!(target_name = %c.target, "{why}: this target copies from the spool after the seal")
                }
                None => {
                    tracing::debug!("{why}: part hashes are made from the spool during the upload")
                }
            }
        }
    }
}

/// One part hasher per part size of the targets that upload in parts (S3).
pub fn part_hashers(targets: &[Arc<dyn Target>]) -> Vec<Tee> {
    crate::targets::part_sizes(targets)
        .into_iter()
        .map(Tee::Parts)
        .collect()
}

/// Opens a staged copy on every local-disk target but the first on the spool's own file
/// system (that one takes the spool file itself, by a hard link).
pub async fn stage_copies(targets: &[Arc<dyn Target>], spool: &Spool, path: &str) -> Vec<Tee> {
    use std::os::unix::fs::MetadataExt;
    let spool_dev = std::fs::metadata(spool.dir()).ok().map(|m| m.dev());
    let mut linked = false;
    let mut out = Vec::new();
    for t in targets {
        let dev = t.local_device();
        if dev.is_none() {
            continue;
        }
        if !linked && dev == spool_dev {
            linked = true;
            continue;
        }
        if let Some((file, at)) = t.stage(path).await {
            let copy = Staged {
                target: t.name().to_string(),
                path: path.to_string(),
                file: at,
            };
            out.push(Tee::Copy(copy, file));
        }
    }
    out
}

/// The spool file, whose errors name it: a full state directory must be told apart from a
/// source that failed mid-read.
struct SpoolWriter {
    file: crate::flush::EarlyFlush,
    path: PathBuf,
    tees: Vec<RunningTee>,
    /// How long a write waits for a tee that lags before dropping it ([`TEE_GRACE`]).
    grace: std::time::Duration,
}

impl SpoolWriter {
    fn named(&self, e: std::io::Error) -> std::io::Error {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot write the spool file {} (in state_dir): {e}{}",
                self.path.display(),
                crate::error::io_hint(&e)
            ),
        )
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_all().map_err(|e| self.named(e))
    }

    /// Ends the tees: (copy, bytes written) of each staged copy that kept up (the files
    /// of the others are removed), and the part hashes that kept up.
    fn finish_tees(&mut self) -> (Vec<(Staged, u64)>, Vec<PartHashes>) {
        let (mut copies, mut parts) = (Vec::new(), Vec::new());
        for mut t in std::mem::take(&mut self.tees) {
            // A tee a few chunks behind gets the grace to take the end too (trying once
            // dropped a copy that was only a moment behind).
            let ended =
                t.tx.take()
                    .is_some_and(|tx| send_within(&tx, TeeMsg::End, self.grace).is_ok());
            let result = t.handle.take().map(|h| h.join());
            match (ended, result, t.copy) {
                (true, Some(Ok(Ok(TeeDone::Written(n)))), Some(copy)) => copies.push((copy, n)),
                (true, Some(Ok(Ok(TeeDone::Hashed(p)))), None) => parts.push(p),
                (_, _, Some(copy)) => {
                    let _ = std::fs::remove_file(&copy.file);
                }
                _ => {}
            }
        }
        (copies, parts)
    }
}

impl Drop for SpoolWriter {
    fn drop(&mut self) {
        // A seal that failed: the staged copies are not copies.
        for t in self.finish_tees().0 {
            let _ = std::fs::remove_file(&t.0.file);
        }
    }
}

impl std::io::Write for SpoolWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf).map_err(|e| self.named(e))?;
        if n > 0 && !self.tees.is_empty() {
            let chunk = bytes::Bytes::copy_from_slice(&buf[..n]);
            for t in &mut self.tees {
                let Some(tx) = &t.tx else { continue };
                // A moment's lag is waited for (the grace, once per chunk at most); a
                // target that stays behind is dropped.
                if let Err(why) = send_within(tx, TeeMsg::Data(chunk.clone()), self.grace) {
                    t.abandon(why);
                }
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush().map_err(|e| self.named(e))
    }
}

/// Queues `msg` for a tee, waiting up to `grace` while its queue is full; `Err` says why it
/// could not (the tee is then dropped).
fn send_within(
    tx: &crossbeam_channel::Sender<TeeMsg>,
    msg: TeeMsg,
    grace: std::time::Duration,
) -> Result<(), &'static str> {
    match tx.send_timeout(msg, grace) {
        Ok(()) => Ok(()),
        Err(crossbeam_channel::SendTimeoutError::Timeout(_)) => Err("slower than the seal"),
        Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => {
            Err("could not write its staged copy")
        }
    }
}

/// zstd worker threads of every seal running in this process.
static ZSTD_WORKERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A seal's share of the zstd workers: across all the seals running at once (a fleet's
/// `max_concurrent`), never more than the cores; a seal that finds none left compresses on
/// its own thread. Given back when dropped.
struct Workers(u32);

impl Workers {
    fn take() -> Workers {
        use std::sync::atomic::Ordering;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get().min(4) as u32)
            .unwrap_or(1);
        let mut used = ZSTD_WORKERS.load(Ordering::Relaxed);
        loop {
            let n = cores.saturating_sub(used);
            if n == 0 {
                return Workers(0);
            }
            match ZSTD_WORKERS.compare_exchange_weak(
                used,
                used + n,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Workers(n),
                Err(now) => used = now,
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        ZSTD_WORKERS.fetch_sub(self.0, std::sync::atomic::Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;

    /// Issue 31: the seals running at once share the cores' zstd workers; one that finds
    /// none left compresses on its own thread, and what is given back is taken again.
    #[test]
    fn concurrent_seals_never_take_more_zstd_workers_than_the_cores() {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get().min(4) as u32)
            .unwrap_or(1);
        let held: Vec<Workers> = (0..6).map(|_| Workers::take()).collect();
        let total: u32 = held.iter().map(|w| w.0).sum();
        assert!(total <= cores, "{total} workers for {cores} cores");
        assert!(held.iter().skip(1).all(|w| w.0 == 0) || cores > 1);
        drop(held);
        assert!(Workers::take().0 >= 1, "given back");
    }

    /// A spool writer whose tees get `grace` to catch up: long where a test needs a tee
    /// to keep up on a loaded machine, and a stalled tee then costs that once.
    fn writer(
        dir: &std::path::Path,
        tees: Vec<RunningTee>,
        grace: std::time::Duration,
    ) -> SpoolWriter {
        let path = dir.join("spool");
        SpoolWriter {
            file: crate::flush::EarlyFlush::new(std::fs::File::create(&path).unwrap()),
            path,
            tees,
            grace,
        }
    }

    fn copy(dir: &std::path::Path, name: &str) -> Staged {
        Staged {
            target: name.into(),
            path: "hq/x.zip.zst.age".into(),
            file: dir.join(name),
        }
    }

    /// A staged copy gets every byte the spool gets; a stalled one is dropped without ever
    /// making the seal wait, and its file is removed.
    #[test]
    fn a_staged_copy_follows_the_spool_and_a_stalled_one_never_holds_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let good = Tee::Copy(
            copy(dir.path(), "good"),
            std::fs::File::create(dir.path().join("good")).unwrap(),
        )
        .start();
        // A target that takes nothing: its thread never runs (no handle), its queue fills.
        let (tx, _rx) = crossbeam_channel::bounded(TEE_IN_FLIGHT);
        std::fs::write(dir.path().join("stalled"), b"").unwrap();
        let stalled = RunningTee {
            copy: Some(copy(dir.path(), "stalled")),
            tx: Some(tx),
            handle: None,
        };
        let mut w = writer(dir.path(), vec![good, stalled], Duration::from_secs(2));
        let data = vec![7u8; 64 * 1024];
        let started = std::time::Instant::now();
        for _ in 0..(TEE_IN_FLIGHT * 8) {
            w.write_all(&data).unwrap();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "writes waited for the stalled copy once (the grace), not once per chunk"
        );
        let (staged, parts) = w.finish_tees();
        assert!(parts.is_empty());
        assert_eq!(staged.len(), 1, "only the copy that kept up");
        assert_eq!(staged[0].0.target, "good");
        assert_eq!(staged[0].1, (data.len() * TEE_IN_FLIGHT * 8) as u64);
        assert_eq!(
            std::fs::read(dir.path().join("good")).unwrap(),
            std::fs::read(dir.path().join("spool")).unwrap()
        );
        assert!(
            !dir.path().join("stalled").exists(),
            "the dropped copy is removed"
        );
    }

    /// A seal that fails leaves no staged copy behind.
    #[test]
    fn a_failed_seal_removes_its_staged_copies() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tee::Copy(
            copy(dir.path(), "c"),
            std::fs::File::create(dir.path().join("c")).unwrap(),
        )
        .start();
        let mut w = writer(dir.path(), vec![t], TEE_GRACE);
        w.write_all(b"half a backup").unwrap();
        drop(w);
        assert!(!dir.path().join("c").exists());
    }

    /// The part hashes made on the way are those of the spool file's parts, one set per
    /// part size, beside a staged copy. (A tee that stalls is dropped alike, whatever it
    /// does: the test above.)
    #[test]
    fn part_hashes_are_made_while_sealing() {
        use crate::targets::parts::PartHasher;
        let dir = tempfile::tempdir().unwrap();
        let tees = vec![
            Tee::Parts(100_000).start(),
            Tee::Copy(
                copy(dir.path(), "c"),
                std::fs::File::create(dir.path().join("c")).unwrap(),
            )
            .start(),
            Tee::Parts(64 * 1024).start(),
        ];
        let mut w = writer(dir.path(), tees, Duration::from_secs(60));
        let data: Vec<u8> = (0..700_001u32).map(|i| (i % 253) as u8).collect();
        for c in data.chunks(50_000) {
            w.write_all(c).unwrap();
        }
        let (staged, parts) = w.finish_tees();
        assert_eq!(staged.len(), 1);
        assert_eq!(parts.len(), 2, "one set per part size");
        let spool = std::fs::read(dir.path().join("spool")).unwrap();
        assert_eq!(spool, data);
        for p in parts {
            let mut expect = PartHasher::new(p.size);
            expect.update(&spool);
            assert_eq!(p, expect.finish());
            assert_eq!(p.hashes.len() as u64, (data.len() as u64).div_ceil(p.size));
        }
    }
}
