//! The manifests and signatures already read from stores that tag their content, so that a
//! check every 15 minutes does not GET (and pay for) what it read before.
//!
//! An entry is used only when the listing gives the object the very tag it had when it
//! was read (S3's ETag of an object written in one request: the MD5 of its bytes, made by
//! the store). Anything else — no tag, another tag, a store that gives none (local disk,
//! SFTP, WebDAV) — is read again. What is used is the bytes, never a verdict: every
//! manifest and signature is judged again each time, against today's trust and clock.
//!
//! The cache holds only what the listings still show: an entry whose object a listing no
//! longer has (below the prefixes that listing covered) is dropped. Pure: the state
//! directory's file is read and written by [`crate::ops::catalog`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The file in the state directory.
pub const FILE: &str = "read-cache.json";
/// Larger objects are not kept (a manifest is about a kilobyte, a signature less).
pub const ENTRY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadCache {
    /// target → path → what was read.
    #[serde(default)]
    targets: BTreeMap<String, BTreeMap<String, Entry>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    tag: String,
    text: String,
}

impl ReadCache {
    /// The bytes read from `path` on `target` when it had `tag`; `None` without a tag, or
    /// when the object's tag is not the one it had.
    pub fn get(&self, target: &str, path: &str, tag: Option<&str>) -> Option<Vec<u8>> {
        let tag = tag?;
        let e = self.targets.get(target)?.get(path)?;
        (e.tag == tag).then(|| e.text.clone().into_bytes())
    }

    /// Keeps what was read from `path` under `tag` (nothing without a tag, nothing that is
    /// not UTF-8 text, nothing over [`ENTRY_LIMIT`]).
    pub fn put(&mut self, target: &str, path: &str, tag: Option<&str>, bytes: &[u8]) {
        let (Some(tag), true) = (tag, bytes.len() <= ENTRY_LIMIT) else {
            return;
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            return;
        };
        self.targets.entry(target.to_string()).or_default().insert(
            path.to_string(),
            Entry {
                tag: tag.to_string(),
                text: text.to_string(),
            },
        );
    }

    /// Drops the entries of `target` that its listing no longer shows: those `covered`
    /// (below the prefixes the listing was made of) and not among `listed`.
    pub fn forget_unlisted(
        &mut self,
        target: &str,
        listed: &BTreeSet<&str>,
        covered: impl Fn(&str) -> bool,
    ) {
        if let Some(paths) = self.targets.get_mut(target) {
            paths.retain(|p, _| !covered(p) || listed.contains(p.as_str()));
            if paths.is_empty() {
                self.targets.remove(target);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.targets.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_used_only_under_the_tag_it_was_read_with() {
        let mut c = ReadCache::default();
        c.put("s3", "a/a-1.manifest.json", Some("etag1"), b"{}");
        assert_eq!(
            c.get("s3", "a/a-1.manifest.json", Some("etag1")),
            Some(b"{}".to_vec())
        );
        // Another tag (the object was replaced), no tag, another target, another path.
        assert_eq!(c.get("s3", "a/a-1.manifest.json", Some("etag2")), None);
        assert_eq!(c.get("s3", "a/a-1.manifest.json", None), None);
        assert_eq!(c.get("nas", "a/a-1.manifest.json", Some("etag1")), None);
        assert_eq!(c.get("s3", "a/a-2.manifest.json", Some("etag1")), None);
    }

    #[test]
    fn nothing_untagged_binary_or_large_is_kept() {
        let mut c = ReadCache::default();
        c.put("fs", "a/x", None, b"{}");
        c.put("s3", "a/y", Some("t"), &[0xff, 0xfe]);
        c.put("s3", "a/z", Some("t"), &vec![b'x'; ENTRY_LIMIT + 1]);
        assert!(c.is_empty());
    }

    #[test]
    fn entries_of_objects_no_longer_listed_are_dropped_within_the_listed_prefixes() {
        let mut c = ReadCache::default();
        c.put("s3", "a/kept", Some("t"), b"1");
        c.put("s3", "a/gone", Some("t"), b"2");
        c.put("s3", "b/elsewhere", Some("t"), b"3");
        c.put("nas", "a/gone", Some("t"), b"4");
        let listed: BTreeSet<&str> = ["a/kept"].into();
        c.forget_unlisted("s3", &listed, |p| p.starts_with("a/"));
        assert!(c.get("s3", "a/kept", Some("t")).is_some());
        assert!(c.get("s3", "a/gone", Some("t")).is_none());
        assert!(
            c.get("s3", "b/elsewhere", Some("t")).is_some(),
            "not covered by the listing"
        );
        assert!(
            c.get("nas", "a/gone", Some("t")).is_some(),
            "another target"
        );
        assert_eq!(c.len(), 3);
    }
}
