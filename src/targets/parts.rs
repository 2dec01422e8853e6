//! SHA-256 of each fixed-size part of a payload, made while its bytes are written (by the
//! seal, or by repair's copy into the spool).
//!
//! An S3 multipart upload sends each part with its SHA-256, which the store checks. Hashing
//! the part first would read it twice; with the hashes made on the way in, each part is read
//! once, and the store checks the bytes it gets against what was written, so a spool file
//! that changed after the seal is refused by the store instead of stored.

use sha2::{Digest, Sha256};

/// The hashes of consecutive `size`-byte parts (the last may be shorter) of a payload
/// of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHashes {
    pub size: u64,
    pub len: u64,
    pub hashes: Vec<[u8; 32]>,
}

impl PartHashes {
    /// The hash of part `number` (1-based) when these hashes are for parts of `size` bytes of a
    /// payload of `len` bytes; `None` otherwise (the caller hashes the part itself).
    pub fn get(&self, size: u64, len: u64, number: u64) -> Option<[u8; 32]> {
        if self.size != size || self.len != len || number == 0 {
            return None;
        }
        if self.hashes.len() as u64 != len.div_ceil(size).max(1) {
            return None;
        }
        self.hashes.get((number - 1) as usize).copied()
    }
}

/// Hashes a stream into parts of `size` bytes as it is written.
pub struct PartHasher {
    size: u64,
    len: u64,
    in_part: u64,
    current: Sha256,
    hashes: Vec<[u8; 32]>,
}

impl PartHasher {
    /// `size` must be above zero (an S3 part is at least 5 MiB).
    pub fn new(size: u64) -> PartHasher {
        PartHasher {
            size: size.max(1),
            len: 0,
            in_part: 0,
            current: Sha256::new(),
            hashes: Vec::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn update(&mut self, mut buf: &[u8]) {
        while !buf.is_empty() {
            let room = (self.size - self.in_part) as usize;
            let n = room.min(buf.len());
            self.current.update(&buf[..n]);
            self.in_part += n as u64;
            self.len += n as u64;
            buf = &buf[n..];
            if self.in_part == self.size {
                self.hashes
                    .push(std::mem::take(&mut self.current).finalize().into());
                self.in_part = 0;
            }
        }
    }

    pub fn finish(mut self) -> PartHashes {
        // The last, shorter part; an empty payload is one empty part (as S3 counts it).
        if self.in_part > 0 || self.hashes.is_empty() {
            self.hashes.push(self.current.finalize().into());
        }
        PartHashes {
            size: self.size,
            len: self.len,
            hashes: self.hashes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_hash_the_same_however_the_bytes_arrive() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for size in [1u64, 999, 1000, 4096, 10_000, 20_000] {
            let expect: Vec<[u8; 32]> = data
                .chunks(size as usize)
                .map(|c| Sha256::digest(c).into())
                .collect();
            for write in [1usize, 7, 1000, 3333, 10_000] {
                let mut h = PartHasher::new(size);
                for c in data.chunks(write) {
                    h.update(c);
                }
                let p = h.finish();
                assert_eq!(p.hashes, expect, "size {size}, writes of {write}");
                assert_eq!(p.len, data.len() as u64);
                let count = data.len().div_ceil(size as usize) as u64;
                assert_eq!(p.get(size, p.len, count), expect.last().copied());
                assert_eq!(p.get(size, p.len, count + 1), None);
                assert_eq!(p.get(size, p.len, 0), None);
                assert_eq!(p.get(size + 1, p.len, 1), None, "another part size");
                assert_eq!(p.get(size, p.len + 1, 1), None, "another length");
            }
        }
    }

    #[test]
    fn an_empty_stream_is_one_empty_part() {
        let p = PartHasher::new(5).finish();
        assert_eq!(p.hashes, vec![<[u8; 32]>::from(Sha256::digest([]))]);
        assert_eq!(p.get(5, 0, 1), Some(Sha256::digest([]).into()));
    }
}
