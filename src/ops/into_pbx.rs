//! `restore --into` and the standby drill: one backup put back into a running 3CX V20 and
//! the PBX compared, once it answers again, with what the backup's manifest recorded.
//!
//! The steps, each logged (never a secret):
//! 1. choose the backup by the one judgement of what counts;
//! 2. read the PBX's version and refuse, before anything is written, a backup newer than
//!    the PBX (or a 3CX-encrypted one without `backup_password`);
//! 3. unseal the backup into an unnamed local file and verify it against the manifest;
//! 4. place it in the PBX's backup repository through `restore_via`, under a name of its
//!    own ([`crate::policy::into_pbx::placed_name`]), never replacing a file;
//! 5. wait, bounded, until the PBX lists it at its full size;
//! 6. read `GetBackupExtras`, check its version again, and take the footprint;
//! 7. `Pbx.Restore`, then wait, bounded, through the restart;
//! 8. read the version and fingerprint again and compare them with the manifest's;
//! 9. remove the placed zip (unless `keep` and it worked) — also after an error or an
//!    interruption, so that no plaintext stays in the repository.
//!
//! Decisions are [`crate::policy::into_pbx`]'s (pure); the XAPI calls are
//! [`crate::source::threecx::ThreeCx`]'s.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::restore::{self, Choice, RestoreError};
use super::{Ctx, OpError};
use crate::manifest::{Fingerprint, Manifest};
use crate::policy::into_pbx::{self, Comparison, VersionRefusal};
use crate::source::SourceError;
use crate::source::threecx::ThreeCx;
use crate::targets::{Payload, Target, TargetError};

/// How often a wait asks the PBX again.
const POLL: Duration = Duration::from_secs(1);
/// The longest one question to the PBX may take while it restarts.
const ASK: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct IntoOptions {
    /// The 3CX source whose PBX (or, with `standby`, whose standby) the backup goes into.
    pub into: String,
    pub standby: bool,
    /// Which backup (its source is `into`'s unless said otherwise).
    pub choice: Choice,
    pub identity: PathBuf,
    /// Say each step, with the file, versions and fingerprint; change nothing.
    pub dry_run: bool,
    /// Leave the placed zip in the repository after a restore that worked.
    pub keep: bool,
}

/// A running 3CX to restore into: its API client, its repository, and the wait bound.
pub struct IntoPbx {
    pub client: ThreeCx,
    pub via: Arc<dyn Target>,
    /// The repository as a location (`sftp://…`, `s3://…`, a directory), for reports.
    pub via_location: String,
    pub url: String,
    pub restart_timeout: Duration,
    /// 3CX's backup password, resolved only when the backup needs it.
    pub password: Option<crate::secret::Secret>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntoReport {
    pub id: String,
    pub source: String,
    /// The PBX's URL.
    pub pbx: String,
    pub standby: bool,
    /// The zip's name in the PBX's repository.
    pub placed: String,
    pub via: String,
    pub backup_version: Option<String>,
    /// The PBX's version before the restore.
    pub pbx_version: String,
    /// And after it.
    pub version_after: Option<String>,
    /// The fingerprint the manifest recorded.
    pub recorded: Option<Fingerprint>,
    /// The PBX's after the restore.
    pub found: Option<Fingerprint>,
    pub comparison: Option<Comparison>,
    /// 3CX encrypted the backup itself (its password was given to the restore).
    pub pbx_encrypted: bool,
    /// From the start to the PBX answering again after the restore.
    pub seconds_to_answer: Option<f64>,
    pub seconds: f64,
    pub dry_run: bool,
    /// The placed zip was left in the repository (`--keep`).
    pub kept: bool,
    /// The steps, as done (or, on a dry run, as they would be).
    pub steps: Vec<Step>,
}

/// One step of putting a backup back, with its facts (`report` words them).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// The backup chosen.
    Chose {
        id: String,
        bytes: u64,
        version: Option<String>,
        pbx_encrypted: bool,
        fingerprint: Option<Fingerprint>,
    },
    /// The PBX's version allows it.
    VersionAllows {
        pbx: String,
        version: String,
    },
    Unseal {
        id: String,
        target: Option<String>,
    },
    Place {
        name: String,
        via: String,
    },
    Listed {
        name: String,
        bytes: u64,
        bound: f64,
    },
    Extras {
        version: Option<String>,
        footprint: Option<i64>,
        encrypted: bool,
    },
    Restore {
        name: String,
    },
    /// The PBX answered again (on a dry run: the wait, with its bound).
    Answered {
        version: Option<String>,
        comparison: Option<Comparison>,
        bound: f64,
    },
    Remove {
        name: String,
    },
    Keep {
        name: String,
    },
}

impl IntoReport {
    /// The PBX is as the backup recorded it.
    pub fn matched(&self) -> bool {
        self.comparison.as_ref().is_some_and(Comparison::matched)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntoError {
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// The source cannot be restored into (not 3CX V20, no `restore_via`, no standby).
    #[error("source {source_name}: {why}")]
    NotInto { source_name: String, why: String },
    #[error("nothing was written: {0}")]
    Version(#[from] VersionRefusal),
    #[error(
        "nothing was written: the PBX at {pbx} did not report its version; check the API client's access (docs/3cx.md)"
    )]
    NoVersion { pbx: String },
    #[error(
        "nothing was written: {id} was encrypted by 3CX with its backup password; set backup_password in source {source_name:?} (3CX admin console: Backup > encryption) and run again"
    )]
    NoPassword { id: String, source_name: String },
    #[error(
        "the standby at {pbx} reports the FQDN {fqdn}, that of source {source_name:?}: a standby drill would overwrite a live PBX; refused, nothing was written"
    )]
    StandbyIsSource {
        pbx: String,
        fqdn: String,
        source_name: String,
    },
    #[error("{step}: {error}")]
    Pbx {
        step: &'static str,
        error: SourceError,
    },
    #[error("cannot place {name} in the PBX's repository {via}: {error}")]
    Place {
        name: String,
        via: String,
        error: TargetError,
    },
    #[error("the PBX at {pbx} did not list {name} at {bytes} bytes within {}: is restore_via ({via}) the folder of its backup repository? (3CX admin console: Backups > Backup repository; `pbx321 plan` shows it)", crate::format::duration(*bound))]
    NeverListed {
        pbx: String,
        name: String,
        bytes: u64,
        via: String,
        bound: Duration,
    },
    #[error("3CX refused {name}: {why}")]
    Refused { name: String, why: String },
    #[error("the PBX at {pbx} did not answer within {} of the restore (restart_timeout): look at its console and services; the backup was handed to it, the placed zip removed", crate::format::duration(*bound))]
    NotBack { pbx: String, bound: Duration },
    #[error("interrupted at: {step}; the placed zip was removed from the PBX's repository")]
    Interrupted { step: String },
}

impl From<OpError> for IntoError {
    fn from(e: OpError) -> Self {
        IntoError::Restore(RestoreError::Op(e))
    }
}

impl IntoError {
    /// Usage or config errors (exit 2): nothing was tried.
    pub fn is_usage(&self) -> bool {
        match self {
            IntoError::NotInto { .. } => true,
            IntoError::Restore(e) => e.is_usage(),
            _ => false,
        }
    }
}

/// Runs the steps; `interrupted` resolves when the operator (SIGINT) or the daemon stops
/// the run, after which the placed zip is removed and nothing more is asked of the PBX.
pub async fn run(
    ctx: &Ctx,
    opts: &IntoOptions,
    interrupted: impl Future<Output = ()>,
) -> Result<IntoReport, IntoError> {
    let started = ctx.stopwatch();
    let pbx = ctx.open_into(&opts.into, opts.standby).await?;
    let chosen = restore::choose_backup(ctx, &opts.choice).await?;
    let m = chosen.manifest.clone();
    tracing::info!(id = %m.id, pbx = %pbx.url, standby = opts.standby, "restore into 3CX: chose the backup");
    let identity = pbx
        .client
        .identity()
        .await
        .map_err(|error| IntoError::Pbx {
            step: "read the PBX's version",
            error,
        })?;
    if opts.standby {
        refuse_a_source_as_standby(ctx, &pbx, &opts.into, identity.fqdn.as_deref()).await?;
    }
    let pbx_version = identity.version.ok_or_else(|| IntoError::NoVersion {
        pbx: pbx.url.clone(),
    })?;
    into_pbx::version_allows(m.pbx_version(), &pbx_version)?;
    let password = password_for(&m, &pbx, &opts.into)?;
    let mut report = IntoReport::new(&m, &pbx, &pbx_version, opts);
    report.step(Step::Chose {
        id: m.id.clone(),
        bytes: m.plain.bytes,
        version: m.pbx_version().map(str::to_string),
        pbx_encrypted: m.plain.pbx_encrypted,
        fingerprint: m.pbx.as_ref().and_then(|p| p.fingerprint),
    });
    report.step(Step::VersionAllows {
        pbx: pbx.url.clone(),
        version: pbx_version.clone(),
    });
    if opts.dry_run {
        report.steps = plan(&m, &pbx, &pbx_version, opts.keep);
        report.seconds = started.seconds_ms();
        return Ok(report);
    }
    let identities = Arc::new(crate::seal::load_identities(&opts.identity).map_err(OpError::from)?);
    let unsealed = restore::unseal(
        ctx,
        &chosen,
        identities,
        &ctx.state.path("restore-into.zip"),
    )
    .await?;
    report.step(Step::Unseal {
        id: m.id.clone(),
        target: Some(unsealed.target.clone()),
    });
    let step = std::sync::Mutex::new(String::from("placing the zip"));
    let outcome = {
        let work = put_back(&pbx, &unsealed, &m, &password, &mut report, &step, &started);
        tokio::pin!(work);
        tokio::select! {
            r = &mut work => r,
            () = interrupted => Err(IntoError::Interrupted {
                step: step.lock().map(|s| s.clone()).unwrap_or_default(),
            }),
        }
    };
    drop(unsealed);
    let keep = opts.keep && outcome.is_ok();
    let name = report.placed.clone();
    if keep {
        report.step(Step::Keep { name });
    } else {
        remove_placed(&pbx, &name).await;
        report.step(Step::Remove { name });
    }
    report.kept = keep;
    report.seconds = started.seconds_ms();
    outcome.map(|()| report)
}

/// Steps 4 to 8.
async fn put_back(
    pbx: &IntoPbx,
    unsealed: &restore::Unsealed,
    m: &Manifest,
    password: &str,
    report: &mut IntoReport,
    step: &std::sync::Mutex<String>,
    started: &super::Stopwatch,
) -> Result<(), IntoError> {
    let name = report.placed.clone();
    let mut payload = Payload::file(unsealed.file.reopen_path(), m.plain.bytes);
    // The unnamed file is never taken as the copy itself (a hard link of it).
    let _ = payload.claim_file();
    payload = payload.metered(indicatif::ProgressBar::hidden());
    pbx.via
        .put(&name, &payload)
        .await
        .map_err(|error| IntoError::Place {
            name: name.clone(),
            via: pbx.via_location.clone(),
            error,
        })?;
    report.step(Step::Place {
        name: name.clone(),
        via: pbx.via_location.clone(),
    });
    tracing::info!(file = %name, via = %pbx.via_location, "restore into 3CX: placed the zip");
    set(step, "waiting for the PBX to list the zip");
    wait_listed(pbx, &name, m.plain.bytes, started).await?;
    report.step(Step::Listed {
        name: name.clone(),
        bytes: m.plain.bytes,
        bound: pbx.restart_timeout.as_secs_f64(),
    });
    let extras = pbx
        .client
        .extras(&name)
        .await
        .map_err(|error| IntoError::Pbx {
            step: "read GetBackupExtras",
            error,
        })?;
    if let Some(v) = &extras.version {
        into_pbx::version_allows(Some(v), &report.pbx_version)?;
    }
    let Some(footprint) = extras.footprint else {
        return Err(IntoError::Refused {
            name,
            why: "GetBackupExtras gave no footprint, which Pbx.Restore needs".into(),
        });
    };
    if extras.is_encrypted == Some(true) && password.is_empty() {
        return Err(IntoError::NoPassword {
            id: m.id.clone(),
            source_name: report.source.clone(),
        });
    }
    report.step(Step::Extras {
        version: extras.version.clone(),
        footprint: Some(footprint),
        encrypted: extras.is_encrypted == Some(true),
    });
    set(step, "asking 3CX to restore");
    let restore_started = started.seconds();
    pbx.client
        .restore(&name, footprint, password)
        .await
        .map_err(|error| IntoError::Refused {
            name: name.clone(),
            why: refusal(&error),
        })?;
    report.step(Step::Restore { name: name.clone() });
    tracing::info!(file = %name, "restore into 3CX: the PBX restores and restarts");
    set(step, "waiting for the PBX to answer after the restore");
    let (version, found, comparison) = wait_back(pbx, m, started, restore_started).await?;
    report.seconds_to_answer = Some((started.seconds() * 1000.0).round() / 1000.0);
    report.step(Step::Answered {
        version: Some(version.clone()),
        comparison: Some(comparison.clone()),
        bound: pbx.restart_timeout.as_secs_f64(),
    });
    report.version_after = Some(version);
    report.found = found;
    report.comparison = Some(comparison);
    Ok(())
}

fn set(step: &std::sync::Mutex<String>, now: &str) {
    if let Ok(mut s) = step.lock() {
        *s = now.to_string();
    }
}

/// What 3CX said when it refused a restore, and what to do about it.
fn refusal(e: &SourceError) -> String {
    let said = e.to_string();
    let lower = said.to_ascii_lowercase();
    let hint = if lower.contains("password") {
        "; 3CX took the backup password as wrong: check backup_password (the password 3CX encrypted the backup with)"
    } else if lower.contains("footprint") {
        "; the file changed between GetBackupExtras and Pbx.Restore (another restore or upload?): run again"
    } else if lower.contains("newer") {
        "; update the PBX to the backup's version or later"
    } else {
        ""
    };
    format!("{said}{hint}")
}

/// Polls `GET Backups` until the placed zip is listed at its full size, bounded.
async fn wait_listed(
    pbx: &IntoPbx,
    name: &str,
    bytes: u64,
    started: &super::Stopwatch,
) -> Result<(), IntoError> {
    let from = started.seconds();
    loop {
        match tokio::time::timeout(ASK, pbx.client.listed_size(name)).await {
            Ok(Ok(Some(size))) if size == bytes => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::info!(error = %e, "the PBX's backup list cannot be read yet"),
            Err(_) => tracing::info!("the PBX's backup list did not come within {ASK:?}"),
        }
        let waited = Duration::from_secs_f64(started.seconds() - from);
        let Some(pause) = into_pbx::next_poll(waited, pbx.restart_timeout, POLL) else {
            return Err(IntoError::NeverListed {
                pbx: pbx.url.clone(),
                name: name.into(),
                bytes,
                via: pbx.via_location.clone(),
                bound: pbx.restart_timeout,
            });
        };
        tokio::time::sleep(pause).await;
    }
}

/// Polls the PBX after `Pbx.Restore` until it answers with its version and fingerprint,
/// compared with the manifest's. An answer that differs, before the PBX was ever seen down,
/// may be the PBX before its restart: it is asked again until it matches, goes down and
/// comes back, or the bound passes (then the last answer is the result). With no recorded
/// fingerprint there is nothing to wait for: the first answer is the result.
async fn wait_back(
    pbx: &IntoPbx,
    m: &Manifest,
    started: &super::Stopwatch,
    from: f64,
) -> Result<(String, Option<Fingerprint>, Comparison), IntoError> {
    let recorded = m.pbx.as_ref().and_then(|p| p.fingerprint.as_ref());
    let mut seen_down = false;
    let mut last = None;
    loop {
        let asked = async {
            let identity = pbx.client.identity().await?;
            // Counted only when there is something to compare them with.
            let found = match recorded {
                Some(_) => Some(pbx.client.fingerprint().await?),
                None => None,
            };
            Ok::<_, SourceError>((identity.version.unwrap_or_default(), found))
        };
        match tokio::time::timeout(ASK, asked).await {
            Ok(Ok((version, found))) => {
                let comparison = match &found {
                    Some(f) => into_pbx::compare(recorded, m.pbx_version(), f, &version),
                    None => Comparison::NoFingerprint,
                };
                let differs = matches!(comparison, Comparison::Differs { .. });
                if !differs || seen_down {
                    return Ok((version, found, comparison));
                }
                last = Some((version, found, comparison));
            }
            Ok(Err(e)) => {
                seen_down = true;
                tracing::info!(error = %e, "the PBX does not answer yet (restarting)");
            }
            Err(_) => seen_down = true,
        }
        let waited = Duration::from_secs_f64(started.seconds() - from);
        let Some(pause) = into_pbx::next_poll(waited, pbx.restart_timeout, POLL) else {
            return last.ok_or_else(|| IntoError::NotBack {
                pbx: pbx.url.clone(),
                bound: pbx.restart_timeout,
            });
        };
        tokio::time::sleep(pause).await;
    }
}

/// Removes the placed zip and any leftover of an interrupted placing of it.
async fn remove_placed(pbx: &IntoPbx, name: &str) {
    let mut names = vec![name.to_string()];
    if let Ok(all) = pbx.via.list("").await {
        names.extend(
            all.into_iter()
                .map(|o| o.path)
                .filter(|p| p.starts_with(&format!("{name}.")) && p.ends_with(".partial")),
        );
    }
    for n in names {
        match pbx.via.delete(&n).await {
            Ok(()) => tracing::info!(file = %n, "removed from the PBX's repository"),
            Err(e) => {
                tracing::error!(file = %n, error = %e, "could not remove the placed zip from the PBX's repository: remove it by hand, it holds the PBX's secrets in clear")
            }
        }
    }
}

/// 3CX's backup password, when the backup needs one.
fn password_for(m: &Manifest, pbx: &IntoPbx, source: &str) -> Result<String, IntoError> {
    if !m.plain.pbx_encrypted {
        return Ok(String::new());
    }
    let no = || IntoError::NoPassword {
        id: m.id.clone(),
        source_name: source.into(),
    };
    let secret = pbx.password.as_ref().ok_or_else(no)?;
    secret.resolve().map_err(|e| {
        tracing::error!(error = %e, "backup_password cannot be read");
        no()
    })
}

/// A standby is never a configured PBX: refused when the FQDN it reports is the host of any
/// source's URL (no request), or the FQDN the drilled source itself reports (one request,
/// bounded: a live PBX that is down, which is when the drill matters, does not stop it).
async fn refuse_a_source_as_standby(
    ctx: &Ctx,
    pbx: &IntoPbx,
    source: &str,
    fqdn: Option<&str>,
) -> Result<(), IntoError> {
    use crate::config::SourceKind;
    let Some(fqdn) = fqdn.map(str::to_ascii_lowercase) else {
        return Ok(());
    };
    let refused = |name: &str| IntoError::StandbyIsSource {
        pbx: pbx.url.clone(),
        fqdn: fqdn.clone(),
        source_name: name.into(),
    };
    for s in &ctx.config.sources {
        let url = match &s.kind {
            SourceKind::ThreeCx(t) => &t.url,
            SourceKind::ThreeCxV18(t) => &t.url,
            _ => continue,
        };
        let host = crate::config::http_host_port(url).map(|(h, _)| h.to_ascii_lowercase());
        if host.as_deref() == Some(fqdn.as_str()) {
            return Err(refused(&s.name));
        }
    }
    let own = ctx.config.sources.iter().find_map(|s| match &s.kind {
        SourceKind::ThreeCx(t) if s.name == source => Some(ThreeCx::new(&s.name, t.clone())),
        _ => None,
    });
    if let Some(live) = own {
        let reported = tokio::time::timeout(ASK, live.identity())
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|i| i.fqdn)
            .map(|f| f.to_ascii_lowercase());
        if reported.as_deref() == Some(fqdn.as_str()) {
            return Err(refused(source));
        }
    }
    Ok(())
}

/// The steps a run would take, for `--dry-run`.
fn plan(m: &Manifest, pbx: &IntoPbx, pbx_version: &str, keep: bool) -> Vec<Step> {
    let name = into_pbx::placed_name(&m.id);
    let bound = pbx.restart_timeout.as_secs_f64();
    vec![
        Step::Chose {
            id: m.id.clone(),
            bytes: m.plain.bytes,
            version: m.pbx_version().map(str::to_string),
            pbx_encrypted: m.plain.pbx_encrypted,
            fingerprint: m.pbx.as_ref().and_then(|p| p.fingerprint),
        },
        Step::VersionAllows {
            pbx: pbx.url.clone(),
            version: pbx_version.into(),
        },
        Step::Unseal {
            id: m.id.clone(),
            target: None,
        },
        Step::Place {
            name: name.clone(),
            via: pbx.via_location.clone(),
        },
        Step::Listed {
            name: name.clone(),
            bytes: m.plain.bytes,
            bound,
        },
        Step::Extras {
            version: None,
            footprint: None,
            encrypted: m.plain.pbx_encrypted,
        },
        Step::Restore { name: name.clone() },
        Step::Answered {
            version: None,
            comparison: None,
            bound,
        },
        if keep {
            Step::Keep { name }
        } else {
            Step::Remove { name }
        },
    ]
}

impl IntoReport {
    fn new(m: &Manifest, pbx: &IntoPbx, pbx_version: &str, opts: &IntoOptions) -> IntoReport {
        IntoReport {
            id: m.id.clone(),
            source: opts.into.clone(),
            pbx: pbx.url.clone(),
            standby: opts.standby,
            placed: into_pbx::placed_name(&m.id),
            via: pbx.via_location.clone(),
            backup_version: m.pbx_version().map(str::to_string),
            pbx_version: pbx_version.into(),
            version_after: None,
            recorded: m.pbx.as_ref().and_then(|p| p.fingerprint),
            found: None,
            comparison: None,
            pbx_encrypted: m.plain.pbx_encrypted,
            seconds_to_answer: None,
            seconds: 0.0,
            dry_run: opts.dry_run,
            kept: false,
            steps: Vec::new(),
        }
    }

    fn step(&mut self, s: Step) {
        self.steps.push(s);
    }
}
