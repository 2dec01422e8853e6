//! 3CX's unattended-install answer file (`setupconfig.xml`) for a new host that restores a
//! backup while it installs: `InstallationType` restore, the zip's path, its password
//! when 3CX encrypted it. The network answers are the operator's, left as comments.

/// The file, for the zip at `zip` (its path on the new host). `password`: 3CX's backup
/// password, when the backup is encrypted and it is known; an encrypted backup without it
/// gets an empty element and a comment saying to fill it in.
pub fn render(zip: &str, encrypted: bool, password: Option<&str>, version: Option<&str>) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    s.push_str("<!-- Written by pbx321 restore --setup-config. 3CX's installer reads it when it\n");
    s.push_str(
        "     lies beside the backup on the new host (see 3CX's setupconfig.xml guide). -->\n",
    );
    if let Some(v) = version {
        s.push_str(&format!(
            "<!-- The backup is of 3CX {}: install 3CX {} or later. -->\n",
            xml(v),
            xml(v)
        ));
    }
    s.push_str("<SetupConfig>\n");
    s.push_str("  <InstallationType>restore</InstallationType>\n");
    s.push_str("  <!-- Where the zip lies on the new host: change it if you move it. -->\n");
    s.push_str(&format!("  <BackupFile>{}</BackupFile>\n", xml(zip)));
    match (encrypted, password) {
        (true, Some(p)) => s.push_str(&format!("  <BackupPassword>{}</BackupPassword>\n", xml(p))),
        (true, None) => {
            s.push_str("  <!-- 3CX encrypted this backup: fill in its backup password. -->\n");
            s.push_str("  <BackupPassword></BackupPassword>\n");
        }
        (false, _) => {}
    }
    s.push_str(
        "  <!-- The network answers are yours; uncomment and fill in those 3CX's guide asks for:\n",
    );
    s.push_str("  <PublicIP>203.0.113.10</PublicIP>\n");
    s.push_str("  <LocalIP>192.0.2.10</LocalIP>\n");
    s.push_str("  <StaticPublicIP>true</StaticPublicIP>\n");
    s.push_str("  -->\n");
    s.push_str("</SetupConfig>\n");
    s
}

/// Text as XML character data.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_file_says_restore_and_escapes_what_it_holds() {
        let x = super::render(
            "/root/r/hq-backup.zip",
            true,
            Some("p<&>\"'w"),
            Some("20.0.9.1200"),
        );
        assert!(x.contains("<InstallationType>restore</InstallationType>"));
        assert!(x.contains("<BackupFile>/root/r/hq-backup.zip</BackupFile>"));
        assert!(x.contains("<BackupPassword>p&lt;&amp;&gt;&quot;&apos;w</BackupPassword>"));
        assert!(x.contains("install 3CX 20.0.9.1200 or later"));
        let plain = super::render("/r/b.zip", false, None, None);
        assert!(!plain.contains("BackupPassword"));
    }
}
