//! Fan-out isolation, in process with in-memory targets: a failing target never aborts the
//! others, transient failures are retried, and a slow target never holds back a fast one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use pbx321::fanout::{Outcome, Upload, fan_out};
use pbx321::targets::memory::MemoryTarget;
use pbx321::targets::retry::{Backoff, Retry};
use pbx321::targets::{ObjectMeta, Payload, Properties, Reader, Target, TargetError};
use tokio::sync::Semaphore;

use crate::conformance::props;

fn upload(scratch: &std::path::Path) -> Upload {
    let data = crate::helpers::noise(1, 100_000);
    let path = scratch.join("spool.age");
    std::fs::write(&path, &data).unwrap();
    Upload {
        artifact_path: "hq/hq-20261125T000000Z.zip.zst.age".into(),
        artifact: Payload::file(path, data.len() as u64),
        signature: None,
        manifest_path: "hq/hq-20261125T000000Z.manifest.json".into(),
        manifest: Bytes::from_static(b"{}"),
    }
}

fn fast_retry(t: Arc<dyn Target>) -> Arc<dyn Target> {
    Arc::new(Retry::new(
        t,
        Backoff {
            attempts: 3,
            first: Duration::from_millis(1),
            max: Duration::from_millis(5),
            ..Backoff::default()
        },
    ))
}

#[tokio::test]
async fn a_broken_target_fails_alone() {
    let scratch = tempfile::tempdir().unwrap();
    let good = Arc::new(MemoryTarget::new("good", props()));
    let bad = Arc::new(MemoryTarget::new("bad", props()));
    bad.break_with("disk full");
    let also_good = Arc::new(MemoryTarget::new("also-good", props()));
    let targets: Vec<Arc<dyn Target>> =
        vec![good.clone(), fast_retry(bad.clone()), also_good.clone()];
    let u = upload(scratch.path());
    let results = fan_out(&targets, &u, &pbx321::progress::Progress::hidden()).await;
    assert!(matches!(results[0].outcome, Outcome::Written { .. }));
    assert!(
        matches!(&results[1].outcome, Outcome::Failed { error } if error.contains("disk full"))
    );
    assert!(matches!(results[2].outcome, Outcome::Written { .. }));
    assert_eq!(bad.put_calls(), 1, "permanent errors are not retried");
    for t in [&good, &also_good] {
        assert_eq!(t.stat(&u.manifest_path).await.unwrap().size, 2);
        assert_eq!(t.stat(&u.artifact_path).await.unwrap().size, 100_000);
    }
}

#[tokio::test]
async fn transient_failures_are_retried_to_success_within_the_bound() {
    let scratch = tempfile::tempdir().unwrap();
    let flaky = Arc::new(MemoryTarget::new("flaky", props()));
    flaky.fail_next_puts(2);
    let hopeless = Arc::new(MemoryTarget::new("hopeless", props()));
    hopeless.fail_next_puts(100);
    let targets = vec![fast_retry(flaky.clone()), fast_retry(hopeless.clone())];
    let results = fan_out(
        &targets,
        &upload(scratch.path()),
        &pbx321::progress::Progress::hidden(),
    )
    .await;
    assert!(
        matches!(results[0].outcome, Outcome::Written { .. }),
        "{results:?}"
    );
    assert!(matches!(results[1].outcome, Outcome::Failed { .. }));
    assert_eq!(hopeless.put_calls(), 3, "bounded: 3 attempts");
}

/// A target whose `put` waits until the test opens the gate.
struct Gated {
    inner: MemoryTarget,
    gate: Semaphore,
}

#[async_trait]
impl Target for Gated {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn properties(&self) -> &Properties {
        self.inner.properties()
    }
    async fn put(&self, path: &str, payload: &Payload) -> Result<(), TargetError> {
        let _permit = self.gate.acquire().await.unwrap();
        self.inner.put(path, payload).await
    }
    async fn stat(&self, path: &str) -> Result<ObjectMeta, TargetError> {
        self.inner.stat(path).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TargetError> {
        self.inner.list(prefix).await
    }
    async fn read(&self, path: &str) -> Result<Reader, TargetError> {
        self.inner.read(path).await
    }
    async fn delete(&self, path: &str) -> Result<(), TargetError> {
        self.inner.delete(path).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_target_does_not_hold_back_the_others() {
    let scratch = tempfile::tempdir().unwrap();
    let slow = Arc::new(Gated {
        inner: MemoryTarget::new("slow", props()),
        gate: Semaphore::new(0),
    });
    let fast = Arc::new(MemoryTarget::new("fast", props()));
    let targets: Vec<Arc<dyn Target>> = vec![slow.clone(), fast.clone()];
    let u = upload(scratch.path());
    let run = tokio::spawn({
        let u = u.clone();
        async move { fan_out(&targets, &u, &pbx321::progress::Progress::hidden()).await }
    });
    // The fast target commits its copy while the slow one has not written a byte.
    let mut committed = false;
    for _ in 0..2000 {
        if fast.stat(&u.manifest_path).await.is_ok() {
            committed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        committed,
        "the fast target finished while the slow one was stalled"
    );
    assert!(slow.stat(&u.artifact_path).await.is_err());
    assert!(!run.is_finished());
    slow.gate.add_permits(10);
    let results = run.await.unwrap();
    assert!(
        results
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Written { .. }))
    );
}

#[tokio::test]
async fn a_copy_whose_manifest_fails_is_removed_again() {
    struct ManifestFails(MemoryTarget);
    #[async_trait]
    impl Target for ManifestFails {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn properties(&self) -> &Properties {
            self.0.properties()
        }
        async fn put(&self, path: &str, payload: &Payload) -> Result<(), TargetError> {
            if path.ends_with(".manifest.json") {
                return Err(TargetError::Permanent("quota exceeded".into()));
            }
            self.0.put(path, payload).await
        }
        async fn stat(&self, path: &str) -> Result<ObjectMeta, TargetError> {
            self.0.stat(path).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TargetError> {
            self.0.list(prefix).await
        }
        async fn read(&self, path: &str) -> Result<Reader, TargetError> {
            self.0.read(path).await
        }
        async fn delete(&self, path: &str) -> Result<(), TargetError> {
            self.0.delete(path).await
        }
    }
    let scratch = tempfile::tempdir().unwrap();
    let t = Arc::new(ManifestFails(MemoryTarget::new("m", props())));
    let targets: Vec<Arc<dyn Target>> = vec![t.clone()];
    let results = fan_out(
        &targets,
        &upload(scratch.path()),
        &pbx321::progress::Progress::hidden(),
    )
    .await;
    assert!(matches!(results[0].outcome, Outcome::Failed { .. }));
    assert!(
        t.list("").await.unwrap().is_empty(),
        "no artifact without its manifest"
    );
}

/// Issue 11, finding 8: the uploads were detached tasks, so a cancelled run released its
/// lock while they went on (and the next run's clean-up deleted their partials).
#[tokio::test(start_paused = true)]
async fn finding_8_a_cancelled_fan_out_stops_every_upload() {
    let scratch = tempfile::tempdir().unwrap();
    let fast = Arc::new(MemoryTarget::new("fast", props()));
    let slow = Arc::new(MemoryTarget::new("slow", props()));
    slow.set_delay(Duration::from_millis(500));
    let targets: Vec<Arc<dyn Target>> = vec![fast.clone(), slow.clone()];
    let u = upload(scratch.path());
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        fan_out(&targets, &u, &pbx321::progress::Progress::hidden()),
    )
    .await;
    assert!(cancelled.is_err(), "the run was cancelled mid-upload");
    assert_eq!(slow.put_calls(), 1, "the slow upload had started");
    // On the paused clock: past the slow target's delay, at once.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        slow.list("").await.unwrap().is_empty(),
        "nothing was written after the cancellation"
    );
}

/// A target that takes its payload at 10 MiB/s (a slow uplink), then stores it in memory.
struct Throttled {
    inner: MemoryTarget,
}

#[async_trait]
impl Target for Throttled {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn properties(&self) -> &Properties {
        self.inner.properties()
    }
    async fn put(&self, path: &str, payload: &Payload) -> Result<(), TargetError> {
        use tokio::io::AsyncReadExt;
        let mut r = payload.open().await.unwrap();
        let mut all = Vec::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            // 1 MiB per 100 ms: 10 MiB/s.
            tokio::time::sleep(Duration::from_millis(100 * n as u64 / (1 << 20) as u64)).await;
        }
        self.inner
            .put(path, &Payload::Bytes(Bytes::from(all)))
            .await
    }
    async fn stat(&self, path: &str) -> Result<ObjectMeta, TargetError> {
        self.inner.stat(path).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TargetError> {
        self.inner.list(prefix).await
    }
    async fn read(&self, path: &str) -> Result<Reader, TargetError> {
        self.inner.read(path).await
    }
    async fn delete(&self, path: &str) -> Result<(), TargetError> {
        self.inner.delete(path).await
    }
}

/// A target throttled to 10 MiB/s does not delay the two local disks' commits: both hold
/// their whole copy (manifest last) while the slow one is still taking its first half.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_throttled_to_10_mib_s_does_not_delay_the_others() {
    use pbx321::targets::fs::FsTarget;
    let scratch = tempfile::tempdir().unwrap();
    let data = crate::helpers::noise(9, 30 << 20);
    let spool = scratch.path().join("spool.age");
    std::fs::write(&spool, &data).unwrap();
    let u = Upload {
        artifact_path: "hq/hq-20261125T000000Z.zip.zst.age".into(),
        artifact: Payload::file(spool, data.len() as u64),
        signature: None,
        manifest_path: "hq/hq-20261125T000000Z.manifest.json".into(),
        manifest: Bytes::from_static(b"{}"),
    };
    let slow = Arc::new(Throttled {
        inner: MemoryTarget::new("slow", props()),
    });
    let disk = |n: &str| {
        let dir = scratch.path().join(n);
        Arc::new(FsTarget::new(n, props(), &dir, false, pbx321::share::Share::default()).unwrap())
    };
    let (a, b) = (disk("a"), disk("b"));
    let targets: Vec<Arc<dyn Target>> = vec![slow.clone(), a.clone(), b.clone()];
    let run = tokio::spawn({
        let u = u.clone();
        async move { fan_out(&targets, &u, &pbx321::progress::Progress::hidden()).await }
    });
    let started = std::time::Instant::now();
    let mut both = false;
    while !run.is_finished() {
        if a.stat(&u.manifest_path).await.is_ok() && b.stat(&u.manifest_path).await.is_ok() {
            both = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        both,
        "both disks committed before the throttled target finished"
    );
    assert!(
        slow.stat(&u.artifact_path).await.is_err(),
        "the throttled copy (3 s at 10 MiB/s) is still under way after {:?}",
        started.elapsed()
    );
    for t in [&a, &b] {
        assert_eq!(
            t.stat(&u.artifact_path).await.unwrap().size,
            data.len() as u64
        );
    }
    let results = run.await.unwrap();
    assert!(
        results
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Written { .. })),
        "{results:?}"
    );
    assert_eq!(
        slow.stat(&u.artifact_path).await.unwrap().size,
        data.len() as u64
    );
}
