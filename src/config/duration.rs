//! Bounds of every duration a config may give. A duration outside them is a mistake (a
//! typo of a unit, a number meant for another key) and is refused with the range, before
//! it can overflow date arithmetic or make a run wait for a year.

use std::time::Duration;

const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// (least, most) for a key, by its name.
pub fn bounds(key: &str) -> (Duration, Duration) {
    let (min, max) = match key {
        "max_age" | "warn_age" => (MINUTE, 3650 * DAY),
        "drill_max_age" | "max_standby_age" => (HOUR, 3650 * DAY),
        "clock_skew" => (0, DAY),
        "settle" => (0, HOUR),
        "settle_timeout" | "timeout" => (1, DAY),
        "connect_timeout" => (1, 10 * MINUTE),
        "io_timeout" => (5, HOUR),
        _ => (0, 3650 * DAY),
    };
    (Duration::from_secs(min), Duration::from_secs(max))
}

/// Why `d` is out of `key`'s bounds, if it is.
pub fn out_of_bounds(key: &str, d: Duration) -> Option<String> {
    let (min, max) = bounds(key);
    (d < min || d > max).then(|| {
        format!(
            "{key} = {} is out of range: give between {} and {}",
            human(d),
            human(min),
            human(max)
        )
    })
}

/// In the largest whole unit, as the config would write it: `3650d`, `26h`, `90s`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        _ if s.is_multiple_of(DAY) => format!("{}d", s / DAY),
        _ if s.is_multiple_of(HOUR) => format!("{}h", s / HOUR),
        _ if s.is_multiple_of(MINUTE) => format!("{}m", s / MINUTE),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(out_of_bounds("max_age", Duration::from_secs(26 * HOUR)).is_none());
        let e = out_of_bounds("max_age", Duration::from_secs(300_000 * 365 * DAY)).unwrap();
        assert!(
            e.contains("out of range") && e.contains("between 1m and 3650d"),
            "{e}"
        );
        assert!(out_of_bounds("settle", Duration::ZERO).is_none());
        assert!(out_of_bounds("timeout", Duration::ZERO).is_some());
    }
}
