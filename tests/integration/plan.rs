//! The response plan: `pbx321 plan` and `check` rate each readiness item against the 3CX
//! emulator's scenarios (a fragile PBX, a ready one, a trunk offline, two trunks on one
//! provider, a 403 on Trunks, a PBX under attack, weak credentials, an open console, a 403
//! on AntiHackingSettings), read-only and without the client secret or anything personal
//! in any output; the coverage table of the advice in docs/response-plan.md; the
//! Markdown runbook against golden files (tests/golden/, rewritten with
//! PBX321_UPDATE_GOLDEN=1); the HTML runbook printed to PDF by headless Chromium; and the
//! daemon writing the runbook on a schedule.

use std::collections::BTreeMap;
use std::path::Path;

use crate::emulator::*;
use crate::helpers::*;

const SECRET_VAR: &str = "PBX321_TEST_3CX_SECRET";

/// A 3CX V20 source `pbx` on the emulator (holding one backup) beside the folder source
/// `hq`, with `plan` as the `[plan]` table (inline) and `top` more top-level keys.
fn plan_env(readiness: Readiness, plan: &str, top: &str) -> (Pbx, TestEnv) {
    let pbx = Pbx::start(Faults::default());
    pbx.state.lock().unwrap().readiness = readiness;
    pbx.add_backup(
        "3CXScheduledBackup.zip",
        chrono::Utc::now() - chrono::Duration::minutes(5),
        sample_zip(77, 20_000),
    );
    let mut env = TestEnv::new();
    env.extra_source = format!(
        "\n[[source]]\nname = \"pbx\"\ntype = \"3cx\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = {{ env = \"{SECRET_VAR}\" }}\nurl = \"{}\"\nmode = \"latest\"\ntimeout = \"20s\"\n",
        pbx.url()
    );
    env.env = vec![(SECRET_VAR.into(), SECRET.into())];
    env.top_level = format!("{top}plan = {plan}\n");
    env.write_config();
    env.put_backup("3CXScheduledBackup.zip", 5, 1000);
    (pbx, env)
}

/// Declared measures tested `days` ago.
fn declared(days: i64) -> String {
    let d = (chrono::Utc::now() - chrono::Duration::days(days)).format("%Y-%m-%d");
    format!(
        "{{ owner = \"IT on-call, +34 600 000 000\", key_custody = \"age identity in the safe at HQ and in the MSP vault\", declared = [ {{ id = \"alternate_wan\", what = \"4G router (Vodafone) on the PBX's second NIC\", last_tested = \"{d}\" }}, {{ id = \"customer_channels\", what = \"website chat and the Facebook page\", last_tested = \"{d}\" }}, {{ id = \"contacts\", what = \"SIP carrier support +34 900 000 001, ISP NOC +34 900 000 002, 3CX partner +34 900 000 003\", last_tested = \"{d}\" }}, {{ id = \"intrusion_detection\", what = \"Suricata on the edge router\", last_tested = \"{d}\" }}, {{ id = \"network_separation\", what = \"voice VLAN 20, data VLAN 10\", last_tested = \"{d}\" }}, {{ id = \"network_monitoring\", what = \"LibreNMS and the carrier's fraud alerts\", last_tested = \"{d}\" }}, {{ id = \"os_hardening\", what = \"3CX's Debian image only, SSH by key\", last_tested = \"{d}\" }}, {{ id = \"host_provider\", what = \"Hetzner FSN1, 99.9 % SLA\", last_tested = \"{d}\" }} ] }}"
    )
}

/// `plan --format json`: source → item → status.
fn statuses(env: &TestEnv) -> BTreeMap<String, BTreeMap<String, String>> {
    let out = env.pbx321(&["plan", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_no_secret(&out);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_string(),
                s["readiness"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| {
                        (
                            i["id"].as_str().unwrap().to_string(),
                            i["status"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

/// Neither the client secret nor anything personal the PBX holds (names, e-mail and IP
/// addresses, [`PERSONAL`]) is in the output.
fn assert_no_secret(out: &std::process::Output) {
    assert!(
        !stdout(out).contains(SECRET) && !stderr(out).contains(SECRET),
        "the client secret leaked"
    );
    for p in PERSONAL {
        assert!(
            !stdout(out).contains(p) && !stderr(out).contains(p),
            "{p:?} reached the output"
        );
    }
}

fn want(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Every item against every scenario, through the real binary; read-only.
#[test]
fn plan_rates_every_item_against_each_scenario() {
    let ready = [
        ("os_updates", "ok"),
        ("firewall", "ok"),
        ("phone_firmware", "ok"),
        ("services", "ok"),
        ("license", "ok"),
        ("disk", "ok"),
        ("sip_trunk_redundancy", "ok"),
        ("outbound_failover", "ok"),
        ("web_channels", "ok"),
        ("sms", "ok"),
        ("pbx_backup_schedule", "ok"),
        ("pbx_backup_location", "ok"),
        ("failover", "ok"),
        ("global_blacklist", "ok"),
        ("brute_force_protection", "ok"),
        ("weak_credentials", "ok"),
        ("console_exposure", "ok"),
        ("firewall_check", "ok"),
        ("pending_updates", "ok"),
        ("pbx_alerts", "ok"),
        ("log_forwarding", "ok"),
        ("attack_activity", "info"),
        ("api_clients", "info"),
        ("alternate_wan", "declared"),
        ("customer_channels", "declared"),
        ("contacts", "declared"),
        ("intrusion_detection", "declared"),
        ("network_separation", "declared"),
        ("network_monitoring", "declared"),
        ("os_hardening", "declared"),
        ("host_provider", "declared"),
    ];
    let with = |changes: &[(&'static str, &'static str)]| {
        let mut m = want(&ready);
        for (k, v) in changes {
            m.insert(k.to_string(), v.to_string());
        }
        m
    };
    let scenarios: Vec<(&str, Readiness, BTreeMap<String, String>)> = vec![
        ("ready", Readiness::default(), with(&[])),
        (
            "fragile",
            Readiness {
                fragile: true,
                ..Default::default()
            },
            with(&[
                ("os_updates", "warning"),
                ("phone_firmware", "warning"),
                ("sip_trunk_redundancy", "warning"),
                ("outbound_failover", "warning"),
                ("web_channels", "warning"),
                ("sms", "info"),
                ("pbx_backup_schedule", "warning"),
                ("pbx_backup_location", "warning"),
                ("failover", "info"),
                ("global_blacklist", "warning"),
                ("brute_force_protection", "warning"),
                ("weak_credentials", "warning"),
                ("console_exposure", "warning"),
                ("firewall_check", "warning"),
                ("pending_updates", "warning"),
                ("pbx_alerts", "warning"),
                ("log_forwarding", "info"),
                ("api_clients", "warning"),
            ]),
        ),
        (
            "under attack",
            Readiness {
                under_attack: true,
                ..Default::default()
            },
            with(&[]),
        ),
        (
            "weak credentials on three extensions",
            Readiness {
                weak_credentials: true,
                ..Default::default()
            },
            with(&[("weak_credentials", "warning")]),
        ),
        (
            "an open console",
            Readiness {
                open_console: true,
                ..Default::default()
            },
            with(&[("console_exposure", "warning")]),
        ),
        (
            "403 on AntiHackingSettings",
            Readiness {
                forbid_anti_hacking: true,
                ..Default::default()
            },
            with(&[
                ("global_blacklist", "unknown"),
                ("brute_force_protection", "unknown"),
            ]),
        ),
        (
            "a trunk offline",
            Readiness {
                trunk_offline: true,
                ..Default::default()
            },
            with(&[("sip_trunk_redundancy", "warning")]),
        ),
        (
            "two trunks on one provider",
            Readiness {
                one_provider: true,
                ..Default::default()
            },
            with(&[("sip_trunk_redundancy", "warning")]),
        ),
        (
            "403 on Trunks",
            Readiness {
                forbid_trunks: true,
                ..Default::default()
            },
            with(&[("sip_trunk_redundancy", "unknown"), ("sms", "unknown")]),
        ),
    ];
    for (name, readiness, expected) in scenarios {
        let (pbx, env) = plan_env(readiness, &declared(10), "");
        let got = statuses(&env);
        let mut pbx_items = got["pbx"].clone();
        assert_eq!(
            pbx_items.remove("backups").as_deref(),
            Some("critical"),
            "{name}: no backup of pbx yet"
        );
        assert_eq!(pbx_items, expected, "{name}");
        // A folder source gets the backups item and the declared ones only.
        assert_eq!(
            got["hq"].keys().cloned().collect::<Vec<_>>(),
            vec![
                "alternate_wan",
                "backups",
                "contacts",
                "customer_channels",
                "host_provider",
                "intrusion_detection",
                "network_monitoring",
                "network_separation",
                "os_hardening"
            ],
            "{name}"
        );
        // Read-only: no write call reached the PBX.
        // `check` (with [plan]) rates every item the same way.
        let out = env.pbx321(&["check", "--format", "json"]);
        assert_no_secret(&out);
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let checked: BTreeMap<String, String> = v["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == "pbx")
            .unwrap()["readiness"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["id"] != "backups")
            .map(|i| {
                (
                    i["id"].as_str().unwrap().to_string(),
                    i["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(checked, expected, "{name}: check");
        let requests = pbx.state.lock().unwrap().requests.clone();
        assert!(
            requests
                .iter()
                .all(|r| r.starts_with("GET ") || r == "POST /connect/token"),
            "{name}: {requests:?}"
        );
        assert!(requests.iter().any(|r| r == "GET /xapi/v1/OutboundRules"));
        assert!(
            requests
                .iter()
                .any(|r| r == "GET /xapi/v1/AntiHackingSettings")
        );
    }
    // The human list says what to do, and names the role a 403 needs.
    let (_pbx, env) = plan_env(
        Readiness {
            forbid_trunks: true,
            ..Default::default()
        },
        &declared(400),
        "",
    );
    let out = env.pbx321(&["plan", "pbx"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_no_secret(&out);
    let text = stdout(&out);
    assert!(text.contains("? unknown   sip_trunk_redundancy"), "{text}");
    assert!(text.contains("System Owner"), "{text}");
    assert!(
        text.contains("▲ warning   alternate_wan"),
        "tested 400 days ago: {text}"
    );
    assert!(!text.contains("hq:"), "only the source asked for");
}

/// docs/response-plan.md maps every measure of both steps of the advice to the items that
/// prove it: no measure is left out, every item named exists, and every item is named.
#[test]
fn the_coverage_table_maps_every_measure_of_the_advice() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/response-plan.md"),
    )
    .unwrap();
    let table = doc
        .split("## Every measure of the advice, and what proves it")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| l.starts_with("| 1 ") || l.starts_with("| 2 "))
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    let measures = [
        ("1", "choose the host"),
        ("1", "up to date"),
        ("1", "voice security"),
        ("1", "firewall"),
        ("1", "OAuth"),
        ("1", "passwords"),
        ("1", "separate voice and data"),
        ("1", "intrusion detection"),
        ("1", "monitor network"),
        ("1", "harden the OS"),
        ("1", "phone firmware"),
        ("1", "global blacklist"),
        ("2", "3-2-1 backups"),
        ("2", "second SIP carrier"),
        ("2", "outbound rules"),
        ("2", "alternate WAN"),
        ("2", "live chat, Click2Talk, Click2Meet"),
        ("2", "Facebook Messenger"),
        ("2", "SMS"),
    ];
    for (step, m) in measures {
        let row = rows
            .iter()
            .find(|r| r[1] == step && r[2].contains(m))
            .unwrap_or_else(|| panic!("step {step}: {m:?} is not in the coverage table"));
        assert!(!row[3].is_empty() && !row[4].is_empty(), "{m}: {row:?}");
    }
    let named: std::collections::BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r[3].split('`').skip(1).step_by(2))
        .collect();
    for n in &named {
        assert!(
            pbx321::config::READINESS_ITEMS.contains(n),
            "{n} is not a readiness item"
        );
    }
    for item in pbx321::config::READINESS_ITEMS {
        assert!(
            named.contains(item),
            "{item} proves no measure in the table"
        );
    }
}

/// Step 1's facts in every format: the counts of an attack and of weak credentials reach
/// the metrics, the extension numbers the human list; nothing personal reaches any output.
#[test]
fn security_items_show_in_every_format_without_personal_data() {
    let (_pbx, env) = plan_env(
        Readiness {
            under_attack: true,
            weak_credentials: true,
            open_console: true,
            ..Default::default()
        },
        &declared(10),
        "",
    );
    let text = stdout(&env.pbx321(&["plan", "pbx"]));
    assert!(
        text.contains("3 extensions have weak credentials (3CX's WeakPass/WeakID): 101, 104, 107"),
        "{text}"
    );
    assert!(
        text.contains("300 addresses the PBX blocked itself in the last 24 h"),
        "{text}"
    );
    assert!(
        text.contains("the admin console is open to every address"),
        "{text}"
    );
    for args in [
        &["plan", "pbx"][..],
        &["plan", "--format", "json"],
        &["plan", "--format", "markdown"],
        &["plan", "--format", "html"],
        &["check", "--format", "json"],
        &["check", "--format", "nagios"],
        &["check", "--format", "prometheus"],
        &["check"],
    ] {
        let out = env.pbx321(args);
        assert_no_secret(&out);
    }
    let prom = stdout(&env.pbx321(&["check", "--format", "prometheus"]));
    assert!(
        prom.contains("pbx321_readiness_measure{source=\"pbx\",item=\"attack_activity\"} 300"),
        "{prom}"
    );
    assert!(prom.contains("pbx321_readiness_measure{source=\"pbx\",item=\"weak_credentials\"} 3"));
    assert!(prom.contains("pbx321_readiness{source=\"pbx\",item=\"console_exposure\"} 1"));
    let nagios = stdout(&env.pbx321(&["check", "--format", "nagios"]));
    assert!(
        nagios.contains("pbx: readiness console_exposure WARNING"),
        "{nagios}"
    );
}

/// `check` carries readiness when `[plan]` is configured; its exit status moves only with
/// `affects_status = true`.
#[test]
fn check_carries_readiness_and_changes_status_only_when_asked() {
    let (_pbx, mut env) = plan_env(
        Readiness {
            fragile: true,
            ..Default::default()
        },
        &declared(10),
        "",
    );
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.pbx321(&["check", "--format", "json"]);
    assert_eq!(
        code(&out),
        0,
        "readiness does not change the status by default: {}",
        stdout(&out)
    );
    assert_no_secret(&out);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let pbx = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "pbx")
        .unwrap();
    let web = pbx["readiness"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "web_channels")
        .unwrap();
    assert_eq!(web["status"], "warning");
    assert!(web["fix"].as_str().unwrap().contains("website link"));
    let out = env.pbx321(&["check", "--format", "nagios"]);
    assert_eq!(code(&out), 0);
    let nagios = stdout(&out);
    assert!(nagios.starts_with("PBX321 OK"), "{nagios}");
    for line in [
        "pbx: readiness web_channels WARNING: no live chat",
        "pbx: readiness outbound_failover WARNING: 2 outbound rules without a second route on another trunk: National, Mobile",
        "pbx: readiness pbx_backup_location WARNING",
    ] {
        assert!(nagios.contains(line), "{line} in:\n{nagios}");
    }
    assert!(
        !nagios.contains("readiness firewall "),
        "ok items are not listed"
    );
    let out = env.pbx321(&["check", "--format", "prometheus"]);
    let prom = stdout(&out);
    assert!(
        prom.contains("pbx321_readiness{source=\"pbx\",item=\"web_channels\"} 1"),
        "{prom}"
    );
    assert!(prom.contains("pbx321_readiness{source=\"pbx\",item=\"firewall\"} 0"));
    assert!(prom.contains("pbx321_readiness{source=\"hq\",item=\"contacts\"} 0"));
    crate::monitoring::promtool_accepts(&prom);
    // affects_status = true: the warnings make the check a WARNING.
    env.top_level = format!(
        "plan = {}\n",
        declared(10).replacen("{ owner", "{ affects_status = true, owner", 1)
    );
    env.write_config();
    let out = env.pbx321(&["check", "--format", "nagios"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(stdout(&out).starts_with("PBX321 WARNING"));
    assert!(stdout(&out).contains("pbx: readiness web_channels: no live chat"));
    // Without [plan], check asks the PBX nothing about readiness.
    env.top_level.clear();
    env.write_config();
    let out = env.pbx321(&["check", "--format", "json"]);
    assert_eq!(code(&out), 0);
    assert!(!stdout(&out).contains("\"readiness\""));
}

/// Volatile parts of a runbook made stable for a golden file.
fn normalize(text: &str, env: &TestEnv, pbx: &Pbx) -> String {
    let mut t = text.replace(&env.path().display().to_string(), "$DIR");
    t = t.replace(&format!("127.0.0.1:{}", pbx.port), "127.0.0.1:PORT");
    t = t.replace(env!("CARGO_PKG_VERSION"), "VERSION");
    for (re, to) in [
        (r"\b(hq|pbx)-\d{8}T\d{6}Z\b", "$1-ID"),
        (r"\b[0-9a-f]{64}\b", "SHA256"),
        (r"\d{4}-\d{2}-\d{2}", "DATE"),
        (r"\b\d{2}:\d{2}(:\d{2})?\b", "HH:MM"),
        (r"(free: [0-9.]+ GiB of [0-9.]+ GiB)", "$1"),
    ] {
        t = regex::Regex::new(re)
            .unwrap()
            .replace_all(&t, to)
            .into_owned();
    }
    t
}

fn golden(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("PBX321_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run with PBX321_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    if want != got {
        let first = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "{} differs from line {}:\nwant: {:?}\ngot:  {:?}\n(PBX321_UPDATE_GOLDEN=1 rewrites it)",
            path.display(),
            first + 1,
            want.lines().nth(first),
            got.lines().nth(first)
        );
    }
}

/// The Markdown runbook of a fragile and of a ready PBX, against golden files; the restore
/// commands it prints work as printed (the stock `age | zstd` one is run).
#[test]
fn the_markdown_runbook_matches_its_golden_files() {
    for (name, readiness) in [
        (
            "runbook-fragile.md",
            Readiness {
                fragile: true,
                ..Default::default()
            },
        ),
        ("runbook-ready.md", Readiness::default()),
    ] {
        let (pbx, env) = plan_env(readiness, &declared(10), "");
        let out = env.pbx321(&["backup"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let out = env.pbx321(&["plan", "--format", "markdown"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_no_secret(&out);
        let md = stdout(&out);
        golden(name, &normalize(&md, &env, &pbx));
        // The stock command from the local disk, run as printed.
        let section = md.split("## pbx — ").nth(1).unwrap();
        let stock = section
            .split("With stock tools only")
            .nth(1)
            .and_then(|s| s.split("```sh\n").nth(1))
            .and_then(|s| s.split("\n```").next())
            .expect("a stock command")
            .replace("/path/to/pbx321-key.txt", env.identity.to_str().unwrap());
        let run = std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &stock])
            .current_dir(env.path())
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{stock}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let printed = String::from_utf8_lossy(&run.stdout).to_string();
        let sha = stock.split("must print ").nth(1).unwrap().trim();
        assert!(printed.starts_with(sha), "{printed} vs {sha}");
    }
}

/// The HTML runbook is one file that prints to PDF on A4 in headless Chromium; the daemon
/// writes it on its schedule.
#[test]
fn the_html_runbook_prints_to_pdf_and_the_daemon_writes_it() {
    use assert_cmd::cargo::CommandCargoExt;
    let port = crate::servers::free_port();
    let (_pbx, env) = plan_env(
        Readiness {
            fragile: true,
            ..Default::default()
        },
        &declared(10).replacen("{ owner", "{ write_to = \"runbook.html\", owner", 1),
        &format!(
            "daemon = {{ listen = \"127.0.0.1:{port}\" }}\nschedule = {{ plan = \"*/2 * * * * *\", check = \"*/2 * * * * *\" }}\n"
        ),
    );
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let out = env.pbx321(&["plan", "--format", "html"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_no_secret(&out);
    let html = stdout(&out);
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("@page { size: A4"));
    assert!(
        !html.contains("<script") && !html.contains("<link") && !html.contains("src="),
        "self-contained"
    );
    assert!(html.contains("Pbx.GetBackupExtras()") && html.contains("Pbx.Restore"));
    let file = env.path().join("runbook-cli.html");
    std::fs::write(&file, &html).unwrap();
    let pdf = env.path().join("runbook.pdf");
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "a PDF");
    let text = String::from_utf8_lossy(&bytes);
    let boxes: Vec<(f64, f64)> = regex::Regex::new(r"/MediaBox\s*\[0 0 ([0-9.]+) ([0-9.]+)\]")
        .unwrap()
        .captures_iter(&text)
        .map(|c| (c[1].parse().unwrap(), c[2].parse().unwrap()))
        .collect();
    assert!(!boxes.is_empty(), "pages with a MediaBox");
    for (w, h) in &boxes {
        assert!(
            (w - 595.3).abs() < 1.0 && (h - 841.9).abs() < 1.0,
            "A4: {w} x {h}"
        );
    }
    let pages = regex::Regex::new(r"/Type\s*/Page\b")
        .unwrap()
        .find_iter(&text)
        .count();
    assert!(pages >= 2, "several pages of runbook: {pages}");

    // The daemon writes it to [plan] write_to on [schedule] plan.
    let mut child = std::process::Command::cargo_bin("pbx321")
        .unwrap()
        .args(["--config", env.config_path().to_str().unwrap(), "daemon"])
        .envs(env.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let written = env.path().join("runbook.html");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !written.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The status page shows what the plan lacks.
    crate::daemon::wait_for("readiness on the status page", 60, || {
        crate::daemon::http_get(port, "/")
            .1
            .contains("▲ web_channels: no live chat")
    });
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&written).expect("the daemon wrote the runbook");
    assert!(text.contains("Disaster-recovery runbook"));
    assert!(text.contains("no live chat"));
    assert!(!text.contains(SECRET));
}
