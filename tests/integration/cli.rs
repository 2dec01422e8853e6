//! Issue 14, a consistent command line: exit codes that mean the same everywhere, each error
//! said once, `--format` on every command that reports, colour only where asked.

use crate::helpers::*;

fn said_once(text: &str, what: &str) {
    assert_eq!(text.matches(what).count(), 1, "{what:?} once in: {text}");
}

#[test]
fn restore_errors_exit_1_and_say_it_once() {
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 1500, 5_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let to = env.path().join("r.zip");
    // A missing identity file.
    let out = env.pbx321(&[
        "restore",
        "--source",
        "hq",
        "--to",
        to.to_str().unwrap(),
        "-i",
        "/nonexistent/key.txt",
    ]);
    assert_eq!(code(&out), 1);
    said_once(&stderr(&out), "No such file or directory");
    // A missing directory for --to.
    let out = env.restore(&env.path().join("missing-dir/r.zip"), &[]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("missing-dir does not exist"),
        "{}",
        stderr(&out)
    );
    // A source no target holds.
    let out = env.pbx321(&[
        "restore",
        "--source",
        "nosuch",
        "--to",
        to.to_str().unwrap(),
        "-i",
        env.identity.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("no target holds a backup of nosuch"),
        "{}",
        stderr(&out)
    );
    // --to exists without --force: usage.
    std::fs::write(&to, b"x").unwrap();
    assert_eq!(code(&env.restore(&to, &[])), 2);
    // A date alone is a time: the end of that day.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let out = env.restore(&to, &["--at", &today, "--force", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("hq-"));
}

#[test]
fn list_speaks_format_json_and_names_sources() {
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 1501, 5_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let out = env.pbx321(&["list"]);
    let text = stdout(&out);
    assert!(text.starts_with("source"), "a header: {text}");
    assert!(text.lines().nth(1).unwrap().starts_with("hq "), "{text}");
    let a = env.pbx321(&["list", "--format", "json"]);
    let b = env.pbx321(&["list", "--json"]);
    assert_eq!(stdout(&a), stdout(&b), "--json is --format json");
    assert!(serde_json::from_slice::<serde_json::Value>(&a.stdout).is_ok());
    // A source nobody has heard of is not an empty success.
    let out = env.pbx321(&["list", "nosuch"]);
    assert_eq!(code(&out), 1);
}

#[test]
fn the_verdict_names_the_configured_rule_and_counts_in_words() {
    let mut env = TestEnv::new();
    env.targets.truncate(1);
    env.policy = "copies = 1\nmedia = 1\noffsite = 0\n".into();
    env.put_backup("3CXScheduledBackup.zip", 1502, 5_000);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains("1-1-0 OK — 1 copy, 1 medium, 0 offsite"),
        "{}",
        stdout(&out)
    );
    let out = env.pbx321(&["check"]);
    assert!(
        stdout(&out).contains("rule: 1 copy, 1 medium, 0 offsite"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn keygen_says_a_missing_directory_once() {
    let env = TestEnv::new();
    let out = env.pbx321_raw(&["keygen", "--out", "missing-dir/k"]);
    assert_eq!(code(&out), 1);
    said_once(&stderr(&out), "the directory missing-dir does not exist");
}

#[test]
fn config_check_speaks_json() {
    let env = TestEnv::new();
    let out = env.pbx321(&["config", "check", "--format", "json"]);
    assert_eq!(code(&out), 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["targets"].as_array().unwrap().len(), 3);
    std::fs::write(
        env.config_path(),
        "stat_dir = 1\n[[target]]\nname = \"x\"\n",
    )
    .unwrap();
    let out = env.pbx321_raw(&[
        "--config",
        env.config_path().to_str().unwrap(),
        "config",
        "check",
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 2);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(
        v["problems"]
            .to_string()
            .contains("did you mean `state_dir`"),
        "{v}"
    );
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let mut env = TestEnv::new();
    env.env = vec![("PBX321_LOG".into(), "info".into())];
    env.put_backup("3CXScheduledBackup.zip", 1503, 5_000);
    let out = env.pbx321(&["backup"]);
    assert!(!stderr(&out).is_empty());
    assert!(!stderr(&out).contains('\u{1b}'), "no escapes into a pipe");
    let out = env.pbx321(&["--color", "always", "backup"]);
    assert!(
        stderr(&out).contains('\u{1b}'),
        "--color always: {}",
        stderr(&out)
    );
    env.env.push(("NO_COLOR".into(), "1".into()));
    let out = env.pbx321(&["--color", "never", "backup"]);
    assert!(!stderr(&out).contains('\u{1b}'));
}

/// Runs `pbx321 --config … ARGS` under a pseudo-terminal (`script`), as a person at a
/// terminal would; returns the terminal's transcript and the exit code.
fn on_a_terminal(env: &TestEnv, args: &[&str]) -> (String, i32) {
    let bin = assert_cmd::cargo::cargo_bin("pbx321");
    let mut cmd = format!(
        "{} --config {}",
        bin.display(),
        env.write_config().display()
    );
    for a in args {
        cmd.push(' ');
        cmd.push_str(a);
    }
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .current_dir(env.path())
        .env_remove("PBX321_CONFIG")
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) must be installed");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("$ (terminal) pbx321 {}\n{text}", args.join(" "));
    (text, out.status.code().unwrap_or(-1))
}

#[test]
fn progress_bars_on_a_terminal_and_never_in_a_pipe() {
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 1600, 3_000_000);
    let (text, code_) = on_a_terminal(&env, &["backup"]);
    assert_eq!(code_, 0, "{text}");
    for bar in [
        "hq: pull + seal",
        "upload to local",
        "upload to usb",
        "upload to away",
    ] {
        assert!(text.contains(bar), "{bar:?} not drawn: {text}");
    }
    assert!(text.contains("MiB"), "bytes counted: {text}");
    assert!(text.contains("backed up as hq-"), "{text}");

    let to = env.path().join("r.zip");
    let key = env.identity.to_str().unwrap().to_string();
    let (text, code_) = on_a_terminal(
        &env,
        &[
            "restore",
            "--source",
            "hq",
            "--to",
            to.to_str().unwrap(),
            "-i",
            &key,
        ],
    );
    assert_eq!(code_, 0, "{text}");
    assert!(text.contains("restore from local"), "{text}");
    let (text, _) = on_a_terminal(&env, &["check", "--deep", "-i", &key]);
    assert!(text.contains("verify on usb"), "{text}");
    assert!(text.contains("drill from"), "{text}");

    // A pipe (cron, a script): no bar, no escape sequence, the same report.
    env.put_backup("3CXScheduledBackup.zip", 1601, 3_000_000);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !all.contains("pull + seal") && !all.contains("upload to"),
        "{all}"
    );
    assert!(
        !all.contains('\u{1b}'),
        "no escape sequence in a pipe: {all:?}"
    );
    assert!(all.contains("backed up as hq-"), "{all}");

    // JSON logs on a terminal: a collector reads them, no bar among them.
    env.put_backup("3CXScheduledBackup.zip", 1602, 3_000_000);
    let (text, code_) = on_a_terminal(&env, &["--log-format", "json", "backup"]);
    assert_eq!(code_, 0, "{text}");
    assert!(!text.contains("pull + seal"), "{text}");
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_itself() {
    let env = TestEnv::new();
    for (shell, marker) in [
        ("bash", "_pbx321()"),
        ("zsh", "#compdef pbx321"),
        ("fish", "complete -c pbx321"),
    ] {
        let out = env.pbx321_raw(&["completions", shell]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}: {marker} in {text}");
        assert!(
            text.contains("restore") && text.contains("identity"),
            "{shell}"
        );
    }
    let out = env.pbx321_raw(&["completions", "tcsh"]);
    assert_eq!(code(&out), 2, "an unknown shell is a usage error");

    let out = env.pbx321_raw(&["man"]);
    assert_eq!(code(&out), 0);
    let page = stdout(&out);
    assert!(page.contains(".TH pbx321 1"), "{page}");
    assert!(page.contains("restore"), "the page lists the commands");

    let dir = env.dir.path().join("man1");
    std::fs::create_dir(&dir).unwrap();
    let out = env.pbx321_raw(&["man", "--out-dir", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for page in [
        "pbx321.1",
        "pbx321-backup.1",
        "pbx321-restore.1",
        "pbx321-check.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}");
    }
    // Every page another names is written (there is no pbx321-help(1)), and keygen's, which
    // reads no config, offers no --config.
    let written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in &written {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        for named in text.split("pbx321\\-").skip(1) {
            let Some((page, _)) = named.split_once("(1)") else {
                continue;
            };
            let page = page.replace("\\-", "-");
            assert!(
                written.contains(&format!("pbx321-{page}.1")),
                "{name} names pbx321-{page}, which is not written: {written:?}"
            );
        }
    }
    assert!(written.len() > 10, "{written:?}");
    let keygen = std::fs::read_to_string(dir.join("pbx321-keygen.1")).unwrap();
    assert!(!keygen.contains("config"), "{keygen}");
    let out = env.pbx321_raw(&["man", "--out-dir", "no/such/dir"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("cannot write man pages into no/such/dir"),
        "{}",
        stderr(&out)
    );
}

/// Issue 26: `--config` is offered by the commands that read a config, before or after the
/// command name; `keygen`, `completions` and `man` neither list nor take it.
#[test]
fn only_the_commands_that_read_a_config_offer_config() {
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 2611, 2_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let config = env.config_path();
    let config = config.to_str().unwrap();
    for args in [
        &["--config", config, "list", "--format", "json"][..],
        &["list", "--config", config, "--format", "json"][..],
        &["list", "-c", config, "--format", "json"][..],
    ] {
        let out = env.pbx321_raw(args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).contains("3CXScheduledBackup"), "{args:?}");
    }
    // Given after the command, it wins over the one before it.
    let out = env.pbx321_raw(&["-c", "/nonexistent.toml", "list", "-c", config]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for cmd in ["backup", "check", "restore", "daemon", "plan"] {
        let out = env.pbx321_raw(&[cmd, "--help"]);
        assert!(stdout(&out).contains("--config <FILE>"), "{cmd} --help");
    }
    for cmd in ["keygen", "completions", "man"] {
        let out = env.pbx321_raw(&[cmd, "--help"]);
        assert_eq!(code(&out), 0, "{cmd}");
        assert!(
            !stdout(&out).contains("--config"),
            "{cmd} --help: {}",
            stdout(&out)
        );
    }
    let out = env.pbx321_raw(&["keygen", "--config", config, "--out", "x"]);
    assert_eq!(code(&out), 2, "keygen takes no --config");
    // The top-level help names it among the global options.
    let out = env.pbx321_raw(&["--help"]);
    assert!(stdout(&out).contains("--config <FILE>"));
}

/// Issue 26: on a bare machine, `--from` one level too deep (or too high) says where the
/// backups are; an unknown source name gets a did-you-mean.
#[test]
fn a_bare_machine_is_told_where_the_backups_are() {
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 2610, 2_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let away = env.target_dir("away");
    let deep = away.join("hq");
    let out = env.pbx321_raw(&["list", "--from", deep.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("manifests lie directly in its root")
            && err.contains("the directory above it"),
        "{err}"
    );
    let high = env.path().join("targets");
    let out = env.pbx321_raw(&["list", "--from", high.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("manifests lie deeper") && err.contains("give the directory away below it"),
        "{err}"
    );
    let out = env.pbx321_raw(&["list", "hqx", "--from", away.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("did you mean \"hq\"?"),
        "{}",
        stderr(&out)
    );
    let out = env.pbx321(&["backup", "hqq"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("did you mean \"hq\"?"),
        "{}",
        stderr(&out)
    );
}

/// Issue 26: a config of only the surviving target judges what is asked (one good copy, no
/// 3-2-1 verdict unless a [policy] says so) and writes nothing to /var/lib.
#[test]
fn a_targets_only_config_judges_the_copies_and_writes_nothing_to_var_lib() {
    let _machine = machine_lock();
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 2611, 2_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let before = std::path::Path::new("/var/lib/pbx321").exists();
    let config = env.path().join("bare.toml");
    std::fs::write(
        &config,
        format!(
            "[[target]]\nname = \"usb\"\ntype = \"fs\"\npath = \"{}\"\nmedium = \"removable\"\n",
            env.target_dir("usb").display()
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let out = env.pbx321_raw(&["--config", c, "config", "check"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("CANNOT"), "{}", stdout(&out));
    let out = env.pbx321_raw(&["--config", c, "check"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("1-1-0 OK"), "{}", stdout(&out));
    let out = env.pbx321_raw(&["--config", c, "list"]);
    assert_eq!(code(&out), 0);
    if !before {
        assert!(
            !std::path::Path::new("/var/lib/pbx321").exists(),
            "a bare machine wrote to /var/lib"
        );
    }
}
