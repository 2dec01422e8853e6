//! The Debian package (issue 14): built with cargo-deb by `scripts/package-deb.sh`, installed
//! with `dpkg -i` on this Debian machine, used, reinstalled over an edited conffile, purged.
//!
//! It installs system-wide, so it runs only when asked: `PBX321_TEST_PACKAGE=1`, which
//! `.ci/run` sets. It then leaves the machine as it found it: what the purge keeps on purpose
//! for an operator (the `pbx321` user and group, `/var/lib/pbx321`) is removed by the test
//! when it made them.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use crate::helpers::machine_lock;

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("$ {cmd:?}\n{text}");
    (out.status.success(), text)
}

/// Purges the package however the test ends, and removes what the purge keeps when the
/// test made it: the user, the group, the state directory.
struct Purge {
    user_before: bool,
    group_before: bool,
    state_before: bool,
}

impl Purge {
    fn now() -> Purge {
        let exists = |db: &str| {
            Command::new("getent")
                .args([db, "pbx321"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        Purge {
            user_before: exists("passwd"),
            group_before: exists("group"),
            state_before: Path::new("/var/lib/pbx321").exists(),
        }
    }
}

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "pbx321"]).output();
        if !self.user_before {
            let _ = Command::new("userdel").arg("pbx321").output();
        }
        if !self.group_before {
            let _ = Command::new("groupdel").arg("pbx321").output();
        }
        if !self.state_before {
            let _ = std::fs::remove_dir_all("/var/lib/pbx321");
        }
    }
}

#[test]
fn the_deb_installs_keeps_an_edited_conffile_and_purges_cleanly() {
    if std::env::var_os("PBX321_TEST_PACKAGE").is_none() {
        eprintln!(
            "the package test installs pbx321 system-wide: not run; PBX321_TEST_PACKAGE=1 runs it (.ci/run does)"
        );
        return;
    }
    let _machine = machine_lock();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (ok, _) = run(Command::new("dpkg").args(["-s", "pbx321"]));
    assert!(
        !ok,
        "pbx321 is already installed on this machine; the test would remove it"
    );
    let purge = Purge::now();

    let (ok, text) = run(Command::new(root.join("scripts/package-deb.sh"))
        .arg("--dev")
        .current_dir(root));
    assert!(ok, "package-deb.sh failed: {text}");
    let deb = text
        .lines()
        .rfind(|l| l.ends_with(".deb"))
        .expect("the script prints the package's path")
        .to_string();

    let (ok, text) = run(Command::new("dpkg").args(["-i", &deb]));
    assert!(ok, "{text}");
    assert!(
        text.contains("systemctl enable --now pbx321-backup.timer"),
        "{text}"
    );

    let (ok, text) = run(Command::new("/usr/bin/pbx321").arg("--version"));
    assert!(ok && text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    let (ok, text) = run(Command::new("man").args(["-w", "pbx321"]));
    assert!(ok, "{text}");
    assert!(
        text.trim().starts_with("/usr/share/man/man1/pbx321.1"),
        "{text}"
    );
    let (ok, text) = run(Command::new("man").args(["-w", "pbx321-restore"]));
    assert!(ok, "{text}");
    let bash = std::fs::read_to_string("/usr/share/bash-completion/completions/pbx321").unwrap();
    assert!(bash.contains("_pbx321()"), "a bash completion function");
    assert!(Path::new("/usr/share/zsh/vendor-completions/_pbx321").exists());
    assert!(Path::new("/usr/share/fish/vendor_completions.d/pbx321.fish").exists());

    // The system user, its state directory, the config readable by it alone.
    let (ok, text) = run(Command::new("getent").args(["passwd", "pbx321"]));
    assert!(ok && text.contains("/var/lib/pbx321"), "{text}");
    let uid: u32 = text.split(':').nth(2).unwrap().parse().unwrap();
    let state = std::fs::metadata("/var/lib/pbx321").unwrap();
    assert_eq!((state.uid(), state.mode() & 0o777), (uid, 0o700));
    let conf = std::fs::metadata("/etc/pbx321/config.toml").unwrap();
    assert_eq!((conf.uid(), conf.mode() & 0o777), (0, 0o640));
    assert_ne!(conf.gid(), 0, "group pbx321");
    // Until the operator sets a key, the shipped config is refused with what to fix.
    let (ok, text) = run(Command::new("/usr/bin/pbx321").args(["config", "check"]));
    assert!(
        !ok && text.contains("REPLACE-WITH-YOUR-PUBLIC-KEY"),
        "{text}"
    );

    // The units are valid, installed, and not enabled: nothing runs unconfigured.
    let (ok, text) = run(Command::new("systemd-analyze").args([
        "verify",
        "/usr/lib/systemd/system/pbx321-backup.service",
        "/usr/lib/systemd/system/pbx321-backup.timer",
        "/usr/lib/systemd/system/pbx321.service",
    ]));
    assert!(ok, "{text}");
    assert!(!Path::new("/etc/systemd/system/timers.target.wants/pbx321-backup.timer").exists());
    assert!(!Path::new("/etc/systemd/system/multi-user.target.wants/pbx321.service").exists());

    // An edited conffile survives reinstalling the package.
    let edited = std::fs::read_to_string("/etc/pbx321/config.toml").unwrap() + "# edited here\n";
    std::fs::write("/etc/pbx321/config.toml", &edited).unwrap();
    let (ok, text) =
        run(Command::new("dpkg").args(["-i", "--force-confdef", "--force-confold", &deb]));
    assert!(ok, "{text}");
    assert_eq!(
        std::fs::read_to_string("/etc/pbx321/config.toml").unwrap(),
        edited
    );

    // Purged: nothing of the package is left; the state directory is kept (its spool may
    // hold a backup no target has yet).
    let (ok, text) = run(Command::new("dpkg").args(["--purge", "pbx321"]));
    assert!(ok, "{text}");
    for gone in [
        "/usr/bin/pbx321",
        "/etc/pbx321",
        "/usr/lib/systemd/system/pbx321-backup.service",
        "/usr/lib/systemd/system/pbx321.service",
        "/usr/share/man/man1/pbx321.1.gz",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} left behind");
    }
    let (ok, _) = run(Command::new("dpkg").args(["-s", "pbx321"]));
    assert!(!ok, "still known to dpkg");
    // The machine as it was: no user, group or state directory the test made.
    let (user, group, state) = (purge.user_before, purge.group_before, purge.state_before);
    drop(purge);
    let exists = |db: &str| run(Command::new("getent").args([db, "pbx321"])).0;
    assert_eq!(exists("passwd"), user, "the pbx321 user");
    assert_eq!(exists("group"), group, "the pbx321 group");
    assert_eq!(
        std::fs::metadata("/var/lib/pbx321").is_ok(),
        state,
        "/var/lib/pbx321"
    );
}
