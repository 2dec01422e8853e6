//! The target contract (`src/target/mod.rs`), checked the same way for every implementation.
//! A new target type adds a three-line test at the bottom that calls `suite`.

use std::sync::Arc;

use bytes::Bytes;
use pbx321::config::{Location, Medium};
use pbx321::target::memory::MemoryTarget;
use pbx321::target::opendal::OpendalTarget;
use pbx321::target::{Payload, Properties, Target, TargetError};
use tokio::io::AsyncReadExt;

use crate::helpers::noise;

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

/// Runs every contract check against `t`, which must be empty.
pub async fn suite(t: Arc<dyn Target>, scratch: &std::path::Path) {
    let t = t.as_ref();
    // Empty target.
    assert!(t.list("").await.unwrap().is_empty());
    assert!(
        t.list("hq").await.unwrap().is_empty(),
        "listing a missing prefix is empty"
    );
    assert!(matches!(
        t.stat("hq/x").await,
        Err(TargetError::NotFound(_))
    ));
    assert!(matches!(
        t.read("hq/x").await,
        Err(TargetError::NotFound(_))
    ));

    // Small put, read back.
    let small = Payload::Bytes(Bytes::from_static(b"{\"manifest\":1}\n"));
    t.put("hq/a.manifest.json", &small).await.unwrap();
    assert_eq!(t.stat("hq/a.manifest.json").await.unwrap().size, 15);
    assert_eq!(
        read_all(t, "hq/a.manifest.json").await,
        b"{\"manifest\":1}\n"
    );
    assert_eq!(
        t.read_small("hq/a.manifest.json", 1024).await.unwrap(),
        b"{\"manifest\":1}\n"
    );
    assert!(t.read_small("hq/a.manifest.json", 4).await.is_err());

    // Never overwrites.
    let other = Payload::Bytes(Bytes::from_static(b"replaced"));
    assert!(matches!(
        t.put("hq/a.manifest.json", &other).await,
        Err(TargetError::AlreadyExists(_))
    ));
    assert_eq!(
        read_all(t, "hq/a.manifest.json").await,
        b"{\"manifest\":1}\n"
    );

    // A large payload from a file, across many chunks.
    let big = noise(7, 3 * 1024 * 1024 + 17);
    let file = scratch.join("payload.bin");
    std::fs::write(&file, &big).unwrap();
    let payload = Payload::file(file.clone(), big.len() as u64);
    t.put("hq/b.zip.zst.age", &payload).await.unwrap();
    assert_eq!(
        t.stat("hq/b.zip.zst.age").await.unwrap().size,
        big.len() as u64
    );
    assert!(
        read_all(t, "hq/b.zip.zst.age").await == big,
        "large object reads back whole"
    );

    // The same payload to a second name (a target may take a local file only once).
    t.put("hq/b2.zip.zst.age", &payload).await.unwrap();
    assert!(read_all(t, "hq/b2.zip.zst.age").await == big);
    t.delete("hq/b2.zip.zst.age").await.unwrap();

    // Listing: files only, recursive, prefix-scoped.
    t.put("other/c.manifest.json", &small).await.unwrap();
    let mut hq: Vec<_> = t
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
            ("hq/b.zip.zst.age".to_string(), big.len() as u64)
        ]
    );
    let all = t.list("").await.unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.iter().all(|o| !o.path.ends_with('/')));

    // Delete is idempotent.
    t.delete("hq/a.manifest.json").await.unwrap();
    t.delete("hq/a.manifest.json").await.unwrap();
    assert!(matches!(
        t.stat("hq/a.manifest.json").await,
        Err(TargetError::NotFound(_))
    ));
    // And a deleted name can be written again.
    t.put("hq/a.manifest.json", &other).await.unwrap();
    assert_eq!(read_all(t, "hq/a.manifest.json").await, b"replaced");

    // A payload whose file shrank after its length was taken is refused, leaving nothing.
    let short = scratch.join("short.bin");
    std::fs::write(&short, b"short").unwrap();
    let payload = Payload::file(short, big.len() as u64);
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

#[tokio::test]
async fn memory_target() {
    let scratch = tempfile::tempdir().unwrap();
    suite(Arc::new(MemoryTarget::new("mem", props())), scratch.path()).await;
}

#[tokio::test]
async fn fs_target() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("root");
    let t = OpendalTarget::fs("fs", props(), &root, false).unwrap();
    suite(Arc::new(t), scratch.path()).await;
}
