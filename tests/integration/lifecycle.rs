//! Issue 15, retention and self-healing, end to end on real servers: a local disk (fs), a
//! NAS over SFTP (a real sshd), S3 on moto without a lock and S3 on moto with Object Lock.
//! A week of backups is made with a clock the test sets; `prune` and `repair` then run as
//! the real binary.

use std::collections::BTreeSet;

use pbx321::ops::backup::{self, BackupOptions, RunResult};

use crate::helpers::*;
use crate::servers::*;

/// The day's backup id.
fn id(day: u32) -> String {
    format!("hq-202611{day:02}T030000Z")
}

struct World {
    env: TestEnv,
    moto: Moto,
    sshd: Sshd,
    rt: tokio::runtime::Runtime,
    /// The zip the PBX wrote on each day.
    originals: Vec<(u32, Vec<u8>)>,
}

impl World {
    /// local (fs, disk, onsite) + nas (sftp) + cloud (s3, offsite) + vault (s3 with Object
    /// Lock, offsite). Retention: keep_last = 1, cloud keeps 4, vault 1.
    fn new() -> World {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let moto = Moto::start();
        rt.block_on(async {
            let c = s3_client(&moto.url());
            create_bucket(&c, "cloud", false).await;
            create_bucket(&c, "vault", true).await;
        });
        let sshd = Sshd::start();
        let mut env = TestEnv::new();
        env.targets.truncate(1);
        env.top_level = "retention = { keep_last = 1, timezone = \"UTC\" }\n".into();
        let s3 = |name: &str, extra: &str| {
            format!(
                "\n[[target]]\nname = \"{name}\"\ntype = \"s3\"\nbucket = \"{name}\"\nendpoint = \"{}\"\npath_style = true\nregion = \"us-east-1\"\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\nmedium = \"object-storage\"\nlocation = \"offsite\"\ntrust_labels = true\n{extra}",
                moto.url()
            )
        };
        env.extra_targets = format!(
            "\n[[target]]\nname = \"nas\"\ntype = \"sftp\"\nendpoint = \"{}\"\npath = \"{}\"\nkey = \"{}\"\nknown_hosts = \"{}\"\nmedium = \"nas\"\nretention = {{ keep_last = 1 }}\n{}{}",
            sshd.endpoint(),
            sshd.root().join("pbx321").display(),
            sshd.key().display(),
            sshd.known_hosts().display(),
            s3("cloud", "retention = { keep_last = 4 }\n"),
            s3(
                "vault",
                "retention = { keep_last = 1 }\nobject_lock = { mode = \"compliance\", days = 2 }\n"
            ),
        );
        env.write_config();
        World {
            env,
            moto,
            sshd,
            rt,
            originals: Vec::new(),
        }
    }

    /// The PBX writes a backup on `day` (November 2026, 03:00 UTC) and pbx321 backs it up,
    /// with its clock at that time.
    fn backup_on(&mut self, day: u32) {
        let zip = self
            .env
            .put_backup("3CXScheduledBackup.zip", 1500 + day as u64, 20_000);
        let path = self.env.config_path();
        let cfg =
            pbx321::config::Config::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(&format!("2026-11-{day:02}T03:00:00Z"))
            .unwrap()
            .to_utc();
        let report = self.rt.block_on(async {
            let ctx = pbx321::ops::Ctx::open(cfg)
                .await
                .with_clock(std::sync::Arc::new(move || at));
            backup::run(&ctx, &BackupOptions::default()).await.unwrap()
        });
        match &report.sources[0].result {
            RunResult::Stored {
                id: got, verdict, ..
            } => {
                assert_eq!(got, &id(day));
                assert!(verdict.ok, "{verdict:?}");
            }
            RunResult::Failed { error } => panic!("{error}"),
        }
        self.originals.push((day, zip));
    }

    /// The backup ids whose manifest `target` holds.
    fn ids_on(&self, target: &str) -> BTreeSet<String> {
        let names: Vec<String> = match target {
            "local" => self.env.files_under(&self.env.target_dir("local")),
            "nas" => self.env.files_under(&self.sshd.root().join("pbx321")),
            bucket => self.rt.block_on(async {
                let out = s3_client(&self.moto.url())
                    .list_objects_v2()
                    .bucket(bucket)
                    .send()
                    .await
                    .unwrap();
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string))
                    .collect()
            }),
        };
        names
            .iter()
            .filter_map(|n| {
                n.rsplit('/')
                    .next()
                    .and_then(|f| f.strip_suffix(".manifest.json"))
                    .map(str::to_string)
            })
            .collect()
    }

    /// Every object on every target, for "nothing changed".
    fn snapshot(&self) -> Vec<(String, BTreeSet<String>)> {
        ["local", "nas", "cloud", "vault"]
            .iter()
            .map(|t| {
                let all: BTreeSet<String> = match *t {
                    "local" => self
                        .env
                        .files_under(&self.env.target_dir("local"))
                        .into_iter()
                        .collect(),
                    "nas" => self
                        .env
                        .files_under(&self.sshd.root().join("pbx321"))
                        .into_iter()
                        .collect(),
                    bucket => self.rt.block_on(async {
                        s3_client(&self.moto.url())
                            .list_objects_v2()
                            .bucket(bucket)
                            .send()
                            .await
                            .unwrap()
                            .contents()
                            .iter()
                            .filter_map(|o| o.key().map(str::to_string))
                            .collect()
                    }),
                };
                (t.to_string(), all)
            })
            .collect()
    }

    fn delete_s3(&self, bucket: &str, key: &str) {
        self.rt.block_on(async {
            s3_client(&self.moto.url())
                .delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap();
        });
    }

    fn original(&self, day: u32) -> &[u8] {
        &self.originals.iter().find(|(d, _)| *d == day).unwrap().1
    }
}

fn ids(days: &[u32]) -> BTreeSet<String> {
    days.iter().map(|d| id(*d)).collect()
}

#[test]
fn prune_keeps_what_the_rules_say_and_repair_refills_missing_and_flipped_copies() {
    let mut w = World::new();
    for day in 11..=17 {
        w.backup_on(day);
    }
    for t in ["local", "nas", "cloud", "vault"] {
        assert_eq!(w.ids_on(t), ids(&[11, 12, 13, 14, 15, 16, 17]), "{t}");
    }
    // Day 17 loses its copies on nas and cloud: it no longer meets 3-2-1 (local + vault),
    // so day 16 is the newest compliant backup and must stay whole.
    let nas_dir = w.sshd.root().join("pbx321/hq");
    std::fs::remove_file(nas_dir.join(format!("{}.manifest.json", id(17)))).unwrap();
    w.delete_s3("cloud", &format!("hq/{}.manifest.json", id(17)));

    // A dry run changes nothing, and says what it would do and why.
    let before = w.snapshot();
    let out = w.env.pbx321(&["prune", "--dry-run"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("dry run: nothing is removed"), "{text}");
    assert!(
        text.contains(&format!("keep   {}  newest compliant", id(16))),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "remove  {}  no rule keeps it (keep last 1)",
            id(11)
        )),
        "{text}"
    );
    assert!(
        text.contains("skip   ") && text.contains("locked until"),
        "{text}"
    );
    assert_eq!(w.snapshot(), before, "--dry-run removed something");

    let out = w.env.pbx321(&["prune", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sources"][0]["newest"], id(17));
    assert_eq!(v["sources"][0]["newest_compliant"], id(16));
    // local: the newest and the newest compliant; nas the same, less day 17 it lost.
    assert_eq!(w.ids_on("local"), ids(&[16, 17]));
    assert_eq!(w.ids_on("nas"), ids(&[16]));
    // cloud keeps its last 4 (days 14–17; it lost 17).
    assert_eq!(w.ids_on("cloud"), ids(&[14, 15, 16]));
    // vault keeps 1 by its rule, but every copy is under Object Lock: skipped, not removed.
    assert_eq!(w.ids_on("vault"), ids(&[11, 12, 13, 14, 15, 16, 17]));
    let vault = v["sources"][0]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "vault")
        .unwrap();
    let skipped = vault["copies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "skip" && c["why"].as_str().unwrap().starts_with("locked until"))
        .count();
    assert_eq!(skipped, 5, "{vault}");
    // Nothing half-removed: no artifact or signature is left without its manifest (but
    // those of day 17 whose manifests the test removed: too young to be leftovers).
    for (t, objects) in w.snapshot() {
        for o in objects.iter().filter(|o| !o.contains(&id(17))) {
            let base = o
                .strip_suffix(".zip.zst.age")
                .or_else(|| o.strip_suffix(".manifest.json.sig"));
            if let Some(base) = base {
                assert!(
                    objects.contains(&format!("{base}.manifest.json")),
                    "{t}: {o} alone"
                );
            }
        }
    }
    // A second prune has nothing left to remove.
    let out = w.env.pbx321(&["prune"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("removed 0"), "{}", stdout(&out));

    // check shows the history, what prune removed and what repair still has to do.
    let out = w.env.pbx321(&["check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let src = &v["sources"][0];
    assert_eq!(src["history"]["backups"], 7, "{src}");
    assert_eq!(src["history"]["oldest"]["id"], id(11));
    assert_eq!(src["history"]["per_target"]["local"], 2);
    assert_eq!(src["repair_pending"], 2, "day 17 on nas and cloud");
    let out = w.env.pbx321(&["check", "--format", "prometheus"]);
    let metrics = stdout(&out);
    for line in [
        "pbx321_prune_removed_total{target=\"local\"} 5",
        "pbx321_prune_removed_total{target=\"nas\"} 5",
        "pbx321_prune_removed_total{target=\"cloud\"} 3",
        "pbx321_repair_pending{source=\"hq\"} 2",
        "pbx321_backups{source=\"hq\",target=\"vault\"} 7",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    crate::monitoring::promtool_accepts(&metrics);

    // Repair: day 17 is kept on nas (newest) and cloud (last 4): both get it back, from
    // the local disk, not from the PBX (whose folder no longer has it).
    std::fs::remove_dir_all(w.env.source_dir()).unwrap();
    let out = w.env.pbx321(&["repair", "--dry-run"]);
    assert_eq!(code(&out), 3, "repairs needed: {}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!(
            "would repair {} on nas (absent) from local",
            id(17)
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(w.ids_on("nas"), ids(&[16]), "--dry-run wrote nothing");
    let out = w.env.pbx321(&["repair"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("repaired  {} on cloud", id(17))),
        "{}",
        stdout(&out)
    );
    assert_eq!(w.ids_on("nas"), ids(&[16, 17]));
    assert_eq!(w.ids_on("cloud"), ids(&[14, 15, 16, 17]));
    let out = w.env.pbx321(&["check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sources"][0]["repair_pending"], 0);

    // A deleted artifact on the local disk is refilled, and the local copy alone restores.
    let local_hq = w.env.target_dir("local").join("hq");
    std::fs::remove_file(local_hq.join(format!("{}.zip.zst.age", id(17)))).unwrap();
    let out = w.env.pbx321(&["repair"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("repaired  {} on local (missing)", id(17))),
        "{}",
        stdout(&out)
    );
    let to = w.env.path().join("from-local.zip");
    let out = w
        .env
        .restore(&to, &["--from", "local", "--backup", &id(17)]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        std::fs::read(&to).unwrap() == w.original(17),
        "byte-exact from local"
    );

    // A flipped bit on the NAS: same size, so only --deep sees it, and replaces it.
    let nas_artifact = nas_dir.join(format!("{}.zip.zst.age", id(17)));
    let mut bytes = std::fs::read(&nas_artifact).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&nas_artifact, &bytes).unwrap();
    let out = w.env.pbx321(&["repair"]);
    assert_eq!(code(&out), 0);
    assert!(
        !stdout(&out).contains("repaired"),
        "a shallow repair cannot see it: {}",
        stdout(&out)
    );
    let out = w.env.pbx321(&["repair", "--deep"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("repaired  {} on nas (corrupt", id(17))),
        "{}",
        stdout(&out)
    );
    let to = w.env.path().join("from-nas.zip");
    let out = w.env.restore(&to, &["--from", "nas", "--backup", &id(17)]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        std::fs::read(&to).unwrap() == w.original(17),
        "byte-exact from nas"
    );

    // The repaired copies verify everywhere, signatures included.
    let out = w.env.pbx321(&["list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id(17))
        .unwrap();
    for c in b["copies"].as_array().unwrap() {
        assert_eq!(c["state"], "verified", "{c}");
    }
}

/// Leftovers of interrupted writes are removed by prune once they are older than a day;
/// younger ones may be a writer's still at work and stay.
#[test]
fn prune_removes_leftovers_older_than_a_day_only() {
    let env = TestEnv::new();
    env.write_config();
    env.put_backup("3CXScheduledBackup.zip", 1600, 1000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    let hq = env.target_dir("local").join("hq");
    let old_partial = hq.join("hq-20261101T030000Z.zip.zst.age.1a2-0-3b4.partial");
    let young_partial = hq.join("hq-20261125T010000Z.zip.zst.age.1a2-1-3b5.partial");
    let old_orphan = hq.join("hq-20261102T030000Z.zip.zst.age");
    let old_sig = hq.join("hq-20261103T030000Z.manifest.json.sig");
    // Not a name pbx321 makes: never its leftover, whatever its age.
    let foreign = hq.join("important.db.partial");
    for f in [
        &old_partial,
        &young_partial,
        &old_orphan,
        &old_sig,
        &foreign,
    ] {
        std::fs::write(f, b"leftover").unwrap();
    }
    for f in [&old_partial, &old_orphan, &old_sig, &foreign] {
        let status = std::process::Command::new("touch")
            .args(["-d", "3 days ago"])
            .arg(f)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let out = env.pbx321(&["prune", "--dry-run"]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains(
            "would remove leftover on local: partial hq/hq-20261101T030000Z.zip.zst.age.1a2-0-3b4.partial"
        ),
        "{}",
        stdout(&out)
    );
    assert!(old_partial.exists(), "--dry-run removed a leftover");
    let out = env.pbx321(&["prune"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    for f in [&old_partial, &old_orphan, &old_sig] {
        assert!(!f.exists(), "{} left", f.display());
    }
    assert!(
        young_partial.exists(),
        "a young partial may be a writer's at work"
    );
    assert!(
        foreign.exists(),
        "a name pbx321 never makes is not its leftover"
    );
    // The backup itself is untouched (no rules: everything is kept).
    assert_eq!(env.artifacts("local").len(), 1);
}
