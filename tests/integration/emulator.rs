//! An emulator of the 3CX endpoints pbx321 uses (V20 XAPI and the V18 console API), on a
//! free loopback port, plain HTTP or HTTPS with a certificate from its own test CA, with
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
/// The V18 administrator login.
pub const V18_USER: &str = "admin";
pub const V18_PASSWORD: &str = "v18-pass-41c2e8";

#[derive(Default, Clone)]
pub struct Faults {
    /// The token endpoint refuses the client (V18: the login is refused).
    pub invalid_client: bool,
    /// `expires_in` of issued tokens (3600 when 0).
    pub expires_in: u64,
    /// The first token (V18: session) stops working after this many uses (expiring mid-run).
    pub first_token_uses: Option<u32>,
    /// This many `GET Backups` answer 503 first.
    pub server_errors: u32,
    /// Then this many answer 429 (too many requests).
    pub too_many_requests: u32,
    /// This many connections are closed as soon as they are accepted.
    pub dropped_connections: u32,
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
    /// V20 DownloadLinks point to another server.
    pub foreign_link: bool,
    /// Created backups are encrypted by 3CX with [`BACKUP_PASSWORD`].
    pub encrypted_backups: bool,
    /// After a restore the PBX never answers again.
    pub never_back: bool,
    /// After a restore the PBX has one trunk fewer than the backup (a lost trunk).
    pub lose_trunk: bool,
    /// The repository never lists placed files.
    pub repository_blind: bool,
    /// `GetBackupExtras` gives a footprint `Pbx.Restore` then refuses (the file changed).
    pub stale_footprint: bool,
    /// `$count` answers 403 (a role that may not read the collections): no fingerprint.
    pub forbid_counts: bool,
}

/// 3CX's own backup password of `encrypted_backups`.
pub const BACKUP_PASSWORD: &str = "3cx-backup-password";
/// The version the emulated PBX runs unless told otherwise.
pub const VERSION: &str = "20.0.9.1200";
/// The configuration counts of the emulated PBX: users, trunks, outbound rules, groups,
/// queues, ring groups.
pub const COUNTS: [u64; 6] = [12, 2, 3, 1, 1, 2];
/// The collections `$count` answers for, in [`COUNTS`]' order.
const COLLECTIONS: [&str; 6] = [
    "Users",
    "Trunks",
    "OutboundRules",
    "Groups",
    "Queues",
    "RingGroups",
];
/// The entry of an emulated backup that says what PBX made it (never encrypted).
const SHAPE_ENTRY: &str = "emulator-pbx.json";

/// The PBX's own readiness, as XAPI reports it (SystemStatus, Trunks, OutboundRules, …).
/// Default: a ready PBX.
#[derive(Default, Clone)]
pub struct Readiness {
    /// One trunk, a rule without a second route, no website link, automatic updates off,
    /// 3CX's own backups local and unencrypted, phones on unsupported firmware.
    pub fragile: bool,
    /// (ready) the second trunk is offline.
    pub trunk_offline: bool,
    /// (ready) both trunks register to one provider.
    pub one_provider: bool,
    /// `GET Trunks` answers 403 (the API client's role may not read it).
    pub forbid_trunks: bool,
    /// (ready) hundreds of addresses auto-blacklisted in the last hour.
    pub under_attack: bool,
    /// (ready) three extensions with weak credentials.
    pub weak_credentials: bool,
    /// (ready) the admin console open to every address.
    pub open_console: bool,
    /// `GET AntiHackingSettings` answers 403.
    pub forbid_anti_hacking: bool,
}

/// What the emulated PBX holds that is personal or secret: it must never reach an output.
pub const PERSONAL: &[&str] = &[
    "Alice",
    "Liddell",
    "alice@customer.example",
    "alerts-owner@customer.example",
    "192.0.2.66",
    "198.51.100.23",
    "Bob's laptop",
];

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
    pub readiness: Readiness,
    pub backups: Vec<Backup>,
    /// Tokens issued (V20) or logins accepted (V18).
    pub tokens_issued: u32,
    /// The body of the last V18 create request.
    pub v18_create_body: Option<serde_json::Value>,
    valid: HashSet<String>,
    first_token_used: u32,
    pub deleted: Vec<String>,
    pub requests: Vec<String>,
    /// The PBX's version (`VERSION` when unset).
    pub version: Option<String>,
    /// Its configuration counts (`COUNTS` when unset).
    pub counts: Option<[u64; 6]>,
    /// The FQDN it reports (`hq.3cx.example` when unset).
    pub fqdn: Option<String>,
    /// The folder of its backup repository, whose `*.zip` files `GET Backups` lists.
    pub repository: Option<std::path::PathBuf>,
    /// Restarting after a restore: every request answers 503 until then.
    pub restarting_until: Option<std::time::Instant>,
    /// How long a restart lasts (2 s when unset).
    pub restart: Option<std::time::Duration>,
    /// The files restored, in order.
    pub restored: Vec<String>,
}

impl State {
    pub fn version(&self) -> String {
        self.version.clone().unwrap_or_else(|| VERSION.into())
    }
    pub fn counts(&self) -> [u64; 6] {
        self.counts.unwrap_or(COUNTS)
    }
}

pub struct Pbx {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
    /// The PEM of the test CA that signed the server's certificate, when serving HTTPS.
    pub ca_pem: Option<String>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Pbx {
    /// Starts the emulator on its own runtime (so plain `#[test]`s can use it).
    pub fn start(faults: Faults) -> Pbx {
        Self::start_with(faults, None)
    }

    /// Starts the emulator serving HTTPS for `127.0.0.1` with a certificate from a fresh
    /// test CA (`ca_pem`), which no system trusts.
    pub fn start_tls(faults: Faults) -> Pbx {
        let (acceptor, ca_pem) = test_tls();
        let mut pbx = Self::start_with(faults, Some(acceptor));
        pbx.ca_pem = Some(ca_pem);
        pbx
    }

    fn start_with(faults: Faults, tls: Option<tokio_rustls::TlsAcceptor>) -> Pbx {
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
                {
                    let mut s = st.lock().unwrap();
                    if s.faults.dropped_connections > 0 {
                        s.faults.dropped_connections -= 1;
                        drop(stream);
                        continue;
                    }
                }
                let st = st.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve(stream, st).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(stream, st).await
                            }
                        }
                    }
                });
            }
        });
        Pbx {
            port,
            state,
            ca_pem: None,
            runtime: Some(runtime),
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
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

async fn serve<S>(io: S, st: Arc<Mutex<State>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let st = st.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(req, &st).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// A TLS acceptor for `127.0.0.1` and `localhost`, and the PEM of the CA that signed it.
pub fn test_tls() -> (tokio_rustls::TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "pbx321 test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "pbx.test");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        ca_cert.pem(),
    )
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
    let cookie = req
        .headers()
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let query = req.uri().query().unwrap_or_default().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    st.lock().unwrap().requests.push(format!("{method} {path}"));
    {
        let s = st.lock().unwrap();
        if let Some(until) = s.restarting_until
            && (s.faults.never_back || std::time::Instant::now() < until)
        {
            return empty(StatusCode::SERVICE_UNAVAILABLE);
        }
    }

    if path.starts_with("/api/") {
        return handle_v18(method, &path, &query, cookie, &body, st).await;
    }
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
            create_backup(&mut s, name);
            empty(StatusCode::NO_CONTENT)
        }
        (Method::GET, "/xapi/v1/Backups") => {
            if let Some(status) = busy(&mut s) {
                return xapi_error(status, "busy");
            }
            let host = if s.faults.foreign_link {
                "http://127.0.0.1:1"
            } else {
                ""
            };
            let mut value: Vec<_> = visible(&mut s)
                .into_iter()
                .map(|(_, name, created, size)| {
                    serde_json::json!({
                        "FileName": name,
                        "CreationTime": created.to_rfc3339(),
                        "Size": size,
                        "DownloadLink": format!("{host}/download/{name}?t=1"),
                    })
                })
                .collect();
            if !s.faults.repository_blind {
                for (name, bytes) in repository_files(&s) {
                    value.push(serde_json::json!({
                        "FileName": name, "CreationTime": Utc::now().to_rfc3339(),
                        "Size": bytes.len(), "DownloadLink": format!("/download/{name}?t=1"),
                    }));
                }
            }
            json(StatusCode::OK, serde_json::json!({ "value": value }))
        }
        (Method::GET, p) if security_answer(&s.readiness, p, &query).is_some() => {
            match security_answer(&s.readiness, p, &query) {
                Some(Ok(v)) => json(StatusCode::OK, v),
                _ => xapi_error(StatusCode::FORBIDDEN, "Forbidden"),
            }
        }
        (Method::GET, p)
            if query.contains("$count=true")
                && query.contains("$top=0")
                && COLLECTIONS.contains(&p.trim_start_matches("/xapi/v1/")) =>
        {
            if s.faults.forbid_counts {
                return xapi_error(StatusCode::FORBIDDEN, "Forbidden");
            }
            let i = COLLECTIONS
                .iter()
                .position(|c| *c == p.trim_start_matches("/xapi/v1/"))
                .unwrap();
            json(
                StatusCode::OK,
                serde_json::json!({"@odata.count": s.counts()[i], "value": []}),
            )
        }
        (Method::GET, "/xapi/v1/SystemStatus") => {
            let mut v = readiness_answer(&s.readiness, "/xapi/v1/SystemStatus")
                .unwrap()
                .unwrap();
            v["Version"] = s.version().into();
            v["FQDN"] = s
                .fqdn
                .clone()
                .unwrap_or_else(|| "hq.3cx.example".into())
                .into();
            json(StatusCode::OK, v)
        }
        (Method::GET, p)
            if p.starts_with("/xapi/v1/Backups('") && p.ends_with("/Pbx.GetBackupExtras()") =>
        {
            let name = quoted_name(p);
            match backup_bytes(&s, &name) {
                Some(bytes) => {
                    let (version, _, encrypted) = shape_of(&bytes).unwrap_or_default();
                    let stale = i64::from(s.faults.stale_footprint);
                    json(
                        StatusCode::OK,
                        serde_json::json!({"Footprint": footprint(&bytes) ^ stale,
                            "IsEncrypted": encrypted, "Version": version}),
                    )
                }
                None => xapi_error(StatusCode::NOT_FOUND, "Backup not found"),
            }
        }
        (Method::POST, p) if p.starts_with("/xapi/v1/Backups('") && p.ends_with("/Pbx.Restore") => {
            let name = quoted_name(p);
            restore(&mut s, &name, &body)
        }
        (Method::GET, p) if readiness_answer(&s.readiness, p).is_some() => {
            match readiness_answer(&s.readiness, p) {
                Some(Ok(v)) => json(StatusCode::OK, v),
                _ => xapi_error(StatusCode::FORBIDDEN, "Forbidden"),
            }
        }
        (Method::GET, p) if p.starts_with("/download/") => {
            download(&s, p.trim_start_matches("/download/"))
        }
        (Method::DELETE, p) if p.starts_with("/xapi/v1/Backups('") => {
            let quoted = p
                .trim_start_matches("/xapi/v1/Backups('")
                .trim_end_matches("')");
            let name = percent_encoding::percent_decode_str(quoted)
                .decode_utf8_lossy()
                .replace("''", "'");
            s.backups.retain(|b| b.name != name);
            if let Some(dir) = &s.repository
                && !name.contains('/')
            {
                let _ = std::fs::remove_file(dir.join(&name));
            }
            s.deleted.push(name);
            empty(StatusCode::NO_CONTENT)
        }
        _ => xapi_error(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}

/// The answer of a readiness endpoint (`Err`: 403), `None` for other paths.
fn readiness_answer(r: &Readiness, path: &str) -> Option<Result<serde_json::Value, ()>> {
    use serde_json::json;
    let now = Utc::now();
    let fragile = r.fragile;
    let v = match path {
        "/xapi/v1/SystemStatus" => json!({
            "Id": 1, "FQDN": "hq.3cx.example", "Version": "20.0.9.1200",
            "AutoUpdateEnabled": !fragile,
            "LastSuccessfulUpdate": (now - chrono::Duration::days(if fragile { 200 } else { 12 })).to_rfc3339(),
            "LastCheckForUpdates": (now - chrono::Duration::days(1)).to_rfc3339(),
            "HasNotRunningServices": false,
            "LicenseActive": true,
            "MaintenanceExpiresAt": (now + chrono::Duration::days(300)).to_rfc3339(),
            "FreeDiskSpace": 40_000_000_000u64, "TotalDiskSpace": 100_000_000_000u64,
            "TrunksRegistered": 1, "TrunksTotal": 2, "CallsActive": 0,
        }),
        "/xapi/v1/SystemStatus/Pbx.SystemHealthStatus()" => json!({
            "Id": 1, "Firewall": true, "Phones": !fragile, "Trunks": true,
            "UnsupportedFirmwaresCount": if fragile { 2 } else { 0 }, "CustomTemplatesCount": 0,
        }),
        "/xapi/v1/Trunks" => {
            if r.forbid_trunks {
                return Some(Err(()));
            }
            let trunk = |id: i64, name: &str, host: &str, online: bool, sms: bool| {
                json!({"Id": id, "Number": format!("1000{id}"), "IsOnline": online,
                    "Gateway": {"Id": id, "Name": name, "Host": host, "Port": 5060},
                    "Messaging": {"Enabled": sms, "Provider": "Generic"}})
            };
            let value = if fragile {
                vec![trunk(1, "Vodafone", "sip.vodafone.example", true, false)]
            } else {
                vec![
                    trunk(1, "Vodafone", "sip.vodafone.example", true, true),
                    if r.one_provider {
                        trunk(
                            2,
                            "Vodafone backup",
                            "sip.vodafone.example",
                            !r.trunk_offline,
                            false,
                        )
                    } else {
                        trunk(
                            2,
                            "Telefonica",
                            "sip.telefonica.example",
                            !r.trunk_offline,
                            false,
                        )
                    },
                ]
            };
            json!({ "value": value })
        }
        "/xapi/v1/OutboundRules" => {
            let route = |id: i64| json!({"TrunkId": id, "TrunkName": format!("Trunk {id}"), "StripDigits": 0});
            let mut value = vec![
                json!({"Id": 1, "Name": "Emergency", "EmergencyRule": true, "Priority": 0, "Routes": [route(1)]}),
            ];
            if fragile {
                value.push(json!({"Id": 2, "Name": "National", "EmergencyRule": false, "Priority": 1, "Routes": [route(1)]}));
                value.push(json!({"Id": 3, "Name": "Mobile", "EmergencyRule": false, "Priority": 2, "Routes": [route(1), route(1)]}));
            } else {
                value.push(json!({"Id": 2, "Name": "National", "EmergencyRule": false, "Priority": 1, "Routes": [route(1), route(2)]}));
            }
            json!({ "value": value })
        }
        "/xapi/v1/WebsiteLinks" => {
            let value = if fragile {
                vec![]
            } else {
                vec![
                    json!({"Id": 1, "Link": "hq-support", "Name": "Support", "ChatEnabled": true,
                    "CallsEnabled": true, "MeetingEnabled": false, "Hidden": false,
                    "Website": ["https://www.example.com"]}),
                ]
            };
            json!({ "value": value })
        }
        "/xapi/v1/Backups/Pbx.GetBackupSettings()" => json!({
            "ScheduleEnabled": true, "Rotation": 5,
            "Contents": {"EncryptBackup": !fragile, "CallHistory": true, "Recordings": false},
        }),
        "/xapi/v1/Backups/Pbx.GetBackupRepositorySettings()" => json!({
            "Location": {"FileSystemType": if fragile { "Local" } else { "Sftp" },
                "SftpPath": if fragile { "" } else { "sftp://nas.example/3cx" }},
        }),
        "/xapi/v1/Backups/Pbx.GetBackupFailoverSettings()" => json!({
            "Enabled": !fragile, "Mode": "Active", "RemoteServer": if fragile { "" } else { "10.0.0.9" },
            "Interval": 60, "TestSIPServer": true, "TestTunnel": false, "TestWebServer": true,
        }),
        _ => return None,
    };
    Some(Ok(v))
}

/// The security endpoints (`Err`: 403), `None` for other paths. Each answer carries the
/// personal data a real PBX holds ([`PERSONAL`]), whatever `$select` asks, so that a test
/// sees pbx321 never shows it.
fn security_answer(
    r: &Readiness,
    path: &str,
    query: &str,
) -> Option<Result<serde_json::Value, ()>> {
    use serde_json::json;
    let now = Utc::now();
    let fragile = r.fragile;
    let v = match path {
        "/xapi/v1/AntiHackingSettings" => {
            if r.forbid_anti_hacking {
                return Some(Err(()));
            }
            json!({"SecurityDefenseProgram": !fragile,
                "HackAuthRequests": if fragile { 100 } else { 3 }, "HackChallengeRequests": 10,
                "HackBlacklistDuration": if fragile { 60 } else { 86400 },
                "MaxRequestPerPeriod": 1000, "ThrottlePeriodLength": 1,
                "HackBarrierGreen": 3, "HackBarrierAmber": 5, "HackBarrierRed": 25})
        }
        "/xapi/v1/Blocklist" => {
            let auto = |ip: &str, hours_ago: i64| {
                json!({"Id": 1, "IPAddrMask": ip, "AddedBy": "AutoBlacklist",
                "BlockType": "Block", "Description": "anti-hacking",
                "ExpiresAt": (now + chrono::Duration::hours(24 - hours_ago)).to_rfc3339()})
            };
            let mut value = vec![
                auto("192.0.2.66", 30),
                json!({"Id": 2, "IPAddrMask": "198.51.100.23", "AddedBy": "Manual", "BlockType": "Allow",
                    "Description": "office", "ExpiresAt": null}),
            ];
            if r.under_attack {
                value.extend((0..300).map(|i| auto(&format!("203.0.113.{}", i % 250), 0)));
            }
            if query.contains("AutoBlacklist") {
                value.retain(|v| v["AddedBy"] == "AutoBlacklist");
            }
            json!({"@odata.count": value.len(), "value": value})
        }
        "/xapi/v1/Users" if !query.contains("$top=0") => {
            let user = |n: u32, weak: bool| {
                json!({"Id": n, "Number": n.to_string(), "FirstName": "Alice",
                "LastName": "Liddell", "EmailAddress": "alice@customer.example",
                "Tags": if weak { json!(["WeakPass"]) } else { json!(["MS"]) }})
            };
            let weak = r.weak_credentials || fragile;
            let value: Vec<_> = (100..112)
                .map(|n| user(n, weak && matches!(n, 101 | 104 | 107)))
                .collect();
            json!({"@odata.count": value.len(), "value": value})
        }
        "/xapi/v1/ConsoleRestrictions" => {
            let open = fragile || r.open_console;
            json!({"Id": "1", "AccessRestricted": !open,
                "IpWhitelist": if open { json!([]) } else { json!(["198.51.100.23"]) },
                "MyIpAddress": "192.0.2.66"})
        }
        "/xapi/v1/Firewall/Pbx.GetLastResult()" => json!({"value": !fragile}),
        "/xapi/v1/HasDebianUpgrade()" => json!({"value": fragile}),
        "/xapi/v1/GetUpdatesStats()" => {
            json!({"TcxUpdate": [{"Category": "Pbx", "Count": if fragile { 3 } else { 0 }}], "PerPage": []})
        }
        "/xapi/v1/NotificationSettings" => json!({
            "EmailAddresses": if fragile { "" } else { "alerts-owner@customer.example" },
            "NotifySystemOwners": !fragile, "NotifyServiceStopped": !fragile,
            "NotifyUpdatesAvailable": true, "NotifyExtensionAdded": false}),
        "/xapi/v1/SyslogSettings" => json!({
            "IntegrationType": if fragile { "None" } else { "Custom" },
            "CustomRelayConfig": {"Host": "siem.ops.example", "Port": 514, "Protocol": "Tcp"}}),
        "/xapi/v1/OAuthClients" => json!({"value": [
            {"Id": "1", "ClientId": "pbx321", "CreatedAt": (now - chrono::Duration::days(400)).to_rfc3339(),
                "UsedAt": now.to_rfc3339(), "CreatedBy": "Alice Liddell"},
            {"Id": "2", "ClientId": "old-crm", "CreatedAt": (now - chrono::Duration::days(500)).to_rfc3339(),
                "UsedAt": (now - chrono::Duration::days(if fragile { 200 } else { 10 })).to_rfc3339(),
                "CreatedBy": "Alice Liddell"},
        ]}),
        "/xapi/v1/SecurityTokens" => json!({"value": [
            {"Id": 1, "ClientId": "pbx321", "DisplayName": "Bob's laptop", "CreatedByIp": "192.0.2.66",
                "Expires": (now + chrono::Duration::days(1)).to_rfc3339(), "Revoked": null},
        ]}),
        _ => return None,
    };
    Some(Ok(v))
}

/// A 503 or 429 while a burst of them lasts.
fn busy(s: &mut State) -> Option<StatusCode> {
    if s.faults.server_errors > 0 {
        s.faults.server_errors -= 1;
        return Some(StatusCode::SERVICE_UNAVAILABLE);
    }
    if s.faults.too_many_requests > 0 {
        s.faults.too_many_requests -= 1;
        return Some(StatusCode::TOO_MANY_REQUESTS);
    }
    None
}

/// A backup the PBX was asked to make, shown after one poll (or never, by fault).
fn create_backup(s: &mut State, name: String) {
    let plain = if s.faults.encrypted_backups {
        crate::helpers::sample_encrypted_zip(91)
    } else {
        crate::helpers::sample_zip(90, 50_000)
    };
    let mut bytes = with_shape(plain, &s.version(), s.counts(), s.faults.encrypted_backups);
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
}

/// A backup zip with the entry that says what PBX made it (its version and counts).
pub fn with_shape(zip: Vec<u8>, version: &str, counts: [u64; 6], encrypted: bool) -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new_append(std::io::Cursor::new(zip)).unwrap();
    z.start_file(SHAPE_ENTRY, zip::write::SimpleFileOptions::default())
        .unwrap();
    let shape = serde_json::json!({"Version": version, "Counts": counts, "Encrypted": encrypted});
    z.write_all(shape.to_string().as_bytes()).unwrap();
    z.finish().unwrap().into_inner()
}

/// What an emulated backup says of the PBX that made it: (version, counts, encrypted).
fn shape_of(zip: &[u8]) -> Option<(String, [u64; 6], bool)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).ok()?;
    let mut entry = archive.by_name(SHAPE_ENTRY).ok()?;
    let mut text = String::new();
    entry.read_to_string(&mut text).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let counts: Vec<u64> = v["Counts"]
        .as_array()?
        .iter()
        .filter_map(|n| n.as_u64())
        .collect();
    Some((
        v["Version"].as_str()?.to_string(),
        counts.try_into().ok()?,
        v["Encrypted"].as_bool()?,
    ))
}

/// 3CX's footprint of a backup file (here: the first 8 bytes of its sha256, as i64).
fn footprint(bytes: &[u8]) -> i64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    i64::from_be_bytes(d[..8].try_into().unwrap())
}

/// The files of the repository folder: (name, bytes).
fn repository_files(s: &State) -> Vec<(String, Vec<u8>)> {
    let Some(dir) = &s.repository else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".zip") && e.file_type().is_ok_and(|t| t.is_file()) {
            out.push((name, std::fs::read(e.path()).unwrap_or_default()));
        }
    }
    out.sort();
    out
}

/// The bytes of a backup the PBX holds, in memory or in its repository.
fn backup_bytes(s: &State, name: &str) -> Option<Vec<u8>> {
    s.backups
        .iter()
        .find(|b| b.name == name)
        .map(|b| b.bytes.clone())
        .or_else(|| {
            repository_files(s)
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, b)| b)
        })
}

/// `Backups('<name>')/...`: the name inside.
fn quoted_name(p: &str) -> String {
    let quoted = p
        .trim_start_matches("/xapi/v1/Backups('")
        .split("')")
        .next()
        .unwrap_or_default();
    percent_encoding::percent_decode_str(quoted)
        .decode_utf8_lossy()
        .replace("''", "'")
}

/// `Pbx.Restore`: the footprint, the password and the version checked as 3CX does; then
/// the PBX restarts and comes back as the backup was.
fn restore(s: &mut State, name: &str, body: &[u8]) -> Response<Full<Bytes>> {
    let Some(bytes) = backup_bytes(s, name) else {
        return xapi_error(StatusCode::NOT_FOUND, "Backup not found");
    };
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if v["footprint"].as_i64() != Some(footprint(&bytes)) {
        return xapi_error(StatusCode::BAD_REQUEST, "Invalid footprint");
    }
    let Some((version, counts, encrypted)) = shape_of(&bytes) else {
        return xapi_error(StatusCode::BAD_REQUEST, "Not a 3CX backup");
    };
    if newer(&version, &s.version()) {
        return xapi_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "The backup version {version} is newer than the PBX version {}",
                s.version()
            ),
        );
    }
    if encrypted && v["password"].as_str() != Some(BACKUP_PASSWORD) {
        return xapi_error(StatusCode::BAD_REQUEST, "Wrong backup password");
    }
    let mut counts = counts;
    if s.faults.lose_trunk {
        counts[1] = counts[1].saturating_sub(1);
    }
    s.counts = Some(counts);
    s.restored.push(name.into());
    let restart = s.restart.unwrap_or(std::time::Duration::from_secs(2));
    s.restarting_until = Some(std::time::Instant::now() + restart);
    empty(StatusCode::NO_CONTENT)
}

/// Whether version `a` is newer than `b` (numerically, part by part).
fn newer(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a) > parts(b)
}

/// The backups a list call shows now: (V18 Id, file name, creation time, size).
fn visible(s: &mut State) -> Vec<(i64, String, DateTime<Utc>, usize)> {
    let mut out = Vec::new();
    for (i, b) in s.backups.iter_mut().enumerate() {
        if b.hidden_polls > 0 {
            b.hidden_polls = b.hidden_polls.saturating_sub(1);
            continue;
        }
        out.push((v18_id(i), b.name.clone(), b.created, b.bytes.len()));
    }
    if s.faults.traversal_name {
        out.push((
            666,
            "../../../etc/cron.d/evil.zip".into(),
            Utc::now() + chrono::Duration::hours(1),
            10,
        ));
    }
    out
}

/// 3CX V18 Ids are signed numbers, often negative.
fn v18_id(index: usize) -> i64 {
    -112_157_339 + index as i64
}

fn download(s: &State, name: &str) -> Response<Full<Bytes>> {
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

/// The V18 console API: a login sets a session cookie that every other call needs.
async fn handle_v18(
    method: Method,
    path: &str,
    query: &str,
    cookie: Option<String>,
    body: &[u8],
    st: &Mutex<State>,
) -> Response<Full<Bytes>> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if method == Method::POST && path == "/api/login" {
        let mut s = st.lock().unwrap();
        if s.faults.invalid_client || v["Username"] != V18_USER || v["Password"] != V18_PASSWORD {
            // 3CX answers a wrong login with 200 and no session.
            return Response::builder()
                .status(StatusCode::OK)
                .body(Full::new(Bytes::from_static(b"AuthFailed")))
                .unwrap();
        }
        s.tokens_issued += 1;
        let session = format!("sess-{}", s.tokens_issued);
        s.valid.insert(session.clone());
        return Response::builder()
            .status(StatusCode::OK)
            .header(
                "set-cookie",
                format!(".AspNetCore.Cookies={session}; path=/; secure; samesite=strict; httponly"),
            )
            .body(Full::new(Bytes::from_static(b"AuthSuccess")))
            .unwrap();
    }
    {
        let mut s = st.lock().unwrap();
        let session = cookie
            .as_deref()
            .and_then(|c| {
                c.split("; ")
                    .find_map(|kv| kv.strip_prefix(".AspNetCore.Cookies="))
            })
            .map(str::to_string);
        let Some(session) = session.filter(|t| s.valid.contains(t)) else {
            return empty(StatusCode::UNAUTHORIZED);
        };
        if session == "sess-1"
            && let Some(limit) = s.faults.first_token_uses
        {
            s.first_token_used += 1;
            if s.first_token_used > limit {
                s.valid.remove(&session);
                return empty(StatusCode::UNAUTHORIZED);
            }
        }
        if s.faults.forbidden {
            return empty(StatusCode::FORBIDDEN);
        }
    }
    if path == "/api/BackupAndRestoreList/download" && st.lock().unwrap().faults.slow_download {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
    let mut s = st.lock().unwrap();
    match (method, path) {
        (Method::GET, "/api/BackupAndRestoreList") => {
            if let Some(status) = busy(&mut s) {
                return empty(status);
            }
            let list: Vec<_> = visible(&mut s)
                .into_iter()
                .map(|(id, name, created, size)| {
                    serde_json::json!({
                        "Id": id,
                        "FileName": name,
                        // 3CX V18 writes seven fractional digits and an offset.
                        "CreationTime": format!(
                            "{}.{:07}+00:00",
                            created.format("%Y-%m-%dT%H:%M:%S"),
                            created.timestamp_subsec_nanos() / 100
                        ),
                        "Version": "18.0.9.20",
                        "Size": size,
                        "IsEncrypted": false,
                        "Footprint": 0,
                    })
                })
                .collect();
            json(StatusCode::OK, serde_json::json!({ "list": list }))
        }
        (Method::POST, "/api/BackupAndRestoreList/backup") => {
            let Some(name) = v["Name"].as_str().map(str::to_string) else {
                return empty(StatusCode::BAD_REQUEST);
            };
            s.v18_create_body = Some(v.clone());
            create_backup(&mut s, name);
            json(StatusCode::OK, serde_json::json!({}))
        }
        (Method::GET, "/api/BackupAndRestoreList/download") => {
            let name = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("file="))
                .map(|n| {
                    percent_encoding::percent_decode_str(n)
                        .decode_utf8_lossy()
                        .to_string()
                })
                .unwrap_or_default();
            download(&s, &name)
        }
        (Method::POST, "/api/BackupAndRestoreList/delete") => {
            let ids: Vec<i64> = v["Ids"]
                .as_array()
                .map(|a| a.iter().filter_map(|i| i.as_i64()).collect())
                .unwrap_or_default();
            let names: Vec<String> = (0..s.backups.len())
                .filter(|i| ids.contains(&v18_id(*i)))
                .map(|i| s.backups[i].name.clone())
                .collect();
            s.backups.retain(|b| !names.contains(&b.name));
            s.deleted.extend(names);
            json(StatusCode::OK, serde_json::json!({}))
        }
        _ => empty(StatusCode::NOT_FOUND),
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
