//! One sealed spool file → N targets, concurrently.
//!
//! Each target gets its own task that opens the spool itself and reads it at its own pace,
//! so a slow target never holds back a fast one, and a failed target never aborts the
//! others. Per target the commit protocol is: artifact (atomic put) → check its size → the
//! manifest (atomic put, the commit marker) → check its size. A target whose manifest could
//! not be written has its artifact removed again, so that what remains is either a whole
//! copy or nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::targets::{Payload, Target, TargetError};

/// What to write, the same for every target.
#[derive(Debug, Clone)]
pub struct Upload {
    pub artifact_path: String,
    pub artifact: Payload,
    /// The manifest's detached signature, written before the manifest (when signing).
    pub signature: Option<(String, Bytes)>,
    pub manifest_path: String,
    pub manifest: Bytes,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Artifact and manifest written and their sizes checked.
    Written {
        bytes: u64,
        seconds: f64,
    },
    /// The target already held this exact copy.
    Present,
    Failed {
        error: String,
    },
    /// Another writer holds the same backup id on this target with other bytes; nothing of
    /// this run's was left there.
    Conflict {
        error: String,
    },
}

impl Outcome {
    pub fn has_copy(&self) -> bool {
        matches!(self, Outcome::Written { .. } | Outcome::Present)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    pub target: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl TargetResult {
    pub fn present(target: &str) -> Self {
        TargetResult {
            target: target.into(),
            outcome: Outcome::Present,
        }
    }

    pub fn failed(target: &str, error: impl Into<String>) -> Self {
        TargetResult {
            target: target.into(),
            outcome: Outcome::Failed {
                error: error.into(),
            },
        }
    }
}

impl Upload {
    /// The copy of the backup `m` describes, sealed in `file` (the spool), with the
    /// manifest's `signature` when signing.
    pub fn of(
        m: &crate::manifest::Manifest,
        file: std::path::PathBuf,
        signature: Option<Vec<u8>>,
    ) -> Upload {
        Upload {
            artifact_path: crate::manifest::artifact_path(&m.source, &m.id),
            artifact: Payload::file_with_sha256(file, m.sealed.bytes, m.sealed.sha256.clone()),
            signature: signature.map(|s| {
                (
                    crate::manifest::signature_path(&m.source, &m.id),
                    Bytes::from(s),
                )
            }),
            manifest_path: crate::manifest::manifest_path(&m.source, &m.id),
            manifest: Bytes::from(m.to_json()),
        }
    }
}

/// Writes `upload` to every target concurrently; one result per target, in input order.
///
/// The uploads are tasks of a [`JoinSet`] owned by this future: dropping it (a cancelled
/// run, a daemon shutting down) aborts every upload at its next await, so nothing is still
/// writing once the run's lock is released. An aborted upload leaves at most a partial
/// object, which is never counted and which the next run removes.
///
/// Each target's upload is counted on its own bar of `progress` (drawn only on a terminal).
pub async fn fan_out(
    targets: &[Arc<dyn Target>],
    upload: &Upload,
    progress: &crate::progress::Progress,
) -> Vec<TargetResult> {
    let mut set = JoinSet::new();
    let mut index = std::collections::HashMap::new();
    for (i, t) in targets.iter().enumerate() {
        let t = Arc::clone(t);
        let mut upload = upload.clone();
        let bar = progress.bytes(
            &format!("upload to {}", t.name()),
            Some(upload.artifact.len()),
        );
        upload.artifact = upload.artifact.metered(bar.clone());
        let handle = set.spawn(async move {
            let r = copy_to(t.as_ref(), &upload).await;
            bar.finish_and_clear();
            (i, r)
        });
        index.insert(handle.id(), i);
    }
    let mut results: Vec<Option<TargetResult>> = vec![None; targets.len()];
    while let Some(done) = set.join_next().await {
        match done {
            Ok((i, r)) => results[i] = Some(r),
            Err(e) => {
                if let Some(&i) = index.get(&e.id()) {
                    results[i] = Some(TargetResult::failed(
                        targets[i].name(),
                        format!("internal error: {e}"),
                    ));
                }
            }
        }
    }
    results
        .into_iter()
        .zip(targets)
        .map(|(r, t)| {
            r.unwrap_or_else(|| TargetResult::failed(t.name(), "internal error: no result"))
        })
        .collect()
}

/// One target's copy, timed.
async fn copy_to(t: &dyn Target, upload: &Upload) -> TargetResult {
    let started = Instant::now();
    let outcome = match write_copy(t, upload).await {
        Ok(()) => Outcome::Written {
            bytes: upload.artifact.len(),
            seconds: round_ms(started.elapsed()),
        },
        Err(CopyError::Target(e)) => Outcome::Failed {
            error: e.to_string(),
        },
        Err(CopyError::Conflict(error)) => Outcome::Conflict { error },
    };
    match &outcome {
        // The report says it; the log only with -v.
        Outcome::Failed { error } | Outcome::Conflict { error } => {
            tracing::info!(target_name = t.name(), %error, "copy failed")
        }
        _ => tracing::info!(target_name = t.name(), "copy written"),
    }
    TargetResult {
        target: t.name().to_string(),
        outcome,
    }
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// What writing one copy found in its way.
#[derive(Debug)]
enum CopyError {
    Target(TargetError),
    /// Another writer holds this id on the target with other bytes.
    Conflict(String),
}

impl From<TargetError> for CopyError {
    fn from(e: TargetError) -> Self {
        CopyError::Target(e)
    }
}

async fn write_copy(t: &dyn Target, u: &Upload) -> Result<(), CopyError> {
    let conflict = |what: &str| {
        CopyError::Conflict(format!(
            "conflict: target {} already holds {what} with other bytes: another pbx321 (another host or state_dir) wrote this backup id",
            t.name()
        ))
    };
    match t.put(&u.artifact_path, &u.artifact).await {
        Ok(()) => {}
        // An artifact already there is taken only if it is these very bytes (an earlier,
        // interrupted attempt of this backup); never another writer's.
        Err(TargetError::AlreadyExists(_)) => {
            if !crate::targets::holds(t, &u.artifact_path, &u.artifact).await? {
                return Err(conflict(&u.artifact_path));
            }
        }
        Err(e) => return Err(e.into()),
    }
    check_size(t, &u.artifact_path, u.artifact.len()).await?;
    // The signature goes before the manifest: a committed manifest always has its own.
    if let Some((path, sig)) = &u.signature {
        let sig = Payload::Bytes(sig.clone());
        match t.put(path, &sig).await {
            Ok(()) => {}
            Err(TargetError::AlreadyExists(_)) => {
                if !crate::targets::holds(t, path, &sig).await? {
                    return Err(conflict(path));
                }
            }
            Err(e) => {
                let _ = t.delete(&u.artifact_path).await;
                return Err(e.into());
            }
        }
    }
    let manifest = Payload::Bytes(u.manifest.clone());
    match t.put(&u.manifest_path, &manifest).await {
        Ok(()) => {}
        Err(TargetError::AlreadyExists(_)) => {
            // Never delete what another run committed.
            if !crate::targets::holds(t, &u.manifest_path, &manifest).await? {
                return Err(conflict(&u.manifest_path));
            }
        }
        Err(e) => {
            if let Some((path, _)) = &u.signature {
                let _ = t.delete(path).await;
            }
            let _ = t.delete(&u.artifact_path).await;
            return Err(e.into());
        }
    }
    check_size(t, &u.manifest_path, manifest.len())
        .await
        .map_err(Into::into)
}

async fn check_size(t: &dyn Target, path: &str, want: u64) -> Result<(), TargetError> {
    let meta = t.stat(path).await?;
    if meta.size != want {
        return Err(TargetError::Permanent(format!(
            "target {}: {path} has {} bytes after writing, expected {want}",
            t.name(),
            meta.size
        )));
    }
    Ok(())
}

/// Deletes this run's copies of `m` (manifest first, then the artifact) from the targets
/// it wrote them to, where the manifest there is still exactly ours.
pub async fn withdraw(
    targets: &[Arc<dyn Target>],
    m: &crate::manifest::Manifest,
    results: &[TargetResult],
) {
    let manifest_path = crate::manifest::manifest_path(&m.source, &m.id);
    let ours = crate::targets::Payload::Bytes(bytes::Bytes::from(m.to_json()));
    for r in results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Written { .. }))
    {
        let Some(t) = targets.iter().find(|t| t.name() == r.target) else {
            continue;
        };
        if !matches!(
            crate::targets::holds(t.as_ref(), &manifest_path, &ours).await,
            Ok(true)
        ) {
            continue;
        }
        let gone = async {
            t.delete(&manifest_path).await?;
            t.delete(&crate::manifest::signature_path(&m.source, &m.id))
                .await?;
            t.delete(&crate::manifest::artifact_path(&m.source, &m.id))
                .await
        }
        .await;
        if let Err(e) = gone {
            tracing::warn!(target_name = t.name(), id = %m.id, error = %e, "could not withdraw a copy");
        }
    }
}
