//! Is this a readable 3CX backup? A streaming check of a zip: every entry decompresses
//! and matches its CRC, and a `*Db.xml` (3CX's settings) is present. Reads the stream once, holds no entry in memory, writes nothing.
//!
//! Limit: zip entries written with data descriptors (sizes after the data, flag bit 3)
//! cannot be walked without seeking. For such a zip the check still reads it to the end and
//! requires the end-of-central-directory record to end it exactly (a cut-off download is
//! refused), takes the encryption flag from the first entry's header (3CX's "encrypt
//! backup"), and otherwise reports the entries as not checkable rather than as damaged.

use std::io::{self, Read};

use zip::result::ZipError;

/// What a zip holds, as far as the check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipSummary {
    pub entries: u64,
    pub uncompressed_bytes: u64,
    /// The `*Db.xml` entry holding the PBX settings.
    pub settings_entry: Option<String>,
    /// Some entry is encrypted (3CX's own "encrypt backup" option).
    pub encrypted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ZipCheckError {
    #[error("not a readable zip: {0}")]
    Corrupt(String),
    #[error("the zip holds no *Db.xml: not a 3CX backup (or an empty one)")]
    NotA3cxBackup,
    #[error("the zip cannot be checked while streaming: {0}")]
    Unsupported(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The fixed part of a local file header: signature, version, flags, …
const LOCAL_HEADER: usize = 30;

/// Walks a zip stream entry by entry up to its central directory.
pub fn check<R: Read>(mut reader: R) -> Result<ZipSummary, ZipCheckError> {
    // The first entry's header, kept aside for the case the zip crate cannot walk the entries.
    let mut head = Vec::with_capacity(LOCAL_HEADER);
    (&mut reader)
        .take(LOCAL_HEADER as u64)
        .read_to_end(&mut head)?;
    let first_encrypted = head.len() == LOCAL_HEADER
        && head.starts_with(b"PK\x03\x04")
        && u16::from_le_bytes([head[6], head[7]]) & 1 == 1;
    let mut reader = io::Cursor::new(head).chain(reader);
    let mut s = ZipSummary {
        entries: 0,
        uncompressed_bytes: 0,
        settings_entry: None,
        encrypted: false,
    };
    let unwalkable = loop {
        let why = match zip::read::read_zipfile_from_stream(&mut reader) {
            Ok(Some(file)) => {
                entry(file, &mut s)?;
                continue;
            }
            Ok(None) => break None,
            Err(e) => match classify(e) {
                ZipCheckError::Unsupported(why) => why,
                other => return Err(other),
            },
        };
        break Some(why);
    };
    if let Some(why) = unwalkable {
        ends_complete(&mut reader)?;
        if first_encrypted || s.encrypted {
            s.encrypted = true;
            return Ok(s);
        }
        return Err(ZipCheckError::Unsupported(why));
    }
    if s.entries == 0 {
        return Err(ZipCheckError::Corrupt("no entries".into()));
    }
    check_end(&mut reader, s.entries)?;
    if s.settings_entry.is_none() && !s.encrypted {
        return Err(ZipCheckError::NotA3cxBackup);
    }
    Ok(s)
}

/// The central directory of a large backup is a few MiB at most.
const MAX_TAIL: u64 = 64 * 1024 * 1024;

/// After the entries: the end-of-central-directory record must end the stream exactly and
/// count the entries seen. Catches a stream cut short after its last entry.
fn check_end<R: Read>(reader: &mut R, entries: u64) -> Result<(), ZipCheckError> {
    let mut rest = Vec::new();
    reader.take(MAX_TAIL + 1).read_to_end(&mut rest)?;
    if rest.len() as u64 > MAX_TAIL {
        return Err(ZipCheckError::Corrupt(
            "more than 64 MiB after the last entry".into(),
        ));
    }
    let u16_at = |i: usize| u64::from(u16::from_le_bytes([rest[i], rest[i + 1]]));
    let end = (0..rest.len().saturating_sub(21)).rev().find(|&i| {
        rest[i..].starts_with(b"PK\x05\x06") && i + 22 + u16_at(i + 20) as usize == rest.len()
    });
    let Some(at) = end else {
        return Err(ZipCheckError::Corrupt(
            "truncated: no end-of-central-directory record".into(),
        ));
    };
    let listed = u16_at(at + 10);
    if listed != 0xFFFF && listed != entries % 0x1_0000 {
        return Err(ZipCheckError::Corrupt(format!(
            "the central directory lists {listed} entries, the archive holds {entries}"
        )));
    }
    Ok(())
}

/// Reads one entry to its end, which makes the zip crate compare its CRC.
fn entry<R: Read>(
    mut file: zip::read::ZipFile<'_, R>,
    s: &mut ZipSummary,
) -> Result<(), ZipCheckError> {
    s.entries += 1;
    if file.encrypted() {
        // 3CX's own "encrypt backup" option: readable only with 3CX's password.
        s.encrypted = true;
        io::copy(&mut file, &mut io::sink()).ok();
        return Ok(());
    }
    let name = file.name().map_err(classify)?.to_string();
    let n = io::copy(&mut file, &mut io::sink()).map_err(|e| classify(e.into()))?;
    s.uncompressed_bytes += n;
    if s.settings_entry.is_none()
        && !name.contains('/')
        && name.to_ascii_lowercase().ends_with("db.xml")
    {
        s.settings_entry = Some(name);
    }
    Ok(())
}

/// Reads the rest of a zip that cannot be walked and requires its end-of-central-directory
/// record to end it exactly, keeping only the last 64 KiB (the record and its comment).
fn ends_complete<R: Read>(reader: &mut R) -> Result<(), ZipCheckError> {
    const KEEP: usize = 22 + 0xFFFF;
    let mut tail: Vec<u8> = Vec::with_capacity(2 * KEEP);
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * KEEP {
            tail.drain(..tail.len() - KEEP);
        }
    }
    let comment_len = |i: usize| usize::from(u16::from_le_bytes([tail[i + 20], tail[i + 21]]));
    let found = (0..tail.len().saturating_sub(21))
        .rev()
        .any(|i| tail[i..].starts_with(b"PK\x05\x06") && i + 22 + comment_len(i) == tail.len());
    if found {
        Ok(())
    } else {
        Err(ZipCheckError::Corrupt(
            "truncated: no end-of-central-directory record".into(),
        ))
    }
}

fn classify(e: ZipError) -> ZipCheckError {
    match e {
        ZipError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            ZipCheckError::Corrupt("truncated".into())
        }
        ZipError::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
            ZipCheckError::Corrupt(e.to_string())
        }
        ZipError::Io(e) => ZipCheckError::Io(e),
        ZipError::UnsupportedArchive(why) if why.contains("length is not available") => {
            ZipCheckError::Unsupported(why.to_string())
        }
        other => ZipCheckError::Corrupt(other.to_string()),
    }
}

/// A reader that hands every byte it reads to a zip check running on its own thread,
/// through a pipe (bounded memory): the check runs in the same single pass as the seal. If
/// the check stops early (the zip is damaged), the copying stops and reading goes on; the
/// check's result, from the returned handle, says why.
pub fn checked_reader<R: Read>(
    inner: R,
) -> std::io::Result<(
    impl Read,
    crate::pool::Joined<Result<ZipSummary, ZipCheckError>>,
)> {
    use std::io::Write;
    struct Tee<R> {
        inner: R,
        pipe: Option<std::io::PipeWriter>,
    }
    impl<R: Read> Read for Tee<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            if let Some(p) = &mut self.pipe
                && p.write_all(&buf[..n]).is_err()
            {
                self.pipe = None;
            }
            if n == 0 {
                // End of the backup: closing the pipe ends the check.
                self.pipe = None;
            }
            Ok(n)
        }
    }
    let (reader, writer) = std::io::pipe()?;
    let check = crate::pool::spawn("pbx321-zipcheck", move || {
        check(std::io::BufReader::with_capacity(256 * 1024, reader))
    })?;
    Ok((
        Tee {
            inner,
            pipe: Some(writer),
        },
        check,
    ))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut buf = io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            for (name, data) in entries {
                z.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                z.write_all(data).unwrap();
            }
            z.finish().unwrap();
        }
        buf.into_inner()
    }

    #[test]
    fn a_good_backup() {
        let z = zip_with(&[
            ("3CXPhoneSystemDb.xml", b"<PhoneSystem/>".as_slice()),
            ("DbTables/dn.csv", b"1,2,3\n".as_slice()),
        ]);
        let s = check(&z[..]).unwrap();
        assert_eq!(s.entries, 2);
        assert_eq!(s.settings_entry.as_deref(), Some("3CXPhoneSystemDb.xml"));
    }

    #[test]
    fn damage_is_found() {
        let data = vec![b'x'; 100_000];
        let z = zip_with(&[("3CXPhoneSystemDb.xml", &data[..])]);
        // Flip a byte in the middle of the (deflated) entry data.
        let mut bad = z.clone();
        let mid = 60;
        bad[mid] ^= 0xff;
        assert!(check(&bad[..]).is_err());
        // Truncated.
        assert!(matches!(
            check(&z[..z.len() - 30]),
            Err(ZipCheckError::Corrupt(_))
        ));
        assert!(check(&b"not a zip at all"[..]).is_err());
    }

    /// Entries written to a non-seekable sink carry data descriptors (sizes after the data).
    fn streamed_zip(encrypt: bool) -> Vec<u8> {
        use zip::unstable::write::FileOptionsExt;
        let mut out = Vec::new();
        {
            let mut z = zip::ZipWriter::new_stream(&mut out);
            let mut opts = zip::write::SimpleFileOptions::default();
            if encrypt {
                opts = opts.with_deprecated_encryption(b"pw").unwrap();
            }
            z.start_file("3CXPhoneSystemDb.xml", opts).unwrap();
            z.write_all(&[b'x'; 10_000]).unwrap();
            z.finish().unwrap();
        }
        out
    }

    #[test]
    fn data_descriptors_are_checked_for_completeness() {
        let plain = streamed_zip(false);
        assert!(matches!(
            check(&plain[..]),
            Err(ZipCheckError::Unsupported(_))
        ));
        assert!(matches!(
            check(&plain[..plain.len() - 10]),
            Err(ZipCheckError::Corrupt(_))
        ));
        let encrypted = streamed_zip(true);
        let s = check(&encrypted[..]).unwrap();
        assert!(s.encrypted);
        assert!(matches!(
            check(&encrypted[..encrypted.len() / 2]),
            Err(ZipCheckError::Corrupt(_))
        ));
    }

    #[test]
    fn a_zip_without_settings_is_not_a_3cx_backup() {
        let z = zip_with(&[("notes.txt", b"hello".as_slice())]);
        assert!(matches!(check(&z[..]), Err(ZipCheckError::NotA3cxBackup)));
    }
}
