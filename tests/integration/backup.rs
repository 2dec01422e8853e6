//! `pbx321 backup`, `restore`, `list` and `check` end to end through the real binary.

use std::os::unix::fs::PermissionsExt;

use crate::helpers::*;

#[test]
fn round_trip_byte_for_byte_from_every_target() {
    let env = TestEnv::new();
    let original = env.put_backup("3CXScheduledBackup.zip", 1, 300_000);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "the 3-2-1 rule holds");
    assert!(stdout(&out).contains("3-2-1 OK"));
    for target in ["local", "usb", "away"] {
        let to = env.path().join(format!("restored-{target}.zip"));
        let out = env.restore(&to, &["--from", target]);
        assert_eq!(code(&out), 0);
        assert!(
            std::fs::read(&to).unwrap() == original,
            "restore from {target} is byte for byte"
        );
    }
    // Every copy is byte-identical: sealed once.
    let copies: Vec<Vec<u8>> = ["local", "usb", "away"]
        .iter()
        .map(|t| std::fs::read(&env.artifacts(t)[0]).unwrap())
        .collect();
    assert!(copies[0] == copies[1] && copies[1] == copies[2]);
    // ...and three real copies: one target may take the spool itself (a hard link on the
    // same filesystem), but no two copies share an inode.
    use std::os::unix::fs::MetadataExt;
    let inodes: std::collections::BTreeSet<u64> = ["local", "usb", "away"]
        .iter()
        .map(|t| std::fs::metadata(&env.artifacts(t)[0]).unwrap().ino())
        .collect();
    assert_eq!(inodes.len(), 3);
}

#[test]
fn sealed_artifact_opens_with_the_real_age_and_zstd() {
    let env = TestEnv::new();
    let original = env.put_backup("b.zip", 2, 100_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let artifact = &env.artifacts("usb")[0];
    assert!(open_by_hand(&env.identity, artifact) == original);
}

#[test]
fn restores_a_file_made_by_zstd_and_age_by_hand() {
    let env = TestEnv::new();
    let original = env.put_backup("b.zip", 3, 50_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // Replace the local copy with one sealed by the real programs, with a manifest to match.
    let artifact = env.artifacts("local")[0].clone();
    let manifest_path = artifact
        .to_str()
        .unwrap()
        .replace(".zip.zst.age", ".manifest.json");
    std::fs::remove_file(&artifact).unwrap();
    seal_by_hand(&env.recipient, &env.source_dir().join("b.zip"), &artifact);
    let sealed = std::fs::read(&artifact).unwrap();
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    m["sealed"]["bytes"] = sealed.len().into();
    m["sealed"]["sha256"] = sha256_hex(&sealed).into();
    std::fs::write(&manifest_path, serde_json::to_vec(&m).unwrap()).unwrap();
    // Signed again with the real ssh-keygen: its signatures are pbx321's too.
    env.resign(std::path::Path::new(&manifest_path));

    let to = env.path().join("out.zip");
    let out = env.restore(&to, &["--from", "local"]);
    assert_eq!(code(&out), 0);
    assert!(std::fs::read(&to).unwrap() == original);
}

#[test]
fn no_plaintext_on_targets_or_in_the_state_dir_and_modes_are_private() {
    let env = TestEnv::new();
    env.put_backup("b.zip", 4, 10_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    for dir in [
        env.target_dir("local"),
        env.target_dir("away"),
        env.state_dir(),
    ] {
        for f in env.files_under(&dir) {
            let p = dir.join(&f);
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !bytes.windows(19).any(|w| w == b"SECRET-SIP-PASSWORD"),
                "plaintext found in {}",
                p.display()
            );
            if !f.ends_with("lock") {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", p.display());
            }
        }
    }
    let source_dir = env.target_dir("local").join("hq");
    let mode = std::fs::metadata(&source_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert!(
        env.files_under(&env.state_dir().join("spool")).is_empty(),
        "the spool is removed once every target has its copy"
    );
}

#[test]
fn skips_a_backup_already_stored_and_takes_the_newest() {
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.1.zip", 5, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains("already stored"),
        "unchanged source is not stored twice"
    );
    assert_eq!(env.artifacts("local").len(), 1);

    // A newer file appears: it is the one backed up.
    let newer = env.put_backup("3CXScheduledBackup.zip", 6, 1000);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("3CXScheduledBackup.zip"));
    assert_eq!(env.artifacts("local").len(), 2);
    let to = env.path().join("newest.zip");
    let out = env.restore(&to, &[]);
    assert_eq!(code(&out), 0);
    assert!(std::fs::read(&to).unwrap() == newer);

    let out = env.pbx321(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let backups = v["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 2);
    for b in backups {
        let verified = b["copies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["state"] == "verified")
            .count();
        assert_eq!(verified, 3);
    }
}

#[test]
fn refuses_a_file_that_is_not_a_zip() {
    let env = TestEnv::new();
    std::fs::write(env.source_dir().join("notes.zip"), b"this is a text file").unwrap();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 1, "no copy was written");
    assert!(
        stdout(&out).contains("is not a zip file"),
        "{}",
        stdout(&out)
    );
    assert!(env.artifacts("local").is_empty());
}

#[test]
fn a_damaged_zip_is_refused_before_anything_is_stored() {
    let env = TestEnv::new();
    let mut zip = sample_zip(31, 20_000);
    let mid = zip.len() / 2;
    zip[mid] ^= 0xff; // inside the stored prompt: its CRC no longer matches
    std::fs::write(env.source_dir().join("b.zip"), &zip).unwrap();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 1, "no copy was written");
    assert!(
        stdout(&out).contains("is not a readable 3CX backup"),
        "{}",
        stdout(&out)
    );
    for t in ["local", "usb", "away"] {
        assert!(env.artifacts(t).is_empty(), "{t}");
    }
    assert!(env.files_under(&env.state_dir().join("spool")).is_empty());

    // A zip that is whole but holds no 3CX settings is refused too.
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        z.start_file("notes.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut z, b"not a PBX").unwrap();
        z.finish().unwrap();
    }
    std::fs::write(env.source_dir().join("b.zip"), buf.into_inner()).unwrap();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("no *Db.xml"), "{}", stdout(&out));
}

#[test]
fn empty_source_folder_is_a_clear_failure() {
    let env = TestEnv::new();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("no file matching"));
}

#[test]
fn one_failing_target_does_not_stop_the_others_and_the_next_run_completes_it() {
    let env = TestEnv::new();
    let original = env.put_backup("b.zip", 8, 20_000);
    // The "usb" target's parent is a regular file: every write there fails.
    std::fs::create_dir_all(env.path().join("targets")).unwrap();
    std::fs::write(env.target_dir("usb"), b"not a directory").unwrap();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 3, "copies written, rule not met");
    let text = stdout(&out);
    assert!(text.contains("usb") && text.contains("FAILED"), "{text}");
    assert!(text.contains("RULE NOT MET"));
    assert_eq!(env.artifacts("local").len(), 1);
    assert_eq!(env.artifacts("away").len(), 1);
    let spool = env.files_under(&env.state_dir().join("spool"));
    assert_eq!(
        spool.len(),
        2,
        "sealed spool and its manifest are kept for repair: {spool:?}"
    );
    {
        use std::os::unix::fs::MetadataExt;
        let name = spool.iter().find(|f| f.ends_with(".age")).unwrap();
        let spool_file = env.state_dir().join("spool").join(name);
        assert_eq!(
            std::fs::metadata(spool_file).unwrap().nlink(),
            2,
            "the spool became one target's copy by a link, not a second write"
        );
    }

    // check sees two verified copies: not compliant.
    assert_eq!(code(&env.pbx321(&["check"])), 2);

    // The disk comes back; the next run fills it from the spool without a new backup.
    std::fs::remove_file(env.target_dir("usb")).unwrap();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("already stored"));
    assert_eq!(env.artifacts("usb").len(), 1);
    assert!(env.files_under(&env.state_dir().join("spool")).is_empty());
    let copies: Vec<Vec<u8>> = ["local", "usb"]
        .iter()
        .map(|t| std::fs::read(&env.artifacts(t)[0]).unwrap())
        .collect();
    assert!(
        copies[0] == copies[1],
        "the completed copy is the same sealed bytes"
    );
    assert!(open_by_hand(&env.identity, &env.artifacts("usb")[0]) == original);
    assert_eq!(code(&env.pbx321(&["check"])), 0);
}

#[test]
fn a_lost_spool_is_rebuilt_from_a_target_that_has_the_copy() {
    let env = TestEnv::new();
    env.put_backup("b.zip", 9, 20_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // The usb copy disappears (disk swapped); the spool was removed after the first run.
    std::fs::remove_dir_all(env.target_dir("usb")).unwrap();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0);
    assert_eq!(env.artifacts("usb").len(), 1);
    let a = std::fs::read(&env.artifacts("usb")[0]).unwrap();
    let b = std::fs::read(&env.artifacts("local")[0]).unwrap();
    assert!(a == b);
}

#[test]
fn no_target_reachable_means_exit_1() {
    let mut env = TestEnv::new();
    env.targets.truncate(1);
    env.policy = "copies = 1\nmedia = 1\noffsite = 0\n".into();
    env.put_backup("b.zip", 10, 1000);
    std::fs::create_dir_all(env.path().join("targets")).unwrap();
    std::fs::write(env.target_dir("local"), b"x").unwrap();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 1);
}

#[test]
fn restore_falls_back_to_the_next_target_on_a_damaged_copy() {
    let env = TestEnv::new();
    let original = env.put_backup("b.zip", 11, 50_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // Flip one bit in the first target's copy (same size: a shallow check cannot see it).
    let p = &env.artifacts("local")[0];
    let mut bytes = std::fs::read(p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(p, &bytes).unwrap();
    let to = env.path().join("r.zip");
    let out = env.restore(&to, &[]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(text.contains("local: could not restore"), "{text}");
    assert!(text.contains("from usb"), "{text}");
    assert!(std::fs::read(&to).unwrap() == original);
    // Nothing half-written is left beside it.
    let stray: Vec<_> = std::fs::read_dir(env.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(stray.is_empty());
}

#[test]
fn restore_refuses_to_overwrite_without_force_and_selects_by_id_and_time() {
    let env = TestEnv::new();
    let first = env.put_backup("a.zip", 12, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let second = env.put_backup("b.zip", 13, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let out = env.pbx321(&["list", "hq", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<String> = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);

    let to = env.path().join("r.zip");
    std::fs::write(&to, b"precious").unwrap();
    let out = env.restore(&to, &[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--force"));
    assert_eq!(std::fs::read(&to).unwrap(), b"precious");

    let out = env.restore(&to, &["--backup", &ids[0], "--force"]);
    assert_eq!(code(&out), 0);
    assert!(std::fs::read(&to).unwrap() == first);

    let created = v["backups"][0]["created_at"].as_str().unwrap().to_string();
    let out = env.restore(&to, &["--at", &created, "--force"]);
    assert_eq!(code(&out), 0);
    assert!(
        std::fs::read(&to).unwrap() == first,
        "--at picks the newest at or before"
    );

    let out = env.restore(&to, &["--force"]);
    assert_eq!(code(&out), 0);
    assert!(std::fs::read(&to).unwrap() == second);

    let out = env.restore(&to, &["--backup", "hq-20000101T000000Z", "--force"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("no target holds backup hq-20000101T000000Z"));
}

#[test]
fn restore_with_the_wrong_key_fails_everywhere_and_writes_nothing() {
    let env = TestEnv::new();
    env.put_backup("b.zip", 14, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let other = env.path().join("other-key.txt");
    assert_eq!(
        code(&env.pbx321_raw(&["keygen", "--out", other.to_str().unwrap()])),
        0
    );
    let to = env.path().join("r.zip");
    let out = env.pbx321(&[
        "restore",
        "--source",
        "hq",
        "--to",
        to.to_str().unwrap(),
        "-i",
        other.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("no target could restore"));
    assert!(!to.exists());
}

#[test]
fn check_reports_nagios_codes_and_json() {
    let env = TestEnv::new();
    env.write_config();
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 2, "no backup at all is CRITICAL");
    assert!(stdout(&out).contains("CRITICAL"));

    env.put_backup("b.zip", 15, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let out = env.pbx321(&["check", "--format", "json"]);
    assert_eq!(code(&out), 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "OK");
    assert_eq!(v["sources"][0]["source"], "hq");
    assert_eq!(v["sources"][0]["newest"]["verdict"]["copies"], 3);
    assert_eq!(v["sources"][0]["newest"]["verdict"]["media"], 2);
    assert_eq!(v["sources"][0]["newest"]["verdict"]["offsite"], 1);

    // A truncated copy is corrupt: CRITICAL, and named.
    let p = &env.artifacts("away")[0];
    let bytes = std::fs::read(p).unwrap();
    std::fs::write(p, &bytes[..bytes.len() - 1]).unwrap();
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 2);
    assert!(stdout(&out).contains("CORRUPT"), "{}", stdout(&out));

    // An unreadable config is UNKNOWN.
    let out = env.pbx321_raw(&["--config", "/nonexistent/pbx321.toml", "check"]);
    assert_eq!(code(&out), 3);
}

#[test]
fn check_is_critical_when_the_newest_backup_is_older_than_max_age() {
    let mut env = TestEnv::new();
    env.put_backup("b.zip", 16, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // Rename the backup's objects to an id from 30 days ago, as if made then.
    let old_id = (chrono::Utc::now() - chrono::Duration::days(30))
        .format("hq-%Y%m%dT%H%M%SZ")
        .to_string();
    let old_id = old_id.as_str();
    for t in ["local", "usb", "away"] {
        for f in env.files_under(&env.target_dir(t)) {
            let p = env.target_dir(t).join(&f);
            let id = f
                .trim_start_matches("hq/")
                .split('.')
                .next()
                .unwrap()
                .to_string();
            let text_path = p.to_str().unwrap().replace(&id, old_id);
            if f.ends_with(".json") {
                let text = std::fs::read_to_string(&p).unwrap().replace(&id, old_id);
                std::fs::write(&text_path, text).unwrap();
                std::fs::remove_file(&p).unwrap();
                env.resign(std::path::Path::new(&text_path));
            } else if !f.ends_with(".sig") {
                std::fs::rename(&p, &text_path).unwrap();
            }
        }
    }
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 2);
    assert!(
        stdout(&out).contains("younger than max_age"),
        "{}",
        stdout(&out)
    );
    env.policy =
        "copies = 3\nmedia = 2\noffsite = 1\nmax_age = \"365days\"\nwarn_age = \"1day\"\n".into();
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 1, "past warn_age is WARNING");
}

#[test]
fn keygen_writes_a_private_key_once() {
    let env = TestEnv::new();
    let key = env.path().join("new-key.txt");
    let out = env.pbx321_raw(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(code(&out), 0);
    let recipient = stdout(&out).trim().to_string();
    assert!(recipient.starts_with("age1"));
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let before = std::fs::read(&key).unwrap();
    let out = env.pbx321_raw(&["keygen", "--out", key.to_str().unwrap()]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("never overwrites"));
    assert_eq!(std::fs::read(&key).unwrap(), before);
    // The real age program accepts both halves.
    let plain = env.path().join("p.txt");
    std::fs::write(&plain, b"hello").unwrap();
    let sealed = env.path().join("p.age");
    let st = std::process::Command::new("age")
        .args(["-r", &recipient, "-o"])
        .arg(&sealed)
        .arg(&plain)
        .status()
        .unwrap();
    assert!(st.success());
    let out = std::process::Command::new("age")
        .args(["-d", "-i"])
        .arg(&key)
        .arg(&sealed)
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"hello");
}

#[test]
fn a_second_run_is_refused_while_the_lock_is_held() {
    let env = TestEnv::new();
    env.put_backup("b.zip", 17, 1000);
    env.write_config();
    std::fs::create_dir_all(env.state_dir()).unwrap();
    let lock = std::fs::File::create(env.state_dir().join("lock")).unwrap();
    lock.try_lock().unwrap();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("another pbx321 run holds the lock"));
    drop(lock);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
}

#[test]
fn three_copies_labelled_on_two_media_but_on_one_filesystem_do_not_pass() {
    let mut env = TestEnv::new();
    env.trust_labels = false;
    env.put_backup("b.zip", 30, 1000);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 3, "copies written, rule not met");
    let text = stdout(&out);
    assert!(
        text.contains("1 distinct media, the rule needs 2"),
        "{text}"
    );
    assert!(
        text.contains("targets local, usb, away are on one filesystem"),
        "{text}"
    );
    assert!(text.contains("away is labelled offsite but is on the same filesystem"));
    let out = env.pbx321(&["check", "--format", "json"]);
    assert_eq!(code(&out), 2);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let notes = v["sources"][0]["newest"]["verdict"]["notes"]
        .as_array()
        .unwrap();
    assert!(!notes.is_empty());

    // Declared labels pass, and say so everywhere.
    env.trust_labels = true;
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("declared, not verified"));
    let out = env.pbx321(&["check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["sources"][0]["newest"]["verdict"]["declared"],
        serde_json::json!(["usb", "away"])
    );
}

/// The README's first command, on a copy of `examples/`: a backup whose verdict is OK, that
/// restores byte for byte with the demo identity.
#[test]
fn the_readme_quickstart_runs_and_restores() {
    let root = tempfile::tempdir().unwrap();
    let examples = root.path().join("examples");
    std::fs::create_dir_all(examples.join("sample-backups")).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for f in [
        "quickstart.toml",
        "demo-identity.txt",
        "demo-signing-key",
        "demo-signing-key.pub",
        "sample-backups/3CXScheduledBackup.zip",
    ] {
        std::fs::copy(shipped.join(f), examples.join(f)).unwrap();
    }
    let config = examples.join("quickstart.toml");
    let run = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("pbx321")
            .unwrap()
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("PBX321_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&["backup"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("3-2-1 OK"), "{}", stdout(&out));
    assert!(
        root.path()
            .join("target/pbx321-quickstart/offsite/demo")
            .is_dir()
    );

    let to = root.path().join("restored.zip");
    let identity = examples.join("demo-identity.txt");
    let out = run(&[
        "restore",
        "--source",
        "demo",
        "--to",
        to.to_str().unwrap(),
        "--identity",
        identity.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        std::fs::read(&to).unwrap()
            == std::fs::read(examples.join("sample-backups/3CXScheduledBackup.zip")).unwrap()
    );
}

/// The copies written while sealing: every local-disk target gets its own whole copy (the
/// first on the spool's file system takes the spool file itself), nothing partial is left,
/// and each copy restores alone.
#[test]
fn copies_staged_while_sealing_are_whole_and_separate() {
    use std::os::unix::fs::MetadataExt;
    let env = TestEnv::new();
    let original = env.put_backup("3CXScheduledBackup.zip", 31, 3 * 1024 * 1024);
    let out = env.pbx321(&["-vv", "backup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("staged=2") || stderr(&out).contains("staged: 2"),
        "two copies were written during the seal: {}",
        stderr(&out)
    );
    assert_eq!(
        stderr(&out)
            .matches("committing the copy staged while sealing")
            .count(),
        2,
        "and both were committed as the copies of usb and away: {}",
        stderr(&out)
    );
    let inodes: Vec<u64> = ["local", "usb", "away"]
        .iter()
        .map(|t| {
            let a = env.artifacts(t);
            assert_eq!(a.len(), 1, "{t}");
            std::fs::metadata(env.target_dir(t).join(&a[0]))
                .unwrap()
                .ino()
        })
        .collect();
    assert!(
        inodes[0] != inodes[1] && inodes[1] != inodes[2] && inodes[0] != inodes[2],
        "three copies, not three names of one: {inodes:?}"
    );
    for t in ["local", "usb", "away"] {
        assert!(
            !env.files_under(&env.target_dir(t))
                .iter()
                .any(|f| f.ends_with(".partial")),
            "{t}"
        );
        let to = env.path().join(format!("{t}.zip"));
        assert_eq!(code(&env.restore(&to, &["--from", t])), 0);
        assert_eq!(std::fs::read(&to).unwrap(), original, "{t}");
    }
    let out = env.pbx321(&["check", "--deep"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}
