//! Endpoints written in the config: host and port of `ssh://` and `http(s)://` addresses,
//! and whether a host is this machine by its very name (no lookup: config is pure).

/// (host, port) of an http(s) URL.
pub fn http_host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default = if scheme == "https" { 443 } else { 80 };
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit('@').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6.split_once(']')?;
        let port = p
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(default);
        return Some((h.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default)),
    }
}

/// (host, port) of `ssh://[user@]host[:port]` or `[user@]host`.
pub fn ssh_host_port(endpoint: &str) -> Option<(String, u16)> {
    let rest = endpoint.strip_prefix("ssh://").unwrap_or(endpoint);
    let rest = rest.split('/').next()?;
    let hostport = rest.rsplit('@').next()?;
    if let Some(v6) = hostport.strip_prefix('[') {
        let (h, p) = v6.split_once(']')?;
        let port = p
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(22);
        return Some((h.to_string(), port));
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None if !hostport.is_empty() => Some((hostport.to_string(), 22)),
        None => None,
    }
}

/// Whether `host` names this machine without a lookup: `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_endpoints() {
        assert_eq!(
            http_host_port("https://s3.example.net"),
            Some(("s3.example.net".into(), 443))
        );
        assert_eq!(
            http_host_port("http://127.0.0.1:9000/"),
            Some(("127.0.0.1".into(), 9000))
        );
        assert_eq!(
            http_host_port("http://[::1]:9000"),
            Some(("::1".into(), 9000))
        );
        assert_eq!(http_host_port("nonsense"), None);
    }

    #[test]
    fn ssh_endpoints() {
        assert_eq!(
            ssh_host_port("ssh://backup@nas.lan:2222"),
            Some(("nas.lan".into(), 2222))
        );
        assert_eq!(
            ssh_host_port("backup@nas.lan"),
            Some(("nas.lan".into(), 22))
        );
    }

    #[test]
    fn loopback_by_name() {
        for h in ["localhost", "127.0.0.1", "127.8.0.1", "::1", "[::1]"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["nas.lan", "10.0.0.1", "localhost.example.com", "0.0.0.0"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
