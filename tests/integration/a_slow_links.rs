//! The slow-link tests of issue 26 (a WebDAV upload at 16 KiB/s that takes over two minutes
//! and is never cut; an S3 part that shows progress before it is confirmed). They are the
//! longest tests of the suite, and libtest starts tests in the order of their names: this
//! module's name sorts first so that they start at once, beside the rest, instead of last.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::servers::{DAV_PASS, DAV_USER, Rclone};

/// A TCP proxy to `upstream` that passes what the client sends at `rate` bytes a second.
fn throttle(upstream: u16, rate: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; rate / 10];
                loop {
                    match client.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if server.write_all(&buf[..n]).is_err() {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
            });
        }
    });
    port
}

#[test]
fn a_slow_webdav_upload_that_keeps_moving_is_never_cut() {
    let dav = Rclone::start();
    let port = throttle(dav.port, 16 * 1024);
    let mut env = TestEnv::new();
    env.targets.truncate(1);
    env.policy = "copies = 2\nmedia = 1\noffsite = 0\n".into();
    env.env = vec![("PBX321_TEST_DAV_PASSWORD".into(), DAV_PASS.into())];
    env.extra_targets = format!(
        "\n[[target]]\nname = \"dav\"\ntype = \"webdav\"\nendpoint = \"http://127.0.0.1:{port}\"\npath = \"/pbx321\"\nusername = \"{DAV_USER}\"\npassword = {{ env = \"PBX321_TEST_DAV_PASSWORD\" }}\nmedium = \"nas\"\nio_timeout = \"20s\"\n"
    );
    // About 2.2 MiB sealed: over two minutes at 16 KiB/s.
    let original = env.put_backup("3CXScheduledBackup.zip", 2602, 2_300_000);
    let started = Instant::now();
    let out = env.pbx321(&["backup"]);
    let took = started.elapsed();
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(took > Duration::from_secs(120), "throttled: {took:?}");
    let to = env.path().join("r.zip");
    let out = env.restore(&to, &["--from", "dav"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(std::fs::read(&to).unwrap() == original);
}

/// An S3 upload on a slow link shows progress while a part is on its way, before the store
/// confirms it: a part that stops moving is told from a slow one within the part, not only
/// after the whole part's time at the slowest rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_part_on_a_slow_link_moves_before_it_is_confirmed() {
    use pbx321::config::{Location, Medium, S3Target, Secret, TargetConfig, TargetKind};
    let moto = crate::servers::Moto::start();
    crate::servers::create_bucket(&crate::servers::s3_client(&moto.url()), "slow", false).await;
    let port = throttle(moto.port, 512 * 1024);
    let entry = TargetConfig {
        name: "away".into(),
        medium: Medium::ObjectStorage,
        location: Location::Offsite,
        trust_labels: false,
        retention: None,
        io_timeout: Some(Duration::from_secs(30)),
        kind: TargetKind::S3(S3Target {
            bucket: "slow".into(),
            prefix: "pbx321/".into(),
            region: Some("us-east-1".into()),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            path_style: true,
            access_key_id: Some(Secret::Inline("testing".into())),
            secret_access_key: Some(Secret::Inline("testing".into())),
            storage_class: None,
            object_lock: None,
            part_size_mib: 16,
            concurrency: 1,
            allow_insecure_http: false,
            connect_timeout: Duration::from_secs(10),
        }),
    };
    let target = pbx321::targets::open(&entry, &pbx321::share::Share::private()).await;
    let dir = tempfile::tempdir().unwrap();
    // 20 MiB in 16 MiB parts (the default), one at a time, at 512 KiB/s: the first part is
    // confirmed after 32 s; its bytes move all the time (once the buffers, a few MiB on
    // loopback, are full).
    let len: usize = 20 << 20;
    let file = dir.path().join("big");
    std::fs::write(&file, noise(len as u64, len)).unwrap();
    let payload =
        pbx321::targets::Payload::file(file, len as u64).metered(indicatif::ProgressBar::hidden());
    let put = {
        let (target, payload) = (target.clone(), payload.clone());
        tokio::spawn(async move { target.put("big.age", &payload).await })
    };
    let mut seen = Vec::new();
    for _ in 0..16 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        seen.push(payload.position());
    }
    assert!(!put.is_finished(), "throttled, not done yet");
    put.abort();
    assert!(
        seen[0] > 0 && seen.windows(2).filter(|w| w[1] > w[0]).count() >= 2,
        // In bursts: the kernel wakes a writer when a third of its buffer is free.
        "the position moved while the bytes were sent: {seen:?}"
    );
    assert!(
        *seen.last().unwrap() < len as u64,
        "not counted as taken before it was sent: {seen:?}"
    );
}
