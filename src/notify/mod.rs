//! Telling people: webhooks, healthchecks.io-style pings and e-mail, for what a backup, a
//! drill or a check found.
//!
//! Which event a run is ([`events_of_backup`]) is decided from its report and the previous
//! outcome of the source (remembered in `state_dir/notify.json`, for `recovered`). Sending
//! is best effort and bounded: each notifier gets a few tries with backoff, the whole
//! delivery a deadline, and a notifier that fails is logged and counted
//! (`pbx321_notify_failures_total{notifier}`) — it never fails or delays a backup.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Event, Notifier, NotifyKind};
use crate::fanout::Outcome;
use crate::outcome::{BackupReport, RunResult};
use crate::state::StateDir;

mod email;

/// Tries per notifier and message, and the pauses between them.
const RETRY: crate::backoff::Backoff = crate::backoff::Backoff {
    attempts: 3,
    first: Duration::from_millis(500),
    max: Duration::from_secs(4),
    jitter: 0.25,
};
/// One try of one notifier.
const TRY_TIMEOUT: Duration = Duration::from_secs(20);

/// One thing that happened, for every notifier that wants it.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub event: Event,
    pub at: DateTime<Utc>,
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    /// The verdict in words ("3-2-1 OK — 3 copies, 2 media, 1 offsite").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Why the rule is not met, or why the run failed.
    pub reasons: Vec<String>,
    /// Per target: "written", "present" or the error.
    pub targets: Vec<TargetLine>,
    /// One line for a subject.
    pub summary: String,
    /// What happened, which copies exist, and what to do.
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetLine {
    pub target: String,
    pub ok: bool,
    pub detail: String,
}

/// What was delivered.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub notifier: String,
    pub event: Event,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `notify.json` remembers: each source's last backup outcome, and delivery failures
/// per notifier over all runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Memory {
    #[serde(default)]
    pub last: BTreeMap<String, Event>,
    #[serde(default)]
    pub failures_total: BTreeMap<String, u64>,
}

const MEMORY_FILE: &str = "notify.json";

impl Memory {
    pub fn load(state: &StateDir) -> Memory {
        state.read_json(MEMORY_FILE)
    }

    pub fn save(&self, state: &StateDir) {
        state.write_json(MEMORY_FILE, self, "notification state");
    }
}

fn host() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// The messages a backup run makes: per source `success`, `degraded` or `failure`, and
/// `recovered` when it succeeds after a failure or a degraded run (`last`: each source's
/// previous outcome, updated here).
pub fn events_of_backup(
    r: &BackupReport,
    last: &mut BTreeMap<String, Event>,
    at: DateTime<Utc>,
) -> Vec<Message> {
    let host = host();
    let rule = &r.rule;
    let rule_name = format!("{}-{}-{}", rule.copies, rule.media, rule.offsite);
    let mut out = Vec::new();
    for s in &r.sources {
        let o = outcome_of(&s.result, &rule_name);
        let summary = match o.event {
            Event::Success => format!("pbx321: backup of {} OK", s.source),
            Event::Degraded => format!(
                "pbx321: backup of {} written, but the {rule_name} rule is NOT met",
                s.source
            ),
            _ => format!("pbx321: backup of {} FAILED", s.source),
        };
        let text = mail_text(&summary, &host, at, &o);
        let previous = last.insert(s.source.clone(), o.event);
        let base = Message {
            event: o.event,
            at,
            host: host.clone(),
            source: Some(s.source.clone()),
            backup_id: o.backup_id,
            verdict: o.verdict,
            reasons: o.reasons,
            targets: o.targets,
            summary,
            text,
        };
        if o.event == Event::Success && matches!(previous, Some(Event::Failure | Event::Degraded)) {
            let mut rec = base.clone();
            rec.event = Event::Recovered;
            rec.summary = format!("pbx321: backup of {} recovered", s.source);
            rec.text = rec.text.replacen(&base.summary, &rec.summary, 1);
            out.push(rec);
        }
        out.push(base);
    }
    out
}

/// One source's run, as a message tells it.
struct RunOutcome {
    event: Event,
    backup_id: Option<String>,
    /// The verdict in words.
    verdict: Option<String>,
    reasons: Vec<String>,
    targets: Vec<TargetLine>,
}

fn outcome_of(result: &RunResult, rule_name: &str) -> RunOutcome {
    let (id, verdict, targets) = match result {
        RunResult::Failed { error } => {
            return RunOutcome {
                event: Event::Failure,
                backup_id: None,
                verdict: None,
                reasons: vec![error.clone()],
                targets: vec![],
            };
        }
        RunResult::Stored {
            id,
            verdict,
            targets,
            ..
        } => (id, verdict, targets),
    };
    let lines: Vec<TargetLine> = targets
        .iter()
        .map(|t| TargetLine {
            target: t.target.clone(),
            ok: t.outcome.has_copy(),
            detail: match &t.outcome {
                Outcome::Written { .. } => "written and verified".into(),
                Outcome::Present => "already held this copy".into(),
                Outcome::Failed { error } | Outcome::Conflict { error } => error.clone(),
            },
        })
        .collect();
    let event = if verdict.ok {
        Event::Success
    } else if verdict.copies > 0 {
        Event::Degraded
    } else {
        Event::Failure
    };
    let words = format!(
        "{rule_name} {} — {} copies, {} media, {} offsite{}",
        if verdict.ok { "OK" } else { "RULE NOT MET" },
        verdict.copies,
        verdict.media,
        verdict.offsite,
        if verdict.declared.is_empty() {
            String::new()
        } else {
            format!(
                " (media and location declared, not verified: {})",
                verdict.declared.join(", ")
            )
        }
    );
    RunOutcome {
        event,
        backup_id: Some(id.clone()),
        verdict: Some(words),
        reasons: verdict.reasons.clone(),
        targets: lines,
    }
}

/// The plain text of a backup message (an e-mail's body).
fn mail_text(summary: &str, host: &str, at: DateTime<Utc>, o: &RunOutcome) -> String {
    let mut text = format!(
        "{summary} (host {host}, {}).\n\n",
        at.format("%Y-%m-%d %H:%M UTC")
    );
    if let Some(id) = &o.backup_id {
        text.push_str(&format!("Backup: {id}\n"));
    }
    if let Some(v) = &o.verdict {
        text.push_str(&format!("Verdict: {v}\n"));
    }
    for r in &o.reasons {
        text.push_str(&format!("  - {r}\n"));
    }
    if !o.targets.is_empty() {
        text.push_str("\nCopies:\n");
        for t in &o.targets {
            text.push_str(&format!(
                "  {} {}: {}\n",
                if t.ok { "ok    " } else { "FAILED" },
                t.target,
                t.detail
            ));
        }
    }
    text.push_str(match o.event {
        Event::Success => "\nNothing to do.\n",
        Event::Degraded => "\nWhat to do: fix the failed targets above; the backup stays pending in the spool and the next run (or `pbx321 repair`) completes it. `pbx321 check` shows the state of every copy.\n",
        _ => "\nWhat to do: read the error above (is the PBX reachable, are its credentials valid?), then run `pbx321 backup` by hand. The last good backup is still on the targets: `pbx321 list`.\n",
    });
    text
}

/// A failed restore drill.
pub fn drill_failed(
    source: &str,
    id: &str,
    target: &str,
    error: &str,
    at: DateTime<Utc>,
) -> Message {
    let summary = format!("pbx321: restore drill of {source} FAILED");
    Message {
        event: Event::DrillFailed,
        at,
        host: host(),
        source: Some(source.into()),
        backup_id: Some(id.into()),
        verdict: None,
        reasons: vec![error.into()],
        targets: vec![],
        text: format!(
            "{summary}: {id} from {target} could not be restored: {error}.\n\nWhat to do: run `pbx321 check --deep --identity KEY` by hand; if a copy is corrupt, `pbx321 repair --deep` replaces it from a good one.\n"
        ),
        summary,
    }
}

/// A failed standby drill: the backup did not restore into the standby 3CX as recorded.
pub fn standby_drill_failed(source: &str, d: &crate::facts::StandbyDrillFact) -> Message {
    let summary = format!("pbx321: standby drill of {source} FAILED");
    let reasons = d.why();
    let id = (!d.id.is_empty()).then(|| d.id.clone());
    Message {
        event: Event::DrillFailed,
        at: d.at,
        host: host(),
        source: Some(source.into()),
        backup_id: id.clone(),
        verdict: None,
        text: format!(
            "{summary}: {} into the standby {}: {}.\n\nWhat to do: run `pbx321 drill --standby {source}` by hand and read each step; if the counts differ, compare the standby's configuration with the live PBX's (a trunk or user lost in the backup is lost in a restore too).\n",
            id.as_deref().unwrap_or("no backup"),
            d.pbx,
            reasons.join("; ")
        ),
        reasons,
        targets: vec![],
        summary,
    }
}

/// Sends `drill-failed` for each failed standby drill.
pub async fn after_standby_drills(
    notifiers: &[Notifier],
    state: &crate::state::StateDir,
    failed: &[(String, crate::facts::StandbyDrillFact)],
) {
    if failed.is_empty() || notifiers.is_empty() {
        return;
    }
    let msgs: Vec<Message> = failed
        .iter()
        .map(|(s, d)| standby_drill_failed(s, d))
        .collect();
    let mut memory = Memory::load(state);
    send(notifiers, &msgs, &mut memory).await;
    memory.save(state);
}

/// The status of a check changed.
pub fn check_changed(from: &str, to: &str, first_line: &str, at: DateTime<Utc>) -> Message {
    let summary = format!("pbx321: check is {to} (was {from})");
    Message {
        event: Event::CheckChanged,
        at,
        host: host(),
        source: None,
        backup_id: None,
        verdict: None,
        reasons: vec![first_line.into()],
        targets: vec![],
        text: format!("{summary}\n\n{first_line}\n\nRun `pbx321 check` for every copy's state.\n"),
        summary,
    }
}

/// Whether notifier `n` may hear of `m`: a tenant's notifier only of its own sources, never
/// of what names no source (it could concern any tenant).
fn hears(n: &Notifier, m: &Message) -> bool {
    match &n.only {
        None => true,
        Some(own) => m.source.as_ref().is_some_and(|s| own.contains(s)),
    }
}

/// Sends every message to every notifier that wants its event (healthchecks: success,
/// degraded and failure become a ping or a `/fail` ping), with retries; returns what was
/// delivered and what was not. Counts failures in `memory`.
pub async fn send(
    notifiers: &[Notifier],
    messages: &[Message],
    memory: &mut Memory,
) -> Vec<Delivery> {
    let http = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(TRY_TIMEOUT)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("notifications not sent: HTTP client: {e}");
            return Vec::new();
        }
    };
    let mut jobs = Vec::new();
    for n in notifiers {
        for m in messages
            .iter()
            .filter(|m| n.on.contains(&m.event) && hears(n, m))
        {
            jobs.push(async {
                let error = with_retries(|| deliver(&http, n, m))
                    .await
                    .err()
                    .map(|e| e.to_string());
                if let Some(e) = &error {
                    tracing::warn!(notifier = %n.name, event = m.event.word(), error = %crate::secret::redact(e), "notification not delivered");
                }
                Delivery {
                    notifier: n.name.clone(),
                    event: m.event,
                    error: error.map(|e| crate::secret::redact(&e).into_owned()),
                }
            });
        }
    }
    let out = futures::future::join_all(jobs).await;
    for d in out.iter().filter(|d| d.error.is_some()) {
        *memory.failures_total.entry(d.notifier.clone()).or_default() += 1;
    }
    out
}

/// Tells healthchecks-style notifiers that a run started (`url/start`). Best effort, one try.
pub async fn started(notifiers: &[Notifier]) {
    let Ok(http) = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return;
    };
    for n in notifiers {
        if let NotifyKind::Healthchecks { url } = &n.kind {
            let url = match notify_url(url) {
                Ok(u) => u,
                Err(e) => {
                    tracing::info!(notifier = %n.name, "start ping not sent: {e}");
                    continue;
                }
            };
            if let Err(e) = http.post(format!("{url}/start")).send().await {
                tracing::info!(notifier = %n.name, "start ping not delivered: {}", e.without_url());
            }
        }
    }
}

/// Why a notification was not delivered (the delivery record and the log word it).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// A secret (the URL, a header, the SMTP password) could not be read.
    #[error("{what}: {error}")]
    Secret {
        what: String,
        error: crate::secret::SecretError,
    },
    /// The notifier's URL, as read, is refused.
    #[error("url {0}")]
    Url(crate::config::Invalid),
    #[error("{0}")]
    Encode(#[from] serde_json::Error),
    /// The request did not get an answer (the URL never shown, only its origin).
    #[error("{origin}: {error}")]
    Http {
        origin: String,
        error: reqwest::Error,
    },
    #[error("{origin} answered {status}")]
    Status {
        origin: String,
        status: reqwest::StatusCode,
    },
    #[error(transparent)]
    Email(#[from] email::EmailError),
    #[error("no answer within {}s", .0.as_secs())]
    Timeout(Duration),
    #[error("gave up after {tries} tries: {last}")]
    GaveUp {
        tries: u32,
        last: Box<DeliveryError>,
    },
}

async fn with_retries<F, Fut>(mut f: F) -> Result<(), DeliveryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), DeliveryError>>,
{
    let one_try = |_| {
        let attempt = f();
        async move {
            match tokio::time::timeout(TRY_TIMEOUT, attempt).await {
                Ok(r) => r,
                Err(_) => Err(DeliveryError::Timeout(TRY_TIMEOUT)),
            }
        }
    };
    RETRY
        .run(one_try, |_| true, |_, _, _| {})
        .await
        .map_err(|(last, tries)| DeliveryError::GaveUp {
            tries,
            last: Box::new(last),
        })
}

/// A notifier's URL, read (from the config, the environment or a file) and checked. It is
/// never printed: errors name only its scheme and host.
fn notify_url(url: &crate::secret::Secret) -> Result<String, DeliveryError> {
    let url = url.resolve().map_err(|error| DeliveryError::Secret {
        what: "url".into(),
        error,
    })?;
    crate::config::notify_url(&url).map_err(DeliveryError::Url)?;
    Ok(url.trim_end_matches('/').to_string())
}

/// POSTs `body` to `to`; an answer that is not a success is an error.
async fn post(
    http: &reqwest::Client,
    to: &str,
    req: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Result<(), DeliveryError> {
    let origin = crate::secret::url_origin(to);
    let resp = req(http.post(to))
        .send()
        .await
        .map_err(|e| DeliveryError::Http {
            origin: origin.clone(),
            error: e.without_url(),
        })?;
    if !resp.status().is_success() {
        return Err(DeliveryError::Status {
            origin,
            status: resp.status(),
        });
    }
    Ok(())
}

async fn deliver(http: &reqwest::Client, n: &Notifier, m: &Message) -> Result<(), DeliveryError> {
    match &n.kind {
        NotifyKind::Webhook { url, headers } => {
            let url = notify_url(url)?;
            let body = serde_json::to_vec(m)?;
            let mut values = Vec::new();
            for (name, secret) in headers {
                let value = secret.resolve().map_err(|error| DeliveryError::Secret {
                    what: format!("header {name}"),
                    error,
                })?;
                values.push((name.clone(), value));
            }
            post(http, &url, |mut req| {
                req = req.header("content-type", "application/json").body(body);
                for (name, value) in values {
                    req = req.header(name.as_str(), value);
                }
                req
            })
            .await
        }
        NotifyKind::Healthchecks { url } => {
            let url = notify_url(url)?;
            let to = match m.event {
                Event::Success | Event::Recovered => url.clone(),
                _ => format!("{url}/fail"),
            };
            post(http, &to, |req| req.body(m.text.clone())).await
        }
        NotifyKind::Email { .. } => Ok(email::send(n, m).await?),
    }
}

/// After a backup run (`pbx321 backup` or the daemon's): the events it makes, sent to the
/// configured notifiers within a deadline, and the sources' outcomes remembered.
pub async fn after_backup(
    notifiers: &[Notifier],
    state: &StateDir,
    report: &BackupReport,
    at: DateTime<Utc>,
) -> Vec<Delivery> {
    let mut memory = Memory::load(state);
    let messages = events_of_backup(report, &mut memory.last, at);
    let deliveries = if notifiers.is_empty() {
        Vec::new()
    } else {
        match tokio::time::timeout(DEADLINE, send(notifiers, &messages, &mut memory)).await {
            Ok(d) => d,
            Err(_) => {
                tracing::warn!(
                    "notifications still undelivered after {}s: given up",
                    DEADLINE.as_secs()
                );
                Vec::new()
            }
        }
    };
    memory.save(state);
    deliveries
}

/// All notifications of one run, at most.
const DEADLINE: Duration = Duration::from_secs(90);

/// A backup run that stopped before backing up any source (the state directory locked or
/// unwritable, a signing key that cannot be read): a failure for every notifier.
pub async fn run_failed(notifiers: &[Notifier], error: &str, at: DateTime<Utc>) {
    if notifiers.is_empty() {
        return;
    }
    let summary = "pbx321: backup run FAILED before backing anything up".to_string();
    let m = Message {
        event: Event::Failure,
        at,
        host: host(),
        source: None,
        backup_id: None,
        verdict: None,
        reasons: vec![error.to_string()],
        targets: vec![],
        text: format!(
            "{summary} (host {}).\n\n  - {error}\n\nWhat to do: run `pbx321 backup` by hand and fix what it says; `pbx321 config check --online` tests every source and target.\n",
            host()
        ),
        summary,
    };
    let mut memory = Memory::default();
    let _ = tokio::time::timeout(DEADLINE, send(notifiers, &[m], &mut memory)).await;
}
