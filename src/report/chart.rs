//! The status page's history chart: one source's runs over the last days as inline SVG,
//! drawn on the server. Bars for the sealed size, dots for the duration, a cross for a
//! failed run and a hollow triangle for a run that missed the rule — shapes, not colours
//! alone — with a text summary as the picture's title for screen readers.

use std::fmt::Write;

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::Zone;
use crate::format::bytes;
use crate::history::RunRecord;

const W: f64 = 720.0;
const LEFT: f64 = 8.0;
const RIGHT: f64 = 712.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 118.0;

/// Text safe inside SVG text and attributes.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// One line that says what the chart shows.
pub fn summary(source: &str, runs: &[&RunRecord], days: i64) -> String {
    let failed = runs.iter().filter(|r| r.result == "failed").count();
    let degraded = runs.iter().filter(|r| r.result == "degraded").count();
    let mut s = format!(
        "{source}, last {days} days: {}",
        crate::format::count(runs.len() as u32, "run", "runs")
    );
    if failed > 0 {
        let _ = write!(s, ", {failed} failed");
    }
    if degraded > 0 {
        let _ = write!(s, ", {degraded} missed the rule");
    }
    if let Some(last) = runs.iter().rev().find(|r| r.sealed_bytes.is_some()) {
        let _ = write!(
            s,
            "; the last stored backup is {}",
            bytes(last.sealed_bytes.unwrap_or(0))
        );
        if let Some(secs) = last.seconds {
            let _ = write!(s, ", made in {secs:.1} s");
        }
    }
    s
}

/// The chart of `runs` (of one source) over the `days` before `now`.
pub fn history(
    source: &str,
    runs: &[RunRecord],
    now: DateTime<Utc>,
    days: i64,
    zone: &Zone,
) -> String {
    let start = now - TimeDelta::days(days);
    let span = (now - start).num_seconds().max(1) as f64;
    let x_of = |t: DateTime<Utc>| LEFT + (RIGHT - LEFT) * ((t - start).num_seconds() as f64 / span);
    let runs: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| r.at >= start && r.at <= now)
        .collect();
    let max_size = runs
        .iter()
        .filter_map(|r| r.sealed_bytes)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let max_secs = runs
        .iter()
        .filter_map(|r| r.seconds)
        .fold(0.0_f64, f64::max)
        .max(0.001);
    let title = summary(source, &runs, days);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" role="img" viewBox="0 0 {W} 140" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        esc(&title)
    );
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="#fafafa" stroke="#767676"/>"##,
        RIGHT - LEFT,
        BOTTOM - TOP
    );
    if runs.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="75" text-anchor="middle" font-size="14" fill="#111">no run recorded in the last {days} days</text>"##,
            (LEFT + RIGHT) / 2.0
        );
    }
    let scale = Scale {
        max_size,
        max_secs,
        bar: ((RIGHT - LEFT) / (days.max(1) as f64 * 4.0)).clamp(2.0, 8.0),
    };
    for r in &runs {
        run_marks(&mut svg, r, x_of(r.at), &scale, zone);
    }
    for (i, t) in [start, start + (now - start) / 2, now].iter().enumerate() {
        let anchor = ["start", "middle", "end"][i];
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="134" text-anchor="{anchor}" font-size="12" fill="#111">{}</text>"##,
            x_of(*t),
            esc(&super::page_date(*t, zone))
        );
    }
    let failed = runs.iter().filter(|r| r.result == "failed").count();
    let degraded = runs.iter().filter(|r| r.result == "degraded").count();
    svg.push_str("</svg>");
    svg.push_str(&legend(
        &bytes(max_size as u64),
        runs.iter().any(|r| r.seconds.is_some()).then_some(max_secs),
        failed,
        degraded,
    ));
    svg
}

/// How the bars and dots of one chart are scaled.
struct Scale {
    max_size: f64,
    max_secs: f64,
    bar: f64,
}

/// One run's marks at `x`: its size bar, its duration dot, a cross if it failed, a triangle
/// if it missed the rule, and its tooltip.
fn run_marks(svg: &mut String, r: &RunRecord, x: f64, scale: &Scale, zone: &Zone) {
    let Scale {
        max_size,
        max_secs,
        bar,
    } = *scale;
    let when = super::page_time(r.at, zone);
    let mut tip = format!("{when}: {}", r.result);
    if let Some(b) = r.sealed_bytes {
        let _ = write!(tip, ", {}", bytes(b));
    }
    if let Some(s) = r.seconds {
        let _ = write!(tip, ", {s:.1} s");
    }
    for e in &r.errors {
        let _ = write!(tip, "; {e}");
    }
    let _ = write!(svg, "<g><title>{}</title>", esc(&tip));
    if let Some(b) = r.sealed_bytes {
        let h = ((b as f64 / max_size) * (BOTTOM - TOP - 10.0)).max(1.0);
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{bar:.1}" height="{h:.1}" fill="#1f4e79"/>"##,
            x - bar / 2.0,
            BOTTOM - h
        );
    }
    if let Some(s) = r.seconds {
        let y = BOTTOM - (s / max_secs) * (BOTTOM - TOP - 10.0);
        let _ = write!(
            svg,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="#e07b00" stroke="#111" stroke-width="0.8"/>"##
        );
    }
    match r.result {
        "failed" => {
            let _ = write!(
                svg,
                r##"<path d="M{:.1} 6 l8 8 m0 -8 l-8 8" stroke="#b00020" stroke-width="2.5"/>"##,
                x - 4.0
            );
        }
        "degraded" => {
            let _ = write!(
                svg,
                r##"<path d="M{x:.1} 6 l4.5 8 h-9 z" fill="#fff" stroke="#8a5a00" stroke-width="1.8"/>"##
            );
        }
        _ => {}
    }
    svg.push_str("</g>");
}

/// The chart's legend, as text of the page.
fn legend(tallest: &str, highest: Option<f64>, failed: usize, degraded: usize) -> String {
    // The legend is text of the page, not of the drawing: it stays readable however narrow
    // the screen the drawing is scaled down to (at 375 px it was a blur).
    let icon = |w: u32, shape: &str| {
        format!(r#"<svg width="{w}" height="12" aria-hidden="true">{shape}</svg>"#)
    };
    format!(
        r##"<p class="legend"><span>{} size (tallest {})</span> <span>{} duration (highest {:.1} s)</span> <span>{} failed ({failed})</span> <span>{} missed the rule ({degraded})</span></p>"##,
        icon(
            10,
            r##"<rect x="1" y="1" width="8" height="10" fill="#1f4e79"/>"##
        ),
        esc(tallest),
        icon(
            10,
            r##"<circle cx="5" cy="6" r="3" fill="#e07b00" stroke="#111" stroke-width="0.8"/>"##
        ),
        highest.unwrap_or(0.0),
        icon(
            12,
            r##"<path d="M2 2 l8 8 m0 -8 l-8 8" stroke="#b00020" stroke-width="2.5"/>"##
        ),
        icon(
            12,
            r##"<path d="M6 2 l4.5 8 h-9 z" fill="#fff" stroke="#8a5a00" stroke-width="1.8"/>"##
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(at: &str, result: &'static str, size: Option<u64>, secs: Option<f64>) -> RunRecord {
        RunRecord {
            at: at.parse().unwrap(),
            source: "hq".into(),
            result,
            id: None,
            sealed_bytes: size,
            seconds: secs,
            errors: if result == "failed" {
                vec!["nas: <timed out>".into()]
            } else {
                vec![]
            },
            warnings: vec![],
        }
    }

    #[test]
    fn runs_are_drawn_with_shapes_and_a_text_summary() {
        let now: DateTime<Utc> = "2026-11-25T12:00:00Z".parse().unwrap();
        let runs = vec![
            run("2026-10-01T02:30:00Z", "ok", Some(500), Some(1.0)),
            run("2026-11-20T02:30:00Z", "ok", Some(1000), Some(2.0)),
            run("2026-11-21T02:30:00Z", "degraded", Some(1000), Some(4.0)),
            run("2026-11-22T02:30:00Z", "failed", None, Some(0.5)),
        ];
        let svg = history("hq", &runs, now, 30, &Zone::Utc);
        assert!(svg.starts_with("<svg") && svg.ends_with("</p>"));
        assert!(
            svg.contains("<title>hq, last 30 days: 3 runs, 1 failed, 1 missed the rule; the last stored backup is"),
            "{svg}"
        );
        assert_eq!(
            svg.matches("fill=\"#1f4e79\"").count(),
            2 + 1,
            "two bars and the legend"
        );
        assert!(
            svg.contains("stroke=\"#b00020\""),
            "a cross for the failure"
        );
        assert!(
            svg.contains("nas: &lt;timed out&gt;"),
            "errors escaped: {svg}"
        );
        assert!(svg.contains("failed (1)") && svg.contains("missed the rule (1)"));
        assert!(svg.contains("highest 4.0 s"));
        assert!(!svg.contains("2026-10-01"), "older than 30 days: not drawn");
    }

    #[test]
    fn no_runs_says_so() {
        let now: DateTime<Utc> = "2026-11-25T12:00:00Z".parse().unwrap();
        let svg = history("hq", &[], now, 30, &Zone::Utc);
        assert!(svg.contains("no run recorded in the last 30 days"));
        assert!(svg.contains("hq, last 30 days: 0 runs"));
    }
}
