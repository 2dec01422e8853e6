//! `[[target]]`: where copies go, and what they count as for the rule.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

use super::{Cx, Secret, TARGET_COMMON, filter_keys, humantime_serde_compat};

#[derive(Debug, Clone)]
pub struct TargetConfig {
    pub name: String,
    pub medium: Medium,
    pub location: Location,
    /// Count `medium` and `location` as declared, without checking them against where the
    /// data really lies. Off by default; every output marks such a target "declared, not
    /// verified".
    pub trust_labels: bool,
    /// Keep rules for the copies on this target, instead of `[retention]`'s.
    pub retention: Option<super::Rules>,
    /// How long an operation on this target may go without progress (no byte moved, no
    /// answer) before the target is given up on for the run. `None`: no such deadline (the
    /// default for `fs`; `DEFAULT_IO_TIMEOUT` for the network kinds).
    pub io_timeout: Option<Duration>,
    pub kind: TargetKind,
}

/// How long a network target may stall before it is given up on for the run.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// Accept an `http://` endpoint on another host although the password crosses the
    /// network in clear.
    #[serde(default)]
    pub allow_insecure_http: bool,
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
    /// Accept an `http://` endpoint on another host (requests and data unencrypted).
    #[serde(default)]
    pub allow_insecure_http: bool,
    #[serde(default = "default_connect_timeout", with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
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
    pub(super) fn check(&mut self) -> Result<(), super::Invalid> {
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
            return Err(invalid!(
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
            return Err(invalid!(
                "storage_class {c:?} is not one of {}",
                STORAGE_CLASSES.join(", ")
            ));
        }
        if let Some(l) = &self.object_lock
            && !(1..=36_500).contains(&l.days)
        {
            return Err(invalid!(
                "object_lock.days = {} is out of range: give between 1 and 36500 (100 years)",
                l.days
            ));
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

impl Cx<'_> {
    /// Refuses an `http://` endpoint on another host for a target that sends credentials:
    /// they would cross the network in clear. Loopback is fine (a tunnel, a test server);
    /// `allow_insecure_http = true` says the operator knows.
    fn clear_text(
        &mut self,
        endpoint: &str,
        span: &std::ops::Range<usize>,
        prefix: &str,
        what: &str,
    ) -> Option<()> {
        let Some(rest) = endpoint.strip_prefix("http://") else {
            return Some(());
        };
        let host = super::http_host_port(&format!("http://{rest}")).map(|(h, _)| h);
        if host.as_deref().is_some_and(super::is_loopback_host) {
            return Some(());
        }
        self.problem(
            Some(span.clone()),
            format!(
                "{prefix}endpoint {endpoint:?} is plain http:// to another host: {what} would cross the network unencrypted; use https://, or set allow_insecure_http = true on this target if the network is yours"
            ),
        );
        None
    }

    pub(super) fn targets(
        &mut self,
        tables: &[&Spanned<DeValue<'_>>],
        base: &Path,
    ) -> Vec<TargetConfig> {
        #[derive(Deserialize)]
        struct Common {
            medium: Option<Medium>,
            #[serde(default)]
            location: Location,
            #[serde(default)]
            trust_labels: bool,
            io_timeout: Option<Spanned<String>>,
        }
        let mut out = Vec::new();
        for (name, kind, span, value) in self.entries("target", tables) {
            let prefix = format!("target {name:?}: ");
            let common_keys = ["medium", "location", "trust_labels", "io_timeout"];
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
            let retention = self.override_rules(value, &prefix);
            let io_timeout = match &common.io_timeout {
                Some(s) => match self.duration(s, "io_timeout") {
                    Some(d) => Some(d),
                    None => continue,
                },
                None if kind.as_str() == "fs" => None,
                None => Some(DEFAULT_IO_TIMEOUT),
            };
            let kind = self.target_kind(&kind, value, &span, &prefix, base);
            // Checked after the kind's own keys, so that a misspelt key beside a missing
            // medium is reported too.
            let Some(medium) = common.medium else {
                self.problem(
                    Some(span),
                    format!(
                        "{prefix}needs medium = \"…\", one of disk, removable, nas, object-storage, tape"
                    ),
                );
                continue;
            };
            if let Some(kind) = kind {
                out.push(TargetConfig {
                    name,
                    medium,
                    location: common.location,
                    trust_labels: common.trust_labels,
                    retention,
                    io_timeout,
                    kind,
                });
            }
        }
        out
    }

    /// The kind-specific part of a `[[target]]` table, checked.
    fn target_kind(
        &mut self,
        kind: &str,
        value: &Spanned<DeValue<'_>>,
        span: &std::ops::Range<usize>,
        prefix: &str,
        base: &Path,
    ) -> Option<TargetKind> {
        match kind {
            "fs" => self
                .typed::<FsTarget>(value, TARGET_COMMON, prefix)
                .map(|mut f| {
                    f.path = base.join(&f.path);
                    TargetKind::Fs(f)
                }),
            "sftp" => self
                .typed::<SftpTarget>(value, TARGET_COMMON, prefix)
                .and_then(|s| self.sftp_kind(s, value, span, prefix, base)),
            "webdav" => self
                .typed::<WebdavTarget>(value, TARGET_COMMON, prefix)
                .and_then(|w| {
                    self.bounded(value, "connect_timeout", w.connect_timeout, prefix)?;
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
                    if w.username.is_some() && !w.allow_insecure_http {
                        self.clear_text(&w.endpoint, span, prefix, "a password")?;
                    }
                    self.note_secret(value, "password", prefix, w.password.as_ref());
                    Some(TargetKind::Webdav(w))
                }),
            "s3" => self
                .typed::<S3Target>(value, TARGET_COMMON, prefix)
                .and_then(|mut s| {
                    if let Err(why) = s.check() {
                        self.problem(Some(span.clone()), format!("{prefix}{why}"));
                        return None;
                    }
                    self.bounded(value, "connect_timeout", s.connect_timeout, prefix)?;
                    if let (Some(e), false) = (&s.endpoint, s.allow_insecure_http) {
                        self.clear_text(e, span, prefix, "signed requests and the key id")?;
                    }
                    self.note_secret(value, "access_key_id", prefix, s.access_key_id.as_ref());
                    self.note_secret(
                        value,
                        "secret_access_key",
                        prefix,
                        s.secret_access_key.as_ref(),
                    );
                    Some(TargetKind::S3(s))
                }),
            other => {
                self.problem(
                    super::key_span(value, "type").or(Some(span.clone())),
                    format!(
                        "{prefix}unknown type {other:?}; {}",
                        super::did_you_mean(other, &["fs", "sftp", "webdav", "s3"])
                    ),
                );
                None
            }
        }
    }

    /// An `sftp` target's endpoint checked (ssh://user@host[:port], no password in it) and
    /// its key files made absolute.
    fn sftp_kind(
        &mut self,
        mut s: SftpTarget,
        value: &Spanned<DeValue<'_>>,
        span: &std::ops::Range<usize>,
        prefix: &str,
        base: &Path,
    ) -> Option<TargetKind> {
        self.bounded(value, "connect_timeout", s.connect_timeout, prefix)?;
        let ok = s.endpoint.starts_with("ssh://") || !s.endpoint.contains("://");
        if !ok || super::ssh_host_port(&s.endpoint).is_none() {
            self.problem(
                Some(span.clone()),
                format!(
                    "{prefix}endpoint {:?} is not ssh://user@host[:port]",
                    s.endpoint
                ),
            );
            return None;
        }
        if s.endpoint
            .split("://")
            .last()
            .is_some_and(|r| r.split('@').next().is_some_and(|u| u.contains(':')))
        {
            self.problem(
                Some(span.clone()),
                format!("{prefix}put no password in endpoint: sftp targets use key = \"…\""),
            );
            return None;
        }
        s.key = s.key.map(|k| base.join(k));
        s.known_hosts = s.known_hosts.map(|k| base.join(k));
        Some(TargetKind::Sftp(s))
    }
}
