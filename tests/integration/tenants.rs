//! Tenants (issue 30): a managed-service provider's customers, each with its own token,
//! see only their own sources on every surface — the page, a source's page, `/api/status`,
//! `/metrics`, the runbook and notifications — and another tenant's source is 404, never
//! 403. The operator's token sees all.

use crate::daemon::{http_request, wait_for};
use crate::helpers::*;

const OPERATOR: &str = "operator-token-4b1f";
const ACME: &str = "acme-token-77c2";
const ZETA: &str = "zeta-token-19ae";

/// `hq` (no tenant), `acme-office` and `acme-depot` (tenant acme by its glob), `zeta-main`
/// (tenant zeta by the source's own key); a daemon on `port` with each tenant's token.
fn fleet(port: u16, hook: &str) -> TestEnv {
    let mut env = TestEnv::new();
    for (name, tenant) in [
        ("acme-office", ""),
        ("acme-depot", ""),
        ("zeta-main", "tenant = \"zeta\"\n"),
    ] {
        let dir = env.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("3CXScheduledBackup.zip"),
            sample_zip(name.len() as u64, 1000),
        )
        .unwrap();
        env.extra_source.push_str(&format!(
            "\n[[source]]\nname = \"{name}\"\ntype = \"folder\"\npath = \"{name}\"\nsettle = \"0s\"\n{tenant}"
        ));
    }
    env.put_backup("3CXScheduledBackup.zip", 3, 1000);
    env.top_level = format!(
        "daemon = {{ listen = \"127.0.0.1:{port}\", auth_token = {{ env = \"PBX321_OP\" }}, allow_actions = true }}\n\
         schedule = {{ check = \"*/2 * * * * *\", plan = \"*/2 * * * * *\" }}\n\
         plan = {{ write_to = \"runbook-{{tenant}}.md\", owner = \"MSP NOC\" }}\n\
         tenant = [ {{ name = \"acme\", sources = [\"acme-*\"], auth_token = {{ env = \"PBX321_ACME\" }} }},\n\
                    {{ name = \"zeta\", auth_token = {{ env = \"PBX321_ZETA\" }} }} ]\n\
         notify = [ {{ type = \"webhook\", url = \"{hook}\", on = [\"success\", \"failure\"], tenant = \"acme\" }} ]\n"
    );
    env.env = vec![
        ("PBX321_OP".into(), OPERATOR.into()),
        ("PBX321_ACME".into(), ACME.into()),
        ("PBX321_ZETA".into(), ZETA.into()),
    ];
    env
}

fn get(port: u16, path: &str, token: &str) -> (u16, String) {
    http_request(
        port,
        "GET",
        path,
        &[format!("Authorization: Bearer {token}")],
        "",
    )
}

#[test]
fn a_tenant_token_sees_only_its_sources_on_every_surface() {
    let hook = crate::notify::Capture::start(200);
    let port = crate::servers::free_port();
    let env = fleet(port, &hook.url("/acme"));
    let config = env.write_config();
    // A backup of every source: the acme notifier hears of acme's alone.
    let out = env.pbx321(&["backup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let heard: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["source"].to_string())
        .collect();
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert!(heard.iter().all(|s| s.contains("acme-")), "{heard:?}");
    for r in hook.requests() {
        assert!(
            !r.body.contains("zeta") && !r.body.contains("\"hq\""),
            "{}",
            r.body
        );
    }

    let mut daemon = std::process::Command::new(assert_cmd::cargo::cargo_bin("pbx321"))
        .args(["--config", config.to_str().unwrap(), "daemon"])
        .current_dir(env.path())
        .envs(env.env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the check on the page", 60, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && get(port, "/", OPERATOR).1.contains("zeta-main")
    });
    wait_for("the runbooks", 60, || {
        env.path().join("runbook-acme.md").exists() && env.path().join("runbook-zeta.md").exists()
    });

    // The operator sees all.
    for path in ["/", "/api/status", "/metrics"] {
        let (status, body) = get(port, path, OPERATOR);
        assert_eq!(status, 200, "{path}");
        for s in ["hq", "acme-office", "acme-depot", "zeta-main"] {
            assert!(body.contains(s), "the operator's {path} lacks {s}");
        }
    }
    // The operator filters the fleet by tenant.
    let (_, acme_only) = get(port, "/?tenant=acme", OPERATOR);
    assert_eq!(
        acme_only.matches("<a href=\"/source/").count(),
        2,
        "{acme_only}"
    );
    assert!(!acme_only.contains("/source/zeta-main") && !acme_only.contains("/source/hq\""));
    assert!(
        acme_only.contains("<option value=\"acme\" selected>"),
        "{acme_only}"
    );
    // acme sees acme's; no other source's name anywhere, on any surface.
    for path in [
        "/",
        "/api/status",
        "/metrics",
        "/source/acme-office",
        "/?status=ok",
        "/?q=main",
    ] {
        let (status, body) = get(port, path, ACME);
        assert_eq!(status, 200, "{path}: {body}");
        let body = body.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or(&body);
        assert!(
            !body.contains("zeta") && !body.contains("hq"),
            "acme's {path} names another tenant's source:\n{body}"
        );
    }
    let (_, page) = get(port, "/", ACME);
    assert!(page.contains("acme-office") && page.contains("acme-depot"));
    let (_, metrics) = get(port, "/metrics", ACME);
    assert!(
        metrics.contains("pbx321_invariant_ok{source=\"acme-office\"}"),
        "{metrics}"
    );
    // Another tenant's source is 404, as one that does not exist; never 403.
    assert_eq!(get(port, "/source/zeta-main", ACME).0, 404);
    assert_eq!(get(port, "/source/no-such", ACME).0, 404);
    assert_eq!(get(port, "/source/zeta-main", ZETA).0, 200);
    let (_, zeta) = get(port, "/api/status", ZETA);
    assert!(
        zeta.contains("zeta-main") && !zeta.contains("acme"),
        "{zeta}"
    );
    // A wrong token is nobody.
    assert_eq!(get(port, "/", "wrong").0, 401);
    // No action on another tenant's source, nor the fleet's check.
    let (_, html) = get(port, "/source/acme-office", ACME);
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the button's CSRF token")
        .to_string();
    let post = |body: &str| {
        http_request(
            port,
            "POST",
            "/actions/backup",
            &[format!("Authorization: Bearer {ACME}")],
            body,
        )
        .0
    };
    assert_eq!(post(&format!("csrf={csrf}&source=zeta-main")), 400);
    assert_eq!(post(&format!("csrf={csrf}&source=acme-depot")), 303);
    assert_eq!(
        http_request(
            port,
            "POST",
            "/actions/check",
            &[format!("Authorization: Bearer {ACME}")],
            &format!("csrf={csrf}")
        )
        .0,
        403
    );
    let _ = daemon.kill();
    let _ = daemon.wait();

    // One runbook per tenant, each of its own sources.
    let acme = std::fs::read_to_string(env.path().join("runbook-acme.md")).unwrap();
    assert!(
        acme.contains("## acme-office") && acme.contains("## acme-depot"),
        "{acme}"
    );
    assert!(!acme.contains("zeta") && !acme.contains("## hq"), "{acme}");
    let zeta = std::fs::read_to_string(env.path().join("runbook-zeta.md")).unwrap();
    assert!(
        zeta.contains("## zeta-main") && !zeta.contains("acme"),
        "{zeta}"
    );
}

#[test]
fn config_check_refuses_a_source_in_two_tenants_and_a_glob_that_matches_nothing() {
    let mut env = TestEnv::new();
    env.top_level = "tenant = [ { name = \"a\", sources = [\"h*\"] }, { name = \"b\", sources = [\"hq\"] }, { name = \"c\", sources = [\"nothing-*\"] } ]\n".into();
    let out = env.pbx321(&["config", "check"]);
    assert_eq!(code(&out), 2);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("source \"hq\" is in two tenants (a, b)"),
        "{said}"
    );
    assert!(
        said.contains("[[tenant]] c: sources \"nothing-*\" matches no source"),
        "{said}"
    );
    // The source's own key decides.
    env.extra_source = String::new();
    env.top_level = "tenant = [ { name = \"a\", sources = [\"h*\"] }, { name = \"b\" } ]\n".into();
    let out = env.pbx321(&["config", "check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
