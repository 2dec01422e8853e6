//! An emulator of the 3CX V20 XAPI endpoints pbx321 uses, on a free loopback port, with
//! switchable faults. It serves realistic backup zips (`helpers::sample_zip`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

pub const CLIENT_ID: &str = "pbx321";
pub const SECRET: &str = "xapi-secret-7f3a9c";

#[derive(Default, Clone)]
pub struct Faults {
    /// The token endpoint refuses the client.
    pub invalid_client: bool,
    /// `expires_in` of issued tokens (3600 when 0).
    pub expires_in: u64,
    /// The first token stops working after this many uses (a token expiring mid-run).
    pub first_token_uses: Option<u32>,
    /// This many `GET Backups` answer 503 first.
    pub server_errors: u32,
    /// Downloads stop at half the file.
    pub truncate_download: bool,
    /// Created backups are damaged zips.
    pub corrupt_zip: bool,
    /// Created backups never show up in the list.
    pub never_appears: bool,
    /// The list holds a newer backup named with a path.
    pub traversal_name: bool,
    /// Downloads arrive slowly, in small pieces.
    pub slow_download: bool,
    /// The API answers 403 (the licence lacks API access).
    pub forbidden: bool,
}

pub struct Backup {
    pub name: String,
    pub created: DateTime<Utc>,
    pub bytes: Vec<u8>,
    /// `GET Backups` calls before it shows up.
    pub hidden_polls: u32,
}

#[derive(Default)]
pub struct State {
    pub faults: Faults,
    pub backups: Vec<Backup>,
    pub tokens_issued: u32,
    valid: HashSet<String>,
    first_token_used: u32,
    pub deleted: Vec<String>,
    pub requests: Vec<String>,
}

pub struct Pbx {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Pbx {
    /// Starts the emulator on its own runtime (so plain `#[test]`s can use it).
    pub fn start(faults: Faults) -> Pbx {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(Mutex::new(State {
            faults,
            ..State::default()
        }));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let st = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(req, &st).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Pbx {
            port,
            state,
            runtime: Some(runtime),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Adds an existing backup (as 3CX's scheduler would have made it).
    pub fn add_backup(&self, name: &str, created: DateTime<Utc>, bytes: Vec<u8>) {
        self.state.lock().unwrap().backups.push(Backup {
            name: name.into(),
            created,
            bytes,
            hidden_polls: 0,
        });
    }
}

impl Drop for Pbx {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn json(status: StatusCode, v: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())))
        .unwrap()
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn xapi_error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(
        status,
        serde_json::json!({"error": {"code": "", "message": message, "details": []}}),
    )
}

async fn handle(req: Request<Incoming>, st: &Mutex<State>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").to_string());
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    st.lock().unwrap().requests.push(format!("{method} {path}"));

    if method == Method::POST && path == "/connect/token" {
        let form: Vec<(String, String)> = url_pairs(&body);
        let get = |k: &str| form.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        let mut s = st.lock().unwrap();
        if s.faults.invalid_client
            || get("grant_type").as_deref() != Some("client_credentials")
            || get("client_id").as_deref() != Some(CLIENT_ID)
            || get("client_secret").as_deref() != Some(SECRET)
        {
            return json(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"error": "invalid_client"}),
            );
        }
        s.tokens_issued += 1;
        let token = format!("tok-{}", s.tokens_issued);
        s.valid.insert(token.clone());
        let expires = if s.faults.expires_in == 0 {
            3600
        } else {
            s.faults.expires_in
        };
        return json(
            StatusCode::OK,
            serde_json::json!({"token_type": "Bearer", "expires_in": expires,
                "access_token": token, "refresh_token": "r"}),
        );
    }

    // Everything else needs a valid token.
    {
        let mut s = st.lock().unwrap();
        let Some(token) = auth.filter(|t| s.valid.contains(t)) else {
            return empty(StatusCode::UNAUTHORIZED);
        };
        if token == "tok-1"
            && let Some(limit) = s.faults.first_token_uses
        {
            s.first_token_used += 1;
            if s.first_token_used > limit {
                s.valid.remove(&token);
                return empty(StatusCode::UNAUTHORIZED);
            }
        }
    }

    if st.lock().unwrap().faults.forbidden {
        return xapi_error(StatusCode::FORBIDDEN, "Forbidden");
    }
    if path.starts_with("/download/") && st.lock().unwrap().faults.slow_download {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
    let mut s = st.lock().unwrap();
    match (method, path.as_str()) {
        (Method::GET, "/xapi/v1/Backups/Pbx.GetCanCreateBackup()") => {
            json(StatusCode::OK, serde_json::json!({"value": true}))
        }
        (Method::POST, "/xapi/v1/Backups/Pbx.Backup") => {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let Some(name) = v["description"]["Name"].as_str().map(str::to_string) else {
                return xapi_error(StatusCode::BAD_REQUEST, "Name is required");
            };
            let mut bytes = crate::helpers::sample_zip(90, 50_000);
            if s.faults.corrupt_zip {
                let mid = bytes.len() / 2;
                bytes[mid] ^= 0xff;
            }
            let hidden_polls = if s.faults.never_appears { u32::MAX } else { 1 };
            s.backups.push(Backup {
                name,
                created: Utc::now(),
                bytes,
                hidden_polls,
            });
            empty(StatusCode::NO_CONTENT)
        }
        (Method::GET, "/xapi/v1/Backups") => {
            if s.faults.server_errors > 0 {
                s.faults.server_errors -= 1;
                return xapi_error(StatusCode::SERVICE_UNAVAILABLE, "busy");
            }
            let mut value = Vec::new();
            for b in s.backups.iter_mut() {
                if b.hidden_polls > 0 {
                    b.hidden_polls = b.hidden_polls.saturating_sub(1);
                    continue;
                }
                value.push(serde_json::json!({
                    "FileName": b.name,
                    "CreationTime": b.created.to_rfc3339(),
                    "Size": b.bytes.len(),
                    "DownloadLink": format!("/download/{}?t=1", b.name),
                }));
            }
            if s.faults.traversal_name {
                value.push(serde_json::json!({
                    "FileName": "../../../etc/cron.d/evil.zip",
                    "CreationTime": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
                    "Size": 10,
                    "DownloadLink": "/download/evil",
                }));
            }
            json(StatusCode::OK, serde_json::json!({ "value": value }))
        }
        (Method::GET, p) if p.starts_with("/download/") => {
            let name = p.trim_start_matches("/download/");
            let Some(b) = s.backups.iter().find(|b| b.name == name) else {
                return empty(StatusCode::NOT_FOUND);
            };
            let mut bytes = b.bytes.clone();
            if s.faults.truncate_download {
                bytes.truncate(bytes.len() / 2);
            }
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/zip")
                .body(Full::new(Bytes::from(bytes)))
                .unwrap()
        }
        (Method::DELETE, p) if p.starts_with("/xapi/v1/Backups('") => {
            let name = p
                .trim_start_matches("/xapi/v1/Backups('")
                .trim_end_matches("')")
                .to_string();
            s.backups.retain(|b| b.name != name);
            s.deleted.push(name);
            empty(StatusCode::NO_CONTENT)
        }
        _ => xapi_error(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}

/// `a=b&c=d` (values as 3CX's clients send them: no escaping needed for the test values).
fn url_pairs(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%2D", "-")))
        .collect()
}
