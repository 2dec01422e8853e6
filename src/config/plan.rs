//! `[plan]`: the response plan around the backups — who owns it, where the keys are, the
//! measures 3CX cannot report (declared: an alternate WAN link, customer channels,
//! contacts), the readiness rules' thresholds, and where the daemon writes the runbook.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use super::Cx;

/// The readiness items, in the order they are shown.
pub const ITEMS: &[&str] = &[
    "backups",
    "os_updates",
    "firewall",
    "phone_firmware",
    "services",
    "license",
    "disk",
    "global_blacklist",
    "brute_force_protection",
    "weak_credentials",
    "console_exposure",
    "firewall_check",
    "pending_updates",
    "pbx_alerts",
    "log_forwarding",
    "attack_activity",
    "api_clients",
    "sip_trunk_redundancy",
    "outbound_failover",
    "web_channels",
    "sms",
    "pbx_backup_schedule",
    "pbx_backup_location",
    "failover",
    "alternate_wan",
    "customer_channels",
    "contacts",
    "intrusion_detection",
    "network_separation",
    "network_monitoring",
    "os_hardening",
    "host_provider",
];

/// The items only a person can declare (3CX cannot tell).
pub const DECLARED_ITEMS: &[&str] = &[
    "alternate_wan",
    "customer_channels",
    "contacts",
    "intrusion_detection",
    "network_separation",
    "network_monitoring",
    "os_hardening",
    "host_provider",
];

/// `[plan]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Whether `[plan]` is in the config (then `check` carries readiness).
    pub configured: bool,
    /// Who runs the plan: "IT on-call, +34 600 000 000".
    pub owner: Option<String>,
    /// Where the keys are: the age identity, the signing key.
    pub key_custody: Option<String>,
    /// Readiness changes `check`'s status and exit code.
    pub affects_status: bool,
    /// Where the daemon writes the runbook (`[schedule] plan`); `.md` is Markdown, any
    /// other name HTML.
    pub write_to: Option<PathBuf>,
    /// Items not judged at all.
    pub skip: Vec<String>,
    /// `os_updates`: the last update may be this old.
    pub max_update_age: Duration,
    /// Declared measures must have been tested this recently.
    pub test_every: Duration,
    /// `disk`: warning under this share of free space, in percent.
    pub min_free_disk_percent: u8,
    /// `license`: warning this long before the maintenance expires.
    pub license_warning: Duration,
    /// `sms`: a missing SMS trunk is a warning, not only information.
    pub require_sms: bool,
    pub declared: Vec<Declared>,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            configured: false,
            owner: None,
            key_custody: None,
            affects_status: false,
            write_to: None,
            skip: Vec::new(),
            max_update_age: Duration::from_secs(60 * 86400),
            test_every: Duration::from_secs(180 * 86400),
            min_free_disk_percent: 10,
            license_warning: Duration::from_secs(30 * 86400),
            require_sms: false,
            declared: Vec::new(),
        }
    }
}

impl Plan {
    pub fn declared(&self, id: &str) -> Option<&Declared> {
        self.declared.iter().find(|d| d.id == id)
    }

    pub fn skips(&self, id: &str) -> bool {
        self.skip.iter().any(|s| s == id)
    }
}

/// A measure the plan declares: what it is, who provides it, when it was last tested.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub id: String,
    pub what: String,
    pub provider: Option<String>,
    pub last_tested: Option<NaiveDate>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    owner: Option<String>,
    key_custody: Option<String>,
    affects_status: Option<bool>,
    write_to: Option<Spanned<String>>,
    #[serde(default)]
    skip: Vec<Spanned<String>>,
    max_update_age: Option<Spanned<String>>,
    test_every: Option<Spanned<String>>,
    min_free_disk_percent: Option<Spanned<i64>>,
    license_warning: Option<Spanned<String>>,
    require_sms: Option<bool>,
    #[serde(default)]
    declared: Vec<Spanned<RawDeclared>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeclared {
    id: Spanned<String>,
    what: String,
    provider: Option<String>,
    last_tested: Option<Spanned<String>>,
}

impl Cx<'_> {
    pub(super) fn plan(&mut self, raw: RawPlan, base: &Path, span: Range<usize>) -> Plan {
        let mut p = Plan {
            configured: true,
            owner: raw.owner,
            key_custody: raw.key_custody,
            affects_status: raw.affects_status.unwrap_or(false),
            write_to: raw.write_to.as_ref().map(|w| base.join(w.get_ref())),
            require_sms: raw.require_sms.unwrap_or(false),
            ..Plan::default()
        };
        for s in &raw.skip {
            if ITEMS.contains(&s.get_ref().as_str()) {
                p.skip.push(s.get_ref().clone());
            } else {
                self.problem(
                    Some(s.span()),
                    format!(
                        "[plan] skip: {:?} is not a readiness item; they are {}",
                        s.get_ref(),
                        ITEMS.join(", ")
                    ),
                );
            }
        }
        let mut days = |v: &Option<Spanned<String>>, key: &str, default: Duration| match v {
            None => default,
            Some(s) => match humantime::parse_duration(s.get_ref()) {
                Ok(d) if !d.is_zero() => d,
                _ => {
                    self.problem(
                        Some(s.span()),
                        format!(
                            "[plan] {key} = {:?} is not a duration; write e.g. \"60days\"",
                            s.get_ref()
                        ),
                    );
                    default
                }
            },
        };
        p.max_update_age = days(&raw.max_update_age, "max_update_age", p.max_update_age);
        p.test_every = days(&raw.test_every, "test_every", p.test_every);
        p.license_warning = days(&raw.license_warning, "license_warning", p.license_warning);
        if let Some(n) = &raw.min_free_disk_percent {
            match *n.get_ref() {
                v @ 0..=99 => p.min_free_disk_percent = v as u8,
                v => self.problem(
                    Some(n.span()),
                    format!("[plan] min_free_disk_percent = {v} must be between 0 and 99"),
                ),
            }
        }
        for d in raw.declared {
            let span = d.span();
            let d = d.into_inner();
            let id = d.id.get_ref().clone();
            if !ITEMS.contains(&id.as_str()) && id != "sms" {
                self.problem(
                    Some(d.id.span()),
                    format!(
                        "[[plan.declared]] id = {id:?} is not a readiness item; declare one of {}, or failover (a cold standby), sms or log_forwarding (another collector or IDS)",
                        DECLARED_ITEMS.join(", ")
                    ),
                );
                continue;
            }
            if p.declared.iter().any(|x| x.id == id) {
                self.problem(
                    Some(d.id.span()),
                    format!("[[plan.declared]] id = {id:?} is declared twice"),
                );
                continue;
            }
            let last_tested = d.last_tested.as_ref().and_then(|t| {
                match NaiveDate::parse_from_str(t.get_ref(), "%Y-%m-%d") {
                    Ok(date) => Some(date),
                    Err(_) => {
                        self.problem(
                            Some(t.span()),
                            format!(
                                "[[plan.declared]] {id}: last_tested = {:?} is not a date; write e.g. \"2026-10-01\"",
                                t.get_ref()
                            ),
                        );
                        None
                    }
                }
            });
            let _ = span;
            p.declared.push(Declared {
                id,
                what: d.what,
                provider: d.provider,
                last_tested,
            });
        }
        let _ = span;
        p
    }
}
