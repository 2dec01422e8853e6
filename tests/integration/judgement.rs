//! Issue 25, "one judgement of what counts": one regression test per finding, named after
//! it, each an attack by someone who can write to one target (or a misbehaving command, a
//! notifier, an HTTP client), run through the real binary.

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, TimeZone, Utc};
use pbx321::manifest;

use crate::helpers::*;
use crate::tamper::{Sig, plant};

/// Backs up what the PBX folder holds now, in process, with pbx321's clock at `at`.
fn backup_at(env: &TestEnv, zip_seed: u64, at: DateTime<Utc>) -> (String, Vec<u8>) {
    let zip = env.put_backup("3CXScheduledBackup.zip", zip_seed, 4_000);
    let path = env.write_config();
    let cfg =
        pbx321::config::Config::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let report = rt.block_on(async {
        let ctx = pbx321::ops::Ctx::open(cfg)
            .await
            .with_clock(std::sync::Arc::new(move || at));
        pbx321::ops::backup::run(&ctx, &Default::default())
            .await
            .unwrap()
    });
    match &report.sources[0].result {
        pbx321::ops::backup::RunResult::Stored { id, .. } => (id.clone(), zip),
        other => panic!("backup at {at}: {other:?}"),
    }
}

fn day(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, m, s).unwrap()
}

/// The ids whose manifest lies on `target` (not following links).
fn ids_on(env: &TestEnv, target: &str) -> Vec<String> {
    let dir = env.target_dir(target).join("hq");
    if dir.is_symlink() || !dir.is_dir() {
        return Vec::new();
    }
    let mut ids: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".manifest.json").map(str::to_string)
        })
        .collect();
    ids.sort();
    ids
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn touch_days_ago(f: &Path, days: u32) {
    let ok = Command::new("touch")
        .args(["-d", &format!("{days} days ago")])
        .arg(f)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// Every file below `dir`, not following links.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_symlink() || p.is_file() {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            } else if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn finding_1_a_directory_symlink_never_escapes_the_target() {
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 2501, 4_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // Outside every target: a file named like a leftover, and one named like pbx321's own.
    let elsewhere = env.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let important = elsewhere.join("important.db.partial");
    let lookalike = elsewhere.join("hq-20261101T000000Z.zip.zst.age.1-0-a.partial");
    for f in [&important, &lookalike] {
        std::fs::write(f, b"precious").unwrap();
        touch_days_ago(f, 3);
    }
    let before = files(&elsewhere);
    let usb_hq = env.target_dir("usb").join("hq");
    std::fs::remove_dir_all(&usb_hq).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &usb_hq).unwrap();

    let out = env.pbx321(&["prune"]);
    assert!(
        important.exists() && lookalike.exists(),
        "prune deleted outside the target: {}",
        stdout(&out)
    );
    env.put_backup("3CXScheduledBackup.zip", 2502, 4_000);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 3, "two copies, usb refused: {}", stdout(&out));
    assert!(stdout(&out).contains("symbolic link"), "{}", stdout(&out));
    env.pbx321(&["repair"]);
    assert_eq!(files(&elsewhere), before, "written outside the target");
    assert!(usb_hq.is_symlink(), "the link itself is left alone");
    let out = env.pbx321(&["check"]);
    assert!(
        stdout(&out).contains("target usb: hq is a symlink, not followed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn finding_2_a_symlink_into_another_target_never_wipes_its_history() {
    let mut env = TestEnv::new();
    env.policy = "copies = 2\nmedia = 1\noffsite = 1\nmax_age = \"3650d\"\n".into();
    env.top_level = "retention = { keep_daily = 30, timezone = \"UTC\" }\n".into();
    let mut ids = Vec::new();
    for d in 1..=9 {
        ids.push(backup_at(&env, 2510 + d as u64, day(d, 3, 0, 0)).0);
    }
    assert_eq!(ids_on(&env, "away"), ids);
    // usb's own rule keeps two; its hq directory becomes a link into away's.
    let usb_hq = env.target_dir("usb").join("hq");
    std::fs::remove_dir_all(&usb_hq).unwrap();
    std::os::unix::fs::symlink(env.target_dir("away").join("hq"), &usb_hq).unwrap();
    let text = env.config_text().replace(
        "name = \"usb\"\n",
        "name = \"usb\"\nretention = { keep_last = 2 }\n",
    );
    std::fs::write(env.config_path(), text).unwrap();
    let config = env.config_path().display().to_string();

    let out = env.pbx321_raw(&["--config", &config, "check", "--format", "json"]);
    let v = json(&out);
    let copies = v["sources"][0]["newest"]["copies"].as_array().unwrap();
    assert!(
        copies.iter().all(|c| c["target"] != "usb"),
        "counted through the link: {copies:?}"
    );
    assert!(
        v["sources"][0]["reasons"]
            .to_string()
            .contains("target usb: hq is a symlink")
    );
    let out = env.pbx321_raw(&["--config", &config, "prune"]);
    assert_eq!(ids_on(&env, "away"), ids, "{}", stdout(&out));
    assert_eq!(ids_on(&env, "local"), ids);
}

#[test]
fn finding_2_two_targets_on_one_directory_are_one_copy_and_never_pruned_through_each_other() {
    let mut env = TestEnv::new();
    env.policy = "copies = 2\nmedia = 1\noffsite = 0\nmax_age = \"3650d\"\n".into();
    env.top_level = "retention = { keep_daily = 30, timezone = \"UTC\" }\n".into();
    let mut ids = Vec::new();
    for d in 1..=4 {
        ids.push(backup_at(&env, 2520 + d as u64, day(d, 3, 0, 0)).0);
    }
    // usb is configured onto away's directory (through a link to it, as a mount would be).
    let usb = env.target_dir("usb");
    std::fs::remove_dir_all(&usb).unwrap();
    std::os::unix::fs::symlink(env.target_dir("away"), &usb).unwrap();
    let text = env.config_text().replace(
        "name = \"usb\"\n",
        "name = \"usb\"\nretention = { keep_last = 1 }\n",
    );
    std::fs::write(env.config_path(), text).unwrap();
    let config = env.config_path().display().to_string();

    let out = env.pbx321_raw(&["--config", &config, "config", "check"]);
    assert!(
        stdout(&out).contains("targets usb and away are the same directory"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = env.pbx321_raw(&["--config", &config, "check", "--format", "json"]);
    let v = json(&out);
    assert_eq!(
        v["sources"][0]["newest"]["verdict"]["copies"], 2,
        "local and away, not three: {v}"
    );
    // Counted once, on the first of the two in the config.
    let away_copy = v["sources"][0]["newest"]["copies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"] == "away")
        .cloned()
        .unwrap();
    assert_eq!(away_copy["state"], "duplicate", "{away_copy}");
    assert_eq!(away_copy["of"], "usb", "{away_copy}");
    env.pbx321_raw(&["--config", &config, "prune"]);
    assert_eq!(ids_on(&env, "away"), ids, "pruned under usb's rule");
}

/// Signing with an unsigned window: `accept_unsigned_before` on the 20th; genuine backups,
/// signed, made at 02:30 from the 15th to the 19th and on the 21st.
fn window_env() -> (TestEnv, Vec<(String, Vec<u8>)>) {
    let mut env = TestEnv::new();
    env.policy =
        "copies = 3\nmedia = 2\noffsite = 1\nmax_age = \"3650d\"\nwarn_age = \"3000d\"\n".into();
    env.signing = false; // [signing] comes from extra_targets, with the window
    env.extra_targets =
        "\n[signing]\nkey = \"signing_key\"\naccept_unsigned_before = \"2026-11-20T00:00:00Z\"\n"
            .into();
    let mut genuine = Vec::new();
    for d in [15, 16, 17, 18, 19, 21] {
        genuine.push(backup_at(&env, 2530 + d as u64, day(d, 2, 30, 0)));
    }
    (env, genuine)
}

#[test]
fn finding_3_an_unsigned_forgery_in_the_window_displaces_nothing_and_spreads_nowhere() {
    let (mut env, genuine) = window_env();
    let (real_17, real_17_zip) = &genuine[2];
    let forged = manifest::backup_id("hq", day(17, 23, 59, 59));
    let attacker_zip = sample_zip(6666, 3_000);
    plant(&env, "usb", &forged, &attacker_zip, Sig::None);

    // Kept by a rule, the forgery is still never copied elsewhere.
    env.top_level = "retention = { keep_last = 100 }\n".into();
    let out = env.pbx321(&["repair"]);
    assert!(
        !ids_on(&env, "local").contains(&forged) && !ids_on(&env, "away").contains(&forged),
        "repair spread the forgery: {}",
        stdout(&out)
    );
    // Restored by time: the signed backup of that day, not the later unsigned one.
    let to = env.path().join("r.zip");
    let out = env.restore(&to, &["--at", "2026-11-17"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        std::fs::read(&to).unwrap() == *real_17_zip,
        "restored {}",
        stdout(&out)
    );
    // A deep check names it.
    let out = env.pbx321(&["check", "--deep", "--all", "--format", "json"]);
    assert_eq!(code(&out), 1, "a WARNING: {}", stdout(&out));
    let reasons = json(&out)["sources"][0]["reasons"].to_string();
    assert!(
        reasons.contains(&format!("backup {forged} counts unsigned copies on usb")),
        "{reasons}"
    );

    // Pruned by days: the signed backup keeps the day.
    env.top_level = "retention = { keep_daily = 30, timezone = \"UTC\" }\n".into();
    let out = env.pbx321(&["prune"]);
    for t in ["local", "usb", "away"] {
        assert!(
            ids_on(&env, t).contains(real_17),
            "{t} lost the genuine backup of the 17th: {}",
            stdout(&out)
        );
    }
}

#[test]
fn finding_4_a_signed_copy_outranks_an_unsigned_one_of_the_same_id() {
    let (env, genuine) = window_env();
    let (id, real) = &genuine[2];
    // An unsigned forgery of the same id on the first target; the signed copy on another.
    plant(&env, "local", id, &sample_zip(6667, 3_000), Sig::None);
    for f in [".manifest.json", ".manifest.json.sig", ".zip.zst.age"] {
        std::fs::remove_file(env.target_dir("away").join("hq").join(format!("{id}{f}"))).unwrap();
    }
    let out = env.pbx321(&["list", "hq", "--format", "json"]);
    let v = json(&out);
    let b = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id.as_str())
        .cloned()
        .unwrap();
    let state = |t: &str| {
        b["copies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["target"] == t)
            .cloned()
            .unwrap()
    };
    assert_eq!(state("usb")["state"], "verified", "{b}");
    assert_eq!(state("local")["state"], "divergent", "{b}");
    assert!(
        state("local")["why"]
            .as_str()
            .unwrap()
            .contains("accepted unsigned, but the validly signed copies")
    );
    let to = env.path().join("r.zip");
    let out = env.restore(&to, &["--backup", id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(std::fs::read(&to).unwrap() == *real, "{}", stdout(&out));
}

/// Nine genuine backups a day apart, the newest yesterday, without signing.
fn nine_days(env: &TestEnv) -> Vec<String> {
    let now = Utc::now();
    (1..=9)
        .rev()
        .map(|d| backup_at(env, 2540 + d as u64, now - chrono::TimeDelta::days(d)).0)
        .collect()
}

#[test]
fn finding_5a_a_2099_backup_without_signing_makes_prune_refuse_not_delete() {
    let mut env = TestEnv::new();
    env.signing = false;
    env.policy = "copies = 3\nmedia = 2\noffsite = 1\nmax_age = \"30d\"\n".into();
    env.top_level = "retention = { keep_within = \"72h\" }\n".into();
    let ids = nine_days(&env);
    // A junk manifest far ahead: not a backup, never the newest; prune keeps the window.
    let junk = env
        .target_dir("usb")
        .join("hq/hq-20991231T000000Z.manifest.json");
    std::fs::write(&junk, b"{}").unwrap();
    let out = env.pbx321(&["prune", "--dry-run", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let plan = json(&out)["sources"][0].clone();
    assert_eq!(plan["newest"], ids[8].as_str(), "{plan}");
    std::fs::remove_file(&junk).unwrap();
    // A whole copy dated 2099 (anyone can make one without signing): prune removes nothing.
    plant(
        &env,
        "usb",
        "hq-20991231T000000Z",
        &sample_zip(6668, 3_000),
        Sig::None,
    );
    let out = env.pbx321(&["prune"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("is the host's clock right?"),
        "{}",
        stdout(&out)
    );
    for t in ["local", "usb", "away"] {
        let on = ids_on(&env, t);
        assert!(ids.iter().all(|id| on.contains(id)), "{t}: {on:?}");
    }
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 2);
    assert!(
        stdout(&out).contains("is the host's clock right?"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn finding_5b_a_host_signed_future_backup_makes_prune_refuse_not_plan_removals() {
    let mut env = TestEnv::new();
    env.policy = "copies = 3\nmedia = 2\noffsite = 1\nmax_age = \"30d\"\n".into();
    env.top_level = "retention = { keep_last = 1 }\n".into();
    let ids = nine_days(&env);
    let future = "hq-20991231T000000Z";
    for t in ["local", "usb", "away"] {
        plant(&env, t, future, &sample_zip(6669, 3_000), Sig::Trusted);
    }
    let out = env.pbx321(&["prune", "--dry-run", "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let v = json(&out);
    assert!(
        v["refused"].to_string().contains(future),
        "{}",
        stdout(&out)
    );
    assert!(v["sources"].as_array().unwrap().is_empty(), "{v}");
    let out = env.pbx321(&["prune"]);
    assert_eq!(code(&out), 1);
    assert_eq!(ids_on(&env, "local").len(), ids.len() + 1);
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 2);
    assert!(stdout(&out).contains("is the host's clock right?"));
}

#[test]
fn finding_6_squatting_names_never_block_a_backup() {
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 2550, 4_000);
    let dir = env.target_dir("usb").join("hq");
    std::fs::create_dir_all(&dir).unwrap();
    let now = Utc::now();
    for s in -5..=600 {
        let id = manifest::backup_id("hq", now + chrono::TimeDelta::seconds(s));
        std::fs::write(dir.join(format!("{id}-x")), b"").unwrap();
    }
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    for t in ["local", "usb", "away"] {
        assert_eq!(ids_on(&env, t).len(), 1, "{t}");
    }
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains("target usb holds 606 objects not made by pbx321"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn finding_7_a_pbx_file_name_with_control_characters_is_refused_at_discovery() {
    for name in [
        "evil\x1b]0;pwned\x07.zip",
        "two\nlines.zip",
        "rlo\u{202e}piz.zip",
    ] {
        let env = TestEnv::new();
        std::fs::write(env.source_dir().join(name), sample_zip(2560, 3_000)).unwrap();
        let out = env.pbx321(&["backup"]);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(code(&out), 1, "{all}");
        assert!(
            !all.contains('\x1b') && !all.contains('\u{202e}') && !all.contains("two\nlines"),
            "raw: {all:?}"
        );
        assert!(all.contains("\\u{"), "shown escaped: {all}");
        assert!(all.contains("nothing was stored"), "{all}");
        assert!(env.artifacts("local").is_empty(), "{name:?} stored");
    }
}

/// Whether a process whose command line holds `marker` is running.
fn running(marker: &str) -> bool {
    Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .unwrap()
        .status
        .success()
}

fn with_command(env: &mut TestEnv, script: &str, timeout: &str) {
    std::fs::create_dir_all(env.path().join("out")).unwrap();
    let sample = env.path().join("sample.zip");
    std::fs::write(&sample, sample_zip(2570, 3_000)).unwrap();
    let script = script.replace("SAMPLE", &sample.display().to_string());
    env.extra_source = format!(
        "\n[[source]]\nname = \"cmd\"\ntype = \"command\"\ncommand = [\"sh\", \"-c\", {script:?}]\nfile = \"out/b.zip\"\ntimeout = \"{timeout}\"\n"
    );
}

#[test]
fn finding_8_the_command_source_is_contained() {
    // Noisy: 8 MiB of stderr with escape sequences, then a failure.
    let mut env = TestEnv::new();
    with_command(
        &mut env,
        "printf '\\033]0;pwned\\007\\033[31mred\\n' >&2; head -c 8388608 /dev/zero | tr '\\0' x >&2; printf 'the end\\033[0m\\n' >&2; exit 4",
        "60s",
    );
    let out = env.pbx321(&["backup", "cmd"]);
    assert_eq!(code(&out), 1);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains('\x1b'), "raw escapes reached the terminal");
    assert!(all.contains("the end\\u{1b}[0m"), "escaped tail: {all}");
    assert!(all.len() < 16_384, "bounded: {} bytes", all.len());

    // Lingering: exits 0 with its file, leaving a child that holds stderr open.
    let mut env = TestEnv::new();
    with_command(&mut env, "sleep 301.25 & cp SAMPLE {file}; exit 0", "5s");
    let started = std::time::Instant::now();
    let out = env.pbx321(&["backup", "cmd"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(!stdout(&out).contains("did not finish"), "{}", stdout(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(!running("sleep 301.25"), "a child of the command lingers");

    // Hanging: the timeout ends the command and everything it started.
    let mut env = TestEnv::new();
    with_command(&mut env, "sleep 302.25 & sleep 303.25", "2s");
    let out = env.pbx321(&["backup", "cmd"]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("did not finish within 2s"),
        "{}",
        stdout(&out)
    );
    for m in ["sleep 302.25", "sleep 303.25"] {
        assert!(!running(m), "{m} left running");
    }
}

#[test]
fn finding_9_a_failing_notifier_never_prints_its_secret_url() {
    let hook = crate::notify::Capture::start(500);
    for inline in [true, false] {
        let mut env = TestEnv::new();
        let url = hook.url("/hook/T000/B000/XXSECRETXX");
        env.env = vec![("PBX321_TEST_HOOK_URL".into(), url.clone())];
        let value = if inline {
            format!("{url:?}")
        } else {
            "{ env = \"PBX321_TEST_HOOK_URL\" }".into()
        };
        env.top_level =
            format!("notify = [{{ type = \"webhook\", url = {value}, on = [\"success\"] }}]\n");
        env.put_backup("3CXScheduledBackup.zip", 2580, 2_000);
        let out = env.pbx321(&["backup"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("notification not delivered"), "{err}");
        assert!(
            !err.contains("XXSECRETXX") && !err.contains("/hook"),
            "{err}"
        );
        assert!(
            err.contains(&hook.url("/…")),
            "scheme and host shown: {err}"
        );
    }
    assert!(
        hook.requests()
            .iter()
            .all(|r| r.path.ends_with("XXSECRETXX"))
    );
}

/// Starts the daemon (without an auth token) under `prlimit --nofile=1024`, on a free port.
fn daemon_under_a_fd_limit(env: &mut TestEnv) -> (std::process::Child, u16) {
    let port = crate::servers::free_port();
    env.top_level = format!("daemon = {{ listen = \"127.0.0.1:{port}\" }}\n");
    env.extra_source = "schedule = \"*/3 * * * * *\"\n".into();
    let config = env.write_config();
    env.put_backup("3CXScheduledBackup.zip", 2590, 2_000);
    let bin = assert_cmd::cargo::cargo_bin("pbx321");
    let child = Command::new("prlimit")
        .arg("--nofile=1024:1024")
        .arg(bin)
        .args(["--config", config.to_str().unwrap(), "daemon"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    crate::daemon::wait_for("the daemon", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (child, port)
}

/// GET `path`, giving up after `within`: the whole answer, or why there was none.
fn get_within(port: u16, path: &str, within: std::time::Duration) -> Result<String, String> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, within).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text)
}

#[test]
fn finding_10_eleven_hundred_slow_connections_do_not_starve_the_daemon() {
    use std::io::Write;
    let mut env = TestEnv::new();
    let (mut child, port) = daemon_under_a_fd_limit(&mut env);
    // This test's own limit must hold the connections.
    let (_, hard) = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .map_or((0, u64::MAX), |m| (0, m));
    let want = 4096.min(hard);
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(want),
            maximum: Some(hard),
        },
    );
    let mut slow = Vec::new();
    for _ in 0..1100 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        // A request head that never ends.
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
        slow.push(s);
    }
    let started = std::time::Instant::now();
    let answer = get_within(port, "/healthz", std::time::Duration::from_secs(20));
    assert!(
        answer
            .as_deref()
            .is_ok_and(|a| a.starts_with("HTTP/1.1 200")),
        "/healthz behind 1100 slow connections: {answer:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "answered at once, took {:?}",
        started.elapsed()
    );
    // The scheduled backups go on, with their file descriptors.
    crate::daemon::wait_for("a backup while the connections hang", 30, || {
        !env.artifacts("local").is_empty()
            && get_within(port, "/api/status", std::time::Duration::from_secs(5))
                .is_ok_and(|a| a.contains("\"result\":\"ok\""))
    });
    drop(slow);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("no key to verify signatures"), "{err}");
}

#[test]
fn finding_10_without_a_token_a_forged_host_is_refused() {
    let mut env = TestEnv::new();
    env.top_level = "[daemon]\nallow_actions = true\n".into();
    let (mut child, port) = daemon_under_a_fd_limit(&mut env);
    // What a page on attacker.example, rebound to 127.0.0.1, makes a browser send.
    use std::io::{Read, Write};
    let attacker = format!("attacker.example:{port}");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /actions/check HTTP/1.1\r\nHost: {attacker}\r\nOrigin: http://{attacker}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\nConnection: close\r\n\r\ncsrf=x"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 421"), "{text}");
    // Nor can such a page read the status page.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {attacker}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 421"), "{text}");
    let (status, _) = crate::daemon::http_get(port, "/healthz");
    assert_eq!(status, 200, "its own address is served");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn finding_11_a_bare_machine_restore_without_a_key_warns_once() {
    let env = TestEnv::new();
    let original = env.put_backup("3CXScheduledBackup.zip", 2600, 3_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let dir = env.target_dir("away");
    let to = env.path().join("r.zip");
    let from = ["--from", dir.to_str().unwrap()];
    let runs: [Vec<&str>; 3] = [
        [&["list"][..], &from].concat(),
        [&["check"][..], &from].concat(),
        [
            &[
                "restore",
                "--source",
                "hq",
                "--to",
                to.to_str().unwrap(),
                "-i",
                env.identity.to_str().unwrap(),
            ][..],
            &from,
        ]
        .concat(),
    ];
    for args in runs {
        let out = env.pbx321_raw(&args);
        let err = stderr(&out);
        assert_eq!(
            err.matches("signatures are not checked").count(),
            1,
            "{args:?}: {err}"
        );
        assert!(err.contains("--trusted-key"), "{err}");
    }
    assert!(std::fs::read(&to).unwrap() == original);
    // With the key: no warning.
    let out =
        env.pbx321_raw(&[&["list", "--trusted-key", &env.signing_public][..], &from].concat());
    assert!(!stderr(&out).contains("not checked"), "{}", stderr(&out));
}
