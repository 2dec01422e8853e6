//! A command that writes a backup file: 3CX's own `3CXBackupCmd` on the PBX host, or any
//! script. pbx321 runs it without a shell, bounded by `timeout`, then takes the file it wrote.
//!
//! The file is removed before the run, so a command that exits 0 without writing is caught,
//! and again once the backup is sealed into the (encrypted) spool, so no plaintext copy
//! lingers.
//!
//! The command is contained: it runs in a process group of its own, and the whole group is
//! ended when it exits or times out (nothing it started lingers). Its stderr is kept bounded
//! (the last 64 KiB), and a failing command's error quotes its tail, escaped: output is
//! data, and an escape sequence in it never reaches a terminal. A command that exits is
//! never reported as timed out, whatever its children do with stderr.

use std::process::Stdio;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::io::AsyncReadExt;

use super::{Source, SourceError, looks_like_zip};
use crate::config;
use crate::manifest::Origin;
use crate::stream::Reader;

/// How much of stderr an error quotes.
const STDERR_TAIL: usize = 2000;
/// How much of stderr is kept while the command runs: its end.
const STDERR_KEPT: usize = 64 * 1024;
/// After the command exited: how long its stderr may take to reach its end.
const STDERR_DRAIN: std::time::Duration = std::time::Duration::from_millis(500);

pub struct CommandSource {
    name: String,
    cfg: config::CommandSource,
}

impl CommandSource {
    pub fn new(name: &str, cfg: config::CommandSource) -> Self {
        CommandSource {
            name: name.into(),
            cfg,
        }
    }

    fn args(&self) -> Vec<String> {
        let file = self.cfg.file.display().to_string();
        self.cfg
            .command
            .iter()
            .map(|a| a.replace("{file}", &file))
            .collect()
    }

    fn io(&self, what: &str, e: std::io::Error) -> SourceError {
        SourceError::Io {
            what: format!("source {}: {what}", self.name),
            source: e,
        }
    }
}

/// The end of a command's stderr, escaped, to quote in an error.
fn tail(bytes: &[u8]) -> String {
    let text = crate::escape::lines(bytes);
    let text = text.trim();
    let start = text
        .char_indices()
        .rev()
        .nth(STDERR_TAIL)
        .map(|(i, _)| i)
        .unwrap_or(0);
    text[start..].to_string()
}

/// The last [`STDERR_KEPT`] bytes of what a reader gave, read until its end (or until the
/// task reading it is aborted: what was read so far stays in `kept`).
async fn keep_tail(
    mut r: impl tokio::io::AsyncRead + Unpin,
    kept: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut k = kept.lock().unwrap_or_else(|e| e.into_inner());
        k.extend_from_slice(&buf[..n]);
        if k.len() > 2 * STDERR_KEPT {
            let cut = k.len() - STDERR_KEPT;
            k.drain(..cut);
        }
    }
}

/// Ends every process of the group `pgid` (the command and what it started).
fn end_group(pgid: Option<u32>) {
    let Some(pid) = pgid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) else {
        return;
    };
    match rustix::process::kill_process_group(pid, rustix::process::Signal::KILL) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => {}
        Err(e) => tracing::warn!("could not end the command's process group {pid:?}: {e}"),
    }
}

#[async_trait]
impl Source for CommandSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn find(&self) -> Result<Origin, SourceError> {
        let file = &self.cfg.file;
        match tokio::fs::remove_file(file).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(&format!("cannot remove old {}", file.display()), e)),
        }
        let args = self.args();
        let program = crate::escape::text(&args[0]).into_owned();
        let mut child = tokio::process::Command::new(&args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| self.io(&format!("cannot run {program}"), e))?;
        // Its own group: the group's id is the command's pid.
        let pgid = child.id();
        let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reader = child
            .stderr
            .take()
            .map(|e| tokio::spawn(keep_tail(e, std::sync::Arc::clone(&kept))));
        let waited = tokio::time::timeout(self.cfg.timeout, child.wait()).await;
        // Whatever the command started ends with it, exited or timed out.
        end_group(pgid);
        if waited.is_err() {
            let _ = child.kill().await;
        }
        // The stderr pipe closes once the group is gone; a process that left the group
        // may still hold it, so it gets a moment, not a wait.
        if let Some(mut r) = reader
            && tokio::time::timeout(STDERR_DRAIN, &mut r).await.is_err()
        {
            r.abort();
        }
        let err = {
            let k = kept.lock().unwrap_or_else(|e| e.into_inner());
            k[k.len().saturating_sub(STDERR_KEPT)..].to_vec()
        };
        let status = match waited {
            Ok(status) => status.map_err(|e| self.io("waiting for the command", e))?,
            Err(_) => {
                return Err(SourceError::Unavailable(format!(
                    "source {}: {program} did not finish within {}; it and everything it started were stopped; its stderr ends with:\n{}",
                    self.name,
                    humantime::format_duration(self.cfg.timeout),
                    tail(&err)
                )));
            }
        };
        if !status.success() {
            return Err(SourceError::Unavailable(format!(
                "source {}: {program} failed ({status}); its stderr ends with:\n{}",
                self.name,
                tail(&err)
            )));
        }
        let meta = tokio::fs::metadata(file).await.map_err(|_| {
            SourceError::NoBackup(format!(
                "source {}: {program} exited successfully but wrote no {}; its stderr ends with:\n{}",
                self.name,
                file.display(),
                tail(&err)
            ))
        })?;
        let mut head = [0u8; 4];
        let n = tokio::fs::File::open(file)
            .await
            .map_err(|e| self.io(&file.display().to_string(), e))?
            .read(&mut head)
            .await
            .map_err(|e| self.io(&file.display().to_string(), e))?;
        if !looks_like_zip(&head[..n]) {
            return Err(SourceError::Invalid(format!(
                "source {}: {program} wrote {}, which is not a zip file",
                self.name,
                file.display()
            )));
        }
        let time: DateTime<Utc> = meta
            .modified()
            .map(Into::into)
            .unwrap_or_else(|_| Utc::now());
        Ok(Origin {
            name: file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("backup.zip")
                .to_string(),
            time,
            size: meta.len(),
        })
    }

    /// Finds the program without running it (a run takes a backup).
    async fn probe(&self) -> Result<String, SourceError> {
        use std::os::unix::fs::PermissionsExt;
        let args = self.args();
        let program = std::path::Path::new(&args[0]);
        let found = if program.components().count() > 1 {
            Some(program.to_path_buf())
        } else {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(program))
                    .find(|p| p.is_file())
            })
        };
        let Some(found) = found else {
            return Err(SourceError::Unavailable(format!(
                "source {}: program {} is not in PATH",
                self.name, args[0]
            )));
        };
        let meta = std::fs::metadata(&found)
            .map_err(|e| self.io(&format!("cannot find {}", found.display()), e))?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(SourceError::Unavailable(format!(
                "source {}: {} is not an executable file",
                self.name,
                found.display()
            )));
        }
        Ok(format!(
            "program {} found (not run: a run takes a backup)",
            found.display()
        ))
    }

    async fn open(&self, _origin: &Origin) -> Result<Reader, SourceError> {
        let f = tokio::fs::File::open(&self.cfg.file)
            .await
            .map_err(|e| self.io(&self.cfg.file.display().to_string(), e))?;
        Ok(Box::new(f))
    }

    async fn sealed(&self, _origin: &Origin) {
        if let Err(e) = tokio::fs::remove_file(&self.cfg.file).await {
            tracing::warn!(source = %self.name, error = %e, "could not remove {}", self.cfg.file.display());
        }
    }
}
