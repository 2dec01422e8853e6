//! Progress bars for a person at a terminal: the pull from the PBX and its seal, each
//! target's upload, a restore, a deep check's read-back — bytes, rate and time left.
//!
//! Drawn on stderr, and only when stderr is a terminal and logs are not JSON: nothing of it
//! reaches cron mail, a pipe or a log collector. Everything else in pbx321 takes a bar without
//! knowing whether it is drawn (a hidden bar counts and draws nothing).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::stream::Reader;

/// Whether bars may be drawn at all in this process (false with JSON logs).
static ALLOWED: AtomicBool = AtomicBool::new(true);

/// Forbids bars for the rest of the process (`--log-format json`).
pub fn forbid() {
    ALLOWED.store(false, Ordering::SeqCst);
}

/// The bars of one operation; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Counts nothing, draws nothing.
    pub fn hidden() -> Progress {
        Progress::default()
    }

    /// Bars on stderr if it is a terminal (and bars are allowed), else hidden.
    pub fn on_terminal() -> Progress {
        if ALLOWED.load(Ordering::SeqCst) && std::io::stderr().is_terminal() {
            Progress {
                multi: Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            }
        } else {
            Progress::hidden()
        }
    }

    pub fn is_shown(&self) -> bool {
        self.multi.is_some()
    }

    /// A bar counting bytes towards `total` (when known), labelled `label`.
    pub fn bytes(&self, label: &str, total: Option<u64>) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template(
                    "{prefix:<28!} [{bar:24}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::no_length().with_style(
                ProgressStyle::with_template("{prefix:<28!} {bytes:>10} {bytes_per_sec:>12}")
                    .expect("a valid template"),
            ),
        };
        let bar = multi.add(bar.with_prefix(label.to_string()));
        // Drawn once at once: a short step (a small target, a fast disk) would otherwise finish
        // inside the rate limit and never be seen.
        bar.force_draw();
        bar
    }

    /// Runs `f` with the bars out of the way (a log line printed while they are drawn).
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.multi {
            Some(m) => m.suspend(f),
            None => f(),
        }
    }
}

/// `reader`, counting what is read on `bar`.
pub fn metered(reader: Reader, bar: &ProgressBar) -> Reader {
    if bar.is_hidden() {
        return reader;
    }
    Box::new(bar.wrap_async_read(reader))
}
