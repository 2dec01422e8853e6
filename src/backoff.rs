//! One retry policy for everything pbx321 retries — targets, notifiers, the PBX client:
//! exponential backoff with jitter, bounded in tries; and the one source of randomness
//! (the operating system's), so that no two hosts retry or start in step.

use std::time::Duration;

/// How often, and how far apart, a failing call is tried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Total tries, the first included.
    pub attempts: u32,
    /// The pause before the second try; doubled for each later one.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
    /// Up to this fraction of the pause is added at random.
    pub jitter: f64,
}

impl Default for Backoff {
    /// The targets': four tries, 0.5 s doubling to at most 10 s, up to 25 % jitter.
    fn default() -> Self {
        Backoff {
            attempts: 4,
            first: Duration::from_millis(500),
            max: Duration::from_secs(10),
            jitter: 0.25,
        }
    }
}

impl Backoff {
    /// The pause before try `n` (1-based, n ≥ 2), with a random jitter.
    pub fn pause(&self, n: u32) -> Duration {
        self.pause_at(n, random_fraction())
    }

    /// The pause before try `n` with the jitter drawn as `r` in `[0, 1)` (the tests pass
    /// their own).
    pub fn pause_at(&self, n: u32, r: f64) -> Duration {
        let base = self
            .first
            .saturating_mul(2u32.saturating_pow(n.saturating_sub(2)))
            .min(self.max);
        base + base.mul_f64(self.jitter * r.clamp(0.0, 1.0))
    }

    /// Calls `attempt` (with the try's number, from 1) until it succeeds, fails for good
    /// (`retryable` says no), or `attempts` tries are spent, pausing between tries;
    /// `on_retry` hears of each failure that is tried again. The error is the last one,
    /// with the number of tries made.
    pub async fn run<T, E, Fut>(
        &self,
        mut attempt: impl FnMut(u32) -> Fut,
        retryable: impl Fn(&E) -> bool,
        mut on_retry: impl FnMut(u32, &E, Duration),
    ) -> Result<T, (E, u32)>
    where
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut n = 1;
        loop {
            match attempt(n).await {
                Ok(v) => return Ok(v),
                Err(e) if retryable(&e) && n < self.attempts => {
                    n += 1;
                    let pause = self.pause(n);
                    on_retry(n, &e, pause);
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err((e, n)),
            }
        }
    }
}

/// A random fraction in `[0, 1)`, from the operating system.
pub fn random_fraction() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// A random delay in `[0, max)`.
pub fn jitter(max: Duration) -> Duration {
    max.mul_f64(random_fraction())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_max_with_bounded_jitter() {
        let b = Backoff::default();
        assert_eq!(b.pause_at(2, 0.0), Duration::from_millis(500));
        assert_eq!(b.pause_at(3, 0.0), Duration::from_secs(1));
        assert_eq!(b.pause_at(9, 0.0), Duration::from_secs(10));
        assert_eq!(b.pause_at(2, 1.0), Duration::from_millis(625));
        for n in 2..12 {
            let p = b.pause(n);
            assert!(
                p >= b.pause_at(n, 0.0) && p <= b.pause_at(n, 1.0),
                "{n}: {p:?}"
            );
        }
        let j = jitter(Duration::from_millis(400));
        assert!(j < Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn run_retries_what_may_pass_and_stops_at_what_cannot() {
        let b = Backoff::default();
        let mut heard = Vec::new();
        let r: Result<u32, (&str, u32)> = b
            .run(
                |n| async move { if n < 3 { Err("flaky") } else { Ok(n) } },
                |_| true,
                |n, _, _| heard.push(n),
            )
            .await;
        assert_eq!(r, Ok(3));
        assert_eq!(heard, [2, 3]);
        let r: Result<(), (&str, u32)> = b
            .run(|_| async { Err("denied") }, |_| false, |_, _, _| {})
            .await;
        assert_eq!(r, Err(("denied", 1)));
        let r: Result<(), (&str, u32)> = b
            .run(|_| async { Err("down") }, |_| true, |_, _, _| {})
            .await;
        assert_eq!(r, Err(("down", 4)), "gives up after the attempts");
    }
}
