//! The configuration file: serde types and pure validation.
//!
//! [`Config::parse`] takes the file's text and its path and either returns a fully checked
//! [`Config`] or every problem found, each with `file:line` and what to change. Nothing here
//! touches the disk or the network: reading the file, resolving `{ env = … }` / `{ file = … }`
//! secrets and loading `recipients_file` happen at the edges (`ops`, `secret`). Relative
//! paths are taken relative to the directory of the config file, so a config can travel with
//! the directory it describes (the quickstart does).
//!
//! Parsing happens in two passes over the same text: the top level is deserialized with
//! `deny_unknown_fields`, then every `[[source]]` / `[[target]]` table is deserialized into
//! the struct for its `type` from the span-preserving document, so that an unknown key in a
//! target is reported at its own line, not at the top of the file.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

pub use crate::secret::Secret;

/// Where the config is looked for when neither `--config` nor `PBX321_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/pbx321/config.toml";

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from (for messages).
    pub path: PathBuf,
    /// Run history, locks and the spool. A cache: never needed to restore.
    pub state_dir: PathBuf,
    pub encryption: Encryption,
    pub policy: Policy,
    pub sources: Vec<SourceConfig>,
    pub targets: Vec<TargetConfig>,
}

/// The age recipients every artifact is encrypted to. Public keys only.
#[derive(Debug, Clone)]
pub struct Encryption {
    /// Validated recipient strings (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`).
    pub recipients: Vec<String>,
    /// A file with one recipient per line (`#` comments allowed), read at run time.
    pub recipients_file: Option<PathBuf>,
}

/// The 3-2-1(-1) rule and the freshness limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub copies: u32,
    pub media: u32,
    pub offsite: u32,
    pub immutable: u32,
    /// The newest compliant backup must be younger than this.
    pub max_age: Duration,
    /// Past this age the status is WARNING. Defaults to 80 % of `max_age`.
    pub warn_age: Duration,
    /// A restore drill (`check --deep --identity`) older than this is a WARNING.
    pub drill_max_age: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
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

#[derive(Debug, Clone)]
pub struct TargetConfig {
    pub name: String,
    pub medium: Medium,
    pub location: Location,
    /// Count `medium` and `location` as declared, without checking them against where the
    /// data really lies. Off by default; every output marks such a target "declared, not
    /// verified".
    pub trust_labels: bool,
    pub kind: TargetKind,
}

#[derive(Debug, Clone)]
pub enum TargetKind {
    Fs(FsTarget),
    S3(S3Target),
    Sftp(SftpTarget),
    Webdav(WebdavTarget),
}

impl TargetKind {
    /// The `type = "…"` word of this kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            TargetKind::Fs(_) => "fs",
            TargetKind::S3(_) => "s3",
            TargetKind::Sftp(_) => "sftp",
            TargetKind::Webdav(_) => "webdav",
        }
    }

    /// Whether this target can hold a copy that nobody, pbx321 included, can delete before
    /// a retention date.
    pub fn supports_immutability(&self) -> bool {
        match self {
            TargetKind::Fs(_) | TargetKind::Sftp(_) | TargetKind::Webdav(_) => false,
            TargetKind::S3(s3) => s3.object_lock.is_some(),
        }
    }
}

/// A directory on a host reached over SFTP (key authentication, checked host key).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftpTarget {
    /// `ssh://user@host:port`
    pub endpoint: String,
    /// The directory on the server.
    pub path: String,
    /// Private key file.
    pub key: Option<PathBuf>,
    /// known_hosts file holding the server's key; checked strictly. Without it, the
    /// user's own known_hosts is used (still strictly).
    pub known_hosts: Option<PathBuf>,
    #[serde(default = "default_connect_timeout", with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
}

/// A directory on a WebDAV server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebdavTarget {
    /// `https://nas.lan:5006`
    pub endpoint: String,
    /// The collection on the server.
    #[serde(default)]
    pub path: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    #[serde(default = "default_connect_timeout", with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

/// An S3 bucket (AWS or S3-compatible).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Target {
    pub bucket: String,
    /// Key prefix, normalised to end in `/` (or empty).
    #[serde(default)]
    pub prefix: String,
    /// Default `us-east-1`.
    pub region: Option<String>,
    /// For S3-compatible stores: `https://s3.example.net`.
    pub endpoint: Option<String>,
    #[serde(default)]
    pub path_style: bool,
    /// With `secret_access_key`; otherwise the default AWS credential chain.
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    pub storage_class: Option<String>,
    pub object_lock: Option<ObjectLock>,
    /// Multipart part size; raised automatically so that 10,000 parts cover any object.
    #[serde(default = "default_part_size_mib")]
    pub part_size_mib: u64,
    /// Parts uploaded at once (memory: about concurrency × 1 MiB of buffers).
    #[serde(default = "default_s3_concurrency")]
    pub concurrency: usize,
}

fn default_part_size_mib() -> u64 {
    16
}
fn default_s3_concurrency() -> usize {
    4
}

/// S3 Object Lock for every object written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectLock {
    pub mode: LockMode,
    /// Retention from the time of writing, in days.
    pub days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// Nobody, the root account included, can delete or shorten the lock.
    Compliance,
    /// Users with a special permission can; pbx321 never uses it.
    Governance,
}

const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
];

impl S3Target {
    /// Checks what serde cannot; returns what to fix.
    fn check(&mut self) -> Result<(), String> {
        if self.bucket.is_empty() {
            return Err("bucket must not be empty".into());
        }
        self.prefix = self.prefix.trim_start_matches('/').to_string();
        if !self.prefix.is_empty() && !self.prefix.ends_with('/') {
            self.prefix.push('/');
        }
        if let Some(e) = &self.endpoint
            && !(e.starts_with("https://") || e.starts_with("http://"))
        {
            return Err(format!(
                "endpoint {e:?} must start with https:// (or http:// for a test server)"
            ));
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(
                "give both access_key_id and secret_access_key, or neither (the default AWS credential chain is used then)"
                    .into(),
            );
        }
        if let Some(c) = &self.storage_class
            && !STORAGE_CLASSES.contains(&c.as_str())
        {
            return Err(format!(
                "storage_class {c:?} is not one of {}",
                STORAGE_CLASSES.join(", ")
            ));
        }
        if let Some(l) = &self.object_lock
            && l.days == 0
        {
            return Err("object_lock.days must be at least 1".into());
        }
        if !(5..=5120).contains(&self.part_size_mib) {
            return Err("part_size_mib must be between 5 and 5120 (S3's limits)".into());
        }
        if !(1..=32).contains(&self.concurrency) {
            return Err("concurrency must be between 1 and 32".into());
        }
        Ok(())
    }
}

/// A directory on a mounted filesystem.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsTarget {
    pub path: PathBuf,
    /// Refuse to read or write unless `path` is on a mounted filesystem other than the root
    /// filesystem: an absent USB disk must not fill the system disk.
    #[serde(default)]
    pub require_mount: bool,
}

/// A target's storage class, for the "2 media" part of the rule.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Medium {
    Disk,
    Removable,
    Nas,
    ObjectStorage,
    Tape,
}

impl fmt::Display for Medium {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Medium::Disk => "disk",
            Medium::Removable => "removable",
            Medium::Nas => "nas",
            Medium::ObjectStorage => "object-storage",
            Medium::Tape => "tape",
        })
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Location {
    #[default]
    Onsite,
    Offsite,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Location::Onsite => "onsite",
            Location::Offsite => "offsite",
        })
    }
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub message: String,
}

/// Everything wrong with a config file, each problem with its line.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{} has {} problem{}; nothing was done",
            self.file.display(),
            n,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            match p.line {
                Some(line) => write!(f, "\n  {}:{}: {}", self.file.display(), line, p.message)?,
                None => write!(f, "\n  {}: {}", self.file.display(), p.message)?,
            }
        }
        Ok(())
    }
}

// ---- raw, as written -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTop {
    state_dir: PathBuf,
    encryption: Spanned<RawEncryption>,
    #[serde(default)]
    policy: Option<Spanned<RawPolicy>>,
    #[serde(default)]
    source: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    target: Vec<Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEncryption {
    #[serde(default)]
    recipients: Vec<Spanned<String>>,
    recipients_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    copies: Option<u32>,
    media: Option<u32>,
    offsite: Option<u32>,
    immutable: Option<u32>,
    max_age: Option<Spanned<String>>,
    warn_age: Option<Spanned<String>>,
    drill_max_age: Option<Spanned<String>>,
}

/// Keys every `[[source]]` has, besides those of its type.
const SOURCE_COMMON: &[&str] = &["name", "type"];
/// Keys every `[[target]]` has, besides those of its type.
const TARGET_COMMON: &[&str] = &["name", "type", "medium", "location", "trust_labels"];

impl Config {
    /// Parses and checks a config. `path` is used for messages and as the base of relative
    /// paths; it is not read.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut cx = Cx {
            text,
            problems: Vec::new(),
        };
        let fail = |problems| ConfigError {
            file: path.to_path_buf(),
            problems,
        };
        let raw: RawTop = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                cx.toml_error(&e, "");
                return Err(fail(cx.problems));
            }
        };
        // The span-preserving document, for per-type tables.
        let doc = DeTable::parse(text).map_err(|e| {
            let mut cx = Cx {
                text,
                problems: Vec::new(),
            };
            cx.toml_error(&e, "");
            fail(cx.problems)
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };

        let encryption = cx.encryption(raw.encryption, base);
        let policy_span = raw.policy.as_ref().map(|p| p.span());
        let policy = cx.policy(raw.policy.map(Spanned::into_inner).unwrap_or_default());
        let sources = cx.sources(&raw.source, array_of(&doc, "source"), base);
        let targets = cx.targets(&raw.target, array_of(&doc, "target"), base);
        if sources.is_empty() && raw.source.is_empty() {
            cx.problem(
                None,
                "no [[source]]: add one, e.g. type = \"folder\" with the path the PBX writes backups to",
            );
        }
        if targets.is_empty() && raw.target.is_empty() {
            cx.problem(
                None,
                "no [[target]]: add at least one place for copies, e.g. type = \"fs\"",
            );
        }
        if let Some(policy) = &policy
            && cx.problems.is_empty()
        {
            cx.feasible(policy, &targets, policy_span);
        }
        match (cx.problems.is_empty(), encryption, policy) {
            (true, Some(encryption), Some(policy)) => Ok(Config {
                path: path.to_path_buf(),
                state_dir: base.join(raw.state_dir),
                encryption,
                policy,
                sources,
                targets,
            }),
            _ => Err(fail(cx.problems)),
        }
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    pub fn target(&self, name: &str) -> Option<&TargetConfig> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// The entries of a top-level array of tables in the span-preserving document.
fn array_of<'a, 'i>(doc: &'a Spanned<DeTable<'i>>, key: &str) -> Vec<&'a Spanned<DeValue<'i>>> {
    doc.get_ref()
        .iter()
        .find(|(k, _)| k.get_ref() == key)
        .and_then(|(_, v)| match v.get_ref() {
            DeValue::Array(items) => Some(items.iter().collect()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Keeps only the keys of a table for which `keep` is true.
fn filter_keys(value: &mut Spanned<DeValue<'_>>, keep: impl Fn(&str) -> bool) {
    if let DeValue::Table(table) = value.get_mut() {
        *table = std::mem::take(table)
            .into_iter()
            .filter(|(k, _)| keep(k.get_ref()))
            .collect();
    }
}

/// Collects problems while checking.
struct Cx<'t> {
    text: &'t str,
    problems: Vec<Problem>,
}

impl Cx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    }

    /// A PBX's base URL: http(s), no credentials in it (they would end up in messages),
    /// without a trailing slash.
    fn pbx_url(&mut self, url: &str, span: &Range<usize>, prefix: &str) -> Option<String> {
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

    fn problem(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let line = span.map(|s| self.line_of(s.start));
        self.problems.push(Problem {
            line,
            message: message.into(),
        });
    }

    fn toml_error(&mut self, e: &toml::de::Error, prefix: &str) {
        let message = e.message().trim().replace('\n', " ");
        self.problem(e.span(), format!("{prefix}{message}"));
    }

    fn duration(&mut self, raw: &Spanned<String>, key: &str) -> Option<Duration> {
        match humantime::parse_duration(raw.get_ref()) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.problem(Some(raw.span()), format!("{key} must be longer than zero"));
                None
            }
            Err(e) => {
                self.problem(
                    Some(raw.span()),
                    format!(
                        "{key} = {:?} is not a duration ({e}); write e.g. \"26h\", \"90m\" or \"7days\"",
                        raw.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn encryption(&mut self, raw: Spanned<RawEncryption>, base: &Path) -> Option<Encryption> {
        let span = raw.span();
        let raw = raw.into_inner();
        if raw.recipients.is_empty() && raw.recipients_file.is_none() {
            self.problem(
                Some(span),
                "[encryption] needs recipients = [\"age1…\"] or recipients_file = \"…\" (public keys; make one with `pbx321 keygen --out FILE`)",
            );
            return None;
        }
        let before = self.problems.len();
        let mut recipients = Vec::new();
        for r in &raw.recipients {
            match check_recipient(r.get_ref()) {
                Ok(()) => recipients.push(r.get_ref().trim().to_string()),
                Err(why) => self.problem(Some(r.span()), why),
            }
        }
        (self.problems.len() == before).then(|| Encryption {
            recipients,
            recipients_file: raw.recipients_file.map(|p| base.join(p)),
        })
    }

    fn policy(&mut self, raw: RawPolicy) -> Option<Policy> {
        let before = self.problems.len();
        let max_age = match &raw.max_age {
            Some(s) => self.duration(s, "max_age"),
            None => Some(Duration::from_secs(26 * 3600)),
        };
        let warn_age = raw
            .warn_age
            .as_ref()
            .map(|s| (s.span(), self.duration(s, "warn_age")));
        let drill_max_age = match &raw.drill_max_age {
            Some(s) => Some(self.duration(s, "drill_max_age")?),
            None => None,
        };
        let max_age = max_age?;
        let warn_age = match warn_age {
            None => max_age.mul_f64(0.8),
            Some((_, None)) => return None,
            Some((span, Some(w))) if w >= max_age => {
                self.problem(
                    Some(span),
                    "warn_age must be shorter than max_age (it warns before the backup is too old)",
                );
                return None;
            }
            Some((_, Some(w))) => w,
        };
        let policy = Policy {
            copies: raw.copies.unwrap_or(3),
            media: raw.media.unwrap_or(2),
            offsite: raw.offsite.unwrap_or(1),
            immutable: raw.immutable.unwrap_or(0),
            max_age,
            warn_age,
            drill_max_age,
        };
        (self.problems.len() == before).then_some(policy)
    }

    /// Checks that the rule can be met with the targets configured.
    fn feasible(&mut self, policy: &Policy, targets: &[TargetConfig], span: Option<Range<usize>>) {
        let media: BTreeSet<Medium> = targets.iter().map(|t| t.medium).collect();
        let offsite = targets
            .iter()
            .filter(|t| t.location == Location::Offsite)
            .count();
        let immutable = targets
            .iter()
            .filter(|t| t.kind.supports_immutability())
            .count();
        let checks = [
            (
                policy.copies == 0,
                "copies = 0 keeps nothing: use at least 1 (3 for the 3-2-1 rule)".to_string(),
            ),
            (
                policy.copies as usize > targets.len(),
                format!(
                    "copies = {} but only {} target(s) are configured: add targets or lower copies",
                    policy.copies,
                    targets.len()
                ),
            ),
            (
                policy.media > policy.copies,
                format!(
                    "media = {} is more than copies = {}: every medium needs a copy",
                    policy.media, policy.copies
                ),
            ),
            (
                policy.media as usize > media.len(),
                format!(
                    "media = {} but the targets use only {} medium/media ({}): give a target another medium, e.g. medium = \"nas\"",
                    policy.media,
                    media.len(),
                    media
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            (
                policy.offsite as usize > offsite,
                format!(
                    "offsite = {} but {} target(s) have location = \"offsite\": add an offsite target or lower offsite",
                    policy.offsite, offsite
                ),
            ),
            (
                policy.immutable as usize > immutable,
                format!(
                    "immutable = {} but {} target(s) can hold an immutable copy (an s3 target with object_lock): add one or set immutable = 0",
                    policy.immutable, immutable
                ),
            ),
        ];
        for (bad, message) in checks {
            if bad {
                self.problem(span.clone(), format!("[policy] {message}"));
            }
        }
    }

    /// Name, type and the type's own keys of each table of an array of tables.
    fn entries<'d, 'i>(
        &mut self,
        what: &str,
        raw: &[Spanned<toml::Table>],
        spanned: Vec<&'d Spanned<DeValue<'i>>>,
    ) -> Vec<(String, String, Range<usize>, &'d Spanned<DeValue<'i>>)> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (table, value) in raw.iter().zip(spanned) {
            let span = table.span();
            let name = match table.get_ref().get("name").and_then(|v| v.as_str()) {
                Some(n) => n.to_string(),
                None => {
                    self.problem(
                        Some(span),
                        format!("[[{what}]] needs name = \"…\" (letters, digits, . _ -)"),
                    );
                    continue;
                }
            };
            if let Err(why) = check_name(&name) {
                self.problem(Some(span.clone()), format!("{what} name {name:?} {why}"));
                continue;
            }
            if !seen.insert(name.clone()) {
                self.problem(
                    Some(span),
                    format!("{what} name {name:?} is used twice: names must be unique"),
                );
                continue;
            }
            let Some(kind) = table.get_ref().get("type").and_then(|v| v.as_str()) else {
                self.problem(Some(span), format!("{what} {name:?} needs type = \"…\""));
                continue;
            };
            out.push((name, kind.to_string(), span, value));
        }
        out
    }

    /// Deserializes a table into `T` after removing the keys every entry has; errors keep
    /// their own line.
    fn typed<T: DeserializeOwned>(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        common: &[&str],
        prefix: &str,
    ) -> Option<T> {
        let mut value = value.clone();
        filter_keys(&mut value, |k| !common.contains(&k));
        match T::deserialize(ValueDeserializer::from(value)) {
            Ok(t) => Some(t),
            Err(e) => {
                self.toml_error(&e, prefix);
                None
            }
        }
    }

    fn sources(
        &mut self,
        raw: &[Spanned<toml::Table>],
        spanned: Vec<&Spanned<DeValue<'_>>>,
        base: &Path,
    ) -> Vec<SourceConfig> {
        let mut out = Vec::new();
        for (name, kind, span, value) in self.entries("source", raw, spanned) {
            let prefix = format!("source {name:?}: ");
            let kind = match kind.as_str() {
                "folder" => self
                    .typed::<FolderSource>(value, SOURCE_COMMON, &prefix)
                    .and_then(|mut f| {
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
                        t.url = self.pbx_url(&t.url, &span, &prefix)?;
                        t.ca_file = t.ca_file.map(|c| base.join(c));
                        Some(SourceKind::ThreeCx(t))
                    }),
                "3cx-v18" => self
                    .typed::<ThreeCxV18Source>(value, SOURCE_COMMON, &prefix)
                    .and_then(|mut t| {
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
                        Some(SourceKind::ThreeCxV18(t))
                    }),
                other => {
                    self.problem(
                        Some(span),
                        format!("{prefix}unknown type {other:?}; this version knows \"folder\", \"command\", \"3cx\" and \"3cx-v18\""),
                    );
                    None
                }
            };
            if let Some(kind) = kind {
                out.push(SourceConfig { name, kind });
            }
        }
        out
    }

    fn targets(
        &mut self,
        raw: &[Spanned<toml::Table>],
        spanned: Vec<&Spanned<DeValue<'_>>>,
        base: &Path,
    ) -> Vec<TargetConfig> {
        #[derive(Deserialize)]
        struct Common {
            medium: Option<Medium>,
            #[serde(default)]
            location: Location,
            #[serde(default)]
            trust_labels: bool,
        }
        let mut out = Vec::new();
        for (name, kind, span, value) in self.entries("target", raw, spanned) {
            let prefix = format!("target {name:?}: ");
            let common_keys = ["medium", "location", "trust_labels"];
            // medium/location, with errors at their own line.
            let mut only_common = value.clone();
            filter_keys(&mut only_common, |k| common_keys.contains(&k));
            let common = match Common::deserialize(ValueDeserializer::from(only_common)) {
                Ok(c) => c,
                Err(e) => {
                    self.toml_error(&e, &prefix);
                    continue;
                }
            };
            let Some(medium) = common.medium else {
                self.problem(
                    Some(span),
                    format!(
                        "{prefix}needs medium = \"…\", one of disk, removable, nas, object-storage, tape"
                    ),
                );
                continue;
            };
            let kind = match kind.as_str() {
                "fs" => self
                    .typed::<FsTarget>(value, TARGET_COMMON, &prefix)
                    .map(|mut f| {
                        f.path = base.join(&f.path);
                        TargetKind::Fs(f)
                    }),
                "sftp" => self
                    .typed::<SftpTarget>(value, TARGET_COMMON, &prefix)
                    .and_then(|mut s| {
                        let ok = s.endpoint.starts_with("ssh://") || !s.endpoint.contains("://");
                        if !ok || crate::target::sftp::ssh_host_port(&s.endpoint).is_none() {
                            self.problem(
                                Some(span.clone()),
                                format!(
                                    "{prefix}endpoint {:?} is not ssh://user@host[:port]",
                                    s.endpoint
                                ),
                            );
                            return None;
                        }
                        if s.endpoint.split("://").last().is_some_and(|r| r.split('@').next().is_some_and(|u| u.contains(':'))) {
                            self.problem(
                                Some(span.clone()),
                                format!("{prefix}put no password in endpoint: sftp targets use key = \"…\""),
                            );
                            return None;
                        }
                        s.key = s.key.map(|k| base.join(k));
                        s.known_hosts = s.known_hosts.map(|k| base.join(k));
                        Some(TargetKind::Sftp(s))
                    }),
                "webdav" => self
                    .typed::<WebdavTarget>(value, TARGET_COMMON, &prefix)
                    .and_then(|w| {
                        if !(w.endpoint.starts_with("https://") || w.endpoint.starts_with("http://")) {
                            self.problem(
                                Some(span.clone()),
                                format!("{prefix}endpoint {:?} must start with https://", w.endpoint),
                            );
                            return None;
                        }
                        if w.password.is_some() && w.username.is_none() {
                            self.problem(
                                Some(span.clone()),
                                format!("{prefix}password without username"),
                            );
                            return None;
                        }
                        Some(TargetKind::Webdav(w))
                    }),
                "s3" => self
                    .typed::<S3Target>(value, TARGET_COMMON, &prefix)
                    .and_then(|mut s| match s.check() {
                        Ok(()) => Some(TargetKind::S3(s)),
                        Err(why) => {
                            self.problem(Some(span.clone()), format!("{prefix}{why}"));
                            None
                        }
                    }),
                other => {
                    self.problem(
                        Some(span),
                        format!(
                            "{prefix}unknown type {other:?}; this version knows \"fs\", \"s3\", \"sftp\" and \"webdav\""
                        ),
                    );
                    None
                }
            };
            if let Some(kind) = kind {
                out.push(TargetConfig {
                    name,
                    medium,
                    location: common.location,
                    trust_labels: common.trust_labels,
                    kind,
                });
            }
        }
        out
    }
}

/// Names become directory names on every target: keep them boring.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters long");
    }
    if name.starts_with(['.', '-']) {
        return Err("must not start with '.' or '-'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err("may hold only letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

/// Accepts the public key kinds pbx321 encrypts to; says what to do with anything else.
pub fn check_recipient(r: &str) -> Result<(), String> {
    let r = r.trim();
    if r.starts_with("AGE-SECRET-KEY-") || r.contains("PRIVATE KEY") {
        return Err(
            "this is a secret key (identity), not a recipient: put its public key here (`age-keygen -y KEYFILE`) and keep the secret key off this host"
                .into(),
        );
    }
    if r.starts_with("age1") {
        return r
            .parse::<age::x25519::Recipient>()
            .map(|_| ())
            .map_err(|e| format!("{r:?} is not a valid age X25519 recipient: {e}"));
    }
    if r.starts_with("ssh-ed25519 ") || r.starts_with("ssh-rsa ") {
        return r
            .parse::<age::ssh::Recipient>()
            .map(|_| ())
            .map_err(|e| format!("{r:?} is not a valid SSH public key: {e:?}"));
    }
    Err(format!(
        "{r:?} is not a recipient pbx321 understands: use an age public key (age1…), ssh-ed25519 or ssh-rsa"
    ))
}

/// serde glue for `"26h"`-style durations.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "{s:?} is not a duration ({e}); write e.g. \"10s\" or \"5m\""
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECIPIENT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    fn good() -> String {
        format!(
            r#"state_dir = "/var/lib/pbx321"
[encryption]
recipients = ["{RECIPIENT}"]
[policy]
copies = 3
media = 2
offsite = 1
max_age = "26h"
[[source]]
name = "hq"
type = "folder"
path = "/var/lib/3cxpbx/Instance1/Data/Backups"
pattern = "*.zip"
[[target]]
name = "local"
type = "fs"
path = "/srv/pbx321"
medium = "disk"
location = "onsite"
[[target]]
name = "usb"
type = "fs"
path = "/mnt/usb"
medium = "removable"
[[target]]
name = "away"
type = "fs"
path = "/mnt/away"
medium = "disk"
location = "offsite"
"#
        )
    }

    fn problems(text: &str) -> Vec<Problem> {
        Config::parse(text, Path::new("/etc/pbx321/config.toml"))
            .expect_err("config should be rejected")
            .problems
    }

    fn one(text: &str) -> (Option<usize>, String) {
        let p = problems(text);
        assert_eq!(p.len(), 1, "{p:?}");
        (p[0].line, p[0].message.clone())
    }

    #[test]
    fn parses_the_issue_example() {
        let c = Config::parse(&good(), Path::new("/etc/pbx321/config.toml")).unwrap();
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.targets.len(), 3);
        assert_eq!(c.targets[1].location, Location::Onsite);
        assert_eq!(c.policy.max_age, Duration::from_secs(26 * 3600));
        assert_eq!(
            c.policy.warn_age,
            Duration::from_secs(26 * 3600).mul_f64(0.8)
        );
        let SourceKind::Folder(f) = &c.sources[0].kind else {
            panic!("a folder source")
        };
        assert_eq!(f.settle, Duration::from_secs(5));
    }

    #[test]
    fn a_3cx_v18_source_with_its_defaults() {
        let text = good().replace(
            "type = \"folder\"\npath = \"/var/lib/3cxpbx/Instance1/Data/Backups\"\npattern = \"*.zip\"",
            "type = \"3cx-v18\"\nurl = \"https://pbx.example.com:5001/\"\nusername = \"admin\"\npassword = { env = \"V18_PW\" }\nca_file = \"ca.pem\"",
        );
        let c = Config::parse(&text, Path::new("/etc/pbx321/config.toml")).unwrap();
        let SourceKind::ThreeCxV18(t) = &c.sources[0].kind else {
            panic!("a 3cx-v18 source")
        };
        assert_eq!(t.url, "https://pbx.example.com:5001");
        assert_eq!(t.mode, ThreeCxMode::Create);
        assert_eq!(t.download_path, DEFAULT_V18_DOWNLOAD_PATH);
        assert_eq!(t.ca_file.as_deref(), Some(Path::new("/etc/pbx321/ca.pem")));
        assert!(!t.delete_after);

        let creds = text.replace("https://pbx", "https://admin:hunter2@pbx");
        let msgs: Vec<String> = problems(&creds).into_iter().map(|p| p.message).collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("must not hold a user or password") && !m.contains("hunter2")),
            "{msgs:?}"
        );

        let wrong = text.replace("username = \"admin\"\n", "user = \"admin\"\n");
        let msgs: Vec<String> = problems(&wrong).into_iter().map(|p| p.message).collect();
        assert!(
            msgs.iter().any(|m| m.contains("user")),
            "an unknown key is named: {msgs:?}"
        );
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let text = good().replace("\"/srv/pbx321\"", "\"copies/local\"");
        let c = Config::parse(&text, Path::new("/opt/demo/config.toml")).unwrap();
        let TargetKind::Fs(fs) = &c.targets[0].kind else {
            panic!("an fs target")
        };
        assert_eq!(fs.path, Path::new("/opt/demo/copies/local"));
    }

    #[test]
    fn unknown_key_in_a_target_is_reported_at_its_line() {
        let text = good().replace("path = \"/mnt/usb\"", "pth = \"/mnt/usb\"");
        let (line, msg) = one(&text);
        assert_eq!(line, Some(23), "{msg}");
        assert!(msg.contains("target \"usb\""), "{msg}");
        assert!(msg.contains("pth"), "{msg}");
    }

    #[test]
    fn unknown_top_level_key() {
        let text = format!("colour = \"blue\"\n{}", good());
        let (line, msg) = one(&text);
        assert_eq!(line, Some(1));
        assert!(msg.contains("colour"), "{msg}");
    }

    #[test]
    fn missing_path_in_a_source() {
        let text = good().replace("path = \"/var/lib/3cxpbx/Instance1/Data/Backups\"\n", "");
        let (_, msg) = one(&text);
        assert!(
            msg.contains("source \"hq\"") && msg.contains("path"),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_names() {
        let text = good().replace("name = \"usb\"", "name = \"local\"");
        let (line, msg) = one(&text);
        assert!(msg.contains("used twice"), "{msg}");
        assert!(line.is_some());
    }

    #[test]
    fn bad_medium_value() {
        let text = good().replace("medium = \"removable\"", "medium = \"floppy\"");
        let (line, msg) = one(&text);
        assert_eq!(line, Some(24), "{msg}");
        assert!(msg.contains("floppy"), "{msg}");
    }

    #[test]
    fn missing_medium() {
        let text = good().replace("medium = \"removable\"\n", "");
        let (_, msg) = one(&text);
        assert!(msg.contains("needs medium"), "{msg}");
    }

    #[test]
    fn impossible_offsite() {
        let text = good().replace("location = \"offsite\"", "location = \"onsite\"");
        let (line, msg) = one(&text);
        assert_eq!(line, Some(4), "at the [policy] table: {msg}");
        assert!(msg.contains("offsite = 1"), "{msg}");
    }

    #[test]
    fn impossible_copies_and_media() {
        let text = good().replace("copies = 3", "copies = 4");
        let (_, msg) = one(&text);
        assert!(msg.contains("copies = 4 but only 3"), "{msg}");
        let text = good().replace("media = 2", "media = 3");
        let (_, msg) = one(&text);
        assert!(msg.contains("media = 3"), "{msg}");
    }

    #[test]
    fn immutable_needs_a_capable_target() {
        let text = good().replace("offsite = 1", "offsite = 1\nimmutable = 1");
        let (_, msg) = one(&text);
        assert!(msg.contains("immutable = 1"), "{msg}");
    }

    #[test]
    fn bad_durations() {
        let text = good().replace("\"26h\"", "\"a day\"");
        let (line, msg) = one(&text);
        assert_eq!(line, Some(8));
        assert!(msg.contains("max_age"), "{msg}");
        let text = good().replace("max_age = \"26h\"", "max_age = \"26h\"\nwarn_age = \"30h\"");
        let (_, msg) = one(&text);
        assert!(msg.contains("warn_age must be shorter"), "{msg}");
    }

    #[test]
    fn secret_key_as_recipient() {
        let text = good().replace(
            RECIPIENT,
            "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX",
        );
        let (line, msg) = one(&text);
        assert_eq!(line, Some(3));
        assert!(msg.contains("secret key"), "{msg}");
    }

    #[test]
    fn garbage_recipient() {
        let text = good().replace(RECIPIENT, "age1notakey");
        let (_, msg) = one(&text);
        assert!(msg.contains("not a valid age"), "{msg}");
    }

    #[test]
    fn bad_names_and_types() {
        let text = good().replace("name = \"hq\"", "name = \"../hq\"");
        assert!(one(&text).1.contains("must not start"));
        let text = good().replace("name = \"hq\"", "name = \"h/q\"");
        assert!(one(&text).1.contains("may hold only"));
        let text = good().replace("type = \"folder\"", "type = \"ftp\"");
        assert!(one(&text).1.contains("unknown type \"ftp\""));
    }

    #[test]
    fn syntax_error_has_a_line() {
        let text = good().replace("copies = 3", "copies = = 3");
        let (line, _) = one(&text);
        assert_eq!(line, Some(5));
    }

    #[test]
    fn no_sources_no_targets() {
        let text = format!("state_dir = \"/x\"\n[encryption]\nrecipients = [\"{RECIPIENT}\"]\n");
        let p = problems(&text);
        assert!(p.iter().any(|p| p.message.contains("no [[source]]")));
        assert!(p.iter().any(|p| p.message.contains("no [[target]]")));
    }

    #[test]
    fn error_display_names_file_and_line() {
        let text = good().replace("copies = 3", "copies = \"three\"");
        let e = Config::parse(&text, Path::new("/etc/pbx321/config.toml")).unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("/etc/pbx321/config.toml:5:"), "{shown}");
    }
}
