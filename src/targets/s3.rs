//! S3 and S3-compatible object stores, through aws-sdk-s3 (OpenDAL's s3 service has no
//! Object Lock and no SHA-256 checksums).
//!
//! - Small objects go up in one `PutObject`; larger ones as a multipart upload whose parts
//!   are streamed from the spool file (never held whole in memory), `concurrency` at a time,
//!   each read once and sent with its SHA-256, made while the spool file was written where
//!   the payload carries it ([`super::parts`]), and the store's answer compared. The whole
//!   object's size and composite hash are read back; an object that is not what was meant
//!   is removed and the upload fails. Any failure, or dropping the
//!   upload half-way, aborts it: no incomplete upload is left to bill.
//! - Atomic and never overwriting: an object appears when `PutObject` or
//!   `CompleteMultipartUpload` succeeds, and both carry `If-None-Match: *`.
//! - With `object_lock`, every object is written with the lock mode and a retain-until date,
//!   after checking once that the bucket has Object Lock enabled. `retention` reads mode and
//!   date back from the object (`HeadObject`; some stores, moto among them, fail
//!   `GetObjectRetention`). pbx321 never sends a governance bypass.
//! - `delete` removes the object's current version, so a locked object is refused rather
//!   than hidden behind a delete marker.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    timeout::TimeoutConfig,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ObjectLockEnabled,
    ObjectLockMode, StorageClass,
};
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::{ObjectMeta, Payload, Placement, Properties, Reader, Target, TargetError};
use crate::config::{LockMode, S3Target as S3Config};

/// Bytes read from the spool at a time while a part is sent (one buffer per part in flight).
const READ_BUFFER: usize = 1024 * 1024;
/// S3 allows at most this many parts.
const MAX_PARTS: u64 = 10_000;
/// ...of at least this size (but the last).
const MIN_PART: u64 = 5 * 1024 * 1024;

pub struct S3Target {
    name: String,
    props: Properties,
    cfg: S3Config,
    client: Client,
    lock_checked: OnceCell<Result<(), String>>,
}

impl S3Target {
    /// Builds the client. `credentials` are (access key id, secret) when the config gives
    /// them; otherwise the default AWS chain (environment, profile, instance role) is used.
    pub async fn new(
        name: &str,
        props: Properties,
        cfg: S3Config,
        credentials: Option<(String, String)>,
    ) -> Result<Self, TargetError> {
        let region = Region::new(cfg.region.clone().unwrap_or_else(|| "us-east-1".into()));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(Duration::from_secs(120))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .timeout_config(timeouts);
        if let Some((id, secret)) = credentials {
            loader = loader.credentials_provider(Credentials::new(
                id,
                secret,
                None,
                None,
                "pbx321-config",
            ));
        }
        let shared = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(cfg.path_style)
            // S3-compatible stores differ in the checksums they accept; pbx321 sends SHA-256
            // itself where it matters.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &cfg.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Ok(S3Target {
            name: name.into(),
            props,
            cfg,
            client: Client::from_conf(builder.build()),
            lock_checked: OnceCell::new(),
        })
    }

    fn key(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.prefix)
    }

    fn err<E>(&self, what: &str, path: &str, e: SdkError<E, HttpResponse>) -> TargetError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let code = e.code().map(str::to_string);
        // A service error's code and message say it all; the full context (with the raw
        // response) only for transport errors.
        let detail = match (&e, &code) {
            (SdkError::ServiceError(_), Some(c)) => format!(
                "{c}: {} (HTTP {})",
                e.message().unwrap_or("no message"),
                status.unwrap_or(0)
            ),
            _ => DisplayErrorContext(&e).to_string(),
        };
        let msg = format!(
            "target {}: {what} s3://{}/{}: {detail}",
            self.name,
            self.cfg.bucket,
            self.key(path),
        );
        match (&e, status, code.as_deref()) {
            // A missing bucket answers 404 too: it is a set-up problem, not a missing object.
            (_, _, Some("NoSuchBucket")) => TargetError::Permanent(format!(
                "{msg} (the bucket does not exist: create it, with Object Lock if configured)"
            )),
            (_, Some(404), _) | (_, _, Some("NoSuchKey" | "NotFound")) => {
                TargetError::NotFound(msg)
            }
            (_, Some(412), _) | (_, _, Some("PreconditionFailed")) => {
                TargetError::AlreadyExists(msg)
            }
            (_, Some(401 | 403), _) => TargetError::Denied(format!(
                "{msg} (access denied: check the credentials and the IAM policy in docs/s3.md)"
            )),
            (_, Some(409 | 429), _) => TargetError::Transient(msg),
            (_, Some(s), _) if s >= 500 => TargetError::Transient(msg),
            (
                SdkError::TimeoutError(_)
                | SdkError::DispatchFailure(_)
                | SdkError::ResponseError(_),
                _,
                _,
            ) => TargetError::Transient(msg),
            _ => TargetError::Permanent(msg),
        }
    }

    /// Object Lock must be on for the bucket before any locked write; checked once.
    async fn check_lock(&self) -> Result<(), TargetError> {
        if self.cfg.object_lock.is_none() {
            return Ok(());
        }
        let result = self
            .lock_checked
            .get_or_init(|| async {
                let enabled = match self
                    .client
                    .get_object_lock_configuration()
                    .bucket(&self.cfg.bucket)
                    .send()
                    .await
                {
                    Ok(out) => {
                        out.object_lock_configuration()
                            .and_then(|c| c.object_lock_enabled())
                            == Some(&ObjectLockEnabled::Enabled)
                    }
                    Err(e) if e.code() == Some("ObjectLockConfigurationNotFoundError") => false,
                    Err(e) => return Err(self.err("check Object Lock of", "", e).to_string()),
                };
                if enabled {
                    Ok(())
                } else {
                    Err(format!(
                        "target {}: bucket {} does not have Object Lock enabled, but object_lock is configured; create the bucket with Object Lock (docs/s3.md) or remove object_lock",
                        self.name, self.cfg.bucket
                    ))
                }
            })
            .await;
        result.clone().map_err(TargetError::Permanent)
    }

    fn lock_params(&self) -> Option<(ObjectLockMode, aws_smithy_types::DateTime)> {
        self.cfg.object_lock.as_ref().map(|l| {
            // `days` is at most 100 years (config): never past the end of time.
            let until = Utc::now()
                .checked_add_signed(chrono::Duration::days(i64::from(l.days)))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            let mode = match l.mode {
                LockMode::Compliance => ObjectLockMode::Compliance,
                LockMode::Governance => ObjectLockMode::Governance,
            };
            (
                mode,
                aws_smithy_types::DateTime::from_secs(until.timestamp()),
            )
        })
    }

    fn storage_class(&self) -> Option<StorageClass> {
        self.cfg.storage_class.as_deref().map(StorageClass::from)
    }

    /// The part size: as configured, raised so that 10,000 parts cover `len`.
    fn part_size(&self, len: u64) -> u64 {
        let configured = (self.cfg.part_size_mib * 1024 * 1024).max(MIN_PART);
        configured.max(len.div_ceil(MAX_PARTS))
    }

    async fn put_single(&self, path: &str, payload: &Payload) -> Result<String, TargetError> {
        self.put_single_locked(path, payload, self.lock_params())
            .await
    }

    async fn put_single_locked(
        &self,
        path: &str,
        payload: &Payload,
        lock: Option<(ObjectLockMode, aws_smithy_types::DateTime)>,
    ) -> Result<String, TargetError> {
        let body = read_region(payload, 0, payload.len()).await?;
        let sha = aws_smithy_types::base64::encode(Sha256::digest(&body));
        let mut req = self
            .client
            .put_object()
            .bucket(&self.cfg.bucket)
            .key(self.key(path))
            .if_none_match("*")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(&sha)
            .content_length(body.len() as i64)
            .set_storage_class(self.storage_class())
            .body(counted(ByteStream::from(body), payload));
        if let Some((mode, until)) = lock {
            req = req
                .object_lock_mode(mode)
                .object_lock_retain_until_date(until);
        }
        let out = req.send().await.map_err(|e| self.err("upload", path, e))?;
        payload.taken(payload.len(), Some(payload.len()));
        if let Some(returned) = out.checksum_sha256()
            && returned != sha
        {
            return Err(TargetError::Permanent(format!(
                "target {}: the store's SHA-256 of {path} ({returned}) differs from pbx321's ({sha})",
                self.name
            )));
        }
        Ok(sha)
    }

    async fn put_multipart(&self, path: &str, payload: &Payload) -> Result<String, TargetError> {
        let key = self.key(path);
        let len = payload.len();
        let part = self.part_size(len);
        let mut req = self
            .client
            .create_multipart_upload()
            .bucket(&self.cfg.bucket)
            .key(&key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .set_storage_class(self.storage_class());
        if let Some((mode, until)) = self.lock_params() {
            req = req
                .object_lock_mode(mode)
                .object_lock_retain_until_date(until);
        }
        let created = req
            .send()
            .await
            .map_err(|e| self.err("start upload of", path, e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                TargetError::Permanent(format!(
                    "target {}: the store gave no upload id for {path}",
                    self.name
                ))
            })?
            .to_string();
        let mut guard = AbortGuard {
            client: self.client.clone(),
            bucket: self.cfg.bucket.clone(),
            key: key.clone(),
            upload_id: upload_id.clone(),
            armed: true,
        };
        payload.taken(0, Some(0));
        let result = async {
            let count = len.div_ceil(part).max(1);
            tracing::debug!(target_name = %self.name, %path, parts = count, hashed_while_written = payload.part_hash(part, 1).is_some(), "multipart upload");
            let parts: Vec<(CompletedPart, Vec<u8>)> = futures::stream::iter(1..=count)
                .map(|n| self.upload_part(path, &key, &upload_id, payload, n, part))
                .buffered(self.cfg.concurrency)
                .try_collect()
                .await?;
            let mut composite = Sha256::new();
            for (_, raw) in &parts {
                composite.update(raw);
            }
            let expected = format!(
                "{}-{}",
                aws_smithy_types::base64::encode(composite.finalize()),
                parts.len()
            );
            let completed = CompletedMultipartUpload::builder()
                .set_parts(Some(parts.into_iter().map(|(p, _)| p).collect()))
                .build();
            self.client
                .complete_multipart_upload()
                .bucket(&self.cfg.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .if_none_match("*")
                .multipart_upload(completed)
                .send()
                .await
                .map_err(|e| self.err("complete upload of", path, e))?;
            Ok(expected)
        }
        .await;
        match result {
            Ok(expected) => {
                guard.armed = false;
                self.ensure_lock(path).await?;
                Ok(expected)
            }
            Err(e) => {
                guard.armed = false;
                guard.abort().await;
                Err(e)
            }
        }
    }

    /// Sends part `number` (1-based) of `part`-byte parts, read once: with the hash made
    /// while the payload was written where there is one (the store then checks the bytes
    /// against what was written), else hashed first.
    async fn upload_part(
        &self,
        path: &str,
        key: &str,
        upload_id: &str,
        payload: &Payload,
        number: u64,
        part: u64,
    ) -> Result<(CompletedPart, Vec<u8>), TargetError> {
        let offset = (number - 1) * part;
        let size = part.min(payload.len() - offset);
        let raw = match payload.part_hash(part, number) {
            Some(h) => h.to_vec(),
            None => sha256_region(payload, offset, size).await?,
        };
        let number = number as i32;
        let sha = aws_smithy_types::base64::encode(&raw);
        let body = match payload {
            Payload::File { path: file, .. } => ByteStream::read_from()
                .path(file)
                .offset(offset)
                .length(Length::Exact(size))
                // The SDK reads 4 KiB at a time by default, each read a trip through
                // tokio's blocking pool: that alone made uploads 0.7× boto3's.
                .buffer_size(READ_BUFFER)
                .build()
                .await
                .map_err(|e| {
                    TargetError::Permanent(format!("target {}: reading spool: {e}", self.name))
                })?,
            Payload::Bytes(b) => {
                ByteStream::from(b.slice(offset as usize..(offset + size) as usize))
            }
        };
        let out = self
            .client
            .upload_part()
            .bucket(&self.cfg.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(size as i64)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(&sha)
            .body(counted(body, payload))
            .send()
            .await
            .map_err(|e| self.err(&format!("upload part {number} of"), path, e))?;
        if let Some(returned) = out.checksum_sha256()
            && returned != sha
        {
            return Err(TargetError::Transient(format!(
                "target {}: part {number} of {path}: the store's SHA-256 {returned} differs from {sha}",
                self.name
            )));
        }
        payload.taken(size, None);
        Ok((
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_string))
                .checksum_sha256(sha)
                .build(),
            raw,
        ))
    }

    /// Some stores (moto among them) do not apply the lock sent with
    /// `CreateMultipartUpload` to the completed object: set it with `PutObjectRetention`
    /// then, which only ever adds or extends a lock.
    async fn ensure_lock(&self, path: &str) -> Result<(), TargetError> {
        let Some((mode, until)) = self.lock_params() else {
            return Ok(());
        };
        let head = self.head(path).await?;
        if head.object_lock_mode().is_some() {
            return Ok(());
        }
        let retention = aws_sdk_s3::types::ObjectLockRetention::builder()
            .mode(match mode {
                ObjectLockMode::Governance => {
                    aws_sdk_s3::types::ObjectLockRetentionMode::Governance
                }
                _ => aws_sdk_s3::types::ObjectLockRetentionMode::Compliance,
            })
            .retain_until_date(until)
            .build();
        self.client
            .put_object_retention()
            .bucket(&self.cfg.bucket)
            .key(self.key(path))
            .set_version_id(head.version_id().map(str::to_string))
            .retention(retention)
            .send()
            .await
            .map_err(|e| self.err("lock", path, e))?;
        Ok(())
    }

    async fn head(
        &self,
        path: &str,
    ) -> Result<aws_sdk_s3::operation::head_object::HeadObjectOutput, TargetError> {
        self.client
            .head_object()
            .bucket(&self.cfg.bucket)
            .key(self.key(path))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| self.err("stat", path, e))
    }
}

/// Aborts a multipart upload that was not completed, also when the upload future is dropped
/// (cancellation): the abort then runs as its own task.
struct AbortGuard {
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    armed: bool,
}

impl AbortGuard {
    async fn abort(&self) {
        if let Err(e) = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await
        {
            tracing::warn!(key = %self.key, error = %DisplayErrorContext(&e), "could not abort a multipart upload; a bucket lifecycle rule for incomplete uploads will remove it");
        }
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if self.armed
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let me = AbortGuard {
                client: self.client.clone(),
                bucket: self.bucket.clone(),
                key: self.key.clone(),
                upload_id: self.upload_id.clone(),
                armed: false,
            };
            handle.spawn(async move { me.abort().await });
        }
    }
}

/// Reads `size` bytes at `offset` of the payload (a part, or a whole small object).
async fn read_region(payload: &Payload, offset: u64, size: u64) -> Result<Vec<u8>, TargetError> {
    match payload {
        Payload::Bytes(b) => Ok(b[offset as usize..(offset + size) as usize].to_vec()),
        Payload::File { path, .. } => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                use std::os::unix::fs::FileExt;
                let f = std::fs::File::open(&path)?;
                let mut buf = vec![0u8; size as usize];
                f.read_exact_at(&mut buf, offset)?;
                Ok::<_, std::io::Error>(buf)
            })
            .await
            .map_err(|e| TargetError::Permanent(e.to_string()))?
            .map_err(|e| TargetError::Permanent(format!("reading the spool: {e}")))
        }
    }
}

/// SHA-256 of a region of the payload, read in small pieces (parts can be large).
async fn sha256_region(payload: &Payload, offset: u64, size: u64) -> Result<Vec<u8>, TargetError> {
    match payload {
        Payload::Bytes(b) => {
            Ok(Sha256::digest(&b[offset as usize..(offset + size) as usize]).to_vec())
        }
        Payload::File { path, .. } => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                use std::os::unix::fs::FileExt;
                let f = std::fs::File::open(&path)?;
                let mut h = Sha256::new();
                let mut buf = vec![0u8; 1024 * 1024];
                let mut done = 0u64;
                while done < size {
                    let n = buf.len().min((size - done) as usize);
                    f.read_exact_at(&mut buf[..n], offset + done)?;
                    h.update(&buf[..n]);
                    done += n as u64;
                }
                Ok::<_, std::io::Error>(h.finalize().to_vec())
            })
            .await
            .map_err(|e| TargetError::Permanent(e.to_string()))?
            .map_err(|e| TargetError::Permanent(format!("reading the spool: {e}")))
        }
    }
}

#[async_trait]
impl Target for S3Target {
    fn name(&self) -> &str {
        &self.name
    }

    fn properties(&self) -> &Properties {
        &self.props
    }

    fn hashed_part_size(&self) -> Option<u64> {
        Some((self.cfg.part_size_mib * 1024 * 1024).max(MIN_PART))
    }

    async fn put(&self, path: &str, payload: &Payload) -> Result<(), TargetError> {
        self.check_lock().await?;
        // Fail early, before uploading gigabytes that If-None-Match would refuse at the end.
        match self.head(path).await {
            Ok(_) => {
                return Err(TargetError::AlreadyExists(format!(
                    "target {}: s3://{}/{}",
                    self.name,
                    self.cfg.bucket,
                    self.key(path)
                )));
            }
            Err(TargetError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let len = payload.len();
        let expected = if len <= self.part_size(len) {
            self.put_single(path, payload).await?
        } else {
            self.put_multipart(path, payload).await?
        };
        // Read back what the store holds.
        let head = self.head(path).await?;
        let size = head.content_length().unwrap_or(-1);
        // Stores differ in whether a composite checksum carries its "-<parts>" suffix.
        let base = |s: &str| s.split('-').next().unwrap_or_default().to_string();
        let wrong = if size != len as i64 {
            Some(format!("holds {size} bytes after upload, expected {len}"))
        } else {
            head.checksum_sha256()
                .filter(|returned| base(returned) != base(&expected))
                .map(|returned| format!("the store's SHA-256 {returned} differs from {expected}"))
        };
        let Some(wrong) = wrong else {
            return Ok(());
        };
        // Not the bytes that were sealed (a store that does not check the parts' hashes,
        // as real S3 does, took a spool file that changed): it is no copy, and is removed
        // where it can be (a locked one stays, without the manifest that would count it).
        let removed = match self.delete(path).await {
            Ok(()) => "the object was removed".to_string(),
            Err(e) => format!(
                "the object could not be removed ({e}); without its manifest it counts as no copy"
            ),
        };
        Err(TargetError::Permanent(format!(
            "target {}: {path}: {wrong}; {removed}",
            self.name
        )))
    }

    async fn stat(&self, path: &str) -> Result<ObjectMeta, TargetError> {
        let head = self.head(path).await?;
        Ok(ObjectMeta::file(
            path,
            head.content_length().unwrap_or(0).max(0) as u64,
            head.last_modified().and_then(time_of),
        ))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TargetError> {
        let dir = super::dir_of(prefix);
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.cfg.bucket)
            .prefix(self.key(&dir))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err("list", &dir, e))?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                let Some(rel) = key.strip_prefix(&self.cfg.prefix) else {
                    continue;
                };
                if rel.ends_with('/') {
                    continue;
                }
                // A multipart ETag ("…-N") is no digest of the content: not a tag.
                let tag = o
                    .e_tag()
                    .filter(|t| !t.contains('-'))
                    .map(|t| t.trim_matches('"').to_string());
                out.push(
                    ObjectMeta::file(
                        rel,
                        o.size().unwrap_or(0).max(0) as u64,
                        o.last_modified().and_then(time_of),
                    )
                    .tagged(tag),
                );
            }
        }
        Ok(out)
    }

    async fn read(&self, path: &str) -> Result<Reader, TargetError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.cfg.bucket)
            .key(self.key(path))
            .send()
            .await
            .map_err(|e| self.err("read", path, e))?;
        Ok(Box::new(out.body.into_async_read()))
    }

    async fn delete(&self, path: &str) -> Result<(), TargetError> {
        let version = match self.head(path).await {
            Ok(h) => h.version_id().map(str::to_string),
            Err(TargetError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.client
            .delete_object()
            .bucket(&self.cfg.bucket)
            .key(self.key(path))
            .set_version_id(version.filter(|v| v != "null"))
            .send()
            .await
            .map_err(|e| self.err("delete", path, e))?;
        Ok(())
    }

    /// The probe object is written without a lock (a bucket's default retention may still
    /// lock it: then it cannot be deleted, and that is said).
    async fn probe(&self, path: &str, bytes: &[u8]) -> Result<(), TargetError> {
        let payload = Payload::Bytes(bytes::Bytes::copy_from_slice(bytes));
        self.put_single_locked(path, &payload, None).await?;
        let back = self.read_small(path, bytes.len() as u64).await;
        let deleted = self.delete(path).await.map_err(|e| {
            TargetError::Permanent(format!(
                "{e} (written and read back; a default retention on the bucket may lock the probe object {path} until it expires)"
            ))
        });
        if back? != bytes {
            return Err(TargetError::Permanent(format!(
                "target {}: {path} read back differs from what was written",
                self.name
            )));
        }
        deleted
    }

    async fn abort_stale_uploads(&self, before: DateTime<Utc>) -> Result<Vec<String>, TargetError> {
        let mut aborted = Vec::new();
        let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.cfg.bucket)
                .prefix(&self.cfg.prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| self.err("list incomplete uploads", "", e))?;
            for u in page.uploads() {
                let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                    continue;
                };
                if u.initiated().and_then(time_of).is_none_or(|t| t >= before) {
                    continue;
                }
                let rel = key
                    .strip_prefix(&self.cfg.prefix)
                    .unwrap_or(key)
                    .to_string();
                self.client
                    .abort_multipart_upload()
                    .bucket(&self.cfg.bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await
                    .map_err(|e| self.err("abort an incomplete upload", &rel, e))?;
                aborted.push(rel);
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            id_marker = page.next_upload_id_marker().map(str::to_string);
            if key_marker.is_none() {
                break;
            }
        }
        Ok(aborted)
    }

    async fn retention(&self, path: &str) -> Result<Option<DateTime<Utc>>, TargetError> {
        let head = self.head(path).await?;
        if head.object_lock_mode().is_none() {
            return Ok(None);
        }
        Ok(head
            .object_lock_retain_until_date()
            .and_then(|d| DateTime::from_timestamp(d.secs(), d.subsec_nanos())))
    }

    async fn placement(&self) -> Placement {
        let (host, port) = match self
            .cfg
            .endpoint
            .as_deref()
            .and_then(crate::config::http_host_port)
        {
            Some(hp) => hp,
            None => {
                return Placement {
                    key: Some(format!("s3:aws/{}", self.cfg.bucket)),
                    describe: Some(format!("bucket {} on AWS", self.cfg.bucket)),
                    ..Placement::default()
                };
            }
        };
        let (this_host, private_network) = super::resolve_locality(&host, port).await;
        Placement {
            key: Some(format!("s3:{host}:{port}/{}", self.cfg.bucket)),
            describe: Some(format!("bucket {} at {host}", self.cfg.bucket)),
            this_host,
            private_network,
        }
    }
}

/// An S3 time.
fn time_of(t: &aws_smithy_types::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// Counts the bytes of `body` as the client takes them, so that a slow link that moves shows
/// progress before the store confirms the object or part (see stall.rs).
fn counted(body: ByteStream, payload: &Payload) -> ByteStream {
    let Some(sent) = payload.sent_counter() else {
        return body;
    };
    ByteStream::new(body.into_inner().map_preserve_contents(move |b| {
        SdkBody::from_body_1_x(Counted {
            inner: b,
            pending: bytes::Bytes::new(),
            sent: Arc::clone(&sent),
        })
    }))
}

/// How much of a body is handed to the client at a time: small enough that the count
/// follows the bytes onto the wire.
const COUNTED_CHUNK: usize = 64 * 1024;

/// A body that counts the bytes the client takes from it, in chunks of at most
/// [`COUNTED_CHUNK`].
struct Counted {
    inner: SdkBody,
    /// The rest of a larger frame of `inner`, not handed out yet.
    pending: bytes::Bytes,
    sent: Arc<std::sync::atomic::AtomicU64>,
}

impl Counted {
    fn hand_out(&mut self) -> bytes::Bytes {
        let n = self.pending.len().min(COUNTED_CHUNK);
        let chunk = self.pending.split_to(n);
        self.sent
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        chunk
    }
}

impl http_body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        if !self.pending.is_empty() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(self.hand_out()))));
        }
        match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    self.pending = data;
                    Poll::Ready(Some(Ok(http_body::Frame::data(self.hand_out()))))
                }
                Err(other) => Poll::Ready(Some(Ok(other))),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let inner = http_body::Body::size_hint(&self.inner);
        let extra = self.pending.len() as u64;
        let mut hint = http_body::SizeHint::new();
        hint.set_lower(inner.lower() + extra);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + extra);
        }
        hint
    }
}
