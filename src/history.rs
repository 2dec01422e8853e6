//! The run history: one JSON line per source per backup run in `state_dir/runs.jsonl`
//! (written by `backup`, from cron or the daemon), read back for the status page's chart
//! and its list of recent runs.
//!
//! The file is bounded: when it grows past [`COMPACT_AT`] bytes, lines older than
//! [`KEEP_DAYS`] days are dropped, and then the oldest lines beyond [`KEEP_BYTES`] (a fleet
//! backing up hourly writes more than that in 40 days; without the cap every run would
//! rewrite the whole file) — rewritten atomically, under the run lock that `backup` holds.
//! A line that does not parse is skipped, never fatal.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::state::StateDir;

pub const FILE: &str = "runs.jsonl";
/// Past this size the file is compacted.
pub const COMPACT_AT: u64 = 8 * 1024 * 1024;
/// What compaction keeps: lines at most this many days old …
pub const KEEP_DAYS: i64 = 40;
/// … and at most this many bytes of them, the newest.
pub const KEEP_BYTES: usize = (COMPACT_AT / 2) as usize;
/// The largest file read back whole; a larger one (compaction failing) is read from its
/// tail.
const READ_LIMIT: u64 = 64 * 1024 * 1024;

/// One source's run, as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub at: DateTime<Utc>,
    pub source: String,
    /// `ok` (the rule met), `degraded` (stored, the rule not met) or `failed`.
    pub result: &'static str,
    pub id: Option<String>,
    pub sealed_bytes: Option<u64>,
    /// How long the source's run took (absent in lines from before version 0.6).
    pub seconds: Option<f64>,
    /// The run's error, or the targets' errors ("nas: timed out").
    pub errors: Vec<String>,
    /// What the source's search saw besides its backup (a file dated in the future).
    pub warnings: Vec<String>,
}

/// Parses the history's lines, skipping any that do not parse.
pub fn parse(text: &str) -> Vec<RunRecord> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<RunRecord> {
    let v: Value = serde_json::from_str(line).ok()?;
    let at = v.get("at")?.as_str()?.parse::<DateTime<Utc>>().ok()?;
    let source = v.get("source")?.as_str()?.to_string();
    let mut errors: Vec<String> = Vec::new();
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        errors.push(e.to_string());
    }
    for t in v
        .get("targets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(name), Some(e)) = (
            t.get("target").and_then(Value::as_str),
            t.get("error").and_then(Value::as_str),
        ) {
            errors.push(format!("{name}: {e}"));
        }
    }
    let verdict = v.get("verdict");
    let ok = verdict
        .and_then(|v| v.get("ok"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let copies = verdict
        .and_then(|v| v.get("copies"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let result = match v.get("result").and_then(Value::as_str) {
        Some("stored") if ok => "ok",
        Some("stored") if copies > 0 => "degraded",
        _ => "failed",
    };
    Some(RunRecord {
        at,
        source,
        result,
        id: v.get("id").and_then(Value::as_str).map(str::to_string),
        sealed_bytes: v.get("sealed_bytes").and_then(Value::as_u64),
        seconds: v.get("seconds").and_then(Value::as_f64),
        errors,
        warnings: v
            .get("warnings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
    })
}

/// The runs of `source` (every source: `None`) since `since`, oldest first. A history that
/// cannot be read is empty (logged; quietly for a user who may not read it, such as a
/// monitoring user outside `file_group`).
pub fn load(state: &StateDir, source: Option<&str>, since: DateTime<Utc>) -> Vec<RunRecord> {
    let text = match state.read_tail(FILE, READ_LIMIT) {
        Ok(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        Ok(None) => return Vec::new(),
        Err(e) if e.is_denied() => {
            tracing::debug!("run history not read: {e}");
            return Vec::new();
        }
        Err(e) => {
            tracing::warn!("run history not read: {e}");
            return Vec::new();
        }
    };
    let mut runs: Vec<RunRecord> = parse(&text)
        .into_iter()
        .filter(|r| r.at >= since && source.is_none_or(|s| r.source == s))
        .collect();
    runs.sort_by_key(|r| r.at);
    runs
}

/// The lines to keep when compacting at `now`: those younger than [`KEEP_DAYS`] (and any
/// whose time cannot be read, so nothing unknown is dropped), the newest [`KEEP_BYTES`].
pub fn keep(text: &str, now: DateTime<Utc>) -> String {
    let mut out = keep_recent(text, now);
    if out.len() > KEEP_BYTES {
        let cut = out.len() - KEEP_BYTES;
        let start = out[cut..].find('\n').map_or(out.len(), |i| cut + i + 1);
        out.drain(..start);
    }
    out
}

fn keep_recent(text: &str, now: DateTime<Utc>) -> String {
    let cutoff = now - TimeDelta::days(KEEP_DAYS);
    let mut out = String::with_capacity(text.len() / 2);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let old = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v.get("at")?.as_str()?.parse::<DateTime<Utc>>().ok())
            .is_some_and(|at| at < cutoff);
        if !old {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Compacts the file when it is larger than [`COMPACT_AT`]. Call under the run lock.
pub fn compact(state: &StateDir, now: DateTime<Utc>) {
    let big = std::fs::metadata(state.path(FILE)).is_ok_and(|m| m.len() > COMPACT_AT);
    if !big {
        return;
    }
    let text = match state.read_tail(FILE, READ_LIMIT) {
        Ok(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        _ => return,
    };
    if let Err(e) = state.write(FILE, keep(&text, now).as_bytes()) {
        tracing::warn!("run history not compacted: {e}");
    }
}

/// Copies removed per target over all prune runs, for `pbx321_prune_removed_total`: added
/// to what the state directory remembers. Best effort.
pub fn count_pruned(state: &StateDir, now_removed: &std::collections::BTreeMap<String, u64>) {
    if now_removed.values().all(|n| *n == 0) {
        return;
    }
    let mut totals = pruned_totals(state);
    for (t, n) in now_removed {
        *totals.entry(t.clone()).or_default() += n;
    }
    state.write_json(PRUNED_FILE, &totals, "prune totals");
}

const PRUNED_FILE: &str = "pruned.json";

/// Copies removed per target over all prune runs, as remembered in the state directory.
pub fn pruned_totals(state: &StateDir) -> std::collections::BTreeMap<String, u64> {
    state.read_json(PRUNED_FILE)
}

/// Appends one line per source run to `runs.jsonl` in the state directory. Best effort:
/// history is a cache, never a reason to fail a backup.
pub fn record<R: serde::Serialize>(state: &StateDir, run: &R, at: DateTime<Utc>, seconds: f64) {
    #[derive(serde::Serialize)]
    struct Line<'a, R> {
        at: DateTime<Utc>,
        #[serde(flatten)]
        run: &'a R,
        seconds: f64,
    }
    let seconds = (seconds * 1000.0).round() / 1000.0;
    let Ok(mut line) = serde_json::to_vec(&Line { at, run, seconds }) else {
        return;
    };
    line.push(b'\n');
    if let Err(e) = state.append(FILE, &line) {
        tracing::warn!("run history not recorded: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_runs_with_their_result_and_errors() {
        let text = concat!(
            r#"{"at":"2026-11-20T02:30:00Z","source":"hq","result":"stored","id":"hq-1","sealed_bytes":1000,"seconds":2.5,"verdict":{"ok":true,"copies":3},"targets":[]}"#,
            "\n",
            r#"{"at":"2026-11-21T02:30:00Z","source":"hq","result":"stored","id":"hq-2","sealed_bytes":1000,"verdict":{"ok":false,"copies":2},"targets":[{"target":"nas","outcome":"failed","error":"timed out"}]}"#,
            "\n",
            "not json\n",
            r#"{"at":"2026-11-22T02:30:00Z","source":"hq","result":"failed","error":"3CX said 401"}"#,
            "\n"
        );
        let runs = parse(text);
        assert_eq!(runs.len(), 3, "the bad line is skipped");
        assert_eq!(runs[0].result, "ok");
        assert_eq!(runs[0].seconds, Some(2.5));
        assert_eq!(runs[1].result, "degraded");
        assert_eq!(runs[1].errors, vec!["nas: timed out".to_string()]);
        assert_eq!(runs[1].seconds, None);
        assert_eq!(runs[2].result, "failed");
        assert_eq!(runs[2].errors, vec!["3CX said 401".to_string()]);
    }

    #[test]
    fn compaction_keeps_forty_days_and_what_it_cannot_date() {
        let now: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().unwrap();
        let text = concat!(
            r#"{"at":"2026-09-01T00:00:00Z","source":"hq","result":"failed"}"#,
            "\n",
            r#"{"at":"2026-11-01T00:00:00Z","source":"hq","result":"failed"}"#,
            "\n",
            "garbage\n"
        );
        let kept = keep(text, now);
        assert!(!kept.contains("2026-09-01"));
        assert!(kept.contains("2026-11-01"));
        assert!(kept.contains("garbage"));
    }

    #[test]
    fn compaction_keeps_the_newest_lines_within_the_byte_cap() {
        let now: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().unwrap();
        let line = |i: usize| {
            format!(
                "{{\"at\":\"2026-11-20T00:00:00Z\",\"source\":\"hq\",\"result\":\"failed\",\"n\":{i:07}}}\n"
            )
        };
        let text: String = (0..(2 * KEEP_BYTES / line(0).len())).map(line).collect();
        let kept = keep(&text, now);
        assert!(kept.len() <= KEEP_BYTES && kept.len() > KEEP_BYTES - line(0).len());
        assert!(kept.starts_with("{\"at\""), "whole lines only");
        assert!(
            kept.ends_with(&line(2 * KEEP_BYTES / line(0).len() - 1)),
            "the newest kept"
        );
        assert!(!kept.contains(&line(0)), "the oldest dropped");
    }

    #[test]
    fn a_file_past_the_limit_is_compacted_and_a_small_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(&dir.path().join("state"));
        let now: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().unwrap();
        let old = format!(
            "{{\"at\":\"2026-01-01T00:00:00Z\",\"source\":\"hq\",\"result\":\"failed\",\"error\":\"{}\"}}\n",
            "x".repeat(1000)
        );
        state.append(FILE, old.as_bytes()).unwrap();
        compact(&state, now);
        assert_eq!(
            load(&state, None, now - TimeDelta::days(400)).len(),
            1,
            "small: kept"
        );
        for _ in 0..(COMPACT_AT as usize / old.len() + 1) {
            state.append(FILE, old.as_bytes()).unwrap();
        }
        state
            .append(
                FILE,
                b"{\"at\":\"2026-11-24T00:00:00Z\",\"source\":\"hq\",\"result\":\"failed\"}\n",
            )
            .unwrap();
        compact(&state, now);
        let runs = load(&state, None, now - TimeDelta::days(400));
        assert_eq!(runs.len(), 1, "only the recent line is left");
        assert!(std::fs::metadata(state.path(FILE)).unwrap().len() < 1000);
        assert_eq!(
            load(&state, Some("branch"), now - TimeDelta::days(400)),
            vec![]
        );
    }
}
