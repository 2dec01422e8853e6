//! The daemon's HTTP side (axum): `/` and `/source/{name}` (the status page), `/metrics`
//! (Prometheus text), `/healthz` (200 while the scheduler loop is alive), `/api/status`
//! (JSON per source: last run, verdict, next run).
//!
//! Loopback by default; on another address `auth_token` is required (the config refuses one
//! without it), sent as `Authorization: Bearer TOKEN` by programs or as the password of
//! HTTP Basic authentication by a browser (any user name).
//!
//! Without `auth_token` (loopback only), a request must name this daemon in its `Host`: the
//! listen address or a loopback name. A web page elsewhere that a browser on this host opens
//! cannot then reach the daemon through a name it controls (DNS rebinding).
//!
//! Read-only unless `[daemon] allow_actions = true`: then `POST /actions/backup` (form field
//! `source`) and `POST /actions/check` queue a run. They need the token as above, and the
//! CSRF token the page embeds in its forms (random per daemon start), so another web site
//! open in the same browser cannot press the buttons; a foreign `Origin` is refused too.

use std::fmt::Write;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::Deserialize;

use super::Shared;
use super::scope::Scope;
use crate::policy::schedule::{Job, JobKind};

#[derive(Clone)]
struct App {
    status: Shared,
    token: Option<String>,
    /// Where the buttons' runs go (the scheduler loop).
    actions: tokio::sync::mpsc::Sender<Job>,
    /// The forms' CSRF token, random per start.
    csrf: String,
    /// The address served: without a token, the only `Host` (with loopback names) answered.
    listen: std::net::SocketAddr,
}

/// The routes. `actions` receives the runs the page's buttons ask for (when
/// `allow_actions` is on in the config in force).
pub fn router(
    status: Shared,
    token: Option<String>,
    actions: tokio::sync::mpsc::Sender<Job>,
    listen: std::net::SocketAddr,
) -> Router {
    let mut b = [0u8; 24];
    let _ = getrandom::fill(&mut b);
    let csrf = b.iter().map(|x| format!("{x:02x}")).collect();
    let app = App {
        status,
        token,
        actions,
        csrf,
        listen,
    };
    Router::new()
        .route("/", get(page))
        .route("/source/{name}", get(source_page))
        .route("/actions/backup", post(action_backup))
        .route("/actions/check", post(action_check))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/api/status", get(api_status))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            host_guard,
        ))
        .with_state(app)
}

/// Without a token, only requests that name this daemon (its listen address, or a loopback
/// name, with its port) are answered.
async fn host_guard(
    State(app): State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if app.token.is_none() {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !host_is_ours(host, app.listen) {
            return (
                StatusCode::MISDIRECTED_REQUEST,
                "this daemon answers only requests to its own address (Host: localhost, 127.0.0.1 or the listen address); set auth_token to serve other names\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

/// Whether a `Host` header names `listen`: its address or a loopback name, with its port
/// (or none).
fn host_is_ours(host: &str, listen: std::net::SocketAddr) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        // `[::1]:8321`, `localhost:8321`; a bare IPv6 address has more colons.
        Some((n, p)) if !n.contains(':') || n.ends_with(']') => (n, Some(p)),
        _ => (host, None),
    };
    if port.is_some_and(|p| p.parse::<u16>().ok() != Some(listen.port())) {
        return false;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let ip = listen.ip();
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback() || a == ip)
}

/// The token presented: as a Bearer token (programs) or as the password of Basic
/// authentication (a browser asks for it).
fn presented(headers: &HeaderMap) -> Option<Vec<u8>> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?;
    if let Some(t) = value.strip_prefix("Bearer ") {
        return Some(t.as_bytes().to_vec());
    }
    let d = base64::engine::general_purpose::STANDARD
        .decode(value.strip_prefix("Basic ")?.trim())
        .ok()?;
    let i = d.iter().position(|c| *c == b':')?;
    Some(d[i + 1..].to_vec())
}

/// Who is asking ([`Scope`]), or nobody allowed: the operator's token, or a tenant's.
fn who(app: &App, headers: &HeaderMap) -> Option<Scope> {
    let given = presented(headers);
    let tenants = super::lock(&app.status)
        .config
        .as_ref()
        .map(|c| c.tenants.clone())
        .unwrap_or_default();
    super::scope::of_token(given.as_deref(), app.token.as_deref(), &tenants)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn denied() -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        "the auth_token is required: as a Bearer token, or as the password in the browser's prompt\n",
    )
        .into_response();
    let h = r.headers_mut();
    h.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    h.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"pbx321\", charset=\"UTF-8\""),
    );
    r
}

/// The Content-Security-Policy of every page: no script, no frame, styles inline, forms
/// only to this origin (docs/status-page.md quotes it).
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The security headers of every page (see [`CSP`]).
fn html(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The page's inputs that need I/O: the run history of the last days, read from the state
/// directory outside the status lock.
fn runs(status: &Shared, now: chrono::DateTime<chrono::Utc>) -> Vec<crate::history::RunRecord> {
    let dir = super::lock(status)
        .config
        .as_ref()
        .map(|c| c.state_dir.clone());
    match dir {
        Some(d) => crate::history::load(
            &crate::state::StateDir::new(&d),
            None,
            now - chrono::TimeDelta::days(crate::report::page::DAYS),
        ),
        None => Vec::new(),
    }
}

async fn metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some(scope) = who(&app, &headers) else {
        return denied();
    };
    let guard = super::lock(&app.status);
    let st = scope.apply(&guard);
    let mut out = st.check_metrics.clone().unwrap_or_default();
    let mut family = |name: &str, help: &str, kind: &str, samples: Vec<(String, f64)>| {
        if samples.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    };
    family(
        "pbx321_runs_total",
        "Scheduled backup runs per source and result (ok, degraded, failed).",
        "counter",
        st.runs_total
            .iter()
            .map(|((s, r), n)| (format!("source=\"{}\",result=\"{r}\"", esc(s)), *n as f64))
            .collect(),
    );
    family(
        "pbx321_run_duration_seconds",
        "Duration of each source's last scheduled backup run.",
        "gauge",
        st.last
            .iter()
            .map(|(s, l)| (format!("source=\"{}\"", esc(s)), l.seconds))
            .collect(),
    );
    family(
        "pbx321_next_run_timestamp_seconds",
        "When each scheduled job runs next.",
        "gauge",
        st.next
            .iter()
            .map(|(j, t)| (format!("job=\"{}\"", esc(j)), t.timestamp() as f64))
            .collect(),
    );
    family(
        "pbx321_skipped_runs_total",
        "Slots skipped because the job's previous run was still going.",
        "counter",
        st.skipped_total
            .iter()
            .map(|(j, n)| (format!("job=\"{}\"", esc(j)), *n as f64))
            .collect(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn healthz(State(app): State<App>) -> Response {
    health(&super::lock(&app.status), chrono::Utc::now()).into_response()
}

/// `/healthz`'s answer at `now`: 503 with why when a batch has run past its bound (stuck) or
/// the scheduler loop is not running, else 200.
fn health(st: &super::Status, now: chrono::DateTime<chrono::Utc>) -> (StatusCode, String) {
    let stuck = st.batch.as_ref().and_then(|(since, jobs)| {
        let running = (now - *since).to_std().ok()?;
        (running > super::JOB_BOUND).then(|| {
            format!(
                "{} running for {}, past its bound of {}: stuck?\n",
                jobs.join(", "),
                crate::format::duration(running),
                crate::format::duration(super::JOB_BOUND)
            )
        })
    });
    match stuck {
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
        None if st.running => (StatusCode::OK, "ok\n".into()),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the scheduler loop is not running\n".into(),
        ),
    }
}

async fn api_status(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some(scope) = who(&app, &headers) else {
        return denied();
    };
    let guard = super::lock(&app.status);
    let st = scope.apply(&guard);
    // Every configured source, with its last run when there was one, and every target.
    let mut sources = serde_json::Map::new();
    if let Some(c) = &st.config {
        for s in &c.sources {
            sources.insert(
                s.name.clone(),
                st.last
                    .get(&s.name)
                    .and_then(|l| serde_json::to_value(l).ok())
                    .unwrap_or(serde_json::Value::Null),
            );
        }
    }
    let targets: Vec<serde_json::Value> = st
        .config
        .iter()
        .flat_map(|c| &c.targets)
        .map(|t| {
            serde_json::json!({
                "target": t.name,
                "medium": t.medium,
                "location": t.location,
                "declared": t.trust_labels,
            })
        })
        .collect();
    let body = serde_json::json!({
        "sources": sources,
        "targets": targets,
        "next": st.next,
        "check": st.check_status,
        "checked_at": st.check.as_ref().map(|c| c.checked_at),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[derive(Deserialize, Default)]
struct PageQuery {
    /// The fleet view's filters.
    status: Option<String>,
    q: Option<String>,
    tenant: Option<String>,
    queued: Option<String>,
    source: Option<String>,
    /// When the run was asked for (seconds since the epoch).
    at: Option<i64>,
}

/// The status page: the last scheduled check, for a person.
async fn page(State(app): State<App>, headers: HeaderMap, Query(q): Query<PageQuery>) -> Response {
    let Some(scope) = who(&app, &headers) else {
        return denied();
    };
    let now = chrono::Utc::now();
    let mut runs = runs(&app.status, now);
    runs.retain(|r| scope.sees(&r.source));
    let guard = super::lock(&app.status);
    let st = scope.apply(&guard);
    let allowed = st.config.as_ref().is_some_and(|c| c.daemon.allow_actions);
    let known = |s: &str| {
        st.config
            .as_ref()
            .is_some_and(|c| c.sources.iter().any(|x| x.name == s))
    };
    // Asked for at `at`: has it run since?
    let asked =
        q.at.and_then(|t| chrono::DateTime::<chrono::Utc>::from_timestamp(t, 0));
    let ran_since = |done: Option<chrono::DateTime<chrono::Utc>>| {
        asked.is_some_and(|a| done.is_some_and(|d| d >= a))
    };
    let flash = match (q.queued.as_deref(), q.source.as_deref()) {
        (Some("check"), _) if ran_since(st.check.as_ref().map(|c| c.checked_at)) => {
            "The check you asked for has run: its result is below.".to_string()
        }
        (Some("check"), _) => {
            "A check is queued: it runs when the running jobs end; this page shows its result then."
                .to_string()
        }
        (Some("backup"), Some(s)) if known(s) && ran_since(st.last.get(s).map(|l| l.at)) => {
            format!(
                "The backup of {s} you asked for has run: {}.",
                st.last.get(s).map(|l| l.result.as_str()).unwrap_or("done")
            )
        }
        (Some("backup"), Some(s)) if known(s) => format!(
            "A backup of {s} is queued: it runs when the running jobs end; the next check shows its copies."
        ),
        _ => String::new(),
    };
    let filter = crate::report::fleet::Filter::parse(q.status.as_deref(), q.q.as_deref())
        .with_tenant(
            q.tenant.as_deref(),
            st.config.as_ref().map_or(&[][..], |c| &c.tenants),
        );
    html(crate::report::page::render(&crate::report::page::View {
        report: st.check.as_ref(),
        config: st.config.as_ref(),
        next: &st.next,
        zone: &st.zone,
        now,
        runs: &runs,
        csrf: allowed.then_some(app.csrf.as_str()),
        flash: &flash,
        filter: &filter,
    }))
}

/// One source: restore commands, copies, chart, runs, backups.
async fn source_page(
    State(app): State<App>,
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let Some(scope) = who(&app, &headers) else {
        return denied();
    };
    let now = chrono::Utc::now();
    let mut runs = runs(&app.status, now);
    runs.retain(|r| scope.sees(&r.source));
    let guard = super::lock(&app.status);
    let st = scope.apply(&guard);
    let allowed = st.config.as_ref().is_some_and(|c| c.daemon.allow_actions);
    let view = crate::report::page::View {
        report: st.check.as_ref(),
        config: st.config.as_ref(),
        next: &st.next,
        zone: &st.zone,
        now,
        runs: &runs,
        csrf: allowed.then_some(app.csrf.as_str()),
        flash: "",
        filter: &crate::report::fleet::Filter::default(),
    };
    match crate::report::page::render_source(&view, &name) {
        Some(page) => html(page),
        None => (StatusCode::NOT_FOUND, "no such source in the last check\n").into_response(),
    }
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    source: Option<String>,
}

/// Why a button press is refused, if it is: actions off, no auth, a bad CSRF token, a
/// foreign origin.
fn refuse_action(
    app: &App,
    headers: &HeaderMap,
    form: &ActionForm,
) -> Result<Scope, Box<Response>> {
    let Some(scope) = who(app, headers) else {
        return Err(Box::new(denied()));
    };
    let allowed = super::lock(&app.status)
        .config
        .as_ref()
        .is_some_and(|c| c.daemon.allow_actions);
    if !allowed {
        return Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                "actions are off: set [daemon] allow_actions = true to allow them\n",
            )
                .into_response(),
        ));
    }
    if !constant_time_eq(form.csrf.as_bytes(), app.csrf.as_bytes()) {
        return Err(Box::new((
            StatusCode::FORBIDDEN,
            "the form's CSRF token is wrong or from before the daemon restarted: reload the page\n",
        )
            .into_response()));
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let same = host.is_some_and(|h| {
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.trim_end_matches('/') == h)
        });
        if !same {
            return Err(Box::new(
                (StatusCode::FORBIDDEN, "a foreign origin\n").into_response(),
            ));
        }
    }
    Ok(scope)
}

fn queued(what: &str, source: Option<&str>) -> Response {
    // When it was asked for, so that the page can say once it has run.
    let at = chrono::Utc::now().timestamp();
    let to = match source {
        Some(s) => format!("../?queued={what}&source={s}&at={at}"),
        None => format!("../?queued={what}&at={at}"),
    };
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

async fn action_backup(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    let scope = match refuse_action(&app, &headers, &form) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let kind = {
        let st = super::lock(&app.status);
        let cfg = st.config.as_ref();
        let src = form.source.as_deref().unwrap_or_default();
        // Another tenant's source is one that does not exist.
        let ours = scope.sees(src)
            && cfg.is_some_and(|c| {
                c.sources.iter().any(|s| s.name == src)
                    && c.daemon.shard.is_none_or(|sh| sh.takes(src))
            });
        if !ours {
            return (
                StatusCode::BAD_REQUEST,
                format!("no source {src:?} in this daemon's config (or shard)\n"),
            )
                .into_response();
        }
        JobKind::Backup(src.to_string())
    };
    enqueue(&app, kind, "backup", form.source.as_deref())
}

async fn action_check(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    match refuse_action(&app, &headers, &form) {
        Ok(s) if s.is_operator() => enqueue(&app, JobKind::Check, "check", None),
        // A check runs over every tenant's sources: the operator's to ask for.
        Ok(_) => (
            StatusCode::FORBIDDEN,
            "a tenant may not run the fleet's check\n",
        )
            .into_response(),
        Err(r) => *r,
    }
}

/// Queues a run asked for on the page; 303 back to the page, or 503 when the queue is full.
fn enqueue(app: &App, kind: JobKind, what: &str, source: Option<&str>) -> Response {
    match super::action_job(kind).map(|j| app.actions.try_send(j).is_ok()) {
        Some(true) => {
            tracing::info!(?source, "{what} now: queued from the status page");
            queued(what, source)
        }
        _ => busy(),
    }
}

fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "60")],
        "too many runs are queued already: try again in a minute\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    /// Issue 26: `/healthz` reports a batch stuck past its bound (503, naming the jobs), and
    /// is 200 while the loop runs and batches end in time.
    #[test]
    fn healthz_reports_a_job_stuck_past_its_bound() {
        use axum::http::StatusCode;
        let now = chrono::Utc::now();
        let mut st = super::super::Status {
            running: true,
            ..Default::default()
        };
        assert_eq!(super::health(&st, now).0, StatusCode::OK);
        let within = now - chrono::TimeDelta::from_std(super::super::JOB_BOUND).unwrap()
            + chrono::TimeDelta::minutes(1);
        st.batch = Some((within, vec!["backup hq".into()]));
        assert_eq!(
            super::health(&st, now).0,
            StatusCode::OK,
            "within the bound"
        );
        let past = within - chrono::TimeDelta::minutes(2);
        st.batch = Some((past, vec!["backup hq".into()]));
        let (code, why) = super::health(&st, now);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            why.contains("backup hq running for") && why.contains("stuck?"),
            "{why}"
        );
        st.batch = None;
        st.running = false;
        assert_eq!(super::health(&st, now).0, StatusCode::SERVICE_UNAVAILABLE);
    }

    /// docs/status-page.md quotes the headers every page is sent with, as they are.
    #[test]
    fn the_docs_quote_the_real_security_headers() {
        let doc = include_str!("../../docs/status-page.md");
        let flat = doc.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&format!("(`{}`)", super::CSP)), "{flat}");
        let page = super::html(String::new());
        let h = page.headers();
        assert_eq!(h["content-security-policy"], super::CSP);
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
        ] {
            assert_eq!(h[name], value);
            let quoted = format!("{name}: {value}`");
            assert!(flat.to_lowercase().contains(&quoted), "{quoted}");
        }
    }
}
