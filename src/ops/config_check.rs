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
    out
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
        }
    }
}
