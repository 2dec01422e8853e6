//! What the OpenDAL-backed targets (WebDAV) share: listing files, OpenDAL errors in a line
//! for people, and OpenDAL's times.

use opendal::options::ListOptions;
use opendal::{ErrorKind, Operator};

use super::ObjectMeta;

/// Every file below `dir` of an operator, recursively; a missing directory is empty. OpenDAL's
/// recursive listing includes directory entries: only files are kept.
pub(super) async fn list_files(op: &Operator, dir: &str) -> opendal::Result<Vec<ObjectMeta>> {
    let entries = match op
        .list_options(
            dir,
            ListOptions {
                recursive: true,
                ..Default::default()
            },
        )
        .await
    {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(entries
        .into_iter()
        .filter(|e| e.metadata().mode().is_file())
        .map(|e| {
            ObjectMeta::file(
                e.path().trim_start_matches('/'),
                e.metadata().content_length(),
                e.metadata().last_modified().map(time_of),
            )
        })
        .collect())
}

/// An OpenDAL error in a line for people: its message and the chain of causes beneath it
/// (each said once), without OpenDAL's context dump.
pub(super) fn summary(e: &opendal::Error) -> String {
    let mut parts = vec![e.message().to_string()];
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    parts.join(": ")
}

/// An OpenDAL modification time.
pub(super) fn time_of(t: ::opendal::raw::Timestamp) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::from(t))
}
