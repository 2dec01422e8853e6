//! The second medium: SFTP against a real OpenSSH sshd, WebDAV against `rclone serve
//! webdav`, and the removable-disk guard — conformance, round trips, and faults.

use std::time::{Duration, Instant};

use pbx321::config::{Location, Medium, SftpTarget as SftpConfig, WebdavTarget as DavConfig};
use pbx321::secret::Secret;
use pbx321::targets::sftp::SftpTarget;
use pbx321::targets::webdav::WebdavTarget;
use pbx321::targets::{Payload, Properties, Target};

use crate::helpers::*;
use crate::servers::*;

fn props() -> Properties {
    Properties {
        medium: Medium::Nas,
        location: Location::Onsite,
        immutable_capable: false,
        declared: false,
    }
}

fn sftp_config(sshd: &Sshd, known_hosts: std::path::PathBuf) -> SftpConfig {
    SftpConfig {
        endpoint: sshd.endpoint(),
        path: sshd.root().join("pbx321").display().to_string(),
        key: Some(sshd.key()),
        known_hosts: Some(known_hosts),
        connect_timeout: Duration::from_secs(5),
    }
}

fn dav_config(dav: &Rclone, password: &str) -> (DavConfig, Option<String>) {
    (
        DavConfig {
            endpoint: dav.endpoint(),
            path: "/pbx321".into(),
            username: Some(DAV_USER.into()),
            password: Some(Secret::Inline(password.into())),
            connect_timeout: Duration::from_secs(5),
            allow_insecure_http: false,
        },
        Some(password.to_string()),
    )
}

fn sftp_toml(sshd: &Sshd) -> String {
    format!(
        "\n[[target]]\nname = \"nas\"\ntype = \"sftp\"\nendpoint = \"{}\"\npath = \"{}\"\nkey = \"{}\"\nknown_hosts = \"{}\"\nmedium = \"nas\"\n",
        sshd.endpoint(),
        sshd.root().join("pbx321").display(),
        sshd.key().display(),
        sshd.known_hosts().display()
    )
}

fn dav_toml(dav: &Rclone, password: &str) -> String {
    format!(
        "\n[[target]]\nname = \"dav\"\ntype = \"webdav\"\nendpoint = \"{}\"\npath = \"/pbx321\"\nusername = \"{DAV_USER}\"\npassword = {{ env = \"PBX321_TEST_DAV_PASSWORD\" }}\nmedium = \"nas\"\nlocation = \"offsite\"\ntrust_labels = true\n",
        dav.endpoint()
    )
    .replace("PBX321_TEST_DAV_PASSWORD", if password == DAV_PASS { "PBX321_TEST_DAV_PASSWORD" } else { "PBX321_TEST_WRONG_PASSWORD" })
}

fn nas_env(sshd: &Sshd, dav: &Rclone) -> TestEnv {
    let mut env = TestEnv::new();
    env.targets.truncate(1); // local fs, disk, onsite
    env.policy = "copies = 3\nmedia = 2\noffsite = 1\nmax_age = \"26h\"\n".into();
    env.extra_targets = sftp_toml(sshd) + &dav_toml(dav, DAV_PASS);
    env.env = vec![
        ("PBX321_TEST_DAV_PASSWORD".into(), DAV_PASS.into()),
        (
            "PBX321_TEST_WRONG_PASSWORD".into(),
            "not-the-password".into(),
        ),
    ];
    env
}

fn restore_from(env: &TestEnv, target: &str) -> Vec<u8> {
    let to = env.path().join(format!("restored-{target}.zip"));
    let out = env.restore(&to, &["--from", target, "--force"]);
    assert_eq!(code(&out), 0, "restore from {target}");
    std::fs::read(&to).unwrap()
}

#[test]
fn backup_to_fs_sftp_and_webdav_restores_from_each_alone() {
    let sshd = Sshd::start();
    let dav = Rclone::start();
    let env = nas_env(&sshd, &dav);
    let original = env.put_backup("3CXScheduledBackup.zip", 70, 3 * 1024 * 1024);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    for target in ["local", "nas", "dav"] {
        assert!(restore_from(&env, target) == original, "{target}");
    }
    // The copies on the servers are the same sealed bytes, byte for byte.
    let local = std::fs::read(&env.artifacts("local")[0]).unwrap();
    let name = env.artifacts("local")[0].file_name().unwrap().to_owned();
    let on_sftp = std::fs::read(sshd.root().join("pbx321/hq").join(&name)).unwrap();
    let on_dav = std::fs::read(dav.root().join("pbx321/hq").join(&name)).unwrap();
    assert!(local == on_sftp && local == on_dav);
    assert!(!String::from_utf8_lossy(&out.stderr).contains(DAV_PASS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_host_key_is_refused() {
    let sshd = Sshd::start();
    let scratch = tempfile::tempdir().unwrap();
    let t = SftpTarget::new("nas", props(), sftp_config(&sshd, sshd.wrong_known_hosts()));
    let payload = Payload::file(scratch.path().join("p"), 1);
    std::fs::write(scratch.path().join("p"), b"x").unwrap();
    let err = t.put("hq/x.manifest.json", &payload).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("host key"), "{err}");
    assert!(
        !sshd.root().join("pbx321").exists(),
        "nothing was written to a host that failed verification"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_webdav_password_is_a_clear_error() {
    let dav = Rclone::start();
    let scratch = tempfile::tempdir().unwrap();
    let (cfg, pw) = dav_config(&dav, "not-the-password");
    let t = WebdavTarget::new("dav", props(), cfg, pw).unwrap();
    std::fs::write(scratch.path().join("p"), b"x").unwrap();
    let payload = Payload::file(scratch.path().join("p"), 1);
    let err = t.put("hq/x.manifest.json", &payload).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let text = err.to_string();
    assert!(text.contains("authentication failed"), "{text}");
    assert!(
        !text.contains("not-the-password"),
        "the password is never printed"
    );
}

/// Starts `pbx321 backup` of a large backup, waits until `partial_dir` holds a partial
/// object, then calls `stop`.
fn stop_mid_upload(env: &TestEnv, partial_dir: &std::path::Path, stop: impl FnOnce()) -> i32 {
    let config = env.write_config();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pbx321"))
        .args(["--config", config.to_str().unwrap(), "backup"])
        .envs(env.env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let partial = env
            .files_under(partial_dir)
            .iter()
            .any(|f| f.ends_with(".partial"));
        if partial {
            break;
        }
        assert!(Instant::now() < deadline, "no upload started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "backup ended before the upload"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    stop();
    child.wait().unwrap().code().unwrap()
}

#[test]
fn sftp_server_stopped_mid_upload_then_the_next_run_completes() {
    let mut sshd = Sshd::start();
    let dav = Rclone::start();
    let env = nas_env(&sshd, &dav);
    let original = env.put_backup("3CXScheduledBackup.zip", 71, 96 * 1024 * 1024);
    let root = sshd.root();
    let code_killed = stop_mid_upload(&env, &root, || sshd.stop());
    assert_eq!(code_killed, 3, "copies on the other targets, rule not met");
    let out = env.pbx321(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let copies = v["backups"][0]["copies"].as_array().unwrap();
    assert!(
        !copies.iter().any(|c| c["target"] == "nas"),
        "no sftp copy counted: {copies:?}"
    );
    sshd.restart();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("already stored"));
    let leftovers: Vec<String> = env
        .files_under(&root)
        .into_iter()
        .filter(|f| f.ends_with(".partial"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "partial uploads cleaned: {leftovers:?}"
    );
    assert!(restore_from(&env, "nas") == original);
}

#[test]
fn webdav_server_stopped_mid_upload_then_the_next_run_completes() {
    let sshd = Sshd::start();
    let mut dav = Rclone::start();
    let env = nas_env(&sshd, &dav);
    let original = env.put_backup("3CXScheduledBackup.zip", 72, 96 * 1024 * 1024);
    let root = dav.root();
    let code_killed = stop_mid_upload(&env, &root, || dav.stop());
    assert_eq!(code_killed, 3);
    dav.restart();
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        env.files_under(&root)
            .iter()
            .all(|f| !f.ends_with(".partial"))
    );
    assert!(restore_from(&env, "dav") == original);
}

#[test]
fn require_mount_refuses_a_path_on_the_root_filesystem_and_writes_nothing() {
    let mut env = TestEnv::new();
    env.targets.truncate(2);
    env.policy = "copies = 1\nmedia = 1\noffsite = 0\n".into();
    let usb = env.path().join("mnt/usb-backup/pbx321");
    env.extra_targets = format!(
        "\n[[target]]\nname = \"usb-disk\"\ntype = \"fs\"\npath = \"{}\"\nmedium = \"removable\"\nrequire_mount = true\n",
        usb.display()
    );
    env.put_backup("b.zip", 73, 1000);
    let out = env.pbx321(&["backup"]);
    let text = stdout(&out);
    assert!(text.contains("removable disk not mounted at"), "{text}");
    assert!(!usb.exists(), "nothing created on the system disk");
    assert_eq!(code(&out), 0, "the other copies meet the relaxed rule");
    let out = env.pbx321(&["check"]);
    assert!(
        stdout(&out).contains("usb-disk could not be read"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn require_mount_accepts_a_mounted_filesystem() {
    use std::os::unix::fs::MetadataExt;
    let shm = std::path::Path::new("/dev/shm");
    let root_dev = std::fs::metadata("/").unwrap().dev();
    assert!(
        shm.is_dir() && std::fs::metadata(shm).unwrap().dev() != root_dev,
        "this test needs /dev/shm mounted as its own filesystem"
    );
    let mut env = TestEnv::new();
    env.targets.truncate(1);
    env.policy = "copies = 2\nmedia = 1\noffsite = 0\n".into();
    let disk = tempfile::tempdir_in(shm).unwrap();
    env.extra_targets = format!(
        "\n[[target]]\nname = \"usb-disk\"\ntype = \"fs\"\npath = \"{}\"\nmedium = \"removable\"\nrequire_mount = true\n",
        disk.path().join("pbx321").display()
    );
    env.put_backup("b.zip", 74, 1000);
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(disk.path().join("pbx321/hq").is_dir());
}

/// Issue 12: a NAS that reboots while monitoring runs is "cannot verify copy on dav", a
/// WARNING, in every output format — not a CRITICAL "no backup" — until the copy's last
/// verification is older than max_age.
#[test]
fn a_nas_rebooting_during_check_is_a_warning_until_max_age() {
    let mut dav = Rclone::start();
    let mut env = TestEnv::new();
    env.targets.truncate(2); // local (disk) and usb (removable), both onsite
    env.extra_targets = dav_toml(&dav, DAV_PASS);
    env.env = vec![("PBX321_TEST_DAV_PASSWORD".into(), DAV_PASS.into())];
    env.put_backup("3CXScheduledBackup.zip", 120, 100_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    assert_eq!(
        code(&env.pbx321(&["check"])),
        0,
        "verified while the NAS is up"
    );

    dav.stop();
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 1, "WARNING: {}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("cannot verify copy on dav: unreachable since")
            && text.contains("last verified"),
        "{text}"
    );
    assert!(text.contains("UNREACHABLE (last verified"), "{text}");
    assert!(!text.contains("younger than max_age"), "{text}");

    let out = env.pbx321(&["check", "--format", "json"]);
    assert_eq!(code(&out), 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let src = &v["sources"][0];
    assert_eq!(src["status"], "WARNING");
    assert!(
        src["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("cannot verify copy on dav")
    );
    let dav_copy = src["newest"]["copies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"] == "dav")
        .expect("the NAS copy is listed, from memory");
    assert_eq!(dav_copy["state"], "unreachable");
    assert!(dav_copy["last_verified"].is_string(), "{dav_copy}");

    let out = env.pbx321(&["check", "--format", "nagios"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.starts_with("PBX321 WARNING"), "{text}");
    assert!(text.contains("hq: cannot verify copy on dav"), "{text}");

    let out = env.pbx321(&["check", "--format", "prometheus"]);
    let text = stdout(&out);
    assert!(
        text.contains("pbx321_target_up{target=\"dav\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("pbx321_copy_state{source=\"hq\",target=\"dav\",state=\"unreachable\"} 1"),
        "{text}"
    );
    assert_eq!(
        code(&env.pbx321(&["check", "--deep"])),
        1,
        "the same with --deep"
    );

    // The last verification ages past max_age: no longer counted.
    let path = env.state_dir().join("verified.json");
    let mut mem: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let old = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    for (_, at) in mem["targets"]["dav"]["copies"].as_object_mut().unwrap() {
        *at = old.clone().into();
    }
    std::fs::write(&path, serde_json::to_vec(&mem).unwrap()).unwrap();
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 2, "CRITICAL: {}", stdout(&out));
    assert!(
        stdout(&out).contains("no longer counted"),
        "{}",
        stdout(&out)
    );

    dav.restart();
    assert_eq!(code(&env.pbx321(&["check"])), 0, "the NAS is back");
}

/// The status page's free space: the SFTP server tells it (statvfs@openssh.com), and it is
/// the free space of the file system the server writes to; WebDAV does not tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_tells_its_free_space_and_webdav_does_not() {
    let sshd = Sshd::start();
    let scratch = tempfile::tempdir().unwrap();
    let t = SftpTarget::new("nas", props(), sftp_config(&sshd, sshd.known_hosts()));
    std::fs::write(scratch.path().join("p"), b"x").unwrap();
    t.put(
        "hq/x.manifest.json",
        &Payload::file(scratch.path().join("p"), 1),
    )
    .await
    .unwrap();
    let told = t.free_space().await.expect("sshd answers statvfs");
    let v = rustix::fs::statvfs(sshd.root()).unwrap();
    let here = v.f_bavail * v.f_frsize;
    let diff = told.abs_diff(here);
    assert!(
        diff < 512 * 1024 * 1024,
        "the server's {told} vs the file system's {here}"
    );
    let dav = Rclone::start();
    let (cfg, pw) = dav_config(&dav, DAV_PASS);
    let w = WebdavTarget::new("dav", props(), cfg, pw).unwrap();
    assert_eq!(w.free_space().await, None);
}
