//! A NAS (or any server) over WebDAV.
//!
//! Listing, stat, reading and deleting go through OpenDAL's webdav service. Writing does not:
//! OpenDAL's webdav writer is one-shot (apache/opendal#8291), so a multi-GB artifact would
//! have to be buffered whole. Instead the spool is streamed in one `PUT` with a known
//! `Content-Length` to `<path>.<nonce>.partial`, then `MOVE`d into place with
//! `Overwrite: F`, which the server refuses when the name exists: a committed copy is never
//! replaced, and a cut upload leaves only a partial object that no run counts.

use async_trait::async_trait;
use futures::TryStreamExt;
use opendal::{ErrorKind, Operator};
use reqwest::{Method, StatusCode};

use super::{ObjectMeta, Payload, Placement, Properties, Reader, Target, TargetError};
use crate::config::WebdavTarget as WebdavConfig;

pub struct WebdavTarget {
    name: String,
    props: Properties,
    cfg: WebdavConfig,
    password: Option<String>,
    op: Operator,
    http: reqwest::Client,
}

impl WebdavTarget {
    pub fn new(
        name: &str,
        props: Properties,
        cfg: WebdavConfig,
        password: Option<String>,
    ) -> Result<Self, TargetError> {
        opendal::install_default();
        let mut b = opendal::services::Webdav::default()
            .endpoint(cfg.endpoint.trim_end_matches('/'))
            .root(&cfg.path);
        if let Some(u) = &cfg.username {
            b = b.username(u);
        }
        if let Some(p) = &password {
            b = b.password(p);
        }
        let op = Operator::new(b)
            .map_err(|e| TargetError::Permanent(format!("target {name}: webdav set-up: {e}")))?;
        // No read timeout here: reqwest's runs while a request body is still being sent
        // (seanmonstar/reqwest#2784), which cut every upload longer than it. Stalls are caught
        // by progress instead (`io_timeout`, [`super::stall`]).
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .build()
            .map_err(|e| TargetError::Permanent(format!("target {name}: HTTP client: {e}")))?;
        Ok(WebdavTarget {
            name: name.into(),
            props,
            cfg,
            password,
            op,
            http,
        })
    }

    /// The URL of a path below the root.
    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.cfg.endpoint.trim_end_matches('/'),
            self.cfg.path.trim_matches('/'),
            path
        )
        .replace("//", "/")
        .replacen(":/", "://", 1)
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, self.url(path));
        if let Some(u) = &self.cfg.username {
            r = r.basic_auth(u, self.password.as_deref());
        }
        r
    }

    fn status_error(&self, what: &str, path: &str, status: StatusCode) -> TargetError {
        let msg = format!(
            "target {}: {what} {}: HTTP {status}",
            self.name,
            self.url(path)
        );
        match status.as_u16() {
            401 => TargetError::Denied(format!(
                "{msg} (authentication failed: check username and password)"
            )),
            403 => TargetError::Denied(format!("{msg} (permission denied on the server)")),
            404 | 409 => TargetError::Permanent(format!(
                "{msg} (the directory does not exist on the server: check path)"
            )),
            412 => TargetError::AlreadyExists(msg),
            507 => TargetError::Permanent(format!("{msg} (the server's disk is full)")),
            408 | 429 | 500..=599 => TargetError::Transient(msg),
            _ => TargetError::Permanent(msg),
        }
    }

    fn send_error(&self, what: &str, path: &str, e: reqwest::Error) -> TargetError {
        // reqwest's Display names the URL; the password is never part of it.
        TargetError::Transient(format!(
            "target {}: {what} {}: {e}",
            self.name,
            self.url(path)
        ))
    }

    fn op_err(&self, what: &str, path: &str, e: opendal::Error) -> TargetError {
        tracing::debug!(target_name = %self.name, "{what} {path}: {e}");
        let msg = format!(
            "target {}: {what} {}: {}",
            self.name,
            self.url(path),
            super::dal::summary(&e)
        );
        // OpenDAL reports 401 and 507 as "unexpected"; its context holds the status.
        let text = e.to_string();
        if text.contains("status: 401") {
            return TargetError::Denied(format!(
                "target {}: {what} {}: HTTP 401 (authentication failed: check username and password)",
                self.name,
                self.url(path)
            ));
        }
        if text.contains("status: 507") {
            return TargetError::Permanent(format!("{msg} (the server's disk is full)"));
        }
        match e.kind() {
            ErrorKind::NotFound => TargetError::NotFound(msg),
            ErrorKind::AlreadyExists | ErrorKind::ConditionNotMatch => {
                TargetError::AlreadyExists(msg)
            }
            ErrorKind::PermissionDenied => TargetError::Denied(format!(
                "{msg} (authentication failed or permission denied: check username and password)"
            )),
            _ if e.is_temporary() => TargetError::Transient(msg),
            _ => TargetError::Permanent(msg),
        }
    }

    async fn exists(&self, path: &str) -> Result<bool, TargetError> {
        match self.op.stat(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.op_err("stat", path, e)),
        }
    }

    async fn stream_put(&self, tmp: &str, payload: &Payload) -> Result<(), TargetError> {
        let reader = payload.open().await.map_err(|e| {
            TargetError::Permanent(format!("target {}: reading payload: {e}", self.name))
        })?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            reader,
            256 * 1024,
        ));
        let resp = self
            .request(Method::PUT, tmp)
            .header(reqwest::header::CONTENT_LENGTH, payload.len())
            .body(body)
            .send()
            .await
            .map_err(|e| self.send_error("upload", tmp, e))?;
        if !resp.status().is_success() {
            return Err(self.status_error("upload", tmp, resp.status()));
        }
        Ok(())
    }

    async fn move_into_place(&self, tmp: &str, path: &str) -> Result<(), TargetError> {
        let resp = self
            .request(Method::from_bytes(b"MOVE").expect("MOVE is a method"), tmp)
            .header("Destination", self.url(path))
            .header("Overwrite", "F")
            .send()
            .await
            .map_err(|e| self.send_error("move", path, e))?;
        if !resp.status().is_success() {
            return Err(self.status_error("move into place", path, resp.status()));
        }
        Ok(())
    }
}

#[async_trait]
impl Target for WebdavTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn properties(&self) -> &Properties {
        &self.props
    }

    async fn put(&self, path: &str, payload: &Payload) -> Result<(), TargetError> {
        if self.exists(path).await? {
            return Err(TargetError::AlreadyExists(format!(
                "target {}: {}",
                self.name,
                self.url(path)
            )));
        }
        // The directory chain down to the object, the target's own root included (an
        // object at the root, such as a probe, needs it too).
        let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        self.op
            .create_dir(&format!("{dir}/"))
            .await
            .map_err(|e| self.op_err("create directory", dir, e))?;
        let tmp = super::partial_name(path);
        let result = async {
            self.stream_put(&tmp, payload).await?;
            let size = self.stat(&tmp).await?.size;
            if size != payload.len() {
                return Err(TargetError::Transient(format!(
                    "target {}: the server holds {size} of {} bytes after upload",
                    self.name,
                    payload.len()
                )));
            }
            self.move_into_place(&tmp, path).await
        }
        .await;
        if result.is_err() {
            let _ = self.delete(&tmp).await;
        }
        result
    }

    async fn stat(&self, path: &str) -> Result<ObjectMeta, TargetError> {
        let meta = self
            .op
            .stat(path)
            .await
            .map_err(|e| self.op_err("stat", path, e))?;
        if !meta.mode().is_file() {
            return Err(TargetError::NotFound(format!("{path} is not a file")));
        }
        Ok(ObjectMeta::file(
            path,
            meta.content_length(),
            meta.last_modified().map(super::dal::time_of),
        ))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TargetError> {
        let dir = super::dir_of(prefix);
        super::dal::list_files(&self.op, &dir)
            .await
            .map_err(|e| self.op_err("list", &dir, e))
    }

    async fn read(&self, path: &str) -> Result<Reader, TargetError> {
        self.stat(path).await?;
        let reader = self
            .op
            .reader(path)
            .await
            .map_err(|e| self.op_err("read", path, e))?;
        let stream = reader
            .into_bytes_stream(..)
            .await
            .map_err(|e| self.op_err("read", path, e))?;
        Ok(Box::new(tokio_util::io::StreamReader::new(
            stream.map_err(std::io::Error::other),
        )))
    }

    async fn delete(&self, path: &str) -> Result<(), TargetError> {
        match self.op.delete(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.op_err("delete", path, e)),
        }
    }

    async fn placement(&self) -> Placement {
        let Some((host, port)) = crate::config::http_host_port(&self.cfg.endpoint) else {
            return Placement::default();
        };
        super::host_placement(&host, port).await
    }
}
