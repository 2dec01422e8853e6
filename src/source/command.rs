//! A command that writes a backup file: 3CX's own `3CXBackupCmd` on the PBX host, or any
//! script. pbx321 runs it without a shell, bounded by `timeout`, then takes the file it wrote.
//!
//! The file is removed before the run, so a command that exits 0 without writing is caught,
//! and again once the backup is sealed into the (encrypted) spool, so no plaintext copy
//! lingers. A failing command's error carries the tail of its stderr.

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

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let start = text
        .char_indices()
        .rev()
        .nth(STDERR_TAIL)
        .map(|(i, _)| i)
        .unwrap_or(0);
    text[start..].to_string()
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
        let mut child = tokio::process::Command::new(&args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| self.io(&format!("cannot run {}", args[0]), e))?;
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let read_err = async {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf).await;
            buf
        };
        let run = async { tokio::join!(child.wait(), read_err) };
        let (status, err) = match tokio::time::timeout(self.cfg.timeout, run).await {
            Ok((status, err)) => (
                status.map_err(|e| self.io("waiting for the command", e))?,
                err,
            ),
            Err(_) => {
                let _ = child.kill().await;
                return Err(SourceError::Unavailable(format!(
                    "source {}: {} did not finish within {}; it was stopped",
                    self.name,
                    args[0],
                    humantime::format_duration(self.cfg.timeout)
                )));
            }
        };
        if !status.success() {
            return Err(SourceError::Unavailable(format!(
                "source {}: {} failed ({status}); its stderr ends with:\n{}",
                self.name,
                args[0],
                tail(&err)
            )));
        }
        let meta = tokio::fs::metadata(file).await.map_err(|_| {
            SourceError::NoBackup(format!(
                "source {}: {} exited successfully but wrote no {}; its stderr ends with:\n{}",
                self.name,
                args[0],
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
                "source {}: {} wrote {}, which is not a zip file",
                self.name,
                args[0],
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
