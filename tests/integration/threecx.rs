//! The 3CX sources (V20 XAPI and V18 console API) against the emulator: each mode end to end,
//! each fault, TLS with a private CA, and the secret kept out of every output.

use crate::emulator::*;
use crate::helpers::*;

#[derive(Debug, Clone, Copy)]
enum Api {
    V20,
    V18,
}

const BOTH: [Api; 2] = [Api::V20, Api::V18];

const SECRET_VAR: &str = "PBX321_TEST_3CX_SECRET";

fn secret(api: Api) -> &'static str {
    match api {
        Api::V20 => SECRET,
        Api::V18 => V18_PASSWORD,
    }
}

fn source_toml(api: Api, url: &str, mode: &str, extra: &str) -> String {
    let login = match api {
        Api::V20 => format!(
            "type = \"3cx\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = {{ env = \"{SECRET_VAR}\" }}"
        ),
        Api::V18 => format!(
            "type = \"3cx-v18\"\nusername = \"{V18_USER}\"\npassword = {{ env = \"{SECRET_VAR}\" }}"
        ),
    };
    format!(
        "\n[[source]]\nname = \"pbx\"\n{login}\nurl = \"{url}\"\nmode = \"{mode}\"\ntimeout = \"20s\"\n{extra}"
    )
}

fn env_for(pbx: &Pbx, api: Api, mode: &str, extra: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.extra_source = source_toml(api, &pbx.url(), mode, extra);
    env.env = vec![
        (SECRET_VAR.into(), secret(api).into()),
        ("PBX321_LOG".into(), "trace".into()),
    ];
    env
}

fn restore_pbx(env: &TestEnv) -> Vec<u8> {
    let to = env.path().join("restored.zip");
    let out = env.pbx321(&[
        "restore",
        "--source",
        "pbx",
        "--to",
        to.to_str().unwrap(),
        "-i",
        env.identity.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code(&out), 0);
    std::fs::read(to).unwrap()
}

fn served(pbx: &Pbx) -> Vec<u8> {
    pbx.state.lock().unwrap().backups[0].bytes.clone()
}

/// Runs `backup pbx` (every log level is on, see `env_for`) and checks the secret reached no
/// output and no file pbx321 wrote (state, spool, run log, targets).
fn backup(env: &TestEnv) -> std::process::Output {
    let secret = env
        .env
        .iter()
        .find(|(k, _)| k == SECRET_VAR)
        .map(|(_, v)| v.clone())
        .unwrap();
    let out = env.pbx321(&["backup", "pbx"]);
    assert!(
        !stdout(&out).contains(&secret) && !stderr(&out).contains(&secret),
        "the secret reached the output"
    );
    for f in env.files_under(env.path()) {
        let bytes = std::fs::read(env.path().join(&f)).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret reached {f}"
        );
    }
    out
}

/// Runs `backup pbx` and checks it failed cleanly: exit 1, every text of `says` in the
/// report, no copy on any target and nothing left in the spool. Returns the report.
fn fails_cleanly(env: &TestEnv, says: &[&str]) -> String {
    let out = backup(env);
    let report = stdout(&out);
    assert_eq!(code(&out), 1, "{report}");
    for s in says {
        assert!(report.contains(s), "{s:?} not in: {report}");
    }
    for target in ["local", "usb", "away"] {
        assert!(env.artifacts(target).is_empty(), "a copy on {target}");
    }
    assert!(env.files_under(&env.state_dir().join("spool")).is_empty());
    report
}

/// Adds a backup as 3CX's own scheduler would have made it, an hour old.
fn scheduled(pbx: &Pbx, seed: u64) {
    pbx.add_backup(
        "3CXScheduledBackup.zip",
        chrono::Utc::now() - chrono::Duration::hours(1),
        sample_zip(seed, 100),
    );
}

#[test]
fn create_mode_restores_what_the_pbx_served_and_deletes_it_after() {
    for api in BOTH {
        let pbx = Pbx::start(Faults::default());
        let env = env_for(&pbx, api, "create", "delete_after = true\n");
        let out = backup(&env);
        assert_eq!(code(&out), 0, "{api:?}: {}", stdout(&out));
        let deleted = pbx.state.lock().unwrap().deleted.clone();
        assert_eq!(
            deleted.len(),
            1,
            "{api:?}: the PBX-side file is deleted once the rule holds"
        );
        assert!(deleted[0].starts_with("pbx321-pbx-"));
        // The version the PBX reports is in the manifest (V20: SystemStatus, with the
        // fingerprint; V18: its backup list, no fingerprint).
        let manifest = env
            .files_under(&env.target_dir("local"))
            .into_iter()
            .find(|f| f.ends_with(".manifest.json"))
            .unwrap();
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.target_dir("local").join(manifest)).unwrap())
                .unwrap();
        match api {
            Api::V20 => {
                assert_eq!(m["pbx"]["version"], VERSION);
                assert_eq!(m["pbx"]["fingerprint"]["trunks"], COUNTS[1]);
            }
            Api::V18 => {
                assert_eq!(m["pbx"]["version"], "18.0.9.20");
                assert!(m["pbx"].get("fingerprint").is_none());
            }
        }
        // What was served is gone from the emulator; compare with a fresh sample of the same seed.
        assert!(
            restore_pbx(&env) == with_shape(sample_zip(90, 50_000), VERSION, COUNTS, false),
            "{api:?}: restore differs"
        );
    }
}

#[test]
fn v18_create_asks_for_the_configured_contents() {
    let pbx = Pbx::start(Faults::default());
    let env = env_for(
        &pbx,
        Api::V18,
        "create",
        "contents = [\"license\", \"recordings\"]\n",
    );
    assert_eq!(code(&backup(&env)), 0);
    let body = pbx.state.lock().unwrap().v18_create_body.clone().unwrap();
    assert_eq!(body["Contents"]["License"], true);
    assert_eq!(body["Contents"]["Recordings"], true);
    assert_eq!(body["Contents"]["CallHistory"], false);
    assert!(body["Name"].as_str().unwrap().starts_with("pbx321-pbx-"));
}

#[test]
fn latest_mode_takes_the_newest_and_skips_it_when_stored() {
    for api in BOTH {
        let pbx = Pbx::start(Faults::default());
        let old = sample_zip(91, 1000);
        let new = sample_zip(92, 1000);
        pbx.add_backup(
            "3CXScheduledBackup.1.zip",
            chrono::Utc::now() - chrono::Duration::days(1),
            old,
        );
        pbx.add_backup(
            "3CXScheduledBackup.zip",
            chrono::Utc::now() - chrono::Duration::hours(1),
            new.clone(),
        );
        let env = env_for(&pbx, api, "latest", "");
        assert_eq!(code(&backup(&env)), 0, "{api:?}");
        assert!(restore_pbx(&env) == new, "{api:?}: restore differs");
        let out = backup(&env);
        assert_eq!(code(&out), 0);
        assert!(stdout(&out).contains("already stored"), "{api:?}");
        assert!(
            pbx.state.lock().unwrap().deleted.is_empty(),
            "{api:?}: delete_after is off by default"
        );
    }
}

#[test]
fn a_backup_3cx_encrypted_itself_is_stored_and_recorded_as_such() {
    let pbx = Pbx::start(Faults::default());
    let encrypted = sample_encrypted_zip(96);
    pbx.add_backup(
        "3CXScheduledBackup.zip",
        chrono::Utc::now(),
        encrypted.clone(),
    );
    let env = env_for(&pbx, Api::V18, "latest", "");
    let out = backup(&env);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let manifests: Vec<_> = env
        .files_under(&env.target_dir("local"))
        .into_iter()
        .filter(|f| f.ends_with(".manifest.json"))
        .collect();
    assert_eq!(manifests.len(), 1);
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.target_dir("local").join(&manifests[0])).unwrap(),
    )
    .unwrap();
    assert_eq!(m["plain"]["pbx_encrypted"], true, "{m}");
    assert!(restore_pbx(&env) == encrypted);
}

#[test]
fn an_invalid_login_is_a_clear_error_without_the_secret() {
    for (api, says) in [
        (Api::V20, "client id or secret is wrong"),
        (Api::V18, "username or password is wrong"),
    ] {
        let pbx = Pbx::start(Faults {
            invalid_client: true,
            ..Faults::default()
        });
        let env = env_for(&pbx, api, "create", "");
        fails_cleanly(&env, &[says, &pbx.url()]);
    }
}

#[test]
fn a_token_or_session_expiring_mid_run_is_renewed_once() {
    for api in BOTH {
        let pbx = Pbx::start(Faults {
            first_token_uses: Some(2),
            ..Faults::default()
        });
        let env = env_for(&pbx, api, "create", "");
        let out = backup(&env);
        assert_eq!(code(&out), 0, "{api:?}: {}", stdout(&out));
        assert_eq!(pbx.state.lock().unwrap().tokens_issued, 2, "{api:?}");
        assert!(
            restore_pbx(&env) == served(&pbx),
            "{api:?}: restore differs"
        );
    }
}

#[test]
fn a_token_lifetime_in_minutes_or_seconds_is_reused_within_a_run() {
    for expires_in in [1, 60, 3600] {
        let pbx = Pbx::start(Faults {
            expires_in,
            ..Faults::default()
        });
        let env = env_for(&pbx, Api::V20, "create", "");
        assert_eq!(code(&backup(&env)), 0);
        assert_eq!(
            pbx.state.lock().unwrap().tokens_issued,
            1,
            "expires_in = {expires_in}: one token for the whole run"
        );
    }
}

#[test]
fn server_errors_throttling_and_dropped_connections_are_retried() {
    for api in BOTH {
        let pbx = Pbx::start(Faults {
            server_errors: 2,
            too_many_requests: 2,
            dropped_connections: 2,
            ..Faults::default()
        });
        let env = env_for(&pbx, api, "create", "");
        let out = backup(&env);
        assert_eq!(code(&out), 0, "{api:?}: {}", stdout(&out));
        assert!(
            restore_pbx(&env) == served(&pbx),
            "{api:?}: restore differs"
        );
    }
}

#[test]
fn a_pbx_that_keeps_failing_is_given_up_after_bounded_retries() {
    for api in BOTH {
        let pbx = Pbx::start(Faults {
            server_errors: 1000,
            ..Faults::default()
        });
        scheduled(&pbx, 94);
        let env = env_for(&pbx, api, "latest", "");
        fails_cleanly(&env, &["HTTP 503", "gave up after 5 tries", &pbx.url()]);
        let lists = pbx.state.lock().unwrap().faults.server_errors;
        assert_eq!(1000 - lists, 5, "{api:?}: five tries, no more");
    }
}

#[test]
fn a_truncated_download_leaves_no_copy() {
    for api in BOTH {
        let pbx = Pbx::start(Faults {
            truncate_download: true,
            ..Faults::default()
        });
        let env = env_for(&pbx, api, "create", "");
        fails_cleanly(&env, &["not a readable 3CX backup", "nothing was stored"]);
    }
}

#[test]
fn a_corrupt_zip_leaves_no_copy() {
    for api in BOTH {
        let pbx = Pbx::start(Faults {
            corrupt_zip: true,
            ..Faults::default()
        });
        let env = env_for(&pbx, api, "create", "");
        fails_cleanly(&env, &["not a readable 3CX backup"]);
    }
}

#[test]
fn a_backup_that_never_appears_times_out() {
    for api in BOTH {
        let pbx = Pbx::start(Faults {
            never_appears: true,
            ..Faults::default()
        });
        let mut env = env_for(&pbx, api, "create", "");
        env.extra_source = env
            .extra_source
            .replace("timeout = \"20s\"", "timeout = \"3s\"");
        fails_cleanly(&env, &["did not appear complete within 3s", &pbx.url()]);
    }
}

#[test]
fn a_path_traversal_file_name_is_refused() {
    for api in BOTH {
        let pbx = Pbx::start(Faults {
            traversal_name: true,
            ..Faults::default()
        });
        scheduled(&pbx, 93);
        let env = env_for(&pbx, api, "latest", "");
        fails_cleanly(&env, &["not a plain .zip file name"]);
        assert!(!env.path().join("etc").exists());
    }
}

#[test]
fn a_download_link_to_another_server_is_refused() {
    let pbx = Pbx::start(Faults {
        foreign_link: true,
        ..Faults::default()
    });
    scheduled(&pbx, 95);
    let env = env_for(&pbx, Api::V20, "latest", "");
    fails_cleanly(&env, &["points to another server; refused"]);
}

#[test]
fn a_slow_download_still_completes() {
    for api in BOTH {
        let pbx = Pbx::start(Faults {
            slow_download: true,
            ..Faults::default()
        });
        let env = env_for(&pbx, api, "create", "");
        assert_eq!(code(&backup(&env)), 0, "{api:?}");
        assert!(
            restore_pbx(&env) == served(&pbx),
            "{api:?}: restore differs"
        );
    }
}

#[test]
fn a_refusal_to_manage_backups_is_a_clear_error() {
    for (api, says) in [
        (Api::V20, "licence must include API access"),
        (Api::V18, "may not manage backups"),
    ] {
        let pbx = Pbx::start(Faults {
            forbidden: true,
            ..Faults::default()
        });
        scheduled(&pbx, 97);
        let env = env_for(&pbx, api, "latest", "");
        fails_cleanly(&env, &[says, &pbx.url()]);
    }
}

#[test]
fn a_pbx_with_a_private_ca_needs_its_ca_file() {
    for api in BOTH {
        let pbx = Pbx::start_tls(Faults::default());
        let ca = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca.path(), pbx.ca_pem.as_ref().unwrap()).unwrap();

        // Without the CA the certificate is not trusted: a TLS error, no retries, no copy.
        let env = env_for(&pbx, api, "create", "");
        fails_cleanly(&env, &["TLS failed", "ca_file", &pbx.url()]);
        assert!(
            pbx.state.lock().unwrap().requests.is_empty(),
            "no request got through"
        );

        // With it, the backup is taken over HTTPS and restores byte for byte.
        let extra = format!("ca_file = \"{}\"\n", ca.path().display());
        let env = env_for(&pbx, api, "create", &extra);
        let out = backup(&env);
        assert_eq!(code(&out), 0, "{api:?}: {}", stdout(&out));
        assert!(
            restore_pbx(&env) == served(&pbx),
            "{api:?}: restore differs"
        );
    }
}

#[test]
fn a_pbx_that_refuses_connections_is_named_after_bounded_retries() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut env = TestEnv::new();
    env.extra_source = source_toml(Api::V20, &url, "create", "");
    env.env = vec![
        (SECRET_VAR.into(), SECRET.into()),
        ("PBX321_LOG".into(), "trace".into()),
    ];
    fails_cleanly(&env, &["could not connect", &url, "gave up after 5 tries"]);
}

#[test]
fn v18_download_path_must_name_the_file_or_id() {
    let mut env = TestEnv::new();
    env.extra_source = source_toml(
        Api::V18,
        "https://pbx.example.com:5001",
        "latest",
        "download_path = \"/api/download\"\n",
    );
    let out = env.pbx321(&["config", "check"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("download_path") && stderr(&out).contains("{file}"),
        "{}",
        stderr(&out)
    );
}

/// Issue 11, finding 8: the PBX's clock (the backup's CreationTime) was compared with the
/// backup host's (the id), so a PBX clock ahead re-uploaded a stored backup every run.
#[test]
fn finding_8_a_pbx_clock_ahead_of_ours_does_not_re_upload_a_stored_backup() {
    for api in BOTH {
        let pbx = Pbx::start(Faults::default());
        pbx.add_backup(
            "3CXScheduledBackup.zip",
            chrono::Utc::now() + chrono::Duration::hours(2),
            sample_zip(93, 1000),
        );
        let env = env_for(&pbx, api, "latest", "");
        assert_eq!(code(&backup(&env)), 0, "{api:?}");
        let out = backup(&env);
        assert_eq!(code(&out), 0);
        assert!(
            stdout(&out).contains("already stored"),
            "{api:?}: {}",
            stdout(&out)
        );
        assert_eq!(
            env.artifacts("local").len(),
            1,
            "{api:?}: one backup, not two"
        );
    }
}

#[test]
fn config_check_online_logs_in_lists_and_creates_nothing() {
    for api in BOTH {
        let pbx = Pbx::start(Faults::default());
        scheduled(&pbx, 90);
        let env = env_for(&pbx, api, "create", "");
        let out = env.pbx321(&["config", "check", "--online"]);
        let text = stdout(&out);
        assert_eq!(code(&out), 0, "{text}");
        let line = text
            .lines()
            .find(|l| l.starts_with("  source pbx "))
            .unwrap_or_else(|| panic!("no source line: {text}"));
        assert!(line.contains(" ok "), "{line}");
        assert!(line.contains("lists 1 backup(s)"), "{line}");
        let state = pbx.state.lock().unwrap();
        assert_eq!(state.backups.len(), 1, "a probe creates no backup");
        assert!(state.deleted.is_empty(), "and deletes none");
    }
    for (api, says) in [
        (Api::V20, "client id or secret is wrong"),
        (Api::V18, "username or password is wrong"),
    ] {
        let pbx = Pbx::start(Faults {
            invalid_client: true,
            ..Faults::default()
        });
        let env = env_for(&pbx, api, "create", "");
        let out = env.pbx321(&["config", "check", "--online", "--format", "json"]);
        assert_eq!(code(&out), 1, "{}", stdout(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let probe = v["online"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["what"] == "source pbx")
            .unwrap()
            .clone();
        assert_eq!(probe["ok"], false);
        assert!(probe["detail"].as_str().unwrap().contains(says), "{probe}");
        assert!(
            !stdout(&out).contains(secret(api)),
            "the secret is never shown"
        );
        // The targets were still tried, each on its own.
        assert!(
            v["online"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["what"].as_str().unwrap().starts_with("target "))
                .all(|p| p["ok"] == true),
            "{v}"
        );
    }
}
