//! A NAS (or any host) over SFTP, through the system `ssh` (key authentication only).
//!
//! Built directly on `openssh` + `openssh-sftp-client` — the crates OpenDAL's sftp service
//! uses — because that service cannot point `ssh` at a known_hosts file or set a connect
//! timeout, and pbx321 must check the host key against the file the config names, strictly,
//! with no trust-on-first-use.
//!
//! Commit protocol: the artifact is written to `<path>.<nonce>.partial` and renamed into
//! place. SFTP v3's rename refuses an existing target, so a committed copy is never
//! replaced. The connection is opened on first use and re-opened after a failure.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use openssh::{KnownHosts, SessionBuilder};
use openssh_sftp_client::error::{Error as SftpError, SftpErrorKind};
use openssh_sftp_client::file::TokioCompatFile;
use openssh_sftp_client::{Sftp, SftpOptions};
use tokio::io::AsyncReadExt;
use tokio::sync::Mutex;

use super::{ObjectMeta, Payload, Placement, Properties, Reader, Target, TargetError};
use crate::config::SftpTarget as SftpConfig;

pub struct SftpTarget {
    name: String,
    props: Properties,
    cfg: SftpConfig,
    conn: Mutex<Option<Arc<Sftp>>>,
}

impl SftpTarget {
    pub fn new(name: &str, props: Properties, cfg: SftpConfig) -> Self {
        SftpTarget {
            name: name.into(),
            props,
            cfg,
            conn: Mutex::new(None),
        }
    }

    fn full(&self, path: &str) -> PathBuf {
        Path::new(&self.cfg.path).join(path)
    }

    /// The open connection, connecting if needed.
    async fn sftp(&self) -> Result<Arc<Sftp>, TargetError> {
        let mut conn = self.conn.lock().await;
        if let Some(s) = conn.as_ref() {
            return Ok(Arc::clone(s));
        }
        let mut b = SessionBuilder::default();
        b.known_hosts_check(KnownHosts::Strict)
            .connect_timeout(self.cfg.connect_timeout)
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(std::env::temp_dir());
        if let Some(kh) = &self.cfg.known_hosts {
            b.user_known_hosts_file(kh);
        }
        if let Some(key) = &self.cfg.key {
            b.keyfile(key);
        }
        let session = b
            .connect(&self.cfg.endpoint)
            .await
            .map_err(|e| self.ssh_error(e))?;
        let sftp = Sftp::from_session(session, SftpOptions::default())
            .await
            .map_err(|e| self.err("open an SFTP session on", "", e))?;
        let sftp = Arc::new(sftp);
        *conn = Some(Arc::clone(&sftp));
        Ok(sftp)
    }

    /// Drops the connection after an error that may have broken it.
    async fn reset(&self) {
        self.conn.lock().await.take();
    }

    fn ssh_error(&self, e: openssh::Error) -> TargetError {
        let text = e.to_string();
        let detail = format!("{e:?}");
        let hint = if detail.contains("Host key verification failed")
            || detail.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || detail.contains("No ED25519 host key is known")
            || detail.contains("host key")
        {
            " (host key verification failed: the server's key is not the one in known_hosts — check for a man-in-the-middle, or update known_hosts if the NAS was reinstalled)"
        } else if detail.contains("Permission denied") {
            " (authentication failed: check the user and that the key is in the server's authorized_keys)"
        } else if detail.contains("timed out") || detail.contains("Connection refused") {
            " (cannot reach the server)"
        } else {
            ""
        };
        let msg = format!(
            "target {}: ssh to {}: {text}{hint}",
            self.name,
            strip_credentials(&self.cfg.endpoint)
        );
        if detail.contains("banner exchange") {
            // It took the connection and never spoke: a stalled server, not a blip.
            return TargetError::Stalled(format!(
                "{msg}: the server accepts connections but never answers; given up on for this run"
            ));
        }
        if hint.contains("cannot reach") {
            TargetError::Transient(msg)
        } else {
            TargetError::Permanent(msg)
        }
    }

    fn err(&self, what: &str, path: &str, e: SftpError) -> TargetError {
        let msg = format!(
            "target {}: {what} {}: {e}",
            self.name,
            self.full(path).display()
        );
        match &e {
            SftpError::SftpError(SftpErrorKind::NoSuchFile, _) => TargetError::NotFound(msg),
            SftpError::SftpError(SftpErrorKind::PermDenied, _) => TargetError::Denied(format!(
                "{msg} (permission denied: check the directory's owner and mode on the server)"
            )),
            SftpError::SftpError(SftpErrorKind::Failure, m)
                if m.to_string().to_ascii_lowercase().contains("space") =>
            {
                TargetError::Permanent(format!("{msg} (the server's disk is full)"))
            }
            SftpError::SftpError(_, _) => TargetError::Permanent(msg),
            // Transport problems: the connection is gone; a retry reconnects.
            _ => TargetError::Transient(msg),
        }
    }

    /// Runs `f` with a connection; a transient error drops it so the next try reconnects.
    async fn with<T, F, Fut>(&self, f: F) -> Result<T, TargetError>
    where
        F: FnOnce(Arc<Sftp>) -> Fut,
        Fut: std::future::Future<Output = Result<T, TargetError>>,
    {
        let sftp = self.sftp().await?;
        let r = f(sftp).await;
        if matches!(r, Err(TargetError::Transient(_))) {
            self.reset().await;
        }
        r
    }

    /// Refuses a path that crosses a symbolic link below the root: each of its parts is
    /// looked at with `lstat` (the last too, with `last`), so that nothing is read, written
    /// or deleted through a link an attacker planted. A part that does not exist yet is fine.
    async fn no_links(&self, sftp: &Sftp, path: &str, last: bool) -> Result<(), TargetError> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let upto = if last {
            parts.len()
        } else {
            parts.len().saturating_sub(1)
        };
        let mut fs = sftp.fs();
        for i in 0..upto {
            let rel = parts[..=i].join("/");
            match fs.symlink_metadata(self.full(&rel)).await {
                Ok(m) if m.file_type().is_some_and(|t| t.is_symlink()) => {
                    return Err(TargetError::Permanent(format!(
                        "target {}: {} is a symbolic link, not followed: pbx321 never reads, writes or deletes through a link below a target's root",
                        self.name,
                        crate::escape::text(&rel)
                    )));
                }
                Ok(_) => {}
                Err(e) => match self.err("stat", &rel, e) {
                    TargetError::NotFound(_) => return Ok(()),
                    other => return Err(other),
                },
            }
        }
        Ok(())
    }

    async fn mkdirs(&self, sftp: &Sftp, path: &str) -> Result<(), TargetError> {
        let full = self.full(path);
        let Some(parent) = full.parent() else {
            return Ok(());
        };
        let mut fs = sftp.fs();
        let mut current = PathBuf::new();
        for c in parent.components() {
            current.push(c);
            if fs.metadata(&current).await.is_ok() {
                continue;
            }
            if let Err(e) = fs.create_dir(&current).await
                && fs.metadata(&current).await.is_err()
            {
                return Err(self.err("create directory", &current.display().to_string(), e));
            }
        }
        Ok(())
    }

    async fn write_partial(
        &self,
        sftp: &Sftp,
        tmp: &str,
        payload: &Payload,
    ) -> Result<(), TargetError> {
        let mut file = sftp
            .options()
            .write(true)
            .create_new(true)
            .open(self.full(tmp))
            .await
            .map_err(|e| self.err("create", tmp, e))?;
        let mut src = payload.open().await.map_err(|e| {
            TargetError::Permanent(format!("target {}: reading payload: {e}", self.name))
        })?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut written = 0u64;
        loop {
            let n = src.read(&mut buf).await.map_err(|e| {
                TargetError::Permanent(format!("target {}: reading payload: {e}", self.name))
            })?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n])
                .await
                .map_err(|e| self.err("write", tmp, e))?;
            written += n as u64;
        }
        if written != payload.len() {
            return Err(TargetError::Permanent(format!(
                "target {}: payload changed while writing ({written} of {} bytes)",
                self.name,
                payload.len()
            )));
        }
        if sftp.support_fsync() {
            file.sync_all()
                .await
                .map_err(|e| self.err("fsync", tmp, e))?;
        }
        file.close().await.map_err(|e| self.err("close", tmp, e))
    }
}

/// `ssh://user@host:22` without anything after a `:` in the user part (never a password
/// in practice, but never printed either).
fn strip_credentials(endpoint: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) => format!(
                "{scheme}://{}@{host}",
                user.split(':').next().unwrap_or_default()
            ),
            None => endpoint.to_string(),
        },
        None => endpoint.to_string(),
    }
}

#[async_trait]
impl Target for SftpTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn properties(&self) -> &Properties {
        &self.props
    }

    async fn put(&self, path: &str, payload: &Payload) -> Result<(), TargetError> {
        self.with(|sftp| async move {
            if sftp.fs().metadata(self.full(path)).await.is_ok() {
                return Err(TargetError::AlreadyExists(format!(
                    "target {}: {}",
                    self.name,
                    self.full(path).display()
                )));
            }
            self.no_links(&sftp, path, false).await?;
            self.mkdirs(&sftp, path).await?;
            let tmp = super::partial_name(path);
            let result = async {
                self.write_partial(&sftp, &tmp, payload).await?;
                // SFTP v3 rename fails when the target exists: never a replacement.
                sftp.fs()
                    .rename(self.full(&tmp), self.full(path))
                    .await
                    .map_err(|e| match self.err("rename into", path, e) {
                        TargetError::Permanent(m) if m.contains("Failure") => {
                            TargetError::AlreadyExists(m)
                        }
                        other => other,
                    })
            }
            .await;
            if result.is_err() {
                let _ = sftp.fs().remove_file(self.full(&tmp)).await;
            }
            result
        })
        .await
    }

    async fn stat(&self, path: &str) -> Result<ObjectMeta, TargetError> {
        self.with(|sftp| async move {
            self.no_links(&sftp, path, false).await?;
            let m = sftp
                .fs()
                .symlink_metadata(self.full(path))
                .await
                .map_err(|e| self.err("stat", path, e))?;
            if !m.file_type().is_some_and(|t| t.is_file()) {
                return Err(TargetError::NotFound(format!("{path} is not a file")));
            }
            Ok(ObjectMeta::file(
                path,
                m.len().unwrap_or(0),
                m.modified().map(time_of),
            ))
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TargetError> {
        self.with(|sftp| async move {
            let mut out = Vec::new();
            let start = super::dir_of(prefix).trim_end_matches('/').to_string();
            // The prefix itself (a source's directory) may be a planted link: reported, not
            // listed through.
            if !start.is_empty() {
                match sftp.fs().symlink_metadata(self.full(&start)).await {
                    Ok(m) if m.file_type().is_some_and(|t| t.is_symlink()) => {
                        return Ok(vec![ObjectMeta::symlink(start)]);
                    }
                    _ => {}
                }
            }
            let mut stack = vec![start];
            while let Some(rel) = stack.pop() {
                let dir = match sftp.fs().open_dir(self.full(&rel)).await {
                    Ok(d) => d,
                    Err(e) => match self.err("list", &rel, e) {
                        TargetError::NotFound(_) => continue,
                        other => return Err(other),
                    },
                };
                let mut entries = std::pin::pin!(dir.read_dir());
                while let Some(entry) = entries.next().await {
                    let entry = entry.map_err(|e| self.err("list", &rel, e))?;
                    let Some(name) = entry.filename().to_str().map(str::to_string) else {
                        continue;
                    };
                    if name == "." || name == ".." {
                        continue;
                    }
                    let path = if rel.is_empty() {
                        name
                    } else {
                        format!("{rel}/{name}")
                    };
                    // The server's READDIR attributes are lstat's: a symbolic link is
                    // reported as one, never descended into or read.
                    match entry.file_type() {
                        Some(t) if t.is_dir() => stack.push(path),
                        Some(t) if t.is_file() => out.push(ObjectMeta::file(
                            path,
                            entry.metadata().len().unwrap_or(0),
                            entry.metadata().modified().map(time_of),
                        )),
                        Some(t) if t.is_symlink() => out.push(ObjectMeta::symlink(path)),
                        _ => {}
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn read(&self, path: &str) -> Result<Reader, TargetError> {
        self.with(|sftp| async move {
            self.no_links(&sftp, path, true).await?;
            let file = sftp
                .open(self.full(path))
                .await
                .map_err(|e| self.err("read", path, e))?;
            Ok(Box::new(Box::pin(TokioCompatFile::new(file))) as Reader)
        })
        .await
    }

    async fn delete(&self, path: &str) -> Result<(), TargetError> {
        self.with(|sftp| async move {
            // Only a regular file pbx321 could have written is removed, never through a link.
            self.no_links(&sftp, path, true).await?;
            match sftp.fs().remove_file(self.full(path)).await {
                Ok(()) => Ok(()),
                Err(e) => match self.err("delete", path, e) {
                    TargetError::NotFound(_) => Ok(()),
                    other => Err(other),
                },
            }
        })
        .await
    }

    async fn placement(&self) -> Placement {
        let Some((host, port)) = crate::config::ssh_host_port(&self.cfg.endpoint) else {
            return Placement::default();
        };
        super::host_placement(&host, port).await
    }

    async fn free_space(&self) -> Option<u64> {
        let root = self.full("");
        self.with(|sftp| async move {
            let v = sftp
                .fs()
                .statvfs(&root)
                .await
                .map_err(|e| self.err("statvfs", "", e))?;
            Ok(v.bavail.saturating_mul(v.frsize.max(1)))
        })
        .await
        .ok()
    }
}

/// An SFTP modification time.
fn time_of(t: openssh_sftp_client::UnixTimeStamp) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from(std::time::UNIX_EPOCH + t.as_duration())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            strip_credentials("ssh://backup:hunter2@nas.lan:22"),
            "ssh://backup@nas.lan:22"
        );
    }
}
