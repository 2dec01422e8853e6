//! `[daemon]`, `[schedule]`, a source's `schedule` and `[[notify]]`: what `pbx321 daemon`
//! runs when, and whom it tells.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use super::{Cx, Secret, Zone};

/// A cron expression as written, parsed by `croner`: POSIX 5 fields (an optional leading
/// 6th field is seconds), weekdays 0–7 with 0 and 7 = Sunday, day-of-month and day-of-week
/// ORed as in Vixie cron.
#[derive(Debug, Clone)]
pub struct CronSpec {
    pub text: String,
    pub cron: croner::Cron,
}

impl PartialEq for CronSpec {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// Parses a crontab expression the way admins mean it.
pub fn parse_cron(text: &str) -> Result<CronSpec, super::Invalid> {
    use croner::parser::{CronParser, Seconds, Year};
    let fields = text.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(super::Invalid(format!(
            "{text:?} has {fields} fields; write 5 (minute hour day-of-month month day-of-week, e.g. \"30 2 * * *\") or 6 with seconds first"
        )));
    }
    let parser = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build();
    parser
        .parse(text)
        .map(|cron| CronSpec {
            text: text.to_string(),
            cron,
        })
        .map_err(|e| super::Invalid(format!("{text:?} is not a cron expression ({e}); e.g. \"30 2 * * 1-5\" is 02:30 Monday to Friday")))
}

/// `[daemon]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    /// Where the schedules' hours are: default the system's zone.
    pub zone: Zone,
    pub listen: SocketAddr,
    /// Required (Bearer) when `listen` is not a loopback address.
    pub auth_token: Option<Secret>,
    /// Sources backed up at once.
    pub max_concurrent: usize,
    /// Each run starts up to this much later than its slot (random), to spread a fleet.
    pub jitter: Duration,
    /// Running uploads get this long to finish on SIGTERM.
    pub shutdown_grace: Duration,
    /// Only the sources whose name hashes to shard I of N.
    pub shard: Option<Shard>,
    /// The status page shows "back up now" and "check now" buttons.
    pub allow_actions: bool,
}

impl Default for Daemon {
    fn default() -> Daemon {
        Daemon {
            zone: Zone::Local,
            listen: SocketAddr::from(([127, 0, 0, 1], 9321)),
            auth_token: None,
            max_concurrent: 4,
            jitter: Duration::ZERO,
            shutdown_grace: Duration::from_secs(120),
            shard: None,
            allow_actions: false,
        }
    }
}

/// Shard `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// "I/N", 0 ≤ I < N.
    pub fn parse(s: &str) -> Result<Shard, super::Invalid> {
        let bad = || {
            super::Invalid(format!(
                "shard {s:?} is not I/N with 0 <= I < N (e.g. \"0/3\")"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether `source` belongs to this shard: a stable hash of its name (FNV-1a), the same
    /// on every machine and in every version.
    pub fn takes(&self, source: &str) -> bool {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in source.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h % u64::from(self.count) == u64::from(self.index)
    }
}

/// `[schedule]`: fleet-wide jobs, each optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schedule {
    pub check: Option<CronSpec>,
    pub deep_check: Option<CronSpec>,
    pub drill: Option<CronSpec>,
    /// When the daemon restores each source's newest backup into its standby 3CX.
    pub standby_drill: Option<CronSpec>,
    pub prune: Option<CronSpec>,
    pub repair: Option<CronSpec>,
    /// When the daemon writes the runbook to `[plan] write_to`.
    pub plan: Option<CronSpec>,
    /// The age identity a scheduled drill decrypts with.
    pub identity: Option<PathBuf>,
}

/// What a notifier is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// A backup met the rule.
    Success,
    /// Copies were written, but the rule is not met.
    Degraded,
    /// No copy was written.
    Failure,
    /// The first success after a failure or a degraded run.
    Recovered,
    DrillFailed,
    /// The status of a scheduled check changed.
    CheckChanged,
}

impl Event {
    pub fn word(self) -> &'static str {
        match self {
            Event::Success => "success",
            Event::Degraded => "degraded",
            Event::Failure => "failure",
            Event::Recovered => "recovered",
            Event::DrillFailed => "drill-failed",
            Event::CheckChanged => "check-changed",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notifier {
    /// "webhook 1", "email 2": for logs and metrics.
    pub name: String,
    pub kind: NotifyKind,
    pub on: Vec<Event>,
    /// `tenant = "acme"`: only that tenant's events.
    pub tenant: Option<String>,
    /// The sources whose events it gets (a tenant's), or every one (`None`). An event of
    /// no source (a check's status, a run that did not start) goes to no tenant notifier.
    pub only: Option<std::collections::BTreeSet<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NotifyKind {
    /// POST JSON. The URL often carries the secret (`…/hook/T000/B000/XXSECRETXX`): it may
    /// come from `{ env = … }` or `{ file = … }`, and is shown only as scheme and host.
    Webhook {
        url: Secret,
        headers: Vec<(String, Secret)>,
    },
    /// healthchecks.io / Uptime Kuma: `url/start`, `url` (success), `url/fail`.
    Healthchecks { url: Secret },
    Email {
        /// "host:port" (STARTTLS, required) or "smtps://host:port" (implicit TLS).
        smtp: String,
        username: Option<String>,
        password: Option<Secret>,
        from: String,
        to: Vec<String>,
        /// A private CA the relay's certificate is signed by (PEM), besides the system's.
        ca_file: Option<PathBuf>,
    },
}

/// Checks a notifier's URL: `https://`, or `http://` to this host only. The error shows
/// only its scheme and host (the rest may be the secret).
pub fn notify_url(url: &str) -> Result<(), super::Invalid> {
    let http_loopback = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split(['/', ':']).next())
        .is_some_and(super::is_loopback_host);
    if url.starts_with("https://") || http_loopback {
        Ok(())
    } else {
        Err(super::Invalid(format!(
            "{} must start with https:// (http:// only to this host)",
            crate::secret::url_origin(url)
        )))
    }
}

// ---- as written --------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemon {
    timezone: Option<Spanned<String>>,
    listen: Option<Spanned<String>>,
    auth_token: Option<Secret>,
    max_concurrent: Option<Spanned<i64>>,
    jitter: Option<Spanned<String>>,
    shutdown_grace: Option<Spanned<String>>,
    shard: Option<Spanned<String>>,
    allow_actions: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    check: Option<Spanned<String>>,
    deep_check: Option<Spanned<String>>,
    drill: Option<Spanned<String>>,
    standby_drill: Option<Spanned<String>>,
    prune: Option<Spanned<String>>,
    repair: Option<Spanned<String>>,
    plan: Option<Spanned<String>>,
    identity: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    url: Option<Spanned<Secret>>,
    #[serde(default)]
    headers: BTreeMap<String, Secret>,
    on: Option<Vec<Spanned<String>>>,
    smtp: Option<Spanned<String>>,
    username: Option<String>,
    password: Option<Secret>,
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    ca_file: Option<PathBuf>,
    tenant: Option<String>,
}

const NOTIFY_TYPES: &[&str] = &["webhook", "healthchecks", "email"];
const EVENTS: &[&str] = &[
    "success",
    "degraded",
    "failure",
    "recovered",
    "drill-failed",
    "check-changed",
];

impl Cx<'_> {
    pub(super) fn cron(&mut self, raw: &Spanned<String>, what: &str) -> Option<CronSpec> {
        match parse_cron(raw.get_ref()) {
            Ok(c) => Some(c),
            Err(why) => {
                self.problem(Some(raw.span()), format!("{what}: {why}"));
                None
            }
        }
    }

    pub(super) fn daemon(&mut self, raw: RawDaemon) -> Daemon {
        let mut d = Daemon::default();
        if let Some(tz) = &raw.timezone {
            d.zone = self.zone(tz, "[daemon] timezone");
        }
        if let Some(l) = &raw.listen {
            match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => d.listen = a,
                Err(_) => self.problem(
                    Some(l.span()),
                    format!(
                        "[daemon] listen = {:?} is not ADDRESS:PORT (e.g. \"127.0.0.1:9321\")",
                        l.get_ref()
                    ),
                ),
            }
            if !d.listen.ip().is_loopback() && raw.auth_token.is_none() {
                self.problem(
                    Some(l.span()),
                    format!(
                        "[daemon] listen = {:?} is not a loopback address: add auth_token = {{ env = \"PBX321_TOKEN\" }} (Bearer) so that only monitoring can read it",
                        l.get_ref()
                    ),
                );
            }
        }
        d.auth_token = raw.auth_token;
        d.allow_actions = raw.allow_actions.unwrap_or(false);
        if let Some(n) = &raw.max_concurrent {
            match *n.get_ref() {
                v @ 1..=1024 => d.max_concurrent = v as usize,
                v => self.problem(
                    Some(n.span()),
                    format!("[daemon] max_concurrent = {v} must be between 1 and 1024"),
                ),
            }
        }
        if let Some(j) = &raw.jitter {
            d.jitter = self.plain_duration(j, "[daemon] jitter", Duration::from_secs(3600));
        }
        if let Some(g) = &raw.shutdown_grace {
            d.shutdown_grace =
                self.plain_duration(g, "[daemon] shutdown_grace", Duration::from_secs(3600));
        }
        if let Some(s) = &raw.shard {
            match Shard::parse(s.get_ref()) {
                Ok(sh) => d.shard = Some(sh),
                Err(why) => self.problem(Some(s.span()), format!("[daemon] {why}")),
            }
        }
        d
    }

    /// A duration from 0 up to `max`.
    fn plain_duration(&mut self, raw: &Spanned<String>, what: &str, max: Duration) -> Duration {
        match humantime::parse_duration(raw.get_ref()) {
            Ok(d) if d <= max => d,
            _ => {
                self.problem(
                    Some(raw.span()),
                    format!(
                        "{what} = {:?} is not a duration up to {} (e.g. \"5m\")",
                        raw.get_ref(),
                        humantime::format_duration(max)
                    ),
                );
                Duration::ZERO
            }
        }
    }

    pub(super) fn zone(&mut self, raw: &Spanned<String>, what: &str) -> Zone {
        let s = raw.get_ref();
        if s.eq_ignore_ascii_case("utc") {
            return Zone::Utc;
        }
        match s.parse::<chrono_tz::Tz>() {
            Ok(tz) => Zone::Named(tz),
            Err(_) => {
                self.problem(
                    Some(raw.span()),
                    format!(
                        "{what} = {s:?} is not an IANA time zone; write e.g. \"Europe/Madrid\" or \"UTC\""
                    ),
                );
                Zone::Local
            }
        }
    }

    pub(super) fn schedule(&mut self, raw: RawSchedule, base: &Path) -> Schedule {
        let mut cron = |v: &Option<Spanned<String>>, key: &str| {
            v.as_ref()
                .and_then(|s| self.cron(s, &format!("[schedule] {key}")))
        };
        let s = Schedule {
            check: cron(&raw.check, "check"),
            deep_check: cron(&raw.deep_check, "deep_check"),
            drill: cron(&raw.drill, "drill"),
            standby_drill: cron(&raw.standby_drill, "standby_drill"),
            prune: cron(&raw.prune, "prune"),
            repair: cron(&raw.repair, "repair"),
            plan: cron(&raw.plan, "plan"),
            identity: raw.identity.map(|p| base.join(p)),
        };
        for (key, d) in [("drill", &raw.drill), ("standby_drill", &raw.standby_drill)] {
            if let (Some(d), None) = (d, &s.identity) {
                self.problem(
                    Some(d.span()),
                    format!("[schedule] {key} needs identity = \"/path/to/age-key.txt\" in [schedule] (the key the drill decrypts with)"),
                );
            }
        }
        s
    }

    /// The `schedule = "…"` of a `[[source]]` table.
    pub(super) fn source_schedule(
        &mut self,
        table: &Spanned<DeValue<'_>>,
        prefix: &str,
    ) -> Option<CronSpec> {
        let DeValue::Table(t) = table.get_ref() else {
            return None;
        };
        let (_, v) = t.iter().find(|(k, _)| k.get_ref() == "schedule")?;
        let text = self.value::<Spanned<String>>(v, &format!("{prefix}schedule = "))?;
        self.cron(&text, &format!("{prefix}schedule"))
    }

    pub(super) fn notifiers(
        &mut self,
        tables: &[&Spanned<DeValue<'_>>],
        base: &Path,
    ) -> Vec<Notifier> {
        let mut out = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            let prefix = format!("[[notify]] #{}: ", i + 1);
            let Some(raw) = self.section::<RawNotify>(t, &prefix) else {
                continue;
            };
            let span = raw.span();
            let raw = raw.into_inner();
            if let Some(n) = self.notifier(base, raw, span, &prefix, out.len() + 1) {
                if let NotifyKind::Webhook { url, .. } | NotifyKind::Healthchecks { url } = &n.kind
                {
                    self.secrets.push(super::SecretRef {
                        line: Some(self.line_of(t.span().start)),
                        what: format!("{prefix}url"),
                        secret: url.clone(),
                    });
                }
                if let NotifyKind::Webhook { headers, .. } = &n.kind {
                    for (h, secret) in headers {
                        self.secrets.push(super::SecretRef {
                            line: Some(self.line_of(t.span().start)),
                            what: format!("{prefix}header {h}"),
                            secret: secret.clone(),
                        });
                    }
                }
                if let NotifyKind::Email {
                    password: Some(p), ..
                } = &n.kind
                {
                    self.secrets.push(super::SecretRef {
                        line: Some(self.line_of(t.span().start)),
                        what: format!("{prefix}password"),
                        secret: p.clone(),
                    });
                }
                out.push(n);
            }
        }
        out
    }

    fn notifier(
        &mut self,
        base: &Path,
        raw: RawNotify,
        span: Range<usize>,
        prefix: &str,
        n: usize,
    ) -> Option<Notifier> {
        let kind_word = raw.kind.get_ref().as_str();
        let on = self.events_on(kind_word, raw.on, prefix);
        let url = |cx: &mut Self| -> Option<Secret> {
            let Some(u) = &raw.url else {
                cx.problem(
                    Some(span.clone()),
                    format!("{prefix}{kind_word} needs url = \"https://…\" (or {{ env = \"…\" }}, {{ file = \"…\" }})"),
                );
                return None;
            };
            // A URL given inline is checked now; one from the environment or a file when
            // it is read (and by `config check`).
            if let Secret::Inline(text) = u.get_ref()
                && let Err(why) = notify_url(text)
            {
                cx.problem(Some(u.span()), format!("{prefix}url {why}"));
                return None;
            }
            Some(u.get_ref().clone())
        };
        let kind = match kind_word {
            "webhook" => NotifyKind::Webhook {
                url: url(self)?,
                headers: raw.headers.into_iter().collect(),
            },
            "healthchecks" => NotifyKind::Healthchecks { url: url(self)? },
            "email" => {
                let Some(smtp) = raw.smtp else {
                    self.problem(
                        Some(span),
                        format!("{prefix}email needs smtp = \"host:587\" (STARTTLS) or \"smtps://host:465\""),
                    );
                    return None;
                };
                let (Some(from), false) = (raw.from, raw.to.is_empty()) else {
                    self.problem(
                        Some(span),
                        format!("{prefix}email needs from = \"…\" and to = [\"…\"]"),
                    );
                    return None;
                };
                if raw.password.is_some() && raw.username.is_none() {
                    self.problem(Some(span), format!("{prefix}password without username"));
                    return None;
                }
                NotifyKind::Email {
                    smtp: smtp.into_inner(),
                    username: raw.username,
                    password: raw.password,
                    from,
                    to: raw.to,
                    ca_file: raw.ca_file.map(|p| base.join(p)),
                }
            }
            other => {
                self.problem(
                    Some(raw.kind.span()),
                    format!(
                        "{prefix}unknown type {other:?}; {}",
                        super::did_you_mean(other, NOTIFY_TYPES)
                    ),
                );
                return None;
            }
        };
        Some(Notifier {
            name: format!("{kind_word} {n}"),
            kind,
            on,
            tenant: raw.tenant.clone(),
            only: None,
        })
    }

    /// The events a notifier hears: as listed in `on`, else its kind's default.
    fn events_on(
        &mut self,
        kind_word: &str,
        on: Option<Vec<Spanned<String>>>,
        prefix: &str,
    ) -> Vec<Event> {
        match on {
            None => match kind_word {
                "healthchecks" => vec![Event::Success, Event::Degraded, Event::Failure],
                _ => vec![
                    Event::Failure,
                    Event::Degraded,
                    Event::Recovered,
                    Event::DrillFailed,
                ],
            },
            Some(words) => {
                let mut on = Vec::new();
                for w in words {
                    match EVENTS.iter().position(|e| *e == w.get_ref()) {
                        Some(i) => on.push(
                            [
                                Event::Success,
                                Event::Degraded,
                                Event::Failure,
                                Event::Recovered,
                                Event::DrillFailed,
                                Event::CheckChanged,
                            ][i],
                        ),
                        None => self.problem(
                            Some(w.span()),
                            format!(
                                "{prefix}on: unknown event {:?}; {}",
                                w.get_ref(),
                                super::did_you_mean(w.get_ref(), EVENTS)
                            ),
                        ),
                    }
                }
                on
            }
        }
    }
}
