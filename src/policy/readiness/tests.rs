//! Every status of every item, from plain facts.

use chrono::TimeZone;

use super::*;
use crate::config::Declared;
use crate::facts::pbx::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn days_ago(n: i64) -> Option<DateTime<Utc>> {
    Some(now() - chrono::TimeDelta::days(n))
}

fn trunk(id: i64, host: &str, online: bool, sms: bool) -> Trunk {
    Trunk {
        id: Some(id),
        number: Some(format!("100{id}")),
        is_online: Some(online),
        gateway: Some(Gateway {
            name: Some(host.split('.').nth(1).unwrap_or(host).to_string()),
            host: Some(host.into()),
        }),
        messaging: Some(TrunkMessaging { enabled: Some(sms) }),
    }
}

fn rule(name: &str, trunks: &[i64], emergency: bool) -> OutboundRule {
    OutboundRule {
        id: Some(1),
        name: Some(name.into()),
        emergency_rule: Some(emergency),
        routes: trunks
            .iter()
            .map(|t| OutboundRoute {
                trunk_id: Some(*t),
                trunk_name: Some(format!("trunk {t}")),
            })
            .collect(),
    }
}

/// A PBX that is ready in every respect.
fn ready() -> PbxFacts {
    PbxFacts {
        system: Ok(SystemStatus {
            version: Some("20.0.9".into()),
            fqdn: Some("hq.3cx.eu".into()),
            auto_update_enabled: Some(true),
            last_successful_update: days_ago(10),
            last_check_for_updates: days_ago(1),
            has_not_running_services: Some(false),
            license_active: Some(true),
            maintenance_expires_at: days_ago(-200),
            free_disk_space: Some(60 << 30),
            total_disk_space: Some(100 << 30),
        }),
        health: Ok(SystemHealth {
            firewall: Some(true),
            phones: Some(true),
            trunks: Some(true),
            unsupported_firmwares_count: Some(0),
        }),
        trunks: Ok(vec![
            trunk(1, "sip.vodafone.es", true, true),
            trunk(2, "sip.telefonica.es", true, false),
        ]),
        outbound_rules: Ok(vec![
            rule("National", &[1, 2], false),
            rule("Emergency", &[1], true),
        ]),
        website_links: Ok(vec![WebsiteLink {
            link: Some("hq-support".into()),
            name: Some("Support".into()),
            chat_enabled: Some(true),
            calls_enabled: Some(true),
            meeting_enabled: Some(false),
            hidden: Some(false),
        }]),
        backup_settings: Ok(BackupSettings {
            schedule_enabled: Some(true),
            contents: Some(BackupContents {
                encrypt_backup: Some(true),
            }),
        }),
        backup_repository: Ok(BackupRepository {
            location: Some(BackupLocation {
                file_system_type: Some("Sftp".into()),
            }),
        }),
        failover: Ok(Failover {
            enabled: Some(true),
            remote_server: Some("10.0.0.9".into()),
            mode: Some("Active".into()),
        }),
        security: secure(),
    }
}

/// A PBX secured as the advice says.
fn secure() -> SecurityFacts {
    SecurityFacts {
        anti_hacking: Ok(AntiHacking {
            security_defense_program: Some(true),
            hack_auth_requests: Some(3),
            hack_challenge_requests: Some(10),
            hack_blacklist_duration: Some(86400),
            max_request_per_period: Some(1000),
            throttle_period_length: Some(1),
            hack_barrier_green: Some(3),
            hack_barrier_amber: Some(5),
            hack_barrier_red: Some(25),
        }),
        auto_blocked: Ok(Counted {
            count: Some(2),
            value: vec![
                // Blocked 2 h ago (a day's block ends in 22 h), and 3 days ago.
                Blocked {
                    expires_at: Some(now() + chrono::TimeDelta::hours(22)),
                },
                Blocked {
                    expires_at: Some(now() - chrono::TimeDelta::days(2)),
                },
            ],
        }),
        users: Ok(Counted {
            count: Some(3),
            value: ["100", "101", "102"]
                .iter()
                .map(|n| UserTags {
                    number: Some(n.to_string()),
                    tags: vec!["MS".into()],
                })
                .collect(),
        }),
        console: Ok(ConsoleRestrictions {
            access_restricted: Some(true),
            ip_whitelist: vec!["198.51.100.7".into(), "203.0.113.0/24".into()],
        }),
        firewall_result: Ok(true),
        os_upgrade: Ok(false),
        updates: Ok(UpdatesStats {
            tcx_update: vec![CategoryUpdate {
                category: Some("Pbx".into()),
                count: Some(0),
            }],
            per_page: vec![],
        }),
        notifications: Ok(NotificationSettings {
            email_addresses: Some("it@example.com,oncall@example.com".into()),
            notify_system_owners: Some(true),
            notify_service_stopped: Some(true),
            notify_updates_available: Some(true),
        }),
        syslog: Ok(SyslogSettings {
            integration_type: Some("Custom".into()),
            custom_relay_config: Some(SyslogRelay {
                host: Some("siem.example.com".into()),
                port: Some(514),
            }),
        }),
        oauth_clients: Ok(vec![OAuthClient {
            client_id: Some("pbx321".into()),
            created_at: days_ago(400),
            used_at: days_ago(0),
        }]),
        tokens: Ok(vec![SecurityToken {
            client_id: Some("pbx321".into()),
            expires: days_ago(-1),
            revoked: None,
        }]),
    }
}

fn declared(id: &str, tested: Option<&str>) -> Declared {
    Declared {
        id: id.into(),
        what: format!("the {id}"),
        provider: None,
        last_tested: tested.map(|t| t.parse().unwrap()),
    }
}

fn ready_plan() -> Plan {
    Plan {
        configured: true,
        declared: vec![
            declared("alternate_wan", Some("2026-10-01")),
            declared("customer_channels", Some("2026-09-01")),
            declared("contacts", Some("2026-11-01")),
            declared("intrusion_detection", Some("2026-10-15")),
            declared("network_separation", Some("2026-10-15")),
            declared("network_monitoring", Some("2026-10-15")),
            declared("os_hardening", Some("2026-10-15")),
            declared("host_provider", Some("2026-10-15")),
        ],
        ..Plan::default()
    }
}

fn forbidden() -> Unreadable {
    Unreadable {
        forbidden: true,
        why: "HTTP 403: Forbidden".into(),
    }
}

fn down() -> Unreadable {
    Unreadable {
        forbidden: false,
        why: "connection refused".into(),
    }
}

type Change = fn(&mut PbxFacts, &mut Plan);

#[test]
fn a_ready_pbx_is_ok_everywhere() {
    let items = judge(Some(&ready()), None, &ready_plan(), now());
    assert_eq!(items.len(), 31);
    for i in &items {
        assert!(
            matches!(i.status, Level::Ok | Level::Declared)
                || (matches!(i.id, "attack_activity" | "api_clients") && i.status == Level::Info),
            "{}: {:?} {}",
            i.id,
            i.status,
            i.summary
        );
        assert!(!i.summary.is_empty());
    }
    assert_eq!(worst(&items), Status::Ok);
}

/// (case, change, item, expected status, words in the summary)
#[test]
fn every_status_of_every_item() {
    let cases: Vec<(&str, Change, &str, Level, &str)> = vec![
        (
            "auto updates off",
            |p, _| sys(p).auto_update_enabled = Some(false),
            "os_updates",
            Level::Warning,
            "automatic updates are off",
        ),
        (
            "update too old",
            |p, _| sys(p).last_successful_update = days_ago(61),
            "os_updates",
            Level::Warning,
            "61 days old",
        ),
        (
            "never updated (year 1)",
            |p, _| {
                sys(p).last_successful_update =
                    Some(Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap())
            },
            "os_updates",
            Level::Warning,
            "no successful update",
        ),
        (
            "update age configurable",
            |p, plan| {
                sys(p).last_successful_update = days_ago(61);
                plan.max_update_age = std::time::Duration::from_secs(90 * 86400);
            },
            "os_updates",
            Level::Ok,
            "automatic updates on",
        ),
        (
            "system status forbidden",
            |p, _| p.system = Err(forbidden()),
            "os_updates",
            Level::Unknown,
            "403",
        ),
        (
            "system status down",
            |p, _| p.system = Err(down()),
            "os_updates",
            Level::Unknown,
            "connection refused",
        ),
        (
            "firewall fails",
            |p, _| health(p).firewall = Some(false),
            "firewall",
            Level::Warning,
            "fails",
        ),
        (
            "firewall not reported",
            |p, _| health(p).firewall = None,
            "firewall",
            Level::Unknown,
            "did not report",
        ),
        (
            "health forbidden",
            |p, _| p.health = Err(forbidden()),
            "firewall",
            Level::Unknown,
            "403",
        ),
        (
            "unsupported firmware",
            |p, _| health(p).unsupported_firmwares_count = Some(3),
            "phone_firmware",
            Level::Warning,
            "3 phones run unsupported firmware",
        ),
        (
            "phones unhealthy",
            |p, _| health(p).phones = Some(false),
            "phone_firmware",
            Level::Warning,
            "problem with the phones",
        ),
        (
            "health down for firmware",
            |p, _| p.health = Err(down()),
            "phone_firmware",
            Level::Unknown,
            "could not be read",
        ),
        (
            "service down",
            |p, _| sys(p).has_not_running_services = Some(true),
            "services",
            Level::Critical,
            "not running",
        ),
        (
            "services not reported",
            |p, _| sys(p).has_not_running_services = None,
            "services",
            Level::Unknown,
            "did not report",
        ),
        (
            "licence inactive",
            |p, _| sys(p).license_active = Some(false),
            "license",
            Level::Critical,
            "not active",
        ),
        (
            "maintenance within 30 days",
            |p, _| sys(p).maintenance_expires_at = days_ago(-20),
            "license",
            Level::Warning,
            "expires in 20 days",
        ),
        (
            "maintenance expired",
            |p, _| sys(p).maintenance_expires_at = days_ago(3),
            "license",
            Level::Warning,
            "expired",
        ),
        (
            "licence not reported",
            |p, _| {
                sys(p).license_active = None;
            },
            "license",
            Level::Unknown,
            "did not report",
        ),
        (
            "disk nearly full",
            |p, _| sys(p).free_disk_space = Some(5 << 30),
            "disk",
            Level::Warning,
            "only 5 %",
        ),
        (
            "disk threshold configurable",
            |p, plan| {
                sys(p).free_disk_space = Some(5 << 30);
                plan.min_free_disk_percent = 4;
            },
            "disk",
            Level::Ok,
            "5 % of the disk is free",
        ),
        (
            "disk not reported",
            |p, _| sys(p).total_disk_space = None,
            "disk",
            Level::Unknown,
            "did not report",
        ),
        (
            "one trunk",
            |p, _| p.trunks = Ok(vec![trunk(1, "sip.vodafone.es", true, false)]),
            "sip_trunk_redundancy",
            Level::Warning,
            "single point of failure",
        ),
        (
            "a trunk offline",
            |p, _| trunks(p)[1].is_online = Some(false),
            "sip_trunk_redundancy",
            Level::Warning,
            "one SIP trunk online",
        ),
        (
            "two trunks, one provider",
            |p, _| {
                p.trunks = Ok(vec![
                    trunk(1, "sip.vodafone.es", true, false),
                    trunk(2, "SIP.Vodafone.es", true, false),
                ])
            },
            "sip_trunk_redundancy",
            Level::Warning,
            "all with one provider",
        ),
        (
            "no trunk online",
            |p, _| {
                for t in trunks(p) {
                    t.is_online = Some(false);
                }
            },
            "sip_trunk_redundancy",
            Level::Critical,
            "none of the 2 SIP trunks is online",
        ),
        (
            "no trunk at all",
            |p, _| p.trunks = Ok(vec![]),
            "sip_trunk_redundancy",
            Level::Critical,
            "no SIP trunk",
        ),
        (
            "trunks forbidden",
            |p, _| p.trunks = Err(forbidden()),
            "sip_trunk_redundancy",
            Level::Unknown,
            "403",
        ),
        (
            "rule without second route",
            |p, _| {
                p.outbound_rules = Ok(vec![
                    rule("National", &[1], false),
                    rule("Mobile", &[1, 2], false),
                ])
            },
            "outbound_failover",
            Level::Warning,
            "1 outbound rule without a second route on another trunk: National",
        ),
        (
            "second route on the same trunk",
            |p, _| p.outbound_rules = Ok(vec![rule("National", &[1, 1], false)]),
            "outbound_failover",
            Level::Warning,
            "National",
        ),
        (
            "only an emergency rule",
            |p, _| p.outbound_rules = Ok(vec![rule("Emergency", &[1], true)]),
            "outbound_failover",
            Level::Warning,
            "no outbound rule",
        ),
        (
            "rules forbidden",
            |p, _| p.outbound_rules = Err(forbidden()),
            "outbound_failover",
            Level::Unknown,
            "403",
        ),
        (
            "no website link",
            |p, _| p.website_links = Ok(vec![]),
            "web_channels",
            Level::Warning,
            "no live chat",
        ),
        (
            "only a hidden link",
            |p, _| links(p)[0].hidden = Some(true),
            "web_channels",
            Level::Warning,
            "no live chat",
        ),
        (
            "a link with nothing enabled",
            |p, _| {
                let l = &mut links(p)[0];
                l.chat_enabled = Some(false);
                l.calls_enabled = Some(false);
            },
            "web_channels",
            Level::Warning,
            "no live chat",
        ),
        (
            "links forbidden",
            |p, _| p.website_links = Err(forbidden()),
            "web_channels",
            Level::Unknown,
            "403",
        ),
        (
            "no sms trunk",
            |p, _| {
                for t in trunks(p) {
                    t.messaging = None;
                }
            },
            "sms",
            Level::Info,
            "no trunk carries SMS",
        ),
        (
            "no sms trunk, required",
            |p, plan| {
                for t in trunks(p) {
                    t.messaging = None;
                }
                plan.require_sms = true;
            },
            "sms",
            Level::Warning,
            "no trunk carries SMS",
        ),
        (
            "sms declared",
            |p, plan| {
                for t in trunks(p) {
                    t.messaging = None;
                }
                plan.declared.push(declared("sms", None));
            },
            "sms",
            Level::Declared,
            "declared: the sms",
        ),
        (
            "pbx backups off",
            |p, _| settings(p).schedule_enabled = Some(false),
            "pbx_backup_schedule",
            Level::Warning,
            "are off",
        ),
        (
            "pbx backups unencrypted",
            |p, _| {
                settings(p).contents = Some(BackupContents {
                    encrypt_backup: Some(false),
                })
            },
            "pbx_backup_schedule",
            Level::Warning,
            "not encrypted",
        ),
        (
            "pbx backup settings empty",
            |p, _| p.backup_settings = Ok(BackupSettings::default()),
            "pbx_backup_schedule",
            Level::Unknown,
            "did not report",
        ),
        (
            "backup settings forbidden",
            |p, _| p.backup_settings = Err(forbidden()),
            "pbx_backup_schedule",
            Level::Unknown,
            "403",
        ),
        (
            "pbx backups local",
            |p, _| {
                p.backup_repository = Ok(BackupRepository {
                    location: Some(BackupLocation {
                        file_system_type: Some("Local".into()),
                    }),
                })
            },
            "pbx_backup_location",
            Level::Warning,
            "only on the PBX",
        ),
        (
            "pbx backup location unknown",
            |p, _| p.backup_repository = Ok(BackupRepository::default()),
            "pbx_backup_location",
            Level::Unknown,
            "did not report",
        ),
        (
            "failover off",
            |p, _| {
                p.failover = Ok(Failover {
                    enabled: Some(false),
                    ..Failover::default()
                })
            },
            "failover",
            Level::Info,
            "no 3CX failover",
        ),
        (
            "cold standby declared",
            |p, plan| {
                p.failover = Ok(Failover::default());
                plan.declared.push(declared("failover", None));
            },
            "failover",
            Level::Declared,
            "declared cold standby",
        ),
        (
            "failover forbidden",
            |p, _| p.failover = Err(forbidden()),
            "failover",
            Level::Unknown,
            "403",
        ),
        (
            "wan not declared",
            |_, plan| plan.declared.retain(|d| d.id != "alternate_wan"),
            "alternate_wan",
            Level::Warning,
            "not declared",
        ),
        (
            "wan never tested",
            |_, plan| plan.declared[0].last_tested = None,
            "alternate_wan",
            Level::Warning,
            "never tested",
        ),
        (
            "wan tested too long ago",
            |_, plan| plan.declared[0].last_tested = Some("2026-01-01".parse().unwrap()),
            "alternate_wan",
            Level::Warning,
            "328 days ago",
        ),
        (
            "test interval configurable",
            |_, plan| {
                plan.declared[0].last_tested = Some("2026-01-01".parse().unwrap());
                plan.test_every = std::time::Duration::from_secs(400 * 86400);
            },
            "alternate_wan",
            Level::Declared,
            "tested 2026-01-01",
        ),
        (
            "channels not declared",
            |_, plan| plan.declared.clear(),
            "customer_channels",
            Level::Warning,
            "not declared",
        ),
        (
            "contacts not declared",
            |_, plan| plan.declared.clear(),
            "contacts",
            Level::Warning,
            "not declared",
        ),
    ];
    let mut seen = std::collections::BTreeMap::<&str, std::collections::BTreeSet<&str>>::new();
    for (case, change, id, want, words) in cases {
        let mut p = ready();
        let mut plan = ready_plan();
        change(&mut p, &mut plan);
        let items = judge(Some(&p), None, &plan, now());
        let it = items
            .iter()
            .find(|i| i.id == id)
            .unwrap_or_else(|| panic!("{case}: no item {id}"));
        assert_eq!(it.status, want, "{case}: {it:?}");
        assert!(
            it.summary.contains(words),
            "{case}: {:?} lacks {words:?}",
            it.summary
        );
        if !matches!(want, Level::Ok | Level::Declared) {
            assert!(!it.fix.is_empty(), "{case}: a non-ok item says what to do");
        }
        if want == Level::Unknown && words == "403" {
            assert!(it.fix.contains("System Owner"), "{case}: names the role");
        }
        seen.entry(id).or_default().insert(want.word());
    }
    // Every item that can warn was seen warning (or worse), and every PBX item unknown.
    for id in crate::config::READINESS_ITEMS {
        if *id == "backups" || security_ids().contains(id) {
            continue;
        }
        let s = seen.get(id).unwrap_or_else(|| panic!("{id}: no case"));
        if *id == "failover" {
            // No failover is information, not a fault: a restore is the plan then.
            assert!(s.contains("info") && s.contains("declared") && s.contains("unknown"));
            continue;
        }
        assert!(
            s.contains("warning") || s.contains("critical"),
            "{id}: {s:?}"
        );
    }
}

#[test]
fn backups_follow_check_and_other_sources_get_declared_items_only() {
    let b = BackupsFact {
        status: Status::Critical,
        reasons: vec!["no backup of hq on any target".into()],
        counts: "no copy".into(),
    };
    let items = judge(None, Some(&b), &ready_plan(), now());
    let ids: Vec<&str> = items.iter().map(|i| i.id).collect();
    assert_eq!(
        ids,
        vec![
            "backups",
            "alternate_wan",
            "customer_channels",
            "contacts",
            "intrusion_detection",
            "network_separation",
            "network_monitoring",
            "os_hardening",
            "host_provider"
        ]
    );
    assert_eq!(items[0].status, Level::Critical);
    assert_eq!(items[0].summary, "no backup of hq on any target");
    assert_eq!(worst(&items), Status::Critical);
    let ok = BackupsFact {
        status: Status::Ok,
        reasons: vec![],
        counts: "3 of 3 copies".into(),
    };
    assert_eq!(
        judge(None, Some(&ok), &ready_plan(), now())[0].status,
        Level::Ok
    );
}

#[test]
fn skipped_items_are_not_judged() {
    let mut plan = ready_plan();
    plan.skip = vec!["web_channels".into(), "contacts".into()];
    let mut p = ready();
    p.website_links = Ok(vec![]);
    let items = judge(Some(&p), None, &plan, now());
    assert!(
        items
            .iter()
            .all(|i| i.id != "web_channels" && i.id != "contacts")
    );
    assert_eq!(worst(&items), Status::Ok);
}

#[test]
fn metric_values() {
    assert_eq!(Level::Ok.metric(), 0);
    assert_eq!(Level::Declared.metric(), 0);
    assert_eq!(Level::Info.metric(), 0);
    assert_eq!(Level::Warning.metric(), 1);
    assert_eq!(Level::Critical.metric(), 2);
    assert_eq!(Level::Unknown.metric(), 3);
}

fn sys(p: &mut PbxFacts) -> &mut SystemStatus {
    p.system.as_mut().unwrap()
}

fn health(p: &mut PbxFacts) -> &mut SystemHealth {
    p.health.as_mut().unwrap()
}

fn trunks(p: &mut PbxFacts) -> &mut Vec<Trunk> {
    p.trunks.as_mut().unwrap()
}

fn links(p: &mut PbxFacts) -> &mut Vec<WebsiteLink> {
    p.website_links.as_mut().unwrap()
}

fn settings(p: &mut PbxFacts) -> &mut BackupSettings {
    p.backup_settings.as_mut().unwrap()
}

fn sec(p: &mut PbxFacts) -> &mut SecurityFacts {
    &mut p.security
}

fn anti(p: &mut PbxFacts) -> &mut AntiHacking {
    p.security.anti_hacking.as_mut().unwrap()
}

/// The items of step 1 that came with the security facts (those between `disk` and
/// `sip_trunk_redundancy`) and their declared companions (the declared items after
/// `contacts`): `every_status_of_every_security_item` covers them.
fn security_ids() -> Vec<&'static str> {
    let items = crate::config::READINESS_ITEMS;
    let at = |id: &str| items.iter().position(|i| *i == id).unwrap();
    let declared = crate::config::DECLARED_ITEMS;
    let after = declared.iter().position(|i| *i == "contacts").unwrap() + 1;
    items[at("disk") + 1..at("sip_trunk_redundancy")]
        .iter()
        .chain(&declared[after..])
        .copied()
        .collect()
}

/// Step 1 of the advice: every status of every security item.
#[test]
fn every_status_of_every_security_item() {
    let mut seen: std::collections::BTreeMap<&str, Vec<Level>> = Default::default();
    let cases: Vec<(&str, Change, &str, Level, &str)> = vec![
        (
            "blacklist on",
            |_, _| {},
            "global_blacklist",
            Level::Ok,
            "global blacklist is on",
        ),
        (
            "blacklist off",
            |p, _| anti(p).security_defense_program = Some(false),
            "global_blacklist",
            Level::Warning,
            "global blacklist is off",
        ),
        (
            "blacklist not reported",
            |p, _| anti(p).security_defense_program = None,
            "global_blacklist",
            Level::Unknown,
            "did not report",
        ),
        (
            "anti-hacking forbidden",
            |p, _| sec(p).anti_hacking = Err(forbidden()),
            "global_blacklist",
            Level::Unknown,
            "403",
        ),
        (
            "anti-hacking forbidden, brute force",
            |p, _| sec(p).anti_hacking = Err(forbidden()),
            "brute_force_protection",
            Level::Unknown,
            "403",
        ),
        (
            "strict limits",
            |_, _| {},
            "brute_force_protection",
            Level::Ok,
            "within pbx321's limits",
        ),
        (
            "at the limits",
            |p, _| {
                anti(p).hack_auth_requests = Some(25);
                anti(p).hack_blacklist_duration = Some(1800)
            },
            "brute_force_protection",
            Level::Ok,
            "within",
        ),
        (
            "too many failures",
            |p, _| anti(p).hack_auth_requests = Some(26),
            "brute_force_protection",
            Level::Warning,
            "26 failed authentications allowed",
        ),
        (
            "auth never blocks",
            |p, _| anti(p).hack_auth_requests = Some(0),
            "brute_force_protection",
            Level::Warning,
            "never block",
        ),
        (
            "challenges",
            |p, _| anti(p).hack_challenge_requests = Some(5000),
            "brute_force_protection",
            Level::Warning,
            "5000 failed challenges",
        ),
        (
            "short block",
            |p, _| anti(p).hack_blacklist_duration = Some(60),
            "brute_force_protection",
            Level::Warning,
            "blocked for 60 s",
        ),
        (
            "no throttling",
            |p, _| anti(p).max_request_per_period = Some(0),
            "brute_force_protection",
            Level::Warning,
            "never throttled",
        ),
        (
            "red barrier off",
            |p, _| anti(p).hack_barrier_red = Some(0),
            "brute_force_protection",
            Level::Warning,
            "red barrier is off",
        ),
        (
            "limits not reported",
            |p, _| {
                anti(p).hack_auth_requests = None;
                anti(p).hack_blacklist_duration = None
            },
            "brute_force_protection",
            Level::Unknown,
            "did not report",
        ),
        (
            "no weak credentials",
            |_, _| {},
            "weak_credentials",
            Level::Ok,
            "flags no extension",
        ),
        (
            "weak credentials",
            |p, _| {
                let u = &mut sec(p).users.as_mut().unwrap().value;
                u[0].tags.push("WeakPass".into());
                u[2].tags = vec!["WeakID".into()];
            },
            "weak_credentials",
            Level::Warning,
            "2 extensions have weak credentials (3CX's WeakPass/WeakID): 100, 102",
        ),
        (
            "users forbidden",
            |p, _| sec(p).users = Err(forbidden()),
            "weak_credentials",
            Level::Unknown,
            "403",
        ),
        (
            "console restricted",
            |_, _| {},
            "console_exposure",
            Level::Ok,
            "only 2 listed addresses",
        ),
        (
            "console open",
            |p, _| sec(p).console.as_mut().unwrap().access_restricted = Some(false),
            "console_exposure",
            Level::Warning,
            "open to every address",
        ),
        (
            "restricted to nothing",
            |p, _| sec(p).console.as_mut().unwrap().ip_whitelist.clear(),
            "console_exposure",
            Level::Warning,
            "open to every address",
        ),
        (
            "console not reported",
            |p, _| sec(p).console.as_mut().unwrap().access_restricted = None,
            "console_exposure",
            Level::Unknown,
            "did not report",
        ),
        (
            "firewall passed",
            |_, _| {},
            "firewall_check",
            Level::Ok,
            "last run passed",
        ),
        (
            "firewall failed",
            |p, _| sec(p).firewall_result = Ok(false),
            "firewall_check",
            Level::Warning,
            "last run failed",
        ),
        (
            "firewall down",
            |p, _| sec(p).firewall_result = Err(down()),
            "firewall_check",
            Level::Unknown,
            "could not be read",
        ),
        (
            "nothing waits",
            |_, _| {},
            "pending_updates",
            Level::Ok,
            "no update waits",
        ),
        (
            "os upgrade",
            |p, _| sec(p).os_upgrade = Ok(true),
            "pending_updates",
            Level::Warning,
            "an operating system upgrade waits",
        ),
        (
            "3cx updates",
            |p, _| sec(p).updates.as_mut().unwrap().tcx_update[0].count = Some(2),
            "pending_updates",
            Level::Warning,
            "2 updates of 3CX wait",
        ),
        (
            "stats forbidden",
            |p, _| sec(p).updates = Err(forbidden()),
            "pending_updates",
            Level::Unknown,
            "403",
        ),
        (
            "alerts reach people",
            |_, _| {},
            "pbx_alerts",
            Level::Ok,
            "reach 2 addresses and its system owners",
        ),
        (
            "nobody hears",
            |p, _| {
                let n = sec(p).notifications.as_mut().unwrap();
                n.email_addresses = Some(String::new());
                n.notify_system_owners = Some(false)
            },
            "pbx_alerts",
            Level::Warning,
            "no address receives",
        ),
        (
            "service stop unheard",
            |p, _| {
                sec(p)
                    .notifications
                    .as_mut()
                    .unwrap()
                    .notify_service_stopped = Some(false)
            },
            "pbx_alerts",
            Level::Warning,
            "when a service stops",
        ),
        (
            "updates unheard",
            |p, _| {
                sec(p)
                    .notifications
                    .as_mut()
                    .unwrap()
                    .notify_updates_available = Some(false)
            },
            "pbx_alerts",
            Level::Warning,
            "when updates are available",
        ),
        (
            "logs forwarded",
            |_, _| {},
            "log_forwarding",
            Level::Ok,
            "syslog collector (siem.example.com)",
        ),
        (
            "logs stay",
            |p, _| sec(p).syslog.as_mut().unwrap().integration_type = Some("None".into()),
            "log_forwarding",
            Level::Info,
            "stay on the PBX",
        ),
        (
            "another collector declared",
            |p, plan| {
                sec(p).syslog.as_mut().unwrap().integration_type = Some("None".into());
                plan.declared.push(declared("log_forwarding", None))
            },
            "log_forwarding",
            Level::Declared,
            "declared: the log_forwarding",
        ),
        (
            "one blocked today",
            |_, _| {},
            "attack_activity",
            Level::Info,
            "1 address the PBX blocked itself in the last 24 h",
        ),
        (
            "without a known duration: blocks in force",
            |p, _| anti(p).hack_blacklist_duration = None,
            "attack_activity",
            Level::Info,
            "1 address",
        ),
        (
            "blocklist forbidden",
            |p, _| sec(p).auto_blocked = Err(forbidden()),
            "attack_activity",
            Level::Unknown,
            "403",
        ),
        (
            "clients used",
            |_, _| {},
            "api_clients",
            Level::Info,
            "API clients: pbx321",
        ),
        (
            "client idle",
            |p, _| sec(p).oauth_clients.as_mut().unwrap()[0].used_at = days_ago(91),
            "api_clients",
            Level::Warning,
            "unused for over 90 days: pbx321",
        ),
        (
            "client made long ago, never used",
            |p, _| sec(p).oauth_clients.as_mut().unwrap()[0].used_at = None,
            "api_clients",
            Level::Warning,
            "unused",
        ),
        (
            "never used, no date: cannot tell",
            |p, _| {
                let c = &mut sec(p).oauth_clients.as_mut().unwrap()[0];
                c.used_at = None;
                c.created_at = None
            },
            "api_clients",
            Level::Info,
            "API clients",
        ),
        (
            "clients forbidden",
            |p, _| sec(p).oauth_clients = Err(forbidden()),
            "api_clients",
            Level::Unknown,
            "403",
        ),
        (
            "intrusion detection undeclared",
            |_, plan| plan.declared.retain(|d| d.id != "intrusion_detection"),
            "intrusion_detection",
            Level::Warning,
            "not declared",
        ),
        (
            "os hardening untested",
            |_, plan| {
                plan.declared.iter_mut().for_each(|d| {
                    if d.id == "os_hardening" {
                        d.last_tested = None
                    }
                })
            },
            "os_hardening",
            Level::Warning,
            "never tested",
        ),
        (
            "host provider declared",
            |_, _| {},
            "host_provider",
            Level::Declared,
            "the host_provider",
        ),
        (
            "host provider tested long ago",
            |_, plan| {
                plan.declared.iter_mut().for_each(|d| {
                    if d.id == "host_provider" {
                        d.last_tested = "2025-01-01".parse().ok()
                    }
                })
            },
            "host_provider",
            Level::Warning,
            "last tested 2025-01-01",
        ),
        (
            "networks not separated",
            |_, plan| plan.declared.retain(|d| d.id != "network_separation"),
            "network_separation",
            Level::Warning,
            "not declared: voice and data on separate networks",
        ),
        (
            "nobody watches the network",
            |_, plan| plan.declared.retain(|d| d.id != "network_monitoring"),
            "network_monitoring",
            Level::Warning,
            "not declared: monitoring",
        ),
    ];
    for (case, change, id, want, words) in cases {
        let mut p = ready();
        let mut plan = ready_plan();
        change(&mut p, &mut plan);
        let items = judge(Some(&p), None, &plan, now());
        let i = items.iter().find(|i| i.id == id).unwrap();
        assert_eq!(i.status, want, "{case}: {i:?}");
        assert!(i.summary.contains(words), "{case}: {:?}", i.summary);
        if !matches!(want, Level::Ok | Level::Declared | Level::Info) {
            assert!(!i.fix.is_empty(), "{case}: no fix");
        }
        if want == Level::Unknown && words == "403" {
            assert!(i.fix.contains("System Owner"), "{case}: names the role");
        }
        seen.entry(id).or_default().push(want);
    }
    // Each was seen as it should be when something is wrong.
    for id in security_ids() {
        let s = seen.get(id).unwrap_or_else(|| panic!("{id}: no case"));
        let bad = match id {
            "attack_activity" => Level::Unknown,
            "log_forwarding" => Level::Info,
            _ => Level::Warning,
        };
        assert!(s.contains(&bad), "{id}: {s:?}");
    }
}

/// Nothing personal the PBX keeps is shown: the e-mail addresses of its alerts and the
/// addresses of the console's allow-list are counted, never written.
#[test]
fn security_items_show_no_address() {
    let items = judge(Some(&ready()), None, &ready_plan(), now());
    let all = serde_json::to_string(&items).unwrap();
    for secret in [
        "it@example.com",
        "oncall@example.com",
        "198.51.100.7",
        "203.0.113.0",
    ] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
}
