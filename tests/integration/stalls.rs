//! Issue 26, "nothing hangs, nothing hides": a server that accepts connections and never answers — as
//! WebDAV, as S3 and as SFTP — costs a run one `io_timeout` and never holds the other
//! targets; a source file dated in the future never hides a real one. (The slow links are
//! in `a_slow_links`.)

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::helpers::*;

/// A loopback server that accepts every connection and never says a word.
pub struct Silent {
    pub port: u16,
}

impl Silent {
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            for s in listener.incoming() {
                match s {
                    Ok(s) => held.push(s),
                    Err(_) => return,
                }
            }
        });
        Silent { port }
    }
}

/// The stalled target's table, first in the config (restore tries it first).
fn silent_target(kind: &str, port: u16, env: &TestEnv) -> String {
    let common = "medium = \"nas\"\nio_timeout = \"5s\"\nconnect_timeout = \"2s\"\n";
    match kind {
        "webdav" => format!(
            "\n[[target]]\nname = \"stuck\"\ntype = \"webdav\"\nendpoint = \"http://127.0.0.1:{port}\"\npath = \"/pbx321\"\n{common}"
        ),
        "s3" => format!(
            "\n[[target]]\nname = \"stuck\"\ntype = \"s3\"\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:{port}\"\npath_style = true\nregion = \"us-east-1\"\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\n{common}"
        ),
        _ => {
            let key = env.path().join("id_ed25519");
            if !key.exists() {
                std::fs::write(&key, "not a key").unwrap();
            }
            let kh = env.path().join("known_hosts");
            std::fs::write(&kh, "").unwrap();
            format!(
                "\n[[target]]\nname = \"stuck\"\ntype = \"sftp\"\nendpoint = \"ssh://u@127.0.0.1:{port}\"\npath = \"/pbx321\"\nkey = \"{}\"\nknown_hosts = \"{}\"\n{common}",
                key.display(),
                kh.display()
            )
        }
    }
}

#[test]
fn a_server_that_never_answers_holds_no_other_target() {
    for kind in ["webdav", "s3", "sftp"] {
        let silent = Silent::start();
        let mut env = TestEnv::new();
        env.extra_targets = silent_target(kind, silent.port, &env);
        let original = env.put_backup("3CXScheduledBackup.zip", 2601, 20_000);

        let started = Instant::now();
        let out = env.pbx321(&["backup"]);
        let took = started.elapsed();
        let text = stdout(&out);
        assert_eq!(code(&out), 0, "{kind}: the rule is met without it: {text}");
        assert!(
            took < Duration::from_secs(30),
            "{kind}: backup took {took:?}"
        );
        assert_eq!(env.artifacts("local").len(), 1, "{kind}");
        assert_eq!(env.artifacts("away").len(), 1, "{kind}");
        assert!(
            text.contains("stuck")
                && (text.contains("no progress") || text.contains("never answers"))
                && text.contains("given up on for this run"),
            "{kind}: {text}"
        );

        let started = Instant::now();
        let out = env.pbx321(&["check", "--format", "json"]);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(30),
            "{kind}: check took {took:?}"
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let stuck = v["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["target"] == "stuck")
            .cloned()
            .unwrap();
        assert_eq!(stuck["up"], false, "{kind}: {stuck}");

        let to = env.path().join("r.zip");
        let started = Instant::now();
        let out = env.restore(&to, &[]);
        assert_eq!(code(&out), 0, "{kind}: {}", stderr(&out));
        assert!(started.elapsed() < Duration::from_secs(30), "{kind}");
        assert!(std::fs::read(&to).unwrap() == original, "{kind}");
    }
}

/// Issue 26, finding 10: a source file dated in the future is reported and never hides the
/// newer real backups.
#[test]
fn a_source_file_dated_in_the_future_never_hides_a_real_one() {
    let env = TestEnv::new();
    env.put_backup("old-touched.zip", 2603, 3_000);
    let touched = env.source_dir().join("old-touched.zip");
    let ok = std::process::Command::new("touch")
        .args(["-d", "2099-01-01"])
        .arg(&touched)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let real = env.put_backup("3CXScheduledBackup.zip", 2604, 3_000);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("3CXScheduledBackup.zip"),
        "the real file is taken: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("old-touched.zip is dated in the future"),
        "{}",
        stderr(&out)
    );
    let to = env.path().join("r.zip");
    assert_eq!(code(&env.restore(&to, &[])), 0);
    assert!(std::fs::read(&to).unwrap() == real);
    // check names it too (it may be why the newest backup is old).
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("the last backup run of hq warned: ")
            && stdout(&out).contains("old-touched.zip is dated in the future"),
        "{}",
        stdout(&out)
    );
}
