//! `keygen`: a new age identity or a new signing key, written 0600 and never over an
//! existing file.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use age::secrecy::ExposeSecret;

use super::{OpError, io_error};

/// Writes a new X25519 identity to `out` and returns its public recipient.
pub fn run(out: &Path, now: chrono::DateTime<chrono::Utc>) -> Result<String, OpError> {
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let mut f = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => OpError::KeyExists {
                path: out.to_path_buf(),
            },
            std::io::ErrorKind::NotFound => missing_directory(out),
            _ => io_error(format!("cannot create {}", out.display()))(e),
        })?;
    let text = format!(
        "# created: {}\n# public key: {public}\n# Keep this file OFF the backup host and safe: without it no backup can be restored.\n{}\n",
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        id.to_string().expose_secret()
    );
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io_error(format!("cannot write {}", out.display())))?;
    Ok(public)
}

/// A key asked for in a directory that does not exist: said as such (not as a file that
/// could not be read).
fn missing_directory(out: &Path) -> OpError {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    OpError::NoKeyDirectory {
        path: out.to_path_buf(),
        dir: dir.to_path_buf(),
    }
}

/// Writes a new ed25519 signing key to `out` (and its public line to `out.pub`, so that a
/// monitoring user can verify without reading the private key) and returns the public line.
pub fn signing_key(out: &Path) -> Result<String, OpError> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        return Err(missing_directory(out));
    }
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let public =
        crate::sign::generate(out, &format!("pbx321@{host}")).map_err(OpError::SigningKey)?;
    let mut pub_path = out.as_os_str().to_owned();
    pub_path.push(".pub");
    let pub_path = std::path::PathBuf::from(pub_path);
    let mut f = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&pub_path)
        .map_err(io_error(format!("cannot create {}", pub_path.display())))?;
    f.write_all(format!("{public}\n").as_bytes())
        .and_then(|()| {
            // Readable by all despite pbx321's umask: it is public, and `check` run as a
            // monitoring user verifies with it.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pub_path, std::fs::Permissions::from_mode(0o644))
        })
        .map_err(io_error(format!("cannot write {}", pub_path.display())))?;
    Ok(public)
}
