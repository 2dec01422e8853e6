//! Issue 13, tamper evidence: an attacker who can write to one target plants copies — a
//! valid age file of their own zip to the (public) recipient, with a manifest made
//! consistent with it — and none is ever counted or restored. Signatures are checked with
//! the real `ssh-keygen` too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{TimeZone, Utc};
use pbx321::manifest;

use crate::helpers::*;

/// How the attacker signs the manifest they plant.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sig {
    /// No signature file.
    None,
    /// The signature that was there (of the real manifest).
    Old,
    /// Signed with a key of the attacker's own.
    Untrusted,
    /// Signed with the trusted key (only for tests of other rules than signatures).
    Trusted,
}

/// Plants on `target` a copy of backup `id` holding `plain`: sealed to the public
/// recipient, with a manifest that describes it exactly, signed as `sig` says.
pub(crate) fn plant(env: &TestEnv, target: &str, id: &str, plain: &[u8], sig: Sig) {
    let dir = env.target_dir(target).join("hq");
    std::fs::create_dir_all(&dir).unwrap();
    let (sealed, m) = pbx321::testutil::sealed_copy(&env.recipient, "hq", id, plain);
    let artifact = dir.join(format!("{id}.zip.zst.age"));
    let mpath = dir.join(format!("{id}.manifest.json"));
    let sigpath = dir.join(format!("{id}.manifest.json.sig"));
    let _ = std::fs::remove_file(&artifact);
    std::fs::write(&artifact, &sealed).unwrap();
    std::fs::write(&mpath, m.to_json()).unwrap();
    match sig {
        Sig::None => {
            let _ = std::fs::remove_file(&sigpath);
        }
        Sig::Old => assert!(sigpath.exists(), "there was a signature to keep"),
        Sig::Untrusted => {
            let key = env.path().join("attacker_key");
            if !key.exists() {
                pbx321::sign::generate(&key, "attacker").unwrap();
            }
            let s = pbx321::sign::Signer::load(&key).unwrap();
            std::fs::write(&sigpath, s.sign(&m.to_json()).unwrap()).unwrap();
        }
        Sig::Trusted => env.resign(&mpath),
    }
}

fn newest_id(env: &TestEnv) -> String {
    let names = env.files_under(&env.target_dir("local").join("hq"));
    let mut ids: Vec<String> = names
        .iter()
        .filter_map(|f| f.strip_suffix(".manifest.json"))
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.pop().unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn copy_state(v: &serde_json::Value, target: &str) -> serde_json::Value {
    v["sources"][0]["newest"]["copies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"] == target)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_forged_copy_on_the_first_target_is_never_counted_or_restored() {
    for sig in [Sig::None, Sig::Old, Sig::Untrusted] {
        let env = TestEnv::new();
        let original = env.put_backup("3CXScheduledBackup.zip", 1300, 50_000);
        assert_eq!(code(&env.pbx321(&["backup"])), 0);
        let id = newest_id(&env);
        let evil = sample_zip(6666, 50_000);
        plant(&env, "local", &id, &evil, sig);

        for args in [
            &["check", "--format", "json"][..],
            &["check", "--deep", "--format", "json"],
        ] {
            let out = env.pbx321(args);
            assert_eq!(code(&out), 2, "{sig:?} {args:?}: CRITICAL");
            let v = json(&out);
            let local = copy_state(&v, "local");
            assert_eq!(local["state"], "forged", "{sig:?}: {local}");
            assert!(
                local["why"].as_str().unwrap().contains("forged or damaged"),
                "{local}"
            );
            let reasons = v["sources"][0]["reasons"].to_string();
            assert!(
                reasons.contains("forged or damaged copy on local"),
                "{reasons}"
            );
        }
        let out = env.pbx321(&["list"]);
        assert!(stdout(&out).contains("local (FORGED)"), "{}", stdout(&out));

        let to = env.path().join("restored.zip");
        let out = env.restore(&to, &[]);
        assert_eq!(code(&out), 0, "{sig:?}: restored from the next target");
        assert!(
            std::fs::read(&to).unwrap() == original,
            "{sig:?}: the real backup"
        );
        assert!(stdout(&out).contains("local: could not restore: forged or damaged"));
        assert!(stdout(&out).contains("from usb"), "{}", stdout(&out));

        // Only the forged copy left: nothing is restored, exit 1, naming the problem.
        let out = env.restore(&to, &["--from", "local", "--force"]);
        assert_eq!(code(&out), 1, "{sig:?}");
        assert!(
            stderr(&out).contains("forged or damaged"),
            "{}",
            stderr(&out)
        );
        assert!(std::fs::read(&to).unwrap() == original, "--to untouched");
    }
}

#[test]
fn a_forged_newer_backup_never_becomes_the_default_restore() {
    let env = TestEnv::new();
    let original = env.put_backup("3CXScheduledBackup.zip", 1301, 20_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // Unsigned, with an id a minute after the real one, on every target the attacker has.
    let id = newest_id(&env);
    let later = manifest::id_time("hq", &id).unwrap() + chrono::Duration::minutes(1);
    let forged_id = manifest::backup_id("hq", later);
    plant(
        &env,
        "local",
        &forged_id,
        &sample_zip(7777, 20_000),
        Sig::None,
    );
    let to = env.path().join("r.zip");
    let out = env.restore(&to, &[]);
    assert_eq!(code(&out), 0);
    assert!(std::fs::read(&to).unwrap() == original);
    assert!(stdout(&out).contains(&id), "{}", stdout(&out));
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    assert!(stdout(&out).contains("forged or damaged copy on local"));
}

#[test]
fn a_backup_dated_in_the_future_is_not_a_backup() {
    let env = TestEnv::new();
    let original = env.put_backup("3CXScheduledBackup.zip", 1302, 20_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // Even validly signed (a host whose clock is far ahead), a backup from 2099 is not one.
    let future = manifest::backup_id("hq", Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap());
    for t in ["local", "usb", "away"] {
        plant(&env, t, &future, &sample_zip(8888, 20_000), Sig::Trusted);
        // The same sealed bytes everywhere is not needed: each target's copy is judged.
    }
    let to = env.path().join("r.zip");
    let out = env.restore(&to, &[]);
    assert_eq!(code(&out), 0);
    assert!(std::fs::read(&to).unwrap() == original, "the real newest");
    let at = "2099-06-01T00:00:00Z";
    let out = env.restore(&to, &["--at", at, "--force"]);
    assert!(
        std::fs::read(&to).unwrap() == original,
        "--at ignores it: {}",
        stdout(&out)
    );
    let out = env.pbx321(&["check", "--format", "json"]);
    assert_eq!(code(&out), 2);
    let v = json(&out);
    let reasons = v["sources"][0]["reasons"].to_string();
    assert!(reasons.contains("is dated in the future"), "{reasons}");
    assert_ne!(v["sources"][0]["newest"]["id"], future.as_str());
}

#[test]
fn copies_that_disagree_are_reported_and_the_agreeing_ones_restore() {
    let env = TestEnv::new();
    let original = env.put_backup("3CXScheduledBackup.zip", 1303, 20_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let id = newest_id(&env);
    // The same zip sealed again (age output differs), signed by the trusted key: a copy
    // that is valid on its own but is not the same backup as its siblings'.
    plant(&env, "away", &id, &original, Sig::Trusted);
    let out = env.pbx321(&["check", "--format", "json"]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    let v = json(&out);
    let away = copy_state(&v, "away");
    assert_eq!(away["state"], "divergent", "{away}");
    let why = away["why"].as_str().unwrap();
    assert!(
        why.contains("disagree")
            && why.contains("local, usb hold sealed sha256")
            && why.contains("away holds"),
        "{why}"
    );
    let to = env.path().join("r.zip");
    assert_eq!(code(&env.restore(&to, &[])), 0);
    assert!(std::fs::read(&to).unwrap() == original);
}

/// `ssh-keygen -Y verify` with an allowed_signers file, as docs/security.md shows.
fn ssh_verify(env: &TestEnv, manifest: &Path) -> bool {
    let allowed = env.path().join("allowed_signers");
    std::fs::write(&allowed, format!("pbx321 {}\n", env.signing_public)).unwrap();
    let sig = PathBuf::from(format!("{}.sig", manifest.display()));
    Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(&allowed)
        .args(["-I", "pbx321", "-n", "pbx321-manifest", "-s"])
        .arg(&sig)
        .stdin(std::fs::File::open(manifest).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ssh-keygen must be installed (openssh-client)")
        .success()
}

#[test]
fn stock_ssh_keygen_verifies_the_signatures() {
    let env = TestEnv::new();
    env.put_backup("3CXScheduledBackup.zip", 1304, 5_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let id = newest_id(&env);
    for t in ["local", "usb", "away"] {
        let m = env.target_dir(t).join(format!("hq/{id}.manifest.json"));
        assert!(
            ssh_verify(&env, &m),
            "{t}: ssh-keygen accepts pbx321's signature"
        );
    }
    // And refuses a manifest changed after signing.
    let m = env
        .target_dir("local")
        .join(format!("hq/{id}.manifest.json"));
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replace("3CXScheduledBackup", "3CXScheduledBackuX");
    std::fs::write(&m, text).unwrap();
    assert!(!ssh_verify(&env, &m));
}

#[test]
fn keygen_makes_a_signing_key_and_one_made_by_ssh_keygen_works_too() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = TestEnv::new();
    let key = env.path().join("made-by-pbx321");
    let out = env.pbx321_raw(&["keygen", "--signing-key", key.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let public = stdout(&out).trim().to_string();
    assert!(public.starts_with("ssh-ed25519 "), "{public}");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let pubfile = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
    assert_eq!(pubfile.trim(), public);
    // ssh-keygen reads it.
    let derived = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(&key)
        .output()
        .unwrap();
    assert!(derived.status.success());
    assert!(public.starts_with(String::from_utf8_lossy(&derived.stdout).trim()));
    // Never over an existing key.
    let out = env.pbx321_raw(&["keygen", "--signing-key", key.to_str().unwrap()]);
    assert_ne!(code(&out), 0);

    // A key made by ssh-keygen signs as well.
    let theirs = env.path().join("made-by-ssh-keygen");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "backup1", "-f"])
        .arg(&theirs)
        .status()
        .unwrap();
    assert!(status.success());
    env.signing_key = theirs.clone();
    env.signing_public = std::fs::read_to_string(format!("{}.pub", theirs.display())).unwrap();
    env.extra_targets = String::new();
    std::fs::write(
        env.path().join("signing_key"),
        std::fs::read(&theirs).unwrap(),
    )
    .unwrap();
    std::fs::write(
        env.path().join("signing_key.pub"),
        env.signing_public.as_bytes(),
    )
    .unwrap();
    env.put_backup("3CXScheduledBackup.zip", 1305, 5_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let m = env
        .target_dir("usb")
        .join(format!("hq/{}.manifest.json", newest_id(&env)));
    assert!(ssh_verify(&env, &m));
    assert_eq!(code(&env.pbx321(&["check"])), 0);
}

#[test]
fn unsigned_backups_from_before_signing_count_with_a_warning_until_the_date() {
    let mut env = TestEnv::new();
    env.signing = false;
    env.put_backup("3CXScheduledBackup.zip", 1306, 5_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // Without signing: not tamper-evident, and both config check and check say so.
    let out = env.pbx321(&["check"]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains("not tamper-evident"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&env.pbx321(&["config", "check"])).contains("not tamper-evident"));

    // Signing switched on, unsigned backups accepted until a date after them.
    env.signing = true;
    let after = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    env.extra_targets =
        format!("\n[signing]\nkey = \"signing_key\"\naccept_unsigned_before = \"{after}\"\n");
    env.signing = false; // the [signing] table comes from extra_targets
    let out = env.pbx321(&["check", "--format", "json"]);
    assert_eq!(code(&out), 1, "WARNING: {}", stdout(&out));
    let v = json(&out);
    assert!(
        v["sources"][0]["reasons"]
            .to_string()
            .contains("unsigned copies")
    );
    assert_eq!(copy_state(&v, "local")["state"], "unsigned");
    // Before the backups: they are no longer copies.
    let before = (Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    env.extra_targets =
        format!("\n[signing]\nkey = \"signing_key\"\naccept_unsigned_before = \"{before}\"\n");
    let out = env.pbx321(&["check", "--format", "json"]);
    assert_eq!(code(&out), 2);
    assert_eq!(copy_state(&json(&out), "local")["state"], "forged");
}
