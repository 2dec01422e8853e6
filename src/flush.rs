//! Early writeback for large files that end with an fsync (the spool, staged copies, a
//! restored zip): a side thread calls `fdatasync` every [`STEP`] bytes written, so the disk
//! writes while the data is still being made, and the final fsync has little left to do.
//! The writer never waits for it: a flush still running when the next is due is skipped.

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use crate::pool::Joined;

/// Bytes written between two early flushes.
pub const STEP: u64 = 32 * 1024 * 1024;

/// A file whose written data is flushed to disk in the background as it grows.
pub struct EarlyFlush {
    file: File,
    since: u64,
    tx: Option<SyncSender<()>>,
    flusher: Option<Joined<()>>,
}

impl EarlyFlush {
    pub fn new(file: File) -> EarlyFlush {
        let (tx, rx) = sync_channel::<()>(1);
        let flusher = file.try_clone().ok().and_then(|f| {
            crate::pool::spawn("pbx321-flush", move || {
                for () in rx {
                    // Best effort: the final fsync reports any error.
                    let _ = f.sync_data();
                }
            })
            .ok()
        });
        EarlyFlush {
            file,
            since: 0,
            tx: flusher.as_ref().map(|_| tx),
            flusher,
        }
    }

    /// Stops the side thread and fsyncs the file (data and metadata).
    pub fn sync_all(&mut self) -> io::Result<()> {
        self.stop();
        self.file.sync_all()
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(h) = self.flusher.take() {
            let _ = h.join();
        }
    }
}

impl Drop for EarlyFlush {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Write for EarlyFlush {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since += n as u64;
        if self.since >= STEP {
            self.since = 0;
            if let Some(tx) = &self.tx
                && let Err(TrySendError::Disconnected(_)) = tx.try_send(())
            {
                self.tx = None;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_written_is_there_after_the_final_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut w = EarlyFlush::new(File::create(&path).unwrap());
        let chunk = vec![3u8; 1 << 20];
        for _ in 0..80 {
            w.write_all(&chunk).unwrap();
        }
        w.sync_all().unwrap();
        drop(w);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 80 << 20);
    }
}
