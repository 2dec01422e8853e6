//! Sources other than a folder: a command that writes the backup (3CXBackupCmd).

use crate::helpers::*;

fn with_command(env: &mut TestEnv, command: &str, timeout: &str) {
    std::fs::create_dir_all(env.path().join("out")).unwrap();
    env.extra_source = format!(
        "\n[[source]]\nname = \"cmd\"\ntype = \"command\"\ncommand = {command}\nfile = \"out/pbx321-backup.zip\"\ntimeout = \"{timeout}\"\n"
    );
}

#[test]
fn a_command_source_is_backed_up_and_its_file_removed() {
    let mut env = TestEnv::new();
    let sample = env.path().join("sample.zip");
    let original = sample_zip(80, 10_000);
    std::fs::write(&sample, &original).unwrap();
    with_command(
        &mut env,
        &format!("[\"sh\", \"-c\", \"cp {} {{file}}\"]", sample.display()),
        "30s",
    );
    let out = env.pbx321(&["backup", "cmd"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        !env.path().join("out/pbx321-backup.zip").exists(),
        "no plaintext left behind"
    );
    let to = env.path().join("r.zip");
    let out = env.pbx321(&[
        "restore",
        "--source",
        "cmd",
        "--to",
        to.to_str().unwrap(),
        "-i",
        env.identity.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0);
    assert!(std::fs::read(&to).unwrap() == original);
    // Every run makes a new backup.
    assert_eq!(code(&env.pbx321(&["backup", "cmd"])), 0);
    assert_eq!(env.artifacts("local").len(), 2);
}

#[test]
fn a_failing_command_is_a_clear_error_with_its_stderr() {
    let mut env = TestEnv::new();
    with_command(
        &mut env,
        "[\"sh\", \"-c\", \"echo 'no backup licence' >&2; exit 3\"]",
        "30s",
    );
    let out = env.pbx321(&["backup", "cmd"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("no backup licence"), "{text}");
    assert!(text.contains("exit status: 3"), "{text}");
    assert!(env.artifacts("local").is_empty());
}

#[test]
fn a_command_that_writes_nothing_or_hangs_is_caught() {
    let mut env = TestEnv::new();
    with_command(&mut env, "[\"sh\", \"-c\", \"echo done >&2\"]", "30s");
    let out = env.pbx321(&["backup", "cmd"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("wrote no"), "{}", stdout(&out));

    with_command(&mut env, "[\"sleep\", \"30\"]", "1s");
    let out = env.pbx321(&["backup", "cmd"]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("did not finish within 1s"),
        "{}",
        stdout(&out)
    );
}
