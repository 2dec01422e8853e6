//! Step 1 of the advice, secure the PBX: the items 3CX's API can tell (anti-hacking, weak
//! credentials, the console's exposure, the Firewall Checker, pending updates, who hears
//! the PBX's alerts, log forwarding, attacks, API clients). Pure, time passed in.
//!
//! What 3CX reports as personal data (user names, e-mail addresses, blocked IP addresses,
//! the names and addresses of whoever holds a token) is never read into a fact: extension
//! numbers, counts and API client ids are all an item shows.

use chrono::{DateTime, Utc};

use super::{Item, Level, get, item, not_reported, unreadable};
use crate::config::Plan;
use crate::facts::pbx::{AntiHacking, PbxFacts};

/// pbx321's limits for 3CX's anti-hacking settings: a setting looser than these (more
/// failed attempts allowed, a shorter block) is a warning. 3CX ships stricter ones
/// (docs/response-plan.md).
pub const MAX_AUTH_FAILURES: i64 = 25;
pub const MAX_CHALLENGE_FAILURES: i64 = 1000;
/// Seconds an address stays blocked.
pub const MIN_BLACKLIST_SECONDS: i64 = 1800;

/// An API client unused this long is a warning.
pub const API_CLIENT_IDLE_DAYS: i64 = 90;

/// Extension numbers named in a summary at most.
const NAMED: usize = 20;

/// Every security item of one PBX, in the order of `config::ITEMS`.
pub(super) fn items(p: &PbxFacts, plan: &Plan, now: DateTime<Utc>) -> Vec<Item> {
    vec![
        global_blacklist(p),
        brute_force(p),
        weak_credentials(p),
        console_exposure(p),
        firewall_check(p),
        pending_updates(p),
        pbx_alerts(p),
        log_forwarding(p, plan),
        attack_activity(p, now),
        api_clients(p, now),
    ]
}

fn global_blacklist(p: &PbxFacts) -> Item {
    const ID: &str = "global_blacklist";
    let a = match get(&p.security.anti_hacking) {
        Ok(a) => a,
        Err(u) => return unreadable(ID, "AntiHackingSettings", u),
    };
    match a.security_defense_program {
        Some(true) => item(ID, Level::Ok, "3CX's global blacklist is on")
            .facts(vec!["SecurityDefenseProgram: true".into()]),
        Some(false) => item(ID, Level::Warning, "3CX's global blacklist is off: addresses 3CX knows attack PBXes are let in")
            .facts(vec!["SecurityDefenseProgram: false".into()])
            .fix("in the 3CX console, Admin > Security > Anti-Hacking: tick \"Enable 3CX Security Defense Program\" (the global IP blacklist)"),
        None => not_reported(ID, "its global blacklist setting"),
    }
}

/// What makes brute-force protection weaker than pbx321's limits, in words.
fn loose(a: &AntiHacking) -> Vec<String> {
    let mut out = Vec::new();
    match a.hack_auth_requests {
        Some(n) if n <= 0 => out.push("failed authentications never block".into()),
        Some(n) if n > MAX_AUTH_FAILURES => out.push(format!(
            "{n} failed authentications allowed (limit {MAX_AUTH_FAILURES})"
        )),
        _ => {}
    }
    match a.hack_challenge_requests {
        Some(n) if n <= 0 => out.push("failed challenges never block".into()),
        Some(n) if n > MAX_CHALLENGE_FAILURES => out.push(format!(
            "{n} failed challenges allowed (limit {MAX_CHALLENGE_FAILURES})"
        )),
        _ => {}
    }
    match a.hack_blacklist_duration {
        Some(n) if n <= 0 => out.push("a blocked address is let go at once".into()),
        Some(n) if n < MIN_BLACKLIST_SECONDS => out.push(format!(
            "an address is blocked for {n} s (at least {MIN_BLACKLIST_SECONDS})"
        )),
        _ => {}
    }
    if a.max_request_per_period.is_some_and(|n| n <= 0) {
        out.push("request flooding is never throttled".into());
    }
    if a.hack_barrier_red.is_some_and(|n| n <= 0) {
        out.push("the red barrier is off".into());
    }
    out
}

fn brute_force(p: &PbxFacts) -> Item {
    const ID: &str = "brute_force_protection";
    let a = match get(&p.security.anti_hacking) {
        Ok(a) => a,
        Err(u) => return unreadable(ID, "AntiHackingSettings", u),
    };
    let show = |n: Option<i64>| {
        n.map(|n| n.to_string())
            .unwrap_or_else(|| "not reported".into())
    };
    let facts = vec![
        format!(
            "failed authentications before a block: {}",
            show(a.hack_auth_requests)
        ),
        format!(
            "failed challenges before a block: {}",
            show(a.hack_challenge_requests)
        ),
        format!("block duration (s): {}", show(a.hack_blacklist_duration)),
        format!(
            "requests per throttle period: {} per {}",
            show(a.max_request_per_period),
            show(a.throttle_period_length)
        ),
        format!(
            "barriers green/amber/red: {}/{}/{}",
            show(a.hack_barrier_green),
            show(a.hack_barrier_amber),
            show(a.hack_barrier_red)
        ),
    ];
    if a.hack_auth_requests.is_none() && a.hack_blacklist_duration.is_none() {
        return not_reported(ID, "its anti-hacking limits").facts(facts);
    }
    let weak = loose(a);
    if weak.is_empty() {
        item(
            ID,
            Level::Ok,
            "failed logins and floods are blocked within pbx321's limits",
        )
        .facts(facts)
    } else {
        item(ID, Level::Warning, format!("brute-force protection is weak: {}", weak.join("; ")))
            .facts(facts)
            .fix(format!("in the 3CX console, Admin > Security > Anti-Hacking: at most {MAX_AUTH_FAILURES} failed authentications and {MAX_CHALLENGE_FAILURES} failed challenges, a block of at least {MIN_BLACKLIST_SECONDS} s, throttling and the barriers on (3CX's defaults are stricter)"))
    }
}

fn weak_credentials(p: &PbxFacts) -> Item {
    const ID: &str = "weak_credentials";
    let users = match get(&p.security.users) {
        Ok(u) => u,
        Err(u) => return unreadable(ID, "Users", u),
    };
    let weak: Vec<&str> = users
        .value
        .iter()
        .filter(|u| u.tags.iter().any(|t| t == "WeakPass" || t == "WeakID"))
        .map(|u| u.number.as_deref().unwrap_or("?"))
        .collect();
    let read = users.value.len() as u64;
    let mut facts = vec![format!("users read: {read}")];
    if let Some(total) = users.count.filter(|t| *t > read) {
        facts.push(format!(
            "the PBX has {total}: only the first {read} were read"
        ));
    }
    if weak.is_empty() {
        return item(
            ID,
            Level::Ok,
            "3CX flags no extension's credentials as weak",
        )
        .facts(facts);
    }
    let mut named: Vec<String> = weak
        .iter()
        .take(NAMED)
        .map(|n| crate::escape::text(n).into_owned())
        .collect();
    if weak.len() > NAMED {
        named.push(format!("and {} more", weak.len() - NAMED));
    }
    item(
        ID,
        Level::Warning,
        format!(
            "{} weak credentials (3CX's WeakPass/WeakID): {}",
            crate::format::count(weak.len() as u32, "extension has", "extensions have"),
            named.join(", ")
        ),
    )
    .facts(facts)
    .count(weak.len() as u64)
    .fix("in the 3CX console, Users: open each extension named and regenerate its SIP ID and password (and its voicemail PIN and web client password), then reprovision its phone")
}

fn console_exposure(p: &PbxFacts) -> Item {
    const ID: &str = "console_exposure";
    let c = match get(&p.security.console) {
        Ok(c) => c,
        Err(u) => return unreadable(ID, "ConsoleRestrictions", u),
    };
    let listed = c
        .ip_whitelist
        .iter()
        .filter(|a| !a.trim().is_empty())
        .count();
    let facts = vec![
        format!(
            "access restricted: {}",
            c.access_restricted
                .map(|b| b.to_string())
                .unwrap_or_else(|| "not reported".into())
        ),
        format!("addresses allowed: {listed}"),
    ];
    match (c.access_restricted, listed) {
        (Some(true), n) if n > 0 => item(
            ID,
            Level::Ok,
            format!(
                "the admin console answers only {}",
                crate::format::count(n as u32, "listed address", "listed addresses")
            ),
        )
        .facts(facts),
        (None, _) => not_reported(ID, "its console restrictions").facts(facts),
        _ => item(ID, Level::Warning, "the admin console is open to every address")
            .facts(facts)
            .fix("in the 3CX console, Admin > Security > Console Restrictions: restrict access to the office's and the support partner's addresses"),
    }
}

fn firewall_check(p: &PbxFacts) -> Item {
    const ID: &str = "firewall_check";
    match get(&p.security.firewall_result) {
        Err(u) => unreadable(ID, "Firewall/Pbx.GetLastResult()", u),
        Ok(true) => item(ID, Level::Ok, "the Firewall Checker's last run passed")
            .facts(vec!["GetLastResult: true (3CX gives no date)".into()]),
        Ok(false) => item(ID, Level::Warning, "the Firewall Checker's last run failed, or it never ran")
            .facts(vec!["GetLastResult: false".into()])
            .fix("in the 3CX console, Dashboard > Firewall: run the Firewall Checker, fix the ports it lists, and run it again after every router change"),
    }
}

fn pending_updates(p: &PbxFacts) -> Item {
    const ID: &str = "pending_updates";
    let s = &p.security;
    let (os, tcx) = match (get(&s.os_upgrade), get(&s.updates)) {
        (Err(u), _) => return unreadable(ID, "HasDebianUpgrade()", u),
        (_, Err(u)) => return unreadable(ID, "GetUpdatesStats()", u),
        (Ok(os), Ok(u)) => (*os, u),
    };
    let waiting: i64 = tcx
        .tcx_update
        .iter()
        .filter_map(|c| c.count)
        .filter(|n| *n > 0)
        .sum();
    let facts = vec![
        format!("Debian upgrade waiting: {os}"),
        format!("3CX updates waiting: {waiting}"),
    ];
    let mut what = Vec::new();
    if os {
        what.push("an operating system upgrade".to_string());
    }
    if waiting > 0 {
        what.push(crate::format::count(
            waiting as u32,
            "update of 3CX",
            "updates of 3CX",
        ));
    }
    if what.is_empty() {
        item(ID, Level::Ok, "no update waits").facts(facts)
    } else {
        item(ID, Level::Warning, format!("{} wait{}", what.join(" and "), if what.len() == 1 && waiting <= 1 { "s" } else { "" }))
            .facts(facts)
            .fix("in the 3CX console, Updates: install the waiting updates (Debian's too: Dashboard > Updates), after a backup")
    }
}

fn pbx_alerts(p: &PbxFacts) -> Item {
    const ID: &str = "pbx_alerts";
    let n = match get(&p.security.notifications) {
        Ok(n) => n,
        Err(u) => return unreadable(ID, "NotificationSettings", u),
    };
    // Counted, never shown: they are people's addresses.
    let addresses = n
        .email_addresses
        .as_deref()
        .unwrap_or_default()
        .split([',', ';', ' '])
        .filter(|a| a.contains('@'))
        .count();
    let owners = n.notify_system_owners == Some(true);
    let facts = vec![
        format!("e-mail addresses: {addresses}"),
        format!("system owners notified: {owners}"),
        format!(
            "on a stopped service: {}",
            n.notify_service_stopped
                .map(|b| b.to_string())
                .unwrap_or_else(|| "not reported".into())
        ),
        format!(
            "on available updates: {}",
            n.notify_updates_available
                .map(|b| b.to_string())
                .unwrap_or_else(|| "not reported".into())
        ),
    ];
    let fix = "in the 3CX console, Admin > Email Notifications: add an address someone reads (a shared mailbox) and tick service stopped and updates available";
    if addresses == 0 && !owners {
        return item(
            ID,
            Level::Warning,
            "no address receives the PBX's own alerts",
        )
        .facts(facts)
        .fix(fix);
    }
    match (n.notify_service_stopped, n.notify_updates_available) {
        (Some(false), _) => item(
            ID,
            Level::Warning,
            "the PBX does not tell anyone when a service stops",
        )
        .facts(facts)
        .fix(fix),
        (_, Some(false)) => item(
            ID,
            Level::Warning,
            "the PBX does not tell anyone when updates are available",
        )
        .facts(facts)
        .fix(fix),
        _ => item(
            ID,
            Level::Ok,
            format!(
                "the PBX's alerts reach {}{}",
                crate::format::count(addresses as u32, "address", "addresses"),
                if owners { " and its system owners" } else { "" }
            ),
        )
        .facts(facts),
    }
}

fn log_forwarding(p: &PbxFacts, plan: &Plan) -> Item {
    const ID: &str = "log_forwarding";
    let s = match get(&p.security.syslog) {
        Ok(s) => s,
        Err(u) => return unreadable(ID, "SyslogSettings", u),
    };
    let host = s
        .custom_relay_config
        .as_ref()
        .and_then(|r| r.host.as_deref())
        .filter(|h| !h.trim().is_empty());
    match (s.integration_type.as_deref(), host) {
        (Some("Custom"), Some(h)) => item(
            ID,
            Level::Ok,
            format!(
                "the PBX's logs go to a syslog collector ({})",
                crate::escape::text(h)
            ),
        )
        .facts(vec!["IntegrationType: Custom".into()]),
        _ => {
            if let Some(d) = plan.declared(ID) {
                return item(ID, Level::Declared, format!("declared: {}", d.what));
            }
            item(ID, Level::Info, "the PBX's logs stay on the PBX: nothing watches them from outside")
                .facts(vec![format!(
                    "IntegrationType: {}",
                    s.integration_type.as_deref().unwrap_or("not reported")
                )])
                .fix("in the 3CX console, Admin > Syslog: forward to your collector or SIEM, or declare the one you use in [[plan.declared]] id = \"log_forwarding\"")
        }
    }
}

fn attack_activity(p: &PbxFacts, now: DateTime<Utc>) -> Item {
    const ID: &str = "attack_activity";
    let b = match get(&p.security.auto_blocked) {
        Ok(b) => b,
        Err(u) => return unreadable(ID, "Blocklist", u),
    };
    // 3CX dates a block by when it ends: it began the block duration before.
    let duration = get(&p.security.anti_hacking)
        .ok()
        .and_then(|a| a.hack_blacklist_duration)
        .filter(|d| *d > 0);
    let day = chrono::TimeDelta::hours(24);
    let recent = b
        .value
        .iter()
        .filter_map(|x| x.expires_at)
        .filter(|end| match duration {
            Some(d) => *end - chrono::TimeDelta::seconds(d) >= now - day,
            None => *end > now,
        })
        .count() as u64;
    let total = b.count.unwrap_or(b.value.len() as u64);
    item(
        ID,
        Level::Info,
        format!(
            "{} the PBX blocked itself in the last 24 h",
            crate::format::count(recent as u32, "address", "addresses")
        ),
    )
    .facts(vec![
        format!("blocked by 3CX's anti-hacking, all told: {total}"),
        match duration {
            Some(_) => "counted from when each block ends, less the block duration".into(),
            None => "the block duration is not known: the blocks still in force are counted".into(),
        },
    ])
    .count(recent)
}

fn api_clients(p: &PbxFacts, now: DateTime<Utc>) -> Item {
    const ID: &str = "api_clients";
    let clients = match get(&p.security.oauth_clients) {
        Ok(c) => c,
        Err(u) => return unreadable(ID, "OAuthClients", u),
    };
    let live_tokens = get(&p.security.tokens).ok().map(|t| {
        t.iter()
            .filter(|t| t.revoked.is_none() && t.expires.is_none_or(|e| e > now))
            .count()
    });
    let idle = chrono::TimeDelta::days(API_CLIENT_IDLE_DAYS);
    let name = |c: &crate::facts::pbx::OAuthClient| {
        crate::escape::text(c.client_id.as_deref().unwrap_or("?")).into_owned()
    };
    let mut facts: Vec<String> = clients
        .iter()
        .map(|c| {
            format!(
                "{}: last used {}",
                name(c),
                c.used_at
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_else(|| "never (or not reported)".into())
            )
        })
        .collect();
    if let Some(n) = live_tokens {
        facts.push(format!("tokens in force: {n}"));
    }
    // Idle only when the data tells: used long ago, or never used and made long ago.
    let stale: Vec<String> = clients
        .iter()
        .filter(|c| match (c.used_at, c.created_at) {
            (Some(u), _) => now - u > idle,
            (None, Some(made)) => now - made > idle,
            (None, None) => false,
        })
        .map(name)
        .collect();
    let ids: Vec<String> = clients.iter().map(name).collect();
    if !stale.is_empty() {
        return item(
            ID,
            Level::Warning,
            format!(
                "API {} unused for over {API_CLIENT_IDLE_DAYS} days: {}",
                if stale.len() == 1 { "client" } else { "clients" },
                stale.join(", ")
            ),
        )
        .facts(facts)
        .fix("in the 3CX console, Admin > Integrations > API: delete the clients nobody uses (each is a key to the PBX)");
    }
    item(
        ID,
        Level::Info,
        match ids.len() {
            0 => "no API client".to_string(),
            _ => format!("API clients: {}", ids.join(", ")),
        },
    )
    .facts(facts)
}
