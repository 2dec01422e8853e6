//! Issue 11, "hardening": one regression test per finding, named after it. Each was
//! reproduced on the code before the fix.

use std::path::Path;

use crate::helpers::*;

/// Every file and directory below `dir` that is not below one of `allowed`.
fn strays(dir: &Path, allowed: &[&Path]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if allowed.iter().any(|a| p.starts_with(a)) {
                continue;
            }
            out.push(p.display().to_string());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out
}

fn manifest_of(artifact: &Path) -> std::path::PathBuf {
    artifact
        .to_str()
        .unwrap()
        .replace(".zip.zst.age", ".manifest.json")
        .into()
}

fn edit_manifest(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[test]
fn finding_1_a_manifest_from_a_target_never_steers_a_path() {
    let env = TestEnv::new();
    let original = env.put_backup("3CXScheduledBackup.zip", 101, 20_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // An attacker with write access to one target edits its manifest to point elsewhere,
    // and the copy on another target goes missing, so that the next run completes it.
    let local = env.artifacts("local")[0].clone();
    edit_manifest(&manifest_of(&local), |m| {
        m["source"] = "../../escape".into();
    });
    let usb = env.artifacts("usb")[0].clone();
    std::fs::remove_file(manifest_of(&usb)).unwrap();
    std::fs::remove_file(&usb).unwrap();
    // Copies planted under other ids, whose manifests name a path.
    let away = env.artifacts("away")[0].clone();
    for (id, field, value) in [
        ("hq-20250101T000000Z", "source", "/tmp/abs"),
        ("hq-20250102T000000Z", "id", "../../hq-20260101T000000Z"),
    ] {
        let dir = env.target_dir("away").join("hq");
        let bad = dir.join(format!("{id}.manifest.json"));
        std::fs::copy(manifest_of(&away), &bad).unwrap();
        std::fs::copy(&away, dir.join(format!("{id}.zip.zst.age"))).unwrap();
        edit_manifest(&bad, |m| m[field] = value.into());
    }

    let out = env.pbx321(&["backup"]);
    let targets = env.path().join("targets");
    let state = env.state_dir();
    let allowed = [
        targets.as_path(),
        state.as_path(),
        &env.source_dir(),
        &env.config_path(),
        &env.identity,
        &env.signing_key,
    ];
    assert_eq!(
        strays(env.path(), &allowed),
        Vec::<String>::new(),
        "nothing is written outside the targets and the state directory"
    );
    assert!(!env.path().join("escape").exists() && !Path::new("/tmp/abs").exists());
    // The usb copy was completed from a copy whose manifest is in its place.
    assert_eq!(env.artifacts("usb").len(), 1, "{}", stdout(&out));

    // The edited manifests are reported as corrupt, with the reason, and never as copies.
    let out = env.pbx321(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let copies: Vec<&serde_json::Value> = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["copies"].as_array().unwrap())
        .collect();
    let local_copy = copies
        .iter()
        .find(|c| c["target"] == "local")
        .expect("the local copy is listed");
    assert_eq!(local_copy["state"], "corrupt");
    assert!(
        local_copy["why"]
            .as_str()
            .unwrap()
            .contains("source \"../../escape\""),
        "{local_copy}"
    );
    let planted: Vec<_> = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["id"].as_str().unwrap().starts_with("hq-2025"))
        .flat_map(|b| b["copies"].as_array().unwrap())
        .collect();
    assert_eq!(planted.len(), 2);
    assert!(
        planted.iter().all(|c| c["state"] == "corrupt"),
        "{planted:?}"
    );

    let to = env.path().join("r.zip");
    assert_eq!(code(&env.restore(&to, &[])), 0);
    assert!(std::fs::read(&to).unwrap() == original);
}

/// Ids of every backup on the targets and how many verified copies each has.
fn verified_copies(env: &TestEnv) -> std::collections::BTreeMap<String, usize> {
    let out = env.pbx321(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let n = b["copies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["state"] == "verified")
                .count();
            (b["id"].as_str().unwrap().to_string(), n)
        })
        .collect()
}

fn spool_files(env: &TestEnv) -> Vec<String> {
    env.files_under(&env.state_dir().join("spool"))
}

#[test]
fn finding_2a_a_run_killed_after_sealing_leaves_no_spool_behind() {
    use std::time::{Duration, Instant};

    let env = TestEnv::new();
    for round in 0..5u64 {
        // A new PBX backup each round, large enough that the copies take a while.
        env.put_backup("3CXScheduledBackup.zip", 200 + round, 24 * 1024 * 1024);
        let before = spool_files(&env);
        let mut child = env.spawn_backup();
        // Kill as soon as this run's sealed backup is described in the spool: before the
        // copies of it are committed.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let described = spool_files(&env)
                .into_iter()
                .any(|f| f.ends_with(".manifest.json") && !before.contains(&f));
            if described || Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(
        !spool_files(&env).is_empty(),
        "the kills left pending backups"
    );

    // The next run completes every pending backup and empties the spool.
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(spool_files(&env), Vec::<String>::new());
    let copies = verified_copies(&env);
    assert!(!copies.is_empty());
    for (id, n) in &copies {
        assert_eq!(*n, 3, "{id} has every copy: {copies:?}");
    }
}

#[test]
fn finding_2b_every_pending_backup_is_completed_when_a_target_returns() {
    let env = TestEnv::new();
    // The "usb" target is down: its directory is a file.
    std::fs::create_dir_all(env.path().join("targets")).unwrap();
    std::fs::write(env.target_dir("usb"), b"unplugged").unwrap();
    for round in 0..3u64 {
        env.put_backup("3CXScheduledBackup.zip", 300 + round, 20_000);
        let out = env.pbx321(&["backup"]);
        assert_eq!(code(&out), 3, "copies written, rule not met");
    }
    let pending: Vec<String> = spool_files(&env)
        .into_iter()
        .filter(|f| f.ends_with(".manifest.json"))
        .collect();
    assert_eq!(pending.len(), 3, "one pending backup per run: {pending:?}");
    // check says which backups are short of copies and that a spool is pending for them.
    let out = env.pbx321(&["check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["sources"][0]["pending"].as_array().unwrap().len(),
        3,
        "{v}"
    );
    assert!(stdout(&env.pbx321(&["check"])).contains("pending in the spool"));

    // The disk comes back: every pending backup is completed, oldest first.
    std::fs::remove_file(env.target_dir("usb")).unwrap();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(spool_files(&env), Vec::<String>::new());
    let copies = verified_copies(&env);
    assert_eq!(copies.len(), 3, "{copies:?}");
    assert!(copies.values().all(|n| *n == 3), "{copies:?}");
}

#[test]
fn finding_2c_the_spool_is_bounded_by_spool_max() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path().join("targets")).unwrap();
    std::fs::write(env.target_dir("usb"), b"unplugged").unwrap();
    let mut dropped = false;
    for round in 0..4u64 {
        env.put_backup("3CXScheduledBackup.zip", 400 + round, 20_000);
        let out = env.pbx321(&["backup"]);
        dropped |= stdout(&out).contains("dropped");
    }
    assert!(
        dropped,
        "the oldest pending backup was dropped, and it says so"
    );
    let pending = spool_files(&env)
        .into_iter()
        .filter(|f| f.ends_with(".manifest.json"))
        .count();
    assert_eq!(pending, 3, "spool_max defaults to 3 per source");
}

/// How often `needle` appears in everything the run printed.
fn printed(out: &std::process::Output, needle: &str) -> usize {
    format!("{}{}", stdout(out), stderr(out))
        .matches(needle)
        .count()
}

#[test]
fn finding_6_a_full_target_is_not_retried_and_is_told_once_with_its_path() {
    let env = TestEnv::new();
    let _full = Tmpfs::mount(&env.target_dir("usb"), "256k");
    env.put_backup("3CXScheduledBackup.zip", 600, 2 * 1024 * 1024);
    let started = std::time::Instant::now();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 3, "the other targets have their copies");
    let text = stdout(&out);
    assert!(
        text.contains("No space left on device") && text.contains("the file system is full"),
        "{text}"
    );
    assert!(
        text.contains(&env.target_dir("usb").display().to_string()),
        "names the path: {text}"
    );
    assert!(
        !text.contains("temporary") && !text.contains("gave up"),
        "{text}"
    );
    assert!(
        !text.contains("context:") && !text.contains("service:"),
        "{text}"
    );
    assert_eq!(printed(&out, "No space left on device"), 1, "printed once");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "not retried with backoff"
    );
    assert_eq!(env.artifacts("local").len(), 1);
    assert_eq!(env.artifacts("away").len(), 1);
    assert!(
        env.files_under(&env.target_dir("usb")).is_empty(),
        "no partial left on the full disk: {:?}",
        env.files_under(&env.target_dir("usb"))
    );
}

#[test]
fn finding_6_not_a_directory_and_a_read_only_disk_are_permanent() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path().join("targets")).unwrap();
    std::fs::write(env.target_dir("usb"), b"not a directory").unwrap();
    let ro = Tmpfs::mount(&env.target_dir("away"), "1m");
    let status = std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&ro.path)
        .status()
        .unwrap();
    assert!(status.success());
    env.put_backup("3CXScheduledBackup.zip", 601, 10_000);
    let started = std::time::Instant::now();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 3);
    let text = stdout(&out);
    assert!(text.contains("a part of the path is a file"), "{text}");
    assert!(text.contains("mounted read-only"), "{text}");
    assert!(
        !text.contains("temporary") && !text.contains("gave up"),
        "{text}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(printed(&out, "Not a directory"), 1);
}

#[test]
fn finding_6_a_full_state_directory_says_where_and_what_to_do() {
    let env = TestEnv::new();
    let _full = Tmpfs::mount(&env.state_dir(), "256k");
    env.put_backup("3CXScheduledBackup.zip", 602, 2 * 1024 * 1024);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 1, "no copy was written");
    let text = stdout(&out);
    assert!(
        text.contains("cannot write the spool file")
            && text.contains(&env.state_dir().display().to_string())
            && text.contains("the file system is full"),
        "{text}"
    );
    assert_eq!(printed(&out, "No space left on device"), 1);
    for t in ["local", "usb", "away"] {
        assert!(env.artifacts(t).is_empty(), "{t}");
    }
    assert!(
        env.files_under(&env.state_dir().join("spool")).is_empty(),
        "the partial seal was removed"
    );
}

const UNSET: &str = "PBX321_TEST_SURELY_UNSET_SECRET";

fn env_with_a_webdav_target_whose_secret_is_unset() -> TestEnv {
    let mut env = TestEnv::new();
    env.targets = vec![
        ("local".into(), "disk".into(), "onsite".into()),
        ("away".into(), "disk".into(), "offsite".into()),
    ];
    env.policy = "copies = 3\nmedia = 2\noffsite = 1\n".into();
    env.extra_targets = format!(
        "\n[[target]]\nname = \"nas\"\ntype = \"webdav\"\nendpoint = \"http://127.0.0.1:9\"\nusername = \"backup\"\npassword = {{ env = \"{UNSET}\" }}\nmedium = \"nas\"\n"
    );
    env
}

#[test]
fn finding_5_an_unset_secret_fails_its_target_only() {
    let env = env_with_a_webdav_target_whose_secret_is_unset();
    env.put_backup("3CXScheduledBackup.zip", 500, 10_000);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 3, "copies written, rule not met");
    let text = stdout(&out);
    assert!(
        text.contains("nas") && text.contains(&format!("environment variable {UNSET} is not set")),
        "{text}"
    );
    assert_eq!(env.artifacts("local").len(), 1);
    assert_eq!(env.artifacts("away").len(), 1);
    // check and list carry on too: the target is unreachable, the others are read.
    let out = env.pbx321(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["backups"].as_array().unwrap().len(), 1);
    assert_eq!(code(&env.pbx321(&["check"])), 2, "rule not met");
}

#[test]
fn finding_5_a_target_that_cannot_open_alone_means_exit_1() {
    let mut env = env_with_a_webdav_target_whose_secret_is_unset();
    env.targets.clear();
    env.policy = "copies = 1\nmedia = 1\noffsite = 0\n".into();
    env.put_backup("3CXScheduledBackup.zip", 501, 10_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 1);
}

#[test]
fn finding_5_config_check_reports_unset_secrets_with_their_line() {
    let env = env_with_a_webdav_target_whose_secret_is_unset();
    let out = env.pbx321(&["config", "check"]);
    assert_eq!(code(&out), 2);
    let text = stdout(&out);
    let line = env
        .config_text()
        .lines()
        .position(|l| l.starts_with("password = { env"))
        .unwrap()
        + 1;
    assert!(
        text.contains(&format!(
            "error: {}:{line}: target \"nas\": password: environment variable {UNSET} is not set",
            env.config_path().display()
        )),
        "{text}"
    );
    let out = env.pbx321(&["config", "check", "--allow-missing-secrets"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("warning:"), "{}", stdout(&out));
    // A secret file that cannot be read is reported the same way.
    let mut env = env;
    env.extra_targets = env.extra_targets.replace(
        &format!("{{ env = \"{UNSET}\" }}"),
        "{ file = \"no/such/secret\" }",
    );
    let out = env.pbx321(&["config", "check"]);
    assert_eq!(code(&out), 2);
    assert!(
        stdout(&out).contains("cannot read secret file"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn finding_8_a_failed_write_of_the_output_is_not_exit_0() {
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 800, 10_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    env.write_config();
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("pbx321"))
            .arg("--config")
            .arg(env.config_path())
            .args(args)
            .stdout(full.try_clone().unwrap())
            .output()
            .unwrap()
    };
    let out = run(&["check", "--format", "json"]);
    assert_eq!(code(&out), 3, "UNKNOWN: the answer did not get out");
    assert!(
        stderr(&out).contains("cannot write the output"),
        "{}",
        stderr(&out)
    );
    let out = run(&["list", "--json"]);
    assert_eq!(code(&out), 1);
}

/// Whether process `pid` holds a file open for writing in `dir` that has no name: the
/// restore's unnamed plaintext.
fn writing_unnamed_in(pid: u32, dir: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|l| {
            let l = l.to_string_lossy().into_owned();
            l.starts_with(&dir.display().to_string()) && l.ends_with("(deleted)")
        })
    })
}

#[test]
fn finding_4_a_killed_restore_leaves_no_plaintext() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use assert_cmd::cargo::CommandCargoExt;

    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 400, 48 * 1024 * 1024);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let out_dir = env.path().join("restored");
    std::fs::create_dir(&out_dir).unwrap();
    let to = out_dir.join("r.zip");
    for round in 0..3 {
        let mut child = Command::cargo_bin("pbx321")
            .unwrap()
            .args(["--config", env.config_path().to_str().unwrap(), "restore"])
            .args(["--source", "hq", "--to", to.to_str().unwrap()])
            .args(["--identity", env.identity.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = false;
        while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            if writing_unnamed_in(child.id(), &out_dir) {
                seen = true;
                // Let some plaintext be written, differently each round.
                std::thread::sleep(Duration::from_millis(20 * round));
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(seen, "round {round}: killed while writing the plaintext");
        let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().flatten().collect();
        assert!(
            left.is_empty(),
            "round {round}: no file, hidden or not: {:?}",
            left.iter().map(|e| e.file_name()).collect::<Vec<_>>()
        );
    }
    // A restore that runs to its end still works.
    assert_eq!(code(&env.restore(&to, &[])), 0);
}

#[test]
fn finding_7_two_writers_sharing_targets_never_mix_copies() {
    use chrono::TimeZone;
    use pbx321::ops::backup::{self, BackupOptions, RunResult};

    let env = TestEnv::new();
    let one = env.write_config();
    let two = env.path().join("config2.toml");
    std::fs::write(
        &two,
        env.config_text()
            .replace("state_dir = \"state\"", "state_dir = \"state2\""),
    )
    .unwrap();
    let parse =
        |p: &Path| pbx321::config::Config::parse(&std::fs::read_to_string(p).unwrap(), p).unwrap();
    let (a, b) = (parse(&one), parse(&two));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut conflicts = 0;
    let started = chrono::Utc::now().timestamp();
    for round in 0..5u32 {
        env.put_backup(
            "3CXScheduledBackup.zip",
            700 + u64::from(round),
            3 * 1024 * 1024,
        );
        // Both hosts' clocks say the same second: the same id, unless one sees the other.
        // (Minutes before now: the check at the end judges ages by the wall clock.)
        let at = chrono::Utc
            .timestamp_opt(started - 600 + 60 * i64::from(round), 0)
            .unwrap();
        let opts = BackupOptions::default();
        let (ra, rb) = rt.block_on(async {
            let clock: pbx321::ops::Clock = std::sync::Arc::new(move || at);
            let a = pbx321::ops::Ctx::open(a.clone())
                .await
                .with_clock(clock.clone());
            let b = pbx321::ops::Ctx::open(b.clone()).await.with_clock(clock);
            tokio::join!(backup::run(&a, &opts), backup::run(&b, &opts))
        });
        for r in [ra.unwrap(), rb.unwrap()] {
            for s in r.sources {
                if let RunResult::Stored { id_conflicts, .. } = s.result {
                    conflicts += id_conflicts;
                }
            }
        }
    }
    // Every id's copies are the same bytes everywhere, and each matches its manifest.
    let mut ids = std::collections::BTreeSet::new();
    for t in ["local", "usb", "away"] {
        for f in env.files_under(&env.target_dir(t)) {
            assert!(!f.ends_with(".partial"), "{t}: {f}");
            if let Some(id) = f.strip_suffix(".manifest.json") {
                ids.insert(id.to_string());
            }
        }
    }
    assert!(!ids.is_empty());
    for id in &ids {
        let mut shas = std::collections::BTreeSet::new();
        for t in ["local", "usb", "away"] {
            let dir = env.target_dir(t);
            let m: serde_json::Value = serde_json::from_slice(
                &std::fs::read(dir.join(format!("{id}.manifest.json"))).unwrap(),
            )
            .unwrap_or_else(|e| panic!("{t} lacks {id}: {e}"));
            let sealed = std::fs::read(dir.join(format!("{id}.zip.zst.age"))).unwrap();
            assert_eq!(m["sealed"]["sha256"], sha256_hex(&sealed), "{t}: {id}");
            shas.insert(m["sealed"]["sha256"].as_str().unwrap().to_string());
        }
        assert_eq!(shas.len(), 1, "{id}: copies differ between targets");
    }
    assert!(conflicts > 0, "the writers did collide at least once");
    let out = env.pbx321(&["check", "--deep", "--all"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[test]
fn finding_8_concurrent_checks_keep_every_drill() {
    use std::process::{Command, Stdio};

    use assert_cmd::cargo::CommandCargoExt;

    let mut env = TestEnv::new();
    std::fs::create_dir_all(env.path().join("branch")).unwrap();
    env.extra_source =
        "\n[[source]]\nname = \"branch\"\ntype = \"folder\"\npath = \"branch\"\nsettle = \"0s\"\n"
            .into();
    env.put_backup("3CXScheduledBackup.zip", 810, 4 * 1024 * 1024);
    std::fs::copy(
        env.source_dir().join("3CXScheduledBackup.zip"),
        env.path().join("branch/b.zip"),
    )
    .unwrap();
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let config = env.write_config();
    for round in 0..3 {
        let _ = std::fs::remove_file(env.state_dir().join("drills.json"));
        let children: Vec<_> = ["hq", "branch"]
            .iter()
            .map(|s| {
                Command::cargo_bin("pbx321")
                    .unwrap()
                    .args(["--config", config.to_str().unwrap(), "check", s, "--deep"])
                    .args(["--identity", env.identity.to_str().unwrap()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            c.wait().unwrap();
        }
        let drills: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.state_dir().join("drills.json")).unwrap())
                .unwrap();
        assert!(
            drills.get("hq").is_some() && drills.get("branch").is_some(),
            "round {round}: {drills}"
        );
    }
}

#[test]
fn finding_9_a_state_dir_others_may_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 900, 1000);
    std::fs::create_dir_all(env.state_dir()).unwrap();
    std::fs::set_permissions(env.state_dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("chmod go-w"), "{}", stderr(&out));
    assert!(env.artifacts("local").is_empty());
    // A link planted where the history goes is not followed.
    std::fs::set_permissions(env.state_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let victim = env.path().join("victim");
    std::fs::write(&victim, b"root's file\n").unwrap();
    std::os::unix::fs::symlink(&victim, env.state_dir().join("runs.jsonl")).unwrap();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "history is a cache: the backup goes on");
    assert_eq!(std::fs::read(&victim).unwrap(), b"root's file\n");
    assert!(
        stderr(&out).contains("run history not recorded"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn finding_8_a_clock_that_stands_still_never_loops() {
    use chrono::TimeZone;
    use pbx321::ops::backup::{self, BackupOptions, RunResult};

    let env = TestEnv::new();
    let path = env.write_config();
    let cfg =
        pbx321::config::Config::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    let at = chrono::Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut ids = Vec::new();
    for seed in 0..3 {
        env.put_backup("3CXScheduledBackup.zip", 820 + seed, 1000);
        let run = rt.block_on(async {
            let ctx = pbx321::ops::Ctx::open(cfg.clone())
                .await
                .with_clock(std::sync::Arc::new(move || at));
            tokio::time::timeout(
                std::time::Duration::from_secs(30),
                backup::run(&ctx, &BackupOptions::default()),
            )
            .await
        });
        let report = run.expect("no endless loop").unwrap();
        match &report.sources[0].result {
            RunResult::Stored { id, .. } => ids.push(id.clone()),
            RunResult::Failed { error } => panic!("{error}"),
        }
    }
    assert_eq!(
        ids,
        vec![
            "hq-20261125T030000Z".to_string(),
            "hq-20261125T030001Z".into(),
            "hq-20261125T030002Z".into()
        ]
    );
}

#[test]
fn finding_3_durations_out_of_range_are_refused_and_nothing_panics() {
    let mut env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 300, 1000);
    env.policy = "copies = 3\nmedia = 2\noffsite = 1\nmax_age = \"300000years\"\n".into();
    for cmd in [&["config", "check"][..], &["check"], &["backup"]] {
        let out = env.pbx321(cmd);
        assert_ne!(code(&out), 101, "{cmd:?} panicked: {}", stderr(&out));
        assert!(
            format!("{}{}", stdout(&out), stderr(&out))
                .contains("max_age = 109575000d is out of range: give between 1m and 3650d"),
            "{cmd:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    // Each bounded key, at its own line.
    env.policy = "copies = 3\nmedia = 2\noffsite = 1\n".into();
    for (key, value) in [
        ("settle", "2h"),
        ("settle_timeout", "40days"),
        ("timeout", "0s"),
    ] {
        let mut env2 = TestEnv::new();
        env2.policy = env.policy.clone();
        env2.extra_source = format!(
            "\n[[source]]\nname = \"x\"\ntype = \"{}\"\n{}\n{key} = \"{value}\"\n",
            if key == "timeout" {
                "command"
            } else {
                "folder"
            },
            if key == "timeout" {
                "command = [\"/bin/true\"]\nfile = \"x.zip\""
            } else {
                "path = \"pbx\""
            }
        );
        let out = env2.pbx321(&["config", "check"]);
        assert_eq!(code(&out), 2, "{key}");
        let lines: Vec<String> = env2.config_text().lines().map(String::from).collect();
        let line = lines
            .iter()
            .rposition(|l| l.starts_with(&format!("{key} =")))
            .unwrap()
            + 1;
        assert!(
            stderr(&out).contains(&format!("config.toml:{line}: source \"x\": {key} = ")),
            "{key}: {}",
            stderr(&out)
        );
    }
    // A drill time far in the past or future in the state is judged, not a panic.
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 301, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    std::fs::write(
        env.state_dir().join("drills.json"),
        r#"{"hq":{"id":"hq-20261125T000000Z","target":"local","at":"+262000-01-01T00:00:00Z","ok":false,"duration_seconds":1e308,"error":null}}"#,
    )
    .unwrap();
    for f in ["human", "json", "nagios", "prometheus"] {
        let out = env.pbx321(&["check", "--format", f]);
        assert_ne!(code(&out), 101, "{f}: {}", stderr(&out));
    }
}
