//! Secrets in the config: `"inline"`, `{ env = "VAR" }` or `{ file = "PATH" }`.
//!
//! A [`Secret`] never prints its value: `Debug` and `Display` show where it comes from,
//! not what it is, so a secret cannot reach a log through `{:?}` of a config. The value is
//! read only when [`Secret::resolve`] is called, at the edge that needs it.
//!
//! Libraries log what they hold (the AWS SDK's trace logs print the access key id in a
//! dozen places per request). So every value a secret resolves to is also remembered, and
//! the log writer ([`redact`]) replaces it wherever it appears: a secret never reaches a
//! log, whatever logs it.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Written in the config itself (allowed, never required).
    Inline(String),
    /// Read from an environment variable at run time.
    Env(String),
    /// Read from a file at run time; a trailing newline is dropped.
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set (it holds a secret the config refers to)")]
    MissingEnv(String),
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("secret {0} is empty")]
    Empty(String),
}

impl Secret {
    /// Reads the value. Empty values are an error: an empty password is always a mistake here.
    pub fn resolve(&self) -> Result<String, SecretError> {
        let value = match self {
            Secret::Inline(v) => v.clone(),
            Secret::Env(var) => {
                std::env::var(var).map_err(|_| SecretError::MissingEnv(var.clone()))?
            }
            Secret::File(path) => std::fs::read_to_string(path)
                .map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                })?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        };
        if value.is_empty() {
            return Err(SecretError::Empty(self.to_string()));
        }
        remember(&value);
        Ok(value)
    }
}

/// Shorter values are not replaced in logs (they would mangle ordinary words); no real
/// credential is this short.
const MIN_REDACTED: usize = 4;

fn known() -> &'static std::sync::RwLock<Vec<String>> {
    static KNOWN: std::sync::OnceLock<std::sync::RwLock<Vec<String>>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(Default::default)
}

/// Remembers a secret value so that [`redact`] hides it. Also for credentials pbx321 does
/// not resolve itself but a library reads (`AWS_ACCESS_KEY_ID`, …).
pub fn remember(value: &str) {
    if value.len() < MIN_REDACTED {
        return;
    }
    if let Ok(mut k) = known().write()
        && !k.iter().any(|v| v == value)
    {
        k.push(value.to_string());
        // Longest first, so a secret that contains another is hidden whole.
        k.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }
}

/// A URL as it may be shown: its scheme and host (and port), never its path, query or user
/// part, which may carry a token (`https://hooks.example.com/…`). Anything that does not
/// look like a URL is shown as `<a URL>`.
pub fn url_origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<a URL>".into();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let ok = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '+'))
    };
    if !ok(scheme) || !ok(host) || host.is_empty() {
        return "<a URL>".into();
    }
    let more = if rest.len() > authority.len() {
        "/…"
    } else {
        ""
    };
    format!("{scheme}://{host}{more}")
}

/// `text` with every remembered secret replaced by `** redacted **`.
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    let Ok(k) = known().read() else {
        return text.into();
    };
    if !k.iter().any(|v| text.contains(v.as_str())) {
        return text.into();
    }
    let mut out = text.to_string();
    for v in k.iter() {
        out = out.replace(v.as_str(), "** redacted **");
    }
    out.into()
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("<inline secret>"),
            Secret::Env(v) => write!(f, "{{ env = {v:?} }}"),
            Secret::File(p) => write!(f, "{{ file = {:?} }}", p.display().to_string()),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Inline(String),
            Ref(Ref),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Ref {
            env: Option<String>,
            file: Option<PathBuf>,
        }
        let raw = Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "a secret is a string, { env = \"VARIABLE\" } or { file = \"/path/to/file\" }",
            )
        })?;
        match raw {
            Raw::Inline(s) => Ok(Secret::Inline(s)),
            Raw::Ref(Ref {
                env: Some(v),
                file: None,
            }) => Ok(Secret::Env(v)),
            Raw::Ref(Ref {
                env: None,
                file: Some(p),
            }) => Ok(Secret::File(p)),
            Raw::Ref(_) => Err(serde::de::Error::custom(
                "a secret takes exactly one of env = \"…\" or file = \"…\"",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        s: Secret,
    }

    fn parse(t: &str) -> Result<Secret, toml::de::Error> {
        toml::from_str::<Holder>(t).map(|h| h.s)
    }

    #[test]
    fn three_forms() {
        assert_eq!(parse("s = \"x\"").unwrap(), Secret::Inline("x".into()));
        assert_eq!(
            parse("s = { env = \"PBX\" }").unwrap(),
            Secret::Env("PBX".into())
        );
        assert_eq!(
            parse("s = { file = \"/a\" }").unwrap(),
            Secret::File("/a".into())
        );
        assert!(parse("s = { env = \"A\", file = \"/b\" }").is_err());
        assert!(parse("s = { vault = \"x\" }").is_err());
    }

    #[test]
    fn never_prints_the_value() {
        let s = Secret::Inline("hunter2".into());
        assert!(!format!("{s:?} {s}").contains("hunter2"));
    }

    #[test]
    fn resolved_values_are_redacted_from_logs() {
        let s = Secret::Inline("AKIAREDACTME123".into());
        assert_eq!(s.resolve().unwrap(), "AKIAREDACTME123");
        assert_eq!(
            redact("Credential=AKIAREDACTME123/20261125"),
            "Credential=** redacted **/20261125"
        );
        assert_eq!(redact("nothing here"), "nothing here");
    }

    #[test]
    fn resolves_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\n").unwrap();
        assert_eq!(Secret::File(p).resolve().unwrap(), "s3cret");
        let err = Secret::Env("PBX321_TEST_SURELY_UNSET".into())
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("PBX321_TEST_SURELY_UNSET"));
    }
}
