//! Issue 16, the scheduler: `pbx321 schedule` as a person checks a crontab line, and the
//! config's schedules and notifiers checked before any work.

use crate::helpers::*;

#[test]
fn schedule_shows_a_weekday_crontab_as_monday_to_friday_local_time() {
    let mut env = TestEnv::new();
    env.top_level = "daemon = { timezone = \"Europe/Madrid\" }\n".into();
    env.extra_source = "schedule = \"30 2 * * 1-5\"\n".into();
    env.write_config();
    let out = env.pbx321(&["schedule", "--count", "10", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["job"], "backup hq");
    assert_eq!(v[0]["schedule"], "30 2 * * 1-5");
    let next = v[0]["next"].as_array().unwrap();
    assert_eq!(next.len(), 10);
    for t in next {
        let t = chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap();
        let local = t.with_timezone(&chrono_tz::Europe::Madrid);
        use chrono::{Datelike, Timelike};
        assert!(
            local.weekday().number_from_monday() <= 5,
            "{local} is a weekday"
        );
        assert_eq!((local.hour(), local.minute()), (2, 30), "{local}");
        assert_eq!(
            t.naive_local(),
            local.naive_local(),
            "printed in the zone's own offset"
        );
    }
    let out = env.pbx321(&["schedule", "--count", "2"]);
    let text = stdout(&out);
    assert!(
        text.contains("backup hq: \"30 2 * * 1-5\" in Europe/Madrid"),
        "{text}"
    );
    assert!(text.contains("next: "), "{text}");
}

#[test]
fn bad_schedules_and_notifiers_are_reported_with_their_lines() {
    let mut env = TestEnv::new();
    env.extra_source = "schedule = \"30 2 * * 1-8\"\n".into();
    env.top_level = "schedule = { check = \"every 15 minutes\", drill = \"0 6 1 * *\" }\ndaemon = { listen = \"0.0.0.0:9321\" }\nnotify = [{ type = \"webhok\", url = \"https://x\" }, { type = \"webhook\", url = \"http://hooks.example.com/x\", on = [\"failur\"] }]\n".into();
    let path = env.write_config();
    let out = env.pbx321_raw(&["--config", path.to_str().unwrap(), "config", "check"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    for want in [
        "config.toml:1: [schedule] check: \"every 15 minutes\" has 3 fields",
        "config.toml:1: [schedule] drill needs identity",
        "config.toml:2: [daemon] listen = \"0.0.0.0:9321\" is not a loopback address: add auth_token",
        "[[notify]] #1: unknown type \"webhok\"; did you mean \"webhook\"?",
        "[[notify]] #2: url \"http://hooks.example.com/x\" must start with https://",
        "[[notify]] #2: on: unknown event \"failur\"; did you mean \"failure\"?",
        "source \"hq\": schedule: \"30 2 * * 1-8\" is not a cron expression",
    ] {
        assert!(err.contains(want), "{want:?} in:\n{err}");
    }
}
