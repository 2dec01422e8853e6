//! The spool: sealed backups waiting for their copies. This module is its one owner.
//!
//! A backup is sealed once into `spool/<id>.zip.zst.age` (ciphertext only), first under a
//! partial name that a crash leaves behind, then described by `spool/<id>.manifest.json`.
//! From then on it is *pending*: every run, under the run lock, completes every pending
//! backup on every configured target that lacks a verified copy, oldest first, and removes
//! the spool files once every target holds one. Whatever a crash left half-done — a partial
//! seal, a sealed file without its manifest, a manifest without its file, a temporary file —
//! is removed by [`Spool::clean`]: it was never a backup. The spool is bounded:
//! [`Spool::bound`] drops the oldest pending backups of a source beyond `spool_max` (their
//! copies on other targets still exist; `repair` fills the gaps from them).
//!
//! Names in the spool are checked like names read from a target: a file whose name is not
//! a valid backup id is never used to build a path.

pub mod writer;

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::manifest::{self, Manifest};
use crate::state::{StateDir, StateError, TEMP_PREFIX};
use crate::targets::parts::PartHasher;
use crate::targets::{PartHashes, Target};

/// Why the spool could not give a backup's sealed bytes.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A spool file could not be read, written or moved.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A target's copy could not be read into the spool.
    #[error("copying {path} from {target}: {source}")]
    Copy {
        path: String,
        target: String,
        source: io::Error,
    },
    #[error(transparent)]
    Target(#[from] crate::targets::TargetError),
    /// The bytes are not those the manifest describes.
    #[error("the copy on {target} does not match its manifest: {why}")]
    Mismatch {
        target: String,
        why: manifest::Mismatch,
    },
    /// A name in the spool that is not a backup id (never used as a path).
    #[error("{0:?} is not a backup id")]
    NotAnId(String),
    /// A spool manifest that does not parse.
    #[error("{}: {why}", path.display())]
    BadManifest { path: PathBuf, why: String },
    /// A sealed file whose size is not its manifest's.
    #[error("{} has {found} bytes, its manifest says {expected}", path.display())]
    WrongSize {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    /// Nothing to fetch from.
    #[error("no target holds a verified copy")]
    NoCopy,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SpoolError {
    let path = path.to_path_buf();
    move |source| SpoolError::Io { what, path, source }
}

/// A sealed backup in the spool, with the manifest that describes it.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub manifest: Manifest,
    /// The sealed file.
    pub artifact: PathBuf,
}

pub struct Spool {
    dir: PathBuf,
    share: crate::share::Share,
}

impl Spool {
    /// The spool of a state directory, created (0700; 0750 with `file_group`) if needed.
    pub fn open(state: &StateDir) -> Result<Spool, StateError> {
        state.ensure()?;
        let dir = state.path("spool");
        std::fs::DirBuilder::new()
            .mode(state.share.dir_mode())
            .recursive(true)
            .create(&dir)
            .and_then(|()| state.share.apply(&dir))
            .map_err(|source| StateError::Io {
                what: "cannot create the spool directory",
                path: dir.clone(),
                source,
            })?;
        Ok(Spool {
            dir,
            share: state.share.clone(),
        })
    }

    /// The spool of a state directory for reading only (`check`): never creates anything.
    pub fn peek(state: &StateDir) -> Spool {
        Spool {
            dir: state.path("spool"),
            share: state.share.clone(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sealed file of `id` (a checked id).
    pub fn artifact(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}{}", manifest::ARTIFACT_SUFFIX))
    }

    pub fn manifest_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}{}", manifest::MANIFEST_SUFFIX))
    }

    fn partial(&self, id: &str) -> PathBuf {
        self.dir.join(format!(
            "{id}{}{}",
            manifest::ARTIFACT_SUFFIX,
            manifest::PARTIAL_SUFFIX
        ))
    }

    /// A new file to seal `id` into, created exclusively (0600) under its partial name.
    pub fn create(&self, id: &str) -> io::Result<(File, PathBuf)> {
        let path = self.partial(id);
        let file = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        self.share.apply(&path)?;
        Ok((file, path))
    }

    /// The seal of `id` is complete and fsynced: it takes its name.
    pub fn commit(&self, id: &str) -> io::Result<PathBuf> {
        let to = self.artifact(id);
        std::fs::rename(self.partial(id), &to)?;
        Ok(to)
    }

    /// Describes a committed seal: from now on the backup is pending.
    pub fn describe(&self, m: &Manifest) -> io::Result<()> {
        let path = self.manifest_path(&m.id);
        crate::state::write_atomic(&path, &m.to_json())?;
        self.share.apply(&path)
    }

    /// Gives a pending backup another id (made at `at`): its sealed file is renamed and
    /// described anew. The sealed bytes do not depend on the id.
    pub fn rename(&self, m: &Manifest, at: DateTime<Utc>) -> io::Result<Manifest> {
        let mut new = m.clone();
        new.id = manifest::backup_id(&m.source, at);
        new.created_at = at;
        std::fs::rename(self.artifact(&m.id), self.artifact(&new.id))?;
        self.describe(&new)?;
        let _ = std::fs::remove_file(self.manifest_path(&m.id));
        Ok(new)
    }

    /// Removes every spool file of `id` (idempotent).
    pub fn discard(&self, id: &str) {
        for p in [self.manifest_path(id), self.artifact(id), self.partial(id)] {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Ids of the pending backups, by file names only (no manifest read): what `check`
    /// reports without taking the lock.
    pub fn pending_ids(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .names()
            .into_iter()
            .filter_map(|n| {
                n.strip_suffix(manifest::MANIFEST_SUFFIX)
                    .map(str::to_string)
            })
            .filter(|id| manifest::split_id(id).is_some())
            .collect();
        out.sort_by_key(|id| manifest::split_id(id).map(|(_, t)| t));
        out
    }

    /// The pending backups, oldest first. Call [`Spool::clean`] first: an entry whose
    /// manifest does not parse, or whose sealed file is missing, is left out here and
    /// removed there.
    pub fn pending(&self) -> Vec<Pending> {
        let mut out: Vec<Pending> = self
            .pending_ids()
            .into_iter()
            .filter_map(|id| self.load(&id).ok())
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        out
    }

    fn load(&self, id: &str) -> Result<Pending, SpoolError> {
        let (source, created_at) =
            manifest::split_id(id).ok_or_else(|| SpoolError::NotAnId(id.to_string()))?;
        let path = self.manifest_path(id);
        let bytes = std::fs::read(&path).map_err(io("cannot read", &path))?;
        let m = Manifest::from_json(&bytes, source, id).map_err(|e| SpoolError::BadManifest {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let artifact = self.artifact(id);
        match std::fs::metadata(&artifact) {
            Ok(meta) if meta.len() == m.sealed.bytes => {}
            Ok(meta) => {
                return Err(SpoolError::WrongSize {
                    path: artifact,
                    found: meta.len(),
                    expected: m.sealed.bytes,
                });
            }
            Err(e) => return Err(io("cannot read", &artifact)(e)),
        }
        Ok(Pending {
            id: id.to_string(),
            source: source.to_string(),
            created_at,
            manifest: m,
            artifact,
        })
    }

    /// Removes what crashed runs left: partial seals, sealed files without a manifest,
    /// manifests without their sealed file or that do not describe it, and temporary files.
    /// Call only under the run lock. Returns the names removed.
    pub fn clean(&self) -> Vec<String> {
        let mut removed = Vec::new();
        let names = self.names();
        for name in &names {
            let path = self.dir.join(name);
            let leftover =
                if name.ends_with(manifest::PARTIAL_SUFFIX) || name.starts_with(TEMP_PREFIX) {
                    Some("an interrupted write".to_string())
                } else if let Some(id) = name.strip_suffix(manifest::ARTIFACT_SUFFIX) {
                    let described = names
                        .iter()
                        .any(|n| n.strip_suffix(manifest::MANIFEST_SUFFIX) == Some(id));
                    (!described).then(|| "sealed, but the run ended before describing it".into())
                } else if let Some(id) = name.strip_suffix(manifest::MANIFEST_SUFFIX) {
                    self.load(id).err().map(|e| e.to_string())
                } else {
                    None
                };
            if let Some(why) = leftover {
                tracing::info!(file = %path.display(), "removed a spool leftover: {why}");
                let _ = std::fs::remove_file(&path);
                removed.push(name.clone());
            }
        }
        removed
    }

    /// Drops the oldest pending backups of each source beyond `max_per_source`, with a
    /// warning each. Returns the ids dropped.
    pub fn bound(&self, max_per_source: usize) -> Vec<String> {
        let mut by_source: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in self.pending_ids() {
            if let Some((source, _)) = manifest::split_id(&id) {
                by_source.entry(source.to_string()).or_default().push(id);
            }
        }
        let mut dropped = Vec::new();
        for ids in by_source.values() {
            // Oldest first: keep the newest `max_per_source`.
            for id in ids.iter().take(ids.len().saturating_sub(max_per_source)) {
                tracing::warn!(
                    id = %id,
                    "dropped a pending backup from the spool (spool_max = {max_per_source}): targets that lack it keep lacking it; its copies on other targets remain"
                );
                self.discard(id);
                dropped.push(id.clone());
            }
        }
        dropped
    }

    /// Makes sure the spool holds the sealed bytes `m` describes, described by `m`: the kept
    /// file if its size and sha256 match, else a download of the first verified copy in
    /// `from` that matches. Returns the sealed file. Never pulls from the PBX.
    ///
    /// The check reads the file once, also hashing it into parts of each of `part_sizes`
    /// (for the targets that upload in parts), which are returned with its path.
    pub async fn ensure(
        &self,
        m: &Manifest,
        from: &[Arc<dyn Target>],
        part_sizes: &[u64],
    ) -> Result<(PathBuf, Vec<PartHashes>), SpoolError> {
        let file = self.artifact(&m.id);
        if let Ok(f) = File::open(&file) {
            let digest = digest_with_parts(f, part_sizes).await;
            if let Ok((n, sha, parts)) = digest
                && m.verify_sealed(n, &sha).is_ok()
            {
                self.describe(m).map_err(io("cannot describe", &file))?;
                return Ok((file, parts));
            }
            tracing::warn!(file = %file.display(), "the spool file does not match its manifest; fetching a verified copy instead");
            self.discard(&m.id);
        }
        let mut last = SpoolError::NoCopy;
        for t in from {
            match self.fetch(t.as_ref(), m, part_sizes).await {
                Ok(parts) => return Ok((file, parts)),
                Err(e) => last = e,
            }
            self.discard(&m.id);
        }
        Err(last)
    }

    /// Downloads the copy of `m` on `t` into the spool, checks it against `m`, commits it;
    /// returns its part hashes for `part_sizes`.
    async fn fetch(
        &self,
        t: &dyn Target,
        m: &Manifest,
        part_sizes: &[u64],
    ) -> Result<Vec<PartHashes>, SpoolError> {
        use tokio::io::AsyncWriteExt;
        let path = manifest::artifact_path(&m.source, &m.id);
        let mut reader = t.read(&path).await?;
        let _ = std::fs::remove_file(self.partial(&m.id));
        let (file, partial) = self
            .create(&m.id)
            .map_err(io("cannot create a spool file in", &self.dir))?;
        let mut out =
            tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file));
        tokio::io::copy(&mut reader, &mut out)
            .await
            .map_err(|source| SpoolError::Copy {
                path: path.clone(),
                target: t.name().to_string(),
                source,
            })?;
        out.shutdown().await.map_err(io("cannot write", &partial))?;
        out.get_ref()
            .sync_all()
            .await
            .map_err(io("cannot write", &partial))?;
        let f = File::open(&partial).map_err(io("cannot read", &partial))?;
        let (bytes, sha, parts) = digest_with_parts(f, part_sizes)
            .await
            .map_err(io("cannot read", &partial))?;
        m.verify_sealed(bytes, &sha)
            .map_err(|why| SpoolError::Mismatch {
                target: t.name().to_string(),
                why,
            })?;
        self.commit(&m.id).map_err(io("cannot commit", &partial))?;
        self.describe(m).map_err(io("cannot describe", &partial))?;
        Ok(parts)
    }

    /// File names in the spool that are valid UTF-8; a missing spool is empty.
    fn names(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    }
}

/// (length, sha256, part hashes for each of `part_sizes`) of a local file, read once on a
/// blocking thread.
async fn digest_with_parts(
    file: File,
    part_sizes: &[u64],
) -> io::Result<(u64, String, Vec<PartHashes>)> {
    let mut parts: Vec<PartHasher> = part_sizes.iter().map(|&s| PartHasher::new(s)).collect();
    if parts.is_empty() {
        let (n, sha) = crate::stream::digest_file(file).await?;
        return Ok((n, sha, Vec::new()));
    }
    tokio::task::spawn_blocking(move || {
        use sha2::{Digest, Sha256};
        use std::io::Read;
        let mut file = file;
        let mut whole = Sha256::new();
        let mut buf = vec![0u8; 1024 * 1024];
        let mut n = 0u64;
        loop {
            let got = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            whole.update(&buf[..got]);
            for p in &mut parts {
                p.update(&buf[..got]);
            }
            n += got as u64;
        }
        Ok((
            n,
            hex::encode(whole.finalize()),
            parts.into_iter().map(PartHasher::finish).collect(),
        ))
    })
    .await
    .map_err(|e| io::Error::other(format!("a blocking task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Origin, Plain, Sealed, Tool};
    use chrono::TimeZone;

    fn manifest(source: &str, at: DateTime<Utc>, sealed: &[u8]) -> Manifest {
        let (bytes, sha) = crate::seal::digest(sealed).unwrap();
        Manifest {
            format: manifest::FORMAT_NAME.into(),
            version: manifest::FORMAT_VERSION,
            id: manifest::backup_id(source, at),
            source: source.into(),
            created_at: at,
            origin: Origin {
                name: "b.zip".into(),
                time: at,
                size: 1,
            },
            plain: Plain {
                bytes: 1,
                sha256: "0".repeat(64),
                pbx_encrypted: false,
            },
            sealed: Sealed {
                bytes,
                sha256: sha,
                compression: "zstd".into(),
                encryption: "age".into(),
                recipients: vec![],
            },
            tool: Tool::this(),
            pbx: None,
        }
    }

    fn seal(spool: &Spool, m: &Manifest, bytes: &[u8]) {
        use std::io::Write;
        let (mut f, _) = spool.create(&m.id).unwrap();
        f.write_all(bytes).unwrap();
        spool.commit(&m.id).unwrap();
        spool.describe(m).unwrap();
    }

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, 0, 0).unwrap()
    }

    #[test]
    fn crash_leftovers_are_removed_and_pending_backups_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(&StateDir::new(tmp.path())).unwrap();
        let good = manifest("hq", at(1), b"sealed-1");
        seal(&spool, &good, b"sealed-1");
        // Killed mid-seal; killed between sealing and describing; a manifest alone; a
        // manifest that lies about its file; a temporary file; a name that is a path.
        let (_f, _) = spool.create("hq-20261125T020000Z").unwrap();
        std::fs::write(spool.artifact("hq-20261125T030000Z"), b"x").unwrap();
        let lone = manifest("hq", at(4), b"x");
        spool.describe(&lone).unwrap();
        let liar = manifest("hq", at(5), b"12345");
        seal(&spool, &liar, b"1234");
        std::fs::write(spool.dir().join(".pbx321-tmp.abc"), b"t").unwrap();
        std::fs::write(spool.dir().join("..-20261125T060000Z.manifest.json"), b"{}").unwrap();

        let removed = spool.clean();
        assert_eq!(removed.len(), 6, "{removed:?}");
        let pending = spool.pending();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].id, good.id);
        assert_eq!(spool.pending_ids(), vec![good.id.clone()]);
    }

    /// `ensure` reads the file once for its check and hashes its parts on the way, both
    /// from the spool and after fetching a copy from a target.
    #[tokio::test]
    async fn ensure_hashes_the_parts_while_it_checks() {
        use crate::config::{Location, Medium};
        use crate::targets::memory::MemoryTarget;
        use crate::targets::{Payload, Properties};
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(&StateDir::new(tmp.path())).unwrap();
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let m = manifest("hq", at(1), &bytes);
        let expect = |size: u64| {
            let mut h = PartHasher::new(size);
            h.update(&bytes);
            h.finish()
        };
        seal(&spool, &m, &bytes);
        let (file, parts) = spool.ensure(&m, &[], &[65_536, 100_000]).await.unwrap();
        assert_eq!(file, spool.artifact(&m.id));
        assert_eq!(parts, vec![expect(65_536), expect(100_000)]);
        assert!(spool.ensure(&m, &[], &[]).await.unwrap().1.is_empty());

        // Gone from the spool: fetched from a target, checked, hashed.
        spool.discard(&m.id);
        let t = MemoryTarget::new(
            "local",
            Properties {
                medium: Medium::Disk,
                location: Location::Onsite,
                immutable_capable: false,
                declared: false,
            },
        );
        t.put(
            &manifest::artifact_path("hq", &m.id),
            &Payload::Bytes(bytes.clone().into()),
        )
        .await
        .unwrap();
        let from: Vec<Arc<dyn Target>> = vec![Arc::new(t)];
        let (file, parts) = spool.ensure(&m, &from, &[65_536]).await.unwrap();
        assert_eq!(std::fs::read(file).unwrap(), bytes);
        assert_eq!(parts, vec![expect(65_536)]);
    }

    #[test]
    fn bound_drops_the_oldest_per_source() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(&StateDir::new(tmp.path())).unwrap();
        for h in 1..=5 {
            seal(&spool, &manifest("hq", at(h), b"s"), b"s");
        }
        seal(&spool, &manifest("branch", at(1), b"s"), b"s");
        let dropped = spool.bound(3);
        assert_eq!(
            dropped,
            vec![
                "hq-20261125T010000Z".to_string(),
                "hq-20261125T020000Z".into()
            ]
        );
        let left: Vec<String> = spool.pending().into_iter().map(|p| p.id).collect();
        assert_eq!(
            left,
            vec![
                "branch-20261125T010000Z".to_string(),
                "hq-20261125T030000Z".into(),
                "hq-20261125T040000Z".into(),
                "hq-20261125T050000Z".into()
            ]
        );
    }
}
