//! Readiness: is the PBX secured, and is the rest of the response plan in place? Judged from
//! plain facts ([`crate::facts::pbx::PbxFacts`], read through 3CX's XAPI) and the plan's
//! declared measures, at a time passed in. Pure: no I/O.
//!
//! Every item gets a status (ok, warning, critical, unknown, declared, info), a one-line
//! summary, the facts behind it and what to do. An endpoint the API client may not read
//! (403) makes its items `unknown`, with the role needed — never a failed backup.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::Status;
use crate::config::Plan;
use crate::facts::pbx::{Fetched, PbxFacts, Unreadable};

/// An item's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Critical,
    Unknown,
    /// A measure the plan declares (3CX cannot tell), tested recently enough.
    Declared,
    /// Worth knowing, not a fault.
    Info,
}

impl Level {
    pub fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Critical => "critical",
            Level::Unknown => "unknown",
            Level::Declared => "declared",
            Level::Info => "info",
        }
    }

    pub fn icon(self) -> &'static str {
        match self {
            Level::Ok | Level::Declared => "✔",
            Level::Warning => "▲",
            Level::Critical => "✖",
            Level::Unknown => "?",
            Level::Info => "ℹ",
        }
    }

    /// The value of `pbx321_readiness`: 0 ok (declared and info too), 1 warning, 2
    /// critical, 3 unknown.
    pub fn metric(self) -> u8 {
        match self {
            Level::Ok | Level::Declared | Level::Info => 0,
            Level::Warning => 1,
            Level::Critical => 2,
            Level::Unknown => 3,
        }
    }

    /// As a `check` status (when `affects_status`).
    pub fn status(self) -> Status {
        match self {
            Level::Ok | Level::Declared | Level::Info => Status::Ok,
            Level::Warning => Status::Warning,
            Level::Critical => Status::Critical,
            Level::Unknown => Status::Unknown,
        }
    }
}

/// One readiness item, judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub id: &'static str,
    pub status: Level,
    pub summary: String,
    /// The facts behind it, as read.
    pub facts: Vec<String>,
    /// What to do (empty when nothing).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
    /// What the item counts, for a metric (`pbx321_readiness_measure`): addresses blocked in
    /// the last 24 h, extensions with weak credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// What pbx321's own check said about the source's backups.
#[derive(Debug, Clone)]
pub struct BackupsFact {
    pub status: Status,
    pub reasons: Vec<String>,
    /// "3 of 3 copies, 2 of 2 media, 1 of 1 offsite" for the newest backup.
    pub counts: String,
}

/// The role an API client needs to read each endpoint.
const ROLE: &str = "System Owner (or System Admin)";

fn item(id: &'static str, status: Level, summary: impl Into<String>) -> Item {
    Item {
        id,
        status,
        summary: summary.into(),
        facts: Vec::new(),
        fix: String::new(),
        count: None,
    }
}

impl Item {
    fn facts(mut self, f: Vec<String>) -> Item {
        self.facts = f;
        self
    }

    fn fix(mut self, f: impl Into<String>) -> Item {
        self.fix = f.into();
        self
    }

    fn count(mut self, n: u64) -> Item {
        self.count = Some(n);
        self
    }
}

/// `unknown`, with why (and for a 403, the role needed).
fn unreadable(id: &'static str, endpoint: &str, u: &Unreadable) -> Item {
    if u.forbidden {
        item(
            id,
            Level::Unknown,
            format!("3CX refused to show {endpoint} to pbx321's API client (403)"),
        )
        .facts(vec![u.why.clone()])
        .fix(format!(
            "give the API client (Admin > Integrations > API) the {ROLE} role, or skip this item in [plan] skip"
        ))
    } else {
        item(
            id,
            Level::Unknown,
            format!("{endpoint} could not be read: {}", u.why),
        )
        .fix("check that the PBX answers (pbx321 config check --online)")
    }
}

/// `unknown`: the PBX answered but left the fact out (an older 3CX, or a field it keeps
/// empty).
fn not_reported(id: &'static str, what: &str) -> Item {
    item(id, Level::Unknown, format!("3CX did not report {what}")).fix(
        "update 3CX V20 to the latest update (older ones leave this out), or skip the item in [plan] skip",
    )
}

/// A time 3CX reports, or none for its "never" (year 1).
fn real(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.filter(|t| t.timestamp() > 946_684_800)
}

fn days(d: std::time::Duration) -> i64 {
    (d.as_secs() / 86400) as i64
}

fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn get<T>(f: &Fetched<T>) -> Result<&T, &Unreadable> {
    f.as_ref()
}

/// Judges every item for one source. `pbx` is `None` for a source that is not a 3CX V20
/// system (folder, command, V18): it gets `backups` and the declared items only.
pub fn judge(
    pbx: Option<&PbxFacts>,
    backups: Option<&BackupsFact>,
    plan: &Plan,
    now: DateTime<Utc>,
) -> Vec<Item> {
    let mut out = Vec::new();
    if let Some(b) = backups {
        out.push(backups_item(b));
    }
    if let Some(p) = pbx {
        out.push(os_updates(p, plan, now));
        out.push(firewall(p));
        out.push(phone_firmware(p));
        out.push(services(p));
        out.push(license(p, plan, now));
        out.push(disk(p, plan));
        out.extend(security::items(p, plan, now));
        out.push(trunk_redundancy(p));
        out.push(outbound_failover(p));
        out.push(web_channels(p));
        out.push(sms(p, plan));
        out.push(pbx_backup_schedule(p));
        out.push(pbx_backup_location(p));
        out.push(failover(p, plan));
    }
    for id in crate::config::DECLARED_ITEMS {
        out.push(declared(id, plan, now));
    }
    out.retain(|i| !plan.skips(i.id));
    out
}

/// The worst status among `items`, as a `check` status.
pub fn worst(items: &[Item]) -> Status {
    super::worst(items.iter().map(|i| i.status.status()))
}

fn backups_item(b: &BackupsFact) -> Item {
    let level = match b.status {
        Status::Ok => Level::Ok,
        Status::Warning => Level::Warning,
        Status::Critical => Level::Critical,
        Status::Unknown => Level::Unknown,
    };
    let summary = match b.status {
        Status::Ok => format!("the 3-2-1 rule holds: {}", b.counts),
        _ => b
            .reasons
            .first()
            .cloned()
            .unwrap_or_else(|| "the 3-2-1 rule does not hold".into()),
    };
    let mut facts = vec![b.counts.clone()];
    facts.extend(b.reasons.iter().cloned());
    let it = item("backups", level, summary).facts(facts);
    if level == Level::Ok {
        it
    } else {
        it.fix("see `pbx321 check` and docs/disaster-recovery.md; `pbx321 repair` refills missing copies")
    }
}

fn os_updates(p: &PbxFacts, plan: &Plan, now: DateTime<Utc>) -> Item {
    let s = match get(&p.system) {
        Ok(s) => s,
        Err(u) => return unreadable("os_updates", "SystemStatus", u),
    };
    let last = real(s.last_successful_update);
    let checked = real(s.last_check_for_updates);
    let facts = vec![
        format!(
            "automatic updates: {}",
            match s.auto_update_enabled {
                Some(true) => "on",
                Some(false) => "off",
                None => "not reported",
            }
        ),
        format!(
            "last successful update: {}",
            last.map(date).unwrap_or_else(|| "never reported".into())
        ),
        format!(
            "last check for updates: {}",
            checked.map(date).unwrap_or_else(|| "never reported".into())
        ),
    ];
    let max = days(plan.max_update_age);
    let old = match last {
        Some(t) => (now - t).num_days() > max,
        None => true,
    };
    let fix = "in the 3CX console, Updates: enable automatic updates and install the pending ones (the OS's too: Debian's unattended-upgrades)";
    match (s.auto_update_enabled, old) {
        (Some(false), _) => item("os_updates", Level::Warning, "automatic updates are off")
            .facts(facts)
            .fix(fix),
        (_, true) => item(
            "os_updates",
            Level::Warning,
            match last {
                Some(t) => format!(
                    "the last successful update is {} days old (more than {max})",
                    (now - t).num_days()
                ),
                None => "3CX reports no successful update".into(),
            },
        )
        .facts(facts)
        .fix(fix),
        _ => item(
            "os_updates",
            Level::Ok,
            format!(
                "automatic updates on; last updated {}",
                last.map(date).unwrap_or_default()
            ),
        )
        .facts(facts),
    }
}

fn firewall(p: &PbxFacts) -> Item {
    let h = match get(&p.health) {
        Ok(h) => h,
        Err(u) => return unreadable("firewall", "SystemStatus/Pbx.SystemHealthStatus()", u),
    };
    match h.firewall {
        Some(true) => item("firewall", Level::Ok, "3CX's firewall check passes")
            .facts(vec!["Firewall: true".into()]),
        Some(false) => item("firewall", Level::Warning, "3CX's firewall check fails")
            .facts(vec!["Firewall: false".into()])
            .fix("run the Firewall Checker in the 3CX console (Dashboard > Firewall) and open only the ports 3CX lists; keep the management console off the internet"),
        None => not_reported("firewall", "its firewall check"),
    }
}

fn phone_firmware(p: &PbxFacts) -> Item {
    let h = match get(&p.health) {
        Ok(h) => h,
        Err(u) => {
            return unreadable("phone_firmware", "SystemStatus/Pbx.SystemHealthStatus()", u);
        }
    };
    let n = h.unsupported_firmwares_count.unwrap_or(0).max(0);
    let facts = vec![
        format!("phones with unsupported firmware: {n}"),
        format!(
            "phones healthy: {}",
            h.phones
                .map(|b| b.to_string())
                .unwrap_or_else(|| "not reported".into())
        ),
    ];
    if n > 0 {
        item(
            "phone_firmware",
            Level::Warning,
            format!(
                "{} unsupported firmware",
                crate::format::count(n as u32, "phone runs", "phones run")
            ),
        )
        .facts(facts)
        .fix("in the 3CX console, Phones: select the phones and Upgrade firmware (or replace models 3CX no longer supports)")
    } else if h.phones == Some(false) {
        item(
            "phone_firmware",
            Level::Warning,
            "3CX reports a problem with the phones",
        )
        .facts(facts)
        .fix("open Phones in the 3CX console and fix what it flags")
    } else {
        item(
            "phone_firmware",
            Level::Ok,
            "every phone runs supported firmware",
        )
        .facts(facts)
    }
}

fn services(p: &PbxFacts) -> Item {
    let s = match get(&p.system) {
        Ok(s) => s,
        Err(u) => return unreadable("services", "SystemStatus", u),
    };
    match s.has_not_running_services {
        Some(true) => item("services", Level::Critical, "a 3CX service is not running")
            .facts(vec!["HasNotRunningServices: true".into()])
            .fix("in the 3CX console, Dashboard > Services: start the stopped service and read its log"),
        Some(false) => item("services", Level::Ok, "every 3CX service runs")
            .facts(vec!["HasNotRunningServices: false".into()]),
        None => not_reported("services", "its services"),
    }
}

fn license(p: &PbxFacts, plan: &Plan, now: DateTime<Utc>) -> Item {
    let s = match get(&p.system) {
        Ok(s) => s,
        Err(u) => return unreadable("license", "SystemStatus", u),
    };
    let expires = real(s.maintenance_expires_at);
    let facts = vec![
        format!(
            "licence active: {}",
            s.license_active
                .map(|b| b.to_string())
                .unwrap_or_else(|| "not reported".into())
        ),
        format!(
            "maintenance expires: {}",
            expires.map(date).unwrap_or_else(|| "not reported".into())
        ),
    ];
    let warn = days(plan.license_warning);
    if s.license_active == Some(false) {
        return item("license", Level::Critical, "the 3CX licence is not active")
            .facts(facts)
            .fix(
                "activate the licence in the 3CX console (Admin > License) or ask your 3CX partner",
            );
    }
    match expires {
        Some(t) if t <= now => item(
            "license",
            Level::Warning,
            format!("maintenance expired on {}: no updates", date(t)),
        )
        .facts(facts)
        .fix("renew the maintenance with your 3CX partner; without it the PBX gets no updates"),
        Some(t) if (t - now).num_days() < warn => item(
            "license",
            Level::Warning,
            format!(
                "maintenance expires in {} days ({})",
                (t - now).num_days(),
                date(t)
            ),
        )
        .facts(facts)
        .fix("renew the maintenance with your 3CX partner before it expires"),
        _ if s.license_active.is_none() => not_reported("license", "its licence").facts(facts),
        _ => item("license", Level::Ok, "licence active").facts(facts),
    }
}

fn disk(p: &PbxFacts, plan: &Plan) -> Item {
    let s = match get(&p.system) {
        Ok(s) => s,
        Err(u) => return unreadable("disk", "SystemStatus", u),
    };
    let (Some(free), Some(total)) = (s.free_disk_space, s.total_disk_space) else {
        return not_reported("disk", "its disk space");
    };
    if total == 0 {
        return not_reported("disk", "a disk size (it said 0)");
    }
    let pct = free as f64 * 100.0 / total as f64;
    let facts = vec![format!(
        "free: {} of {} ({pct:.0} %)",
        crate::format::bytes(free),
        crate::format::bytes(total)
    )];
    if pct < f64::from(plan.min_free_disk_percent) {
        item(
            "disk",
            Level::Warning,
            format!(
                "only {pct:.0} % of the PBX's disk is free (under {} %)",
                plan.min_free_disk_percent
            ),
        )
        .facts(facts)
        .fix("free space: purge old local backups and recordings (3CX console, Backup and Recordings), or grow the disk")
    } else {
        item("disk", Level::Ok, format!("{pct:.0} % of the disk is free")).facts(facts)
    }
}

fn trunk_redundancy(p: &PbxFacts) -> Item {
    let trunks = match get(&p.trunks) {
        Ok(t) => t,
        Err(u) => return unreadable("sip_trunk_redundancy", "Trunks", u),
    };
    let facts: Vec<String> = trunks
        .iter()
        .map(|t| {
            format!(
                "{}: {}",
                t.label(),
                match t.is_online {
                    Some(true) => "online",
                    Some(false) => "OFFLINE",
                    None => "state not reported",
                }
            )
        })
        .collect();
    let online: Vec<_> = trunks
        .iter()
        .filter(|t| t.is_online == Some(true))
        .collect();
    let mut providers: Vec<String> = online.iter().filter_map(|t| t.provider()).collect();
    providers.sort();
    providers.dedup();
    let fix_second = "add a second SIP trunk from a different carrier (Voice & Chat > Add Trunk) and give each outbound rule a route over it";
    match online.len() {
        0 => item(
            "sip_trunk_redundancy",
            Level::Critical,
            if trunks.is_empty() {
                "no SIP trunk is configured".to_string()
            } else {
                format!("none of the {} SIP trunks is online", trunks.len())
            },
        )
        .facts(facts)
        .fix("check the trunks' registration in Voice & Chat and call the carrier; see the runbook's contacts"),
        1 => item(
            "sip_trunk_redundancy",
            Level::Warning,
            format!(
                "one SIP trunk online ({}): a single point of failure",
                online[0].label()
            ),
        )
        .facts(facts)
        .fix(fix_second),
        n if providers.len() < 2 => item(
            "sip_trunk_redundancy",
            Level::Warning,
            format!(
                "{n} trunks online, all with one provider ({}): the carrier is a single point of failure",
                providers.first().cloned().unwrap_or_else(|| "unknown".into())
            ),
        )
        .facts(facts)
        .fix(fix_second),
        n => item(
            "sip_trunk_redundancy",
            Level::Ok,
            format!(
                "{n} trunks online with {} providers",
                providers.len()
            ),
        )
        .facts(facts),
    }
}

fn outbound_failover(p: &PbxFacts) -> Item {
    let rules = match get(&p.outbound_rules) {
        Ok(r) => r,
        Err(u) => return unreadable("outbound_failover", "OutboundRules", u),
    };
    let normal: Vec<_> = rules
        .iter()
        .filter(|r| r.emergency_rule != Some(true))
        .collect();
    let mut facts = Vec::new();
    let mut single = Vec::new();
    for r in &normal {
        let mut trunks: Vec<i64> = r
            .routes
            .iter()
            .filter_map(|x| x.trunk_id)
            .filter(|i| *i > 0)
            .collect();
        let names: Vec<String> = r
            .routes
            .iter()
            .filter(|x| x.trunk_id.is_some_and(|i| i > 0))
            .map(|x| {
                x.trunk_name
                    .clone()
                    .unwrap_or_else(|| format!("trunk {}", x.trunk_id.unwrap_or(0)))
            })
            .collect();
        trunks.sort_unstable();
        trunks.dedup();
        let name = r
            .name
            .clone()
            .unwrap_or_else(|| format!("rule {}", r.id.unwrap_or(0)));
        facts.push(format!(
            "{name}: {}",
            if names.is_empty() {
                "no route".to_string()
            } else {
                names.join(" → ")
            }
        ));
        if trunks.len() < 2 {
            single.push(name);
        }
    }
    if normal.is_empty() {
        return item(
            "outbound_failover",
            Level::Warning,
            "no outbound rule: outgoing calls have no route",
        )
        .facts(facts)
        .fix("add an outbound rule with routes over two trunks (Voice & Chat > Outbound Rules)");
    }
    if single.is_empty() {
        item(
            "outbound_failover",
            Level::Ok,
            format!(
                "every outbound rule ({}) fails over to a second trunk",
                normal.len()
            ),
        )
        .facts(facts)
    } else {
        item(
            "outbound_failover",
            Level::Warning,
            format!(
                "{} without a second route on another trunk: {}",
                crate::format::count(single.len() as u32, "outbound rule", "outbound rules"),
                single.join(", ")
            ),
        )
        .facts(facts)
        .fix("in Voice & Chat > Outbound Rules, give each rule a second route over a trunk of another carrier")
    }
}

fn web_channels(p: &PbxFacts) -> Item {
    let links = match get(&p.website_links) {
        Ok(l) => l,
        Err(u) => return unreadable("web_channels", "WebsiteLinks", u),
    };
    let live: Vec<_> = links
        .iter()
        .filter(|l| l.hidden != Some(true))
        .filter(|l| {
            l.chat_enabled == Some(true)
                || l.calls_enabled == Some(true)
                || l.meeting_enabled == Some(true)
        })
        .collect();
    let facts: Vec<String> = links
        .iter()
        .map(|l| {
            let mut what = Vec::new();
            if l.chat_enabled == Some(true) {
                what.push("live chat");
            }
            if l.calls_enabled == Some(true) {
                what.push("Click2Talk");
            }
            if l.meeting_enabled == Some(true) {
                what.push("Click2Meet");
            }
            format!(
                "{}: {}{}",
                l.name
                    .clone()
                    .or(l.link.clone())
                    .unwrap_or_else(|| "link".into()),
                if what.is_empty() {
                    "nothing enabled".to_string()
                } else {
                    what.join(", ")
                },
                if l.hidden == Some(true) {
                    " (hidden)"
                } else {
                    ""
                }
            )
        })
        .collect();
    if live.is_empty() {
        item(
            "web_channels",
            Level::Warning,
            "no live chat, Click2Talk or Click2Meet link: when the trunks are down, customers have no other way in",
        )
        .facts(facts)
        .fix("add a website link (Voice & Chat > Live Chat / Website links) and put it on the website")
    } else {
        item(
            "web_channels",
            Level::Ok,
            format!(
                "{} for customers when trunks are down",
                crate::format::count(live.len() as u32, "web link", "web links")
            ),
        )
        .facts(facts)
    }
}

fn sms(p: &PbxFacts, plan: &Plan) -> Item {
    let trunks = match get(&p.trunks) {
        Ok(t) => t,
        Err(u) => return unreadable("sms", "Trunks", u),
    };
    let with: Vec<String> = trunks
        .iter()
        .filter(|t| t.messaging.as_ref().and_then(|m| m.enabled) == Some(true))
        .map(|t| t.label())
        .collect();
    if !with.is_empty() {
        return item("sms", Level::Ok, format!("SMS through {}", with.join(", "))).facts(
            with.iter()
                .map(|w| format!("{w}: messaging enabled"))
                .collect(),
        );
    }
    if let Some(d) = plan.declared("sms") {
        return item("sms", Level::Declared, format!("declared: {}", d.what));
    }
    let level = if plan.require_sms {
        Level::Warning
    } else {
        Level::Info
    };
    item("sms", level, "no trunk carries SMS")
        .fix("enable messaging on a trunk whose carrier offers SMS, or declare the channel in [[plan.declared]] id = \"sms\"")
}

fn pbx_backup_schedule(p: &PbxFacts) -> Item {
    let b = match get(&p.backup_settings) {
        Ok(b) => b,
        Err(u) => {
            return unreadable("pbx_backup_schedule", "Backups/Pbx.GetBackupSettings()", u);
        }
    };
    let encrypted = b.contents.as_ref().and_then(|c| c.encrypt_backup);
    let facts = vec![
        format!(
            "scheduled: {}",
            b.schedule_enabled
                .map(|x| x.to_string())
                .unwrap_or_else(|| "not reported".into())
        ),
        format!(
            "encrypted: {}",
            encrypted
                .map(|x| x.to_string())
                .unwrap_or_else(|| "not reported".into())
        ),
    ];
    match (b.schedule_enabled, encrypted) {
        (Some(false), _) => item(
            "pbx_backup_schedule",
            Level::Warning,
            "3CX's own scheduled backups are off",
        )
        .facts(facts)
        .fix("in the 3CX console, Backup: enable the schedule (pbx321 copies what it makes, or makes its own)"),
        (_, Some(false)) => item(
            "pbx_backup_schedule",
            Level::Warning,
            "3CX's own backups are not encrypted",
        )
        .facts(facts)
        .fix("in the 3CX console, Backup > Settings: tick Encrypt backup (the zips hold credentials)"),
        (Some(true), Some(true)) => item(
            "pbx_backup_schedule",
            Level::Ok,
            "3CX makes its own encrypted backups on a schedule",
        )
        .facts(facts),
        _ => not_reported("pbx_backup_schedule", "its backup settings").facts(facts),
    }
}

fn pbx_backup_location(p: &PbxFacts) -> Item {
    let r = match get(&p.backup_repository) {
        Ok(r) => r,
        Err(u) => {
            return unreadable(
                "pbx_backup_location",
                "Backups/Pbx.GetBackupRepositorySettings()",
                u,
            );
        }
    };
    match r.location.as_ref().and_then(|l| l.file_system_type.as_deref()) {
        Some("Local") => item(
            "pbx_backup_location",
            Level::Warning,
            "3CX keeps its own backups only on the PBX: they die with it",
        )
        .facts(vec!["FileSystemType: Local".into()])
        .fix("in the 3CX console, Backup > Location: choose SFTP, a network share, Amazon S3 or Google (pbx321's copies are the 3-2-1 set either way)"),
        Some(other) => item(
            "pbx_backup_location",
            Level::Ok,
            format!("3CX keeps its own backups off the PBX ({other})"),
        )
        .facts(vec![format!("FileSystemType: {other}")]),
        None => not_reported("pbx_backup_location", "where it keeps its backups"),
    }
}

fn failover(p: &PbxFacts, plan: &Plan) -> Item {
    let f = match get(&p.failover) {
        Ok(f) => f,
        Err(u) => return unreadable("failover", "Backups/Pbx.GetBackupFailoverSettings()", u),
    };
    if f.enabled == Some(true) {
        return item(
            "failover",
            Level::Ok,
            format!(
                "3CX failover is on{}",
                f.remote_server
                    .as_ref()
                    .filter(|s| !s.is_empty())
                    .map(|s| format!(" (partner {s})"))
                    .unwrap_or_default()
            ),
        )
        .facts(vec![format!(
            "mode: {}",
            f.mode.clone().unwrap_or_else(|| "not reported".into())
        )]);
    }
    if let Some(d) = plan.declared("failover") {
        return item(
            "failover",
            Level::Declared,
            format!("declared cold standby: {}", d.what),
        );
    }
    item(
        "failover",
        Level::Info,
        "no 3CX failover and no declared standby: recovery is a restore onto a new machine",
    )
    .fix("for a faster recovery, set up 3CX failover (Backup > Failover) or declare a cold standby in [[plan.declared]] id = \"failover\"")
}

fn declared(id: &'static str, plan: &Plan, now: DateTime<Utc>) -> Item {
    let what = match id {
        "alternate_wan" => "an alternate WAN link on another medium (e.g. 4G/5G beside fibre)",
        "customer_channels" => {
            "other ways customers reach you when the trunks are down (website chat, Click2Talk, Click2Meet, Facebook Messenger, SMS)"
        }
        "intrusion_detection" => {
            "intrusion detection that watches the PBX and its network (an IDS/IPS, a SIEM)"
        }
        "network_separation" => {
            "voice and data on separate networks (VLANs), and the PBX reachable from untrusted networks only where it must be"
        }
        "network_monitoring" => {
            "monitoring of the network's use (traffic, call volume, toll fraud)"
        }
        "os_hardening" => "a hardened host OS (only 3CX's packages, SSH by key, no other services)",
        "host_provider" => {
            "where the PBX runs, and the host's SLA (a provider, a data centre, the office)"
        }
        _ => "the contacts to call (carrier, ISP, 3CX partner)",
    };
    let Some(d) = plan.declared(id) else {
        return item(id, Level::Warning, format!("not declared: {what}")).fix(format!(
            "declare it in the config: [[plan.declared]] id = \"{id}\", what = \"…\", last_tested = \"YYYY-MM-DD\""
        ));
    };
    let mut facts = Vec::new();
    if let Some(p) = &d.provider {
        facts.push(format!("provider: {p}"));
    }
    let today: NaiveDate = now.date_naive();
    let every = days(plan.test_every);
    match d.last_tested {
        None => item(
            id,
            Level::Warning,
            format!("declared, never tested: {}", d.what),
        )
        .facts(facts)
        .fix(format!(
            "test it (e.g. pull the fibre and make a call), then set last_tested = \"{today}\""
        )),
        Some(t) if (today - t).num_days() > every => item(
            id,
            Level::Warning,
            format!(
                "last tested {t}, {} days ago (more than {every})",
                (today - t).num_days()
            ),
        )
        .facts(facts)
        .fix(format!("test it again, then set last_tested = \"{today}\"")),
        Some(t) => item(id, Level::Declared, format!("{} (tested {t})", d.what)).facts(facts),
    }
}

mod security;

#[cfg(test)]
mod tests;
