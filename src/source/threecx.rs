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
use reqwest::Method;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::pbx_http::{Listed, Login, PbxHttp, body_reader, contents_json};
use super::{Source, SourceError};
use crate::config::{ThreeCxMode, ThreeCxSource};
use crate::manifest::Origin;
use crate::stream::Reader;

mod into;
mod security;
pub use into::{Extras, Identity};

pub struct ThreeCx {
    name: String,
    cfg: ThreeCxSource,
    http: PbxHttp,
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

impl Listed for BackupEntry {
    fn file_name(&self) -> &str {
        &self.file_name
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn created(&self) -> DateTime<Utc> {
        self.creation_time
    }
}

#[derive(Debug, Deserialize)]
struct ODataList<T> {
    value: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct ODataBool {
    value: bool,
}

#[async_trait]
impl Login for ThreeCx {
    /// A bearer token, fetched when missing or about to expire.
    async fn credential(&self, http: &reqwest::Client, fresh: bool) -> Result<String, SourceError> {
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
            .http
            .send_with_retries(|| http.post(self.http.url_for("/connect/token")).form(&form))
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(self.http.fail(
                "token from",
                match status.as_u16() {
                    400 | 401 => format!(
                        "HTTP {status}: the client id or secret is wrong (3CX admin console: Admin > Integrations > API)"
                    ),
                    _ => format!("HTTP {status}"),
                },
            ));
        }
        let t: TokenResponse = self.http.json("token from", resp).await?;
        let until = Instant::now() + token_lifetime(t.expires_in);
        *cached = Some((t.access_token.clone(), until));
        Ok(t.access_token)
    }

    fn attach(&self, req: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
        req.bearer_auth(token)
    }

    fn refusals(&self) -> (&'static str, &'static str) {
        (
            "even with a new token: check the API client in the 3CX console",
            "the API client may not do this (the licence must include API access)",
        )
    }
}

/// How long to use a token: `expires_in` is minutes before 3CX 20.0.9 and seconds since;
/// read as seconds, clamped to [60 s, 24 h] (never longer than the truth), renewed at 80 %.
fn token_lifetime(expires_in: Option<u64>) -> Duration {
    Duration::from_secs(expires_in.unwrap_or(60).clamp(60, 24 * 3600) * 4 / 5)
}

impl ThreeCx {
    pub fn new(name: &str, cfg: ThreeCxSource) -> Self {
        ThreeCx {
            name: name.into(),
            http: PbxHttp::new(name, &cfg.url, cfg.ca_file.clone()),
            cfg,
            token: Mutex::new(None),
            links: Mutex::new(Vec::new()),
        }
    }

    async fn api(
        &self,
        http: &reqwest::Client,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response, SourceError> {
        self.http.call(self, http, method, path, body).await
    }

    async fn list(&self, http: &reqwest::Client) -> Result<Vec<BackupEntry>, SourceError> {
        let resp = self
            .api(http, Method::GET, "/xapi/v1/Backups", None)
            .await?;
        let list: ODataList<BackupEntry> = self.http.json("list backups of", resp).await?;
        Ok(list.value)
    }

    async fn create(&self, http: &reqwest::Client) -> Result<BackupEntry, SourceError> {
        let resp = self
            .api(
                http,
                Method::GET,
                "/xapi/v1/Backups/Pbx.GetCanCreateBackup()",
                None,
            )
            .await?;
        let can: ODataBool = self.http.json("ask", resp).await?;
        if !can.value {
            return Err(self.http.fail(
                "create a backup on",
                "the PBX cannot create a backup now (one is running?); try later".into(),
            ));
        }
        let name = self.http.new_backup_name();
        let mut contents = contents_json(&self.cfg.contents);
        contents["DisableBackupCompression"] = false.into();
        contents["EncryptBackup"] = false.into();
        let body = serde_json::json!({"description": {"Name": name, "Contents": contents}});
        self.api(
            http,
            Method::POST,
            "/xapi/v1/Backups/Pbx.Backup",
            Some(body),
        )
        .await?;
        self.http
            .wait_until_complete(&name, self.cfg.timeout, || self.list(http))
            .await
    }
}

/// Why an endpoint could not be read, for readiness (a 403 told apart).
fn unreadable(e: &SourceError) -> crate::facts::pbx::Unreadable {
    crate::facts::pbx::Unreadable {
        forbidden: matches!(e, SourceError::Forbidden(_)),
        why: e.to_string(),
    }
}

impl ThreeCx {
    /// `GET path` as `T` (an OData function's answer may be wrapped in `value`).
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        http: &reqwest::Client,
        path: &str,
    ) -> crate::facts::pbx::Fetched<T> {
        let resp = self
            .api(http, Method::GET, path, None)
            .await
            .map_err(|e| unreadable(&e))?;
        let v: serde_json::Value = self
            .http
            .json(path, resp)
            .await
            .map_err(|e| unreadable(&e))?;
        let inner = match v.get("value") {
            Some(x) if x.is_object() => x.clone(),
            _ => v,
        };
        serde_json::from_value(inner).map_err(|e| crate::facts::pbx::Unreadable {
            forbidden: false,
            why: format!("unexpected answer from {path}: {e}"),
        })
    }

    /// `GET path` as an OData collection (`{"value": [...]}`).
    async fn read_list<T: serde::de::DeserializeOwned>(
        &self,
        http: &reqwest::Client,
        path: &str,
    ) -> crate::facts::pbx::Fetched<Vec<T>> {
        let list: ODataList<T> = self.read(http, path).await?;
        Ok(list.value)
    }
}

/// `/xapi/v1/Backups('<name>')`: the name is data inside an OData string literal (a quote
/// doubled) and a URL path (reserved characters escaped), never part of the path's syntax.
fn backup_path(name: &str) -> String {
    const ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'/')
        .add(b'?')
        .add(b'\'')
        .add(b'<')
        .add(b'>')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'\\')
        .add(b'^')
        .add(b'|');
    let literal = name.replace('\'', "''");
    format!(
        "/xapi/v1/Backups('{}')",
        percent_encoding::utf8_percent_encode(&literal, ESCAPE)
    )
}

#[async_trait]
impl Source for ThreeCx {
    fn name(&self) -> &str {
        &self.name
    }

    async fn find(&self) -> Result<Origin, SourceError> {
        let http = self.http.client()?;
        let entry = match self.cfg.mode {
            ThreeCxMode::Create => self.create(&http).await?,
            ThreeCxMode::Latest => self.http.newest(self.list(&http).await?)?,
        };
        let origin = self.http.origin(&entry)?;
        let link = entry
            .download_link
            .clone()
            .unwrap_or_else(|| format!("{}/Pbx.Download()", backup_path(&origin.name)));
        self.links.lock().await.push((origin.name.clone(), link));
        Ok(origin)
    }

    /// The readiness facts: nineteen read-only XAPI calls at once, with the same token.
    async fn readiness(&self) -> Option<crate::facts::pbx::PbxFacts> {
        use crate::facts::pbx::PbxFacts;
        let http = match self.http.client() {
            Ok(h) => h,
            Err(e) => {
                let u = unreadable(&e);
                return Some(PbxFacts {
                    system: Err(u.clone()),
                    health: Err(u.clone()),
                    trunks: Err(u.clone()),
                    outbound_rules: Err(u.clone()),
                    website_links: Err(u.clone()),
                    backup_settings: Err(u.clone()),
                    backup_repository: Err(u.clone()),
                    security: crate::facts::pbx::SecurityFacts::unreadable(&u),
                    failover: Err(u),
                });
            }
        };
        // One token first, so the eight calls share it.
        let _ = self.credential(&http, false).await;
        let (
            (system, health, trunks, outbound_rules, website_links, settings, repository, failover),
            security,
        ) = futures::join!(
            async {
                futures::join!(
                    self.read::<crate::facts::pbx::SystemStatus>(&http, "/xapi/v1/SystemStatus"),
                    self.read(&http, "/xapi/v1/SystemStatus/Pbx.SystemHealthStatus()"),
                    self.read_list(&http, "/xapi/v1/Trunks?$expand=Gateway"),
                    self.read_list(&http, "/xapi/v1/OutboundRules"),
                    self.read_list(&http, "/xapi/v1/WebsiteLinks"),
                    self.read(&http, "/xapi/v1/Backups/Pbx.GetBackupSettings()"),
                    self.read(&http, "/xapi/v1/Backups/Pbx.GetBackupRepositorySettings()"),
                    self.read(&http, "/xapi/v1/Backups/Pbx.GetBackupFailoverSettings()"),
                )
            },
            self.read_security(&http),
        );
        Some(PbxFacts {
            system,
            health,
            trunks,
            outbound_rules,
            website_links,
            backup_settings: settings,
            backup_repository: repository,
            failover,
            security,
        })
    }

    /// The PBX's version and configuration counts, read with the token that found the
    /// backup.
    async fn shape(&self, _origin: &Origin) -> Option<crate::manifest::PbxShape> {
        Some(self.read_shape().await)
    }

    /// Logs in and lists the PBX's backups; creates nothing.
    async fn probe(&self) -> Result<String, SourceError> {
        let http = self.http.client()?;
        let list = self.list(&http).await?;
        Ok(format!(
            "logged in to 3CX; it lists {} backup(s)",
            list.len()
        ))
    }

    async fn open(&self, origin: &Origin) -> Result<Reader, SourceError> {
        let http = self.http.client()?;
        let link = self
            .links
            .lock()
            .await
            .iter()
            .find(|(n, _)| *n == origin.name)
            .map(|(_, l)| l.clone())
            .ok_or_else(|| self.http.not_found_first(origin))?;
        let path = self.http.own_path(&link)?;
        let resp = self.api(&http, Method::GET, &path, None).await?;
        Ok(body_reader(resp))
    }

    async fn stored(&self, origin: &Origin, invariant_ok: bool) {
        if !(self.cfg.delete_after && invariant_ok) {
            return;
        }
        let path = backup_path(&origin.name);
        let deleted = match self.http.client() {
            Ok(http) => self.api(&http, Method::DELETE, &path, None).await.map(drop),
            Err(e) => Err(e),
        };
        self.http.log_delete(origin, deleted);
    }
}

/// What pbx321 makes of a PBX's answers, without a PBX: the backups of a `GET Backups`
/// answer as origins (each checked as `find` checks it) and the lifetime of a token answer.
/// The fuzzer feeds these arbitrary bytes (`fuzz/`); they must never panic.
pub fn parse_answers(list: &[u8], token: &[u8]) -> (Vec<Result<Origin, SourceError>>, Option<u64>) {
    let http = PbxHttp::new("fuzz", "https://pbx.invalid", None);
    let origins = serde_json::from_slice::<ODataList<BackupEntry>>(list)
        .map(|l| l.value.iter().map(|e| http.origin(e)).collect())
        .unwrap_or_default();
    let lifetime = serde_json::from_slice::<TokenResponse>(token)
        .ok()
        .map(|t| token_lifetime(t.expires_in).as_secs());
    (origins, lifetime)
}

#[cfg(test)]
mod tests {
    #[test]
    fn backup_names_are_escaped_in_odata_paths() {
        assert_eq!(
            super::backup_path("3CXScheduledBackup.zip"),
            "/xapi/v1/Backups('3CXScheduledBackup.zip')"
        );
        assert_eq!(
            super::backup_path("it's #1?.zip"),
            "/xapi/v1/Backups('it%27%27s%20%231%3F.zip')"
        );
    }
}
