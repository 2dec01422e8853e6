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
    said_once(&stderr(&out), "No such file or directory");
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
