//! A 3CX V18 system through its management console API, with an administrator login.
//!
//! - Session: `POST /api/login {"Username","Password"}` sets a session cookie, kept for the
//!   run; a 401 logs in once more and retries once.
//! - `GET /api/BackupAndRestoreList` → `{"list":[{Id, FileName, CreationTime, Version, Size,
//!   IsEncrypted}]}`; `mode = "create"` first asks `POST /api/BackupAndRestoreList/backup`
//!   for a backup with a unique name and waits, bounded by `timeout`, until it is listed with
//!   the same Size on two polls; `mode = "latest"` takes the newest by CreationTime.
//! - Download: `download_path` (default `/api/BackupAndRestoreList/download?file={file}`),
//!   streamed straight into the seal. 3CX never published the V18 console API; the download
//!   path and the create body are what pbx321 assumes, which is why the path is a setting.
//! - `delete_after`: `POST /api/BackupAndRestoreList/delete {"Ids":[id]}` once the rule holds.
//!
//! Retries, TLS, safe file names and error wording are shared with V20 ([`super::pbx_http`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::pbx_http::{Listed, Login, PbxHttp, body_reader, contents_json};
use super::{Source, SourceError};
use crate::config::{ThreeCxMode, ThreeCxV18Source};
use crate::manifest::Origin;
use crate::stream::Reader;

pub struct ThreeCxV18 {
    name: String,
    cfg: ThreeCxV18Source,
    http: PbxHttp,
    /// The `Cookie` header of the current session.
    session: Mutex<Option<String>>,
    /// The Id and version of each backup `find` chose, by file name.
    ids: Mutex<Vec<(String, i64, Option<String>)>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BackupEntry {
    id: i64,
    file_name: String,
    creation_time: DateTime<Utc>,
    size: u64,
    /// The 3CX version the backup was made by.
    #[serde(default)]
    version: Option<String>,
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
struct BackupList {
    list: Vec<BackupEntry>,
}

/// The backups of a V18 `GET /api/BackupAndRestoreList` answer as origins, each checked as
/// `find` checks it. For the fuzzer (`fuzz/`): arbitrary bytes must never panic.
pub fn parse_list(body: &[u8]) -> Vec<Result<Origin, SourceError>> {
    let http = PbxHttp::new("fuzz", "https://pbx.invalid", None);
    serde_json::from_slice::<BackupList>(body)
        .map(|l| l.list.iter().map(|e| http.origin(e)).collect())
        .unwrap_or_default()
}

#[async_trait]
impl Login for ThreeCxV18 {
    /// The session cookie, logging in when there is none (or `fresh` asks for a new one).
    async fn credential(&self, http: &reqwest::Client, fresh: bool) -> Result<String, SourceError> {
        let mut cached = self.session.lock().await;
        if !fresh && let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let password = self
            .cfg
            .password
            .resolve()
            .map_err(|e| SourceError::Invalid(format!("source {}: {e}", self.name)))?;
        let body = serde_json::json!({"Username": self.cfg.username, "Password": password});
        let resp = self
            .http
            .send_with_retries(|| {
                http.post(self.http.url_for("/api/login"))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string())
            })
            .await?;
        let status = resp.status();
        // The session is what the login sets: `name=value` of each Set-Cookie.
        let cookie = resp
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::trim)
            .filter(|v| v.contains('='))
            .collect::<Vec<_>>()
            .join("; ");
        let answer = resp.text().await.unwrap_or_default();
        // 3CX answers a wrong login with 200 "AuthFailed" and no session (or a 401).
        let refused = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST)
            || (status.is_success() && (cookie.is_empty() || answer.contains("AuthFail")));
        if refused {
            return Err(self.http.fail(
                "log in to",
                format!(
                    "HTTP {status}: the username or password is wrong (a 3CX V18 administrator login)"
                ),
            ));
        }
        if !status.is_success() {
            return Err(self.http.fail(
                "log in to",
                format!(
                    "HTTP {status}: {}",
                    answer.chars().take(300).collect::<String>()
                ),
            ));
        }
        *cached = Some(cookie.clone());
        Ok(cookie)
    }

    fn attach(&self, req: reqwest::RequestBuilder, cookie: &str) -> reqwest::RequestBuilder {
        req.header(reqwest::header::COOKIE, cookie)
    }

    fn refusals(&self) -> (&'static str, &'static str) {
        (
            "even after a new login: check the administrator account",
            "this login may not manage backups (use an administrator)",
        )
    }
}

impl ThreeCxV18 {
    pub fn new(name: &str, cfg: ThreeCxV18Source) -> Self {
        ThreeCxV18 {
            name: name.into(),
            http: PbxHttp::new(name, &cfg.url, cfg.ca_file.clone()),
            cfg,
            session: Mutex::new(None),
            ids: Mutex::new(Vec::new()),
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
            .api(http, Method::GET, "/api/BackupAndRestoreList", None)
            .await?;
        let list: BackupList = self.http.json("list backups of", resp).await?;
        Ok(list.list)
    }

    async fn create(&self, http: &reqwest::Client) -> Result<BackupEntry, SourceError> {
        let name = self.http.new_backup_name();
        let body = serde_json::json!({
            "Name": name,
            "Contents": contents_json(&self.cfg.contents),
            "EncryptBackup": false,
        });
        self.api(
            http,
            Method::POST,
            "/api/BackupAndRestoreList/backup",
            Some(body),
        )
        .await?;
        self.http
            .wait_until_complete(&name, self.cfg.timeout, || self.list(http))
            .await
    }

    fn download_path(&self, name: &str, id: i64) -> String {
        self.cfg
            .download_path
            .replace(
                "{file}",
                &utf8_percent_encode(name, NON_ALPHANUMERIC).to_string(),
            )
            .replace("{id}", &id.to_string())
    }

    async fn id_of(&self, name: &str) -> Option<i64> {
        self.ids
            .lock()
            .await
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, id, _)| *id)
    }
}

#[async_trait]
impl Source for ThreeCxV18 {
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
        self.ids
            .lock()
            .await
            .push((origin.name.clone(), entry.id, entry.version.clone()));
        Ok(origin)
    }

    /// V18's list tells the version a backup was made by (no configuration counts).
    async fn shape(&self, origin: &Origin) -> Option<crate::manifest::PbxShape> {
        let version = self
            .ids
            .lock()
            .await
            .iter()
            .find(|(n, _, _)| *n == origin.name)
            .and_then(|(_, _, v)| v.clone())
            .filter(|v| crate::manifest::check_version(v).is_ok())?;
        Some(crate::manifest::PbxShape {
            version: Some(version),
            fingerprint: None,
        })
    }

    /// Logs in and lists the PBX's backups; creates nothing.
    async fn probe(&self) -> Result<String, SourceError> {
        let http = self.http.client()?;
        let list = self.list(&http).await?;
        Ok(format!(
            "logged in to 3CX V18; it lists {} backup(s)",
            list.len()
        ))
    }

    async fn open(&self, origin: &Origin) -> Result<Reader, SourceError> {
        let http = self.http.client()?;
        let id = self
            .id_of(&origin.name)
            .await
            .ok_or_else(|| self.http.not_found_first(origin))?;
        let path = self.download_path(&origin.name, id);
        let resp = self.api(&http, Method::GET, &path, None).await?;
        Ok(body_reader(resp))
    }

    async fn stored(&self, origin: &Origin, invariant_ok: bool) {
        if !(self.cfg.delete_after && invariant_ok) {
            return;
        }
        let Some(id) = self.id_of(&origin.name).await else {
            return;
        };
        let body = serde_json::json!({"Ids": [id]});
        let deleted = match self.http.client() {
            Ok(http) => self
                .api(
                    &http,
                    Method::POST,
                    "/api/BackupAndRestoreList/delete",
                    Some(body),
                )
                .await
                .map(drop),
            Err(e) => Err(e),
        };
        self.http.log_delete(origin, deleted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn download_paths_escape_the_file_name() {
        let cfg = ThreeCxV18Source {
            url: "https://pbx:5001".into(),
            username: "admin".into(),
            password: Secret::Inline("x".into()),
            mode: ThreeCxMode::Latest,
            contents: vec![],
            delete_after: false,
            ca_file: None,
            timeout: std::time::Duration::from_secs(1),
            download_path: "/api/x?file={file}&id={id}".into(),
        };
        let s = ThreeCxV18::new("hq", cfg);
        assert_eq!(
            s.download_path("3CX Backup&1.zip", -112157339),
            "/api/x?file=3CX%20Backup%261%2Ezip&id=-112157339"
        );
    }
}
