//! Real servers for the tests, each on a free loopback port and stopped on drop: a moto S3
//! server (installed into `.venv` by scripts/test.sh), and a fault-injecting HTTP proxy to
//! put in front of it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A moto S3 server.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/test.sh, which installs moto[server] into .venv",
            bin.display()
        );
        let port = free_port();
        let mut child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, &mut child, "moto_server");
        Moto { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An S3 client for test set-up and inspection, talking to `endpoint` directly.
pub fn s3_client(endpoint: &str) -> Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    Client::from_conf(conf)
}

/// Creates a bucket, with Object Lock (and so versioning) when asked.
pub async fn create_bucket(client: &Client, bucket: &str, object_lock: bool) {
    client
        .create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(object_lock)
        .send()
        .await
        .unwrap();
}

/// What the proxy does to a request it matches.
#[derive(Clone, Debug)]
pub enum Action {
    /// Answer with this HTTP status and an S3 error body, without forwarding.
    Status(u16),
    /// Read part of the request body, then drop the connection.
    Cut,
}

#[derive(Clone, Debug)]
pub struct Fault {
    /// Applies to requests whose method and path+query contain these.
    pub method: &'static str,
    pub query_contains: &'static str,
    /// How many matching requests get the fault; later ones pass.
    pub times: u32,
    pub action: Action,
}

/// A forwarding HTTP proxy in front of `upstream` that injects faults.
pub struct FaultProxy {
    pub port: u16,
    faults: Arc<Mutex<Vec<Fault>>>,
    /// Requests seen, as "METHOD path?query".
    pub seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: u16) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let faults: Arc<Mutex<Vec<Fault>>> = Arc::default();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (f, s) = (faults.clone(), seen.clone());
        let task = tokio::spawn(async move {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http::<Full<Bytes>>();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (f, s, client) = (f.clone(), s.clone(), client.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (f, s, client) = (f.clone(), s.clone(), client.clone());
                        async move { handle(req, upstream, &f, &s, &client).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            port,
            faults,
            seen,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn inject(&self, fault: Fault) {
        self.faults.lock().unwrap().push(fault);
    }

    /// How many requests matched `method` and `query_contains`.
    pub fn count(&self, method: &str, query_contains: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.starts_with(method) && r.contains(query_contains))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type ProxyClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

async fn handle(
    req: Request<Incoming>,
    upstream: u16,
    faults: &Mutex<Vec<Fault>>,
    seen: &Mutex<Vec<String>>,
    client: &ProxyClient,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path_q = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let line = format!("{} {path_q}", req.method());
    seen.lock().unwrap().push(line.clone());
    let action = {
        let mut faults = faults.lock().unwrap();
        faults
            .iter_mut()
            .find(|f| {
                f.times > 0 && line.starts_with(f.method) && path_q.contains(f.query_contains)
            })
            .map(|f| {
                f.times -= 1;
                f.action.clone()
            })
    };
    match action {
        Some(Action::Status(code)) => {
            let _ = req.into_body().collect().await;
            let (code_name, message) = match code {
                403 => ("AccessDenied", "Access Denied"),
                503 => ("SlowDown", "Please reduce your request rate."),
                _ => (
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                ),
            };
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code_name}</Code><Message>{message}</Message><RequestId>proxy</RequestId></Error>"
            );
            Ok(Response::builder()
                .status(code)
                .header("content-type", "application/xml")
                .body(Full::new(Bytes::from(body)))
                .unwrap())
        }
        Some(Action::Cut) => {
            let mut body = req.into_body();
            let _ = body.frame().await;
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "fault injected: connection cut mid-request",
            ))
        }
        None => {
            let (parts, body) = req.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            let uri: hyper::Uri = format!("http://127.0.0.1:{upstream}{path_q}")
                .parse()
                .unwrap();
            let mut fwd = Request::builder().method(parts.method).uri(uri);
            for (k, v) in parts.headers.iter() {
                fwd = fwd.header(k, v);
            }
            let resp = client
                .request(fwd.body(Full::new(bytes)).unwrap())
                .await
                .map_err(std::io::Error::other)?;
            let (parts, body) = resp.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            Ok(Response::from_parts(parts, Full::new(bytes)))
        }
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real OpenSSH sshd on a free loopback port, with a throwaway host key and a client key,
/// serving `root` (a temp dir) over SFTP. Killed, with its sessions, on drop.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Sshd {
    pub fn start() -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in ["host_key", "client_key", "other_host_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(name)));
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        std::fs::create_dir_all(d.join("root")).unwrap();
        // sshd wants its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let mut s = Sshd {
            dir,
            port: free_port(),
            child: None,
        };
        s.write_known_hosts("host_key.pub", "known_hosts");
        s.write_known_hosts("other_host_key.pub", "wrong_known_hosts");
        s.restart();
        s
    }

    fn write_known_hosts(&self, key: &str, file: &str) {
        let d = self.dir.path();
        let public = std::fs::read_to_string(d.join(key)).unwrap();
        let mut fields = public.split_whitespace();
        let (kind, blob) = (fields.next().unwrap(), fields.next().unwrap());
        std::fs::write(
            d.join(file),
            format!("[127.0.0.1]:{} {kind} {blob}\n", self.port),
        )
        .unwrap();
    }

    /// (Re)starts sshd on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let d = self.dir.path();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\nPidFile {pid}\nLogLevel ERROR\n",
            port = self.port,
            hk = d.join("host_key").display(),
            ak = d.join("authorized_keys").display(),
            pid = d.join("sshd.pid").display(),
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd must be installed (scripts/test.sh installs openssh-server)");
        wait_for_port(self.port, &mut child, "sshd");
        self.child = Some(child);
    }

    /// Kills sshd and every session it serves.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Each connection is served by a child sshd in a session of its own: kill those
            // first, then the listener.
            let _ = Command::new("pkill")
                .args(["-KILL", "-P", &c.id().to_string()])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn endpoint(&self) -> String {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        format!("ssh://{user}@127.0.0.1:{}", self.port)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    pub fn wrong_known_hosts(&self) -> PathBuf {
        self.dir.path().join("wrong_known_hosts")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `rclone serve webdav` on a free loopback port with basic auth, serving a temp dir.
pub struct Rclone {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

pub const DAV_USER: &str = "backup";
pub const DAV_PASS: &str = "dav-secret-42";

impl Rclone {
    pub fn start() -> Rclone {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        let mut r = Rclone {
            dir,
            port: free_port(),
            child: None,
        };
        r.restart();
        r
    }

    pub fn restart(&mut self) {
        self.stop();
        let mut child = Command::new("rclone")
            .args(["serve", "webdav"])
            .arg(self.root())
            .args([
                "--addr",
                &format!("127.0.0.1:{}", self.port),
                "--user",
                DAV_USER,
                "--pass",
                DAV_PASS,
                "--config",
                "/dev/null",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rclone must be installed (scripts/test.sh installs it)");
        wait_for_port(self.port, &mut child, "rclone serve webdav");
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
}

impl Drop for Rclone {
    fn drop(&mut self) {
        self.stop();
    }
}
