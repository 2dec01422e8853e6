//! Byte streams between the async edges (targets, PBX downloads, local files) and the
//! blocking middle (seal, unseal, digests, the zip check).
//!
//! Sources and targets both hand out a [`Reader`]; the CPU-bound work on its bytes runs on
//! a blocking thread that reads it through a synchronous bridge ([`blocking`]).

use std::io;

use tokio::io::AsyncRead;

/// A stream of bytes from a source or a target.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// Size of the buffered reads of a bridged stream.
const BUF: usize = 1024 * 1024;

/// A [`Reader`] as a buffered synchronous reader, for a blocking thread.
pub type Input = io::BufReader<tokio_util::io::SyncIoBridge<Reader>>;

/// Runs `f` on a blocking thread with `reader` as a buffered synchronous reader, and
/// returns its result. Must be called from within the runtime.
pub async fn blocking<T, F>(reader: Reader, f: F) -> io::Result<T>
where
    F: FnOnce(Input) -> T + Send + 'static,
    T: Send + 'static,
{
    let bridge = tokio_util::io::SyncIoBridge::new(reader);
    tokio::task::spawn_blocking(move || f(io::BufReader::with_capacity(BUF, bridge)))
        .await
        .map_err(|e| io::Error::other(format!("a blocking task failed: {e}")))
}

/// (length, lowercase hex sha256) of everything `reader` yields.
pub async fn digest(reader: Reader) -> io::Result<(u64, String)> {
    blocking(reader, crate::seal::digest).await?
}

/// (length, sha256) of a local file, read on a blocking thread.
pub async fn digest_file(file: std::fs::File) -> io::Result<(u64, String)> {
    digest(Box::new(tokio::fs::File::from_std(file))).await
}
