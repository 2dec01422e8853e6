//! Back into 3CX (issue 28) against the emulator: the PBX's version and fingerprint in
//! every manifest, `restore --into` that brings the PBX back to the backup's fingerprint,
//! each refusal and failure with nothing left in the repository, a bare host's
//! `setupconfig.xml`, and the standby drill.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::emulator::*;
use crate::helpers::*;

const SECRET_VAR: &str = "PBX321_TEST_3CX_SECRET";
const PASSWORD_VAR: &str = "PBX321_TEST_3CX_BACKUP_PASSWORD";

/// A test set-up with source `pbx` (3CX V20, create mode) whose repository is `repo/`.
struct Setup {
    env: TestEnv,
    pbx: Pbx,
}

impl Setup {
    fn new(faults: Faults, extra: &str) -> Setup {
        Self::bounded(faults, extra, "20s")
    }

    fn bounded(faults: Faults, extra: &str, restart_timeout: &str) -> Setup {
        let pbx = Pbx::start(faults);
        let mut env = TestEnv::new();
        let repo = env.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        pbx.state.lock().unwrap().repository = Some(repo.clone());
        env.extra_source = format!(
            "\n[[source]]\nname = \"pbx\"\ntype = \"3cx\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = {{ env = \"{SECRET_VAR}\" }}\nurl = \"{}\"\nmode = \"create\"\ntimeout = \"20s\"\nrestore_via = \"{}\"\nrestart_timeout = \"{restart_timeout}\"\n{extra}",
            pbx.url(),
            repo.display()
        );
        env.env = vec![
            (SECRET_VAR.into(), SECRET.into()),
            (PASSWORD_VAR.into(), BACKUP_PASSWORD.into()),
            ("PBX321_LOG".into(), "debug".into()),
        ];
        Setup { env, pbx }
    }

    /// 3CX encrypts its backups; `with_password`: the source has `backup_password`.
    fn encrypted(with_password: bool) -> Setup {
        let password = format!("backup_password = {{ env = \"{PASSWORD_VAR}\" }}\n");
        Setup::new(
            Faults {
                encrypted_backups: true,
                ..Faults::default()
            },
            if with_password { &password } else { "" },
        )
    }

    fn repo(&self) -> PathBuf {
        self.env.path().join("repo")
    }

    fn backup(&self) -> String {
        let out = self.env.pbx321(&["backup", "pbx"]);
        assert_eq!(code(&out), 0, "{}", stdout(&out));
        let v: serde_json::Value =
            serde_json::from_slice(&self.env.pbx321(&["list", "pbx", "--json"]).stdout).unwrap();
        v["backups"][0]["id"].as_str().unwrap().to_string()
    }

    fn restore_into(&self, extra: &[&str]) -> std::process::Output {
        let base = [
            "restore",
            "--into",
            "pbx",
            "-i",
            self.env.identity.to_str().unwrap(),
        ];
        self.env.pbx321(&[&base[..], extra].concat())
    }

    /// What the PBX was asked since `from` requests.
    fn asked_since(&self, from: usize) -> Vec<String> {
        self.pbx.state.lock().unwrap().requests[from..].to_vec()
    }

    fn requests(&self) -> usize {
        self.pbx.state.lock().unwrap().requests.len()
    }

    /// `out` failed (exit 1) saying each of `says` on stderr, with the repository empty.
    fn refused(&self, out: &std::process::Output, says: &[&str]) {
        let err = stderr(out);
        assert_eq!(code(out), 1, "{err}");
        for s in says {
            assert!(err.contains(s), "{s:?} not in: {err}");
        }
        assert!(
            std::fs::read_dir(self.repo()).unwrap().next().is_none(),
            "the repository is not empty"
        );
    }

    /// The PBX's configuration is lost (what a restore brings back).
    fn wipe(&self) {
        self.pbx.state.lock().unwrap().counts = Some([0; 6]);
    }
}

fn manifest_of(env: &TestEnv, id: &str) -> serde_json::Value {
    let p = env
        .target_dir("local")
        .join("pbx")
        .join(format!("{id}.manifest.json"));
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn each_manifest_records_the_pbx_version_and_fingerprint_and_list_shows_it() {
    let t = Setup::new(Faults::default(), "");
    let id = t.backup();
    let m = manifest_of(&t.env, &id);
    assert_eq!(m["pbx"]["version"], VERSION);
    let f = &m["pbx"]["fingerprint"];
    assert_eq!(
        [
            &f["users"],
            &f["trunks"],
            &f["outbound_rules"],
            &f["groups"],
            &f["queues"],
            &f["ring_groups"]
        ]
        .map(|v| v.as_u64().unwrap()),
        COUNTS
    );
    // Counts only: the emulator's user names and numbers never reach a manifest.
    let text = m.to_string();
    assert!(!text.contains("Extension") && !text.contains("Number"));
    // Read with $count, in the session that made the backup.
    let asked = t.asked_since(0);
    assert!(
        asked.iter().any(|r| r == "GET /xapi/v1/Trunks"),
        "{asked:?}"
    );
    let list = stdout(&t.env.pbx321(&["list", "pbx"]));
    assert!(list.contains(&format!("3CX {VERSION}")), "{list}");
    let to = t.env.path().join("r.zip");
    let out = t.env.pbx321(&[
        "restore",
        "--source",
        "pbx",
        "--to",
        to.to_str().unwrap(),
        "-i",
        t.env.identity.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains(&format!("install 3CX {VERSION} or later")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn restore_into_brings_the_pbx_back_to_the_backups_fingerprint() {
    let t = Setup::new(Faults::default(), "");
    let id = t.backup();
    t.wipe();
    let placed = format!("pbx321-restore-{id}.zip");

    // A dry run says each step and changes nothing.
    let from = t.requests();
    let out = t.restore_into(&["--dry-run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan = stdout(&out);
    for s in [
        "dry run",
        id.as_str(),
        VERSION,
        "12 users, 2 trunks",
        placed.as_str(),
        "Pbx.Restore",
    ] {
        assert!(plan.contains(s), "{s:?} not in {plan}");
    }
    assert!(
        !t.asked_since(from)
            .iter()
            .any(|r| r.starts_with("POST") && r != "POST /connect/token"),
        "a dry run asked the PBX to change"
    );
    assert!(std::fs::read_dir(t.repo()).unwrap().next().is_none());

    // Without a terminal, never without --yes.
    let out = t.restore_into(&[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"));
    assert!(t.pbx.state.lock().unwrap().restored.is_empty());

    let out = t.restore_into(&["--yes"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("back at the backup's fingerprint"),
        "{}",
        stdout(&out)
    );
    let s = t.pbx.state.lock().unwrap();
    assert_eq!(s.restored, vec![placed.clone()]);
    assert_eq!(s.counts(), COUNTS, "the PBX is as the backup was");
    drop(s);
    // Nothing plaintext is left in the repository; no secret in the output.
    assert!(std::fs::read_dir(t.repo()).unwrap().next().is_none());
    assert!(!stdout(&out).contains(SECRET) && !stderr(&out).contains(SECRET));

    // JSON: the comparison and the steps.
    t.wipe();
    let out = t.restore_into(&["--yes", "--keep", "--format", "json"]);
    assert_eq!(code(&out), 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["comparison"]["result"], "matched");
    assert_eq!(v["kept"], true);
    assert!(t.repo().join(&placed).exists(), "--keep leaves the zip");
}

/// The PBX's repository on its own host ("Local"), reached over SFTP: a real sshd.
#[test]
fn restore_into_places_the_zip_over_sftp() {
    let sshd = crate::servers::Sshd::start();
    let repo = sshd.root().join("Backups");
    std::fs::create_dir_all(&repo).unwrap();
    let endpoint = sshd.endpoint();
    let via = format!(
        "sftp://{}{}",
        endpoint.trim_start_matches("ssh://"),
        repo.display()
    );
    let t = Setup::new(Faults::default(), "");
    t.pbx.state.lock().unwrap().repository = Some(repo.clone());
    let src = t.env.extra_source.replace(
        &format!("restore_via = \"{}\"", t.repo().display()),
        &format!(
            "restore_via = \"{via}\"\nrestore_via_key = \"{}\"\nrestore_via_known_hosts = \"{}\"",
            sshd.key().display(),
            sshd.known_hosts().display()
        ),
    );
    let t = Setup {
        env: TestEnv {
            extra_source: src,
            ..t.env
        },
        pbx: t.pbx,
    };
    let id = t.backup();
    t.wipe();
    let out = t.restore_into(&["--yes"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&via), "{}", stdout(&out));
    assert_eq!(
        t.pbx.state.lock().unwrap().restored,
        vec![format!("pbx321-restore-{id}.zip")]
    );
    assert_eq!(t.pbx.state.lock().unwrap().counts(), COUNTS);
    assert!(std::fs::read_dir(&repo).unwrap().next().is_none());
}

/// On a terminal (`script` gives one), the operator types the source's name: a wrong one
/// writes nothing; the right one restores.
#[test]
fn on_a_terminal_the_source_name_must_be_typed() {
    let t = Setup::new(Faults::default(), "");
    t.backup();
    t.wipe();
    let config = t.env.write_config();
    let bin = assert_cmd::cargo::cargo_bin("pbx321");
    let typed = |answer: &str| {
        use std::io::Write;
        let cmd = format!(
            "{} --config {} restore --into pbx -i {}",
            bin.display(),
            config.display(),
            t.env.identity.display()
        );
        let mut child = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .current_dir(t.env.path())
            .envs(t.env.env.iter().map(|(k, v)| (k, v)))
            .env("PBX321_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, said) = typed("hq");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("Type the source's name (pbx)") && said.contains("not confirmed"),
        "{said}"
    );
    assert!(t.pbx.state.lock().unwrap().restored.is_empty());
    assert!(std::fs::read_dir(t.repo()).unwrap().next().is_none());
    let (code, said) = typed("pbx");
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(t.pbx.state.lock().unwrap().counts(), COUNTS);
}

#[test]
fn a_backup_newer_than_the_pbx_is_refused_before_anything_is_written() {
    let t = Setup::new(Faults::default(), "");
    t.pbx.state.lock().unwrap().version = Some("20.0.10.5".into());
    t.backup();
    // A freshly installed PBX of an older version.
    t.pbx.state.lock().unwrap().version = Some(VERSION.into());
    let from = t.requests();
    let out = t.restore_into(&["--yes"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("nothing was written") && err.contains("update the PBX to 20.0.10.5"),
        "{err}"
    );
    let asked = t.asked_since(from);
    assert!(
        asked
            .iter()
            .all(|r| r == "GET /xapi/v1/SystemStatus" || r == "POST /connect/token"),
        "only the version was read: {asked:?}"
    );
    assert!(std::fs::read_dir(t.repo()).unwrap().next().is_none());
}

#[test]
fn an_encrypted_3cx_backup_needs_its_password() {
    // Without backup_password: refused before anything is written.
    let t = Setup::encrypted(false);
    let id = t.backup();
    assert_eq!(manifest_of(&t.env, &id)["plain"]["pbx_encrypted"], true);
    t.refused(&t.restore_into(&["--yes"]), &["backup_password"]);
    assert!(t.pbx.state.lock().unwrap().restored.is_empty());

    // With it: restored, and the password never shown.
    let t = Setup::encrypted(true);
    t.backup();
    t.wipe();
    let out = t.restore_into(&["--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(t.pbx.state.lock().unwrap().counts(), COUNTS);
    assert!(!stdout(&out).contains(BACKUP_PASSWORD) && !stderr(&out).contains(BACKUP_PASSWORD));
}

#[test]
fn a_wrong_password_and_a_refused_footprint_are_clear_errors_with_nothing_left() {
    let t = Setup::encrypted(true);
    t.backup();
    let mut env = TestEnv { ..t.env };
    env.env.retain(|(k, _)| k != PASSWORD_VAR);
    env.env
        .push((PASSWORD_VAR.into(), "not-the-password".into()));
    let t = Setup { env, pbx: t.pbx };
    let out = t.restore_into(&["--yes"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("Wrong backup password") && err.contains("check backup_password"),
        "{err}"
    );
    assert!(!err.contains("not-the-password"));
    assert!(t.pbx.state.lock().unwrap().restored.is_empty());
    assert!(std::fs::read_dir(t.repo()).unwrap().next().is_none());

    let t = Setup::new(
        Faults {
            stale_footprint: true,
            ..Faults::default()
        },
        "",
    );
    t.backup();
    t.refused(
        &t.restore_into(&["--yes"]),
        &["Invalid footprint", "run again"],
    );
}

/// A backup that recorded no fingerprint (the API client may not count): the restore goes
/// through, says nothing proves the PBX is the backup's (exit 1), and does not poll the PBX
/// until `restart_timeout` for a match that cannot come.
#[test]
fn without_a_recorded_fingerprint_the_restore_does_not_wait_for_a_match() {
    let t = Setup::bounded(
        Faults {
            forbid_counts: true,
            ..Faults::default()
        },
        "",
        "120s",
    );
    let id = t.backup();
    assert!(manifest_of(&t.env, &id)["pbx"].get("fingerprint").is_none());
    assert_eq!(manifest_of(&t.env, &id)["pbx"]["version"], VERSION);
    let from = t.requests();
    let out = t.restore_into(&["--yes"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("recorded no fingerprint"),
        "{}",
        stdout(&out)
    );
    assert_eq!(t.pbx.state.lock().unwrap().restored.len(), 1);
    let polls = t
        .asked_since(from)
        .iter()
        .filter(|r| *r == "GET /xapi/v1/SystemStatus")
        .count();
    // Before, during and once after the restart, not once a second for two minutes.
    assert!(polls <= 12, "{polls} SystemStatus requests");
    assert!(std::fs::read_dir(t.repo()).unwrap().next().is_none());
}

#[test]
fn a_pbx_that_never_comes_back_is_a_bounded_failure() {
    let t = Setup::bounded(
        Faults {
            never_back: true,
            ..Faults::default()
        },
        "",
        "4s",
    );
    t.backup();
    let started = Instant::now();
    t.refused(&t.restore_into(&["--yes"]), &["did not answer within 4s"]);
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_repository_that_never_lists_the_zip_is_a_clear_failure() {
    let t = Setup::bounded(
        Faults {
            repository_blind: true,
            ..Faults::default()
        },
        "",
        "3s",
    );
    t.backup();
    t.refused(
        &t.restore_into(&["--yes"]),
        &["did not list", "restore_via"],
    );
}

#[test]
fn sigint_while_waiting_for_the_restart_removes_the_placed_zip() {
    let t = Setup::new(Faults::default(), "");
    t.pbx.state.lock().unwrap().restart = Some(Duration::from_secs(120));
    t.backup();
    let config = t.env.write_config();
    let child = assert_cmd::cargo::CommandCargoExt::cargo_bin("pbx321")
        .map(|mut c: std::process::Command| {
            c.args(["--config", config.to_str().unwrap()])
                .args(["restore", "--into", "pbx", "--yes", "-i"])
                .arg(&t.env.identity)
                .current_dir(t.env.path())
                .envs(t.env.env.iter().map(|(k, v)| (k, v)))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c
        })
        .unwrap()
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while t.pbx.state.lock().unwrap().restored.is_empty() {
        assert!(Instant::now() < deadline, "the restore never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_dir(t.repo()).unwrap().count(),
        1,
        "the zip is placed"
    );
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_dir(t.repo()).unwrap().next().is_none());
}

/// The elements of an XML file with their text, in order (comments skipped), as an XML
/// parser reads them.
fn setup_fields(xml: &str) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut out: Vec<(String, String)> = Vec::new();
    let mut open = None;
    loop {
        match r.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                out.push((e.name().as_ref().to_string(), String::new()));
                open = Some(out.len() - 1);
            }
            Event::End(_) => open = None,
            Event::Text(t) => {
                if let Some(i) = open {
                    out[i].1.push_str(&t.into_inner());
                }
            }
            Event::Eof => return out,
            _ => {}
        }
    }
}

#[test]
fn a_bare_host_gets_the_zip_and_3cxs_answer_file() {
    let t = Setup::encrypted(true);
    t.backup();
    // Made by restore (0700) when it does not exist.
    let dir = t.env.path().join("newhost");
    let out = t.env.pbx321(&[
        "restore",
        "--source",
        "pbx",
        "--to",
        dir.to_str().unwrap(),
        "--setup-config",
        "-i",
        t.env.identity.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let zip = dir.join("pbx-backup.zip");
    assert!(zip.exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let xml_path = dir.join("setupconfig.xml");
    assert_eq!(
        std::fs::metadata(&xml_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Parsed back: what 3CX's installer reads.
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    let fields = setup_fields(&xml);
    assert_eq!(fields.first().map(|(k, _)| k.as_str()), Some("SetupConfig"));
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("InstallationType").as_deref(), Some("restore"));
    assert_eq!(
        field("BackupFile").map(PathBuf::from),
        Some(std::path::absolute(&zip).unwrap())
    );
    assert_eq!(field("BackupPassword").as_deref(), Some(BACKUP_PASSWORD));
    assert!(xml.contains(&format!("install 3CX {VERSION} or later")));
    assert!(stdout(&out).contains("setupconfig.xml"));
}

#[test]
fn a_standby_that_is_a_source_is_refused_by_config_check() {
    let t = Setup::new(Faults::default(), "");
    let url = t.pbx.url();
    let src = format!(
        "{}\n[source.standby]\nurl = \"{url}\"\nclient_id = \"x\"\nclient_secret = \"y\"\nrestore_via = \"{}\"\n",
        t.env.extra_source,
        t.repo().display()
    );
    let env = TestEnv {
        extra_source: src,
        ..t.env
    };
    let out = env.pbx321(&["config", "check"]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("standby.url") && said.contains("live phone system"),
        "{said}"
    );
}

/// Source `pbx` with a standby PBX (a second emulator, its own repository).
struct WithStandby {
    t: Setup,
    standby: Pbx,
}

impl WithStandby {
    fn new(faults: Faults, top_level: &str) -> WithStandby {
        let mut t = Setup::new(Faults::default(), "");
        let standby = Pbx::start(faults);
        let repo = t.env.path().join("standby-repo");
        std::fs::create_dir(&repo).unwrap();
        {
            let mut s = standby.state.lock().unwrap();
            s.repository = Some(repo.clone());
            s.fqdn = Some("standby.3cx.example".into());
            // A freshly installed standby: nothing configured yet.
            s.counts = Some([0; 6]);
        }
        t.env.extra_source.push_str(&format!(
            "\n[source.standby]\nurl = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = {{ env = \"{SECRET_VAR}\" }}\nrestore_via = \"{}\"\nrestart_timeout = \"20s\"\n",
            standby.url(),
            repo.display()
        ));
        t.env.top_level = top_level.into();
        WithStandby { t, standby }
    }

    fn standby_repo(&self) -> PathBuf {
        self.t.env.path().join("standby-repo")
    }

    fn drill(&self) -> std::process::Output {
        self.t.env.pbx321(&[
            "drill",
            "--standby",
            "pbx",
            "-i",
            self.t.env.identity.to_str().unwrap(),
        ])
    }
}

#[test]
fn a_standby_drill_proves_the_backup_and_shows_on_check_page_and_metrics() {
    let port = crate::servers::free_port();
    let w = WithStandby::new(
        Faults::default(),
        &format!(
            "daemon = {{ listen = \"127.0.0.1:{port}\" }}\nschedule = {{ standby_drill = \"*/2 * * * * *\", identity = \"key.txt\" }}\n"
        ),
    );
    let id = w.t.backup();
    let before = w.t.requests();
    let out = w.drill();
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("standby drill of pbx: OK") && stdout(&out).contains(&id),
        "{}",
        stdout(&out)
    );
    // Into the standby, never into the source.
    assert_eq!(
        w.standby.state.lock().unwrap().restored,
        vec![format!("pbx321-restore-{id}.zip")]
    );
    assert_eq!(w.standby.state.lock().unwrap().counts(), COUNTS);
    assert!(w.t.pbx.state.lock().unwrap().restored.is_empty());
    assert!(
        !w.t.asked_since(before)
            .iter()
            .any(|r| r.starts_with("POST /xapi")),
        "the source PBX was asked to change"
    );
    assert!(
        std::fs::read_dir(w.standby_repo())
            .unwrap()
            .next()
            .is_none()
    );

    // check: JSON, Nagios long output, metrics.
    let v: serde_json::Value =
        serde_json::from_slice(&w.t.env.pbx321(&["check", "pbx", "--format", "json"]).stdout)
            .unwrap();
    let sd = &v["sources"][0]["standby_drill"];
    assert_eq!(sd["ok"], true, "{v}");
    assert_eq!(sd["id"], id.as_str());
    assert!(sd["seconds"].as_f64().unwrap() > 0.0);
    let nagios = stdout(&w.t.env.pbx321(&["check", "pbx", "--format", "nagios"]));
    assert!(nagios.contains("pbx: standby drill ok ("), "{nagios}");
    let prom = stdout(&w.t.env.pbx321(&["check", "pbx", "--format", "prometheus"]));
    assert!(
        prom.contains("pbx321_standby_drill_ok{source=\"pbx\"} 1"),
        "{prom}"
    );
    assert!(prom.contains("pbx321_standby_drill_seconds{source=\"pbx\"} "));

    // The daemon's schedule runs it too, and its page shows it.
    w.standby.state.lock().unwrap().counts = Some([0; 6]);
    let config = w.t.env.write_config();
    let log = std::fs::File::create(w.t.env.path().join("daemon.log")).unwrap();
    let mut child = assert_cmd::cargo::CommandCargoExt::cargo_bin("pbx321")
        .map(|mut c: std::process::Command| {
            c.args(["--config", config.to_str().unwrap(), "daemon"])
                .current_dir(w.t.env.path())
                .envs(w.t.env.env.iter().map(|(k, v)| (k, v)))
                .stdout(std::process::Stdio::null())
                .stderr(log);
            c
        })
        .unwrap()
        .spawn()
        .unwrap();
    crate::daemon::wait_for("a scheduled standby drill", 60, || {
        w.standby.state.lock().unwrap().restored.len() >= 2
    });
    crate::daemon::wait_for("the page to show the standby drill", 60, || {
        let (_, page) = crate::daemon::http_get(port, "/");
        page.contains("Last standby drill") && page.contains("✔ ok")
    });
    let (_, metrics) = crate::daemon::http_get(port, "/metrics");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        metrics.contains("pbx321_standby_drill_ok{source=\"pbx\"} 1"),
        "{metrics}"
    );
}

#[test]
fn a_standby_that_lost_a_trunk_fails_the_drill_and_notifies() {
    let hook = crate::notify::Capture::start(200);
    let w = WithStandby::new(
        Faults {
            lose_trunk: true,
            ..Faults::default()
        },
        &format!(
            "notify = [{{ type = \"webhook\", url = \"{}\", on = [\"drill-failed\"] }}]\n",
            hook.url("/hook")
        ),
    );
    w.t.backup();
    let out = w.drill();
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("trunks 2 in the backup, 1 on the PBX"),
        "{}",
        stdout(&out)
    );
    assert!(
        std::fs::read_dir(w.standby_repo())
            .unwrap()
            .next()
            .is_none()
    );
    let got = hook.requests();
    assert_eq!(got.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(v["event"], "drill-failed");
    assert_eq!(v["source"], "pbx");
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .contains("trunks 2 in the backup, 1 on the standby"),
        "{v}"
    );
    // check says so (WARNING), with max_standby_age or without.
    let out = w.t.env.pbx321(&["check", "pbx"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("the last standby drill") && stdout(&out).contains("failed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_standby_reporting_a_sources_fqdn_is_refused_before_anything_is_written() {
    let w = WithStandby::new(Faults::default(), "");
    // The "standby" is the live PBX under another address.
    w.standby.state.lock().unwrap().fqdn = Some("hq.3cx.example".into());
    w.t.backup();
    let out = w.drill();
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("a standby drill would overwrite a live PBX"),
        "{}",
        stdout(&out)
    );
    assert!(w.standby.state.lock().unwrap().restored.is_empty());
    assert!(
        std::fs::read_dir(w.standby_repo())
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn drill_without_a_standby_is_a_usage_error() {
    let t = Setup::new(Faults::default(), "");
    let out = t.env.pbx321(&[
        "drill",
        "--standby",
        "pbx",
        "-i",
        t.env.identity.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("[source.standby]"),
        "{}",
        stderr(&out)
    );
}

/// docs/disaster-recovery.md's "Back into 3CX", run as written against the emulator: a
/// running PBX, a new host, a standby (the doc's source `hq` is the test's `pbx`).
#[test]
fn the_back_into_3cx_walkthrough_runs_as_written() {
    let w = WithStandby::new(Faults::default(), "");
    let id = w.t.backup();
    w.t.wipe();
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/disaster-recovery.md"),
    )
    .unwrap();
    let commands: Vec<String> = crate::docs::shell_commands(&doc)
        .into_iter()
        .filter(|(h, _)| h == "Back into 3CX")
        .map(|(_, c)| c)
        .collect();
    assert_eq!(commands.len(), 4, "{commands:?}");
    let root = w.t.env.path();
    std::fs::create_dir(root.join("newhost")).unwrap();
    let config = w.t.env.write_config();
    let bin = assert_cmd::cargo::cargo_bin("pbx321");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for cmd in &commands {
        let cmd = cmd
            .replace(" hq ", " pbx ")
            .replace("--standby hq", "--standby pbx")
            .replace("/root/pbx321-key.txt", w.t.env.identity.to_str().unwrap())
            .replace("/root/", &format!("{}/", root.display()));
        let out = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .current_dir(root)
            .env("PATH", &path)
            .env("PBX321_CONFIG", &config)
            .envs(w.t.env.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{cmd}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let placed = format!("pbx321-restore-{id}.zip");
    assert_eq!(w.t.pbx.state.lock().unwrap().restored, vec![placed.clone()]);
    assert_eq!(w.t.pbx.state.lock().unwrap().counts(), COUNTS);
    assert!(root.join("newhost/pbx-backup.zip").exists());
    assert!(root.join("newhost/setupconfig.xml").exists());
    assert_eq!(w.standby.state.lock().unwrap().restored, vec![placed]);
    assert!(std::fs::read_dir(w.t.repo()).unwrap().next().is_none());
    assert!(
        std::fs::read_dir(w.standby_repo())
            .unwrap()
            .next()
            .is_none()
    );
}
