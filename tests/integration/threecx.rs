//! The 3CX V20 source against the XAPI emulator: each mode end to end, and each fault.

use crate::emulator::*;
use crate::helpers::*;

fn env_for(pbx: &Pbx, mode: &str, extra: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.extra_source = format!(
        "\n[[source]]\nname = \"pbx\"\ntype = \"3cx\"\nurl = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = {{ env = \"PBX321_TEST_3CX_SECRET\" }}\nmode = \"{mode}\"\ntimeout = \"20s\"\n{extra}",
        pbx.url()
    );
    env.env = vec![("PBX321_TEST_3CX_SECRET".into(), SECRET.into())];
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

/// Runs `backup pbx` and checks the secret reached no output.
fn backup(env: &TestEnv) -> std::process::Output {
    let out = env.pbx321(&["backup", "pbx"]);
    assert!(!stdout(&out).contains(SECRET) && !stderr(&out).contains(SECRET));
    out
}

#[test]
fn create_mode_restores_what_the_pbx_served_and_deletes_it_after() {
    let pbx = Pbx::start(Faults::default());
    let env = env_for(&pbx, "create", "delete_after = true\n");
    let out = backup(&env);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let deleted = pbx.state.lock().unwrap().deleted.clone();
    assert_eq!(
        deleted.len(),
        1,
        "the PBX-side file is deleted once the rule holds"
    );
    assert!(deleted[0].starts_with("pbx321-pbx-"));
    // What was served is gone from the emulator; compare with a fresh sample of the same seed.
    assert!(restore_pbx(&env) == sample_zip(90, 50_000));
}

#[test]
fn latest_mode_takes_the_newest_and_skips_it_when_stored() {
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
    let env = env_for(&pbx, "latest", "");
    assert_eq!(code(&backup(&env)), 0);
    assert!(restore_pbx(&env) == new);
    let out = backup(&env);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("already stored"));
    assert!(
        pbx.state.lock().unwrap().deleted.is_empty(),
        "delete_after is off by default"
    );
}

#[test]
fn an_invalid_client_is_a_clear_error_without_the_secret() {
    let pbx = Pbx::start(Faults {
        invalid_client: true,
        ..Faults::default()
    });
    let env = env_for(&pbx, "create", "");
    let out = backup(&env);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("client id or secret is wrong"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_token_expiring_mid_run_is_renewed_once() {
    let pbx = Pbx::start(Faults {
        first_token_uses: Some(2),
        ..Faults::default()
    });
    let env = env_for(&pbx, "create", "");
    let out = backup(&env);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(pbx.state.lock().unwrap().tokens_issued, 2);
    assert!(restore_pbx(&env) == served(&pbx));
}

#[test]
fn a_token_lifetime_in_minutes_or_seconds_is_reused_within_a_run() {
    for expires_in in [1, 60, 3600] {
        let pbx = Pbx::start(Faults {
            expires_in,
            ..Faults::default()
        });
        let env = env_for(&pbx, "create", "");
        assert_eq!(code(&backup(&env)), 0);
        assert_eq!(
            pbx.state.lock().unwrap().tokens_issued,
            1,
            "expires_in = {expires_in}: one token for the whole run"
        );
    }
}

#[test]
fn server_error_bursts_are_retried() {
    let pbx = Pbx::start(Faults {
        server_errors: 3,
        ..Faults::default()
    });
    let env = env_for(&pbx, "create", "");
    let out = backup(&env);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(restore_pbx(&env) == served(&pbx));
}

#[test]
fn a_truncated_download_leaves_no_copy() {
    let pbx = Pbx::start(Faults {
        truncate_download: true,
        ..Faults::default()
    });
    let env = env_for(&pbx, "create", "");
    let out = backup(&env);
    assert_eq!(code(&out), 1);
    assert!(env.artifacts("local").is_empty());
    assert!(env.files_under(&env.state_dir().join("spool")).is_empty());
}

#[test]
fn a_corrupt_zip_leaves_no_copy() {
    let pbx = Pbx::start(Faults {
        corrupt_zip: true,
        ..Faults::default()
    });
    let env = env_for(&pbx, "create", "");
    let out = backup(&env);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("not a readable 3CX backup"),
        "{}",
        stdout(&out)
    );
    assert!(env.artifacts("local").is_empty());
}

#[test]
fn a_backup_that_never_appears_times_out() {
    let pbx = Pbx::start(Faults {
        never_appears: true,
        ..Faults::default()
    });
    let mut env = env_for(&pbx, "create", "");
    env.extra_source = env
        .extra_source
        .replace("timeout = \"20s\"", "timeout = \"3s\"");
    let out = backup(&env);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("did not appear complete within 3s"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_path_traversal_file_name_is_refused() {
    let pbx = Pbx::start(Faults {
        traversal_name: true,
        ..Faults::default()
    });
    pbx.add_backup(
        "3CXScheduledBackup.zip",
        chrono::Utc::now(),
        sample_zip(93, 100),
    );
    let env = env_for(&pbx, "latest", "");
    let out = backup(&env);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("not a plain .zip file name"),
        "{}",
        stdout(&out)
    );
    assert!(env.artifacts("local").is_empty());
}

#[test]
fn a_slow_download_still_completes() {
    let pbx = Pbx::start(Faults {
        slow_download: true,
        ..Faults::default()
    });
    let env = env_for(&pbx, "create", "");
    assert_eq!(code(&backup(&env)), 0);
    assert!(restore_pbx(&env) == served(&pbx));
}

#[test]
fn a_licence_without_api_access_is_a_clear_error() {
    let pbx = Pbx::start(Faults {
        forbidden: true,
        ..Faults::default()
    });
    let env = env_for(&pbx, "latest", "");
    let out = backup(&env);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("licence must include API access"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains(&pbx.url()), "the error names the PBX");
}
