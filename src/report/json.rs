//! JSON output: the reports serialized as they are, pretty-printed, one document.

use serde::Serialize;

pub fn render<T: Serialize>(report: &T) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("reports always serialize");
    s.push('\n');
    s
}
