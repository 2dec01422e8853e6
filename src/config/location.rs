//! A target written as a location on the command line (`--from`), for a machine with no
//! config: after a disaster, one surviving disk, NAS or bucket and the age key are enough.
//!
//! | location | target |
//! | --- | --- |
//! | `/mnt/usb/pbx321`, `./copies`, `file:///mnt/usb/pbx321` | `fs` |
//! | `sftp://user@host[:port]/path` | `sftp` (key `--ssh-key`, host key `--known-hosts`, strict) |
//! | `webdav+https://[user@]host[:port]/path` (`webdav+http://` on loopback only) | `webdav` (password from `PBX321_WEBDAV_PASSWORD`) |
//! | `s3://bucket[/prefix][?region=…&endpoint=…&path_style=true]` | `s3` (credentials: the usual AWS variables and profiles) |
//!
//! Pure: nothing is resolved or touched here.

use std::path::PathBuf;
use std::time::Duration;

use super::{
    FsTarget, Location, Medium, S3Target, Secret, SftpTarget, TargetConfig, TargetKind,
    WebdavTarget,
};

/// The environment variable a WebDAV location's password is read from.
pub const WEBDAV_PASSWORD_VAR: &str = "PBX321_WEBDAV_PASSWORD";

/// What a location cannot say itself.
#[derive(Debug, Clone, Default)]
pub struct LocationOptions {
    /// The private key for `sftp://`.
    pub ssh_key: Option<PathBuf>,
    /// The known_hosts file holding the SFTP server's key (default: the user's own).
    pub known_hosts: Option<PathBuf>,
}

/// Whether `s` is written as a location rather than a target's name.
pub fn is_location(s: &str) -> bool {
    s.contains("://") || s.starts_with('/') || s.starts_with("./") || s.starts_with("../")
}

/// The target `s` names, called `name` in reports.
pub fn parse_location(
    s: &str,
    name: &str,
    opts: &LocationOptions,
) -> Result<TargetConfig, super::Invalid> {
    let target = |medium, kind: TargetKind| TargetConfig {
        name: name.to_string(),
        medium,
        location: Location::Onsite,
        trust_labels: false,
        retention: None,
        io_timeout: match kind {
            TargetKind::Fs(_) => None,
            _ => Some(super::target::DEFAULT_IO_TIMEOUT),
        },
        kind,
    };
    if let Some(path) = s.strip_prefix("file://") {
        return fs(path).map(|k| target(Medium::Disk, k));
    }
    if !s.contains("://") {
        return fs(s).map(|k| target(Medium::Disk, k));
    }
    let (scheme, rest) = s.split_once("://").unwrap_or_default();
    // `s3://bucket?region=…`: the query is not part of the host.
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{p}")),
        None => (rest, String::from("/")),
    };
    if authority.is_empty() {
        return Err(invalid!("{s:?} names no host"));
    }
    match scheme {
        "sftp" => {
            if !authority.contains('@') {
                return Err(invalid!(
                    "{s:?}: write the user, sftp://user@host[:port]/path"
                ));
            }
            let sftp = SftpTarget {
                endpoint: format!("ssh://{authority}"),
                path,
                key: opts.ssh_key.clone(),
                known_hosts: opts.known_hosts.clone(),
                connect_timeout: Duration::from_secs(10),
            };
            if super::ssh_host_port(&sftp.endpoint).is_none() {
                return Err(invalid!("{s:?} is not sftp://user@host[:port]/path"));
            }
            Ok(target(Medium::Nas, TargetKind::Sftp(sftp)))
        }
        "webdav+https" | "webdav+http" => {
            let (user, host) = match authority.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, authority),
            };
            if user.is_some_and(|u| u.contains(':')) {
                return Err(invalid!(
                    "{s:?}: put no password in the location; give it in {WEBDAV_PASSWORD_VAR}"
                ));
            }
            let http = scheme.trim_start_matches("webdav+");
            let endpoint = format!("{http}://{host}");
            if http == "http"
                && !super::http_host_port(&endpoint)
                    .is_some_and(|(h, _)| super::is_loopback_host(&h))
            {
                return Err(invalid!(
                    "{s:?}: webdav+http:// only to this machine; use webdav+https:// for another host"
                ));
            }
            Ok(target(
                Medium::Nas,
                TargetKind::Webdav(WebdavTarget {
                    endpoint,
                    path,
                    username: user.map(str::to_string),
                    password: user.map(|_| Secret::Env(WEBDAV_PASSWORD_VAR.into())),
                    connect_timeout: Duration::from_secs(10),
                    allow_insecure_http: false,
                }),
            ))
        }
        "s3" => s3(s, authority, &path, query.unwrap_or_default())
            .map(|k| target(Medium::ObjectStorage, k)),
        other => Err(invalid!(
            "{s:?}: unknown scheme {other:?}; use a directory, file://, sftp://, webdav+https:// or s3://"
        )),
    }
}

fn fs(path: &str) -> Result<TargetKind, super::Invalid> {
    if path.is_empty() {
        return Err("an empty path".into());
    }
    Ok(TargetKind::Fs(FsTarget {
        path: PathBuf::from(path),
        require_mount: false,
    }))
}

fn s3(s: &str, bucket: &str, path: &str, query: &str) -> Result<TargetKind, super::Invalid> {
    let mut t = S3Target {
        bucket: bucket.to_string(),
        prefix: path.trim_matches('/').to_string(),
        region: None,
        endpoint: None,
        path_style: false,
        access_key_id: None,
        secret_access_key: None,
        storage_class: None,
        object_lock: None,
        part_size_mib: 16,
        concurrency: 4,
        allow_insecure_http: false,
        connect_timeout: std::time::Duration::from_secs(10),
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned();
        match k {
            "region" => t.region = Some(v),
            "endpoint" => t.endpoint = Some(v),
            "path_style" => t.path_style = v != "false",
            other => {
                return Err(invalid!(
                    "{s:?}: unknown parameter {other:?}; s3:// takes region, endpoint and path_style"
                ));
            }
        }
    }
    if let Some(e) = &t.endpoint
        && e.starts_with("http://")
        && !super::http_host_port(e).is_some_and(|(h, _)| super::is_loopback_host(&h))
    {
        return Err(invalid!(
            "{s:?}: an http:// endpoint only on this machine; use https://"
        ));
    }
    if let Some(e) = &t.endpoint
        && super::is_loopback_host(&super::http_host_port(e).map(|(h, _)| h).unwrap_or_default())
    {
        // A store on this machine (a test server, a tunnel) is reached by path.
        t.path_style = true;
    }
    t.check()?;
    Ok(TargetKind::S3(t))
}

/// The `--from` location of a configured target: what to type on a bare machine to reach
/// it without the config (the inverse of [`parse`]; secrets never appear).
pub fn location_of(kind: &TargetKind) -> String {
    match kind {
        TargetKind::Fs(f) => f.path.display().to_string(),
        TargetKind::Sftp(s) => {
            let authority = s.endpoint.trim_start_matches("ssh://");
            format!("sftp://{authority}/{}", s.path.trim_start_matches('/'))
        }
        TargetKind::Webdav(w) => {
            let (scheme, host) = w
                .endpoint
                .split_once("://")
                .unwrap_or(("https", &w.endpoint));
            let user = w
                .username
                .as_ref()
                .map(|u| format!("{u}@"))
                .unwrap_or_default();
            format!(
                "webdav+{scheme}://{user}{host}/{}",
                w.path.trim_start_matches('/')
            )
        }
        TargetKind::S3(s) => {
            let mut q = Vec::new();
            if let Some(r) = &s.region {
                q.push(format!("region={r}"));
            }
            if let Some(e) = &s.endpoint {
                q.push(format!("endpoint={e}"));
            }
            if s.path_style {
                q.push("path_style=true".into());
            }
            let prefix = s.prefix.trim_end_matches('/');
            format!(
                "s3://{}{}{}",
                s.bucket,
                if prefix.is_empty() {
                    String::new()
                } else {
                    format!("/{prefix}")
                },
                if q.is_empty() {
                    String::new()
                } else {
                    format!("?{}", q.join("&"))
                }
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The location's target, or its error's words.
    fn parse(s: &str) -> Result<TargetConfig, String> {
        parse_location(
            s,
            "from",
            &LocationOptions {
                ssh_key: Some("/root/.ssh/id_ed25519".into()),
                known_hosts: None,
            },
        )
        .map_err(|e| e.0)
    }

    #[test]
    fn locations() {
        let TargetKind::Fs(f) = parse("/mnt/usb/pbx321").unwrap().kind else {
            panic!()
        };
        assert_eq!(f.path, PathBuf::from("/mnt/usb/pbx321"));
        let TargetKind::Fs(f) = parse("file:///mnt/usb").unwrap().kind else {
            panic!()
        };
        assert_eq!(f.path, PathBuf::from("/mnt/usb"));

        let TargetKind::Sftp(s) = parse("sftp://backup@nas.lan:2222/volume1/pbx321")
            .unwrap()
            .kind
        else {
            panic!()
        };
        assert_eq!(s.endpoint, "ssh://backup@nas.lan:2222");
        assert_eq!(s.path, "/volume1/pbx321");
        assert_eq!(s.key, Some("/root/.ssh/id_ed25519".into()));
        assert!(parse("sftp://nas.lan/x").unwrap_err().contains("user"));

        let TargetKind::Webdav(w) = parse("webdav+https://backup@nas.lan:5006/pbx321")
            .unwrap()
            .kind
        else {
            panic!()
        };
        assert_eq!(w.endpoint, "https://nas.lan:5006");
        assert_eq!(w.path, "/pbx321");
        assert_eq!(w.password, Some(Secret::Env(WEBDAV_PASSWORD_VAR.into())));
        assert!(
            parse("webdav+http://nas.lan/x").is_err(),
            "clear text to another host"
        );
        assert!(parse("webdav+http://127.0.0.1:8080/x").is_ok());
        assert!(
            parse("webdav+https://u:pw@nas/x")
                .unwrap_err()
                .contains("no password")
        );

        let TargetKind::S3(s) =
            parse("s3://acme-pbx/pbx321?region=eu-central-1&endpoint=http://127.0.0.1:9000")
                .unwrap()
                .kind
        else {
            panic!()
        };
        assert_eq!(s.bucket, "acme-pbx");
        assert_eq!(s.prefix, "pbx321/");
        assert_eq!(s.region.as_deref(), Some("eu-central-1"));
        assert!(s.path_style);
        assert!(parse("s3://b?color=red").is_err());
        assert!(parse("ftp://x/y").unwrap_err().contains("unknown scheme"));
        assert!(is_location("./x") && is_location("s3://b") && !is_location("usb"));
    }

    #[test]
    fn a_location_written_back_parses_to_the_same_target() {
        for loc in [
            "/mnt/usb/pbx321",
            "sftp://backup@nas.lan:22/volume1/pbx321",
            "webdav+https://backup@nas.lan:5006/pbx321",
            "s3://acme-pbx-backups/pbx321?region=eu-central-1",
            "s3://b?region=eu-west-1&endpoint=http://127.0.0.1:9000&path_style=true",
        ] {
            let t = parse(loc).unwrap();
            let back = location_of(&t.kind);
            let again = parse(&back).unwrap();
            assert_eq!(location_of(&again.kind), back, "{loc} -> {back}");
            assert_eq!(back, loc, "{loc}");
        }
    }
}
