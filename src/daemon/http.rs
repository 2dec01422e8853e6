//! The daemon's HTTP side (axum): `/metrics` (Prometheus text), `/healthz` (200 while the
//! scheduler loop is alive), `/api/status` (JSON per source: last run, verdict, next run).
//! Loopback by default; on another address a Bearer `auth_token` is required (the config
//! refuses one without it).

use std::fmt::Write;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Shared;

#[derive(Clone)]
struct App {
    status: Shared,
    token: Option<String>,
}

pub fn router(status: Shared, token: Option<String>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/source/{name}", get(source_page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/api/status", get(api_status))
        .with_state(App { status, token })
}

fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let Some(token) = &app.token else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn denied() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a Bearer token is required\n",
    )
        .into_response()
}

async fn metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return denied();
    }
    let st = super::lock(&app.status);
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
    let alive = super::lock(&app.status).running;
    if alive {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the scheduler loop is not running\n",
        )
            .into_response()
    }
}

async fn api_status(State(app): State<App>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return denied();
    }
    let st = super::lock(&app.status);
    let body = serde_json::json!({
        "sources": st.last,
        "next": st.next,
        "check": st.check_status,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The status page: the last scheduled check, for a person.
async fn page(State(app): State<App>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return denied();
    }
    let st = super::lock(&app.status);
    let html =
        crate::report::page::render(st.check.as_ref(), &st.next, &st.zone, chrono::Utc::now());
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        html,
    )
        .into_response()
}

/// One source: its copies and the commands that restore its newest backup.
async fn source_page(
    State(app): State<App>,
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    if !authorized(&app, &headers) {
        return denied();
    }
    let st = super::lock(&app.status);
    match crate::report::page::render_source(
        st.check.as_ref(),
        st.config.as_ref(),
        &name,
        &st.zone,
        chrono::Utc::now(),
    ) {
        Some(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'",
                ),
            ],
            html,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such source in the last check\n").into_response(),
    }
}
