//! Test material shared by the unit tests and the integration tests: 3CX-like backups
//! (a zip with a `<PhoneSystem>` database, CSV tables and a binary prompt) and
//! incompressible noise. Not used by the program itself.

use std::io::Write;

/// Deterministic pseudo-random bytes (incompressible, like audio).
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// A zip shaped like a 3CX backup: `<PhoneSystem>` XML, DbTables CSVs, a binary prompt.
pub fn sample_zip(seed: u64, noise_bytes: usize) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let deflate = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file("3CXPhoneSystemDb.xml", deflate).unwrap();
        write!(
            z,
            "<?xml version=\"1.0\"?>\n<PhoneSystem seed=\"{seed}\">\n"
        )
        .unwrap();
        for i in 0..200 {
            writeln!(
                z,
                "  <Extension Number=\"{}\" AuthPassword=\"SECRET-SIP-PASSWORD-{seed}-{i}\" />",
                100 + i
            )
            .unwrap();
        }
        z.write_all(b"</PhoneSystem>\n").unwrap();
        z.start_file("DbTables/dn.csv", deflate).unwrap();
        for i in 0..500 {
            writeln!(z, "{i},{},{seed}", 100 + i).unwrap();
        }
        z.start_file("Prompts/prompt.wav", stored).unwrap();
        z.write_all(&noise(seed, noise_bytes)).unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// A backup as 3CX writes it with its "encrypt backup" option: every entry encrypted with
/// the backup password (ZipCrypto here), so its contents cannot be checked without it.
pub fn sample_encrypted_zip(seed: u64) -> Vec<u8> {
    use zip::unstable::write::FileOptionsExt;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .with_deprecated_encryption(b"3cx-backup-password")
            .unwrap();
        z.start_file("3CXPhoneSystemDb.xml", opts).unwrap();
        writeln!(z, "<?xml version=\"1.0\"?>\n<PhoneSystem seed=\"{seed}\"/>").unwrap();
        z.start_file("DbTables/dn.csv", opts).unwrap();
        for i in 0..100 {
            writeln!(z, "{i},{},{seed}", 100 + i).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// `plain` sealed to `recipient` as backup `id` of `source` would be, with the manifest that
/// describes it exactly (origin `3CXScheduledBackup.zip`, made at the id's time): what a
/// test plants on a target, a writer of its own.
pub fn sealed_copy(
    recipient: &str,
    source: &str,
    id: &str,
    plain: &[u8],
) -> (Vec<u8>, crate::manifest::Manifest) {
    use crate::manifest::{self, Manifest, Origin, Plain, Sealed};
    let recipients = crate::seal::parse_recipients(&[recipient]).expect("a recipient");
    let (d, sealed) = crate::seal::seal(
        std::io::Cursor::new(plain.to_vec()),
        Vec::new(),
        &recipients,
        0,
    )
    .expect("sealed");
    let at = manifest::id_time(source, id).expect("an id of the source");
    let m = Manifest::new(
        source,
        at,
        Origin {
            name: "3CXScheduledBackup.zip".into(),
            time: at,
            size: plain.len() as u64,
        },
        Plain {
            bytes: d.plain_bytes,
            sha256: d.plain_sha256,
            pbx_encrypted: false,
        },
        Sealed::zstd_age(d.sealed_bytes, d.sealed_sha256, vec![recipient.to_string()]),
    );
    (sealed, m)
}
