//! Every shipped example config parses, and bad configs are refused before any work, with
//! file, line and what to fix.

use std::path::Path;

use pbx321::config::Config;

use crate::helpers::*;

#[test]
fn every_example_config_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(&p).unwrap();
            Config::parse(&text, &p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1);
}

/// Every TOML block in docs/ that shows `[[source]]` or `[[target]]` tables or a whole
/// config parses, completed with what a snippet leaves out.
#[test]
fn every_config_snippet_in_the_docs_parses() {
    const RECIPIENT: &str = "age1vgx3kctzsv946guapg2f6ptscu9aq6grmgd6uyp9t4cavvlxyv0q58szc4";
    // The docs write keys as "ssh-ed25519 AAAA… comment": a real one takes the dots' place.
    const DEMO_SIGNING_PUBLIC: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBCtlsuH+HQTGuKzJf/pj8HXIZL2Bo63jU2GlIS6P8e";
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "md") {
            continue;
        }
        let doc = std::fs::read_to_string(&p).unwrap();
        for block in doc.split("```toml\n").skip(1) {
            let block = block
                .split("```")
                .next()
                .unwrap()
                .replace("age1…", RECIPIENT)
                .replace("ssh-ed25519 AAAA…", DEMO_SIGNING_PUBLIC);
            if !(block.contains("[[") || block.contains("state_dir")) {
                continue; // a fragment of key = value lines
            }
            let mut text = String::new();
            if !block.contains("state_dir") {
                text.push_str(&format!(
                    "state_dir = \"/var/lib/pbx321\"\n[encryption]\nrecipients = [\"{RECIPIENT}\"]\n[policy]\ncopies = 1\nmedia = 1\noffsite = 0\n"
                ));
                if !block.contains("[[source]]") {
                    text.push_str("[[source]]\nname = \"docs-source\"\ntype = \"folder\"\npath = \"/srv/in\"\n");
                }
                if !block.contains("[[target]]") {
                    text.push_str("[[target]]\nname = \"docs-target\"\ntype = \"fs\"\npath = \"/srv/out\"\nmedium = \"disk\"\n");
                }
            }
            text.push_str(&block);
            Config::parse(&text, Path::new("/etc/pbx321/config.toml"))
                .unwrap_or_else(|e| panic!("{}:\n{block}\n{e}", p.display()));
            n += 1;
        }
    }
    assert!(n >= 10, "only {n} snippets found");
}

#[test]
fn config_check_prints_a_summary() {
    let env = TestEnv::new();
    let out = env.pbx321(&["config", "check"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(
        text.contains("policy: 3 copies, 2 media, 1 offsite"),
        "{text}"
    );
    assert!(text.contains("target away: fs"), "{text}");
}

/// (what to change in the good config, what the message must say, the line it must name)
#[test]
fn each_bad_config_is_refused_with_file_line_and_fix() {
    let cases: &[(&str, &str, &str, Option<usize>)] = &[
        (
            "path = \"pbx\"",
            "paht = \"pbx\"",
            "unknown key `paht`; did you mean `path`?",
            Some(13),
        ),
        ("name = \"usb\"", "name = \"local\"", "used twice", Some(24)),
        (
            "medium = \"removable\"",
            "medium = \"floppy\"",
            "floppy",
            Some(28),
        ),
        (
            "location = \"offsite\"",
            "location = \"onsite\"",
            "offsite = 1 but 0 target(s)",
            Some(4),
        ),
        (
            "max_age = \"26h\"",
            "max_age = \"soon\"",
            "not a duration",
            Some(8),
        ),
        ("copies = 3", "copies = -1", "", Some(5)),
        (
            "type = \"folder\"",
            "type = \"ftp\"",
            "unknown type \"ftp\"",
            Some(12),
        ),
        (
            "[encryption]\nrecipients = [\"age1",
            "[encryption]\nrecipients = [\"age1x",
            "not a valid age",
            Some(3),
        ),
    ];
    for (from, to, says, line) in cases {
        let env = TestEnv::new();
        let text = env.config_text();
        assert!(text.contains(from), "case {from:?} does not apply");
        let bad = text.replacen(from, to, 1);
        std::fs::write(env.config_path(), &bad).unwrap();
        let cfg = env.config_path();
        let out = env.pbx321_raw(&["--config", cfg.to_str().unwrap(), "backup"]);
        assert_eq!(code(&out), 2, "{to}");
        let err = stderr(&out);
        assert!(err.contains(says), "{to}: {err}");
        if let Some(line) = line {
            let at = format!("{}:{line}:", cfg.display());
            assert!(err.contains(&at), "{to}: expected {at} in {err}");
        }
        assert!(!env.state_dir().exists(), "nothing was done for {to}");
        let out = env.pbx321_raw(&["--config", cfg.to_str().unwrap(), "config", "check"]);
        assert_eq!(code(&out), 2);
    }
}

#[test]
fn config_from_environment_variable() {
    let env = TestEnv::new();
    let cfg = env.write_config();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("pbx321"))
        .args(["config", "check"])
        .env("PBX321_CONFIG", &cfg)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("pbx321"))
        .args(["config", "check"])
        .env_remove("PBX321_CONFIG")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("/etc/pbx321/config.toml"));
}

#[test]
fn unknown_source_on_the_command_line_is_a_usage_error() {
    let env = TestEnv::new();
    let out = env.pbx321(&["backup", "nope"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("no source named \"nope\""));
}

#[test]
fn config_check_says_how_media_and_offsite_will_be_counted() {
    let mut env = TestEnv::new();
    env.trust_labels = false;
    let out = env.pbx321(&["config", "check"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "a warning, not a refusal: {text}");
    assert!(
        text.contains("counting: with a copy on every target: the rule CANNOT be met — 3 copies, 1 medium, 0 offsite"),
        "{text}"
    );
    assert!(text.contains("are on one filesystem"), "{text}");
    assert!(
        text.contains("away is labelled offsite but is on the same filesystem"),
        "{text}"
    );
    env.trust_labels = true;
    let text = stdout(&env.pbx321(&["config", "check"]));
    assert!(
        text.contains(
            "counting: with a copy on every target: the rule is met — 3 copies, 2 media, 1 offsite"
        ),
        "{text}"
    );
    assert!(
        text.contains("counted as declared, not verified (trust_labels): usb, away"),
        "{text}"
    );
    let out = env.pbx321(&["config", "check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["counting"]["media"], 2, "{v}");
}

#[test]
fn config_check_online_tries_every_source_and_target_and_leaves_nothing() {
    let mut env = TestEnv::new();
    env.put_backup("a.zip", 5, 1000);
    let out = env.pbx321(&["config", "check", "--online"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}");
    for what in ["source hq", "target local", "target usb", "target away"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("  {what} ")))
            .unwrap_or_else(|| panic!("{what} missing: {text}"));
        assert!(line.contains(" ok "), "{line}");
    }
    for target in ["local", "usb", "away"] {
        assert_eq!(
            env.files_under(&env.target_dir(target)),
            Vec::<String>::new(),
            "the probe object is deleted"
        );
    }
    assert!(
        env.files_under(&env.source_dir())
            .contains(&"a.zip".to_string())
    );

    // A target that cannot be written and a source folder that is gone: each FAILED with
    // why, the rest still ok, exit 1.
    std::fs::write(env.path().join("not-a-dir"), b"x").unwrap();
    env.extra_targets =
        "\n[[target]]\nname = \"bad\"\ntype = \"fs\"\npath = \"not-a-dir/x\"\nmedium = \"nas\"\nlocation = \"offsite\"\n".into();
    std::fs::remove_dir_all(env.source_dir()).unwrap();
    let out = env.pbx321(&["config", "check", "--online"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}");
    let line = |what: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("  {what} ")))
            .unwrap_or_else(|| panic!("{what} missing: {text}"))
            .to_string()
    };
    assert!(line("target bad").contains("FAILED"), "{text}");
    assert!(line("target bad").contains("not-a-dir"), "{text}");
    assert!(line("source hq").contains("FAILED"), "{text}");
    assert!(line("source hq").contains("cannot read folder"), "{text}");
    assert!(line("target local").contains(" ok "), "{text}");
}

/// Issue 26: `config check` finds what `backup` would refuse on this machine, every unknown
/// key even beside another error, in the order of the file; `--online` says its verdict once,
/// at the end; the JSON tells signing as it is.
#[test]
fn config_check_finds_what_backup_would_refuse() {
    // A signing key that is not there: config check fails, as backup would.
    let mut env = TestEnv::new();
    env.signing = false;
    env.extra_targets = "\n[signing]\nkey = \"no-such-key\"\n".into();
    let out = env.pbx321(&["config", "check"]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("[signing] key") && stdout(&out).contains("no-such-key"),
        "{}",
        stdout(&out)
    );
    assert_eq!(code(&env.pbx321(&["backup"])), 2, "backup refuses it too");

    // A misspelt key beside a missing field, and a problem further up: all, by line.
    let mut env = TestEnv::new();
    env.top_level = "spool_max = -1\n".into();
    env.extra_targets =
        "\n[[target]]\nname = \"nas\"\ntype = \"fs\"\npath = \"nas\"\nlocaton = \"offsite\"\n"
            .into();
    let out = env.pbx321(&["config", "check"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(err.contains("locaton"), "{err}");
    assert!(err.contains("needs medium"), "{err}");
    let lines: Vec<usize> = err
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix(&format!("{}:", env.config_path().display()))
        })
        .filter_map(|rest| rest.split(':').next()?.parse().ok())
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert!(lines.len() >= 3, "{err}");
    assert_eq!(lines, sorted, "in the order of the file: {err}");

    // --online: the verdict once, at the end; JSON with signing says tamper-evident.
    let env = TestEnv::new();
    env.put_backup("a.zip", 6, 1000);
    let out = env.pbx321(&["config", "check", "--online"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}");
    assert_eq!(text.matches("OK").count(), 1, "{text}");
    assert!(
        text.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("verdict: OK"),
        "{text}"
    );
    let out = env.pbx321(&["config", "check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tamper_evident"], true, "{v}");
}
