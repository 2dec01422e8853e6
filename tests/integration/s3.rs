//! The S3 target against a real moto server: the conformance suite, multipart uploads,
//! Object Lock written, read back and enforced, If-None-Match, and faults injected by a
//! proxy (5xx bursts, 403, a connection cut mid-part, cancellation).

use std::sync::Arc;
use std::time::Duration;

use pbx321::config::{Location, LockMode, Medium, ObjectLock, S3Target as S3Config};
use pbx321::targets::retry::{Backoff, Retry};
use pbx321::targets::s3::S3Target;
use pbx321::targets::{Payload, Properties, Target, TargetError};

use crate::conformance::read_all;
use crate::helpers::*;
use crate::servers::*;

fn config(endpoint: &str, bucket: &str, lock: bool, part_size_mib: u64) -> S3Config {
    S3Config {
        bucket: bucket.into(),
        prefix: "pbx321/".into(),
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint.into()),
        path_style: true,
        access_key_id: None,
        secret_access_key: None,
        storage_class: None,
        object_lock: lock.then_some(ObjectLock {
            mode: LockMode::Compliance,
            days: 1,
        }),
        part_size_mib,
        concurrency: 3,
        allow_insecure_http: false,
        connect_timeout: std::time::Duration::from_secs(10),
    }
}

async fn target(cfg: S3Config) -> Arc<dyn Target> {
    let props = Properties {
        medium: Medium::ObjectStorage,
        location: Location::Offsite,
        immutable_capable: cfg.object_lock.is_some(),
        declared: false,
    };
    let t = S3Target::new(
        "offsite",
        props,
        cfg,
        Some(("testing".into(), "testing".into())),
    )
    .await
    .unwrap();
    Arc::new(Retry::new(
        Arc::new(t),
        Backoff {
            attempts: 3,
            first: Duration::from_millis(50),
            max: Duration::from_millis(200),
            ..Backoff::default()
        },
    ))
}

async fn incomplete_uploads(moto: &Moto, bucket: &str) -> usize {
    s3_client(&moto.url())
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .uploads()
        .len()
}

fn spool(scratch: &std::path::Path, n: usize) -> (Vec<u8>, Payload) {
    let data = noise(n as u64, n);
    let p = scratch.join(format!("spool-{n}"));
    std::fs::write(&p, &data).unwrap();
    (data.clone(), Payload::file(p, n as u64))
}

/// A moto server with one bucket, a fault proxy in front of it and a scratch directory.
struct Bench {
    moto: Moto,
    proxy: FaultProxy,
    scratch: tempfile::TempDir,
}

impl Bench {
    async fn new(bucket: &str) -> Bench {
        let moto = Moto::start();
        create_bucket(&s3_client(&moto.url()), bucket, false).await;
        let proxy = FaultProxy::start(moto.port).await;
        Bench {
            moto,
            proxy,
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    /// A pbx321 S3 target with 5 MiB parts, talking through the proxy.
    async fn target(&self, bucket: &str) -> Arc<dyn Target> {
        target(config(&self.proxy.url(), bucket, false, 5)).await
    }

    fn fault(&self, query_contains: &'static str, times: u32, action: Action) {
        self.proxy.inject(Fault {
            method: "PUT",
            query_contains,
            times,
            action,
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_larger_than_two_parts() {
    let bench = Bench::new("parts").await;
    let (moto, proxy, scratch) = (&bench.moto, &bench.proxy, &bench.scratch);
    let t = bench.target("parts").await;
    let (data, payload) = spool(scratch.path(), 12 * 1024 * 1024 + 7);
    t.put("hq/big.zip.zst.age", &payload).await.unwrap();
    assert_eq!(
        proxy.count("PUT", "partNumber="),
        3,
        "three parts of 5, 5 and 2 MiB"
    );
    assert_eq!(
        t.stat("hq/big.zip.zst.age").await.unwrap().size,
        data.len() as u64
    );
    assert!(read_all(t.as_ref(), "hq/big.zip.zst.age").await == data);
    assert_eq!(incomplete_uploads(moto, "parts").await, 0);
    // Never overwritten, multipart or not.
    let (_, other) = spool(scratch.path(), 11 * 1024 * 1024);
    assert!(matches!(
        t.put("hq/big.zip.zst.age", &other).await,
        Err(TargetError::AlreadyExists(_))
    ));
    assert!(read_all(t.as_ref(), "hq/big.zip.zst.age").await == data);
}

/// Parts go up with the hashes made while the spool file was written (the seal's), so each
/// part is read once, and a spool file that changed since is refused by the store rather
/// than stored as a copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_carry_the_hashes_made_while_writing_and_a_changed_spool_is_refused() {
    use pbx321::targets::parts::PartHasher;
    let bench = Bench::new("hashed").await;
    let (moto, proxy, scratch) = (&bench.moto, &bench.proxy, &bench.scratch);
    let t = bench.target("hashed").await;
    assert_eq!(t.hashed_part_size(), Some(5 * 1024 * 1024));
    let (data, payload) = spool(scratch.path(), 11 * 1024 * 1024 + 3);
    let hashes = |bytes: &[u8]| {
        let mut h = PartHasher::new(5 * 1024 * 1024);
        h.update(bytes);
        vec![h.finish()]
    };
    let payload = payload.with_part_hashes(hashes(&data));
    t.put("hq/a.zip.zst.age", &payload).await.unwrap();
    assert!(read_all(t.as_ref(), "hq/a.zip.zst.age").await == data);
    assert_eq!(proxy.count("PUT", "partNumber="), 3);

    // The spool file changes after the seal: one byte of its second part flips.
    let (mut other, changed) = spool(scratch.path(), 10 * 1024 * 1024 + 9);
    let sealed = hashes(&other);
    other[6 * 1024 * 1024] ^= 1;
    let Payload::File { path, .. } = &changed else {
        unreachable!()
    };
    std::fs::write(path, &other).unwrap();
    let err = t
        .put("hq/b.zip.zst.age", &changed.with_part_hashes(sealed))
        .await
        .expect_err("the store refuses a part that is not what was sealed");
    // Real S3 refuses part 2 (BadDigest); moto takes it, and the whole object's hash,
    // read back, tells.
    assert!(
        err.to_string().contains("part 2") || err.to_string().contains("differs from"),
        "{err}"
    );
    assert!(matches!(
        t.stat("hq/b.zip.zst.age").await,
        Err(TargetError::NotFound(_))
    ));
    assert_eq!(incomplete_uploads(moto, "hashed").await, 0);

    // Hashes for another part size or length are not used: the part is hashed as read.
    let (data, plain) = spool(scratch.path(), 10 * 1024 * 1024 + 1);
    let mut wrong = PartHasher::new(4 * 1024 * 1024);
    wrong.update(&data);
    t.put(
        "hq/c.zip.zst.age",
        &plain.with_part_hashes(vec![wrong.finish()]),
    )
    .await
    .unwrap();
    assert!(read_all(t.as_ref(), "hq/c.zip.zst.age").await == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_is_written_read_back_and_enforced() {
    let moto = Moto::start();
    let client = s3_client(&moto.url());
    create_bucket(&client, "locked", true).await;
    let scratch = tempfile::tempdir().unwrap();
    let t = target(config(&moto.url(), "locked", true, 5)).await;
    let (_, small) = spool(scratch.path(), 1000);
    let (_, big) = spool(scratch.path(), 11 * 1024 * 1024);
    for (path, payload) in [("hq/a.manifest.json", &small), ("hq/b.zip.zst.age", &big)] {
        t.put(path, payload).await.unwrap();
        let until = t
            .retention(path)
            .await
            .unwrap()
            .expect("the object is locked");
        let ahead = until - chrono::Utc::now();
        assert!(
            ahead > chrono::Duration::hours(23) && ahead <= chrono::Duration::days(1),
            "retain-until about a day ahead: {until}"
        );
        let head = client
            .head_object()
            .bucket("locked")
            .key(format!("pbx321/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.object_lock_mode(),
            Some(&aws_sdk_s3::types::ObjectLockMode::Compliance)
        );
        // Deleting it is refused, and it stays.
        let err = t.delete(path).await.unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert!(t.stat(path).await.is_ok(), "the locked object survives");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_configured_on_a_bucket_without_it_is_a_clear_error() {
    let moto = Moto::start();
    create_bucket(&s3_client(&moto.url()), "unlocked", false).await;
    let scratch = tempfile::tempdir().unwrap();
    let t = target(config(&moto.url(), "unlocked", true, 16)).await;
    let (_, payload) = spool(scratch.path(), 100);
    let err = t.put("hq/x.manifest.json", &payload).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("does not have Object Lock enabled"),
        "{err}"
    );
    assert!(t.list("").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_bursts_are_retried_to_success() {
    let bench = Bench::new("flaky").await;
    let (proxy, scratch) = (&bench.proxy, &bench.scratch);
    bench.fault("partNumber=2", 2, Action::Status(500));
    bench.fault("small.manifest.json", 2, Action::Status(503));
    let t = bench.target("flaky").await;
    let (data, big) = spool(scratch.path(), 11 * 1024 * 1024);
    t.put("hq/big.zip.zst.age", &big).await.unwrap();
    assert!(read_all(t.as_ref(), "hq/big.zip.zst.age").await == data);
    assert!(
        proxy.count("PUT", "partNumber=2") >= 3,
        "part 2 was retried"
    );
    let (small_data, small) = spool(scratch.path(), 300);
    t.put("hq/small.manifest.json", &small).await.unwrap();
    assert!(read_all(t.as_ref(), "hq/small.manifest.json").await == small_data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_mid_part_is_retried() {
    let bench = Bench::new("cut").await;
    let (moto, scratch) = (&bench.moto, &bench.scratch);
    bench.fault("partNumber=1", 1, Action::Cut);
    let t = bench.target("cut").await;
    let (data, big) = spool(scratch.path(), 7 * 1024 * 1024);
    t.put("hq/big.zip.zst.age", &big).await.unwrap();
    assert!(read_all(t.as_ref(), "hq/big.zip.zst.age").await == data);
    assert_eq!(incomplete_uploads(moto, "cut").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_403_is_a_clear_error_and_leaves_nothing() {
    let bench = Bench::new("denied").await;
    let (moto, proxy, scratch) = (&bench.moto, &bench.proxy, &bench.scratch);
    bench.fault("partNumber=2", 1000, Action::Status(403));
    let t = bench.target("denied").await;
    let (_, big) = spool(scratch.path(), 11 * 1024 * 1024);
    let err = t.put("hq/big.zip.zst.age", &big).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("access denied"), "{err}");
    assert!(
        proxy.count("PUT", "partNumber=2") <= 2,
        "403 is not retried by pbx321"
    );
    assert!(t.list("").await.unwrap().is_empty(), "no object");
    assert_eq!(
        incomplete_uploads(moto, "denied").await,
        0,
        "the upload was aborted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_is_aborted() {
    let bench = Bench::new("cancel").await;
    let (moto, proxy, scratch) = (&bench.moto, &bench.proxy, &bench.scratch);
    // Part 2 keeps failing with 500: the upload hangs in retries until cancelled.
    bench.fault("partNumber=2", 1000, Action::Status(500));
    let t = bench.target("cancel").await;
    let (_, big) = spool(scratch.path(), 11 * 1024 * 1024);
    let task = tokio::spawn(async move { t.put("hq/big.zip.zst.age", &big).await });
    let mut started = false;
    for _ in 0..400 {
        if proxy.count("PUT", "partNumber=2") >= 1 {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(started, "the upload reached part 2");
    assert_eq!(incomplete_uploads(moto, "cancel").await, 1);
    task.abort();
    let mut aborted = false;
    for _ in 0..400 {
        if incomplete_uploads(moto, "cancel").await == 0 {
            aborted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(aborted, "dropping the upload aborted it");
}

#[test]
fn backup_to_fs_and_s3_restores_from_s3_alone_with_an_immutable_copy() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let moto = Moto::start();
    rt.block_on(create_bucket(&s3_client(&moto.url()), "offsite", true));
    let mut env = TestEnv::new();
    env.targets.truncate(2);
    env.policy = "copies = 3\nmedia = 2\noffsite = 1\nimmutable = 1\nmax_age = \"26h\"\n".into();
    env.extra_targets = format!(
        "\n[[target]]\nname = \"cloud\"\ntype = \"s3\"\nbucket = \"offsite\"\nprefix = \"pbx321\"\nendpoint = \"{}\"\npath_style = true\naccess_key_id = {{ env = \"PBX321_TEST_KEY_ID\" }}\nsecret_access_key = {{ env = \"PBX321_TEST_SECRET\" }}\npart_size_mib = 5\nmedium = \"object-storage\"\nlocation = \"offsite\"\ntrust_labels = true\nobject_lock = {{ mode = \"compliance\", days = 2 }}\n",
        moto.url()
    );
    env.env = vec![
        ("PBX321_TEST_KEY_ID".into(), "testing".into()),
        ("PBX321_TEST_SECRET".into(), "very-secret-value".into()),
        ("PBX321_LOG".into(), "pbx321=debug".into()),
    ];
    let original = env.put_backup("3CXScheduledBackup.zip", 60, 12 * 1024 * 1024);
    let backup_out = env.pbx321(&["backup"]);
    assert_eq!(code(&backup_out), 0, "3-2-1-1 holds");
    // The seal hashed the S3 parts on the way, and the upload sent those hashes.
    let log = stderr(&backup_out);
    assert!(log.contains("part_hashes=1"), "{log}");
    assert!(log.contains("hashed_while_written=true"), "{log}");
    assert!(
        stdout(&backup_out).contains("1 immutable"),
        "{}",
        stdout(&backup_out)
    );

    let check_out = env.pbx321(&["check", "--format", "json"]);
    assert_eq!(code(&check_out), 0);
    let v: serde_json::Value = serde_json::from_slice(&check_out.stdout).unwrap();
    assert_eq!(v["sources"][0]["newest"]["verdict"]["immutable"], 1);
    let copies = v["sources"][0]["newest"]["copies"].as_array().unwrap();
    let cloud = copies.iter().find(|c| c["target"] == "cloud").unwrap();
    assert!(cloud["locked_until"].is_string());

    // The local copies are lost: the S3 copy alone restores it.
    std::fs::remove_dir_all(env.path().join("targets")).unwrap();
    let to = env.path().join("restored.zip");
    let out = env.restore(&to, &[]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("from cloud"));
    assert!(std::fs::read(&to).unwrap() == original);
    // The secret given by environment reached no output.
    let outputs = [backup_out, check_out, out];
    for o in &outputs {
        assert!(!stdout(o).contains("very-secret-value"));
        assert!(!stderr(o).contains("very-secret-value"));
    }
}

/// Issue 11, finding 9: the access key id reached trace logs (10 lines per run).
#[test]
fn finding_9_the_s3_key_id_never_reaches_a_log() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let moto = Moto::start();
    rt.block_on(create_bucket(&s3_client(&moto.url()), "offsite", false));
    let mut env = TestEnv::new();
    env.targets.truncate(2);
    env.extra_targets = format!(
        "\n[[target]]\nname = \"cloud\"\ntype = \"s3\"\nbucket = \"offsite\"\nendpoint = \"{}\"\npath_style = true\naccess_key_id = {{ env = \"PBX321_TEST_KEY_ID\" }}\nsecret_access_key = {{ env = \"PBX321_TEST_SECRET\" }}\nmedium = \"object-storage\"\nlocation = \"offsite\"\ntrust_labels = true\n",
        moto.url()
    );
    env.env = vec![
        ("PBX321_TEST_KEY_ID".into(), "AKIAPBX321KEYIDXYZ".into()),
        ("PBX321_TEST_SECRET".into(), "very-secret-value".into()),
        ("PBX321_LOG".into(), "trace".into()),
    ];
    env.put_backup("3CXScheduledBackup.zip", 61, 6 * 1024 * 1024);
    let outputs = [
        env.pbx321(&["backup"]),
        env.pbx321(&["check", "--deep"]),
        env.pbx321(&["list"]),
    ];
    assert_eq!(code(&outputs[0]), 0);
    for o in &outputs {
        let all = format!("{}{}", stdout(o), stderr(o));
        assert!(all.len() > 1000, "trace logging is on");
        for secret in ["AKIAPBX321KEYIDXYZ", "very-secret-value"] {
            assert!(!all.contains(secret), "{secret} in the output");
        }
    }
}

/// `prune` aborts incomplete multipart uploads older than a day: invisible to a listing,
/// but stored and billed. Only those started before the cutoff go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_incomplete_uploads_are_aborted_and_only_those() {
    let moto = Moto::start();
    let client = s3_client(&moto.url());
    create_bucket(&client, "uploads", false).await;
    for key in ["pbx321/hq/a.zip.zst.age", "other/b"] {
        client
            .create_multipart_upload()
            .bucket("uploads")
            .key(key)
            .send()
            .await
            .unwrap();
    }
    let t = target(config(&moto.url(), "uploads", false, 5)).await;
    // moto reports every upload as initiated on 2010-11-10 (a fixed date): a cutoff
    // before that finds them all too young.
    let past = "2001-01-01T00:00:00Z".parse().unwrap();
    assert!(
        t.abort_stale_uploads(past).await.unwrap().is_empty(),
        "too young"
    );
    assert_eq!(incomplete_uploads(&moto, "uploads").await, 2);
    let later = chrono::Utc::now() + chrono::TimeDelta::minutes(5);
    let aborted = t.abort_stale_uploads(later).await.unwrap();
    assert_eq!(aborted, vec!["hq/a.zip.zst.age".to_string()]);
    // The upload outside the target's prefix is not pbx321's.
    assert_eq!(incomplete_uploads(&moto, "uploads").await, 1);
}

/// Two fs targets and an S3 bucket with Object Lock (compliance, 2 days) behind a proxy that
/// sees every request; the env's config has the bucket as target "cloud" (prefix "p").
struct LockedCloud {
    rt: tokio::runtime::Runtime,
    moto: Moto,
    client: aws_sdk_s3::Client,
    proxy: FaultProxy,
    env: TestEnv,
}

impl LockedCloud {
    fn new(policy: &str) -> LockedCloud {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let moto = Moto::start();
        let client = s3_client(&moto.url());
        rt.block_on(create_bucket(&client, "offsite", true));
        let proxy = rt.block_on(FaultProxy::start(moto.port));
        let mut env = TestEnv::new();
        env.targets.truncate(2);
        env.policy = policy.into();
        env.extra_targets = format!(
            "\n[[target]]\nname = \"cloud\"\ntype = \"s3\"\nbucket = \"offsite\"\nprefix = \"p\"\nendpoint = \"{}\"\npath_style = true\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\nmedium = \"object-storage\"\nlocation = \"offsite\"\ntrust_labels = true\nobject_lock = {{ mode = \"compliance\", days = 2 }}\n",
            proxy.url()
        );
        LockedCloud {
            rt,
            moto,
            client,
            proxy,
            env,
        }
    }
}

/// Issue 31: what a check costs on S3. With more sources than are listed one by one, the
/// bucket is listed once; a manifest is read (GET) once while its ETag stays the same, and
/// its lock asked (HEAD) only for the newest backup. A manifest replaced on the store has
/// another ETag: it is read again, and judged as what it is now.
#[test]
fn a_check_reads_each_manifest_once_and_a_replaced_one_again() {
    let LockedCloud {
        rt,
        moto: _moto,
        client,
        proxy,
        mut env,
    } = LockedCloud::new("copies = 3\nmedia = 2\noffsite = 1\nmax_age = \"26h\"\n");
    // Nine more sources (none backed up yet): ten are listed as one.
    for i in 0..9 {
        std::fs::create_dir_all(env.path().join(format!("pbx{i}"))).unwrap();
        env.extra_source.push_str(&format!(
            "\n[[source]]\nname = \"pbx{i}\"\ntype = \"folder\"\npath = \"pbx{i}\"\n"
        ));
    }
    env.put_backup("3CXScheduledBackup.zip", 62, 64 * 1024);
    assert_eq!(code(&env.pbx321(&["backup", "hq"])), 0);
    let _ = std::fs::remove_file(env.state_dir().join("read-cache.json"));
    proxy.seen.lock().unwrap().clear();

    let check = |env: &TestEnv| -> serde_json::Value {
        let out = env.pbx321(&["check", "hq", "--format", "json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let counts = |proxy: &FaultProxy| {
        let c = (
            proxy.count("GET", "list-type=2"),
            proxy.count("GET", ".manifest.json"),
            proxy.count("HEAD", ".zip.zst.age"),
        );
        proxy.seen.lock().unwrap().clear();
        c
    };
    // `check hq` names one source: listed alone. The manifest and its signature are read.
    let v = check(&env);
    assert_eq!(v["sources"][0]["status"], "OK", "{v}");
    let (lists, manifests, heads) = counts(&proxy);
    assert_eq!(
        (lists, manifests, heads),
        (1, 2, 1),
        "manifest + signature, one lock"
    );
    // Again: nothing read; the newest's lock asked again (it is what makes the copy immutable).
    let v = check(&env);
    assert_eq!(v["sources"][0]["status"], "OK", "{v}");
    assert_eq!(counts(&proxy), (1, 0, 1));
    // The whole fleet: one listing for ten sources, nothing read again.
    let out = env.pbx321(&["check", "--format", "json"]);
    assert_eq!(code(&out), 2, "nine sources have no backup");
    let (lists, manifests, _) = counts(&proxy);
    assert_eq!((lists, manifests), (1, 0));

    // Someone with write access replaces the manifest (a new version beside the locked one).
    let key = rt.block_on(async {
        let listed = client
            .list_objects_v2()
            .bucket("offsite")
            .prefix("p/hq/")
            .send()
            .await
            .unwrap();
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .find(|k| k.ends_with(".manifest.json"))
            .unwrap()
            .to_string()
    });
    let forged = rt.block_on(async {
        let got = client
            .get_object()
            .bucket("offsite")
            .key(&key)
            .send()
            .await
            .unwrap();
        let text = got.body.collect().await.unwrap().into_bytes();
        let text = String::from_utf8(text.to_vec()).unwrap();
        let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
        m["origin"]["name"] = "other.zip".into();
        serde_json::to_vec(&m).unwrap()
    });
    rt.block_on(async {
        client
            .put_object()
            .bucket("offsite")
            .key(&key)
            .body(forged.into())
            .send()
            .await
            .unwrap()
    });
    let v = check(&env);
    let (_, manifests, _) = counts(&proxy);
    assert_eq!(
        manifests, 1,
        "the replaced manifest read again (its signature, unchanged, not)"
    );
    let cloud_state = |v: &serde_json::Value| {
        let copies = v["sources"][0]["newest"]["copies"].as_array().unwrap();
        let cloud = copies.iter().find(|c| c["target"] == "cloud").unwrap();
        cloud["state"].clone()
    };
    assert_eq!(cloud_state(&v), "forged", "{v}");
    // And it stays judged so on the next check, from the cache.
    let v = check(&env);
    assert_eq!(counts(&proxy).1, 0);
    assert_eq!(cloud_state(&v), "forged", "{v}");
}

/// Issue 31: a check asks for the locks of each source's newest backup only — unless the
/// newest does not meet the rule: then the older ones' are asked too, and the newest that
/// meets the rule (with its immutable copy) is still found.
#[test]
fn when_the_newest_falls_short_the_older_backups_locks_are_read() {
    let LockedCloud {
        rt: _rt,
        moto: _moto,
        proxy,
        env,
        ..
    } = LockedCloud::new("copies = 3\nmedia = 2\noffsite = 1\nimmutable = 1\nmax_age = \"26h\"\n");
    let id_of = |out: &std::process::Output| -> String {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["sources"][0]["id"].as_str().unwrap().to_string()
    };
    env.put_backup("3CXScheduledBackup.zip", 63, 64 * 1024);
    let out = env.pbx321(&["backup", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let older = id_of(&out);
    std::thread::sleep(Duration::from_millis(1100));
    env.put_backup("3CXScheduledBackup.zip", 64, 64 * 1024);
    let out = env.pbx321(&["backup", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let newest = id_of(&out);
    assert_ne!(older, newest);
    let check = |env: &TestEnv| -> serde_json::Value {
        let out = env.pbx321(&["check", "--format", "json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // Both meet the rule: only the newest's lock is asked.
    proxy.seen.lock().unwrap().clear();
    let v = check(&env);
    assert_eq!(
        v["sources"][0]["newest_compliant_id"],
        newest.as_str(),
        "{v}"
    );
    assert_eq!(proxy.count("HEAD", &newest), 1);
    assert_eq!(proxy.count("HEAD", &older), 0);
    // The newest loses its USB copy: 2 of 3 copies. The older one, locked on S3, is the
    // newest that meets the rule — found because its lock is asked now.
    std::fs::remove_dir_all(env.target_dir("usb").join("hq")).unwrap();
    std::fs::create_dir_all(env.target_dir("usb").join("hq")).unwrap();
    let usb = env.target_dir("usb").join("hq");
    for f in std::fs::read_dir(env.target_dir("local").join("hq")).unwrap() {
        let f = f.unwrap();
        if f.file_name().to_string_lossy().contains(&older) {
            std::fs::copy(f.path(), usb.join(f.file_name())).unwrap();
        }
    }
    proxy.seen.lock().unwrap().clear();
    let v = check(&env);
    assert_eq!(
        v["sources"][0]["newest_compliant_id"],
        older.as_str(),
        "{v}"
    );
    assert_eq!(v["sources"][0]["newest"]["verdict"]["ok"], false, "{v}");
    assert_eq!(
        proxy.count("HEAD", &older),
        1,
        "the older backup's lock read"
    );
}
