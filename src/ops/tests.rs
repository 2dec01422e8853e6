//! The operations on in-memory targets and an in-memory source, with a clock the test
//! moves: what each operation does, without a binary, a disk target or the wall clock.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::backup::{self, BackupOptions, RunResult};
use super::check::{self, CheckOptions};
use super::{Clock, Ctx};
use crate::config::{Config, Location, Medium};
use crate::policy::Status;
use crate::source::Source;
use crate::source::memory::MemorySource;
use crate::targets::memory::MemoryTarget;
use crate::targets::{Properties, Target};
use crate::testutil::sample_zip;

const RECIPIENT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

/// Three in-memory targets (disk onsite, nas onsite, object storage offsite), one source,
/// the 3-2-1 rule and a clock at 2026-11-25 03:00 UTC.
struct Harness {
    _dir: tempfile::TempDir,
    targets: Vec<Arc<MemoryTarget>>,
    source: Arc<MemorySource>,
    time: Arc<Mutex<DateTime<Utc>>>,
    ctx: Ctx,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "state_dir = \"state\"\n[encryption]\nrecipients = [\"{RECIPIENT}\"]\n[policy]\ncopies = 3\nmedia = 2\noffsite = 1\nmax_age = \"26h\"\n\
             [[source]]\nname = \"hq\"\ntype = \"folder\"\npath = \"pbx\"\n\
             [[target]]\nname = \"local\"\ntype = \"fs\"\npath = \"t1\"\nmedium = \"disk\"\n\
             [[target]]\nname = \"nas\"\ntype = \"fs\"\npath = \"t2\"\nmedium = \"nas\"\n\
             [[target]]\nname = \"cloud\"\ntype = \"fs\"\npath = \"t3\"\nmedium = \"object-storage\"\nlocation = \"offsite\"\n"
        );
        let config = Config::parse(&text, &dir.path().join("config.toml")).unwrap();
        let props = |medium, location| Properties {
            medium,
            location,
            immutable_capable: false,
            declared: false,
        };
        let targets: Vec<Arc<MemoryTarget>> = vec![
            Arc::new(MemoryTarget::new(
                "local",
                props(Medium::Disk, Location::Onsite),
            )),
            Arc::new(MemoryTarget::new(
                "nas",
                props(Medium::Nas, Location::Onsite),
            )),
            Arc::new(MemoryTarget::new(
                "cloud",
                props(Medium::ObjectStorage, Location::Offsite),
            )),
        ];
        let source = Arc::new(MemorySource::new("hq"));
        let time = Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap(),
        ));
        let clock: Clock = {
            let time = Arc::clone(&time);
            Arc::new(move || *time.lock().unwrap())
        };
        let ctx = Ctx::with(
            config,
            targets
                .iter()
                .map(|t| Arc::clone(t) as Arc<dyn Target>)
                .collect(),
            vec![Arc::clone(&source) as Arc<dyn Source>],
            clock,
        );
        Harness {
            _dir: dir,
            targets,
            source,
            time,
            ctx,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        *self.time.lock().unwrap()
    }

    fn advance(&self, d: Duration) {
        *self.time.lock().unwrap() += d;
    }

    /// The PBX writes a new backup now.
    fn pbx_writes(&self, seed: u64) -> Vec<u8> {
        let bytes = sample_zip(seed, 10_000);
        self.source
            .add("3CXScheduledBackup.zip", self.now(), bytes.clone());
        bytes
    }

    async fn backup(&self) -> backup::BackupReport {
        backup::run(&self.ctx, &BackupOptions::default())
            .await
            .unwrap()
    }

    async fn check(&self) -> crate::policy::check::CheckReport {
        check::run(&self.ctx, &CheckOptions::default())
            .await
            .unwrap()
    }

    fn spool_files(&self) -> usize {
        std::fs::read_dir(self.ctx.state.path("spool"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

fn stored(r: &backup::BackupReport) -> (&str, bool, bool) {
    match &r.sources[0].result {
        RunResult::Stored {
            id,
            already_stored,
            verdict,
            ..
        } => (id.as_str(), *already_stored, verdict.ok),
        RunResult::Failed { error } => panic!("backup failed: {error}"),
    }
}

#[tokio::test]
async fn a_backup_is_named_by_the_clock_and_lands_on_every_target() {
    let h = Harness::new();
    h.pbx_writes(1);
    let r = h.backup().await;
    assert_eq!(stored(&r), ("hq-20261125T030000Z", false, true));
    assert!(
        matches!(&r.sources[0].result, RunResult::Stored { first_copy_seconds: Some(s), .. } if *s >= 0.0),
        "the time to the first committed copy is reported"
    );
    for t in &h.targets {
        let mut paths: Vec<String> = t
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.path)
            .collect();
        paths.sort();
        assert_eq!(
            paths,
            vec![
                "hq/hq-20261125T030000Z.manifest.json".to_string(),
                "hq/hq-20261125T030000Z.zip.zst.age".into()
            ],
            "{}",
            t.name()
        );
    }
    assert_eq!(
        h.spool_files(),
        0,
        "the spool is empty once every target has its copy"
    );

    // The same PBX file an hour later is not stored again.
    h.advance(Duration::hours(1));
    let r = h.backup().await;
    assert_eq!(stored(&r), ("hq-20261125T030000Z", true, true));
    assert_eq!(h.targets[0].list("").await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_target_that_fails_keeps_the_backup_pending_until_it_is_back() {
    let h = Harness::new();
    h.targets[1].break_with("disk full");
    h.pbx_writes(2);
    let r = h.backup().await;
    let (id, _, ok) = stored(&r);
    assert!(!ok, "two copies do not make the rule");
    let id = id.to_string();
    assert_eq!(h.spool_files(), 2, "sealed file and manifest kept");
    let report = h.check().await;
    assert_eq!(report.sources[0].pending, vec![id.clone()]);

    // The NAS is repaired; a new PBX backup meanwhile. Both are complete after one run.
    let repaired = Arc::new(MemoryTarget::new("nas", h.targets[1].properties().clone()));
    let h = Harness {
        ctx: Ctx::with(
            h.ctx.config.clone(),
            vec![
                Arc::clone(&h.targets[0]) as Arc<dyn Target>,
                repaired.clone(),
                Arc::clone(&h.targets[2]) as Arc<dyn Target>,
            ],
            vec![Arc::clone(&h.source) as Arc<dyn Source>],
            h.ctx.clock(),
        ),
        ..h
    };
    h.advance(Duration::hours(24));
    h.pbx_writes(3);
    let r = h.backup().await;
    assert_eq!(r.completed.len(), 1);
    assert!(r.completed[0].spool_removed);
    assert!(stored(&r).2);
    assert_eq!(
        repaired.list("").await.unwrap().len(),
        4,
        "both backups on the NAS"
    );
    assert_eq!(h.spool_files(), 0);
}

#[tokio::test]
async fn check_judges_a_nas_that_cannot_be_read_by_its_last_verification() {
    let h = Harness::new();
    h.pbx_writes(4);
    h.backup().await;
    let report = h.check().await;
    assert_eq!(report.status, Status::Ok, "{:?}", report.sources[0].status);

    // The NAS reboots: the copy cannot be verified, but it was 10 minutes ago.
    h.advance(Duration::minutes(10));
    h.targets[1].break_with("connection refused");
    let report = h.check().await;
    assert_eq!(
        report.status,
        Status::Warning,
        "{:?}",
        report.sources[0].status
    );
    let reason = &report.sources[0].status.reasons[0];
    assert!(
        reason.starts_with("cannot verify copy on nas: unreachable since 2026-11-25 03:00 UTC, last verified 10m ago"),
        "{reason}"
    );

    // A day and more later, still unreachable: that verification no longer counts.
    h.advance(Duration::hours(26));
    let report = h.check().await;
    assert_eq!(
        report.status,
        Status::Critical,
        "{:?}",
        report.sources[0].status
    );
    assert!(
        report.sources[0]
            .status
            .reasons
            .iter()
            .any(|r| r.contains("no longer counted")),
        "{:?}",
        report.sources[0].status.reasons
    );
}

#[tokio::test]
async fn a_copy_proven_missing_counts_as_missing() {
    let h = Harness::new();
    h.pbx_writes(5);
    let r = h.backup().await;
    let id = stored(&r).0.to_string();
    h.targets[2]
        .delete(&crate::manifest::artifact_path("hq", &id))
        .await
        .unwrap();
    let report = h.check().await;
    assert_eq!(report.status, Status::Critical);
    let copies = &report.sources[0].newest.as_ref().unwrap().copies;
    let cloud = copies.iter().find(|c| c.target == "cloud").unwrap();
    assert_eq!(cloud.state, crate::catalog::CopyState::Missing);
}

#[tokio::test]
async fn a_pbx_that_cannot_be_reached_fails_its_source_only() {
    let h = Harness::new();
    h.source.break_with("connection refused");
    let r = h.backup().await;
    match &r.sources[0].result {
        RunResult::Failed { error } => assert!(error.contains("connection refused"), "{error}"),
        other => panic!("{other:?}"),
    }
    for t in &h.targets {
        assert!(t.list("").await.unwrap().is_empty());
    }
}

/// Issue 15: a NAS replaced after a week comes back empty. The spool holds only the last
/// `spool_max` backups; the next backup completes those, and its repair refills the older
/// ones from the other targets — never from the PBX, which no longer has them.
#[tokio::test]
async fn a_target_that_comes_back_empty_is_refilled_older_backups_included() {
    let h = Harness::new();
    let mut ids = Vec::new();
    for day in 0..6 {
        h.pbx_writes(10 + day);
        let r = h.backup().await;
        ids.push(stored(&r).0.to_string());
        assert!(r.repair.is_some(), "backup repairs after itself by default");
        h.advance(Duration::hours(24));
    }
    // The NAS is replaced by an empty one; the PBX folder loses its old files.
    let empty = Arc::new(MemoryTarget::new("nas", h.targets[1].properties().clone()));
    let h = Harness {
        ctx: Ctx::with(
            h.ctx.config.clone(),
            vec![
                Arc::clone(&h.targets[0]) as Arc<dyn Target>,
                empty.clone(),
                Arc::clone(&h.targets[2]) as Arc<dyn Target>,
            ],
            vec![Arc::clone(&h.source) as Arc<dyn Source>],
            h.ctx.clock(),
        ),
        ..h
    };
    h.pbx_writes(99);
    let r = h.backup().await;
    assert!(stored(&r).2, "the new backup meets the rule");
    let repair = r.repair.as_ref().expect("repair ran");
    let repaired: Vec<&str> = repair.sources[0]
        .repairs
        .iter()
        .filter(|x| matches!(x.outcome, super::repair::RepairOutcome::Repaired { .. }))
        .map(|x| x.id.as_str())
        .collect();
    assert_eq!(repaired.len(), 6, "{repair:?}");
    for id in &ids {
        assert!(repaired.contains(&id.as_str()));
    }
    assert!(
        repair.sources[0]
            .repairs
            .iter()
            .all(|x| x.target == "nas" && x.from.as_deref() == Some("local"))
    );
    assert_eq!(
        empty.list("").await.unwrap().len(),
        7 * 2,
        "artifact and manifest of 7"
    );
    assert_eq!(h.spool_files(), 0, "repair leaves nothing in the spool");
    // A second run has nothing to do.
    let r = super::repair::run(&h.ctx, &super::repair::RepairOptions::default())
        .await
        .unwrap();
    assert!(r.sources[0].repairs.is_empty());
    assert_eq!(r.pending(), 0);
}

/// `repair = "off"`: backup leaves a missing copy of an older backup alone.
#[tokio::test]
async fn repair_off_leaves_missing_copies_to_pbx321_repair() {
    let mut h = Harness::new();
    h.ctx.config.repair = crate::config::RepairMode::Off;
    h.pbx_writes(1);
    let first = stored(&h.backup().await).0.to_string();
    // The NAS loses the first backup's artifact.
    h.targets[1]
        .delete(&crate::manifest::artifact_path("hq", &first))
        .await
        .unwrap();
    h.advance(Duration::hours(24));
    h.pbx_writes(2);
    let r = h.backup().await;
    assert!(r.repair.is_none(), "no repair after backup");
    assert!(
        h.targets[1]
            .stat(&crate::manifest::artifact_path("hq", &first))
            .await
            .is_err(),
        "still missing"
    );
    let r = super::repair::run(&h.ctx, &super::repair::RepairOptions::default())
        .await
        .unwrap();
    assert_eq!(r.pending(), 0, "{r:?}");
    assert!(
        h.targets[1]
            .stat(&crate::manifest::artifact_path("hq", &first))
            .await
            .is_ok()
    );
}

/// Issue 26, item 7: the status page measures both ages of a backup from now, even when the
/// check it shows ran earlier (they said 0 s and 35 s for the same backup).
#[tokio::test]
async fn the_pages_two_ages_of_a_backup_agree() {
    let h = Harness::new();
    h.pbx_writes(1);
    let id = stored(&h.backup().await).0.to_string();
    let report = h.check().await;
    h.advance(Duration::seconds(35));
    let view = crate::report::page::View {
        report: Some(&report),
        config: Some(&h.ctx.config),
        next: &std::collections::BTreeMap::new(),
        zone: &crate::config::Zone::Utc,
        now: h.now(),
        runs: &[],
        csrf: None,
        flash: "",
        filter: &crate::report::fleet::Filter::default(),
    };
    let aged = format!("{id} (35s old)");
    let page = crate::report::page::render(&view);
    assert_eq!(
        page.matches(&aged).count(),
        2,
        "newest and compliant: {page}"
    );
    let source = crate::report::page::render_source(&view, "hq").unwrap();
    assert!(source.contains(&aged), "{source}");
    assert!(!source.contains(&format!("{id} (0s old)")), "{source}");
}

/// Issue 30: a fleet of 200 sources with 3 failing shows those 3 first, in a table, with
/// the counts per status; filters are GET parameters and show nothing else.
#[tokio::test(start_paused = true)]
async fn a_fleet_of_200_shows_its_three_failing_sources_first() {
    use crate::policy::Status;
    let h = Harness::new();
    h.pbx_writes(1);
    h.backup().await;
    let one = h.check().await;
    let mut report = one.clone();
    let template = one.sources[0].clone();
    report.sources = (0..200)
        .map(|i| {
            let mut s = template.clone();
            s.status.source = format!("pbx-{i:03}");
            s.status.status = match i {
                50 | 120 | 199 => Status::Critical,
                7 | 8 => Status::Warning,
                _ => Status::Ok,
            };
            s
        })
        .collect();
    report.status = Status::Critical;
    let render = |filter: crate::report::fleet::Filter| {
        crate::report::page::render(&crate::report::page::View {
            report: Some(&report),
            config: Some(&h.ctx.config),
            next: &std::collections::BTreeMap::new(),
            zone: &crate::config::Zone::Utc,
            now: h.now(),
            runs: &[],
            csrf: None,
            flash: "",
            filter: &filter,
        })
    };
    let page = render(Default::default());
    assert!(page.contains("class=\"fleet\""), "the table");
    assert!(page.len() < 300 * 1024, "{} bytes", page.len());
    assert!(!page.contains("<script"));
    assert!(
        page.contains("✖ 3 CRITICAL") && page.contains("▲ 2 WARNING") && page.contains("✔ 195 OK")
    );
    let order: Vec<&str> = page
        .match_indices("href=\"/source/")
        .map(|(i, _)| &page[i + 14..i + 21])
        .collect();
    assert_eq!(order.len(), 200);
    assert_eq!(
        &order[..5],
        ["pbx-050", "pbx-120", "pbx-199", "pbx-007", "pbx-008"]
    );
    let critical = render(crate::report::fleet::Filter::parse(Some("critical"), None));
    assert_eq!(critical.matches("href=\"/source/").count(), 3);
    assert!(
        !critical.contains("pbx-007"),
        "another status's source is not named"
    );
    let searched = render(crate::report::fleet::Filter::parse(None, Some("PBX-12")));
    assert_eq!(
        searched.matches("href=\"/source/").count(),
        10,
        "pbx-120 to pbx-129"
    );
    assert!(
        searched.contains("name=\"q\" value=\"pbx-12\""),
        "the filter is shown"
    );
}
