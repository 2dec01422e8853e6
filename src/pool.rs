//! Threads for the blocking stages of a seal or an unseal: its reading and writing sides,
//! the zip check, the staged copies and part hashers, the early flushes.
//!
//! Each stage runs on a thread of the runtime's blocking pool, which lives as long as the
//! run (a `pbx321 backup`, the daemon) and gives a thread that finished one stage the next:
//! a fleet of 200 backups reuses the same few threads instead of starting a new set for
//! each. The pool starts a thread when none is idle, so stages that wait for each other
//! never wait for a free thread (up to tokio's limit of 512 blocking threads). Outside a
//! runtime (unit tests, tools) each stage gets a thread of its own.

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, sync_channel};

/// A stage running on a pooled thread; [`Joined::join`] waits for its result.
#[must_use = "a stage's result is only known by joining it"]
pub struct Joined<T> {
    rx: Receiver<std::thread::Result<T>>,
}

impl<T> Joined<T> {
    /// Waits for the stage: its value, or `Err` if it panicked.
    pub fn join(self) -> std::thread::Result<T> {
        self.rx
            .recv()
            .unwrap_or_else(|_| Err(Box::new("the stage's thread ended without a result")))
    }
}

/// Runs `f` as a stage named `name` (the name of its own thread outside a runtime).
pub fn spawn<T, F>(name: &str, f: F) -> io::Result<Joined<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = sync_channel(1);
    let stage = move || {
        let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(f)));
    };
    match tokio::runtime::Handle::try_current() {
        // The handle's task is not awaited: the result comes through the channel.
        Ok(runtime) => drop(runtime.spawn_blocking(stage)),
        Err(_) => drop(std::thread::Builder::new().name(name.into()).spawn(stage)?),
    }
    Ok(Joined { rx })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within a runtime the stages run on its blocking pool: a thread that finished one
    /// stage takes the next, so many stages one after another use a few threads. (A stage's
    /// result arrives just before its thread is back in the pool: the next stage starts a
    /// moment later, or on a loaded machine it may find no idle thread and start one.)
    #[test]
    fn stages_in_a_run_reuse_the_pools_threads() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .expect("runtime");
        let threads: std::collections::BTreeSet<_> = rt.block_on(async {
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..50 {
                let id = spawn("t", || std::thread::current().id())
                    .unwrap()
                    .join()
                    .unwrap();
                seen.insert(format!("{id:?}"));
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            seen
        });
        assert!(
            threads.len() <= 10,
            "{} threads for 50 stages",
            threads.len()
        );
    }

    /// Stages that wait for each other each get a thread (none waits for a free one), and
    /// a panic is the stage's result, not the caller's.
    #[test]
    fn waiting_stages_each_get_a_thread_and_a_panic_is_reported() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (tx, rx) = sync_channel::<u32>(0);
            let waiting = spawn("rx", move || rx.recv().unwrap()).unwrap();
            let sending = spawn("tx", move || tx.send(7).unwrap()).unwrap();
            sending.join().unwrap();
            assert_eq!(waiting.join().unwrap(), 7);
            let panicked = spawn("p", || -> u32 { panic!("on purpose") }).unwrap();
            assert!(panicked.join().is_err());
        });
        // And outside a runtime, on threads of their own.
        assert_eq!(spawn("own", || 5).unwrap().join().unwrap(), 5);
    }
}
