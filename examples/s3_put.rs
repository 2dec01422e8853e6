//! Uploads one local file to an S3 bucket through pbx321's S3 target, as a backup would
//! upload its sealed spool (used by scripts/bench.sh), and prints `upload_seconds=…`: the
//! time of the upload alone.
//!
//! `cargo run --release --example s3_put -- ENDPOINT BUCKET KEY FILE [--hashed]`
//!
//! With `--hashed`, the part hashes are made first (untimed), as a backup's seal makes them
//! while it writes the spool: each part is then read once, to be sent. Without, each part is
//! hashed from the file, then sent (a spool file with no hashes).
//! Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.

use pbx321::config::{Location, Medium, S3Target as S3Config};
use pbx321::targets::parts::PartHasher;
use pbx321::targets::s3::S3Target;
use pbx321::targets::{Payload, Properties, Target};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (hashed, args) = match args.split_last() {
        Some((last, rest)) if last == "--hashed" => (true, rest),
        _ => (false, args.as_slice()),
    };
    let [endpoint, bucket, key, file] = args else {
        anyhow::bail!("usage: s3_put ENDPOINT BUCKET KEY FILE [--hashed]");
    };
    let cfg = S3Config {
        bucket: bucket.clone(),
        prefix: String::new(),
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint.clone()),
        path_style: true,
        access_key_id: None,
        secret_access_key: None,
        storage_class: None,
        object_lock: None,
        part_size_mib: 16,
        concurrency: 4,
        allow_insecure_http: true,
        connect_timeout: std::time::Duration::from_secs(10),
    };
    let props = Properties {
        medium: Medium::ObjectStorage,
        location: Location::Offsite,
        immutable_capable: false,
        declared: false,
    };
    let target = S3Target::new("bench", props, cfg, None).await?;
    let len = std::fs::metadata(file)?.len();
    let mut payload = Payload::file(file.into(), len);
    if hashed {
        let part = target.hashed_part_size().unwrap_or(16 << 20);
        let mut h = PartHasher::new(part);
        let mut f = std::fs::File::open(file)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        payload = payload.with_part_hashes(vec![h.finish()]);
    }
    let started = std::time::Instant::now();
    target.put(key, &payload).await?;
    println!("upload_seconds={:.3}", started.elapsed().as_secs_f64());
    Ok(())
}
