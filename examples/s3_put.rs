//! Uploads one local file to an S3 bucket through pbx321's S3 target, as a backup would
//! upload its sealed spool (used by scripts/bench.sh).
//!
//! `cargo run --release --example s3_put -- ENDPOINT BUCKET KEY FILE`
//! Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.

use pbx321::config::{Location, Medium, S3Target as S3Config};
use pbx321::target::s3::S3Target;
use pbx321::target::{Payload, Properties, Target};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, bucket, key, file] = args.as_slice() else {
        anyhow::bail!("usage: s3_put ENDPOINT BUCKET KEY FILE");
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
    };
    let props = Properties {
        medium: Medium::ObjectStorage,
        location: Location::Offsite,
        immutable_capable: false,
        declared: false,
    };
    let target = S3Target::new("bench", props, cfg, None).await?;
    let len = std::fs::metadata(file)?.len();
    target.put(key, &Payload::file(file.into(), len)).await?;
    Ok(())
}
