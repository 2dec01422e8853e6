//! `pbx321 check` for monitoring: deep verification, the restore drill, Nagios and
//! Prometheus output (checked by the real `promtool`), and the textfile collector.

use std::process::Command;

use crate::helpers::*;

pub fn promtool_accepts(metrics: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.prom");
    std::fs::write(&p, metrics).unwrap();
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&p).unwrap())
        .output()
        .expect("promtool must be installed (scripts/test.sh installs the prometheus package)");
    assert!(
        out.status.success(),
        "promtool rejected the metrics:\n{}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn key(env: &TestEnv) -> String {
    env.identity.to_str().unwrap().to_string()
}

#[test]
fn deep_check_catches_a_bit_flip_that_a_shallow_check_cannot_see() {
    let env = TestEnv::new();
    env.put_backup("b.zip", 40, 50_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    assert_eq!(code(&env.pbx321(&["check", "--deep"])), 0);
    let p = &env.artifacts("usb")[0];
    let mut bytes = std::fs::read(p).unwrap();
    let i = bytes.len() / 3;
    bytes[i] ^= 0x10;
    std::fs::write(p, &bytes).unwrap();
    assert_eq!(
        code(&env.pbx321(&["check"])),
        0,
        "same size: shallow sees nothing"
    );
    let out = env.pbx321(&["check", "--deep", "--format", "json"]);
    assert_eq!(code(&out), 2);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let copies = v["sources"][0]["newest"]["copies"].as_array().unwrap();
    let usb = copies.iter().find(|c| c["target"] == "usb").unwrap();
    assert_eq!(usb["state"], "corrupt");
    assert!(usb["why"].as_str().unwrap().contains("sha256"));
    let reasons = v["sources"][0]["reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .any(|r| r.as_str().unwrap().contains("corrupt copies on usb")),
        "{reasons:?}"
    );
}

#[test]
fn deep_all_reads_every_backup() {
    let env = TestEnv::new();
    env.put_backup("a.zip", 41, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    env.put_backup("b.zip", 42, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // Damage the older backup: only --all looks at it.
    let mut artifacts = env.artifacts("local");
    artifacts.sort();
    let mut bytes = std::fs::read(&artifacts[0]).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&artifacts[0], &bytes).unwrap();
    assert_eq!(
        code(&env.pbx321(&["check", "--deep"])),
        0,
        "only the newest is read"
    );
    let out = env.pbx321(&["check", "--deep", "--all"]);
    assert_eq!(code(&out), 1, "damage in an older backup is a WARNING");
    let older = artifacts[0].file_name().unwrap().to_str().unwrap();
    let older_id = older.trim_end_matches(".zip.zst.age");
    assert!(
        stdout(&out).contains(&format!("backup {older_id} has corrupt copies on local")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_restore_drill_is_recorded_and_reported_by_later_checks() {
    let env = TestEnv::new();
    env.put_backup("b.zip", 43, 20_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let out = env.pbx321(&["check", "--deep", "--identity", &key(&env)]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains("last restore drill: ok"),
        "{}",
        stdout(&out)
    );

    // A later shallow check reports it, in every format.
    let out = env.pbx321(&["check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let drill = &v["sources"][0]["drill"];
    assert_eq!(drill["ok"], true);
    assert_eq!(drill["target"], "local");
    assert!(drill["duration_seconds"].as_f64().unwrap() >= 0.0);
    let out = env.pbx321(&["check", "--format", "prometheus"]);
    let metrics = stdout(&out);
    assert!(
        metrics.contains("pbx321_drill_last_ok{source=\"hq\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("pbx321_drill_last_timestamp_seconds{source=\"hq\"}"));
    assert!(metrics.contains("pbx321_drill_last_duration_seconds{source=\"hq\"}"));
    promtool_accepts(&metrics);
    // No plaintext was written anywhere during the drill.
    for f in env.files_under(&env.state_dir()) {
        let bytes = std::fs::read(env.state_dir().join(&f)).unwrap();
        assert!(
            !bytes.windows(19).any(|w| w == b"SECRET-SIP-PASSWORD"),
            "{f}"
        );
    }
}

#[test]
fn a_drill_finds_a_backup_that_is_not_a_readable_zip() {
    let env = TestEnv::new();
    let good = env.put_backup("b.zip", 44, 5000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // Behind pbx321's back, every copy becomes a damaged zip, consistently sealed, described
    // by its manifest and signed by the trusted key: only opening the zip can tell.
    let mut damaged = good.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0xff;
    replace_copies(&env, &damaged);
    assert_eq!(
        code(&env.pbx321(&["check", "--deep"])),
        0,
        "sha256 matches its manifest"
    );
    let out = env.pbx321(&["check", "--deep", "-i", &key(&env)]);
    assert_eq!(
        code(&out),
        2,
        "the newest backup cannot be restored: CRITICAL"
    );
    assert!(stdout(&out).contains("drill"), "{}", stdout(&out));
    assert!(stdout(&out).contains("FAILED"));
    let out = env.pbx321(&["check", "--format", "prometheus"]);
    assert!(stdout(&out).contains("pbx321_drill_last_ok{source=\"hq\"} 0"));
}

/// Replaces every target's copy with `plain` sealed to the test key (the same sealed bytes
/// everywhere), with manifests to match, signed again with the test's signing key.
fn replace_copies(env: &TestEnv, plain: &[u8]) {
    let recipients = pbx321::seal::parse_recipients(&[env.recipient.as_str()]).unwrap();
    let (d, sealed) = pbx321::seal::seal(
        std::io::Cursor::new(plain.to_vec()),
        Vec::new(),
        &recipients,
        0,
    )
    .unwrap();
    for target in ["local", "usb", "away"] {
        let artifact = env.artifacts(target)[0].clone();
        std::fs::remove_file(&artifact).unwrap();
        std::fs::write(&artifact, &sealed).unwrap();
        let mpath = artifact
            .to_str()
            .unwrap()
            .replace(".zip.zst.age", ".manifest.json");
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
        m["plain"]["bytes"] = d.plain_bytes.into();
        m["plain"]["sha256"] = d.plain_sha256.clone().into();
        m["sealed"]["bytes"] = d.sealed_bytes.into();
        m["sealed"]["sha256"] = d.sealed_sha256.clone().into();
        std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
        env.resign(std::path::Path::new(&mpath));
    }
}

#[test]
fn a_drill_with_the_wrong_key_fails() {
    let env = TestEnv::new();
    env.put_backup("b.zip", 45, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let other = env.path().join("other.txt");
    assert_eq!(
        code(&env.pbx321_raw(&["keygen", "--out", other.to_str().unwrap()])),
        0
    );
    let out = env.pbx321(&[
        "check",
        "--deep",
        "-i",
        other.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 2);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sources"][0]["drill"]["ok"], false);
    assert!(
        v["sources"][0]["drill"]["error"]
            .as_str()
            .unwrap()
            .contains("decrypt")
    );
}

#[test]
fn drill_max_age_warns_when_no_drill_is_recent() {
    let mut env = TestEnv::new();
    env.policy.push_str("drill_max_age = \"7days\"\n");
    env.put_backup("b.zip", 46, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("no restore drill recorded"));
    assert_eq!(code(&env.pbx321(&["check", "--deep", "-i", &key(&env)])), 0);
    assert_eq!(code(&env.pbx321(&["check"])), 0);
}

#[test]
fn nagios_output_and_exit_codes() {
    let mut env = TestEnv::new();
    env.write_config();
    // CRITICAL: nothing stored.
    let out = env.pbx321(&["check", "--format", "nagios"]);
    assert_eq!(code(&out), 2);
    assert!(stdout(&out).starts_with("PBX321 CRITICAL - hq CRITICAL (no backup)"));

    // OK, with perfdata.
    env.put_backup("b.zip", 47, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let out = env.pbx321(&["check", "--format", "nagios"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("PBX321 OK - hq OK (3 copies, 2 media, 1 offsite"),
        "{first}"
    );
    let perf = first.split(" | ").nth(1).expect("perfdata after |");
    assert!(
        perf.starts_with("'copies'=3;;;0 'media'=2;;;0 'offsite'=1;;;0 'age'="),
        "{perf}"
    );
    assert!(
        perf.ends_with(";74880;93600;0"),
        "warn and crit thresholds: {perf}"
    );
    assert!(
        text.contains("declared, not verified: usb, away"),
        "long output"
    );

    // WARNING: a fourth target is unreachable, the rule still holds on the others.
    env.targets
        .push(("spare".into(), "nas".into(), "onsite".into()));
    std::fs::create_dir_all(env.path().join("targets")).unwrap();
    std::fs::write(env.target_dir("spare"), b"not a directory").unwrap();
    let out = env.pbx321(&["check", "--format", "nagios"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).starts_with("PBX321 WARNING"));
    assert!(stdout(&out).contains("spare could not be read"));
    env.targets.pop();

    // UNKNOWN: the config cannot be read; still one status line.
    let out = env.pbx321_raw(&[
        "--config",
        "/nonexistent.toml",
        "check",
        "--format",
        "nagios",
    ]);
    assert_eq!(code(&out), 3);
    assert!(stdout(&out).starts_with("PBX321 UNKNOWN - "));
}

#[test]
fn prometheus_metrics_pass_promtool_and_textfile_is_written() {
    let mut env = TestEnv::new();
    env.extra_source =
        "\n[[source]]\nname = \"branch\"\ntype = \"folder\"\npath = \"pbx2\"\nsettle = \"0s\"\n"
            .into();
    std::fs::create_dir_all(env.path().join("pbx2")).unwrap();
    env.put_backup("b.zip", 48, 1000);
    // "branch" has no backup yet: its metrics must still be valid.
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 1, "one source has nothing to back up");
    let textdir = env.path().join("textfile");
    std::fs::create_dir_all(&textdir).unwrap();
    let out = env.pbx321(&[
        "check",
        "--format",
        "prometheus",
        "--textfile",
        textdir.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "branch has no backup: CRITICAL");
    let metrics = stdout(&out);
    promtool_accepts(&metrics);
    let written = std::fs::read_to_string(textdir.join("pbx321.prom")).unwrap();
    assert_eq!(written, metrics);
    let files: Vec<_> = std::fs::read_dir(&textdir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "no temporary file left beside pbx321.prom");
    for name in [
        "pbx321_backup_last_success_timestamp_seconds{source=\"hq\"}",
        "pbx321_backup_last_success_timestamp_seconds{source=\"branch\"} 0",
        "pbx321_backup_size_bytes{source=\"hq\"}",
        "pbx321_copy_present{source=\"hq\",target=\"usb\",medium=\"removable\",location=\"onsite\"} 1",
        "pbx321_invariant_ok{source=\"hq\"} 1",
        "pbx321_invariant_ok{source=\"branch\"} 0",
        "pbx321_copies{source=\"hq\"} 3",
        "pbx321_media{source=\"hq\"} 2",
        "pbx321_offsite_copies{source=\"hq\"} 1",
        "pbx321_immutable_copies{source=\"hq\"} 0",
        "pbx321_target_up{target=\"away\"} 1",
    ] {
        assert!(metrics.contains(name), "missing {name} in\n{metrics}");
    }
}

/// Runs `pbx321 --config … ARGS` as the user `nobody`, member of `group` only: a Nagios
/// user who is not root. The binary is copied where that user can run it.
fn as_monitoring_user(env: &TestEnv, group: u32, args: &[&str]) -> std::process::Output {
    use std::os::unix::fs::PermissionsExt;
    let bin = env.path().join("pbx321-bin");
    if !bin.exists() {
        std::fs::copy(assert_cmd::cargo::cargo_bin("pbx321"), &bin).unwrap();
    }
    // The test's temp directory may be entered (not listed) by anyone, as /etc/pbx321 or
    // /var/backups would be.
    std::fs::set_permissions(env.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(env.config_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534"])
        .arg(format!("--groups={group}"))
        .arg("--")
        .arg(&bin)
        .args(["--config", env.config_path().to_str().unwrap()])
        .args(args)
        .current_dir(env.path())
        .env_remove("PBX321_CONFIG")
        .output()
        .expect("setpriv (util-linux) must be installed");
    eprintln!(
        "$ (as nobody) pbx321 {}\n{}{}[exit {:?}]",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code()
    );
    out
}

fn group_of(p: &std::path::Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.gid(), m.mode() & 0o777)
}

#[test]
fn a_monitoring_user_is_told_unknown_permission_denied_until_file_group_shares_the_copies() {
    // "users" (gid 100) exists on every Debian; `nobody` is not in it.
    const USERS: u32 = 100;
    let mut env = TestEnv::new();
    // As `pbx321 keygen --signing-key` leaves it: the public half readable by all.
    std::fs::write(
        env.path().join("signing_key.pub"),
        format!("{}\n", env.signing_public),
    )
    .unwrap();
    // The targets' parent is the operator's, searchable by all (as /var/backups is).
    std::fs::create_dir(env.path().join("targets")).unwrap();
    env.put_backup("a.zip", 71, 20_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);

    // Copies are pbx321's alone: the monitoring user cannot read them, and says so first.
    let out = as_monitoring_user(&env, USERS, &["check", "--format", "nagios"]);
    let text = stdout(&out);
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(code(&out), 3, "UNKNOWN, not CRITICAL: {text}");
    assert!(
        first.starts_with("PBX321 UNKNOWN - permission denied reading targets local, usb, away;"),
        "{first}"
    );
    assert!(!text.contains("CRITICAL"), "{text}");
    assert!(!stderr(&out).contains("WARN"), "{}", stderr(&out));
    let out = as_monitoring_user(&env, USERS, &["check"]);
    assert!(
        stdout(&out).starts_with(
            "pbx321 check: UNKNOWN — permission denied reading targets local, usb, away"
        ),
        "{}",
        stdout(&out)
    );

    // The operator shares them with the group; the next backup gives the group what the
    // earlier one wrote too.
    env.top_level = "file_group = \"users\"\n".into();
    env.put_backup("b.zip", 72, 20_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let out = as_monitoring_user(&env, USERS, &["check", "--format", "nagios"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).starts_with("PBX321 OK"), "{}", stdout(&out));
    let out = as_monitoring_user(&env, USERS, &["list", "--format", "json"]);
    assert_eq!(code(&out), 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["backups"].as_array().map(Vec::len), Some(2), "{v}");

    // Group-readable, never group-writable, nothing for others.
    for target in ["local", "usb", "away"] {
        for f in env.files_under(&env.target_dir(target)) {
            let p = env.target_dir(target).join(&f);
            assert_eq!(group_of(&p), (USERS, 0o640), "{}", p.display());
            assert_eq!(
                group_of(p.parent().unwrap()),
                (USERS, 0o750),
                "{}",
                p.display()
            );
        }
    }
    assert_eq!(group_of(&env.state_dir()), (USERS, 0o750));
    assert_eq!(
        group_of(&env.state_dir().join("runs.jsonl")),
        (USERS, 0o640)
    );

    // Not in the group: still denied, never a false CRITICAL.
    let out = as_monitoring_user(&env, 65534, &["check", "--format", "nagios"]);
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("permission denied"),
        "{}",
        stdout(&out)
    );
}
