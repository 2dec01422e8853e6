//! The property of issue 25, over generated target states: forged, unsigned, future-dated,
//! symlinked, duplicated (one store under two targets), divergent and broken copies, under
//! any clock and retention rules, then any sequence of `prune` and `repair`:
//!
//! 1. every backup the judgement counted before is still restorable (its bytes, by its id),
//!    unless prune removed it because a retention rule named it;
//! 2. no copy the judgement did not count as a source (validly signed) is ever written to
//!    another target: every object that appears is a byte-for-byte copy of one that a
//!    counted, signed copy on another target held before.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

use super::Ctx;
use crate::catalog::CopyState;
use crate::config::{Config, Location, Medium};
use crate::manifest::{self, Manifest};
use crate::policy::retention::Action;
use crate::targets::memory::MemoryTarget;
use crate::targets::{Properties, Target};

/// What one target holds of one generated backup.
#[derive(Debug, Clone, Copy)]
enum Held {
    Nothing,
    /// The backup's own copy.
    Copy,
    /// Its manifest, the artifact gone.
    NoArtifact,
    /// Another sealing of other bytes under the same id, validly signed (another writer).
    DivergentSigned,
    /// Other bytes under the same id, unsigned.
    DivergentUnsigned,
}

/// How a generated backup is signed.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Signed,
    /// No signature (counts only inside the unsigned window).
    Unsigned,
    /// Signed by a key nobody trusts.
    Untrusted,
}

#[derive(Debug, Clone)]
struct Spec {
    /// Hours after the start of the history; past `now` when the clock is behind.
    hour: i64,
    kind: Kind,
    held: [Held; 3],
}

#[derive(Debug, Clone)]
struct World {
    backups: Vec<Spec>,
    /// Hours after the start of the history that it is now.
    now_hour: i64,
    /// Hours after the start before which unsigned backups still count.
    unsigned_until: i64,
    /// A planted link `hq` on this target.
    link_on: Option<usize>,
    /// A fourth target over the second's store (one directory configured twice).
    duplicate: bool,
    /// keep_last per target (0: the default rules, keep everything).
    rules: [u32; 3],
    /// The operations, in order: true = prune, false = repair.
    ops: Vec<bool>,
}

fn held() -> impl Strategy<Value = Held> {
    prop_oneof![
        3 => Just(Held::Nothing),
        6 => Just(Held::Copy),
        1 => Just(Held::NoArtifact),
        1 => Just(Held::DivergentSigned),
        1 => Just(Held::DivergentUnsigned),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![6 => Just(Kind::Signed), 3 => Just(Kind::Unsigned), 1 => Just(Kind::Untrusted)]
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(
            (0i64..240, kind(), [held(), held(), held()]).prop_map(|(hour, kind, held)| Spec {
                hour,
                kind,
                held,
            }),
            1..7,
        ),
        0i64..300,
        0i64..240,
        prop::option::of(0usize..3),
        any::<bool>(),
        [0u32..4, 0u32..4, 0u32..4],
        prop::collection::vec(any::<bool>(), 1..4),
    )
        .prop_map(
            |(backups, now_hour, unsigned_until, link_on, duplicate, rules, ops)| World {
                backups,
                now_hour,
                unsigned_until,
                link_on,
                duplicate,
                rules,
                ops,
            },
        )
}

/// Keys, recipients and files the generated worlds share.
struct Keys {
    dir: tempfile::TempDir,
    identity: std::path::PathBuf,
    recipient: String,
    signer: crate::sign::Signer,
    untrusted: crate::sign::Signer,
}

fn keys() -> &'static Keys {
    static KEYS: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let id = age::x25519::Identity::generate();
        let identity = dir.path().join("key.txt");
        {
            use age::secrecy::ExposeSecret;
            std::fs::write(&identity, format!("{}\n", id.to_string().expose_secret())).unwrap();
        }
        crate::sign::generate(&dir.path().join("signing_key"), "props").unwrap();
        crate::sign::generate(&dir.path().join("other_key"), "attacker").unwrap();
        Keys {
            recipient: id.to_public().to_string(),
            signer: crate::sign::Signer::load(&dir.path().join("signing_key")).unwrap(),
            untrusted: crate::sign::Signer::load(&dir.path().join("other_key")).unwrap(),
            identity,
            dir,
        }
    })
}

const START: i64 = 0;

fn at(hour: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + TimeDelta::hours(hour + START)
}

/// A sealed copy of `plain` for backup `id`: (artifact, manifest, signature).
fn copy(id: &str, plain: &[u8], kind: Kind) -> (Bytes, Bytes, Option<Bytes>) {
    let k = keys();
    let (sealed, m) = crate::testutil::sealed_copy(&k.recipient, "hq", id, plain);
    let json = m.to_json();
    let sig = match kind {
        Kind::Signed => Some(k.signer.sign(&json).unwrap()),
        Kind::Untrusted => Some(k.untrusted.sign(&json).unwrap()),
        Kind::Unsigned => None,
    };
    (Bytes::from(sealed), Bytes::from(json), sig.map(Bytes::from))
}

struct Built {
    ctx: Ctx,
    targets: Vec<Arc<MemoryTarget>>,
    /// id → the plain bytes of the backup's own copies.
    plain: BTreeMap<String, Vec<u8>>,
    now: DateTime<Utc>,
}

fn build(w: &World, config_dir: &std::path::Path) -> Built {
    let k = keys();
    let rule = |n: u32| {
        if n == 0 {
            String::new()
        } else {
            format!("retention = {{ keep_last = {n} }}\n")
        }
    };
    let mut text = format!(
        "state_dir = \"state\"\n[encryption]\nrecipients = [\"{}\"]\n[policy]\ncopies = 2\nmedia = 1\noffsite = 0\nmax_age = \"3650d\"\n\
         [signing]\nkey = \"{}\"\naccept_unsigned_before = \"{}\"\n\
         [[source]]\nname = \"hq\"\ntype = \"folder\"\npath = \"pbx\"\n\
         [[target]]\nname = \"a\"\ntype = \"fs\"\npath = \"a\"\nmedium = \"disk\"\n{}\
         [[target]]\nname = \"b\"\ntype = \"fs\"\npath = \"b\"\nmedium = \"nas\"\n{}\
         [[target]]\nname = \"c\"\ntype = \"fs\"\npath = \"c\"\nmedium = \"object-storage\"\nlocation = \"offsite\"\n{}",
        k.recipient,
        k.dir.path().join("signing_key").display(),
        at(w.unsigned_until).to_rfc3339(),
        rule(w.rules[0]),
        rule(w.rules[1]),
        rule(w.rules[2]),
    );
    if w.duplicate {
        text.push_str("[[target]]\nname = \"d\"\ntype = \"fs\"\npath = \"d\"\nmedium = \"disk\"\n");
    }
    let config = Config::parse(&text, &config_dir.join("config.toml")).unwrap();
    let props = |medium, location| Properties {
        medium,
        location,
        immutable_capable: false,
        declared: false,
    };
    let mut targets = vec![
        Arc::new(MemoryTarget::new(
            "a",
            props(Medium::Disk, Location::Onsite),
        )),
        Arc::new(MemoryTarget::new("b", props(Medium::Nas, Location::Onsite))),
        Arc::new(MemoryTarget::new(
            "c",
            props(Medium::ObjectStorage, Location::Offsite),
        )),
    ];
    if w.duplicate {
        let store = targets[1].store();
        targets.push(Arc::new(MemoryTarget::sharing(
            "d",
            props(Medium::Disk, Location::Onsite),
            store,
        )));
    }
    let mut plain = BTreeMap::new();
    for (n, s) in w.backups.iter().enumerate() {
        let id = manifest::backup_id("hq", at(s.hour));
        if plain.contains_key(&id) {
            continue; // two specs, one hour: the first one only
        }
        let own = crate::testutil::sample_zip(9000 + n as u64, 300);
        let (art, man, sig) = copy(&id, &own, s.kind);
        let other = crate::testutil::sample_zip(9500 + n as u64, 300);
        for (t, h) in targets.iter().zip(s.held) {
            let put = |a: Option<&Bytes>, m: &Bytes, sg: Option<&Bytes>| {
                if let Some(a) = a {
                    t.tamper(&manifest::artifact_path("hq", &id), a.clone());
                }
                t.tamper(&manifest::manifest_path("hq", &id), m.clone());
                if let Some(sg) = sg {
                    t.tamper(&manifest::signature_path("hq", &id), sg.clone());
                }
            };
            match h {
                Held::Nothing => {}
                Held::Copy => put(Some(&art), &man, sig.as_ref()),
                Held::NoArtifact => put(None, &man, sig.as_ref()),
                Held::DivergentSigned => {
                    let (a, m, sg) = copy(&id, &other, Kind::Signed);
                    put(Some(&a), &m, sg.as_ref());
                }
                Held::DivergentUnsigned => {
                    let (a, m, _) = copy(&id, &other, Kind::Unsigned);
                    put(Some(&a), &m, None);
                }
            }
        }
        plain.insert(id, own);
    }
    if let Some(t) = w.link_on {
        targets[t].add_link("hq");
    }
    let now = at(w.now_hour);
    let ctx = Ctx::with(
        config,
        targets
            .iter()
            .map(|t| Arc::clone(t) as Arc<dyn Target>)
            .collect(),
        vec![Arc::new(crate::source::memory::MemorySource::new("hq"))
            as Arc<dyn crate::source::Source>],
        Arc::new(move || now),
    );
    Built {
        ctx,
        targets,
        plain,
        now,
    }
}

/// What the judgement counted at the start: id → the manifest its counted copies agree on,
/// and per (target, path) the bytes of every object of a copy that counts as a source.
struct Before {
    counted: BTreeMap<String, Manifest>,
    sources: BTreeSet<(String, String)>,
    objects: Vec<BTreeMap<String, Bytes>>,
}

async fn before(b: &Built) -> Before {
    let listings = super::catalog::list_all(&b.ctx.targets, &[]).await;
    let trust = b.ctx.trust().unwrap();
    let how = super::catalog::Reading {
        state: &b.ctx.state,
        trust: trust.as_ref(),
        at: b.ctx.at(),
    };
    let cat = super::catalog::build(&listings, |_, _| true, how).await;
    let mut counted = BTreeMap::new();
    let mut sources = BTreeSet::new();
    for e in cat.backups.values() {
        if let (true, Some(m)) = (e.counts(), &e.manifest) {
            counted.insert(e.id.clone(), m.clone());
        }
        for c in e.copies.iter().filter(|c| c.state == CopyState::Verified) {
            sources.insert((c.target.clone(), e.id.clone()));
        }
    }
    Before {
        counted,
        sources,
        objects: b.targets.iter().map(|t| t.snapshot()).collect(),
    }
}

async fn check_world(w: World) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let b = build(&w, dir.path());
    let start = before(&b).await;
    // Backups a prune removed from some target, and those a prune kept somewhere.
    let mut named: BTreeSet<String> = BTreeSet::new();
    let mut kept: BTreeSet<String> = BTreeSet::new();
    for prune in &w.ops {
        if *prune {
            let r = super::prune::run(&b.ctx, &Default::default())
                .await
                .unwrap();
            for s in &r.sources {
                for t in &s.plan.targets {
                    for c in &t.copies {
                        match c.action {
                            Action::Remove { .. } => named.insert(c.id.clone()),
                            Action::Keep { .. } => kept.insert(c.id.clone()),
                            Action::Skip { .. } => false,
                        };
                    }
                }
            }
        } else {
            super::repair::run(&b.ctx, &Default::default())
                .await
                .unwrap();
        }
    }
    // 2. Nothing new but byte-for-byte copies of signed, counted copies on another target.
    for (i, t) in b.targets.iter().enumerate() {
        for (path, bytes) in t.snapshot() {
            if start.objects[i].get(&path) == Some(&bytes) {
                continue;
            }
            let id = manifest::classify(&path)
                .id()
                .map(|(_, id)| id.to_string())
                .unwrap_or_default();
            let from_source = b.targets.iter().enumerate().any(|(j, o)| {
                j != i
                    && start.sources.contains(&(o.name().to_string(), id.clone()))
                    && start.objects[j].get(&path) == Some(&bytes)
            });
            prop_assert!(
                from_source,
                "{path} written to {} from no signed, counted copy ({w:?})",
                t.name()
            );
        }
    }
    // 1. Every counted backup restores its own bytes, unless a retention rule named it (a
    //    prune removed it, and no prune kept it anywhere).
    for (id, m) in &start.counted {
        if named.contains(id) && !kept.contains(id) {
            continue;
        }
        let to = dir.path().join(format!("{id}.zip"));
        let opts = super::restore::RestoreOptions {
            source: "hq".into(),
            backup: Some(id.clone()),
            at: None,
            to: to.clone(),
            identity: keys().identity.clone(),
            from: None,
            force: true,
        };
        let r = super::restore::run(&b.ctx, &opts).await;
        prop_assert!(r.is_ok(), "{id} not restorable: {:?} ({w:?})", r.err());
        let got = std::fs::read(&to).unwrap();
        prop_assert_eq!(
            crate::seal::digest(&got[..]).unwrap().1,
            m.plain.sha256.clone(),
            "{} restored other bytes ({:?})",
            id,
            w
        );
        if b.plain.contains_key(id)
            && m.plain.sha256 == crate::seal::digest(&b.plain[id][..]).unwrap().1
        {
            // The genuine backup (not another writer's version) restores its bytes.
            prop_assert!(got == b.plain[id]);
        }
    }
    let _ = b.now;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn prune_and_repair_never_lose_a_counted_backup_nor_spread_an_uncounted_copy(w in world()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(check_world(w))?;
    }
}
