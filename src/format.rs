//! How pbx321 writes sizes, durations and counts for people: one wording everywhere it
//! prints one (reports, reasons, logs, the status page). Pure; below everything that speaks.

/// A duration: `45s`, `14m`, `3h 5m`, `2d 1h`.
pub fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// An age in seconds, worded as [`duration`].
pub fn age(seconds: u64) -> String {
    duration(std::time::Duration::from_secs(seconds))
}

/// A size: `512 B`, `1.5 KiB`, `3.0 MiB` (binary units, one decimal).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `1 copy`, `3 copies`: a count and its noun.
pub fn count(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Serializes anything as its words (`serialize_with`): a typed reason is worded by its
/// `Display`, which `report::reasons` gives it.
pub fn as_text<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_durations_and_counts() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::age(59), "59s");
        assert_eq!(super::age(14 * 60 + 5), "14m");
        assert_eq!(super::age(3 * 3600 + 300), "3h 5m");
        assert_eq!(super::age(2 * 86_400 + 3600), "2d 1h");
        assert_eq!(super::count(1, "copy", "copies"), "1 copy");
        assert_eq!(super::count(3, "copy", "copies"), "3 copies");
    }
}
