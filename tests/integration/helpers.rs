//! `TestEnv`: a temp directory with a folder source, fs targets, an age key pair and a
//! config, plus runners for the real `pbx321` binary and the real `age` / `zstd` programs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use assert_cmd::cargo::CommandCargoExt;

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub identity: PathBuf,
    pub recipient: String,
    /// (name, medium, location) of each fs target, under `dir/targets/<name>`.
    pub targets: Vec<(String, String, String)>,
    pub policy: String,
    pub extra_source: String,
    /// All test targets share the temp dir's filesystem, which honest counting sees as one
    /// medium; unless this is false, every target but the first gets `trust_labels = true`.
    pub trust_labels: bool,
    /// Raw TOML put at the top of the config (top-level keys).
    pub top_level: String,
    /// Raw TOML appended after the fs targets (remote targets).
    pub extra_targets: String,
    /// Environment for the binary.
    pub env: Vec<(String, String)>,
    /// `[signing] key = "signing_key"` in the config (on by default, as a real set-up has it).
    pub signing: bool,
    /// The signing key's file and public line.
    pub signing_key: PathBuf,
    pub signing_public: String,
}

impl TestEnv {
    /// Three fs targets: disk/onsite, removable/onsite, disk/offsite; the 3-2-1 rule.
    pub fn new() -> TestEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        let identity = dir.path().join("key.txt");
        {
            use age::secrecy::ExposeSecret;
            std::fs::write(&identity, format!("{}\n", id.to_string().expose_secret())).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("pbx")).unwrap();
        let signing_key = dir.path().join("signing_key");
        let signing_public = pbx321::sign::generate(&signing_key, "test@pbx321").unwrap();
        TestEnv {
            dir,
            identity,
            recipient,
            targets: vec![
                ("local".into(), "disk".into(), "onsite".into()),
                ("usb".into(), "removable".into(), "onsite".into()),
                ("away".into(), "disk".into(), "offsite".into()),
            ],
            policy: "copies = 3\nmedia = 2\noffsite = 1\nmax_age = \"26h\"\n".into(),
            extra_source: String::new(),
            trust_labels: true,
            top_level: String::new(),
            extra_targets: String::new(),
            env: Vec::new(),
            signing: true,
            signing_key,
            signing_public,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn source_dir(&self) -> PathBuf {
        self.path().join("pbx")
    }

    pub fn target_dir(&self, name: &str) -> PathBuf {
        self.path().join("targets").join(name)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path().join("state")
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    pub fn config_text(&self) -> String {
        let mut s = format!(
            "{}state_dir = \"state\"\n[encryption]\nrecipients = [\"{}\"]\n[policy]\n{}\n[[source]]\nname = \"hq\"\ntype = \"folder\"\npath = \"pbx\"\npattern = \"*.zip\"\nsettle = \"0s\"\n{}",
            self.top_level, self.recipient, self.policy, self.extra_source
        );
        for (i, (name, medium, location)) in self.targets.iter().enumerate() {
            s.push_str(&format!(
                "\n[[target]]\nname = \"{name}\"\ntype = \"fs\"\npath = \"targets/{name}\"\nmedium = \"{medium}\"\nlocation = \"{location}\"\n"
            ));
            if self.trust_labels && i > 0 {
                s.push_str("trust_labels = true\n");
            }
        }
        s.push_str(&self.extra_targets);
        if self.signing {
            s.push_str("\n[signing]\nkey = \"signing_key\"\n");
        }
        s
    }

    /// Signs `manifest` again with the real `ssh-keygen -Y sign` and this env's key, after a
    /// test changed it on purpose (its old signature no longer holds).
    pub fn resign(&self, manifest: &Path) {
        let sig = PathBuf::from(format!("{}.sig", manifest.display()));
        let _ = std::fs::remove_file(&sig);
        let status = Command::new("ssh-keygen")
            .args(["-q", "-Y", "sign", "-n", "pbx321-manifest", "-f"])
            .arg(&self.signing_key)
            .arg(manifest)
            .stdout(Stdio::null())
            .status()
            .expect("ssh-keygen must be installed (openssh-client)");
        assert!(status.success(), "ssh-keygen -Y sign failed");
        assert!(sig.exists());
    }

    /// Writes the config file; call after changing targets or policy.
    pub fn write_config(&self) -> PathBuf {
        let p = self.config_path();
        std::fs::write(&p, self.config_text()).unwrap();
        p
    }

    /// Writes a 3CX-like backup zip into the source folder and returns its bytes.
    pub fn put_backup(&self, name: &str, seed: u64, noise_bytes: usize) -> Vec<u8> {
        let bytes = sample_zip(seed, noise_bytes);
        let p = self.source_dir().join(name);
        std::fs::write(&p, &bytes).unwrap();
        bytes
    }

    /// Runs `pbx321 --config <config> ARGS`.
    pub fn pbx321(&self, args: &[&str]) -> Output {
        self.write_config();
        self.pbx321_raw(&[&["--config", self.config_path().to_str().unwrap()], args].concat())
    }

    /// `pbx321 restore --source hq --to TO --identity KEY` and `extra` arguments.
    pub fn restore(&self, to: &Path, extra: &[&str]) -> Output {
        let base = [
            "restore",
            "--source",
            "hq",
            "--to",
            to.to_str().unwrap(),
            "--identity",
            self.identity.to_str().unwrap(),
        ];
        self.pbx321(&[&base[..], extra].concat())
    }

    /// Starts `pbx321 --config <config> backup` in the background, output discarded (to
    /// kill it mid-run).
    pub fn spawn_backup(&self) -> std::process::Child {
        let config = self.write_config();
        Command::cargo_bin("pbx321")
            .unwrap()
            .args(["--config", config.to_str().unwrap(), "backup"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    pub fn pbx321_raw(&self, args: &[&str]) -> Output {
        let out = Command::cargo_bin("pbx321")
            .unwrap()
            .args(args)
            .current_dir(self.path())
            .env_remove("PBX321_CONFIG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        eprintln!(
            "$ pbx321 {}\n{}{}[exit {:?}]",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status.code()
        );
        out
    }

    /// Every file below a directory, relative paths, sorted.
    pub fn files_under(&self, dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    /// The artifact files of all targets.
    pub fn artifacts(&self, target: &str) -> Vec<PathBuf> {
        let dir = self.target_dir(target);
        self.files_under(&dir)
            .into_iter()
            .filter(|f| f.ends_with(".zip.zst.age"))
            .map(|f| dir.join(f))
            .collect()
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub use pbx321::testutil::{noise, sample_encrypted_zip, sample_zip};

/// `age -d -i KEY FILE | zstd -d` with the real programs.
pub fn open_by_hand(identity: &Path, artifact: &Path) -> Vec<u8> {
    let mut age = Command::new("age")
        .args(["-d", "-i"])
        .arg(identity)
        .arg(artifact)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the age program must be installed (scripts/test.sh installs it)");
    let out = Command::new("zstd")
        .args(["-d", "-c"])
        .stdin(age.stdout.take().unwrap())
        .output()
        .expect("the zstd program must be installed (scripts/test.sh installs it)");
    assert!(age.wait().unwrap().success(), "age -d failed");
    assert!(out.status.success(), "zstd -d failed");
    out.stdout
}

/// `zstd | age -r RECIPIENT > out` with the real programs.
pub fn seal_by_hand(recipient: &str, plain: &Path, out: &Path) {
    let mut zstd = Command::new("zstd")
        .args(["-c", "-3"])
        .arg(plain)
        .stdout(Stdio::piped())
        .spawn()
        .expect("zstd must be installed");
    let status = Command::new("age")
        .args(["-r", recipient, "-o"])
        .arg(out)
        .stdin(zstd.stdout.take().unwrap())
        .status()
        .expect("age must be installed");
    assert!(zstd.wait().unwrap().success(), "zstd failed");
    assert!(status.success(), "age -r failed");
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    pbx321::seal::digest(bytes).unwrap().1
}

/// A small tmpfs mounted at `path` for the life of the value: a disk that fills up. Needs
/// root (CI runs as root); unmounted (lazily) on drop.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    pub fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs at {} failed: these tests need root, as CI has",
            path.display()
        );
        Tmpfs {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Held by tests that change or depend on the machine itself (`/etc/pbx321`, an installed
/// package): they run one at a time.
pub fn machine_lock() -> std::sync::MutexGuard<'static, ()> {
    static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    MACHINE.lock().unwrap_or_else(|e| e.into_inner())
}
