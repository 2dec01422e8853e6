//! `[[source]]`: where backups come from.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use super::{Cx, SOURCE_COMMON, Secret, humantime_serde_compat};

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    /// Keep rules for this source's backups, instead of `[retention]`'s.
    pub retention: Option<super::Rules>,
    /// When `pbx321 daemon` backs it up.
    pub schedule: Option<super::CronSpec>,
    /// The tenant it belongs to (`tenant = "acme"`, or a `[[tenant]]`'s glob).
    pub tenant: Option<String>,
    pub kind: SourceKind,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    Folder(FolderSource),
    Command(CommandSource),
    ThreeCx(ThreeCxSource),
    ThreeCxV18(ThreeCxV18Source),
}

/// A 3CX V20 system, through its Configuration API (XAPI) with OAuth2 client credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreeCxSource {
    /// `https://pbx.example.com:5001`
    pub url: String,
    pub client_id: String,
    pub client_secret: Secret,
    #[serde(default)]
    pub mode: ThreeCxMode,
    /// What a created backup holds.
    #[serde(default = "default_contents")]
    pub contents: Vec<BackupContent>,
    /// Delete the PBX-side file once the invariant holds for its backup.
    #[serde(default)]
    pub delete_after: bool,
    /// Extra CA certificate (PEM) for a PBX with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Bound on waiting for a new backup to appear, and on the whole pull.
    #[serde(default = "default_command_timeout", with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Where `restore --into` places a zip so that this PBX lists it in its backup
    /// repository (a location as `--from` takes it: sftp://, s3:// or a directory).
    pub restore_via: Option<String>,
    /// The SSH private key for an sftp:// `restore_via`.
    pub restore_via_key: Option<PathBuf>,
    /// The known_hosts file holding the SSH host key of an sftp:// `restore_via`.
    pub restore_via_known_hosts: Option<PathBuf>,
    /// 3CX's own backup password ("encrypt backup"), for restoring an encrypted backup.
    pub backup_password: Option<Secret>,
    /// Bound on waiting for the PBX to list a placed zip, and to answer again after a
    /// restore restarts its services.
    #[serde(default = "default_restart_timeout", with = "humantime_serde_compat")]
    pub restart_timeout: Duration,
    /// A second 3CX V20 that each backup is restored into to prove it (`drill --standby`).
    pub standby: Option<Box<StandbyPbx>>,
}

/// A standby 3CX V20, never one of the sources: given as a `3cx` source is, with its own
/// `restore_via`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandbyPbx {
    pub url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub ca_file: Option<PathBuf>,
    pub restore_via: String,
    pub restore_via_key: Option<PathBuf>,
    pub restore_via_known_hosts: Option<PathBuf>,
    #[serde(default = "default_restart_timeout", with = "humantime_serde_compat")]
    pub restart_timeout: Duration,
}

fn default_restart_timeout() -> Duration {
    Duration::from_secs(15 * 60)
}

/// A running 3CX V20 that a backup can be put back into: its API and its repository.
#[derive(Debug, Clone)]
pub struct IntoPbx {
    /// Its API, as a `3cx` source's (only the keys a client needs are set).
    pub api: ThreeCxSource,
    /// Where a zip is placed so that the PBX lists it.
    pub via: super::TargetConfig,
    /// The bound on each wait (listing, restart).
    pub restart_timeout: Duration,
}

impl ThreeCxSource {
    /// This PBX as a place to restore into, when `restore_via` is set.
    pub fn into_pbx(&self) -> Result<Option<IntoPbx>, super::Invalid> {
        let Some(via) = &self.restore_via else {
            return Ok(None);
        };
        Ok(Some(IntoPbx {
            api: self.clone(),
            via: restore_via(via, &self.restore_via_key, &self.restore_via_known_hosts)?,
            restart_timeout: self.restart_timeout,
        }))
    }

    /// The standby PBX, as a place to restore into.
    pub fn standby_pbx(&self) -> Result<Option<IntoPbx>, super::Invalid> {
        let Some(s) = &self.standby else {
            return Ok(None);
        };
        Ok(Some(IntoPbx {
            api: ThreeCxSource {
                url: s.url.clone(),
                client_id: s.client_id.clone(),
                client_secret: s.client_secret.clone(),
                mode: ThreeCxMode::Latest,
                contents: Vec::new(),
                delete_after: false,
                ca_file: s.ca_file.clone(),
                timeout: self.timeout,
                restore_via: Some(s.restore_via.clone()),
                restore_via_key: s.restore_via_key.clone(),
                restore_via_known_hosts: s.restore_via_known_hosts.clone(),
                // The backup's password: it is the backup that is encrypted.
                backup_password: self.backup_password.clone(),
                restart_timeout: s.restart_timeout,
                standby: None,
            },
            via: restore_via(
                &s.restore_via,
                &s.restore_via_key,
                &s.restore_via_known_hosts,
            )?,
            restart_timeout: s.restart_timeout,
        }))
    }
}

/// A standby that is one of the configured PBXes (same host and port as a source's URL):
/// a drill would restore old backups over a live phone system. Each is a problem.
pub fn standby_clashes(sources: &[SourceConfig]) -> Vec<String> {
    let host_port =
        |url: &str| super::http_host_port(url).map(|(h, p)| (h.to_ascii_lowercase(), p));
    let pbxes: Vec<(&str, Option<(String, u16)>)> = sources
        .iter()
        .filter_map(|s| match &s.kind {
            SourceKind::ThreeCx(t) => Some((s.name.as_str(), host_port(&t.url))),
            SourceKind::ThreeCxV18(t) => Some((s.name.as_str(), host_port(&t.url))),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for s in sources {
        let SourceKind::ThreeCx(t) = &s.kind else {
            continue;
        };
        let Some(standby) = &t.standby else { continue };
        let at = host_port(&standby.url);
        for (other, url) in &pbxes {
            if at.is_some() && *url == at {
                out.push(format!(
                    "source {:?}: standby.url {} is source {other:?}'s PBX: a standby drill restores backups into it and would overwrite a live phone system; give a separate standby PBX",
                    s.name, standby.url
                ));
            }
        }
    }
    out
}

/// A `restore_via` location as a target named `restore-via`.
fn restore_via(
    via: &str,
    key: &Option<PathBuf>,
    known_hosts: &Option<PathBuf>,
) -> Result<super::TargetConfig, super::Invalid> {
    if via.starts_with("webdav") {
        return Err(invalid!(
            "restore_via {via:?}: 3CX reads its backup repository over SFTP, S3 or its own disk; give an sftp://, s3:// or directory location"
        ));
    }
    let opts = super::LocationOptions {
        ssh_key: key.clone(),
        known_hosts: known_hosts.clone(),
    };
    super::parse_location(via, "restore-via", &opts)
}

/// A 3CX V18 system, through the management console's API with an administrator login.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreeCxV18Source {
    /// `https://pbx.example.com:5001`
    pub url: String,
    pub username: String,
    pub password: Secret,
    #[serde(default)]
    pub mode: ThreeCxMode,
    #[serde(default = "default_contents")]
    pub contents: Vec<BackupContent>,
    #[serde(default)]
    pub delete_after: bool,
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_command_timeout", with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Where a backup is downloaded from; `{file}` and `{id}` are filled in. 3CX does not
    /// publish this endpoint for V18: check it in the browser (docs/3cx.md) if yours differs.
    #[serde(default = "default_v18_download_path")]
    pub download_path: String,
}

pub const DEFAULT_V18_DOWNLOAD_PATH: &str = "/api/BackupAndRestoreList/download?file={file}";

fn default_v18_download_path() -> String {
    DEFAULT_V18_DOWNLOAD_PATH.into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThreeCxMode {
    /// Ask the PBX for a new backup each run.
    #[default]
    Create,
    /// Take the PBX's newest existing backup (its own scheduled ones).
    Latest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupContent {
    CallHistory,
    License,
    Fqdn,
    Prompts,
    PhoneProvisioning,
    Voicemails,
    Recordings,
}

fn default_contents() -> Vec<BackupContent> {
    use BackupContent::*;
    vec![CallHistory, License, Fqdn, Prompts, PhoneProvisioning]
}

/// A command that writes a backup file, e.g. 3CX's own `3CXBackupCmd` on the PBX host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSource {
    /// Program and arguments; `{file}` in any of them is replaced by `file`. No shell.
    pub command: Vec<String>,
    /// The zip the command writes. Removed before each run (so that a run that writes
    /// nothing is caught) and after the backup was sealed.
    pub file: PathBuf,
    #[serde(default = "default_command_timeout", with = "humantime_serde_compat")]
    pub timeout: Duration,
}

fn default_command_timeout() -> Duration {
    Duration::from_secs(30 * 60)
}

/// A folder a PBX (or its scheduler) writes backups into.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderSource {
    pub path: PathBuf,
    /// Glob for the file names to consider; the newest match is taken.
    #[serde(default = "default_pattern")]
    pub pattern: String,
    /// A file counts as finished once its size and modification time have not changed for
    /// this long.
    #[serde(default = "default_settle", with = "humantime_serde_compat")]
    pub settle: Duration,
    /// Give up waiting for a file that keeps changing after this long.
    #[serde(default = "default_settle_timeout", with = "humantime_serde_compat")]
    pub settle_timeout: Duration,
}

fn default_pattern() -> String {
    "*.zip".into()
}
fn default_settle() -> Duration {
    Duration::from_secs(5)
}
fn default_settle_timeout() -> Duration {
    Duration::from_secs(600)
}

impl Cx<'_> {
    /// A PBX's base URL: http(s), no credentials in it (they would end up in messages),
    /// without a trailing slash.
    pub(super) fn pbx_url(
        &mut self,
        url: &str,
        span: &Range<usize>,
        prefix: &str,
    ) -> Option<String> {
        let Some(rest) = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
        else {
            self.problem(
                Some(span.clone()),
                format!(
                    "{prefix}url must start with https://, e.g. \"https://pbx.example.com:5001\""
                ),
            );
            return None;
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            self.problem(
                Some(span.clone()),
                format!("{prefix}url must not hold a user or password; give them as client_id/client_secret (3cx) or username/password (3cx-v18)"),
            );
            return None;
        }
        if authority.is_empty() {
            self.problem(Some(span.clone()), format!("{prefix}url names no host"));
            return None;
        }
        Some(url.trim_end_matches('/').to_string())
    }

    pub(super) fn sources(
        &mut self,
        tables: &[&Spanned<DeValue<'_>>],
        base: &Path,
    ) -> Vec<SourceConfig> {
        let mut out = Vec::new();
        for (name, kind, span, value) in self.entries("source", tables) {
            let prefix = format!("source {name:?}: ");
            let retention = self.override_rules(value, &prefix);
            let schedule = self.source_schedule(value, &prefix);
            let kind = match kind.as_str() {
                "folder" => self
                    .typed::<FolderSource>(value, SOURCE_COMMON, &prefix)
                    .and_then(|mut f| {
                        self.bounded(value, "settle", f.settle, &prefix)?;
                        self.bounded(value, "settle_timeout", f.settle_timeout, &prefix)?;
                        if let Err(e) = glob::Pattern::new(&f.pattern) {
                            self.problem(
                                Some(span.clone()),
                                format!("{prefix}pattern {:?} is not a glob: {e}", f.pattern),
                            );
                            return None;
                        }
                        f.path = base.join(&f.path);
                        Some(SourceKind::Folder(f))
                    }),
                "command" => self
                    .typed::<CommandSource>(value, SOURCE_COMMON, &prefix)
                    .and_then(|mut c| {
                        self.bounded(value, "timeout", c.timeout, &prefix)?;
                        if c.command.is_empty() || c.command[0].is_empty() {
                            self.problem(
                                Some(span.clone()),
                                format!("{prefix}command must name a program, e.g. [\"/usr/sbin/3CXBackupCmd\", \"--file={{file}}\", \"--options=ALL\"]"),
                            );
                            return None;
                        }
                        if c.file.extension().is_none_or(|e| e != "zip") {
                            self.problem(
                                Some(span.clone()),
                                format!("{prefix}file must end in .zip (pbx321 removes it before and after each run)"),
                            );
                            return None;
                        }
                        c.file = base.join(&c.file);
                        Some(SourceKind::Command(c))
                    }),
                "3cx" => self.three_cx(value, &span, &prefix, base),
                "3cx-v18" => self
                    .typed::<ThreeCxV18Source>(value, SOURCE_COMMON, &prefix)
                    .and_then(|mut t| {
                        self.bounded(value, "timeout", t.timeout, &prefix)?;
                        t.url = self.pbx_url(&t.url, &span, &prefix)?;
                        if !t.download_path.starts_with('/')
                            || !(t.download_path.contains("{file}")
                                || t.download_path.contains("{id}"))
                        {
                            self.problem(
                                Some(span.clone()),
                                format!(
                                    "{prefix}download_path {:?} must start with / and hold {{file}} or {{id}}, e.g. {DEFAULT_V18_DOWNLOAD_PATH:?}",
                                    t.download_path
                                ),
                            );
                            return None;
                        }
                        t.ca_file = t.ca_file.map(|c| base.join(c));
                        self.note_secret(value, "password", &prefix, Some(&t.password));
                        Some(SourceKind::ThreeCxV18(t))
                    }),
                other => {
                    self.problem(
                        super::key_span(value, "type").or(Some(span)),
                        format!(
                            "{prefix}unknown type {other:?}; {}",
                            super::did_you_mean(other, &["folder", "command", "3cx", "3cx-v18"])
                        ),
                    );
                    None
                }
            };
            if let Some(kind) = kind {
                let tenant = super::key_str(value, "tenant");
                out.push(SourceConfig {
                    name,
                    retention,
                    schedule,
                    tenant,
                    kind,
                });
            }
        }
        for problem in standby_clashes(&out) {
            self.problem(None, problem);
        }
        out
    }

    /// A `type = "3cx"` source, its restore_via and its standby.
    fn three_cx(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        span: &Range<usize>,
        prefix: &str,
        base: &Path,
    ) -> Option<SourceKind> {
        let mut t = self.typed::<ThreeCxSource>(value, SOURCE_COMMON, prefix)?;
        self.bounded(value, "timeout", t.timeout, prefix)?;
        t.url = self.pbx_url(&t.url, span, prefix)?;
        t.ca_file = t.ca_file.map(|c| base.join(c));
        self.note_secret(value, "client_secret", prefix, Some(&t.client_secret));
        self.note_secret(value, "backup_password", prefix, t.backup_password.as_ref());
        self.bounded(value, "restart_timeout", t.restart_timeout, prefix)?;
        if let Some(s) = &mut t.standby {
            s.url = self.pbx_url(&s.url, span, &format!("{prefix}standby."))?;
            s.ca_file = s.ca_file.take().map(|c| base.join(c));
            self.note_secret(
                value,
                "standby",
                &format!("{prefix}standby."),
                Some(&s.client_secret),
            );
        }
        for (key, checked) in [
            ("restore_via", t.into_pbx().map(drop)),
            ("standby", t.standby_pbx().map(drop)),
        ] {
            if let Err(e) = checked {
                self.problem(
                    super::key_span(value, key).or(Some(span.clone())),
                    format!("{prefix}{e}"),
                );
                return None;
            }
        }
        Some(SourceKind::ThreeCx(t))
    }
}
