//! Issue 16, notifications from `pbx321 backup`: a webhook, a healthchecks-style ping and
//! e-mail, received by servers the test starts on loopback — an HTTP capture and an SMTP
//! server that speaks STARTTLS with a certificate from a throwaway CA.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::helpers::*;

/// One HTTP request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// An HTTP server on loopback that records every request and answers `status`.
pub struct Capture {
    port: u16,
    got: Arc<Mutex<Vec<Request>>>,
    _rt: tokio::runtime::Runtime,
}

impl Capture {
    pub fn start(status: u16) -> Capture {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let g = Arc::clone(&g);
                tokio::spawn(async move {
                    let mut r = BufReader::new(stream);
                    let mut line = String::new();
                    if r.read_line(&mut line).await.is_err() {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    let mut headers = Vec::new();
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).await.unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.trim().split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                            headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
                        }
                    }
                    let mut body = vec![0; len];
                    let _ = r.read_exact(&mut body).await;
                    g.lock().unwrap().push(Request {
                        path,
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let reason = if status == 200 { "OK" } else { "Error" };
                    let _ = r
                        .get_mut()
                        .write_all(
                            format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                                .as_bytes(),
                        )
                        .await;
                });
            }
        });
        Capture { port, got, _rt: rt }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }
}

/// One e-mail as received.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// The session had switched to TLS when the message came.
    pub tls: bool,
    pub auth: Option<String>,
    pub data: String,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An SMTP server on loopback: offers STARTTLS (a test CA's certificate) unless told not
/// to, takes AUTH PLAIN, records what it is given.
pub struct Smtp {
    pub port: u16,
    pub ca_pem: String,
    mails: Arc<Mutex<Vec<Mail>>>,
    /// Commands received, in order, over all sessions.
    commands: Arc<Mutex<Vec<String>>>,
    _rt: tokio::runtime::Runtime,
}

impl Smtp {
    pub fn start(offer_starttls: bool) -> Smtp {
        let (acceptor, ca_pem) = crate::emulator::test_tls();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let commands = Arc::new(Mutex::new(Vec::new()));
        let (m, c) = (Arc::clone(&mails), Arc::clone(&commands));
        rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (m, c, acceptor) = (Arc::clone(&m), Arc::clone(&c), acceptor.clone());
                tokio::spawn(async move {
                    let _ = session(Box::new(stream), offer_starttls, acceptor, m, c).await;
                });
            }
        });
        Smtp {
            port,
            ca_pem,
            mails,
            commands,
            _rt: rt,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }
}

async fn session(
    stream: Box<dyn Io>,
    offer_starttls: bool,
    acceptor: tokio_rustls::TlsAcceptor,
    mails: Arc<Mutex<Vec<Mail>>>,
    commands: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let mut r = BufReader::new(stream);
    let mut tls = false;
    let mut mail = Mail::default();
    r.get_mut().write_all(b"220 pbx321-test ESMTP\r\n").await?;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        commands.lock().unwrap().push(cmd.clone());
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            if offer_starttls && !tls {
                b"250-pbx321-test\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n"
            } else {
                b"250-pbx321-test\r\n250 AUTH PLAIN LOGIN\r\n"
            }
        } else if upper == "STARTTLS" {
            r.get_mut().write_all(b"220 go ahead\r\n").await?;
            let inner = r.into_inner();
            let upgraded = acceptor.accept(inner).await?;
            r = BufReader::new(Box::new(upgraded));
            tls = true;
            continue;
        } else if upper.starts_with("AUTH PLAIN") {
            mail.auth = cmd.split_whitespace().nth(2).map(str::to_string);
            b"235 2.7.0 accepted\r\n"
        } else if upper.starts_with("MAIL FROM") || upper.starts_with("RCPT TO") {
            b"250 ok\r\n"
        } else if upper == "DATA" {
            r.get_mut().write_all(b"354 go on\r\n").await?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).await? == 0 || l == ".\r\n" {
                    break;
                }
                data.push_str(&l);
            }
            mail.data = data;
            mail.tls = tls;
            mails.lock().unwrap().push(std::mem::take(&mut mail));
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            r.get_mut().write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"250 ok\r\n"
        };
        r.get_mut().write_all(reply).await?;
    }
}

fn notify_env(hook: &Capture, hc: &Capture, smtp: &Smtp) -> TestEnv {
    let mut env = TestEnv::new();
    std::fs::write(env.path().join("smtp-ca.pem"), &smtp.ca_pem).unwrap();
    env.env = vec![
        (
            "PBX321_TEST_HOOK_TOKEN".into(),
            "Bearer hook-s3cret-t0ken".into(),
        ),
        ("PBX321_TEST_SMTP_PASSWORD".into(), "smtp-pa55word".into()),
    ];
    env.top_level = format!(
        "notify = [\n  {{ type = \"webhook\", url = \"{}\", headers = {{ Authorization = {{ env = \"PBX321_TEST_HOOK_TOKEN\" }} }}, on = [\"failure\", \"degraded\", \"recovered\", \"success\"] }},\n  {{ type = \"healthchecks\", url = \"{}\" }},\n  {{ type = \"email\", smtp = \"127.0.0.1:{}\", username = \"pbx321\", password = {{ env = \"PBX321_TEST_SMTP_PASSWORD\" }}, from = \"pbx321@example.com\", to = [\"it@example.com\"], ca_file = \"smtp-ca.pem\", on = [\"failure\", \"recovered\"] }},\n]\n",
        hook.url("/hook"),
        hc.url("/ping/abc"),
        smtp.port
    );
    env.write_config();
    env
}

#[test]
fn a_failure_then_a_recovery_reach_the_webhook_the_ping_and_the_mailbox() {
    let hook = Capture::start(200);
    let hc = Capture::start(200);
    let smtp = Smtp::start(true);
    let env = notify_env(&hook, &hc, &smtp);

    // The PBX folder is empty: nothing to back up, a failure.
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 1);
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let v: serde_json::Value = serde_json::from_str(&reqs[0].body).unwrap();
    assert_eq!(v["event"], "failure");
    assert_eq!(v["source"], "hq");
    assert!(v["text"].as_str().unwrap().contains("What to do"), "{v}");
    assert!(
        reqs[0]
            .headers
            .contains(&("authorization".into(), "Bearer hook-s3cret-t0ken".into()))
    );
    let pings: Vec<String> = hc.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(pings, vec!["/ping/abc/start", "/ping/abc/fail"]);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].tls, "the mail went over STARTTLS");
    assert!(
        mails[0]
            .data
            .contains("Subject: pbx321: backup of hq FAILED"),
        "{}",
        mails[0].data
    );
    assert!(mails[0].auth.is_some(), "authenticated inside TLS");

    // The PBX writes a backup: success, and recovered.
    env.put_backup("3CXScheduledBackup.zip", 1700, 1000);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0);
    let events: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // Sent concurrently: in any order.
    assert_eq!(events[0], "failure");
    let mut second = events[1..].to_vec();
    second.sort();
    assert_eq!(second, vec!["recovered", "success"]);
    let last: serde_json::Value = hook
        .requests()
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.body).unwrap())
        .find(|v| v["event"] == "success")
        .unwrap();
    assert!(last["backup_id"].as_str().unwrap().starts_with("hq-"));
    assert_eq!(last["targets"].as_array().unwrap().len(), 3);
    assert!(last["verdict"].as_str().unwrap().starts_with("3-2-1 OK"));
    // Issue 26: labels taken at their word are said to be.
    assert!(
        last["verdict"]
            .as_str()
            .unwrap()
            .contains("declared, not verified: usb, away"),
        "{last}"
    );
    let pings: Vec<String> = hc.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(&pings[2..], &["/ping/abc/start", "/ping/abc"]);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2);
    assert!(
        mails[1]
            .data
            .contains("Subject: pbx321: backup of hq recovered"),
        "{}",
        mails[1].data
    );

    // No secret reached an output.
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !all.contains("hook-s3cret-t0ken") && !all.contains("smtp-pa55word"),
        "{all}"
    );
}

#[test]
fn a_failing_notifier_never_fails_the_backup_and_is_counted() {
    let hook = Capture::start(500);
    let hc = Capture::start(200);
    let smtp = Smtp::start(false); // a relay that does not offer STARTTLS
    let env = notify_env(&hook, &hc, &smtp);
    env.put_backup("3CXScheduledBackup.zip", 1701, 1000);
    let out = env.pbx321(&["backup"]);
    assert_eq!(
        code(&out),
        0,
        "the backup's result, whatever the notifiers did"
    );
    assert_eq!(hook.requests().len(), 3, "tried three times");
    let err = stderr(&out);
    assert!(err.contains("notification not delivered"), "{err}");
    assert!(err.contains("answered 500"), "{err}");
    let memory: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.state_dir().join("notify.json")).unwrap())
            .unwrap();
    assert_eq!(memory["failures_total"]["webhook 1"], 1, "{memory}");
    assert_eq!(memory["last"]["hq"], "success");
    let out = env.pbx321(&["check", "--format", "prometheus"]);
    let metrics = stdout(&out);
    assert!(
        metrics.contains("pbx321_notify_failures_total{notifier=\"webhook 1\"} 1"),
        "{metrics}"
    );
    crate::monitoring::promtool_accepts(&metrics);

    // A failure for the e-mail notifier: without STARTTLS nothing is sent in clear.
    std::fs::remove_file(env.source_dir().join("3CXScheduledBackup.zip")).unwrap();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 1);
    assert!(smtp.mails().is_empty(), "no mail in clear text");
    let commands = smtp.commands();
    assert!(
        !commands
            .iter()
            .any(|c| c.starts_with("AUTH") || c.starts_with("MAIL") || c == "DATA"),
        "{commands:?}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("email 3") && err.contains("notification not delivered"),
        "{err}"
    );
    assert!(!err.contains("smtp-pa55word"));
}
