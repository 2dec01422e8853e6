//! The status page in a real browser: the daemon on a loopback port with a fleet of three
//! sources — one compliant, one whose newest backup lost its offsite copy, one whose newest
//! copy was bit-flipped — loaded by Debian's headless Chromium (`--dump-dom`, screenshots
//! at 1280 and 375 px), and the "back up now" button with its CSRF token.
//!
//! With `PBX321_SCREENSHOTS_DIR` set, the screenshots are copied there
//! (`scripts/screenshots.sh` regenerates docs/status-page.md's pictures this way).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::daemon::{http_get, http_request, wait_for};
use crate::helpers::{TestEnv, code, stderr};

/// A child process killed (and reaped) when the test ends, passed or not.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `chromium --headless` with what it needs to run as root in a container.
fn chromium(profile: &Path) -> Command {
    let mut c = Command::new("chromium");
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        "--force-device-scale-factor=1",
        "--timeout=20000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The page's DOM as Chromium built it.
fn dump_dom(profile: &Path, url: &str) -> String {
    let out = chromium(profile)
        .args(["--dump-dom", url])
        .output()
        .expect("chromium must be installed (scripts/test.sh installs Debian's chromium)");
    assert!(
        out.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A screenshot `width` px wide; asserts it is a PNG of that size that is not blank (many
/// colours, a real share of non-white pixels).
fn screenshot(profile: &Path, url: &str, width: u32, height: u32, to: &Path) {
    let out = chromium(profile)
        .arg(format!("--screenshot={}", to.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(url)
        .output()
        .expect("chromium");
    assert!(
        out.status.success() && to.exists(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(to).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.width, width, "{}", to.display());
    assert_eq!(info.height, height);
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let not_white = pixels
        .iter()
        .filter(|p| p.iter().take(3).any(|c| *c < 230))
        .count();
    let colours: std::collections::BTreeSet<&[u8]> = pixels.iter().copied().collect();
    assert!(
        not_white * 50 > pixels.len() && colours.len() > 50,
        "{} looks blank: {not_white} of {} pixels drawn, {} colours",
        to.display(),
        pixels.len(),
        colours.len()
    );
}

/// POST a form on loopback (with an `Origin`, as a browser sends): (status, the whole
/// response).
fn http_post(port: u16, path: &str, body: &str, origin: Option<&str>) -> (u16, String) {
    let headers: Vec<String> = origin.map(|o| format!("Origin: {o}")).into_iter().collect();
    http_request(port, "POST", path, &headers, body)
}

/// The text of the `<section>` of `source` in the page.
fn section<'a>(html: &'a str, source: &str) -> &'a str {
    let start = html
        .find(&format!("aria-label=\"source {source}\""))
        .unwrap_or_else(|| panic!("no section for {source}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

fn newest_artifact(env: &TestEnv, target: &str, source: &str) -> PathBuf {
    let mut a: Vec<PathBuf> = env
        .artifacts(target)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(&format!("{source}-")))
        .collect();
    a.sort();
    a.pop()
        .unwrap_or_else(|| panic!("no artifact of {source} on {target}"))
}

#[test]
fn a_three_source_fleet_in_a_headless_browser() {
    use assert_cmd::cargo::CommandCargoExt;
    let port = crate::servers::free_port();
    let mut env = TestEnv::new();
    for s in ["branch", "depot"] {
        std::fs::create_dir_all(env.path().join(format!("pbx-{s}"))).unwrap();
        env.extra_source.push_str(&format!(
            "\n[[source]]\nname = \"{s}\"\ntype = \"folder\"\npath = \"pbx-{s}\"\npattern = \"*.zip\"\nsettle = \"0s\"\n"
        ));
    }
    env.top_level = format!(
        "daemon = {{ listen = \"127.0.0.1:{port}\", timezone = \"Europe/Madrid\", allow_actions = true }}\nschedule = {{ deep_check = \"*/2 * * * * *\" }}\n"
    );
    let config = env.write_config();
    let put = |source: &str, name: &str, seed: u64| {
        let dir = if source == "hq" {
            env.source_dir()
        } else {
            env.path().join(format!("pbx-{source}"))
        };
        std::fs::write(
            dir.join(name),
            crate::helpers::sample_zip(seed, 300_000 + seed as usize * 1000),
        )
        .unwrap();
    };
    put("hq", "3CXScheduledBackup-1.zip", 1);
    put("branch", "3CXScheduledBackup-1.zip", 2);
    put("depot", "3CXScheduledBackup-1.zip", 3);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A failed run of hq (the PBX left a broken file): a cross on its chart.
    std::fs::write(
        env.source_dir().join("3CXScheduledBackup-2.zip"),
        b"not a zip",
    )
    .unwrap();
    assert_ne!(code(&env.pbx321(&["backup", "hq"])), 0);
    std::fs::remove_file(env.source_dir().join("3CXScheduledBackup-2.zip")).unwrap();
    put("branch", "3CXScheduledBackup-2.zip", 4);
    put("depot", "3CXScheduledBackup-2.zip", 5);
    let out = env.pbx321(&["backup", "branch", "depot"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The month before, as runs.jsonl records it (the backups above appended today's
    // runs): a nightly run per source, sizes and durations that vary, one failure on depot
    // and one run of branch that missed the rule.
    {
        use std::fmt::Write as _;
        let now = chrono::Utc::now();
        let mut lines = String::new();
        for (k, source) in ["hq", "branch", "depot"].iter().enumerate() {
            for day in 1..30i64 {
                let at = (now - chrono::TimeDelta::days(day)).format("%Y-%m-%dT01:30:00Z");
                let size = 280_000 + (day as u64 * 3_700 + k as u64 * 9_000) % 40_000;
                let secs = 0.4 + ((day * 7 + k as i64 * 3) % 10) as f64 / 10.0;
                let line = match (*source, day) {
                    ("depot", 12) => format!(
                        r#"{{"at":"{at}","source":"{source}","result":"failed","error":"source {source}: 3CX did not answer (connection refused)","seconds":{secs}}}"#
                    ),
                    ("branch", 5) => format!(
                        r#"{{"at":"{at}","source":"{source}","result":"stored","id":"{source}-old{day}","sealed_bytes":{size},"seconds":{secs},"verdict":{{"ok":false,"copies":2}},"targets":[{{"target":"away","outcome":"failed","error":"timed out"}}]}}"#
                    ),
                    _ => format!(
                        r#"{{"at":"{at}","source":"{source}","result":"stored","id":"{source}-old{day}","sealed_bytes":{size},"seconds":{secs},"verdict":{{"ok":true,"copies":3}},"targets":[]}}"#
                    ),
                };
                let _ = writeln!(lines, "{line}");
            }
        }
        let history = env.state_dir().join("runs.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&history)
            .unwrap();
        f.write_all(lines.as_bytes()).unwrap();
    }
    // branch's newest backup loses its offsite copy; depot's newest local copy is damaged.
    std::fs::remove_file(newest_artifact(&env, "away", "branch")).unwrap();
    let flip = newest_artifact(&env, "local", "depot");
    let mut bytes = std::fs::read(&flip).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&flip, bytes).unwrap();

    let _daemon = Kill(
        std::process::Command::cargo_bin("pbx321")
            .unwrap()
            .args(["--config", config.to_str().unwrap(), "daemon"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/");
    wait_for("the first deep check on the page", 60, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http_get(port, "/")
                .1
                .contains("1 CRITICAL, 1 WARNING, 1 OK")
    });

    // The browser's DOM: each source's verdict in words, the cells that say why.
    let profile = tempfile::tempdir().unwrap();
    let dom = dump_dom(profile.path(), &url);
    assert!(dom.contains("✖ 1 CRITICAL, 1 WARNING, 1 OK"), "{dom}");
    let hq = section(&dom, "hq");
    assert!(hq.contains("✔ OK</span>"), "{hq}");
    assert!(
        hq.contains("failed (1)"),
        "the failed run on hq's chart: {hq}"
    );
    let branch = section(&dom, "branch");
    assert!(branch.contains("▲ WARNING</span>"), "{branch}");
    assert!(branch.contains("misses the rule"), "{branch}");
    assert!(branch.contains("0 of 1 offsite"), "{branch}");
    assert!(branch.contains("✖ missing"), "the away cell: {branch}");
    let depot = section(&dom, "depot");
    assert!(depot.contains("✖ CRITICAL</span>"), "{depot}");
    assert!(depot.contains("has corrupt copies on local"), "{depot}");
    assert!(depot.contains("✖ corrupt"), "{depot}");
    assert!(
        depot.contains("failed (1)"),
        "last month's failure on the chart: {depot}"
    );
    assert!(
        branch.contains("missed the rule (1)"),
        "the run that missed the rule: {branch}"
    );
    assert!(
        depot.contains("31 runs, 1 failed"),
        "29 nights and 2 runs today: {depot}"
    );
    assert!(
        dom.contains("times in Europe/Madrid") && dom.contains(" CET"),
        "every time names its zone"
    );
    assert!(
        dom.contains("<svg class=\"chart\" role=\"img\""),
        "the charts"
    );
    assert!(dom.contains("Free space"), "the targets table");
    assert!(
        !dom.contains("not told by the store"),
        "fs targets tell their free space"
    );
    assert!(!dom.contains("<script"), "no JavaScript");
    let (_, metrics) = http_get(port, "/metrics");
    assert!(
        metrics.contains("pbx321_target_free_bytes{target=\"away\"}"),
        "{metrics}"
    );
    crate::monitoring::promtool_accepts(&metrics);
    // The source page: backups with why they are kept, runs with their errors.
    let (status, hq_page) = http_get(port, "/source/hq");
    assert_eq!(status, 200);
    assert!(hq_page.contains("Backups (1)"), "{hq_page}");
    assert!(
        hq_page.contains("newest"),
        "the retention reason: {hq_page}"
    );
    assert!(hq_page.contains("✖ failed"), "{hq_page}");

    // Screenshots at a desktop's and a phone's width, not blank.
    let shots = tempfile::tempdir().unwrap();
    let wide = shots.path().join("status-1280.png");
    let narrow = shots.path().join("status-375.png");
    let source = shots.path().join("source-depot-1280.png");
    screenshot(profile.path(), &url, 1280, 800, &wide);
    screenshot(profile.path(), &url, 375, 812, &narrow);
    screenshot(
        profile.path(),
        &format!("{url}source/depot"),
        1280,
        800,
        &source,
    );
    if let Ok(dir) = std::env::var("PBX321_SCREENSHOTS_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        for f in [&wide, &narrow, &source] {
            std::fs::copy(f, Path::new(&dir).join(f.file_name().unwrap())).unwrap();
        }
        // The full page too, for the docs.
        screenshot(
            profile.path(),
            &url,
            1280,
            2400,
            &Path::new(&dir).join("status-1280-full.png"),
        );
    }

    // "Back up now": refused without the page's CSRF token or from another origin; with
    // them, the run is queued and happens.
    let (_, html) = http_get(port, "/");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a CSRF token in the form")
        .to_string();
    assert!(html.contains("Back up hq now"));
    assert_eq!(
        http_post(port, "/actions/backup", "csrf=wrong&source=hq", None).0,
        403
    );
    assert_eq!(
        http_post(
            port,
            "/actions/backup",
            &format!("csrf={csrf}&source=hq"),
            Some("http://evil.example")
        )
        .0,
        403
    );
    assert_eq!(
        http_post(
            port,
            "/actions/backup",
            &format!("csrf={csrf}&source=nosuch"),
            None
        )
        .0,
        400
    );
    put("hq", "3CXScheduledBackup-3.zip", 6);
    let (status, resp) = http_post(
        port,
        "/actions/backup",
        &format!("csrf={csrf}&source=hq"),
        Some(&format!("http://127.0.0.1:{port}")),
    );
    assert_eq!(status, 303, "{resp}");
    assert!(
        resp.contains("location: ../?queued=backup&source=hq"),
        "{resp}"
    );
    let location = resp
        .lines()
        .find_map(|l| l.strip_prefix("location: ../"))
        .unwrap()
        .trim()
        .to_string();
    // Until it ran, queued; once it ran, the same page says so (not "is queued").
    wait_for("the backup asked for from the page", 60, || {
        http_get(port, "/source/hq").1.contains("Backups (2)")
    });
    let (_, flash) = http_get(port, &format!("/{location}"));
    assert!(
        flash.contains("The backup of hq you asked for has run: ok."),
        "{flash}"
    );
    let (_, flash) = http_get(port, "/?queued=backup&source=hq&at=4102444800");
    assert!(flash.contains("A backup of hq is queued"), "{flash}");
}

/// GET with an `Authorization` header: (status, the whole response).
fn http_get_auth(port: u16, path: &str, auth: Option<&str>) -> (u16, String) {
    let headers: Vec<String> = auth
        .map(|a| format!("Authorization: {a}"))
        .into_iter()
        .collect();
    http_request(port, "GET", path, &headers, "")
}

/// With an auth_token, a browser is asked for it (HTTP Basic, the token as the password)
/// and a program sends it as a Bearer token; without allow_actions there are no buttons and
/// a forged POST is refused.
#[test]
fn the_token_protects_the_page_and_actions_are_off_by_default() {
    use assert_cmd::cargo::CommandCargoExt;
    use base64::Engine;
    let port = crate::servers::free_port();
    let mut env = TestEnv::new();
    env.top_level = format!(
        "daemon = {{ listen = \"127.0.0.1:{port}\", auth_token = \"page-token-7\" }}\nschedule = {{ check = \"*/2 * * * * *\" }}\n"
    );
    let config = env.write_config();
    env.put_backup("3CXScheduledBackup.zip", 7, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let mut child = std::process::Command::cargo_bin("pbx321")
        .unwrap()
        .args(["--config", config.to_str().unwrap(), "daemon"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let basic = |user_pass: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    };
    wait_for("the page with a check", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http_get_auth(port, "/", Some("Bearer page-token-7"))
                .1
                .contains("all OK")
    });
    let (status, resp) = http_get_auth(port, "/", None);
    assert_eq!(status, 401);
    let lower = resp.to_lowercase();
    assert!(
        lower.contains("www-authenticate: basic realm=\"pbx321\""),
        "a browser is asked: {resp}"
    );
    assert!(lower.contains("www-authenticate: bearer"), "{resp}");
    assert_eq!(http_get_auth(port, "/", Some(&basic("admin:wrong"))).0, 401);
    assert_eq!(http_get_auth(port, "/", Some("Bearer wrong")).0, 401);
    let (status, page) = http_get_auth(port, "/", Some(&basic("admin:page-token-7")));
    assert_eq!(status, 200);
    assert!(page.contains("✔ all OK (1 source)"), "{page}");
    assert!(!page.contains("<form"), "read-only: no buttons");
    assert!(
        page.to_lowercase()
            .contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    assert_eq!(
        http_get_auth(port, "/source/hq", Some(&basic(":page-token-7"))).0,
        200
    );
    assert_eq!(
        http_get_auth(port, "/healthz", None).0,
        200,
        "probes stay open"
    );
    // A forged POST: no token → 401; with the token, actions are off → 403.
    assert_eq!(http_post(port, "/actions/check", "csrf=x", None).0, 401);
    let (status, text) = http_request(
        port,
        "POST",
        "/actions/check",
        &["Authorization: Bearer page-token-7".to_string()],
        "csrf=x",
    );
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("allow_actions = true"), "{text}");
    let _ = child.kill();
    let _ = child.wait();
}

/// Issue 30: a fleet of 200 sources, 3 of them failing (their PBX never wrote a backup),
/// in headless Chromium: the table lists the 3 first, the banner counts them, a filter
/// link shows them alone; screenshots at 1280 and 375 px (`scripts/screenshots.sh`).
#[test]
fn a_fleet_of_200_in_a_headless_browser_shows_its_failing_sources_first() {
    use assert_cmd::cargo::CommandCargoExt;
    let port = crate::servers::free_port();
    let mut env = TestEnv::new();
    let failing = ["pbx-031", "pbx-117", "pbx-164"];
    for i in 0..199 {
        let name = format!("pbx-{i:03}");
        let dir = env.path().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        if !failing.contains(&name.as_str()) {
            std::fs::write(
                dir.join("3CXScheduledBackup.zip"),
                crate::helpers::sample_zip(1000 + i, 2_000),
            )
            .unwrap();
        }
        env.extra_source.push_str(&format!(
            "\n[[source]]\nname = \"{name}\"\ntype = \"folder\"\npath = \"{name}\"\nsettle = \"0s\"\n"
        ));
    }
    env.put_backup("3CXScheduledBackup.zip", 999, 2_000);
    env.top_level = format!(
        "daemon = {{ listen = \"127.0.0.1:{port}\", timezone = \"Europe/Madrid\" }}\nschedule = {{ check = \"*/3 * * * * *\" }}\n"
    );
    let config = env.write_config();
    let out = env.pbx321(&["backup"]);
    assert_eq!(
        code(&out),
        1,
        "three sources have no backup: {}",
        stderr(&out)
    );
    let _daemon = Kill(
        std::process::Command::cargo_bin("pbx321")
            .unwrap()
            .args(["--config", config.to_str().unwrap(), "daemon"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the fleet on the page", 120, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http_get(port, "/").1.contains("3 CRITICAL")
    });
    let url = format!("http://127.0.0.1:{port}/");
    let profile = tempfile::tempdir().unwrap();
    let dom = dump_dom(profile.path(), &url);
    assert!(dom.contains("class=\"fleet\""), "the table");
    assert!(
        dom.contains("✖ 3 CRITICAL") && dom.contains("✔ 197 OK"),
        "{dom}"
    );
    let rows: Vec<&str> = dom
        .split("<a href=\"/source/")
        .skip(1)
        .map(|r| r.split('"').next().unwrap())
        .collect();
    assert_eq!(rows.len(), 200, "every source a row");
    assert_eq!(&rows[..3], failing, "the failing ones first");
    assert!(!dom.contains("<script"));
    let (_, critical) = http_get(port, "/?status=critical");
    assert_eq!(critical.matches("<a href=\"/source/").count(), 3);
    assert!(!critical.contains("/source/pbx-000\""), "{critical}");
    let (status, one) = http_get(port, "/source/pbx-117");
    assert_eq!(status, 200);
    assert!(one.contains("CRITICAL"), "the card is on the source page");

    let shots = tempfile::tempdir().unwrap();
    let wide = shots.path().join("fleet-1280.png");
    let narrow = shots.path().join("fleet-375.png");
    screenshot(profile.path(), &url, 1280, 800, &wide);
    screenshot(profile.path(), &url, 375, 812, &narrow);
    if let Ok(dir) = std::env::var("PBX321_SCREENSHOTS_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        for f in [&wide, &narrow] {
            std::fs::copy(f, Path::new(&dir).join(f.file_name().unwrap())).unwrap();
        }
    }
}
