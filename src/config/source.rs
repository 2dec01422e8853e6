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
                "3cx" => self
                    .typed::<ThreeCxSource>(value, SOURCE_COMMON, &prefix)
                    .and_then(|mut t| {
                        self.bounded(value, "timeout", t.timeout, &prefix)?;
                        t.url = self.pbx_url(&t.url, &span, &prefix)?;
                        t.ca_file = t.ca_file.map(|c| base.join(c));
                        self.note_secret(value, "client_secret", &prefix, Some(&t.client_secret));
                        Some(SourceKind::ThreeCx(t))
                    }),
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
                out.push(SourceConfig {
                    name,
                    retention,
                    schedule,
                    kind,
                });
            }
        }
        out
    }
}
