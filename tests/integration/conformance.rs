//! The target contract (`src/targets/mod.rs`), one test per clause, for every target type.
//!
//! Each target is opened as production opens it (`target::open` from a config entry, so
//! wrapped in the same retry policy), against a real server where there is one (sshd,
//! rclone, moto). A new target type adds a fixture and one `clauses!` line.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pbx321::config::{
    FsTarget, Location, Medium, S3Target, Secret, SftpTarget, TargetConfig, TargetKind,
    WebdavTarget,
};
use pbx321::targets::memory::MemoryTarget;
use pbx321::targets::retry::{Backoff, Retry};
use pbx321::targets::{Payload, Properties, Target, TargetError};
use tokio::io::AsyncReadExt;

use crate::helpers::noise;
use crate::servers::*;

/// Properties of a plain onsite disk target, for in-process tests.
pub fn props() -> Properties {
    Properties {
        medium: Medium::Disk,
        location: Location::Onsite,
        immutable_capable: false,
        declared: false,
    }
}

/// Reads a whole object.
pub async fn read_all(t: &dyn Target, path: &str) -> Vec<u8> {
    let mut v = Vec::new();
    t.read(path)
        .await
        .unwrap()
        .read_to_end(&mut v)
        .await
        .unwrap();
    v
}

/// An empty target of one kind, opened as production does, and two more of the same kind:
/// one that fails for good (bad credentials, an absent disk, a missing bucket) and one
/// whose server does not answer (where the kind has a server).
pub struct Fixture {
    pub target: Arc<dyn Target>,
    pub broken: Arc<dyn Target>,
    pub unreachable: Option<Arc<dyn Target>>,
    pub scratch: tempfile::TempDir,
    _keep: Vec<Box<dyn Any + Send>>,
}

fn entry(kind: TargetKind) -> TargetConfig {
    TargetConfig {
        name: "t".into(),
        medium: Medium::Disk,
        location: Location::Onsite,
        trust_labels: false,
        retention: None,
        // As a config gives them: deadlines by progress on the network kinds.
        io_timeout: match kind {
            TargetKind::Fs(_) => None,
            _ => Some(pbx321::config::DEFAULT_IO_TIMEOUT),
        },
        kind,
    }
}

async fn open(kind: TargetKind) -> Arc<dyn Target> {
    pbx321::targets::open(&entry(kind), &pbx321::share::Share::private()).await
}

/// A loopback address nothing listens on.
fn closed_port() -> u16 {
    free_port()
}

pub async fn memory() -> Fixture {
    let retry = |t: MemoryTarget| -> Arc<dyn Target> {
        Arc::new(Retry::new(Arc::new(t), Backoff::default()))
    };
    let broken = MemoryTarget::new("t", props());
    broken.break_with("disk full");
    let flaky = MemoryTarget::new("t", props());
    flaky.fail_next_puts(100);
    Fixture {
        target: retry(MemoryTarget::new("t", props())),
        broken: retry(broken),
        unreachable: Some(retry(flaky)),
        scratch: tempfile::tempdir().unwrap(),
        _keep: vec![],
    }
}

pub async fn fs() -> Fixture {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("root");
    Fixture {
        target: open(TargetKind::Fs(FsTarget {
            path: root,
            require_mount: false,
        }))
        .await,
        // A removable disk that is not plugged in.
        broken: open(TargetKind::Fs(FsTarget {
            path: "/pbx321-no-such-mount/usb".into(),
            require_mount: true,
        }))
        .await,
        unreachable: None,
        scratch,
        _keep: vec![],
    }
}

pub async fn sftp() -> Fixture {
    let sshd = Sshd::start();
    let cfg = |endpoint: String, known_hosts| SftpTarget {
        endpoint,
        path: sshd.root().join("pbx321").display().to_string(),
        key: Some(sshd.key()),
        known_hosts: Some(known_hosts),
        connect_timeout: Duration::from_secs(5),
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    Fixture {
        target: open(TargetKind::Sftp(cfg(sshd.endpoint(), sshd.known_hosts()))).await,
        // A server whose host key is not the one known: refused, never retried.
        broken: open(TargetKind::Sftp(cfg(
            sshd.endpoint(),
            sshd.wrong_known_hosts(),
        )))
        .await,
        unreachable: Some(
            open(TargetKind::Sftp(cfg(
                format!("ssh://{user}@127.0.0.1:{}", closed_port()),
                sshd.known_hosts(),
            )))
            .await,
        ),
        scratch: tempfile::tempdir().unwrap(),
        _keep: vec![Box::new(sshd)],
    }
}

pub async fn webdav() -> Fixture {
    let dav = Rclone::start();
    let cfg = |endpoint: String, password: &str| WebdavTarget {
        endpoint,
        path: "/pbx321".into(),
        username: Some(DAV_USER.into()),
        password: Some(Secret::Inline(password.into())),
        connect_timeout: Duration::from_secs(5),
        allow_insecure_http: false,
    };
    Fixture {
        target: open(TargetKind::Webdav(cfg(dav.endpoint(), DAV_PASS))).await,
        broken: open(TargetKind::Webdav(cfg(dav.endpoint(), "wrong-password"))).await,
        unreachable: Some(
            open(TargetKind::Webdav(cfg(
                format!("http://127.0.0.1:{}", closed_port()),
                DAV_PASS,
            )))
            .await,
        ),
        scratch: tempfile::tempdir().unwrap(),
        _keep: vec![Box::new(dav)],
    }
}

pub async fn s3() -> Fixture {
    let moto = Moto::start();
    create_bucket(&s3_client(&moto.url()), "conformance", false).await;
    let cfg = |endpoint: String, bucket: &str| S3Target {
        bucket: bucket.into(),
        prefix: "pbx321/".into(),
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint),
        path_style: true,
        access_key_id: Some(Secret::Inline("testing".into())),
        secret_access_key: Some(Secret::Inline("testing".into())),
        storage_class: None,
        object_lock: None,
        part_size_mib: 5,
        concurrency: 3,
        allow_insecure_http: false,
        connect_timeout: std::time::Duration::from_secs(10),
    };
    Fixture {
        target: open(TargetKind::S3(cfg(moto.url(), "conformance"))).await,
        broken: open(TargetKind::S3(cfg(moto.url(), "no-such-bucket"))).await,
        unreachable: Some(
            open(TargetKind::S3(cfg(
                format!("http://127.0.0.1:{}", closed_port()),
                "conformance",
            )))
            .await,
        ),
        scratch: tempfile::tempdir().unwrap(),
        _keep: vec![Box::new(moto)],
    }
}

fn small() -> Payload {
    Payload::Bytes(Bytes::from_static(b"{\"manifest\":1}\n"))
}

/// A file payload of `n` pseudo-random bytes in the fixture's scratch directory.
fn file_payload(f: &Fixture, n: usize) -> (Vec<u8>, Payload) {
    let data = noise(n as u64, n);
    let path = f.scratch.path().join(format!("payload-{n}"));
    std::fs::write(&path, &data).unwrap();
    (data, Payload::file(path, n as u64))
}

pub async fn an_empty_target_lists_nothing(f: &Fixture) {
    assert!(f.target.list("").await.unwrap().is_empty());
    assert!(
        f.target.list("hq").await.unwrap().is_empty(),
        "listing a missing prefix is empty"
    );
}

pub async fn a_missing_object_is_not_found_at_once(f: &Fixture) {
    let t = f.target.as_ref();
    assert!(matches!(
        t.stat("hq/x").await,
        Err(TargetError::NotFound(_))
    ));
    assert!(matches!(
        t.read("hq/x").await,
        Err(TargetError::NotFound(_))
    ));
    assert!(matches!(
        t.read_small("hq/x", 10).await,
        Err(TargetError::NotFound(_))
    ));
    // Not retried: a retried error says how many tries it took (no wall-clock bound, which
    // an SFTP connection made on first use would blur).
    for e in [
        t.stat("hq/x").await.unwrap_err(),
        t.read_small("hq/x", 10).await.unwrap_err(),
    ] {
        assert!(
            !e.to_string().contains("tries"),
            "not found is not retried: {e}"
        );
    }
}

pub async fn a_put_is_read_back_whole(f: &Fixture) {
    let t = f.target.as_ref();
    t.put("hq/a.manifest.json", &small()).await.unwrap();
    assert_eq!(t.stat("hq/a.manifest.json").await.unwrap().size, 15);
    assert_eq!(
        read_all(t, "hq/a.manifest.json").await,
        b"{\"manifest\":1}\n"
    );
    assert_eq!(
        t.read_small("hq/a.manifest.json", 1024).await.unwrap(),
        b"{\"manifest\":1}\n"
    );
    assert!(
        t.read_small("hq/a.manifest.json", 4).await.is_err(),
        "limit kept"
    );
}

pub async fn a_put_never_replaces(f: &Fixture) {
    let t = f.target.as_ref();
    t.put("hq/a.manifest.json", &small()).await.unwrap();
    let other = Payload::Bytes(Bytes::from_static(b"replaced"));
    assert!(matches!(
        t.put("hq/a.manifest.json", &other).await,
        Err(TargetError::AlreadyExists(_))
    ));
    assert_eq!(
        read_all(t, "hq/a.manifest.json").await,
        b"{\"manifest\":1}\n"
    );
}

pub async fn a_large_file_payload_streams_whole(f: &Fixture) {
    let t = f.target.as_ref();
    let (big, payload) = file_payload(f, 11 * 1024 * 1024 + 17);
    t.put("hq/b.zip.zst.age", &payload).await.unwrap();
    assert_eq!(
        t.stat("hq/b.zip.zst.age").await.unwrap().size,
        big.len() as u64
    );
    assert!(read_all(t, "hq/b.zip.zst.age").await == big);
    // The same payload to a second name (a local file may become one copy only).
    t.put("hq/b2.zip.zst.age", &payload).await.unwrap();
    assert!(read_all(t, "hq/b2.zip.zst.age").await == big);
}

pub async fn a_listing_is_recursive_scoped_and_files_only(f: &Fixture) {
    let t = f.target.as_ref();
    t.put("hq/a.manifest.json", &small()).await.unwrap();
    t.put("hq/deeper/c.txt", &small()).await.unwrap();
    t.put("other/c.manifest.json", &small()).await.unwrap();
    let mut hq: Vec<(String, u64)> = t
        .list("hq")
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.path, o.size))
        .collect();
    hq.sort();
    assert_eq!(
        hq,
        vec![
            ("hq/a.manifest.json".to_string(), 15),
            ("hq/deeper/c.txt".to_string(), 15)
        ]
    );
    let all = t.list("").await.unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.iter().all(|o| !o.path.ends_with('/')), "no directories");
}

pub async fn a_delete_is_idempotent_and_frees_the_name(f: &Fixture) {
    let t = f.target.as_ref();
    t.put("hq/a.manifest.json", &small()).await.unwrap();
    t.delete("hq/a.manifest.json").await.unwrap();
    t.delete("hq/a.manifest.json").await.unwrap();
    assert!(matches!(
        t.stat("hq/a.manifest.json").await,
        Err(TargetError::NotFound(_))
    ));
    let other = Payload::Bytes(Bytes::from_static(b"replaced"));
    t.put("hq/a.manifest.json", &other).await.unwrap();
    assert_eq!(read_all(t, "hq/a.manifest.json").await, b"replaced");
}

pub async fn a_payload_that_changed_is_refused_and_leaves_nothing(f: &Fixture) {
    let t = f.target.as_ref();
    let short = f.scratch.path().join("short.bin");
    std::fs::write(&short, b"short").unwrap();
    let payload = Payload::file(short, 3 * 1024 * 1024);
    assert!(t.put("hq/d.zip.zst.age", &payload).await.is_err());
    assert!(matches!(
        t.stat("hq/d.zip.zst.age").await,
        Err(TargetError::NotFound(_))
    ));
    assert!(
        t.list("hq")
            .await
            .unwrap()
            .iter()
            .all(|o| !o.path.starts_with("hq/d.") || o.path.ends_with(".partial")),
        "a failed put leaves nothing but, at most, a partial object"
    );
}

pub async fn a_permanent_error_is_not_retried(f: &Fixture) {
    let err = f
        .broken
        .put("hq/a.manifest.json", &small())
        .await
        .unwrap_err();
    assert!(
        matches!(err, TargetError::Permanent(_) | TargetError::Denied(_)),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(
        !err.to_string().contains("tries"),
        "failed at once, not after retries: {err}"
    );
}

/// Only for kinds with a server that can be away (the fs fixture does not list it).
pub async fn a_transient_error_is_retried_then_given_up(f: &Fixture) {
    let t = f
        .unreachable
        .as_ref()
        .expect("this kind's fixture must give an unreachable target");
    let started = Instant::now();
    let err = match t.put("hq/a.manifest.json", &small()).await {
        Err(e) => e,
        Ok(()) => panic!("a target that cannot be reached took a put"),
    };
    assert!(matches!(err, TargetError::Transient(_)), "{err:?}");
    assert!(err.to_string().contains("gave up after 4 tries"), "{err}");
    assert!(
        started.elapsed() >= Duration::from_millis(3400),
        "retried with backoff: {:?}",
        started.elapsed()
    );
}

pub async fn a_probe_writes_reads_deletes_and_leaves_nothing(f: &Fixture) {
    let t = f.target.as_ref();
    t.probe("pbx321-probe-0123456789abcdef", b"pbx321 probe\n")
        .await
        .unwrap();
    assert_eq!(
        t.list("").await.unwrap(),
        vec![],
        "the probe object is gone"
    );
    let err = f
        .broken
        .probe("pbx321-probe-0123456789abcdef", b"pbx321 probe\n")
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
}

/// One test per clause for the target kind `$kind` made by `$fixture`.
macro_rules! clauses {
    ($kind:ident, $fixture:path $(; $extra:ident)*) => {
        mod $kind {
            clauses!(@each $fixture;
                an_empty_target_lists_nothing,
                a_missing_object_is_not_found_at_once,
                a_put_is_read_back_whole,
                a_put_never_replaces,
                a_large_file_payload_streams_whole,
                a_listing_is_recursive_scoped_and_files_only,
                a_delete_is_idempotent_and_frees_the_name,
                a_payload_that_changed_is_refused_and_leaves_nothing,
                a_permanent_error_is_not_retried,
                a_probe_writes_reads_deletes_and_leaves_nothing
                $(, $extra)*
            );
        }
    };
    (@each $fixture:path; $($clause:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $clause() {
                let f = $fixture().await;
                super::$clause(&f).await;
            }
        )*
    };
}

// Every kind with a server that can be away is also held to retrying a transient error; a
// local file system has none, so its suite leaves that clause out (by name, not by
// returning early from it).
clauses!(memory_target, super::memory; a_transient_error_is_retried_then_given_up);
clauses!(fs_target, super::fs);
clauses!(sftp_target, super::sftp; a_transient_error_is_retried_then_given_up);
clauses!(webdav_target, super::webdav; a_transient_error_is_retried_then_given_up);
clauses!(s3_target, super::s3; a_transient_error_is_retried_then_given_up);
