//! What the two 3CX sources (V20 XAPI and V18 console API) share: the HTTP client (rustls,
//! system roots plus an optional `ca_file`), retries with backoff and jitter, errors that name
//! the PBX and what failed (DNS, connect, TLS, timeout, HTTP status) without credentials, the
//! bounded wait for a new backup to be complete, and the download stream.

use std::error::Error as _;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use reqwest::{Method, StatusCode};

use super::SourceError;
use crate::config::BackupContent;
use crate::manifest::Origin;
use crate::stream::Reader;

/// Tries per request, the first included.
const ATTEMPTS: u32 = 5;

/// How one 3CX API authenticates its calls (V20: bearer token, V18: session cookie).
#[async_trait]
pub trait Login: Send + Sync {
    /// A credential, new when `fresh` (after a 401) or when the cached one is stale.
    async fn credential(&self, http: &reqwest::Client, fresh: bool) -> Result<String, SourceError>;
    /// The request with the credential attached.
    fn attach(&self, req: reqwest::RequestBuilder, credential: &str) -> reqwest::RequestBuilder;
    /// What to tell the operator about a 401 that persists after a fresh credential, and
    /// about a 403.
    fn refusals(&self) -> (&'static str, &'static str);
}

/// A backup as a PBX lists it.
pub trait Listed {
    fn file_name(&self) -> &str;
    fn size(&self) -> u64;
    fn created(&self) -> DateTime<Utc>;
}

pub struct PbxHttp {
    /// The source's name, for messages.
    pub name: String,
    /// The PBX's base URL, without a trailing slash.
    pub url: String,
    ca_file: Option<PathBuf>,
    /// Built once per source (the CA file read once), on first use.
    client: std::sync::OnceLock<reqwest::Client>,
}

impl PbxHttp {
    pub fn new(name: &str, url: &str, ca_file: Option<PathBuf>) -> Self {
        PbxHttp {
            name: name.into(),
            url: url.into(),
            ca_file,
            client: std::sync::OnceLock::new(),
        }
    }

    /// The source's HTTP client (cheap to clone: one connection pool), built on first use.
    pub fn client(&self) -> Result<reqwest::Client, SourceError> {
        if let Some(c) = self.client.get() {
            return Ok(c.clone());
        }
        let built = self.build_client()?;
        Ok(self.client.get_or_init(|| built).clone())
    }

    fn build_client(&self) -> Result<reqwest::Client, SourceError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(120));
        if let Some(ca) = &self.ca_file {
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

    /// An error naming the source, what it tried and the PBX.
    pub fn fail(&self, what: &str, detail: String) -> SourceError {
        SourceError::Unavailable(format!(
            "source {}: {what} {}: {detail}",
            self.name, self.url
        ))
    }

    /// The full URL of an API path.
    pub fn url_for(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.url)
        } else {
            format!("{}/{path}", self.url)
        }
    }

    /// The path of a download link the PBX gave, refusing links to other servers.
    pub fn own_path(&self, link: &str) -> Result<String, SourceError> {
        if link.contains("://") && !link.starts_with(&self.url) {
            return Err(self.fail(
                "download from",
                "the download link points to another server; refused".into(),
            ));
        }
        Ok(link.strip_prefix(&self.url).unwrap_or(link).to_string())
    }

    /// Sends a request, retrying transient failures (connect errors, timeouts, 429, 5xx)
    /// with exponential backoff and jitter, bounded in count. TLS failures are not retried.
    pub async fn send_with_retries(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, SourceError> {
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            match make().send().await {
                Ok(r)
                    if r.status().is_server_error()
                        || r.status() == StatusCode::TOO_MANY_REQUESTS =>
                {
                    last = format!("HTTP {}", r.status());
                }
                Ok(r) => return Ok(r),
                Err(e) => {
                    let (kind, detail) = describe(&e);
                    if kind == FailureKind::Tls
                        || !(e.is_connect() || e.is_timeout() || e.is_request())
                    {
                        return Err(self.fail("request to", detail));
                    }
                    last = detail;
                }
            }
            tracing::warn!(source = %self.name, error = %last, attempt, "3CX request failed; retrying");
        }
        Err(self.fail(
            "requests to",
            format!("{last} (gave up after {ATTEMPTS} tries)"),
        ))
    }

    /// An authenticated call; a 401 gets one fresh credential and one more try. 403 and
    /// other failures are errors that say what to fix.
    pub async fn call(
        &self,
        login: &dyn Login,
        http: &reqwest::Client,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response, SourceError> {
        let url = self.url_for(path);
        let (unauthorized, forbidden) = login.refusals();
        let mut fresh = false;
        loop {
            let credential = login.credential(http, fresh).await?;
            let resp = self
                .send_with_retries(|| {
                    let mut r = login.attach(http.request(method.clone(), &url), &credential);
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
                    return Err(self.fail(path, format!("HTTP 401 {unauthorized}")));
                }
                StatusCode::FORBIDDEN => {
                    return Err(SourceError::Forbidden(format!(
                        "source {}: {path} {}: HTTP 403: {forbidden}",
                        self.name, self.url
                    )));
                }
                s if !s.is_success() => return Err(self.status_error(path, resp).await),
                _ => return Ok(resp),
            }
        }
    }

    /// A JSON answer, or an error naming what was asked.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        resp: reqwest::Response,
    ) -> Result<T, SourceError> {
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.fail(what, e.to_string()))?;
        serde_json::from_slice(&body)
            .map_err(|e| self.fail(what, format!("unexpected answer: {e}")))
    }

    /// `open` was called for a backup `find` did not return.
    pub fn not_found_first(&self, origin: &Origin) -> SourceError {
        self.fail(
            "download from",
            format!("{} was not found first", origin.name),
        )
    }

    /// Logs the outcome of deleting the PBX-side file (`delete_after`): a failure is a
    /// warning, never a failed run, as every copy is already stored.
    pub fn log_delete(&self, origin: &Origin, deleted: Result<(), SourceError>) {
        match deleted {
            Ok(()) => {
                tracing::info!(source = %self.name, file = %origin.name, "deleted the PBX-side backup")
            }
            Err(e) => {
                tracing::warn!(source = %self.name, error = %e, "could not delete the PBX-side backup")
            }
        }
    }

    /// A unique name for a backup pbx321 asks the PBX to create.
    pub fn new_backup_name(&self) -> String {
        format!(
            "pbx321-{}-{}.zip",
            self.name,
            Utc::now().format("%Y%m%dT%H%M%SZ")
        )
    }

    /// The newest backup by creation time (`mode = "latest"`).
    pub fn newest<E: Listed>(&self, list: Vec<E>) -> Result<E, SourceError> {
        list.into_iter().max_by_key(E::created).ok_or_else(|| {
            SourceError::NoBackup(format!(
                "source {}: the PBX at {} has no backups (set mode = \"create\" or schedule backups in 3CX)",
                self.name, self.url
            ))
        })
    }

    /// What the manifest records of a listed backup, refusing names that are not plain
    /// `*.zip` file names.
    pub fn origin<E: Listed>(&self, entry: &E) -> Result<Origin, SourceError> {
        let name = safe_file_name(entry.file_name()).ok_or_else(|| {
            SourceError::Invalid(format!(
                "source {}: the PBX named its backup {:?}, which is not a plain .zip file name; refused",
                self.name,
                entry.file_name()
            ))
        })?;
        Ok(Origin {
            name: name.to_string(),
            time: entry.created(),
            size: entry.size(),
        })
    }

    /// Polls `list` with backoff, bounded by `timeout`, until `name` appears with the same
    /// non-zero size on two polls (3CX has no progress endpoint). Returns the last entry.
    pub async fn wait_until_complete<E, F, Fut>(
        &self,
        name: &str,
        timeout: Duration,
        list: F,
    ) -> Result<E, SourceError>
    where
        E: Listed,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Vec<E>, SourceError>>,
    {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_secs(1);
        let mut last_size = None;
        loop {
            let found = list().await?.into_iter().find(|b| b.file_name() == name);
            match (found, last_size) {
                (Some(b), Some(s)) if b.size() == s && s > 0 => return Ok(b),
                (Some(b), _) => last_size = Some(b.size()),
                (None, _) => {}
            }
            if Instant::now() + pause > deadline {
                return Err(self.fail(
                    "wait for the backup on",
                    format!(
                        "{name} did not appear complete within {}",
                        humantime::format_duration(timeout)
                    ),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(10));
        }
    }

    /// An unexpected HTTP status as an error, with the start of the PBX's answer.
    pub async fn status_error(&self, what: &str, resp: reqwest::Response) -> SourceError {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        self.fail(
            what,
            format!(
                "HTTP {status}: {}",
                crate::escape::text(&body.chars().take(300).collect::<String>())
            ),
        )
    }
}

/// What a created backup holds, as both 3CX APIs name it.
pub fn contents_json(contents: &[BackupContent]) -> serde_json::Value {
    let has = |c| contents.contains(&c);
    serde_json::json!({
        "CallHistory": has(BackupContent::CallHistory),
        "Recordings": has(BackupContent::Recordings),
        "VoiceMails": has(BackupContent::Voicemails),
        "License": has(BackupContent::License),
        "FQDN": has(BackupContent::Fqdn),
        "Prompts": has(BackupContent::Prompts),
        "PhoneProvisioning": has(BackupContent::PhoneProvisioning),
    })
}

/// The body of a successful download, as a stream straight into the seal.
pub fn body_reader(resp: reqwest::Response) -> Reader {
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    Box::new(tokio_util::io::StreamReader::new(stream))
}

/// The pause before try `attempt`: 250 ms doubling, up to 12.5 % more at random.
fn backoff(attempt: u32) -> Duration {
    RETRY.pause(attempt)
}

const RETRY: crate::backoff::Backoff = crate::backoff::Backoff {
    attempts: ATTEMPTS,
    first: Duration::from_millis(250),
    max: Duration::from_secs(30),
    jitter: 0.125,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Dns,
    Connect,
    Tls,
    Timeout,
    Other,
}

/// What failed, in words an operator can act on, from the whole error chain (reqwest's own
/// message only says "error sending request"), with credentials removed from URLs.
pub fn describe(e: &reqwest::Error) -> (FailureKind, String) {
    let mut chain = Vec::new();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !chain.iter().any(|t: &String| t.contains(&text)) {
            chain.push(text);
        }
        cur = c.source();
    }
    let all = chain.join(": ").to_ascii_lowercase();
    let kind = if e.is_timeout() || all.contains("timed out") {
        FailureKind::Timeout
    } else if all.contains("dns error") || all.contains("failed to lookup address") {
        FailureKind::Dns
    } else if [
        "certificate",
        "tls",
        "handshake",
        "received fatal alert",
        "peer is incompatible",
        "peer misbehaved",
    ]
    .iter()
    .any(|w| all.contains(w))
    {
        FailureKind::Tls
    } else if e.is_connect() {
        FailureKind::Connect
    } else {
        FailureKind::Other
    };
    let label = match kind {
        FailureKind::Dns => "DNS lookup failed",
        FailureKind::Connect => "could not connect",
        FailureKind::Tls => {
            "TLS failed (a PBX with a private CA needs ca_file = \"/path/to/ca.pem\")"
        }
        FailureKind::Timeout => "timed out",
        FailureKind::Other => "request failed",
    };
    let detail = if chain.is_empty() {
        e.to_string()
    } else {
        chain.join(": ")
    };
    (kind, format!("{label}: {}", strip_url_secrets(&detail)))
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
pub fn strip_url_secrets(text: &str) -> String {
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

    /// Fails every lookup, as a resolver does for an unknown name (no DNS server is asked).
    struct NoSuchName;

    impl reqwest::dns::Resolve for NoSuchName {
        fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
            Box::pin(async {
                Err::<reqwest::dns::Addrs, _>(Box::new(std::io::Error::other(
                    "failed to lookup address information: Name or service not known",
                ))
                    as Box<dyn std::error::Error + Send + Sync>)
            })
        }
    }

    async fn failure(client: reqwest::Client, url: &str) -> (FailureKind, String) {
        let e = client.get(url).send().await.expect_err("the request fails");
        describe(&e)
    }

    #[tokio::test]
    async fn failures_are_told_apart() {
        // Nothing listens on a port that was free a moment ago.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (kind, text) = failure(reqwest::Client::new(), &format!("http://{closed}/")).await;
        assert_eq!(kind, FailureKind::Connect, "{text}");
        assert!(text.starts_with("could not connect"), "{text}");

        // A server that accepts and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let _conn = silent.accept().await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let (kind, text) = failure(client, &format!("http://{addr}/")).await;
        assert_eq!(kind, FailureKind::Timeout, "{text}");
        assert!(text.starts_with("timed out"), "{text}");
        held.abort();

        let client = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(NoSuchName))
            .build()
            .unwrap();
        let (kind, text) = failure(client, "http://user:pw@pbx.invalid:5001/").await;
        assert_eq!(kind, FailureKind::Dns, "{text}");
        assert!(text.starts_with("DNS lookup failed"), "{text}");
        assert!(!text.contains("pw@"), "{text}");
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(backoff(2) < Duration::from_millis(500));
        assert!(backoff(5) >= Duration::from_secs(2));
        assert!(backoff(5) < Duration::from_millis(2250));
    }
}
