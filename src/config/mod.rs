//! The configuration file: serde types and pure validation.
//!
//! [`Config::parse`] takes the file's text and its path and either returns a fully checked
//! [`Config`] or every problem found, each with `file:line` and what to change. Nothing here
//! touches the disk or the network: reading the file, resolving `{ env = … }` / `{ file = … }`
//! secrets and loading `recipients_file` happen at the edges (`ops`, `secret`). Relative
//! paths are taken relative to the directory of the config file, so a config can travel with
//! the directory it describes (the quickstart does).
//!
//! Every problem is found in one pass: the file is read into a span-preserving document, and
//! each section and each `[[source]]` / `[[target]]` table is checked on its own — unknown
//! keys first (each one, with a "did you mean" from the keys that table takes), then its
//! values — so that one mistake never hides the next, and each is reported at its own line.
//!
//! Only `[[target]]` is needed by every command: a config holding targets alone is enough
//! to `list` and `restore`; `backup` also needs `[encryption]` and a `[[source]]`.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

pub use crate::secret::Secret;
pub use daemon::{
    CronSpec, Daemon, Event, Notifier, NotifyKind, Schedule, Shard, notify_url, parse_cron,
};
pub use encryption::{Encryption, check_recipient};
pub use endpoint::{http_host_port, is_loopback_host, ssh_host_port};
pub use location::{
    LocationOptions, WEBDAV_PASSWORD_VAR, is_location, location_of, parse_location,
};
pub use plan::{DECLARED_ITEMS, Declared, ITEMS as READINESS_ITEMS, Plan};
pub use policy::{DEFAULT_CLOCK_SKEW, Policy};
pub use retention::{Retention, Rules, Zone};
pub use signing::Signing;
pub use source::*;
pub use target::*;
pub use tenant::Tenant;

/// An [`Invalid`] value, worded as `format!` words it.
macro_rules! invalid {
    ($($t:tt)*) => {
        $crate::config::Invalid(format!($($t)*))
    };
}

mod daemon;
mod duration;
mod encryption;
mod endpoint;
mod location;
mod plan;
mod policy;
mod retention;
mod signing;
mod source;
mod target;
mod tenant;

/// Pending backups kept in the spool per source when `spool_max` is not given.
pub const DEFAULT_SPOOL_MAX: usize = 3;
const SPOOL_MAX_LIMIT: i64 = 100;

/// Where the config is looked for when neither `--config` nor `PBX321_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/pbx321/config.toml";

/// Where the state is kept when the config does not say.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/pbx321";

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from (for messages).
    pub path: PathBuf,
    /// Run history, locks and the spool. A cache: never needed to restore.
    pub state_dir: PathBuf,
    /// The state directory is a scratch one made per run (a config of targets only that
    /// names none: a bare machine writes nothing to `/var/lib`).
    pub scratch_state: bool,
    /// Pending backups kept in the spool per source, at most (default 3).
    pub spool_max: usize,
    /// The group that may read what pbx321 writes locally (fs copies, manifests, state),
    /// so that a monitoring user can run `check`; `None`: pbx321's user alone.
    pub file_group: Option<String>,
    /// Needed to back up; `None` in a config for restoring only.
    pub encryption: Option<Encryption>,
    /// Manifest signing; `None`: copies are not tamper-evident.
    pub signing: Option<Signing>,
    pub policy: Policy,
    /// Which backups `prune` keeps (per source; a source or target may override the rules).
    pub retention: Retention,
    /// Whether `backup` refills missing copies after it runs (default: yes).
    pub repair: RepairMode,
    /// `pbx321 daemon`: where it listens, how many at once, its zone.
    pub daemon: Daemon,
    /// Fleet-wide scheduled jobs.
    pub schedule: Schedule,
    /// Whom to tell about backups, drills and checks.
    pub notify: Vec<Notifier>,
    /// The response plan: readiness rules, declared measures, the runbook.
    pub plan: Plan,
    pub sources: Vec<SourceConfig>,
    pub targets: Vec<TargetConfig>,
    /// The customers of a managed-service provider, each seeing only its own sources.
    pub tenants: Vec<Tenant>,
    /// Every secret referred to, with its line.
    pub secrets: Vec<SecretRef>,
}

/// `repair = "after-backup"` (the default) or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepairMode {
    /// After backing up a source, refill every copy its kept backups lack.
    AfterBackup,
    /// Only `pbx321 repair` refills copies.
    Off,
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

// ---- as written --------------------------------------------------------------------------

/// The keys of the top level.
const TOP_KEYS: &[&str] = &[
    "state_dir",
    "spool_max",
    "file_group",
    "encryption",
    "signing",
    "policy",
    "retention",
    "repair",
    "daemon",
    "schedule",
    "notify",
    "tenant",
    "plan",
    "source",
    "target",
];

/// Keys every `[[source]]` has, besides those of its type.
const SOURCE_COMMON: &[&str] = &["name", "type", "retention", "schedule", "tenant"];
/// Keys every `[[target]]` has, besides those of its type.
const TARGET_COMMON: &[&str] = &[
    "name",
    "type",
    "medium",
    "location",
    "trust_labels",
    "retention",
    "io_timeout",
];

/// A value in a config (or a location on the command line) that is wrong, and what to do
/// about it: what the pure validators return; `Cx` places it at its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<String> for Invalid {
    fn from(s: String) -> Invalid {
        Invalid(s)
    }
}

impl From<&str> for Invalid {
    fn from(s: &str) -> Invalid {
        Invalid(s.to_string())
    }
}

/// The directory relative paths in the config at `path` follow, made absolute: every
/// command pbx321 prints (the page, the runbook, config check) works wherever it is pasted.
fn base_of(path: &Path) -> PathBuf {
    let base = match path.parent() {
        Some(b) if !b.as_os_str().is_empty() => b,
        _ => Path::new("."),
    };
    let absolute = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    absolute
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

impl Config {
    /// Parses and checks a config. `path` is used for messages and as the base of relative
    /// paths; it is not read.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut cx = Cx {
            text,
            problems: Vec::new(),
            secrets: Vec::new(),
        };
        // Every problem, in the order of the file (those without a line last).
        let fail = |mut problems: Vec<Problem>| {
            problems.sort_by_key(|p: &Problem| p.line.unwrap_or(usize::MAX));
            ConfigError {
                file: path.to_path_buf(),
                problems,
            }
        };
        // Syntax errors end the reading: nothing after one can be trusted.
        let doc = match DeTable::parse(text) {
            Ok(d) => d,
            Err(e) => {
                cx.toml_error(&e, "");
                return Err(fail(cx.problems));
            }
        };
        let base = base_of(path);
        let base = base.as_path();
        cx.unknown_keys(doc.get_ref(), TOP_KEYS, "");
        let get = |key: &str| {
            doc.get_ref()
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(_, v)| v)
        };
        let state_dir = get("state_dir")
            .and_then(|v| cx.value::<PathBuf>(v, "state_dir = "))
            .map(|p| base.join(p))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        let spool_max = get("spool_max").map_or(DEFAULT_SPOOL_MAX, |v| cx.spool_max(v));
        let file_group = get("file_group").and_then(|v| cx.file_group(v));
        let encryption = get("encryption")
            .and_then(|v| cx.section::<encryption::RawEncryption>(v, "[encryption] "))
            .and_then(|raw| cx.encryption(raw, base));
        let signing = get("signing")
            .and_then(|v| cx.section::<signing::RawSigning>(v, "[signing] "))
            .and_then(|raw| cx.signing(raw, base));
        let policy_span = get("policy").map(|p| p.span());
        // A config of targets only (a bare machine) judges what the copies are, not a 3-2-1
        // set-up, unless it says otherwise.
        let targets_only = get("source").is_none();
        let policy = cx.policy_section(get("policy"), targets_only);
        let retention = cx.retention_section(get("retention"));
        let repair = get("repair").map_or(RepairMode::AfterBackup, |v| {
            cx.value::<RepairMode>(v, "repair = ")
                .unwrap_or(RepairMode::AfterBackup)
        });
        let daemon = get("daemon")
            .and_then(|v| cx.section::<daemon::RawDaemon>(v, "[daemon] "))
            .map(|raw| cx.daemon(raw.into_inner()))
            .unwrap_or_default();
        let schedule = get("schedule")
            .and_then(|v| cx.section::<daemon::RawSchedule>(v, "[schedule] "))
            .map(|raw| cx.schedule(raw.into_inner(), base))
            .unwrap_or_default();
        let plan = cx.plan_section(get("plan"), base);
        cx.plan_needs_schedule(&plan, &schedule, get("plan"), get("schedule"));
        let (notify, sources, tenants, source_tables) =
            cx.parties(get("notify"), get("source"), get("tenant"), base);
        let target_tables = cx.array(get("target"), "target");
        let targets = cx.targets(&target_tables, base);
        cx.whole(
            &targets,
            target_tables.len(),
            source_tables,
            encryption.is_none() && get("encryption").is_none(),
            policy.as_ref().map(|p| (p, policy_span)),
        );
        match (cx.problems.is_empty(), policy) {
            (true, Some(policy)) => Ok(Config {
                path: path.to_path_buf(),
                scratch_state: targets_only && get("state_dir").is_none(),
                state_dir,
                spool_max,
                file_group,
                encryption,
                signing,
                policy,
                retention,
                repair,
                daemon,
                schedule,
                notify,
                plan,
                sources,
                targets,
                tenants,
                secrets: cx.secrets,
            }),
            _ => Err(fail(cx.problems)),
        }
    }

    /// A config of targets only, made on the spot (a bare machine after a disaster): no
    /// sources, no state directory worth keeping, and a rule that asks only whether the
    /// copies there are good — one copy, of any age: `check --deep` there verifies what
    /// survived, it does not judge a 3-2-1 set-up that is gone.
    pub fn of_targets(targets: Vec<TargetConfig>, state_dir: PathBuf) -> Config {
        Config {
            path: PathBuf::from("(no config: --from)"),
            state_dir,
            scratch_state: false,
            spool_max: DEFAULT_SPOOL_MAX,
            file_group: None,
            encryption: None,
            signing: None,
            policy: Policy::bare(),
            retention: Retention::default(),
            repair: RepairMode::Off,
            daemon: Daemon::default(),
            schedule: Schedule::default(),
            notify: Vec::new(),
            plan: Plan::default(),
            sources: Vec::new(),
            targets,
            tenants: Vec::new(),
            secrets: Vec::new(),
        }
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    pub fn target(&self, name: &str) -> Option<&TargetConfig> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The keep rules for the copies of `source` on `target`: the target's own, else the
    /// source's, else `[retention]`'s.
    pub fn rules_for(&self, source: &str, target: &str) -> &Rules {
        self.target(target)
            .and_then(|t| t.retention.as_ref())
            .or_else(|| self.source(source).and_then(|s| s.retention.as_ref()))
            .unwrap_or(&self.retention.rules)
    }
}

/// The span of `key` in a table, if it is there.
/// A string value of a table's key, if it is one.
fn key_str(table: &Spanned<DeValue<'_>>, key: &str) -> Option<String> {
    match table.get_ref() {
        DeValue::Table(t) => t
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .and_then(|(_, v)| match v.get_ref() {
                DeValue::String(s) => Some(s.to_string()),
                _ => None,
            }),
        _ => None,
    }
}

fn key_span(table: &Spanned<DeValue<'_>>, key: &str) -> Option<Range<usize>> {
    match table.get_ref() {
        DeValue::Table(t) => t
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, v)| v.span()),
        _ => None,
    }
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
    secrets: Vec<SecretRef>,
}

/// A secret the config refers to and where it is written: `config check` resolves each
/// one and reports those it cannot, by line.
#[derive(Debug, Clone)]
pub struct SecretRef {
    pub line: Option<usize>,
    /// `target "nas": password`.
    pub what: String,
    pub secret: Secret,
}

impl Cx<'_> {
    /// What only the whole config can tell: a place for copies, recipients for the sources,
    /// and a rule the targets can meet where there is something to back up.
    fn whole(
        &mut self,
        targets: &[TargetConfig],
        target_tables: usize,
        source_tables: usize,
        no_encryption: bool,
        policy: Option<(&Policy, Option<Range<usize>>)>,
    ) {
        if target_tables == 0 {
            self.problem(
                None,
                "no [[target]]: add at least one place for copies, e.g. type = \"fs\"",
            );
        }
        if source_tables > 0 && no_encryption {
            self.problem(
                None,
                "[[source]] needs [encryption] recipients = [\"age1…\"] to back up (make a key with `pbx321 keygen --out FILE`)",
            );
        }
        if let Some((policy, span)) = policy
            && source_tables > 0
        {
            self.feasible(policy, targets, target_tables, span);
        }
    }

    /// `[policy]`: as written; for a config of targets only, none means [`Policy::bare`].
    fn policy_section(
        &mut self,
        v: Option<&Spanned<DeValue<'_>>>,
        targets_only: bool,
    ) -> Option<Policy> {
        match v {
            Some(v) => self
                .section::<policy::RawPolicy>(v, "[policy] ")
                .and_then(|raw| self.policy(raw.into_inner())),
            None if targets_only => Some(Policy::bare()),
            None => self.policy(policy::RawPolicy::default()),
        }
    }

    fn retention_section(&mut self, v: Option<&Spanned<DeValue<'_>>>) -> Retention {
        let Some(v) = v else {
            return Retention::default();
        };
        self.section::<retention::RawRetention>(v, "[retention] ")
            .map(|raw| {
                let span = raw.span();
                self.retention(raw.into_inner(), span)
            })
            .unwrap_or_default()
    }

    fn plan_section(&mut self, v: Option<&Spanned<DeValue<'_>>>, base: &Path) -> Plan {
        let Some(v) = v else {
            return Plan::default();
        };
        self.section::<plan::RawPlan>(v, "[plan] ")
            .map(|raw| {
                let span = raw.span();
                self.plan(raw.into_inner(), base, span)
            })
            .unwrap_or_default()
    }

    /// `[plan] write_to` and `[schedule] plan` go together: the daemon writes the runbook
    /// where one says, when the other says.
    fn plan_needs_schedule(
        &mut self,
        plan: &Plan,
        schedule: &daemon::Schedule,
        plan_table: Option<&Spanned<DeValue<'_>>>,
        schedule_table: Option<&Spanned<DeValue<'_>>>,
    ) {
        if let (Some(w), None) = (&plan.write_to, &schedule.plan) {
            self.problem(
                plan_table.map(|p| p.span()),
                format!(
                    "[plan] write_to = {:?} needs [schedule] plan = \"0 6 * * *\" (when the daemon writes it)",
                    w.display()
                ),
            );
        }
        if schedule.plan.is_some() && plan.write_to.is_none() {
            self.problem(
                schedule_table.map(|p| p.span()),
                "[schedule] plan needs [plan] write_to = \"/mnt/share/pbx-runbook.html\" (where the daemon writes the runbook)",
            );
        }
    }

    /// Records a secret of a `[[source]]` or `[[target]]` table, with the line of its key.
    fn note_secret(
        &mut self,
        table: &Spanned<DeValue<'_>>,
        key: &str,
        prefix: &str,
        secret: Option<&Secret>,
    ) {
        let Some(secret) = secret else { return };
        let line = match table.get_ref() {
            DeValue::Table(t) => t
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(k, _)| self.line_of(k.span().start)),
            _ => None,
        };
        self.secrets.push(SecretRef {
            line,
            what: format!("{prefix}{key}"),
            secret: secret.clone(),
        });
    }

    /// Checks a duration of a `[[source]]` or `[[target]]` table against its bounds,
    /// reporting at the key's line.
    fn bounded(
        &mut self,
        table: &Spanned<DeValue<'_>>,
        key: &str,
        d: Duration,
        prefix: &str,
    ) -> Option<()> {
        let Some(why) = duration::out_of_bounds(key, d) else {
            return Some(());
        };
        let span = match table.get_ref() {
            DeValue::Table(t) => t
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(k, _)| k.span()),
            _ => None,
        };
        self.problem(span.or(Some(table.span())), format!("{prefix}{why}"));
        None
    }

    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
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
        let hint = variant_hint(&message);
        self.problem(e.span(), format!("{prefix}{message}{hint}"));
    }

    fn duration(&mut self, raw: &Spanned<String>, key: &str) -> Option<Duration> {
        match humantime::parse_duration(raw.get_ref()) {
            Ok(d) if d.is_zero() => {
                self.problem(Some(raw.span()), format!("{key} must be longer than zero"));
                None
            }
            Ok(d) => match duration::out_of_bounds(key, d) {
                None => Some(d),
                Some(why) => {
                    self.problem(Some(raw.span()), why);
                    None
                }
            },
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

    /// Reports every key of `table` that is not one of `known`, each at its own line, with
    /// the closest known key when one is close.
    fn unknown_keys(&mut self, table: &DeTable<'_>, known: &[&str], prefix: &str) {
        for (k, _) in table.iter() {
            let key: &str = k.get_ref();
            if !known.contains(&key) {
                let hint = match suggest(key, known) {
                    Some(s) => format!("; did you mean `{s}`?"),
                    None => format!("; this table takes {}", list(known)),
                };
                self.problem(Some(k.span()), format!("{prefix}unknown key `{key}`{hint}"));
            }
        }
    }

    /// A plain value, or a problem at its line.
    fn value<T: DeserializeOwned>(&mut self, v: &Spanned<DeValue<'_>>, prefix: &str) -> Option<T> {
        match T::deserialize(ValueDeserializer::from(v.clone())) {
            Ok(t) => Some(t),
            Err(e) => {
                self.toml_error(&e, prefix);
                None
            }
        }
    }

    /// A table deserialized into `T` after its unknown keys were reported (and left out, so
    /// that the rest of it is still checked).
    fn section<T: DeserializeOwned>(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        prefix: &str,
    ) -> Option<Spanned<T>> {
        let DeValue::Table(t) = v.get_ref() else {
            self.problem(Some(v.span()), format!("{prefix}must be a table"));
            return None;
        };
        let known = serde_aux::serde_introspection::serde_introspect::<T>();
        self.unknown_keys(t, known, prefix);
        let mut v = v.clone();
        filter_keys(&mut v, |k| known.contains(&k));
        self.value::<Spanned<T>>(&v, prefix)
    }

    /// The tables of an array of tables (`[[source]]`), or a problem.
    /// The notifiers, the sources and the tenants they belong to (each tenant notifier
    /// knowing its sources), and how many `[[source]]` tables were written.
    #[allow(clippy::type_complexity)]
    fn parties(
        &mut self,
        notify: Option<&Spanned<DeValue<'_>>>,
        source: Option<&Spanned<DeValue<'_>>>,
        tenant: Option<&Spanned<DeValue<'_>>>,
        base: &Path,
    ) -> (Vec<Notifier>, Vec<SourceConfig>, Vec<Tenant>, usize) {
        let notify_tables = self.array(notify, "notify");
        let mut notify = self.notifiers(&notify_tables, base);
        let source_tables = self.array(source, "source");
        let mut sources = self.sources(&source_tables, base);
        let tenant_tables = self.array(tenant, "tenant");
        let tenants = self.tenancy(&tenant_tables, &mut sources, &mut notify);
        (notify, sources, tenants, source_tables.len())
    }

    fn array<'d, 'i>(
        &mut self,
        v: Option<&'d Spanned<DeValue<'i>>>,
        what: &str,
    ) -> Vec<&'d Spanned<DeValue<'i>>> {
        match v.map(|v| (v, v.get_ref())) {
            None => Vec::new(),
            Some((_, DeValue::Array(items))) => items.iter().collect(),
            Some((v, _)) => {
                self.problem(
                    Some(v.span()),
                    format!("{what} must be written [[{what}]], one table per {what}"),
                );
                Vec::new()
            }
        }
    }

    fn spool_max(&mut self, v: &Spanned<DeValue<'_>>) -> usize {
        match self.value::<i64>(v, "spool_max = ") {
            Some(n) if (1..=SPOOL_MAX_LIMIT).contains(&n) => n as usize,
            Some(n) => {
                self.problem(
                    Some(v.span()),
                    format!(
                        "spool_max = {n} must be between 1 and {SPOOL_MAX_LIMIT} (pending backups kept per source while a target is missing them)"
                    ),
                );
                DEFAULT_SPOOL_MAX
            }
            None => DEFAULT_SPOOL_MAX,
        }
    }

    fn file_group(&mut self, v: &Spanned<DeValue<'_>>) -> Option<String> {
        let name = self.value::<String>(v, "file_group = ")?;
        let ok = !name.is_empty()
            && name.len() <= 32
            && !name.starts_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            self.problem(
                Some(v.span()),
                format!(
                    "file_group = {name:?} is not a group name or number (letters, digits, `_`, `-`, `.`; e.g. \"nagios\")"
                ),
            );
            return None;
        }
        Some(name)
    }

    /// Name, type and the type's own keys of each table of an array of tables.
    fn entries<'d, 'i>(
        &mut self,
        what: &str,
        tables: &[&'d Spanned<DeValue<'i>>],
    ) -> Vec<(String, String, Range<usize>, &'d Spanned<DeValue<'i>>)> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for value in tables.iter().copied() {
            let span = value.span();
            let field = |key: &str| match value.get_ref() {
                DeValue::Table(t) => {
                    t.iter()
                        .find(|(k, _)| k.get_ref() == key)
                        .and_then(|(_, v)| match v.get_ref() {
                            DeValue::String(s) => Some(s.to_string()),
                            _ => None,
                        })
                }
                _ => None,
            };
            let name = match field("name") {
                Some(n) => n,
                None => {
                    self.problem(
                        Some(span),
                        format!("[[{what}]] needs name = \"…\" (letters, digits, . _ -)"),
                    );
                    continue;
                }
            };
            if let Err(why) = crate::manifest::check_name(&name) {
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
            let Some(kind) = field("type") else {
                self.problem(Some(span), format!("{what} {name:?} needs type = \"…\""));
                continue;
            };
            out.push((name, kind, span, value));
        }
        out
    }

    /// Deserializes a table into `T`: its unknown keys (neither `common` nor `T`'s) are
    /// reported, each with a "did you mean", then left out with the common keys; errors keep
    /// their own line.
    fn typed<T: DeserializeOwned>(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        common: &[&str],
        prefix: &str,
    ) -> Option<T> {
        let own = serde_aux::serde_introspection::serde_introspect::<T>();
        if let DeValue::Table(t) = value.get_ref() {
            let known: Vec<&str> = common.iter().chain(own).copied().collect();
            self.unknown_keys(t, &known, prefix);
        }
        let mut value = value.clone();
        filter_keys(&mut value, |k| own.contains(&k));
        self.value::<T>(&value, prefix)
    }
}

/// The known word closest to `word`, if one is close enough to be a typo of it.
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(word, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// `did you mean "folder"?`, or the words this version knows.
fn did_you_mean(word: &str, known: &[&str]) -> String {
    match suggest(word, known) {
        Some(s) => format!("did you mean {s:?}?"),
        None => format!(
            "this version knows {}",
            known
                .iter()
                .map(|k| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn list(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "; did you mean `removable`?" for serde's "unknown variant `removeable`, expected one
/// of `disk`, `removable`, …".
fn variant_hint(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown variant `") else {
        return String::new();
    };
    let Some((word, expected)) = rest.split_once('`') else {
        return String::new();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match suggest(word, &candidates) {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
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
    fn a_plan_with_declared_measures_and_thresholds() {
        let text = good().replace(
            "[[source]]",
            "[plan]\nowner = \"IT on-call\"\nkey_custody = \"the safe\"\naffects_status = true\nskip = [\"sms\"]\nmax_update_age = \"90days\"\nmin_free_disk_percent = 5\nwrite_to = \"/mnt/share/runbook.html\"\n[[plan.declared]]\nid = \"alternate_wan\"\nwhat = \"4G router\"\nprovider = \"Vodafone\"\nlast_tested = \"2026-10-01\"\n[schedule]\nplan = \"0 6 * * *\"\n[[source]]",
        );
        let c = Config::parse(&text, Path::new("/etc/pbx321/config.toml")).unwrap();
        assert!(c.plan.configured && c.plan.affects_status);
        assert_eq!(c.plan.owner.as_deref(), Some("IT on-call"));
        assert_eq!(c.plan.skip, vec!["sms".to_string()]);
        assert_eq!(c.plan.max_update_age, Duration::from_secs(90 * 86400));
        assert_eq!(c.plan.min_free_disk_percent, 5);
        assert_eq!(
            c.plan.write_to.as_deref(),
            Some(Path::new("/mnt/share/runbook.html"))
        );
        let d = c.plan.declared("alternate_wan").unwrap();
        assert_eq!(d.last_tested, Some("2026-10-01".parse().unwrap()));
        assert!(c.schedule.plan.is_some());
        // Without [plan]: not configured, the defaults.
        let c = Config::parse(&good(), Path::new("/etc/pbx321/config.toml")).unwrap();
        assert!(!c.plan.configured && !c.plan.affects_status);
    }

    #[test]
    fn a_bad_plan_is_reported_by_line() {
        let text = good().replace(
            "[[source]]",
            "[plan]\nskip = [\"wan\"]\nmin_free_disk_percent = 120\nwrite_to = \"runbook.html\"\n[[plan.declared]]\nid = \"alternate_wan\"\nwhat = \"4G\"\nlast_tested = \"October\"\n[[plan.declared]]\nid = \"coffee\"\nwhat = \"the machine\"\n[[source]]",
        );
        let p = problems(&text);
        let text_of = |needle: &str| {
            p.iter()
                .find(|x| x.message.contains(needle))
                .unwrap_or_else(|| panic!("{needle} in {p:?}"))
        };
        assert_eq!(
            text_of("skip: \"wan\" is not a readiness item").line,
            Some(10)
        );
        assert_eq!(text_of("min_free_disk_percent = 120").line, Some(11));
        assert!(text_of("write_to").message.contains("[schedule] plan"));
        assert_eq!(text_of("last_tested = \"October\"").line, Some(16));
        assert_eq!(text_of("id = \"coffee\"").line, Some(18));
    }

    #[test]
    fn retention_rules_with_overrides_and_a_zone() {
        let text = good().replace(
            "[[source]]",
            "[retention]\nkeep_last = 7\nkeep_daily = 14\nkeep_within = \"48h\"\ntimezone = \"Europe/Madrid\"\n[[source]]",
        ) + "retention = { keep_monthly = 24, keep_yearly = 7 }\n";
        let text = format!("repair = \"off\"\n{text}");
        let c = Config::parse(&text, Path::new("c.toml")).unwrap();
        assert_eq!(c.repair, RepairMode::Off);
        assert_eq!(c.retention.zone, Zone::Named(chrono_tz::Europe::Madrid));
        assert_eq!(c.retention.rules.keep_last, Some(7));
        assert_eq!(
            c.retention.rules.keep_within,
            Some(Duration::from_secs(48 * 3600))
        );
        assert_eq!(c.rules_for("hq", "local").keep_daily, Some(14));
        let away = c.rules_for("hq", "away");
        assert_eq!((away.keep_monthly, away.keep_daily), (Some(24), None));
        assert_eq!(
            c.rules_for("hq", "away").describe(),
            "keep monthly 24, yearly 7"
        );
        // Without [retention]: everything is kept, and backup repairs.
        let c = Config::parse(&good(), Path::new("c.toml")).unwrap();
        assert!(c.rules_for("hq", "local").keeps_all());
        assert_eq!(c.repair, RepairMode::AfterBackup);
    }

    #[test]
    fn bad_retention_is_reported_whole() {
        let text = good().replace(
            "[[source]]",
            "[retention]\nkeep_dayly = 3\nkeep_last = 0\nkeep_within = \"2 fortnights\"\ntimezone = \"Mars/Olympus\"\n[[source]]",
        ) + "retention = { keep_weekly = -1, timezone = \"UTC\" }\n";
        let p = problems(&format!("repair = \"sometimes\"\n{text}"));
        let all: Vec<&str> = p.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(p.len(), 7, "{all:#?}");
        assert!(
            all.iter()
                .any(|m| m.contains("`keep_dayly`") && m.contains("keep_daily")),
            "{all:?}"
        );
        assert!(
            all.iter()
                .any(|m| m.contains("keep_last = 0 must be between 1"))
        );
        assert!(
            all.iter()
                .any(|m| m.contains("keep_within = \"2 fortnights\""))
        );
        assert!(
            all.iter()
                .any(|m| m.contains("\"Mars/Olympus\" is not an IANA time zone"))
        );
        assert!(
            all.iter()
                .any(|m| m.contains("target \"away\": retention: keep_weekly = -1"))
        );
        assert!(all.iter().any(|m| m.contains("timezone is set once")));
        assert!(p.iter().all(|p| p.line.is_some()), "{p:?}");
        assert!(
            all.iter()
                .any(|m| m.contains("repair = ") && m.contains("after-backup")),
            "{all:?}"
        );
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
        let p = problems(&text);
        // In the order of the file: what the table lacks (at its head), then the key.
        assert!(p[0].message.contains("missing field `path`"), "{p:?}");
        assert_eq!(p[1].line, Some(23), "{p:?}");
        assert_eq!(
            p[1].message,
            "target \"usb\": unknown key `pth`; did you mean `path`?"
        );
    }

    /// Issue 14: a file with nine problems is reported whole, in one pass.
    #[test]
    fn nine_problems_in_one_pass_with_suggestions() {
        let text = r#"stat_dir = "/var/lib/pbx321"
[encryption]
recipients = ["age1notakey"]
[policy]
copies = 4
max_age = "26 hourz"
[[source]]
name = "hq"
type = "foldr"
path = "/pbx"
[[source]]
name = "branch"
type = "folder"
path = "/branch"
setle = "5s"
[[target]]
name = "local"
type = "fs"
path = "/srv/pbx321"
medium = "disk"
locaton = "onsite"
[[target]]
name = "usb"
type = "fs"
medium = "removable"
[[target]]
name = "usb"
type = "fs"
path = "/mnt/usb"
medium = "removable"
"#;
        let p = problems(text);
        let says = |line: usize, what: &str| {
            assert!(
                p.iter()
                    .any(|x| x.line == Some(line) && x.message.contains(what)),
                "line {line}: {what:?} in {p:#?}"
            )
        };
        says(1, "unknown key `stat_dir`; did you mean `state_dir`?");
        says(3, "not a valid age");
        says(6, "not a duration");
        says(9, "unknown type \"foldr\"; did you mean \"folder\"?");
        says(15, "unknown key `setle`; did you mean `settle`?");
        says(21, "unknown key `locaton`; did you mean `location`?");
        says(22, "missing field `path`");
        says(26, "used twice");
        assert!(
            p.iter()
                .any(|x| x.message.contains("copies = 4 but only 3 target(s)")),
            "{p:#?}"
        );
        assert_eq!(p.len(), 9, "{p:#?}");
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
    fn targets_alone_are_a_config_to_restore_with() {
        let text = format!("state_dir = \"/x\"\n[encryption]\nrecipients = [\"{RECIPIENT}\"]\n");
        let p = problems(&text);
        assert!(
            p.iter().any(|p| p.message.contains("no [[target]]")),
            "{p:?}"
        );
        // One surviving target, no source, no policy, no encryption: enough to restore.
        let c = Config::parse(
            "[[target]]\nname = \"usb\"\ntype = \"fs\"\npath = \"/mnt/usb\"\nmedium = \"removable\"\n",
            Path::new("/root/dr.toml"),
        )
        .unwrap();
        assert!(c.sources.is_empty() && c.encryption.is_none());
        assert_eq!(c.targets.len(), 1);
    }

    /// Issue 11, finding 9: credentials never cross the network in clear by accident.
    #[test]
    fn clear_text_credentials_to_another_host_are_refused() {
        let dav = |endpoint: &str, extra: &str| {
            format!(
                "{}\n[[target]]\nname = \"nas\"\ntype = \"webdav\"\nendpoint = \"{endpoint}\"\nusername = \"u\"\npassword = {{ env = \"P\" }}\nmedium = \"nas\"\n{extra}",
                good()
            )
        };
        let (line, msg) = one(&dav("http://nas.lan:5005", ""));
        assert!(line.is_some());
        assert!(
            msg.contains("plain http://") && msg.contains("allow_insecure_http"),
            "{msg}"
        );
        for ok in [
            dav("http://127.0.0.1:5005", ""),
            dav("http://localhost:5005", ""),
            dav("https://nas.lan:5006", ""),
            dav("http://nas.lan:5005", "allow_insecure_http = true\n"),
        ] {
            let c = Config::parse(&ok, Path::new("/etc/pbx321/config.toml")).unwrap();
            assert_eq!(c.secrets.len(), 1);
            assert_eq!(c.secrets[0].what, "target \"nas\": password");
            assert_eq!(c.secrets[0].line, Some(good().lines().count() + 7));
        }
        let s3 = |endpoint: &str| {
            format!(
                "{}\n[[target]]\nname = \"b\"\ntype = \"s3\"\nbucket = \"x\"\nendpoint = \"{endpoint}\"\nmedium = \"object-storage\"\n",
                good()
            )
        };
        assert!(
            one(&s3("http://s3.example.net"))
                .1
                .contains("plain http://")
        );
        assert!(Config::parse(&s3("http://127.0.0.1:9000"), Path::new("/c.toml")).is_ok());
    }

    #[test]
    fn error_display_names_file_and_line() {
        let text = good().replace("copies = 3", "copies = \"three\"");
        let e = Config::parse(&text, Path::new("/etc/pbx321/config.toml")).unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("/etc/pbx321/config.toml:5:"), "{shown}");
    }
}
