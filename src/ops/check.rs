//! `check`: is every source safe right now?
//!
//! Shallow (default): each target is listed once; manifests of the backups that can matter
//! (younger than `max_age`, and each source's newest) are read, and artifact sizes compared
//! with them. `deep`: every copy of the newest backup (`all`: of every backup) is read back
//! and its sha256 compared with the manifest. With an identity, the newest backup is also
//! decrypted, decompressed and its zip checked — a restore drill, never touching disk —
//! and the outcome recorded in the state directory for later checks to report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::OpError;
use super::catalog::{self, BackupEntry, Catalog, CopyInfo, CopyState, Listing};
use crate::state::StateDir;

/// The restore drills' record in the state directory.
const DRILLS: &str = "drills.json";
use crate::config::Config;
use crate::facts::DrillFact;
use crate::manifest::{self, Manifest};
use crate::policy::{self, BackupFacts, Rule, SourceFacts, SourceStatus, Status, Verdict};
use crate::seal;
use crate::target::Target;

#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub sources: Vec<String>,
    /// Read copies back and compare their sha256 with the manifest.
    pub deep: bool,
    /// With `deep`: every backup, not only the newest.
    pub all: bool,
    /// With `deep`: also decrypt the newest backup and check its zip (the restore drill).
    pub identity: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub status: Status,
    pub checked_at: DateTime<Utc>,
    pub deep: bool,
    pub rule: Rule,
    pub max_age_seconds: u64,
    pub warn_age_seconds: u64,
    pub sources: Vec<SourceCheck>,
    pub targets: Vec<TargetState>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceCheck {
    #[serde(flatten)]
    pub status: SourceStatus,
    /// The newest backup and its copies.
    pub newest: Option<NewestBackup>,
    /// The newest backup that meets the rule within max_age, if any.
    pub last_success: Option<BackupSummary>,
    pub drill: Option<DrillFact>,
    /// Backups sealed in the spool that some target still lacks; the next `backup` run
    /// completes them.
    pub pending: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewestBackup {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub age_seconds: u64,
    pub plain_bytes: Option<u64>,
    pub verdict: Verdict,
    pub copies: Vec<CopyInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub plain_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetState {
    pub target: String,
    pub medium: crate::config::Medium,
    pub location: crate::config::Location,
    pub up: bool,
    pub error: Option<String>,
}

pub async fn run(
    cfg: &Config,
    opts: &CheckOptions,
    now: DateTime<Utc>,
) -> Result<CheckReport, OpError> {
    let names: Vec<String> = if opts.sources.is_empty() {
        cfg.sources.iter().map(|s| s.name.clone()).collect()
    } else {
        for s in &opts.sources {
            if cfg.source(s).is_none() {
                return Err(OpError::Usage(format!(
                    "no source named {s:?} in {}",
                    cfg.path.display()
                )));
            }
        }
        opts.sources.clone()
    };
    let identities = match &opts.identity {
        Some(p) => Some(Arc::new(seal::load_identities(p)?)),
        None => None,
    };
    let targets = super::open_targets(cfg).await?;
    let listings = catalog::list_all(&targets, &names).await;
    // Manifests worth reading: every backup young enough to count, and each source's newest.
    let newest: BTreeMap<String, String> = catalog::build(&listings, |_, _| false)
        .await
        .backups
        .into_keys()
        .collect();
    // Checked: a horizon before the start of time is the start of time.
    let horizon = chrono::Duration::from_std(cfg.policy.max_age)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let all = opts.deep && opts.all;
    let mut cat = catalog::build(&listings, |s, id| {
        all || newest.get(s).is_some_and(|n| n == id)
            || manifest::id_time(s, id).is_some_and(|t| t >= horizon)
    })
    .await;

    let state = StateDir::new(&cfg.state_dir);
    let mut drills = read_drills(&state);
    let mut new_drills = BTreeMap::new();
    if opts.deep {
        for name in &names {
            let ids: Vec<String> = cat
                .of_source(name)
                .map(|b| b.id.clone())
                .filter(|id| all || newest.get(name) == Some(id))
                .collect();
            for id in ids {
                verify_deep(&mut cat, &listings, name, &id).await;
            }
            if let (Some(ids), Some(id)) = (&identities, newest.get(name)) {
                let entry = &cat.backups[&(name.clone(), id.clone())];
                if let Some(d) = drill(entry, &listings, Arc::clone(ids), now).await {
                    new_drills.insert(name.clone(), d);
                }
            }
        }
        if identities.is_some() {
            drills = record_drills(&state, new_drills)?;
        }
    }

    let pending = crate::spool::Spool::peek(&state).pending_ids();
    let rule = Rule::from(&cfg.policy);
    let mut sources = Vec::new();
    for name in &names {
        let backups: Vec<BackupFacts> = cat
            .of_source(name)
            .filter(|b| {
                b.copies
                    .iter()
                    .any(|c| !matches!(c.state, CopyState::Unchecked))
            })
            .map(|b| BackupFacts {
                id: b.id.clone(),
                created_at: b.created_at,
                verdict: policy::evaluate(&b.copy_facts(&listings), &rule),
                corrupt: b.corrupt(),
            })
            .collect();
        let facts = SourceFacts {
            source: name.clone(),
            backups,
            unreachable: cat.unreachable.clone(),
            drill: drills.get(name).cloned(),
        };
        let status = policy::source_status(&facts, &cfg.policy, now);
        let summary = |b: &BackupEntry| BackupSummary {
            id: b.id.clone(),
            created_at: b.created_at,
            plain_bytes: b.manifest.as_ref().map(|m| m.plain.bytes),
        };
        let last_success = status
            .newest_compliant_id
            .as_ref()
            .and_then(|id| cat.backups.get(&(name.clone(), id.clone())))
            .map(summary);
        let newest = cat.of_source(name).last().map(|b| NewestBackup {
            id: b.id.clone(),
            created_at: b.created_at,
            age_seconds: (now - b.created_at).num_seconds().max(0) as u64,
            plain_bytes: b.manifest.as_ref().map(|m| m.plain.bytes),
            verdict: policy::evaluate(&b.copy_facts(&listings), &rule),
            copies: b.copies.clone(),
        });
        sources.push(SourceCheck {
            status,
            newest,
            last_success,
            drill: drills.get(name).cloned(),
            pending: pending
                .iter()
                .filter(|id| manifest::split_id(id).is_some_and(|(s, _)| s == name))
                .cloned()
                .collect(),
        });
    }
    let targets = listings
        .iter()
        .map(|l| TargetState {
            target: l.target.name().into(),
            medium: l.target.properties().medium,
            location: l.target.properties().location,
            up: l.objects.is_ok(),
            error: l.objects.as_ref().err().cloned(),
        })
        .collect();
    Ok(CheckReport {
        status: policy::worst(sources.iter().map(|s| s.status.status)),
        checked_at: now,
        deep: opts.deep,
        rule,
        max_age_seconds: cfg.policy.max_age.as_secs(),
        warn_age_seconds: cfg.policy.warn_age.as_secs(),
        sources,
        targets,
    })
}

/// Reads every verified copy of one backup and marks those whose sha256 differs corrupt.
async fn verify_deep(cat: &mut Catalog, listings: &[Listing], source: &str, id: &str) {
    let key = (source.to_string(), id.to_string());
    let Some(entry) = cat.backups.get(&key) else {
        return;
    };
    let checks = entry
        .copies
        .iter()
        .filter(|c| matches!(c.state, CopyState::Verified))
        .filter_map(|c| {
            let l = listings.iter().find(|l| l.target.name() == c.target)?;
            Some((Arc::clone(&l.target), c.manifest.clone()?))
        })
        .map(|(t, m)| async move { (t.name().to_string(), sha_matches(t.as_ref(), &m).await) });
    let results = futures::future::join_all(checks).await;
    let Some(entry) = cat.backups.get_mut(&key) else {
        return;
    };
    for (target, result) in results {
        if let (Err(why), Some(c)) = (result, entry.copies.iter_mut().find(|c| c.target == target))
        {
            c.state = CopyState::Corrupt { why };
        }
    }
}

async fn sha_matches(t: &dyn Target, m: &Manifest) -> Result<(), String> {
    let reader = t
        .read(&manifest::artifact_path(&m.source, &m.id))
        .await
        .map_err(|e| e.to_string())?;
    let (bytes, sha) = crate::stream::digest(reader)
        .await
        .map_err(|e| format!("reading the artifact: {e}"))?;
    m.verify_sealed(bytes, &sha).map_err(|e| e.to_string())
}

/// The restore drill: the first verified copy is decrypted, decompressed and its zip walked,
/// with both sha256 compared to the manifest. Nothing is written to disk.
async fn drill(
    entry: &BackupEntry,
    listings: &[Listing],
    identities: Arc<seal::Identities>,
    now: DateTime<Utc>,
) -> Option<DrillFact> {
    let copy = entry
        .copies
        .iter()
        .find(|c| matches!(c.state, CopyState::Verified))?;
    let m = copy.manifest.clone()?;
    let target = listings
        .iter()
        .find(|l| l.target.name() == copy.target)?
        .target
        .clone();
    let started = Instant::now();
    let result = async {
        let reader = target
            .read(&manifest::artifact_path(&m.source, &m.id))
            .await
            .map_err(|e| e.to_string())?;
        let m2 = m.clone();
        crate::stream::blocking(reader, move |input| drill_stream(input, &identities, &m2))
            .await
            .map_err(|e| e.to_string())?
    }
    .await;
    Some(DrillFact {
        id: m.id.clone(),
        target: target.name().to_string(),
        at: now,
        ok: result.is_ok(),
        duration_seconds: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        error: result.err(),
    })
}

fn drill_stream(
    input: &mut (dyn std::io::Read + Send),
    identities: &seal::Identities,
    m: &Manifest,
) -> Result<(), String> {
    let mut sealed = seal::Hashing::new(input);
    let plain_result = (|| {
        let reader = seal::plain_reader(&mut sealed, identities).map_err(|e| e.to_string())?;
        let mut plain = seal::Hashing::new(reader);
        let zip = crate::zipcheck::check(&mut plain).map_err(|e| e.to_string());
        std::io::copy(&mut plain, &mut std::io::sink()).map_err(|e| e.to_string())?;
        let (bytes, sha, _) = plain.finish();
        Ok::<_, String>((zip, bytes, sha))
    })();
    std::io::copy(&mut sealed, &mut std::io::sink()).map_err(|e| e.to_string())?;
    let (sealed_bytes, sealed_sha, _) = sealed.finish();
    let (zip, plain_bytes, plain_sha) = plain_result?;
    m.verify(&manifest::Digests {
        plain_bytes,
        plain_sha256: plain_sha,
        sealed_bytes,
        sealed_sha256: sealed_sha,
    })
    .map_err(|e| e.to_string())?;
    zip.map(|_| ())
}

fn read_drills(state: &StateDir) -> BTreeMap<String, DrillFact> {
    match state.read(DRILLS) {
        Ok(Some(b)) => serde_json::from_slice(&b).unwrap_or_default(),
        Ok(None) => BTreeMap::new(),
        Err(e) => {
            tracing::warn!("restore drills not read: {e}");
            BTreeMap::new()
        }
    }
}

/// Adds this check's drills to the recorded ones. Read, changed and written under the
/// state's file lock, so that checks running at once never lose each other's drills.
fn record_drills(
    state: &StateDir,
    new: BTreeMap<String, DrillFact>,
) -> Result<BTreeMap<String, DrillFact>, OpError> {
    state.with_file_lock(|| {
        let mut all = read_drills(state);
        all.extend(new);
        let json = serde_json::to_vec_pretty(&all).map_err(|e| OpError::Failed(e.to_string()))?;
        state.write(DRILLS, &json)?;
        Ok(all)
    })?
}
