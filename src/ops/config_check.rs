//! `config check`'s look beyond the file: what the config refers to that only the machine
//! can tell — secrets in the environment or in files, the recipients file. A config that
//! parses can still fail every run on this machine; this says so before the first run.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::Config;

/// Something the config refers to that cannot be had on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// `target "nas": password`.
    pub what: String,
    pub error: String,
}

/// Resolves every secret (without keeping its value) and reads the recipients file.
pub fn missing(cfg: &Config) -> Vec<Missing> {
    let mut out = Vec::new();
    for s in &cfg.secrets {
        if let Err(e) = s.secret.resolve() {
            out.push(Missing {
                file: cfg.path.clone(),
                line: s.line,
                what: s.what.clone(),
                error: e.to_string(),
            });
        }
    }
    if let Some(path) = cfg
        .encryption
        .as_ref()
        .and_then(|e| e.recipients_file.as_ref())
        && let Err(e) = super::recipients(cfg)
    {
        out.push(Missing {
            file: cfg.path.clone(),
            line: None,
            what: format!("[encryption] recipients_file {}", path.display()),
            error: e.to_string(),
        });
    }
    let mut missing = |what: String, error: String| {
        out.push(Missing {
            file: cfg.path.clone(),
            line: None,
            what,
            error,
        })
    };
    // Files a run reads, checked the way the run reads them.
    if let Some(s) = &cfg.signing
        && let Err(e) = crate::sign::Signer::load(&s.key)
    {
        missing("[signing] key".into(), e.to_string());
    }
    if let Some(id) = &cfg.schedule.identity
        && let Err(e) = crate::seal::load_identities(id)
    {
        missing("[schedule] identity".into(), e.to_string());
    }
    for s in &cfg.sources {
        let ca = match &s.kind {
            crate::config::SourceKind::ThreeCx(t) => t.ca_file.as_ref(),
            crate::config::SourceKind::ThreeCxV18(t) => t.ca_file.as_ref(),
            _ => None,
        };
        if let Some(ca) = ca
            && let Err(e) = std::fs::read(ca)
        {
            missing(
                format!("source {:?}: ca_file {}", s.name, ca.display()),
                e.to_string(),
            );
        }
    }
    for n in &cfg.notify {
        if let crate::config::NotifyKind::Email {
            ca_file: Some(ca), ..
        } = &n.kind
            && let Err(e) = std::fs::read(ca)
        {
            missing(
                format!("{}: ca_file {}", n.name, ca.display()),
                e.to_string(),
            );
        }
    }
    if !cfg.scratch_state
        && let Err(why) = writable(&cfg.state_dir)
    {
        missing(
            format!("state_dir {}", cfg.state_dir.display()),
            why.to_string(),
        );
    }
    out
}

/// Why this user cannot record in the state directory.
#[derive(Debug, thiserror::Error)]
enum NotWritable {
    #[error("{} is not a directory", .0.display())]
    NotADirectory(std::path::PathBuf),
    #[error("this user may not write in it ({0})")]
    Denied(rustix::io::Errno),
    #[error("it does not exist, and this user may not create it in {} ({errno})", parent.display())]
    CannotCreate {
        parent: std::path::PathBuf,
        errno: rustix::io::Errno,
    },
}

/// Whether this user can write in `dir`, or create it (its nearest existing ancestor is
/// writable): what every run that records needs. Reading the config creates nothing.
fn writable(dir: &std::path::Path) -> Result<(), NotWritable> {
    let existing = dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(std::path::Path::new("/"));
    if existing != dir && !existing.is_dir() {
        return Err(NotWritable::NotADirectory(existing.to_path_buf()));
    }
    rustix::fs::access(
        existing,
        rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
    )
    .map_err(|errno| {
        if existing == dir {
            NotWritable::Denied(errno)
        } else {
            NotWritable::CannotCreate {
                parent: existing.to_path_buf(),
                errno,
            }
        }
    })
}

/// `config check --format json`: the verdict on a config, for scripts.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub ok: bool,
    /// Problems in the file (file:line: what to fix), when it was refused.
    pub problems: Vec<String>,
    /// What the config refers to that this machine cannot provide.
    pub missing: Vec<Missing>,
    pub sources: Vec<String>,
    pub targets: Vec<String>,
    pub tamper_evident: bool,
    /// How the rule will be counted when every target holds a copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counting: Option<crate::policy::invariant::Verdict>,
    /// With `--online`: what was tried, and how it went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online: Option<Vec<Probe>>,
    /// Local targets that are one directory under two names: one copy, not two.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub same_directory: Vec<String>,
}

impl Summary {
    pub fn of(cfg: &Config, missing: &[Missing], fatal: bool) -> Summary {
        Summary {
            ok: !fatal,
            problems: Vec::new(),
            missing: missing.to_vec(),
            sources: cfg.sources.iter().map(|s| s.name.clone()).collect(),
            targets: cfg.targets.iter().map(|t| t.name.clone()).collect(),
            tamper_evident: cfg.signing.is_some(),
            counting: None,
            online: None,
            same_directory: same_directory(cfg),
        }
    }
}

/// Pairs of `fs` targets that are the same directory (the same path, or one reached through
/// a link or a second mount: the same device and inode): every copy there is one copy, and
/// pbx321 counts it once and never prunes it through the second name.
pub fn same_directory(cfg: &Config) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    /// A local target: its name, its path, and its directory's (device, inode) if it exists.
    type Dir<'a> = (&'a str, &'a std::path::Path, Option<(u64, u64)>);
    let dirs: Vec<Dir<'_>> = cfg
        .targets
        .iter()
        .filter_map(|t| match &t.kind {
            crate::config::TargetKind::Fs(fs) => Some((
                t.name.as_str(),
                fs.path.as_path(),
                std::fs::metadata(&fs.path).ok().map(|m| (m.dev(), m.ino())),
            )),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for (i, (a, pa, ia)) in dirs.iter().enumerate() {
        for (b, pb, ib) in &dirs[i + 1..] {
            if pa == pb || (ia.is_some() && ia == ib) {
                out.push(format!(
                    "targets {a} and {b} are the same directory ({}): one copy, not two; point each target at its own directory",
                    pb.display()
                ));
            }
        }
    }
    out
}

/// How the rule will be counted when every target holds a copy: media and offsite from where
/// each target really lies (filesystem, host), exactly as `check` counts them, so that "local
/// and usb are on one filesystem: one medium" is said before the first backup, not after.
pub async fn counting(ctx: &super::Ctx) -> crate::policy::invariant::Verdict {
    use crate::policy::invariant::{CopyFact, Rule, evaluate};
    let mut copies = Vec::with_capacity(ctx.targets.len());
    for t in &ctx.targets {
        let props = t.properties();
        copies.push(CopyFact {
            target: t.name().to_string(),
            medium: props.medium,
            location: props.location,
            immutable: props.immutable_capable,
            declared: props.declared,
            placement: t.placement().await,
        });
    }
    evaluate(&copies, &Rule::from(&ctx.config.policy))
}

/// One thing `config check --online` tried.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// `source hq`, `target nas`.
    pub what: String,
    pub ok: bool,
    /// What was found, or why it failed.
    pub detail: String,
    pub seconds: f64,
}

/// `config check --online`: logs in to every source (listing its backups, creating none)
/// and, on every target, writes a small probe object, reads it back and deletes it. All at
/// once; each with its own result.
pub async fn online(ctx: &super::Ctx) -> Vec<Probe> {
    let name = format!("pbx321-probe-{}", hex::encode(rand_bytes::<8>()));
    let body = format!("pbx321 probe {name}\n").into_bytes();
    let sources = ctx.sources.iter().map(|s| async move {
        let t = ctx.stopwatch();
        let r = s.probe().await;
        Probe {
            what: format!("source {}", s.name()),
            ok: r.is_ok(),
            detail: r.unwrap_or_else(|e| e.to_string()),
            seconds: t.seconds(),
        }
    });
    let targets = ctx.targets.iter().map(|tg| {
        let (name, body) = (&name, &body);
        async move {
            let t = ctx.stopwatch();
            let r = tg.probe(name, body).await;
            Probe {
                what: format!("target {}", tg.name()),
                ok: r.is_ok(),
                detail: match r {
                    Ok(()) => format!("wrote, read back and deleted {name}"),
                    Err(e) => e.to_string(),
                },
                seconds: t.seconds(),
            }
        }
    });
    let (mut out, targets) = futures::join!(
        futures::future::join_all(sources),
        futures::future::join_all(targets)
    );
    out.extend(targets);
    out
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    use ssh_key::rand_core::RngCore;
    let mut b = [0u8; N];
    ssh_key::rand_core::OsRng.fill_bytes(&mut b);
    b
}
