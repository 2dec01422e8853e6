//! Issue 11, "hardening": one regression test per finding, named after it. Each was
//! reproduced on the code before the fix.

use std::path::Path;

use crate::helpers::*;

/// Every file and directory below `dir` that is not below one of `allowed`.
fn strays(dir: &Path, allowed: &[&Path]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if allowed.iter().any(|a| p.starts_with(a)) {
                continue;
            }
            out.push(p.display().to_string());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out
}

fn manifest_of(artifact: &Path) -> std::path::PathBuf {
    artifact
        .to_str()
        .unwrap()
        .replace(".zip.zst.age", ".manifest.json")
        .into()
}

fn edit_manifest(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[test]
fn finding_1_a_manifest_from_a_target_never_steers_a_path() {
    let env = TestEnv::new();
    let original = env.put_backup("3CXScheduledBackup.zip", 101, 20_000);
    assert_eq!(code(&env.pbx321(&["backup"])), 0);
    // An attacker with write access to one target edits its manifest to point elsewhere,
    // and the copy on another target goes missing, so that the next run completes it.
    let local = env.artifacts("local")[0].clone();
    edit_manifest(&manifest_of(&local), |m| {
        m["source"] = "../../escape".into();
    });
    let usb = env.artifacts("usb")[0].clone();
    std::fs::remove_file(manifest_of(&usb)).unwrap();
    std::fs::remove_file(&usb).unwrap();
    // Copies planted under other ids, whose manifests name a path.
    let away = env.artifacts("away")[0].clone();
    for (id, field, value) in [
        ("hq-20250101T000000Z", "source", "/tmp/abs"),
        ("hq-20250102T000000Z", "id", "../../hq-20260101T000000Z"),
    ] {
        let dir = env.target_dir("away").join("hq");
        let bad = dir.join(format!("{id}.manifest.json"));
        std::fs::copy(manifest_of(&away), &bad).unwrap();
        std::fs::copy(&away, dir.join(format!("{id}.zip.zst.age"))).unwrap();
        edit_manifest(&bad, |m| m[field] = value.into());
    }

    let out = env.pbx321(&["backup"]);
    let targets = env.path().join("targets");
    let state = env.state_dir();
    let allowed = [
        targets.as_path(),
        state.as_path(),
        &env.source_dir(),
        &env.config_path(),
        &env.identity,
    ];
    assert_eq!(
        strays(env.path(), &allowed),
        Vec::<String>::new(),
        "nothing is written outside the targets and the state directory"
    );
    assert!(!env.path().join("escape").exists() && !Path::new("/tmp/abs").exists());
    // The usb copy was completed from a copy whose manifest is in its place.
    assert_eq!(env.artifacts("usb").len(), 1, "{}", stdout(&out));

    // The edited manifests are reported as corrupt, with the reason, and never as copies.
    let out = env.pbx321(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let copies: Vec<&serde_json::Value> = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["copies"].as_array().unwrap())
        .collect();
    let local_copy = copies
        .iter()
        .find(|c| c["target"] == "local")
        .expect("the local copy is listed");
    assert_eq!(local_copy["state"], "corrupt");
    assert!(
        local_copy["why"]
            .as_str()
            .unwrap()
            .contains("source \"../../escape\""),
        "{local_copy}"
    );
    let planted: Vec<_> = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["id"].as_str().unwrap().starts_with("hq-2025"))
        .flat_map(|b| b["copies"].as_array().unwrap())
        .collect();
    assert_eq!(planted.len(), 2);
    assert!(
        planted.iter().all(|c| c["state"] == "corrupt"),
        "{planted:?}"
    );

    let to = env.path().join("r.zip");
    assert_eq!(code(&env.restore(&to, &[])), 0);
    assert!(std::fs::read(&to).unwrap() == original);
}
