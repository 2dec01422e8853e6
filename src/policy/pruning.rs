//! What `prune` would do over the catalog: retention ([`super::retention::plan`]) fed with
//! every copy's state, and the guards that keep a copy whatever retention says (a dispute,
//! a forgery, a backup dated in the future, a second name for one file). Pure: `check`
//! reports it, `repair` refills what it keeps, `prune` carries it out.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::catalog::{BackupEntry, Catalog, CopyState};
use crate::config::Config;
use crate::policy::retention::{self, Action, BackupView, CopyKind, CopyView, Plan, TargetView};
use crate::policy::{self, Rule};

/// Retention and its guards over the copies of `source` in `cat`: what each target keeps,
/// removes or skips, and why.
pub fn plan(cfg: &Config, cat: &Catalog, source: &str, now: DateTime<Utc>) -> Plan {
    let rule = Rule::from(&cfg.policy);
    let entries: Vec<&BackupEntry> = cat
        .backups
        .values()
        .filter(|e| e.source == source && !e.in_future())
        .collect();
    let backups: Vec<BackupView> = entries
        .iter()
        .map(|e| {
            let disputed = e
                .copies
                .iter()
                .any(|c| matches!(c.state, CopyState::Divergent { .. }));
            BackupView {
            id: e.id.clone(),
            created_at: e.created_at,
            signed: e.signed(),
            compliant: policy::evaluate(&policy::check::verified_facts(cat, e, now), &rule).ok,
            copies: e
                .copies
                .iter()
                .map(|c| {
                    // Copies that disagree are a dispute for a person: removing one of the
                    // agreeing copies could make the other version the one that counts.
                    if disputed {
                        return CopyView {
                            target: c.target.clone(),
                            kind: CopyKind::Untouchable(
                                "copies of this backup disagree (divergent): nothing of it is removed until a person resolves it".into(),
                            ),
                            locked_until: c.locked_until,
                        };
                    }
                    // A file another target sees too is left alone on both: removing it
                    // under one target's rules would remove the other's copy.
                    let shared: Vec<String> = e
                        .duplicates()
                        .into_iter()
                        .filter(|(_, of)| *of == c.target)
                        .map(|(t, _)| t)
                        .collect();
                    let kind = if shared.is_empty() {
                        kind_of(&c.state)
                    } else {
                        CopyKind::Untouchable(format!(
                            "the same file is the copy on {} too (one copy under two targets): never removed",
                            shared.join(", ")
                        ))
                    };
                    CopyView {
                        target: c.target.clone(),
                        kind,
                        locked_until: c.locked_until,
                    }
                })
                .collect(),
            }
        })
        .collect();
    let targets: Vec<TargetView> = cfg
        .targets
        .iter()
        .map(|t| {
            let not_prunable = if let Some(u) = cat.unreachable.iter().find(|u| u.target == t.name)
            {
                Some(format!(
                    "could not be listed ({}): nothing is removed there this run",
                    u.error
                ))
            } else if entries.iter().any(|e| {
                e.copies
                    .iter()
                    .any(|c| c.target == t.name && matches!(c.state, CopyState::Unreachable { .. }))
            }) {
                Some("a manifest there could not be read: nothing is removed there this run".into())
            } else {
                None
            };
            TargetView {
                target: t.name.clone(),
                rules: cfg.rules_for(source, &t.name).clone(),
                not_prunable,
            }
        })
        .collect();
    retention::plan(&backups, &targets, &cfg.retention.zone, now)
}

/// Copies retention keeps that a reachable target lacks (what `repair` would write).
pub fn pending_repairs(cfg: &Config, cat: &Catalog, source: &str, now: DateTime<Utc>) -> usize {
    repairs_of(&plan(cfg, cat, source, now), cat, source)
}

/// `pending_repairs`, and per backup id one line saying why each target keeps it (or what
/// prune would do there): "local, usb: newest, last-1 · away: monthly-2".
pub fn pending_and_kept(
    cfg: &Config,
    cat: &Catalog,
    source: &str,
    now: DateTime<Utc>,
) -> (usize, BTreeMap<String, String>) {
    let plan = plan(cfg, cat, source, now);
    let mut per_id: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for t in &plan.targets {
        for c in &t.copies {
            let text = match &c.action {
                Action::Keep { reasons } => reasons
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                Action::Remove { why } => format!("prune removes it ({why})"),
                Action::Skip { why } => format!("not pruned: {why}"),
            };
            let group = per_id.entry(c.id.clone()).or_default();
            match group.iter_mut().find(|(_, t)| *t == text) {
                Some((targets, _)) => {
                    targets.push_str(", ");
                    targets.push_str(&t.target);
                }
                None => group.push((t.target.clone(), text)),
            }
        }
    }
    let kept = per_id
        .into_iter()
        .map(|(id, groups)| {
            let line = groups
                .iter()
                .map(|(targets, text)| format!("{targets}: {text}"))
                .collect::<Vec<_>>()
                .join(" · ");
            (id, line)
        })
        .collect();
    (repairs_of(&plan, cat, source), kept)
}

fn repairs_of(plan: &Plan, cat: &Catalog, source: &str) -> usize {
    plan.wanted
        .iter()
        .map(|(id, keepers)| {
            let entry = cat.backups.get(&(source.to_string(), id.clone()));
            keepers
                .iter()
                .filter(|k| !cat.unreachable.iter().any(|u| &u.target == *k))
                .filter(|k| !entry.is_some_and(|e| e.verified_on(k)))
                .count()
        })
        .sum()
}

fn kind_of(state: &CopyState) -> CopyKind {
    match state {
        CopyState::Verified | CopyState::Unsigned => CopyKind::Verified,
        CopyState::Missing => CopyKind::Broken,
        CopyState::Corrupt { .. } => CopyKind::Broken,
        CopyState::Forged { why } => {
            CopyKind::Untouchable(format!("{why}: left for a person to inspect"))
        }
        CopyState::Divergent { why } => {
            CopyKind::Untouchable(format!("divergent ({why}): left for a person to inspect"))
        }
        CopyState::Future { dated } => CopyKind::Untouchable(format!(
            "dated {}, in the future: left for a person to inspect",
            dated.format("%Y-%m-%d %H:%M:%S UTC")
        )),
        CopyState::Duplicate { of } => CopyKind::Untouchable(format!(
            "the same file as the copy on {of} (one copy under two targets): never removed through a second name"
        )),
        CopyState::Unreachable { error, .. } => {
            CopyKind::Untouchable(format!("could not be read: {error}"))
        }
        CopyState::Unchecked => CopyKind::Untouchable("not read".into()),
    }
}
