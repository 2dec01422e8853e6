//! The shell commands the docs show, run as written (with this machine's paths and servers
//! put in for the example ones): docs/disaster-recovery.md end to end, on a "bare machine"
//! (no config, no state) from one surviving fs target, one SFTP target (a real sshd), one
//! WebDAV target (rclone) and one S3 bucket (moto); and the README's quickstart.

use std::path::Path;
use std::process::Command;

use crate::helpers::*;
use crate::servers::*;

/// The `sh` code blocks of a Markdown file, with continuation lines joined, comments and
/// blank lines left out; each with the heading it stands under.
pub(crate) fn shell_commands(markdown: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in markdown.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            heading = h.to_string();
        }
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let code = line.split(" # ").next().unwrap_or("").trim_end();
        if code.trim().is_empty() || code.trim_start().starts_with('#') {
            continue;
        }
        match code.strip_suffix('\\') {
            Some(part) => pending.push_str(part),
            None => {
                pending.push_str(code);
                out.push((
                    heading.clone(),
                    std::mem::take(&mut pending).trim().to_string(),
                ));
            }
        }
    }
    out
}

/// Runs a command line with `sh`, `pbx321` on the PATH, in `dir`, with `env`.
fn sh(cmd: &str, dir: &Path, env: &[(String, String)]) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("pbx321");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .args(["-c", cmd])
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir)
        .env_remove("PBX321_CONFIG")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    eprintln!(
        "$ {cmd}\n{}{}[exit {:?}]",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code()
    );
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for f in walk_files(from) {
        let dest = to.join(&f);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&f), dest).unwrap();
    }
}

fn walk_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out
}

#[test]
fn the_disaster_recovery_walkthrough_runs_as_written() {
    let _machine = machine_lock();
    assert!(
        !Path::new(pbx321::config::DEFAULT_PATH).exists(),
        "this test plays a bare machine: {} must not exist here",
        pbx321::config::DEFAULT_PATH
    );
    // The backup host, before the disaster.
    let env = TestEnv::new();
    let original = env.put_backup("3CXScheduledBackup.zip", 1400, 200_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let id = env.files_under(&env.target_dir("usb").join("hq"))[0]
        .split('.')
        .next()
        .unwrap()
        .to_string();

    // What survived: the usb target's copies, also on an SFTP NAS, a WebDAV NAS and a bucket.
    let bare = tempfile::tempdir().unwrap();
    let usb = bare.path().join("usb");
    copy_tree(&env.target_dir("usb"), &usb);
    let sshd = Sshd::start();
    copy_tree(&usb, &sshd.root().join("pbx321"));
    let dav = Rclone::start();
    copy_tree(&usb, &dav.root().join("pbx321"));
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = s3_client(&moto.url());
        create_bucket(&client, "acme-pbx-backups", false).await;
        for f in walk_files(&usb) {
            client
                .put_object()
                .bucket("acme-pbx-backups")
                .key(format!("pbx321/{f}"))
                .body(std::fs::read(usb.join(&f)).unwrap().into())
                .send()
                .await
                .unwrap();
        }
    });
    std::fs::copy(&env.identity, bare.path().join("pbx321-key.txt")).unwrap();

    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let root = bare.path().display().to_string();
    let subst = |cmd: &str| {
        // First what names /root/ in the doc, then /root/ itself, then the servers' paths
        // (sshd's is a directory called "root").
        cmd.replace(
            "--ssh-key /root/.ssh/id_ed25519",
            &format!("--ssh-key {}", sshd.key().display()),
        )
        .replace(
            "ssh-keyscan -p 22 nas.lan > /root/known_hosts",
            &format!("cp {} /root/known_hosts", sshd.known_hosts().display()),
        )
        .replace("/root/", &format!("{root}/"))
        .replace("/mnt/usb/pbx321", &usb.display().to_string())
        .replace(
            "ssh-ed25519 AAAA… pbx321@backup1",
            env.signing_public.trim(),
        )
        .replace(
            "sftp://backup@nas.lan:22/volume1/pbx321",
            &format!(
                "sftp://{user}@127.0.0.1:{}{}/pbx321",
                sshd.port,
                sshd.root().display()
            ),
        )
        .replace(
            "webdav+https://backup@nas.lan:5006/pbx321",
            &format!("webdav+http://{DAV_USER}@127.0.0.1:{}/pbx321", dav.port),
        )
        .replace(
            "PBX321_WEBDAV_PASSWORD=…",
            &format!("PBX321_WEBDAV_PASSWORD={DAV_PASS}"),
        )
        .replace(
            "s3://acme-pbx-backups/pbx321?region=eu-central-1",
            &format!(
                "s3://acme-pbx-backups/pbx321?region=us-east-1&endpoint={}",
                moto.url()
            ),
        )
        .replace("hq-20261124T030000Z", &id)
        .replace(
            "--at 2026-11-24",
            &format!("--at {}", chrono::Utc::now().format("%Y-%m-%d")),
        )
    };
    let aws = vec![
        ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
    ];

    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/disaster-recovery.md"),
    )
    .unwrap();
    let commands = shell_commands(&doc);
    let mut ran = 0;
    let outputs = ["hq.zip", "hq-1124.zip", "hq-day.zip", "hq-offsite.zip"];
    // "Back into 3CX" needs a PBX: tests/integration/into_pbx.rs runs it against the emulator.
    for (heading, cmd) in commands.iter().filter(|(h, _)| h != "Back into 3CX") {
        let cmd = subst(cmd);
        let writes = cmd.contains("restore") || cmd.contains("zstd -d >");
        if writes {
            for f in outputs {
                let _ = std::fs::remove_file(bare.path().join(f));
            }
        }
        let out = if heading.starts_with("On the backup host") {
            // The host's config still exists: its target is called "away", not "offsite".
            let cfg = env.write_config();
            let cmd = cmd.replace("--from offsite", "--from away");
            sh(
                &cmd,
                bare.path(),
                &[("PBX321_CONFIG".into(), cfg.display().to_string())],
            )
        } else {
            sh(&cmd, bare.path(), &aws)
        };
        assert_eq!(out.status.code(), Some(0), "{heading}: {cmd}");
        if cmd.contains("pbx321 list") {
            assert!(String::from_utf8_lossy(&out.stdout).contains(&id), "{cmd}");
        }
        ran += 1;
        // Each restore wrote the original, byte for byte.
        if writes {
            let written: Vec<_> = outputs
                .iter()
                .map(|f| bare.path().join(f))
                .filter(|p| p.exists())
                .collect();
            assert_eq!(written.len(), 1, "{cmd}");
            assert!(std::fs::read(&written[0]).unwrap() == original, "{cmd}");
        }
    }
    assert!(ran >= 14, "only {ran} commands found in the walkthrough");
    // A bare machine keeps nothing: no state was left anywhere but the temp dir.
    assert!(
        !Path::new(pbx321::config::DEFAULT_STATE_DIR)
            .join("lock")
            .exists()
    );
}

#[test]
fn the_readme_quickstart_commands_run_as_written() {
    let root = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    copy_tree(&shipped, &root.path().join("examples"));
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut ran = 0;
    for (heading, cmd) in shell_commands(&readme) {
        if heading != "Try it" || !cmd.starts_with("cargo run") {
            continue; // scripts/test.sh is what runs this test
        }
        let cmd = cmd
            .replace("cargo run --release -- ", "pbx321 ")
            .replace("/tmp/restored.zip", "restored.zip");
        let out = sh(&cmd, root.path(), &[]);
        assert_eq!(out.status.code(), Some(0), "{cmd}");
        ran += 1;
    }
    assert_eq!(ran, 5, "the quickstart's five commands");
    let restored = std::fs::read(root.path().join("restored.zip")).unwrap();
    assert!(
        restored == std::fs::read(shipped.join("sample-backups/3CXScheduledBackup.zip")).unwrap()
    );
}
