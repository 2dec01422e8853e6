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
    assert_eq!(items.len(), 16);
    for i in &items {
        assert!(
            matches!(i.status, Level::Ok | Level::Declared),
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
        if *id == "backups" {
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
        vec!["backups", "alternate_wan", "customer_channels", "contacts"]
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
