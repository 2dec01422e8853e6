//! Issue 16, the scheduler: `pbx321 schedule` as a person checks a crontab line, and the
//! config's schedules and notifiers checked before any work.

use crate::helpers::*;

#[test]
fn schedule_shows_a_weekday_crontab_as_monday_to_friday_local_time() {
    let mut env = TestEnv::new();
    env.top_level = "daemon = { timezone = \"Europe/Madrid\" }\n".into();
    env.extra_source = "schedule = \"30 2 * * 1-5\"\n".into();
    env.write_config();
    let out = env.pbx321(&["schedule", "--count", "10", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["job"], "backup hq");
    assert_eq!(v[0]["schedule"], "30 2 * * 1-5");
    let next = v[0]["next"].as_array().unwrap();
    assert_eq!(next.len(), 10);
    for t in next {
        let t = chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap();
        let local = t.with_timezone(&chrono_tz::Europe::Madrid);
        use chrono::{Datelike, Timelike};
        assert!(
            local.weekday().number_from_monday() <= 5,
            "{local} is a weekday"
        );
        assert_eq!((local.hour(), local.minute()), (2, 30), "{local}");
        assert_eq!(
            t.naive_local(),
            local.naive_local(),
            "printed in the zone's own offset"
        );
    }
    let out = env.pbx321(&["schedule", "--count", "2"]);
    let text = stdout(&out);
    assert!(
        text.contains("backup hq: \"30 2 * * 1-5\" in Europe/Madrid"),
        "{text}"
    );
    assert!(text.contains("next: "), "{text}");
}

#[test]
fn bad_schedules_and_notifiers_are_reported_with_their_lines() {
    let mut env = TestEnv::new();
    env.extra_source = "schedule = \"30 2 * * 1-8\"\n".into();
    env.top_level = "schedule = { check = \"every 15 minutes\", drill = \"0 6 1 * *\" }\ndaemon = { listen = \"0.0.0.0:9321\" }\nnotify = [{ type = \"webhok\", url = \"https://x\" }, { type = \"webhook\", url = \"http://hooks.example.com/x\", on = [\"failur\"] }]\n".into();
    let path = env.write_config();
    let out = env.pbx321_raw(&["--config", path.to_str().unwrap(), "config", "check"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    for want in [
        "config.toml:1: [schedule] check: \"every 15 minutes\" has 3 fields",
        "config.toml:1: [schedule] drill needs identity",
        "config.toml:2: [daemon] listen = \"0.0.0.0:9321\" is not a loopback address: add auth_token",
        "[[notify]] #1: unknown type \"webhok\"; did you mean \"webhook\"?",
        "[[notify]] #2: url http://hooks.example.com/… must start with https://",
        "[[notify]] #2: on: unknown event \"failur\"; did you mean \"failure\"?",
        "source \"hq\": schedule: \"30 2 * * 1-8\" is not a cron expression",
    ] {
        assert!(err.contains(want), "{want:?} in:\n{err}");
    }
}

/// One HTTP/1.1 request on loopback `port` with extra header lines and a body: (status,
/// the whole response, headers included).
pub(crate) fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    write!(s, "{head}Connection: close\r\n\r\n{body}").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    (status, text)
}

/// GET `path` on loopback `port`: (status, body).
pub(crate) fn http_get(port: u16, path: &str) -> (u16, String) {
    let (status, text) = http_request(port, "GET", path, &[], "");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The real binary's daemon on `config` (with `global` options before the subcommand), its
/// stderr piped when asked, else discarded.
pub(crate) fn spawn_daemon(
    config: &std::path::Path,
    global: &[&str],
    piped_stderr: bool,
) -> std::process::Child {
    use assert_cmd::cargo::CommandCargoExt;
    std::process::Command::cargo_bin("pbx321")
        .unwrap()
        .args(["--config", config.to_str().unwrap()])
        .args(global)
        .arg("daemon")
        .stdout(std::process::Stdio::null())
        .stderr(if piped_stderr {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .spawn()
        .unwrap()
}

pub(crate) fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

/// The real binary: a seconds schedule runs backups, /metrics and /healthz answer over
/// HTTP, a webhook gets the success, and SIGTERM in the middle of a run stops it cleanly
/// (exit 0, nothing partial counted).
#[test]
fn the_daemon_runs_on_schedule_serves_metrics_notifies_and_stops_cleanly_on_sigterm() {
    let hook = crate::notify::Capture::start(200);
    let smtp = crate::notify::Smtp::start(true);
    let port = crate::servers::free_port();
    let mut env = TestEnv::new();
    std::fs::write(env.path().join("smtp-ca.pem"), &smtp.ca_pem).unwrap();
    env.top_level = format!(
        "daemon = {{ listen = \"127.0.0.1:{port}\", shutdown_grace = \"0s\" }}\nnotify = [{{ type = \"webhook\", url = \"{}\", on = [\"success\"] }}, {{ type = \"email\", smtp = \"127.0.0.1:{}\", from = \"pbx321@example.com\", to = [\"it@example.com\"], ca_file = \"smtp-ca.pem\", on = [\"success\"] }}]\n",
        hook.url("/hook"),
        smtp.port
    );
    env.extra_source = "schedule = \"*/2 * * * * *\"\n".into();
    let config = env.write_config();
    env.put_backup("3CXScheduledBackup.zip", 1800, 1000);
    let mut child = spawn_daemon(&config, &[], true);

    wait_for("a scheduled backup's webhook", 30, || {
        !hook.requests().is_empty()
    });
    let v: serde_json::Value = serde_json::from_str(&hook.requests()[0].body).unwrap();
    assert_eq!(v["event"], "success");
    wait_for("the e-mail", 30, || !smtp.mails().is_empty());
    let mail = &smtp.mails()[0];
    assert!(mail.tls, "over STARTTLS");
    assert!(
        mail.data.contains("Subject: pbx321: backup of hq OK"),
        "{}",
        mail.data
    );
    wait_for("/metrics", 10, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http_get(port, "/metrics")
                .1
                .contains("pbx321_runs_total{source=\"hq\",result=\"ok\"}")
    });
    let (status, metrics) = http_get(port, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("pbx321_next_run_timestamp_seconds{job=\"backup hq\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pbx321_run_duration_seconds{source=\"hq\"}"),
        "{metrics}"
    );
    crate::monitoring::promtool_accepts(&metrics);
    assert_eq!(http_get(port, "/healthz").0, 200);
    let (status, body) = http_get(port, "/api/status");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["sources"]["hq"]["result"], "ok", "{v}");
    assert!(v["next"]["backup hq"].is_string(), "{v}");

    // A large new backup; SIGTERM as soon as its seal or upload is under way.
    env.put_backup("3CXScheduledBackup.zip", 1801, 150_000_000);
    let spool = env.state_dir().join("spool");
    let targets = env.path().join("targets");
    wait_for("a run in progress", 30, || {
        let partial =
            |d: &std::path::Path| env.files_under(d).iter().any(|f| f.ends_with(".partial"));
        partial(&spool) || partial(&targets)
    });
    let pid = child.id() as i32;
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let mut exited = None;
    wait_for("the daemon to exit", 20, || {
        exited = child.try_wait().unwrap();
        exited.is_some()
    });
    assert_eq!(exited.unwrap().code(), Some(0), "SIGTERM is a clean stop");
    // Nothing partial counts: every listed copy is whole and verified.
    let out = env.pbx321(&["list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for b in v["backups"].as_array().unwrap() {
        for c in b["copies"].as_array().unwrap() {
            assert_eq!(c["state"], "verified", "{b}");
        }
    }
}

/// The example units are valid systemd units (`systemd-analyze verify`), the daemon's
/// hardened as documented.
#[test]
fn the_example_systemd_units_verify() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/systemd");
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("pbx321");
    for unit in [
        "pbx321.service",
        "pbx321-backup.service",
        "pbx321-backup.timer",
    ] {
        // The binary is not installed here: point ExecStart at the one just built.
        let text = std::fs::read_to_string(root.join(unit))
            .unwrap()
            .replace("/usr/bin/pbx321", bin.to_str().unwrap());
        std::fs::write(dir.path().join(unit), text).unwrap();
    }
    let daemon = std::fs::read_to_string(root.join("pbx321.service")).unwrap();
    for hardening in [
        "User=pbx321",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/pbx321",
        "PrivateTmp=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(daemon.contains(hardening), "{hardening}");
    }
    // --man=no: the man pages the units name are installed by the package, not here.
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(
            [
                "pbx321.service",
                "pbx321-backup.service",
                "pbx321-backup.timer",
            ]
            .map(|u| dir.path().join(u)),
        )
        .output()
        .expect("systemd-analyze (Debian systemd) must be installed: scripts/test.sh installs it");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("Unknown key") && !text.contains("Unknown section"),
        "{text}"
    );
}

/// `backup --shard I/N`: the shards of one config cover every source exactly once.
#[test]
fn shards_split_a_fleet_and_cover_every_source_once() {
    let mut env = TestEnv::new();
    let names: Vec<String> = (0..12).map(|i| format!("pbx{i:02}")).collect();
    for n in &names {
        std::fs::create_dir_all(env.path().join(n)).unwrap();
        env.extra_source.push_str(&format!(
            "[[source]]\nname = \"{n}\"\ntype = \"folder\"\npath = \"{n}\"\nsettle = \"0s\"\n"
        ));
        std::fs::write(
            env.path().join(n).join("3CXScheduledBackup.zip"),
            pbx321::testutil::sample_zip(n.len() as u64, 500),
        )
        .unwrap();
    }
    env.write_config();
    let mut seen = std::collections::BTreeMap::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let out = env.pbx321(&["backup", "--shard", &shard, "--format", "json"]);
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stdout(&out)));
        for s in v["sources"].as_array().unwrap() {
            let name = s["source"].as_str().unwrap().to_string();
            assert!(
                seen.insert(name.clone(), shard.clone()).is_none(),
                "{name} in two shards"
            );
        }
    }
    for n in names.iter().chain(std::iter::once(&"hq".to_string())) {
        assert!(seen.contains_key(n), "{n} in no shard: {seen:?}");
    }
    assert_eq!(code(&env.pbx321(&["backup", "--shard", "3/3"])), 2, "I < N");
}

/// A scheduled check that changes status tells the notifiers that want `check-changed`,
/// and its metrics are served on /metrics.
#[test]
fn a_scheduled_check_that_changes_status_notifies() {
    let hook = crate::notify::Capture::start(200);
    let port = crate::servers::free_port();
    let mut env = TestEnv::new();
    env.top_level = format!(
        "daemon = {{ listen = \"127.0.0.1:{port}\" }}\nschedule = {{ check = \"*/2 * * * * *\" }}\nnotify = [{{ type = \"webhook\", url = \"{}\", on = [\"check-changed\"] }}]\n",
        hook.url("/hook")
    );
    let config = env.write_config();
    let original = env.put_backup("3CXScheduledBackup.zip", 1900, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let mut child = spawn_daemon(&config, &[], false);
    let served = |needle: &str| {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http_get(port, "/metrics").1.contains(needle)
    };
    wait_for("the first check's metrics", 30, || {
        served("pbx321_invariant_ok{source=\"hq\"} 1")
    });
    assert!(hook.requests().is_empty(), "no change yet");
    // The status page shows it to a person: words and icons, the copy matrix.
    let (status, html) = http_get(port, "/");
    assert_eq!(status, 200);
    assert!(html.contains("✔ all OK (1 source)"), "{html}");
    assert!(
        html.contains("✔ OK</span> <a href=\"/source/hq\">hq</a>"),
        "{html}"
    );
    // The source's page shows restore commands that work as shown.
    let (status, page) = http_get(port, "/source/hq");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("restore --source hq --backup hq-"), "{page}");
    let stock = page
        .split("<pre>")
        .nth(2)
        .and_then(|p| p.split("</pre>").next())
        .expect("the stock age | zstd command")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&#60;", "<")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("/path/to/pbx321-key.txt", env.identity.to_str().unwrap());
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &stock])
        .current_dir(env.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{stock}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let want = stock
        .split("must print ")
        .nth(1)
        .expect("the sha256 to expect")
        .trim()
        .to_string();
    assert!(printed.starts_with(&want), "{printed} vs {want}");
    assert_eq!(std::fs::read(env.path().join("hq.zip")).unwrap(), original);
    assert_eq!(http_get(port, "/source/nosuch").0, 404);
    assert!(
        html.contains("3 of 3 copies, 2 of 2 media, 1 of 1 offsite"),
        "{html}"
    );
    assert!(!html.contains("<script"), "no JavaScript");
    // The usb copy disappears: the next check no longer finds 3 copies.
    for f in env.files_under(&env.target_dir("usb")) {
        if f.ends_with(".zip.zst.age") {
            std::fs::remove_file(env.target_dir("usb").join(&f)).unwrap();
        }
    }
    wait_for("a check-changed webhook", 30, || {
        !hook.requests().is_empty()
    });
    let v: serde_json::Value = serde_json::from_str(&hook.requests()[0].body).unwrap();
    assert_eq!(v["event"], "check-changed");
    assert!(v["summary"].as_str().unwrap().contains("(was OK)"), "{v}");
    assert!(served("pbx321_invariant_ok{source=\"hq\"} 0"));
    let (_, html) = http_get(port, "/");
    assert!(
        html.contains("✖ CRITICAL</span> <a href=\"/source/hq\">hq</a>")
            || html.contains("▲ WARNING</span> <a href=\"/source/hq\">hq</a>"),
        "{html}"
    );
    assert!(html.contains("✖ missing"), "the usb cell: {html}");
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGHUP reloads the config; a bad one is refused and the old one kept.
#[test]
fn sighup_reloads_the_config_and_keeps_the_old_one_when_the_new_is_bad() {
    let port = crate::servers::free_port();
    let mut env = TestEnv::new();
    env.top_level = format!("daemon = {{ listen = \"127.0.0.1:{port}\" }}\n");
    env.extra_source = "schedule = \"30 2 * * *\"\n".into();
    let config = env.write_config();
    let mut child = spawn_daemon(&config, &[], true);
    let metrics = || {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            return String::new();
        }
        http_get(port, "/metrics").1
    };
    wait_for("the daemon's metrics", 30, || {
        metrics().contains("pbx321_next_run_timestamp_seconds{job=\"backup hq\"}")
    });
    assert!(!metrics().contains("job=\"prune\""));
    // The log, as the daemon writes it (read as it comes: a refusal is waited for, not
    // slept for).
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    {
        use std::io::BufRead;
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
    }
    let logged = |what: &str| log.lock().unwrap().contains(what);
    let pid = child.id() as i32;
    let hup = || {
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::Signal::HUP,
        )
        .unwrap()
    };
    // A bad config: refused, the old schedule kept, the daemon still up.
    std::fs::write(
        &config,
        env.config_text().replace("30 2 * * *", "30 2 * * 9"),
    )
    .unwrap();
    hup();
    wait_for("the refusal in the log", 10, || {
        logged("the new config is refused, the old one is kept")
    });
    assert!(child.try_wait().unwrap().is_none(), "still running");
    assert!(metrics().contains("job=\"backup hq\""));
    // A good one with a prune job: taken.
    env.top_level
        .push_str("schedule = { prune = \"0 7 * * *\" }\n");
    env.write_config();
    hup();
    wait_for("the reloaded schedule", 10, || {
        metrics().contains("job=\"prune\"")
    });
    let _ = child.kill();
    let _ = child.wait();
    let err = log.lock().unwrap().clone();
    assert!(
        err.contains("the new config is refused, the old one is kept"),
        "{err}"
    );
    assert!(err.contains("is not a cron expression"), "{err}");
}

/// A scheduled restore drill that fails (here: the wrong key) tells `drill-failed`.
#[test]
fn a_failed_scheduled_drill_notifies() {
    let hook = crate::notify::Capture::start(200);
    let port = crate::servers::free_port();
    let mut env = TestEnv::new();
    let wrong = env.path().join("wrong-key.txt");
    let out = env.pbx321_raw(&["keygen", "--out", wrong.to_str().unwrap()]);
    assert_eq!(code(&out), 0);
    env.top_level = format!(
        "daemon = {{ listen = \"127.0.0.1:{port}\" }}\nschedule = {{ drill = \"*/2 * * * * *\", identity = \"wrong-key.txt\" }}\nnotify = [{{ type = \"webhook\", url = \"{}\", on = [\"drill-failed\"] }}]\n",
        hook.url("/hook")
    );
    let config = env.write_config();
    env.put_backup("3CXScheduledBackup.zip", 1901, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let mut child = spawn_daemon(&config, &[], false);
    wait_for("a drill-failed webhook", 30, || !hook.requests().is_empty());
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value = serde_json::from_str(&hook.requests()[0].body).unwrap();
    assert_eq!(v["event"], "drill-failed");
    assert_eq!(v["source"], "hq");
    assert!(v["text"].as_str().unwrap().contains("repair --deep"), "{v}");
}

/// Issue 26: with only a backup schedule (no `[schedule] check`), the page, `/api/status`
/// and `/metrics` name the source and its verdict within one backup run, and the journal has
/// a line for the start, each job and the stop, at the default level, in text and in JSON.
#[test]
fn the_daemon_shows_every_source_at_once_and_logs_every_run() {
    for json in [false, true] {
        let port = crate::servers::free_port();
        let mut env = TestEnv::new();
        env.top_level = format!("daemon = {{ listen = \"127.0.0.1:{port}\" }}\n");
        env.extra_source = "schedule = \"*/3 * * * * *\"\n".into();
        let config = env.write_config();
        env.put_backup("3CXScheduledBackup.zip", 1810, 1000);
        let args: &[&str] = if json { &["--log-format", "json"] } else { &[] };
        let child = spawn_daemon(&config, args, true);
        wait_for("the verdict on every surface", 30, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http_get(port, "/api/status")
                    .1
                    .contains("\"result\":\"ok\"")
                && http_get(port, "/metrics")
                    .1
                    .contains("pbx321_invariant_ok{source=\"hq\"} 1")
                && http_get(port, "/").1.contains("hq")
        });
        let (_, api) = http_get(port, "/api/status");
        let v: serde_json::Value = serde_json::from_str(&api).unwrap();
        assert_eq!(v["targets"][1]["declared"], true, "{v}");
        assert!(
            v["sources"]["hq"]["verdict"]
                .as_str()
                .unwrap()
                .contains("declared, not verified: usb, away")
        );
        // "Declared, not verified" on every surface: the page and the metrics too.
        let metrics = http_get(port, "/metrics").1;
        assert!(
            metrics.contains("pbx321_target_declared{target=\"usb\"} 1")
                && metrics.contains("pbx321_target_declared{target=\"local\"} 0"),
            "{metrics}"
        );
        assert!(http_get(port, "/").1.contains("declared, not verified"));
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
            rustix::process::Signal::TERM,
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        if json {
            let lines: Vec<serde_json::Value> = log
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect();
            let run = lines
                .iter()
                .find(|l| l["fields"]["source"] == "hq" && l["fields"]["result"] == "ok")
                .unwrap_or_else(|| panic!("no run line in {log}"));
            assert_eq!(run["level"], "INFO");
            assert_eq!(run["fields"]["copies"], 3, "{run}");
            assert!(run["fields"]["seconds"].is_number(), "{run}");
        } else {
            for want in [
                "daemon started: 1 sources, 3 targets",
                "job started",
                "backup hq: ok in",
                "stopping",
            ] {
                assert!(log.contains(want), "{want:?} in\n{log}");
            }
            assert!(log.contains("INFO"), "{log}");
        }
    }
}

/// Issue 26: a restart with no job due for a year shows the last runs at once.
#[test]
fn a_restarted_daemon_shows_the_last_runs_at_once() {
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 1811, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // What a daemon persisted after its last run.
    std::fs::write(
        env.state_dir().join("daemon-last.json"),
        r#"{"hq":{"result":"ok","at":"2026-11-30T03:00:00Z","seconds":1.5,"id":"hq-20261130T030000Z","verdict":"3-2-1 OK"}}"#,
    )
    .unwrap();
    let port = crate::servers::free_port();
    let mut env = env;
    env.top_level = format!("daemon = {{ listen = \"127.0.0.1:{port}\" }}\n");
    env.extra_source = "schedule = \"0 0 1 1 *\"\n".into();
    let config = env.write_config();
    let mut child = spawn_daemon(&config, &[], false);
    wait_for("the daemon", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let (_, api) = http_get(port, "/api/status");
    let v: serde_json::Value = serde_json::from_str(&api).unwrap();
    assert_eq!(v["sources"]["hq"]["id"], "hq-20261130T030000Z", "{v}");
    // The startup check fills the verdict and the metric families.
    wait_for("the startup check", 30, || {
        http_get(port, "/metrics")
            .1
            .contains("pbx321_invariant_ok{source=\"hq\"} 1")
    });
    let _ = child.kill();
    let _ = child.wait();
}
