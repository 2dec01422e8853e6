//! The disaster-recovery runbook: from the config and a check with readiness, where every
//! copy is, the exact commands that restore the newest backup (with the config, with no
//! config from one surviving target, and with stock `age` and `zstd`), where the keys are,
//! how to bring the zip back into 3CX, and the response plan's other measures with their
//! live status. Markdown that reads as plain text, or one self-contained HTML file that
//! prints on A4. Pure: the time is passed in; nothing here touches a target.

use askama::Template;
use chrono::{DateTime, Utc};

use super::page_time;
use crate::catalog::{CopyInfo, CopyState};
use crate::config::{Config, TargetConfig, TargetKind, Zone, location_of};
use crate::policy::Status;
use crate::policy::check::{CheckReport, SourceCheck};
use crate::policy::readiness::Item;

/// How many of the newest backups the runbook locates.
const NEWEST: usize = 3;
/// Where the runbook tells the reader the key is (`key_custody` says where it really is).
const KEY: &str = "/path/to/pbx321-key.txt";

/// Everything the runbook says, in order; rendered as Markdown or HTML.
pub struct Book {
    pub title: String,
    pub generated: String,
    pub zone: String,
    pub config: String,
    pub verdict: String,
    /// "2 critical, 9 warning" over every source's readiness items.
    pub readiness: String,
    pub owner: String,
    pub key_custody: String,
    pub sources: Vec<SourceBook>,
    pub targets: Vec<TargetLine>,
}

pub struct SourceBook {
    pub name: String,
    pub verdict: String,
    pub reasons: Vec<String>,
    pub copies: Vec<CopyLine>,
    /// The newest backup: id, its file name at the PBX, the zip's sha256.
    pub newest: Option<(String, String, String)>,
    pub with_config: String,
    /// (target, command) per target holding a verified copy.
    pub no_config: Vec<(String, String)>,
    pub stock: Vec<(String, String)>,
    /// "Install 3CX ≥ version before restoring this backup", when the version is known.
    pub version_line: String,
    pub into_3cx: Vec<String>,
    /// A new host, in order: install, place the two files, let the installer restore, check.
    pub bare_metal: Vec<String>,
    /// The last standby drill, in words ("" when none is configured or recorded).
    pub standby: String,
    pub readiness: Vec<ItemLine>,
}

pub struct CopyLine {
    pub backup: String,
    pub made: String,
    pub target: String,
    pub state: String,
    pub medium: String,
    pub location: String,
    pub verified: String,
    pub immutable: String,
}

pub struct TargetLine {
    pub name: String,
    pub kind: String,
    pub medium: String,
    pub location: String,
    pub reach: String,
    pub state: String,
}

pub struct ItemLine {
    pub id: String,
    pub status: String,
    pub icon: &'static str,
    pub class: &'static str,
    pub summary: String,
    pub facts: Vec<String>,
    pub fix: String,
}

fn word(s: Status) -> &'static str {
    s.label()
}

fn icon(s: Status) -> &'static str {
    match s {
        Status::Ok => "✔",
        Status::Warning => "▲",
        Status::Critical => "✖",
        Status::Unknown => "?",
    }
}

fn state_text(c: &CopyInfo) -> String {
    match &c.state {
        CopyState::Verified => "✔ verified".into(),
        CopyState::Unsigned => "▲ unsigned (from before signing)".into(),
        CopyState::Missing => "✖ missing".into(),
        CopyState::Corrupt { why } => format!("✖ corrupt: {why}"),
        CopyState::Forged { why } => format!("✖ {why}"),
        CopyState::Divergent { why } => format!("✖ divergent: {why}"),
        s @ (CopyState::Future { .. } | CopyState::Duplicate { .. }) => {
            format!("✖ {}", super::reasons::why_not(s).unwrap_or_default())
        }
        CopyState::Unreachable { error, .. } => format!("▲ cannot be read now ({error})"),
        CopyState::Unchecked => "? listed, not read".into(),
    }
}

/// Single quotes for a shell, whatever is inside.
fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@=,".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The trusted key to name on a bare machine.
fn trusted(cfg: &Config) -> Option<String> {
    let s = cfg.signing.as_ref()?;
    Some(
        s.trusted
            .first()
            .cloned()
            .unwrap_or_else(|| format!("{}.pub", s.key.display())),
    )
}

/// `pbx321 restore` from one target with no config.
fn no_config(t: &TargetConfig, cfg: &Config, source: &str, id: &str) -> String {
    let mut pre = String::new();
    let mut extra = String::new();
    match &t.kind {
        TargetKind::Sftp(s) => {
            extra = format!(
                " \\\n    --ssh-key {} --known-hosts {}",
                s.key
                    .as_ref()
                    .map(|k| sh(&k.display().to_string()))
                    .unwrap_or_else(|| "~/.ssh/id_ed25519".into()),
                s.known_hosts
                    .as_ref()
                    .map(|k| sh(&k.display().to_string()))
                    .unwrap_or_else(|| "~/.ssh/known_hosts".into())
            );
        }
        TargetKind::Webdav(w) if w.username.is_some() => {
            pre = "PBX321_WEBDAV_PASSWORD=… ".into();
        }
        _ => {}
    }
    let trust = trusted(cfg)
        .map(|k| format!(" \\\n    --trusted-key {}", sh(&k)))
        .unwrap_or_default();
    format!(
        "{pre}pbx321 restore --from {} --source {source} --backup {id}{extra} \\\n    --to {source}.zip --identity {KEY}{trust}",
        sh(&location_of(&t.kind))
    )
}

/// Stock tools only: fetch the artifact from `t`, decrypt, decompress, compare.
fn stock(t: &TargetConfig, source: &str, id: &str, sha: &str) -> String {
    let artifact = crate::manifest::artifact_path(source, id);
    let file = format!("{id}.zip.zst.age");
    let fetch_then =
        |fetch: String| format!("{fetch}\nage -d -i {KEY} {file} | zstd -d > {source}.zip");
    let body = match &t.kind {
        TargetKind::Fs(f) => format!(
            "age -d -i {KEY} {} | zstd -d > {source}.zip",
            sh(&f.path.join(&artifact).display().to_string())
        ),
        TargetKind::Sftp(s) => {
            let (user_host, port) = match s.endpoint.trim_start_matches("ssh://").rsplit_once(':') {
                Some((uh, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
                    (uh.to_string(), p.to_string())
                }
                _ => (
                    s.endpoint.trim_start_matches("ssh://").to_string(),
                    "22".into(),
                ),
            };
            fetch_then(format!(
                "sftp -P {port} {}:{} {file}",
                sh(&user_host),
                sh(&format!("{}/{artifact}", s.path.trim_end_matches('/')))
            ))
        }
        TargetKind::Webdav(w) => fetch_then(format!(
            "curl -f{} -o {file} {}",
            w.username
                .as_ref()
                .map(|u| format!(" -u {}", sh(u)))
                .unwrap_or_default(),
            sh(&format!(
                "{}/{}/{artifact}",
                w.endpoint.trim_end_matches('/'),
                w.path.trim_matches('/')
            )
            .replace("//", "/")
            .replacen(":/", "://", 1))
        )),
        TargetKind::S3(s) => {
            let mut opts = String::new();
            if let Some(r) = &s.region {
                opts.push_str(&format!(" --region {}", sh(r)));
            }
            if let Some(e) = &s.endpoint {
                opts.push_str(&format!(" --endpoint-url {}", sh(e)));
            }
            format!(
                "aws s3 cp{opts} {} - \\\n    | age -d -i {KEY} | zstd -d > {source}.zip",
                sh(&format!("s3://{}/{}{artifact}", s.bucket, s.prefix))
            )
        }
    };
    if sha.is_empty() {
        body
    } else {
        format!("{body}\nsha256sum {source}.zip   # must print {sha}")
    }
}

fn into_3cx(file: &str, source: &str, restore_via: bool) -> Vec<String> {
    let literal = file.replace('\'', "''");
    let mut steps = Vec::new();
    if restore_via {
        steps.push(format!(
            "Into the running PBX (or a fresh install at its address), in one command that checks the version first, places the zip through restore_via, restores and compares: pbx321 restore --into {source} --identity {KEY} (--dry-run shows each step)."
        ));
    }
    steps.extend([
        "Install 3CX V20 on the new machine (same version or newer) and open its console.".into(),
        format!(
            "Either upload the zip in the console: Backup & Restore > Restore, choose the restored zip; restore it under its original name {file}."
        ),
        format!(
            "Or place it in the PBX's backup folder (or the backup repository 3CX uses) as {file}, then, with an API client of the System Owner role:"
        ),
        format!("GET  /xapi/v1/Backups('{literal}')/Pbx.GetBackupExtras()   → its password and footprint"),
        format!(
            "POST /xapi/v1/Backups('{literal}')/Pbx.Restore   with {{\"password\": …, \"footprint\": …}} from the answer above"
        ),
        "3CX's API has no upload call: the file must be put there first (console upload, SFTP or the share).".into(),
        "After the restore: check the trunks register, make a test call in and out, and re-point DNS if the IP changed.".into(),
    ]);
    steps
}

/// A new host for a PBX that no longer exists, in order.
fn bare_metal(source: &str, version: Option<&str>, cfg: &Config) -> Vec<String> {
    let install = match version {
        Some(v) => format!("Install Debian and 3CX {v} or later (not yet configured)."),
        None => "Install Debian and 3CX, the same version as the backup's or later (not yet configured).".into(),
    };
    vec![
        install,
        format!(
            "On this machine: pbx321 --config {} restore --source {source} --to /root/restore --setup-config --identity {KEY} — writes the zip and 3CX's answer file setupconfig.xml beside it.",
            sh(&cfg.path.display().to_string())
        ),
        "Place these two files on the new host where setupconfig.xml's BackupFile says (fill in the network answers it leaves commented).".into(),
        "Let 3CX's installer restore the backup.".into(),
        format!("Then: pbx321 check {source} (and pbx321 plan)."),
    ]
}

fn item_line(i: &Item) -> ItemLine {
    use crate::policy::readiness::Level;
    let class = match i.status {
        Level::Ok | Level::Declared => "ok",
        Level::Warning => "warning",
        Level::Critical => "critical",
        Level::Unknown => "unknown",
        Level::Info => "info",
    };
    ItemLine {
        id: i.id.to_string(),
        status: i.status.word().to_string(),
        icon: i.status.icon(),
        class,
        // What the PBX told (trunk and rule names, versions) is data: escaped.
        summary: crate::escape::text(&i.summary).into_owned(),
        facts: i
            .facts
            .iter()
            .map(|f| crate::escape::text(f).into_owned())
            .collect(),
        fix: i.fix.clone(),
    }
}

fn source_book(r: &CheckReport, s: &SourceCheck, cfg: &Config, zone: &Zone) -> SourceBook {
    let name = s.status.source.clone();
    let mut copies = Vec::new();
    for b in s.backups.iter().take(NEWEST) {
        for t in &r.targets {
            let c = b.copies.iter().find(|c| c.target == t.target);
            copies.push(CopyLine {
                backup: b.id.clone(),
                made: page_time(b.created_at, zone),
                target: t.target.clone(),
                state: match c {
                    Some(c) => state_text(c),
                    None if t.up => "✖ missing".into(),
                    None => "▲ target cannot be read now".into(),
                },
                medium: t.medium.to_string(),
                location: t.location.to_string(),
                verified: match c.map(|c| &c.state) {
                    Some(CopyState::Verified | CopyState::Unsigned) => {
                        format!("{} (this check)", page_time(r.checked_at, zone))
                    }
                    Some(CopyState::Unreachable {
                        last_verified: Some(at),
                        ..
                    }) => page_time(*at, zone),
                    _ => "—".into(),
                },
                immutable: c
                    .and_then(|c| c.locked_until)
                    .map(|u| format!("locked until {}", page_time(u, zone)))
                    .unwrap_or_else(|| "—".into()),
            });
        }
    }
    let newest = s.newest.as_ref();
    let manifest = newest.and_then(|n| n.copies.iter().find_map(|c| c.manifest.as_ref()));
    let sha = manifest.map(|m| m.plain.sha256.clone()).unwrap_or_default();
    let file = manifest
        .map(|m| m.origin.name.clone())
        .unwrap_or_else(|| format!("{name}.zip"));
    let version = manifest.and_then(|m| m.pbx_version());
    let restore_via = cfg.sources.iter().any(|c| {
        c.name == name
            && matches!(&c.kind, crate::config::SourceKind::ThreeCx(t) if t.restore_via.is_some())
    });
    let mut with_config = String::new();
    let mut bare = Vec::new();
    let mut stock_cmds = Vec::new();
    if let Some(n) = newest {
        with_config = format!(
            "pbx321 --config {} restore --source {name} --backup {} \\\n    --to {name}.zip --identity {KEY}",
            sh(&cfg.path.display().to_string()),
            n.id
        );
        for c in n.copies.iter().filter(|c| c.is_verified()) {
            if let Some(t) = cfg.target(&c.target) {
                bare.push((t.name.clone(), no_config(t, cfg, &name, &n.id)));
                stock_cmds.push((t.name.clone(), stock(t, &name, &n.id, &sha)));
            }
        }
    }
    SourceBook {
        verdict: format!("{} {}", icon(s.status.status), word(s.status.status)),
        reasons: s.status.reasons.clone(),
        copies,
        newest: newest.map(|n| (n.id.clone(), file.clone(), sha.clone())),
        with_config,
        no_config: bare,
        stock: stock_cmds,
        version_line: version
            .map(|v| format!("Install 3CX {v} or later before restoring this backup (it was made by 3CX {v})."))
            .unwrap_or_default(),
        into_3cx: into_3cx(&file, &name, restore_via),
        bare_metal: bare_metal(&name, version, cfg),
        standby: s
            .standby_drill
            .as_ref()
            .map(|d| {
                let ago = (r.checked_at - d.at).num_seconds().max(0) as u64;
                format!("Last standby drill: {}", super::standby_line(d, ago))
            })
            .unwrap_or_default(),
        readiness: s.readiness.iter().map(item_line).collect(),
        name,
    }
}

fn readiness_summary(r: &CheckReport) -> String {
    use crate::policy::readiness::Level;
    let items: Vec<&Item> = r.sources.iter().flat_map(|s| &s.readiness).collect();
    if items.is_empty() {
        return "not judged".into();
    }
    let parts: Vec<String> = [Level::Critical, Level::Unknown, Level::Warning]
        .iter()
        .filter_map(|l| {
            let n = items.iter().filter(|i| i.status == *l).count();
            (n > 0).then(|| format!("{n} {}", l.word()))
        })
        .collect();
    if parts.is_empty() {
        "✔ every item ok or declared".into()
    } else {
        format!("{} (see each source's response plan)", parts.join(", "))
    }
}

/// The runbook's content.
pub fn book(r: &CheckReport, cfg: &Config, now: DateTime<Utc>) -> Book {
    let zone = &cfg.daemon.zone;
    Book {
        title: "Disaster-recovery runbook".into(),
        generated: page_time(now, zone),
        zone: zone.name(),
        config: cfg.path.display().to_string(),
        verdict: format!("{} {}", icon(r.status), word(r.status)),
        readiness: readiness_summary(r),
        owner: cfg
            .plan
            .owner
            .clone()
            .unwrap_or_else(|| "not named: set [plan] owner".into()),
        key_custody: cfg
            .plan
            .key_custody
            .clone()
            .unwrap_or_else(|| "not written down: set [plan] key_custody (where the age identity and the signing key are kept)".into()),
        sources: r.sources.iter().map(|s| source_book(r, s, cfg, zone)).collect(),
        targets: r
            .targets
            .iter()
            .map(|t| TargetLine {
                name: t.target.clone(),
                kind: cfg
                    .target(&t.target)
                    .map(|c| c.kind.type_name().to_string())
                    .unwrap_or_default(),
                medium: t.medium.to_string(),
                location: t.location.to_string(),
                reach: cfg
                    .target(&t.target)
                    .map(|c| location_of(&c.kind))
                    .unwrap_or_default(),
                state: match &t.error {
                    None => "✔ reachable".into(),
                    Some(e) => format!("✖ unreachable: {e}"),
                },
            })
            .collect(),
    }
}

/// The runbook as Markdown (reads cleanly as plain text).
pub fn markdown(r: &CheckReport, cfg: &Config, now: DateTime<Utc>) -> String {
    use std::fmt::Write;
    let b = book(r, cfg, now);
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n", b.title);
    let _ = writeln!(
        o,
        "Generated {} by pbx321 {} from {}. Times are in {}.\n",
        b.generated,
        env!("CARGO_PKG_VERSION"),
        b.config,
        b.zone
    );
    let _ = writeln!(o, "- Backups: {}", b.verdict);
    let _ = writeln!(o, "- Readiness: {}", b.readiness);
    let _ = writeln!(o, "- Owner: {}", b.owner);
    let _ = writeln!(o, "- Keys: {}\n", b.key_custody);
    let _ = writeln!(o, "## Targets\n");
    for t in &b.targets {
        let _ = writeln!(
            o,
            "- {} ({}, {}, {}): {} — {}",
            t.name, t.kind, t.medium, t.location, t.reach, t.state
        );
    }
    o.push('\n');
    for s in &b.sources {
        source_markdown(&mut o, s);
    }
    let contacts = cfg.plan.declared("contacts");
    let _ = writeln!(o, "## Contacts\n");
    let _ = writeln!(o, "- Owner: {}", b.owner);
    match contacts {
        Some(c) => {
            let _ = writeln!(o, "- {}", c.what);
        }
        None => {
            let _ = writeln!(
                o,
                "- none declared: add [[plan.declared]] id = \"contacts\" (carrier, ISP, 3CX partner)"
            );
        }
    }
    o
}

/// One source's part of the Markdown runbook: its verdict, where its copies are, how to
/// restore the newest backup and bring it back into 3CX, and its response plan.
fn source_markdown(o: &mut String, s: &SourceBook) {
    use std::fmt::Write;
    let _ = writeln!(o, "## {} — {}\n", s.name, s.verdict);
    for r in &s.reasons {
        let _ = writeln!(o, "- {r}");
    }
    if !s.reasons.is_empty() {
        o.push('\n');
    }
    let _ = writeln!(o, "### Where the copies are\n");
    if s.copies.is_empty() {
        let _ = writeln!(o, "No backup on any target.\n");
    }
    for group in s.copies.chunk_by(|a, b| a.backup == b.backup) {
        let _ = writeln!(o, "{} (made {}):\n", group[0].backup, group[0].made);
        for c in group {
            let _ = writeln!(
                o,
                "- {}: {} — {}, {}; last verified {}; {}",
                c.target, c.state, c.medium, c.location, c.verified, c.immutable
            );
        }
        o.push('\n');
    }
    if let Some((id, file, sha)) = &s.newest {
        let _ = writeln!(o, "### Restore the newest backup ({id})\n");
        let _ = writeln!(
            o,
            "The zip is {file} at the PBX; its sha256 is {}.\n",
            if sha.is_empty() { "not known" } else { sha }
        );
        let _ = writeln!(
            o,
            "With this machine's config:\n\n```sh\n{}\n```\n",
            s.with_config
        );
        if !s.no_config.is_empty() {
            let _ = writeln!(
                o,
                "On a bare machine with pbx321 and the key, from any one surviving target:\n"
            );
            for (t, cmd) in &s.no_config {
                let _ = writeln!(o, "From {t}:\n\n```sh\n{cmd}\n```\n");
            }
            let _ = writeln!(o, "With stock tools only (`age`, `zstd`):\n");
            for (t, cmd) in &s.stock {
                let _ = writeln!(o, "From {t}:\n\n```sh\n{cmd}\n```\n");
            }
        }
        let _ = writeln!(o, "### Bring it back into 3CX\n");
        if !s.version_line.is_empty() {
            let _ = writeln!(o, "**{}**\n", s.version_line);
        }
        let mut n = 0;
        for step in &s.into_3cx {
            if step.starts_with("GET ") || step.starts_with("POST ") {
                let _ = writeln!(o, "       {step}");
            } else {
                n += 1;
                let _ = writeln!(o, "{n}. {step}");
            }
        }
        o.push('\n');
        let _ = writeln!(o, "### A new host (the PBX is gone)\n");
        for (i, step) in s.bare_metal.iter().enumerate() {
            let _ = writeln!(o, "{}. {step}", i + 1);
        }
        o.push('\n');
        if !s.standby.is_empty() {
            let _ = writeln!(o, "{}\n", s.standby);
        }
    }
    if !s.readiness.is_empty() {
        let _ = writeln!(o, "### Response plan\n");
        for i in &s.readiness {
            let _ = writeln!(o, "- {} {} — {}: {}", i.icon, i.status, i.id, i.summary);
            for f in &i.facts {
                let _ = writeln!(o, "  - {f}");
            }
            if !i.fix.is_empty() {
                let _ = writeln!(o, "  - To do: {}", i.fix);
            }
        }
        o.push('\n');
    }
}

#[derive(Template)]
#[template(path = "runbook.html")]
struct Html<'a> {
    b: &'a Book,
    version: &'static str,
    contacts: String,
}

/// The runbook as one self-contained HTML file that prints on A4.
pub fn html(r: &CheckReport, cfg: &Config, now: DateTime<Utc>) -> String {
    let b = book(r, cfg, now);
    Html {
        b: &b,
        version: env!("CARGO_PKG_VERSION"),
        contacts: cfg
            .plan
            .declared("contacts")
            .map(|c| c.what.clone())
            .unwrap_or_else(|| {
                "none declared: add [[plan.declared]] id = \"contacts\" (carrier, ISP, 3CX partner)"
                    .into()
            }),
    }
    .render()
    .unwrap_or_else(|e| format!("template error: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_keeps_words_and_quotes_the_rest() {
        assert_eq!(sh("/mnt/usb/pbx321"), "/mnt/usb/pbx321");
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(sh(""), "''");
    }
}
