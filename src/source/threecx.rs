//! A 3CX V20 system through its Configuration API (XAPI), OAuth2 client credentials.
//!
//! - Token: `POST /connect/token` (form), reused until shortly before it expires. 3CX reports
//!   `expires_in` in minutes before 20.0.9 and in seconds since; pbx321 reads it as seconds
//!   and clamps it to [60 s, 24 h], which is never longer than the truth. A 401 fetches one
//!   new token and retries once.
//! - `mode = "create"`: `GET Backups/Pbx.GetCanCreateBackup()`, `POST Backups/Pbx.Backup`
//!   with a unique name, then `GET Backups` with backoff (bounded by `timeout`) until the
//!   name appears with the same Size on two polls. `mode = "latest"`: the newest backup by
//!   CreationTime.
//! - The `DownloadLink` is streamed straight into the seal; nothing is written in plaintext.
//! - Transient failures (connect errors, 429, 5xx) are retried with exponential backoff and
//!   jitter, bounded in count; 400, 403 and a 401 that persists are not.
//! - File names from the PBX are data, never paths: anything but a plain `*.zip` name is
//!   refused. The client secret never appears in errors or logs.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{Source, SourceError};
use crate::config::{BackupContent, ThreeCxMode, ThreeCxSource};
use crate::manifest::Origin;
use crate::target::Reader;

/// Tries per request, the first included.
const ATTEMPTS: u32 = 5;

pub struct ThreeCx {
    name: String,
    cfg: ThreeCxSource,
    token: Mutex<Option<(String, Instant)>>,
    /// The DownloadLink of the backup `find` chose, by file name.
    links: Mutex<Vec<(String, String)>>,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BackupEntry {
    file_name: String,
    creation_time: DateTime<Utc>,
    size: u64,
    download_link: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ODataList<T> {
    value: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct ODataBool {
    value: bool,
}

impl ThreeCx {
    pub fn new(name: &str, cfg: ThreeCxSource) -> Self {
        ThreeCx {
            name: name.into(),
            cfg,
            token: Mutex::new(None),
            links: Mutex::new(Vec::new()),
        }
    }

    fn client(&self) -> Result<reqwest::Client, SourceError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(120));
        if let Some(ca) = &self.cfg.ca_file {
            let pem = std::fs::read(ca).map_err(|e| SourceError::Io {
                what: format!("source {}: ca_file {}", self.name, ca.display()),
                source: e,
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                SourceError::Invalid(format!(
                    "source {}: ca_file {} is not a PEM certificate: {e}",
                    self.name,
                    ca.display()
                ))
            })?;
            b = b.add_root_certificate(cert);
        }
        b.build()
            .map_err(|e| SourceError::Invalid(format!("source {}: HTTP client: {e}", self.name)))
    }

    fn fail(&self, what: &str, detail: String) -> SourceError {
        SourceError::Unavailable(format!(
            "source {}: {what} {}: {detail}",
            self.name, self.cfg.url
        ))
    }

    /// A valid bearer token, fetched when missing or about to expire.
    async fn token(&self, http: &reqwest::Client, fresh: bool) -> Result<String, SourceError> {
        let mut cached = self.token.lock().await;
        if !fresh
            && let Some((t, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let secret = self
            .cfg
            .client_secret
            .resolve()
            .map_err(|e| SourceError::Invalid(format!("source {}: {e}", self.name)))?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.cfg.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        let resp = self
            .send_with_retries(|| {
                http.post(format!("{}/connect/token", self.cfg.url))
                    .form(&form)
            })
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(self.fail(
                "token from",
                match status.as_u16() {
                    400 | 401 => format!(
                        "HTTP {status}: the client id or secret is wrong (3CX admin console: Admin > Integrations > API)"
                    ),
                    _ => format!("HTTP {status}"),
                },
            ));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.fail("token from", e.to_string()))?;
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| self.fail("token from", format!("unexpected answer: {e}")))?;
        // Minutes (before 20.0.9) or seconds (since): read as seconds, clamped, which is never
        // longer than the truth; renewed at 80 %.
        let lifetime = t.expires_in.unwrap_or(60).clamp(60, 24 * 3600);
        let until = Instant::now() + Duration::from_secs(lifetime * 4 / 5);
        *cached = Some((t.access_token.clone(), until));
        Ok(t.access_token)
    }

    /// Sends a request, retrying transient failures with backoff and jitter.
    async fn send_with_retries(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, SourceError> {
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                let base = Duration::from_millis(250 * 2u64.pow(attempt - 2));
                let jitter = Duration::from_millis(u64::from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.subsec_millis())
                        .unwrap_or(0)
                        % 250,
                ));
                tokio::time::sleep(base + jitter).await;
            }
            match make().send().await {
                Ok(r)
                    if r.status().is_server_error()
                        || r.status() == StatusCode::TOO_MANY_REQUESTS =>
                {
                    last = format!("HTTP {}", r.status());
                }
                Ok(r) => return Ok(r),
                Err(e) if e.is_connect() || e.is_timeout() || e.is_request() => {
                    last = strip_url_secrets(&e.to_string());
                }
                Err(e) => return Err(self.fail("request to", strip_url_secrets(&e.to_string()))),
            }
            tracing::warn!(source = %self.name, error = %last, attempt, "3CX request failed; retrying");
        }
        Err(self.fail(
            "requests to",
            format!("{last} (gave up after {ATTEMPTS} tries)"),
        ))
    }

    /// An authenticated API call; a 401 gets one new token and one more try.
    async fn api(
        &self,
        http: &reqwest::Client,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response, SourceError> {
        let url = if path.starts_with('/') {
            format!("{}{path}", self.cfg.url)
        } else {
            format!("{}/{path}", self.cfg.url)
        };
        let mut fresh = false;
        loop {
            let token = self.token(http, fresh).await?;
            let resp = self
                .send_with_retries(|| {
                    let mut r = http.request(method.clone(), &url).bearer_auth(&token);
                    if let Some(b) = &body {
                        r = r
                            .header(reqwest::header::CONTENT_TYPE, "application/json")
                            .body(b.to_string());
                    }
                    r
                })
                .await?;
            match resp.status() {
                StatusCode::UNAUTHORIZED if !fresh => fresh = true,
                StatusCode::UNAUTHORIZED => {
                    return Err(self.fail(
                        path,
                        "HTTP 401 even with a new token: check the API client in the 3CX console"
                            .into(),
                    ));
                }
                StatusCode::FORBIDDEN => {
                    return Err(self.fail(
                        path,
                        "HTTP 403: the API client may not do this (the licence must include API access)".into(),
                    ));
                }
                s if !s.is_success() => {
                    let detail = resp.text().await.unwrap_or_default();
                    return Err(self.fail(
                        path,
                        format!("HTTP {s}: {}", detail.chars().take(300).collect::<String>()),
                    ));
                }
                _ => return Ok(resp),
            }
        }
    }

    async fn list(&self, http: &reqwest::Client) -> Result<Vec<BackupEntry>, SourceError> {
        let resp = self
            .api(http, Method::GET, "/xapi/v1/Backups", None)
            .await?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.fail("list backups of", e.to_string()))?;
        let list: ODataList<BackupEntry> = serde_json::from_slice(&body)
            .map_err(|e| self.fail("list backups of", format!("unexpected answer: {e}")))?;
        Ok(list.value)
    }

    async fn create(&self, http: &reqwest::Client) -> Result<BackupEntry, SourceError> {
        let can = self
            .api(
                http,
                Method::GET,
                "/xapi/v1/Backups/Pbx.GetCanCreateBackup()",
                None,
            )
            .await?
            .bytes()
            .await
            .map_err(|e| self.fail("ask", e.to_string()))?;
        let can: ODataBool = serde_json::from_slice(&can)
            .map_err(|e| self.fail("ask", format!("unexpected answer: {e}")))?;
        if !can.value {
            return Err(self.fail(
                "create a backup on",
                "the PBX cannot create a backup now (one is running?); try later".into(),
            ));
        }
        let name = format!(
            "pbx321-{}-{}.zip",
            self.name,
            Utc::now().format("%Y%m%dT%H%M%SZ")
        );
        let has = |c| self.cfg.contents.contains(&c);
        let body = serde_json::json!({"description": {"Name": name, "Contents": {
            "CallHistory": has(BackupContent::CallHistory),
            "Recordings": has(BackupContent::Recordings),
            "VoiceMails": has(BackupContent::Voicemails),
            "License": has(BackupContent::License),
            "FQDN": has(BackupContent::Fqdn),
            "Prompts": has(BackupContent::Prompts),
            "PhoneProvisioning": has(BackupContent::PhoneProvisioning),
            "DisableBackupCompression": false,
            "EncryptBackup": false,
        }}});
        self.api(
            http,
            Method::POST,
            "/xapi/v1/Backups/Pbx.Backup",
            Some(body),
        )
        .await?;
        // No progress endpoint: poll until the file appears with a stable size.
        let deadline = Instant::now() + self.cfg.timeout;
        let mut pause = Duration::from_secs(1);
        let mut last_size = None;
        loop {
            let found = self
                .list(http)
                .await?
                .into_iter()
                .find(|b| b.file_name == name);
            match (found, last_size) {
                (Some(b), Some(s)) if b.size == s && s > 0 => return Ok(b),
                (Some(b), _) => last_size = Some(b.size),
                (None, _) => {}
            }
            if Instant::now() + pause > deadline {
                return Err(self.fail(
                    "wait for the backup on",
                    format!(
                        "{name} did not appear complete within {}",
                        humantime::format_duration(self.cfg.timeout)
                    ),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(10));
        }
    }
}

/// A PBX file name must be a plain `*.zip` name: no directories, no control characters.
pub fn safe_file_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
        && name != ".."
        && !name.starts_with('.')
        && name.to_ascii_lowercase().ends_with(".zip");
    ok.then_some(name)
}

/// Removes `user:password@` from URLs inside an error text.
fn strip_url_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(['/', ' ', ')']).unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

#[async_trait]
impl Source for ThreeCx {
    fn name(&self) -> &str {
        &self.name
    }

    async fn find(&self) -> Result<Origin, SourceError> {
        let http = self.client()?;
        let entry = match self.cfg.mode {
            ThreeCxMode::Create => self.create(&http).await?,
            ThreeCxMode::Latest => {
                let list = self.list(&http).await?;
                list
                    .into_iter()
                    .max_by_key(|b| b.creation_time)
                    .ok_or_else(|| {
                        SourceError::NoBackup(format!(
                            "source {}: the PBX at {} has no backups (set mode = \"create\" or schedule backups in 3CX)",
                            self.name, self.cfg.url
                        ))
                    })?
            }
        };
        let name = safe_file_name(&entry.file_name).ok_or_else(|| {
            SourceError::Invalid(format!(
                "source {}: the PBX named its backup {:?}, which is not a plain .zip file name; refused",
                self.name, entry.file_name
            ))
        })?;
        let link = entry
            .download_link
            .clone()
            .unwrap_or_else(|| format!("/xapi/v1/Backups('{name}')/Pbx.Download()"));
        self.links.lock().await.push((name.to_string(), link));
        Ok(Origin {
            name: name.to_string(),
            time: entry.creation_time,
            size: entry.size,
        })
    }

    async fn open(&self, origin: &Origin) -> Result<Reader, SourceError> {
        let http = self.client()?;
        let link = self
            .links
            .lock()
            .await
            .iter()
            .find(|(n, _)| *n == origin.name)
            .map(|(_, l)| l.clone())
            .ok_or_else(|| {
                self.fail(
                    "download from",
                    format!("{} was not found first", origin.name),
                )
            })?;
        if link.contains("://") && !link.starts_with(&self.cfg.url) {
            return Err(self.fail(
                "download from",
                "the DownloadLink points to another server; refused".into(),
            ));
        }
        let path = link
            .strip_prefix(&self.cfg.url)
            .unwrap_or(&link)
            .to_string();
        let resp = self.api(&http, Method::GET, &path, None).await?;
        let stream = resp.bytes_stream().map_err(std::io::Error::other);
        Ok(Box::new(tokio_util::io::StreamReader::new(stream)))
    }

    async fn stored(&self, origin: &Origin, invariant_ok: bool) {
        if !(self.cfg.delete_after && invariant_ok) {
            return;
        }
        let Ok(http) = self.client() else { return };
        let path = format!("/xapi/v1/Backups('{}')", origin.name);
        match self.api(&http, Method::DELETE, &path, None).await {
            Ok(_) => {
                tracing::info!(source = %self.name, file = %origin.name, "deleted the PBX-side backup")
            }
            Err(e) => {
                tracing::warn!(source = %self.name, error = %e, "could not delete the PBX-side backup")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_data_not_paths() {
        assert_eq!(
            safe_file_name("3CXScheduledBackup.zip"),
            Some("3CXScheduledBackup.zip")
        );
        for bad in [
            "../../etc/passwd.zip",
            "/abs.zip",
            "a\\b.zip",
            "x\u{0}.zip",
            "..",
            ".hidden.zip",
            "notes.txt",
            "",
        ] {
            assert_eq!(safe_file_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            strip_url_secrets(
                "error sending request for url (https://id:secret@pbx:5001/connect/token)"
            ),
            "error sending request for url (https://pbx:5001/connect/token)"
        );
    }
}
