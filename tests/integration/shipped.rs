//! The monitoring and deployment files pbx321 ships, against their real validators:
//! Prometheus alert rules (`promtool check rules`, `promtool test rules`), the Grafana
//! dashboard (every metric it uses is in a real `/metrics` scrape of a daemon), the Icinga 2
//! config (`icinga2 daemon -C`), the Nagios command (run as a plugin) and the Kubernetes
//! examples (`kubernetes-validate --strict`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::emulator::*;
use crate::helpers::*;

fn shipped(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(path)
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .expect("the validator must be installed (scripts/test.sh)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    let dir = shipped("prometheus");
    let (ok, text) = run(Command::new("promtool")
        .args(["check", "rules", "pbx321-alerts.yml"])
        .current_dir(&dir));
    assert!(ok && text.contains("SUCCESS: 7 rules found"), "{text}");
    let (ok, text) = run(Command::new("promtool")
        .args(["test", "rules", "pbx321-alerts.test.yml"])
        .current_dir(&dir));
    assert!(ok && text.contains("SUCCESS"), "{text}");
    // One alert per condition the issue names, each with a summary and a runbook link, and
    // each unit-tested firing.
    let rules = std::fs::read_to_string(dir.join("pbx321-alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(dir.join("pbx321-alerts.test.yml")).unwrap();
    for (alert, expr) in [
        ("PbxBackupRuleNotMet", "pbx321_invariant_ok == 0"),
        (
            "PbxBackupTooOld",
            "pbx321_backup_last_success_timestamp_seconds",
        ),
        ("PbxBackupTargetUnreachable", "pbx321_target_up == 0"),
        ("PbxBackupDrillFailed", "pbx321_standby_drill_ok == 0"),
        ("PbxBackupNotifierFailing", "pbx321_notify_failures_total"),
        ("PbxReadinessCritical", "pbx321_readiness == 2"),
        ("PbxBackupDaemonAbsent", "absent(up{job=\"pbx321\"})"),
    ] {
        let block = rules
            .split("- alert: ")
            .find(|b| b.starts_with(alert))
            .unwrap_or_else(|| panic!("{alert} is not in the rules"));
        assert!(block.contains(expr), "{alert}: {block}");
        assert!(
            block.contains("summary:") && block.contains("runbook_url:"),
            "{alert}"
        );
        assert!(
            tests.contains(&format!(
                "alertname: {alert}\n        exp_alerts:\n          - "
            )),
            "{alert} is never tested firing"
        );
    }
}

/// A daemon with every kind of fact: a 3CX source with `[plan]` (readiness), a scheduled
/// backup run, a recorded restore drill and a recorded standby drill; its `/metrics`.
fn full_scrape() -> String {
    let pbx = Pbx::start(Faults::default());
    pbx.state.lock().unwrap().readiness = Readiness {
        under_attack: true,
        ..Default::default()
    };
    pbx.add_backup(
        "3CXScheduledBackup.zip",
        chrono::Utc::now() - chrono::Duration::minutes(5),
        sample_zip(78, 20_000),
    );
    let port = crate::servers::free_port();
    let mut env = TestEnv::new();
    env.extra_source = format!(
        "schedule = \"*/2 * * * * *\"\n\n[[source]]\nname = \"pbx\"\ntype = \"3cx\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = {{ env = \"PBX321_TEST_3CX_SECRET\" }}\nurl = \"{}\"\nmode = \"latest\"\n",
        pbx.url()
    );
    env.env = vec![("PBX321_TEST_3CX_SECRET".into(), SECRET.into())];
    env.top_level = format!(
        "daemon = {{ listen = \"127.0.0.1:{port}\" }}\nschedule = {{ check = \"*/2 * * * * *\" }}\nplan = {{ owner = \"IT\" }}\nnotify = [{{ type = \"webhook\", url = \"http://127.0.0.1:1/hook\", on = [\"success\"] }}]\n"
    );
    env.put_backup("3CXScheduledBackup.zip", 78, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let out = env.pbx321(&["check", "--deep", "-i", env.identity.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("last restore drill: ok"),
        "{}",
        stdout(&out)
    );
    // A standby drill as `drill --standby` records it (tests/integration/into_pbx.rs runs
    // the real one against two emulators).
    std::fs::write(
        env.state_dir().join("standby_drills.json"),
        serde_json::json!({"pbx": {"id": "pbx-20261204T030000Z", "pbx": "https://standby.example:5001",
            "at": chrono::Utc::now().to_rfc3339(), "ok": true, "seconds": 42.0, "error": null}})
        .to_string(),
    )
    .unwrap();
    let config = env.write_config();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("pbx321"))
        .args(["--config", config.to_str().unwrap(), "daemon"])
        .current_dir(env.path())
        .envs(env.env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(env.path().join("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    crate::daemon::wait_for("the daemon to listen", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            || child.try_wait().unwrap().is_some()
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "the daemon stopped: {}",
        std::fs::read_to_string(env.path().join("daemon.log")).unwrap_or_default()
    );
    let mut metrics = String::new();
    crate::daemon::wait_for("a scrape with every kind of metric", 60, || {
        metrics = crate::daemon::http_get(port, "/metrics").1;
        [
            "pbx321_runs_total{",
            "pbx321_run_duration_seconds{",
            "pbx321_notify_failures_total{",
            "pbx321_readiness_measure{",
            "pbx321_standby_drill_seconds{",
            "pbx321_drill_last_duration_seconds{",
        ]
        .iter()
        .all(|m| metrics.contains(m))
    });
    let _ = child.kill();
    let _ = child.wait();
    metrics
}

#[test]
fn the_grafana_dashboard_uses_only_metrics_a_daemon_serves() {
    let text = std::fs::read_to_string(shipped("grafana/pbx321-dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(dash["title"].as_str().unwrap().contains("pbx321"));
    let exprs: Vec<String> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().clone())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(exprs.len() >= 8, "{exprs:?}");
    let name = regex::Regex::new(r"pbx321_[a-z_]+").unwrap();
    let used: std::collections::BTreeSet<String> = exprs
        .iter()
        .flat_map(|e| name.find_iter(e).map(|m| m.as_str().to_string()))
        .collect();
    // What the issue asks it to show.
    for m in [
        "pbx321_invariant_ok",
        "pbx321_backup_last_success_timestamp_seconds",
        "pbx321_copy_present",
        "pbx321_run_duration_seconds",
        "pbx321_drill_last_duration_seconds",
    ] {
        assert!(used.contains(m), "the dashboard lacks {m}");
    }
    let scrape = full_scrape();
    for m in &used {
        assert!(
            scrape.contains(&format!("\n{m}{{")) || scrape.contains(&format!("\n{m} ")),
            "{m} is used by the dashboard but not served:\n{scrape}"
        );
    }
}

#[test]
fn icinga2_validates_the_shipped_config() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    // icinga2 drops to its own user: it must write here.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let main = dir.path().join("icinga2.conf");
    std::fs::write(
        &main,
        format!(
            "include <itl>\nconst PluginDir = \"/usr/lib/nagios/plugins\"\ntemplate Service \"generic-service\" {{ max_check_attempts = 3 }}\nobject Host \"backup1\" {{\n  check_command = \"dummy\"\n  vars.pbx321_sources = [ \"hq\", \"branch\" ]\n}}\ninclude \"{}\"\n",
            shipped("icinga2/pbx321.conf").display()
        ),
    )
    .unwrap();
    let define = |k: &str, v: &Path| format!("-DConfiguration.{k}={}", v.display());
    let (ok, text) = run(Command::new("icinga2").args([
        "daemon",
        "-C",
        "-c",
        main.to_str().unwrap(),
        &define("CacheDir", &cache),
        &define("VarsPath", &cache.join("vars")),
        &define("ObjectsPath", &cache.join("objects")),
    ]));
    assert!(ok, "{text}");
    // Two services per source: the check and the deep check.
    assert!(text.contains("Instantiated 4 Services"), "{text}");
    assert!(
        text.contains("Finished validating the configuration"),
        "{text}"
    );
}

#[test]
fn the_nagios_command_runs_as_a_plugin() {
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 79, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let cfg = std::fs::read_to_string(shipped("nagios/pbx321.cfg")).unwrap();
    let line = cfg
        .lines()
        .find(|l| l.trim_start().starts_with("command_line") && !l.contains("--deep"))
        .unwrap()
        .trim_start()
        .trim_start_matches("command_line")
        .trim()
        .replace(
            "/usr/bin/pbx321",
            assert_cmd::cargo::cargo_bin("pbx321").to_str().unwrap(),
        )
        .replace(
            "/etc/pbx321/config.toml",
            env.config_path().to_str().unwrap(),
        )
        .replace("$ARG1$", "hq");
    let out = Command::new("sh").args(["-c", &line]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{line}: {text}");
    assert!(text.starts_with("PBX321 OK - hq OK"), "{text}");
    assert!(text.contains("'copies'=3"), "perfdata: {text}");
}

#[test]
fn the_kubernetes_examples_pass_kubernetes_validate() {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/kubernetes-validate");
    let files: Vec<PathBuf> = std::fs::read_dir(shipped("kubernetes"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    assert!(files.len() >= 2);
    let (ok, text) = run(Command::new(bin).arg("--strict").args(&files));
    assert!(ok, "{text}");
    assert_eq!(
        text.matches(" passed for resource ").count(),
        files.len(),
        "{text}"
    );
}
